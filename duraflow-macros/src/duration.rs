//! The runtime's duration grammar (`duraflow::parse_duration`), applied at compile time to
//! `backoff = "..."` and `timeout = "..."`.
//!
//! A copy, not a shared crate: the macro crate cannot depend on the runtime (the runtime
//! depends on it), and a third crate for fifteen lines would have to be published and
//! versioned with both. As with [`crate::key_rules`], a unit test feeds both parsers the
//! same strings, so the copy cannot drift from the runtime unnoticed.

use std::time::Duration;

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"`: a whole number, then a unit. The error says
/// what is wrong with `text` and how to write it.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let Some(split) = text.find(|c: char| !c.is_ascii_digit()) else {
        return Err(format!(
            "{text:?} has no unit: write e.g. \"100ms\", \"30s\", \"2m\""
        ));
    };
    let (number, unit) = text.split_at(split);
    let Ok(n) = number.parse::<u64>() else {
        return Err(format!(
            "{text:?} does not start with a whole number: write e.g. \"100ms\", \"30s\", \"2m\""
        ));
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        other => Err(format!(
            "unknown unit {other:?} in {text:?}: use ms, s, m or h, e.g. \"100ms\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn errors_say_how_to_write_it() {
        assert!(parse("30").unwrap_err().contains("has no unit"));
        assert!(parse("").unwrap_err().contains("has no unit"));
        assert!(parse("ms").unwrap_err().contains("whole number"));
        assert!(parse("1.5s").unwrap_err().contains("unknown unit \".5s\""));
        assert!(parse("5d").unwrap_err().contains("use ms, s, m or h"));
        assert!(parse("5 s").unwrap_err().contains("unknown unit \" s\""));
    }

    #[test]
    fn agrees_with_the_runtime() {
        for text in [
            "",
            "0ms",
            "250ms",
            "30s",
            "2m",
            "1h",
            "10",
            "ms",
            "5d",
            "5S",
            "1.5s",
            " 1s",
            "1s ",
            "-1s",
            "+1s",
            "1_000ms",
            "007s",
            "18446744073709551615ms",
            "18446744073709551615h",
            "18446744073709551616s",
            "١s",
        ] {
            assert_eq!(
                parse(text).ok(),
                duraflow::parse_duration(text).ok(),
                "{text:?}"
            );
        }
    }
}
