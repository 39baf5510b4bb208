//! Compile-fail and pass cases for duraflow's macros, run by `tests/ui.rs` with trybuild.
//!
//! Each case under `tests/ui/` is named after the mistake it shows; its `.stderr` is the
//! message users get on this toolchain, regenerated only with `TRYBUILD=overwrite`.
