//! Per-task options: how records are reused, and what happens when a task fails.

use std::time::Duration;

/// When a stored record is reused instead of running the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cache {
    /// Resume by key (the default, as in duraflow-rs): any valid record under the key is
    /// reused, whatever the task's fields or inputs are now.
    #[default]
    Key,
    /// Reuse a record only if it was computed from the same task version, the same task
    /// fields and the same inputs (by fingerprint). An upstream task that runs again and
    /// produces the same bytes leaves its dependents restored (early cutoff).
    Inputs,
}

/// Options of one task: caching, expiry, retries and timeout. Set with
/// `#[durable(cache = inputs, ttl = "7d", retries = 3, backoff = "100ms", timeout = "30s")]`
/// or with [`crate::DurableDag::task_with`].
///
/// ```
/// use duraflow::{Cache, TaskOptions};
/// use std::time::Duration;
/// let options = TaskOptions::DEFAULT
///     .cache(Cache::Inputs)
///     .retries(3)
///     .backoff(Duration::from_millis(100))
///     .timeout(Duration::from_secs(30))
///     .ttl(Duration::from_secs(7 * 86_400));
/// assert_eq!(options.retries, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskOptions {
    /// When a record is reused.
    pub cache: Cache,
    /// How long after it was written a record is reused; `None` (the default) for as long
    /// as it is kept. An older record is not restored: the task runs, with
    /// [`crate::Miss::Expired`] as its reason.
    pub ttl: Option<Duration>,
    /// Attempts after the first one, on a panic, a `Result::Err` output or a timeout.
    /// Retrying needs the task to be `Clone` (`#[derive(Clone)]`).
    pub retries: u32,
    /// Pause before the first retry; doubled for each further one, plus up to 50 % jitter.
    pub backoff: Duration,
    /// Longest one attempt may run; `None` for no limit. Needs a tokio runtime with timers.
    pub timeout: Option<Duration>,
    /// The schema version stored in each record: bump it when the meaning of the output
    /// changes but not its serde shape, or for a type whose shape cannot be traced (see
    /// [`crate::Miss::SchemaChanged`]).
    pub schema: u32,
}

impl TaskOptions {
    /// Resume by key, no retries, no timeout.
    pub const DEFAULT: TaskOptions = TaskOptions {
        cache: Cache::Key,
        ttl: None,
        retries: 0,
        backoff: Duration::from_millis(100),
        timeout: None,
        schema: 0,
    };

    /// With `cache`.
    pub const fn cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    /// With records reused for at most `ttl` after they were written.
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// With `retries` attempts after the first.
    pub const fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// With `backoff` before the first retry.
    pub const fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// With schema version `schema`.
    pub const fn schema(mut self, schema: u32) -> Self {
        self.schema = schema;
        self
    }

    /// With a `timeout` per attempt.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The pause before retry number `retry` (1-based) of the task under `key`: exponential,
    /// with jitter derived from the key, the retry and the clock.
    pub(crate) fn pause_before(&self, retry: u32, key: &str) -> Duration {
        let base = self
            .backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seed = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            (key, retry, nanos).hash(&mut hasher);
            hasher.finish()
        };
        let jitter_per_mille = seed % 500;
        base + base.mul_f64(jitter_per_mille as f64 / 1000.0)
    }
}

impl Default for TaskOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Parses a duration such as `"250ms"`, `"30s"`, `"2m"`, `"1h"` or `"7d"` with
/// [`humantime`], the grammar `#[durable]` checks at compile time.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(duraflow::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(duraflow::parse_duration("30").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|reason| format!("invalid duration {text:?}: {reason}: write e.g. \"30s\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let options = TaskOptions::DEFAULT.backoff(Duration::from_millis(100));
        for retry in 1..=4 {
            let base = Duration::from_millis(100 * 2u64.pow(retry - 1));
            let pause = options.pause_before(retry, "k");
            assert!(pause >= base && pause < base.mul_f64(1.5), "{pause:?}");
        }
    }
}
