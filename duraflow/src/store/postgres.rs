//! `PostgresStore`: records in PostgreSQL, with per-task claims so several workers share one
//! run. (Being written.)

/// Records in a PostgreSQL table, shared by several worker processes.
#[derive(Debug)]
pub struct PostgresStore {}
