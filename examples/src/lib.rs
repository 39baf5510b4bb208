//! The examples are in this folder (`quickstart.rs`, ...); run one with
//! `cargo run -p duraflow-examples --example quickstart`.
