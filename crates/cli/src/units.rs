//! Docker's human-friendly flag values: byte sizes (`64m`, `1g`, `512k`), CPU counts (`0.5`) and
//! Go durations (`5s`, `1m30s`, `500ms`), plus their rendering back for `inspect --pretty`, and
//! the decimal sizes of image listings (`4.26MB`).
//!
//! Every parse error names the flag it came from, so the message can be printed as is.

use std::time::Duration;

/// A flag value that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag}: {value:?}: {reason}")]
pub struct UnitError {
    /// The flag, with its dashes (`--limit-memory`).
    pub flag: String,
    /// The value as given.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl UnitError {
    fn new(flag: &str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            flag: flag.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Parses a Docker byte size the way `docker service create --limit-memory` does: a decimal
/// number, an optional space, then an optional binary unit `k`, `m`, `g`, `t` or `p` (any case),
/// optionally followed by `i` and/or `b` (`64m`, `1g`, `512k`, `1.5GiB`, `100`, `100b`).
pub fn parse_bytes(flag: &str, s: &str) -> Result<u64, UnitError> {
    let bad = |reason: &str| UnitError::new(flag, s, reason);
    let expected = "expected a size such as 100, 512k, 64m or 1g";
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_len);
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) || num.ends_with('.') {
        return Err(bad(expected));
    }
    if num.matches('.').count() > 1 {
        return Err(bad(expected));
    }
    let value: f64 = num.parse().map_err(|_| bad(expected))?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let mut shift = 0u32;
    if let Some(&c) = chars.peek() {
        let unit_shift = match c.to_ascii_lowercase() {
            'k' => Some(10),
            'm' => Some(20),
            'g' => Some(30),
            't' => Some(40),
            'p' => Some(50),
            _ => None,
        };
        if let Some(unit_shift) = unit_shift {
            shift = unit_shift;
            chars.next();
            if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
                chars.next();
            }
        }
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(bad(expected));
    }
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad("out of range"));
    }
    // Truncation toward zero is Docker's behaviour (`int64(size * unit)`).
    Ok(bytes as u64)
}

/// Parses a CPU count (`0.5`, `2`) into billionths of a CPU, as `--limit-cpu` takes it.
pub fn parse_cpus(flag: &str, s: &str) -> Result<u64, UnitError> {
    let expected = "expected a number of CPUs such as 0.5 or 2";
    let value: f64 = s
        .trim()
        .parse()
        .map_err(|_| UnitError::new(flag, s, expected))?;
    if !value.is_finite() {
        return Err(UnitError::new(flag, s, expected));
    }
    if value < 0.0 {
        return Err(UnitError::new(flag, s, "must not be negative"));
    }
    let nanos = (value * 1e9).round();
    if nanos >= u64::MAX as f64 {
        return Err(UnitError::new(flag, s, "out of range"));
    }
    Ok(nanos as u64)
}

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `0`): a sequence of decimal numbers, each
/// with an optional fraction and a unit among `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`.
/// Negative durations are refused.
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration, UnitError> {
    let bad = |reason: String| UnitError::new(flag, s, reason);
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(bad("must not be negative".into()));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad("expected a duration such as 5s, 1m30s or 500ms".into()));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        // The number: digits, optionally a '.' and more digits.
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(r) => {
                let frac_len = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                r.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad("expected a duration such as 5s, 1m30s or 500ms".into()));
        }
        // The unit: everything up to the next number.
        let unit_len = after_num
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_num.len());
        let (unit, next) = after_num.split_at(unit_len);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => {
                return Err(bad("missing unit (ns, us, ms, s, m or h), e.g. 5s".into()));
            }
            other => return Err(bad(format!("unknown unit {other:?}"))),
        };
        let out_of_range = || bad("out of range".into());
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| out_of_range())?
        };
        let mut part = int_value.checked_mul(unit_ns).ok_or_else(out_of_range)?;
        if !frac_part.is_empty() {
            // Digits beyond the 18th cannot matter at nanosecond precision for any unit here.
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac_value: u128 = digits.parse().map_err(|_| out_of_range())?;
            let scale = 10u128.pow(u32::try_from(digits.len()).unwrap_or(18));
            part = part
                .checked_add(frac_value * unit_ns / scale)
                .ok_or_else(out_of_range)?;
        }
        total = total.checked_add(part).ok_or_else(out_of_range)?;
        rest = next;
    }
    let nanos = u64::try_from(total).map_err(|_| bad("out of range".into()))?;
    Ok(Duration::from_nanos(nanos))
}

/// Renders a duration the way Go's `time.Duration.String` does: `0s`, `500ms`, `1.5µs`,
/// `5s`, `1m30s`, `2h0m0s`.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return with_fraction(ns, 1_000, 3, "µs");
    }
    if ns < 1_000_000_000 {
        return with_fraction(ns, 1_000_000, 6, "ms");
    }
    let secs = ns / 1_000_000_000;
    let (h, m, s) = (secs / 3_600, (secs % 3_600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&with_fraction(
        s * 1_000_000_000 + ns % 1_000_000_000,
        1_000_000_000,
        9,
        "s",
    ));
    out
}

fn with_fraction(value: u128, unit: u128, width: usize, suffix: &str) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return format!("{whole}{suffix}");
    }
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}{suffix}", digits.trim_end_matches('0'))
}

/// Renders a byte count with binary units and up to four significant digits, like Docker's
/// `units.BytesSize`: `512B`, `64MiB`, `1.5GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{}{}", significant(value, 4), UNITS[unit])
}

/// Renders a byte count with decimal units and `precision` significant digits, like Docker's
/// `units.HumanSizeWithPrecision`: `512B`, `999kB`, `4.26MB` (3 digits, as `image ls` shows
/// sizes), `12.35MB` (4 digits, Docker's `units.HumanSize`, as `image prune` totals).
///
/// Where Go's `%g` would switch to exponent form (`1e+03kB`), the next unit is used (`1MB`).
pub fn format_decimal_bytes(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let mut text = significant(value, precision);
    if unit + 1 < UNITS.len() && text.parse::<f64>().is_ok_and(|v| v >= 1000.0) {
        value /= 1000.0;
        unit += 1;
        text = significant(value, precision);
    }
    format!("{text}{}", UNITS[unit])
}

/// Renders billionths of a CPU as a CPU count: `0.5`, `2`.
pub fn format_cpus(nanos: u64) -> String {
    let whole = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `v` (not negative) rounded to `digits` significant digits, without trailing zeros; the whole
/// part is never cut (`1023` stays `1023` at three digits).
fn significant(v: f64, digits: usize) -> String {
    let whole_digits = (v.trunc() as u64).to_string().len();
    let decimals = digits.saturating_sub(whole_digits);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("100", 100),
            ("100b", 100),
            ("512k", 512 << 10),
            ("512K", 512 << 10),
            ("64m", 64 << 20),
            ("64M", 64 << 20),
            ("64mb", 64 << 20),
            ("64MiB", 64 << 20),
            ("64 m", 64 << 20),
            ("1g", 1 << 30),
            ("1.5g", 3 << 29),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_bytes("--limit-memory", input),
                Ok(*want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn bad_byte_sizes_name_the_flag() {
        for input in [
            "", "m", "-1", "12x", "1.2.3g", "1.g", "64 mm", " 64m", "1e3",
        ] {
            let e = parse_bytes("--limit-memory", input).expect_err(input);
            assert_eq!(e.flag, "--limit-memory", "input {input:?}");
            assert!(e.to_string().starts_with("invalid --limit-memory: "), "{e}");
        }
        assert!(parse_bytes("--reserve-memory", "99999999999p").is_err());
    }

    #[test]
    fn cpus() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("1", 1_000_000_000),
            ("0.5", 500_000_000),
            ("2.25", 2_250_000_000),
            ("0.000000001", 1),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_cpus("--limit-cpu", input),
                Ok(*want),
                "input {input:?}"
            );
        }
        for input in ["", "-1", "abc", "inf", "NaN"] {
            let e = parse_cpus("--limit-cpu", input).expect_err(input);
            assert_eq!(e.flag, "--limit-cpu");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("+5s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1.000000001s", Duration::from_nanos(1_000_000_001)),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_duration("--restart-delay", input),
                Ok(*want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn bad_durations_name_the_flag() {
        for input in [
            "",
            "5",
            "5x",
            "-5s",
            "s",
            ".s",
            "1h-5m",
            "5 s",
            "999999999999h",
        ] {
            let e = parse_duration("--update-delay", input).expect_err(input);
            assert_eq!(e.flag, "--update-delay", "input {input:?}");
            assert!(e.to_string().starts_with("invalid --update-delay: "), "{e}");
        }
    }

    #[test]
    fn durations_render_like_go() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_millis(2_500), "2.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3_600), "1h0m0s"),
            (Duration::from_secs(3_723), "1h2m3s"),
        ];
        for (d, want) in cases {
            assert_eq!(format_duration(*d), *want);
            if *d >= Duration::from_secs(1) || d.is_zero() {
                assert_eq!(parse_duration("--x", want), Ok(*d), "round trip {want}");
            }
        }
    }

    #[test]
    fn sizes_and_cpus_render() {
        assert_eq!(format_bytes(512), "512B");
        assert_eq!(format_bytes(64 << 20), "64MiB");
        assert_eq!(format_bytes(3 << 29), "1.5GiB");
        assert_eq!(format_cpus(500_000_000), "0.5");
        assert_eq!(format_cpus(2_000_000_000), "2");
    }

    #[test]
    fn decimal_sizes_read_like_docker() {
        let cases: &[(u64, usize, &str)] = &[
            (0, 3, "0B"),
            (999, 3, "999B"),
            (1_000, 3, "1kB"),
            (1_500, 3, "1.5kB"),
            (4_258_000, 3, "4.26MB"),
            (12_345_678, 3, "12.3MB"),
            (123_456_789, 3, "123MB"),
            (999_999, 3, "1MB"),
            (1_234_567_890, 3, "1.23GB"),
            (12_345_678, 4, "12.35MB"),
        ];
        for (bytes, precision, want) in cases {
            assert_eq!(
                format_decimal_bytes(*bytes, *precision),
                *want,
                "{bytes} bytes at {precision} digits"
            );
        }
    }
}
