//! Text forms of what the commands print: ages, UTC times, hex.

use std::borrow::Cow;
use std::io::{self, Write};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long ago `then_ms` was, in the largest whole unit: `3s`, `5m`, `2h`, `4d`.
/// A time in the future (clock skew) reads `0s`.
pub fn age(then_ms: u64, now_ms: u64) -> String {
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// `ms` since the Unix epoch as UTC ISO-8601 with milliseconds: `2024-02-29T12:34:56.789Z`.
pub fn utc_iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let in_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// `bytes` as contiguous lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` as a `hexdump -C` style dump: offset, 16 bytes in hex, the printable ones.
pub fn hex_dump(out: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let mut hex = String::with_capacity(49);
        for (i, b) in chunk.iter().enumerate() {
            if i == 8 {
                hex.push(' ');
            }
            hex.push_str(&format!("{b:02x} "));
        }
        let text: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(out, "{:08x}  {hex:<49} |{text}|", row * 16)?;
    }
    Ok(())
}

/// `n` and `noun`, with an `s` unless `n` is 1: `1 record`, `3 records`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `key` as printed on one line: as is, or escaped when it holds control characters.
pub fn printable_key(key: &str) -> Cow<'_, str> {
    if key.chars().any(char::is_control) {
        Cow::Owned(format!("{key:?}"))
    } else {
        Cow::Borrowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let now = 10_000_000_000;
        assert_eq!(age(now, now), "0s");
        assert_eq!(age(now - 3_999, now), "3s");
        assert_eq!(age(now - 59_999, now), "59s");
        assert_eq!(age(now - 5 * 60_000 - 1, now), "5m");
        assert_eq!(age(now - 2 * 3_600_000, now), "2h");
        assert_eq!(age(now - 4 * 86_400_000 - 5, now), "4d");
        assert_eq!(age(now + 5_000, now), "0s");
    }

    #[test]
    fn utc_times_match_date() {
        assert_eq!(utc_iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_iso8601(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
        assert_eq!(utc_iso8601(4_102_444_799_000), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn hex_dump_rows() {
        let mut out = Vec::new();
        hex_dump(&mut out, b"\x05hello, duraflow!\x00").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "00000000  05 68 65 6c 6c 6f 2c 20  64 75 72 61 66 6c 6f 77  |.hello, duraflow|\n\
             00000010  21 00                                             |!.|\n"
        );
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable_key("a.b c"), "a.b c");
        assert_eq!(printable_key("a\nb"), "\"a\\nb\"");
    }
}
