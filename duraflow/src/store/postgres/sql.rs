//! The SQL of `PostgresStore`: its two tables and every statement on them.

/// The SQL of one namespace, its tables spliced in.
pub(super) struct Sql {
    pub(super) create: String,
    pub(super) channel: String,
    pub(super) read: String,
    pub(super) keys: String,
    pub(super) claim: String,
    pub(super) record: String,
    pub(super) release: String,
    pub(super) release_all: String,
    pub(super) renew: String,
    pub(super) upsert: String,
    pub(super) remove: String,
    pub(super) unclaim: String,
}

impl Sql {
    pub(super) fn new(namespace: &str) -> Self {
        let records = format!("{namespace}_records");
        let claims = format!("{namespace}_claims");
        Self {
            // The advisory lock serializes creation: concurrent `CREATE TABLE IF NOT EXISTS`
            // of the same table can fail on PostgreSQL's catalog unique index.
            create: format!(
                "BEGIN;
                 SELECT pg_advisory_xact_lock(hashtext('duraflow:{namespace}'));
                 CREATE TABLE IF NOT EXISTS {records} (
                     key text PRIMARY KEY,
                     record bytea NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now(),
                     updated_at timestamptz NOT NULL DEFAULT now());
                 CREATE TABLE IF NOT EXISTS {claims} (
                     key text PRIMARY KEY,
                     owner text NOT NULL,
                     expires_at timestamptz NOT NULL);
                 COMMIT;"
            ),
            channel: records.clone(),
            // A record longer than $2 bytes comes back as NULL, with its length.
            read: format!(
                "SELECT key, CASE WHEN octet_length(record) <= $2::int8 THEN record END
                 FROM {records} WHERE key = ANY($1::text[])"
            ),
            keys: format!("SELECT key, octet_length(record)::int8 FROM {records} ORDER BY key"),
            // Takes the key unless it has a record (other than the stale one in $4, which
            // counts as none) or a live claim; an expired claim (its owner died or stalled
            // past its lease) is taken over.
            claim: format!(
                "INSERT INTO {claims} AS held (key, owner, expires_at)
                 SELECT $1, $2, now() + make_interval(secs => $3)
                 WHERE NOT EXISTS (
                     SELECT 1 FROM {records} WHERE key = $1 AND record IS DISTINCT FROM $4::bytea)
                 ON CONFLICT (key) DO UPDATE
                 SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                 WHERE held.expires_at < now()"
            ),
            record: format!("SELECT record FROM {records} WHERE key = $1"),
            release: format!("DELETE FROM {claims} WHERE key = $1 AND owner = $2"),
            release_all: format!("DELETE FROM {claims} WHERE owner = $1"),
            renew: format!(
                "UPDATE {claims} SET expires_at = now() + make_interval(secs => $3)
                 WHERE owner = $1 AND key = ANY($2::text[])"
            ),
            upsert: format!(
                "INSERT INTO {records} (key, record)
                 SELECT * FROM unnest($1::text[], $2::bytea[])
                 ON CONFLICT (key) DO UPDATE SET record = EXCLUDED.record, updated_at = now()"
            ),
            remove: format!("DELETE FROM {records} WHERE key = ANY($1::text[])"),
            unclaim: format!("DELETE FROM {claims} WHERE key = ANY($1::text[])"),
        }
    }
}

/// A NOTIFY payload is at most 8000 bytes; longer key lists wake every waiter instead.
const MAX_PAYLOAD: usize = 7900;

/// The NOTIFY payload of a batch: its keys, one a line; empty (wake everyone) when a key
/// holds a line break or the list is too long for a payload.
pub(super) fn wake_payload(keys: &[&str]) -> String {
    let length: usize = keys.iter().map(|key| key.len() + 1).sum();
    if length > MAX_PAYLOAD || keys.iter().any(|key| key.contains('\n')) {
        return String::new();
    }
    keys.join("\n")
}
