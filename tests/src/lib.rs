//! Integration tests of duraflow live in `tests/`; this library is empty.
