//! The one rendering path every list command shares, and writing to standard output.
//!
//! A list is column titles (Docker's upper-case ones, such as `MANAGER STATUS`) and rows of
//! strings. It prints as a Docker-style table (no borders, left aligned, columns three spaces
//! apart, never wrapped), as a JSON array of objects keyed by the titles in snake_case
//! (`manager_status`), or, for `-q`, as the first column alone.
//!
//! Also here: Docker's "5 seconds ago" wording and RFC 3339 timestamps, used by `service ps`,
//! `image ls` and `inspect --pretty`.

use crate::error::CliError;
use comfy_table::{ContentArrangement, Table};
use flotilla_model::Timestamp;
use std::io::Write;

/// The `--format` values list and info commands accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Columns for people (the default).
    Table,
    /// A JSON array of objects (for `info`, one object).
    Json,
}

/// How a list prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStyle {
    /// An aligned table with a header.
    Table,
    /// A JSON array of objects keyed by the snake_case column titles.
    Json,
    /// The first column only, one value a line.
    Quiet,
}

impl ListStyle {
    /// The style `-q` and `--format` ask for; `-q` wins.
    pub fn from_flags(quiet: bool, format: Option<OutputFormat>) -> Self {
        if quiet {
            ListStyle::Quiet
        } else if format == Some(OutputFormat::Json) {
            ListStyle::Json
        } else {
            ListStyle::Table
        }
    }
}

/// A list ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Column titles, upper case as Docker prints them.
    pub columns: Vec<&'static str>,
    /// One entry per row, one cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Listing {
    /// An empty list with these columns.
    pub fn new(columns: &[&'static str]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Renders the list in `style`; the text ends with a newline unless it is empty.
    pub fn render(&self, style: ListStyle) -> Result<String, CliError> {
        Ok(match style {
            ListStyle::Table => render_table(&self.columns, &self.rows),
            ListStyle::Json => render_json(&self.columns, &self.rows)?,
            ListStyle::Quiet => render_quiet(&self.rows),
        })
    }

    /// Renders the list in `style` and writes it to standard output.
    pub fn print(&self, style: ListStyle) -> Result<(), CliError> {
        print(&self.render(style)?)
    }
}

/// `MANAGER STATUS` → `manager_status`.
pub fn snake_case(title: &str) -> String {
    title
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

/// A borderless, left-aligned table with three spaces between columns and no wrapping.
pub fn render_table(columns: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(columns.to_vec());
    for row in rows {
        table.add_row(row.clone());
    }
    let last = columns.len().saturating_sub(1);
    for i in 0..columns.len() {
        if let Some(col) = table.column_mut(i) {
            col.set_padding((0, if i == last { 0 } else { 3 }));
        }
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A JSON array with one object per row, keyed by the snake_case column titles.
pub fn render_json(columns: &[&str], rows: &[Vec<String>]) -> Result<String, serde_json::Error> {
    let keys: Vec<String> = columns.iter().map(|c| snake_case(c)).collect();
    let objects: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let map: serde_json::Map<String, serde_json::Value> = keys
                .iter()
                .zip(row.iter())
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            serde_json::Value::Object(map)
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&objects)?;
    out.push('\n');
    Ok(out)
}

/// The first cell of each row, one a line.
pub fn render_quiet(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        if let Some(first) = row.first() {
            out.push_str(first);
            out.push('\n');
        }
    }
    out
}

/// Pretty-printed JSON of any serializable value, ending with a newline.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, CliError> {
    let mut out = serde_json::to_string_pretty(value)?;
    out.push('\n');
    Ok(out)
}

/// Writes `text` to standard output and flushes; a newline is added if missing.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes one line to standard output.
pub fn println(line: &str) -> Result<(), CliError> {
    print(&format!("{line}\n"))
}

/// Docker's id truncation for tables: the first 12 characters.
pub fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Docker's `units.HumanDuration` in lower case: "less than a second", "5 seconds",
/// "about a minute", "3 hours", "2 weeks".
pub fn human_duration(nanos: u64) -> String {
    let seconds = nanos / 1_000_000_000;
    let minutes = seconds / 60;
    // Go rounds hours to the nearest: int(d.Hours() + 0.5).
    let hours = (seconds + 1_800) / 3_600;
    if seconds < 1 {
        "less than a second".to_owned()
    } else if seconds == 1 {
        "1 second".to_owned()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "about a minute".to_owned()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "about an hour".to_owned()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3_600 / 24 / 365)
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A timestamp as RFC 3339 in UTC with nanoseconds (`2024-05-01T12:00:00.123456789Z`), as
/// Docker's inspect output shows times; the zero timestamp is shown as `-`.
pub fn rfc3339(ts: Timestamp) -> String {
    if ts.as_nanos() == 0 {
        return "-".to_owned();
    }
    let secs = ts.as_secs();
    let nanos = ts.as_nanos() % 1_000_000_000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3_600, (rem % 3_600) / 60, rem % 60);
    if nanos == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{nanos:09}Z")
    }
}

/// Parses an RFC 3339 timestamp (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`), as
/// image configs record their creation; `None` if it is malformed or before 1970. Digits of the
/// fraction beyond nanoseconds are dropped.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() < 20 {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let separators_ok = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u64 = 0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let len = after_dot
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_dot.len());
        if len == 0 {
            return None;
        }
        let digits = &after_dot[..len.min(9)];
        let scale = 10u64.pow(u32::try_from(9 - digits.len()).ok()?);
        nanos = digits.parse::<u64>().ok()? * scale;
        rest = &after_dot[len..];
    }
    let offset_secs: i64 = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hh = num_of(&[*h1, *h2])?;
            let mm = num_of(&[*m1, *m2])?;
            if hh > 23 || mm > 59 {
                return None;
            }
            let secs = hh * 3_600 + mm * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .map(Timestamp)
}

/// Two ASCII digits as a number.
fn num_of(digits: &[u8; 2]) -> Option<i64> {
    if digits.iter().all(u8::is_ascii_digit) {
        Some(i64::from(digits[0] - b'0') * 10 + i64::from(digits[1] - b'0'))
    } else {
        None
    }
}

/// Howard Hinnant's civil-to-days: (year, month, day) to days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Listing {
        Listing {
            columns: vec!["ID", "HOSTNAME", "MANAGER STATUS"],
            rows: vec![
                vec!["abc *".into(), "node-1".into(), "Leader".into()],
                vec!["defghi".into(), "n2".into(), String::new()],
            ],
        }
    }

    #[test]
    fn titles_become_snake_case_keys() {
        assert_eq!(snake_case("MANAGER STATUS"), "manager_status");
        assert_eq!(snake_case("DESIRED STATE"), "desired_state");
        assert_eq!(snake_case("ENGINE VERSION"), "engine_version");
        assert_eq!(snake_case("ID"), "id");
    }

    #[test]
    fn table_is_docker_like() {
        let text = sample().render(ListStyle::Table).expect("renders");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "ID       HOSTNAME   MANAGER STATUS",
                "abc *    node-1     Leader",
                "defghi   n2",
            ]
        );
    }

    #[test]
    fn empty_table_keeps_its_header() {
        let text = Listing::new(&["ID", "NAME"])
            .render(ListStyle::Table)
            .expect("renders");
        assert_eq!(text, "ID   NAME\n");
    }

    #[test]
    fn json_is_an_array_of_snake_case_objects() {
        let text = sample().render(ListStyle::Json).expect("renders");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let arr = v.as_array().expect("an array");
        assert_eq!(arr.len(), 2);
        assert_eq!(arr[0]["manager_status"], "Leader");
        assert_eq!(arr[1]["hostname"], "n2");
        let keys: Vec<&String> = arr[0].as_object().expect("an object").keys().collect();
        assert_eq!(keys.len(), 3);

        let empty = Listing::new(&["ID"])
            .render(ListStyle::Json)
            .expect("renders");
        assert_eq!(empty.trim(), "[]");
    }

    #[test]
    fn quiet_is_the_first_column() {
        let text = sample().render(ListStyle::Quiet).expect("renders");
        assert_eq!(text, "abc *\ndefghi\n");
    }

    #[test]
    fn style_from_flags() {
        assert_eq!(ListStyle::from_flags(false, None), ListStyle::Table);
        assert_eq!(
            ListStyle::from_flags(false, Some(OutputFormat::Json)),
            ListStyle::Json
        );
        assert_eq!(
            ListStyle::from_flags(true, Some(OutputFormat::Json)),
            ListStyle::Quiet
        );
    }

    #[test]
    fn human_durations() {
        let s = 1_000_000_000u64;
        let cases: &[(u64, &str)] = &[
            (0, "less than a second"),
            (s, "1 second"),
            (5 * s, "5 seconds"),
            (60 * s, "about a minute"),
            (3 * 60 * s, "3 minutes"),
            (3_600 * s, "about an hour"),
            (5 * 3_600 * s, "5 hours"),
            (3 * 86_400 * s, "3 days"),
            (21 * 86_400 * s, "3 weeks"),
            (90 * 86_400 * s, "3 months"),
            (3 * 365 * 86_400 * s, "3 years"),
        ];
        for (n, want) in cases {
            assert_eq!(human_duration(*n), *want);
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(Timestamp(0)), "-");
        assert_eq!(
            rfc3339(Timestamp(1_700_000_000_000_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339(Timestamp(951_782_400_000_000_001)),
            "2000-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn rfc3339_parses_back() {
        let cases: &[(&str, u64)] = &[
            ("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000),
            ("2023-11-14T23:13:20+01:00", 1_700_000_000_000_000_000),
            ("2023-11-14T21:43:20-00:30", 1_700_000_000_000_000_000),
            ("2000-02-29T00:00:00.000000001Z", 951_782_400_000_000_001),
            ("2000-02-29t00:00:00.5z", 951_782_400_500_000_000),
            ("2000-02-29T00:00:00.1234567891Z", 951_782_400_123_456_789),
            ("1970-01-01T00:00:00Z", 0),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_rfc3339(text), Some(Timestamp(*nanos)), "{text}");
        }
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "1969-12-31T23:59:59Z",
            "2023-11-14T22:13:20Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
