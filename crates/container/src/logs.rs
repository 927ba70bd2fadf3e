//! Container logs: the format the shim writes, rotation, and reading them back.
//!
//! The shim reads the container's stdout and stderr (pipes, or the terminal's master side) and
//! appends one record per line to the log file, in the CRI log format that Kubernetes' kubelet
//! and containerd use:
//!
//! ```text
//! 2024-05-01T12:00:00.123456789Z stdout F hello
//! 2024-05-01T12:00:00.2Z stderr P a line longer than the line buffer, or cut at EOF,
//! ```
//!
//! that is `<RFC 3339 time with nanoseconds, UTC, trailing zeros trimmed> <stream> <tag> <text>`,
//! where the tag is `F` for a full line (the newline is not part of the text) and `P` for a
//! partial one: a line longer than the shim's line buffer is cut into `P` records followed by
//! an `F` record (possibly empty), and output that ends without a newline is flushed as a `P`
//! record when its stream closes. A terminal's output keeps its `\r`.
//!
//! Rotation ([`crate::LogConfig`]): the current file is `<log>` (`container.log` in the state
//! directory by default), older ones are `<log>.1` (the most recent) to `<log>.<max_files-1>`.
//! [`read_logs`] reads them oldest first; [`LogFollower`] returns what is appended, across
//! rotations (it notices the current file's inode changing). A follower that is not called
//! while more than one rotation happens misses the files in between.

use crate::config::LogConfig;
use crate::error::{Context, Result};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest text of one record the shim writes: longer lines are cut into partial records.
pub const MAX_LINE: usize = 16 * 1024;

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (and everything a terminal prints).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, as written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The stream named `name`.
    fn parse(name: &[u8]) -> Option<Stream> {
        match name {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// One record of a container log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// When the shim wrote it, as written (RFC 3339, UTC, nanoseconds with trailing zeros
    /// trimmed); see [`LogRecord::timestamp`].
    pub time: String,
    /// The stream.
    pub stream: Stream,
    /// A partial line (`P`): the next record of the same stream continues it.
    pub partial: bool,
    /// The bytes, without the newline.
    pub text: Vec<u8>,
}

impl LogRecord {
    /// [`LogRecord::time`] as a point in time.
    pub fn timestamp(&self) -> Option<SystemTime> {
        parse_timestamp(&self.time)
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) in the proleptic Gregorian calendar.
///
/// Counts from 0000-03-01, so that the leap day ends each 4-year (and 400-year) cycle: a
/// 400-year era has 146 097 days, and within it a year of March-based months has 365 days plus
/// the leap day at its end.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // 719 468 days from 0000-03-01 to 1970-01-01.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097); // 0..=146_096
    // Remove the leap days counted so far (every 4 years, not every 100, every 400) to find
    // the year within the era.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: lengths 31 30 31 30 31 31 30 31 30 31 31 (28/29), a 153-day pattern
    // every 5 months.
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// (year, month, day) → days since 1970-01-01; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Formats `time` as RFC 3339 in UTC with nanoseconds, trailing zeros trimmed (Go's
/// `RFC3339Nano`): `2024-05-01T12:00:00.1234Z`. Times before 1970 are written as 1970.
pub fn format_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let nanos = since.subsec_nanos();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses what [`format_timestamp`] writes (any number of fraction digits up to 9, `Z`).
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
        )
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        for i in 0..9 {
            let digit = fraction
                .get(i)
                .filter(|_| i < digits)
                .map_or(0, |d| d - b'0');
            nanos = nanos * 10 + u32::from(digit);
        }
        rest = &fraction[digits..];
    }
    if rest != b"Z" {
        return None;
    }
    let days = u64::try_from(days_from_civil(i64::from(year), month, day)).ok()?;
    let secs = days * 86_400 + u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second);
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Appends one record, newline included, to `out`.
pub(crate) fn format_record(
    out: &mut Vec<u8>,
    time: &str,
    stream: Stream,
    partial: bool,
    text: &[u8],
) {
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// Parses one line of a log file (without its newline); `None` if it is not a record.
pub fn parse_record(line: &[u8]) -> Option<LogRecord> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    parse_timestamp(time)?;
    let stream = Stream::parse(fields.next()?)?;
    let partial = match fields.next()? {
        b"F" => false,
        b"P" => true,
        _ => return None,
    };
    let text = fields.next().unwrap_or_default().to_vec();
    Some(LogRecord {
        time: time.to_owned(),
        stream,
        partial,
        text,
    })
}

/// The records of the complete (newline-terminated) lines of `bytes`; malformed lines are
/// skipped.
fn parse_lines(bytes: &[u8]) -> Vec<LogRecord> {
    bytes[..complete_len(bytes)]
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(parse_record)
        .collect()
}

/// The length of the complete lines at the start of `bytes`.
fn complete_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// `<log>.<n>`, the `n`-th most recent rotated file.
pub fn rotated_path(log_path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(log_path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Reads the log of a container, rotated files first (oldest first); `tail`: only the last
/// `tail` records. A missing log reads as empty. A rotation while reading may duplicate or skip
/// records of the file rotated.
pub fn read_logs(log_path: &Path, tail: Option<usize>) -> Result<Vec<LogRecord>> {
    Ok(follow(log_path, tail)?.0)
}

/// Reads the log as [`read_logs`] does and returns a [`LogFollower`] positioned right after
/// the records returned, so that following misses nothing in between (`logs -f`).
pub fn follow(log_path: &Path, tail: Option<usize>) -> Result<(Vec<LogRecord>, LogFollower)> {
    let mut follower = LogFollower::unopened(log_path);
    // The current file first: what is appended after this point is the follower's.
    let mut current = Vec::new();
    let mut current_id = None;
    if let Some((mut file, id)) = open_log(log_path)? {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .ctx(|| format!("read {}", log_path.display()))?;
        let complete = complete_len(&bytes);
        current = parse_lines(&bytes[..complete]);
        follower.offset = complete as u64;
        follower.id = id;
        follower.file = Some(file);
        current_id = Some(id);
    }
    let enough = |n: usize| tail.is_some_and(|t| n >= t);
    let mut older: Vec<Vec<LogRecord>> = Vec::new();
    let mut count = current.len();
    let mut n = 1;
    while !enough(count) && n <= crate::config::MAX_LOG_FILES {
        let path = rotated_path(log_path, n);
        n += 1;
        let Some((mut file, id)) = open_log(&path)? else {
            break;
        };
        // Rotated since we opened the current file: it was read already.
        if Some(id) == current_id {
            continue;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .ctx(|| format!("read {}", path.display()))?;
        let records = parse_lines(&bytes);
        count += records.len();
        older.push(records);
    }
    let mut out = Vec::with_capacity(count);
    for records in older.into_iter().rev() {
        out.extend(records);
    }
    out.extend(current);
    if let Some(t) = tail
        && out.len() > t
    {
        out.drain(..out.len() - t);
    }
    Ok((out, follower))
}

/// Opens a log file with its (device, inode); `None` if it does not exist.
fn open_log(path: &Path) -> Result<Option<(File, (u64, u64))>> {
    match File::open(path) {
        Ok(file) => {
            let meta = file.metadata().ctx(|| format!("stat {}", path.display()))?;
            Ok(Some((file, (meta.dev(), meta.ino()))))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx(|| format!("open {}", path.display())),
    }
}

/// Returns the records appended to a container log since the last call, across rotations:
/// call [`LogFollower::next_batch`] every 100 ms or so while the container runs, and once more
/// after it has exited.
#[derive(Debug)]
pub struct LogFollower {
    /// The current log file's path.
    path: PathBuf,
    /// The file being read (the current one, or the one just rotated away).
    file: Option<File>,
    /// Its (device, inode).
    id: (u64, u64),
    /// The end of its last complete line read.
    offset: u64,
}

impl LogFollower {
    /// A follower of the log at `log_path` that starts at its current end (what it already
    /// holds is not returned; see [`follow`] for both).
    pub fn new(log_path: &Path) -> Result<LogFollower> {
        Ok(follow(log_path, Some(0))?.1)
    }

    /// A follower with no file yet.
    fn unopened(path: &Path) -> LogFollower {
        LogFollower {
            path: path.to_path_buf(),
            file: None,
            id: (0, 0),
            offset: 0,
        }
    }

    /// The records appended since the last call (or since the follower was made).
    pub fn next_batch(&mut self) -> Result<Vec<LogRecord>> {
        let mut out = Vec::new();
        // Bounded: each turn moves to a newer file.
        for _ in 0..=crate::config::MAX_LOG_FILES {
            if self.file.is_none() {
                let Some((file, id)) = open_log(&self.path)? else {
                    return Ok(out);
                };
                self.file = Some(file);
                self.id = id;
                self.offset = 0;
            }
            self.read_new(&mut out)?;
            match fs::metadata(&self.path) {
                Ok(meta) if (meta.dev(), meta.ino()) == self.id => return Ok(out),
                Ok(_) => {
                    // Rotated: the shim no longer writes the old file; read what it wrote
                    // between our read and the rename, then move on to the new file.
                    self.read_new(&mut out)?;
                    self.file = None;
                }
                // Between the rename and the new file's creation.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e).ctx(|| format!("stat {}", self.path.display())),
            }
        }
        Ok(out)
    }

    /// Reads the complete lines past `offset` in the open file.
    fn read_new(&mut self, out: &mut Vec<LogRecord>) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let len = file
            .metadata()
            .ctx(|| format!("stat {}", self.path.display()))?
            .len();
        if len < self.offset {
            // Truncated by someone else: start again.
            self.offset = 0;
        }
        if len == self.offset {
            return Ok(());
        }
        file.seek(SeekFrom::Start(self.offset))
            .ctx(|| format!("seek {}", self.path.display()))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .ctx(|| format!("read {}", self.path.display()))?;
        let complete = complete_len(&bytes);
        out.extend(parse_lines(&bytes[..complete]));
        self.offset += complete as u64;
        Ok(())
    }
}

/// Cuts a stream's bytes into lines of at most `capacity` bytes: the shim's per-stream line
/// buffer (allocated once).
#[derive(Debug)]
pub(crate) struct LineBuffer {
    /// The bytes of the current line not yet written.
    pending: Vec<u8>,
    /// The longest text of one record.
    capacity: usize,
}

impl LineBuffer {
    /// A buffer for lines of `capacity` bytes (at least 1).
    pub(crate) fn new(capacity: usize) -> LineBuffer {
        let capacity = capacity.max(1);
        LineBuffer {
            pending: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds `bytes` to the current line, emitting a partial record whenever it is full.
    fn push(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(bool, &[u8])) {
        while !bytes.is_empty() {
            let take = (self.capacity - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == self.capacity {
                emit(true, &self.pending);
                self.pending.clear();
            }
        }
    }

    /// Feeds output: `emit(partial, text)` is called for every record it completes.
    pub(crate) fn feed(&mut self, data: &[u8], emit: &mut dyn FnMut(bool, &[u8])) {
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.push(&rest[..i], emit);
            emit(false, &self.pending);
            self.pending.clear();
            rest = &rest[i + 1..];
        }
        self.push(rest, emit);
    }

    /// At the stream's end: the unterminated rest, as a partial record.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(bool, &[u8])) {
        if !self.pending.is_empty() {
            emit(true, &self.pending);
            self.pending.clear();
        }
    }
}

/// The shim's side: appends records to the log and rotates it.
#[derive(Debug)]
pub(crate) struct LogWriter {
    /// The current file's path.
    path: PathBuf,
    /// The current file (append mode).
    file: File,
    /// Its size.
    size: u64,
    /// When to rotate, how many files to keep.
    config: LogConfig,
    /// The record being written (capacity allocated once).
    record: Vec<u8>,
}

impl LogWriter {
    /// Opens (creates, mode 0640) the log at `path` for appending.
    pub(crate) fn open(path: &Path, config: LogConfig) -> Result<LogWriter> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).ctx(|| format!("create directory {}", parent.display()))?;
        }
        let file = open_append(path)?;
        let size = file
            .metadata()
            .ctx(|| format!("stat {}", path.display()))?
            .len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            config,
            record: Vec::with_capacity(MAX_LINE + 64),
        })
    }

    /// The longest text of one record: at most half a file, so that a record always fits in
    /// one.
    pub(crate) fn line_capacity(&self) -> usize {
        usize::try_from(self.config.max_size / 2)
            .unwrap_or(MAX_LINE)
            .min(MAX_LINE)
    }

    /// Appends one record (one `write`), rotating first if it would not fit.
    pub(crate) fn write(
        &mut self,
        time: &str,
        stream: Stream,
        partial: bool,
        text: &[u8],
    ) -> Result<()> {
        self.record.clear();
        format_record(&mut self.record, time, stream, partial, text);
        let len = self.record.len() as u64;
        if self.size > 0 && self.size + len > self.config.max_size {
            self.rotate()?;
        }
        self.file
            .write_all(&self.record)
            .ctx(|| format!("write {}", self.path.display()))?;
        self.size += len;
        Ok(())
    }

    /// `<log>` → `<log>.1` → … → `<log>.<max_files-1>` (removed beyond), then a new `<log>`.
    fn rotate(&mut self) -> Result<()> {
        let keep = self.config.max_files.saturating_sub(1);
        if keep == 0 {
            remove_if_present(&self.path)?;
        } else {
            remove_if_present(&rotated_path(&self.path, keep))?;
            for n in (1..keep).rev() {
                let from = rotated_path(&self.path, n);
                let to = rotated_path(&self.path, n + 1);
                match fs::rename(&from, &to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e)
                            .ctx(|| format!("rename {} to {}", from.display(), to.display()));
                    }
                }
            }
            let first = rotated_path(&self.path, 1);
            fs::rename(&self.path, &first)
                .ctx(|| format!("rename {} to {}", self.path.display(), first.display()))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Opens `path` for appending, creating it with mode 0640.
fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .ctx(|| format!("open log file {}", path.display()))
}

/// Removes a file, if it exists.
fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(|| format!("remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn timestamps_are_rfc3339_nano() {
        assert_eq!(format_timestamp(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_timestamp(at(1_714_564_800, 123_456_789)),
            "2024-05-01T12:00:00.123456789Z"
        );
        assert_eq!(
            format_timestamp(at(1_714_564_800, 100_000_000)),
            "2024-05-01T12:00:00.1Z"
        );
        // A leap day, the last second of a year, a century that is not a leap year.
        assert_eq!(format_timestamp(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(
            format_timestamp(at(1_704_067_199, 5_000)),
            "2023-12-31T23:59:59.000005Z"
        );
        assert_eq!(
            format_timestamp(at(4_107_542_400, 0)),
            "2100-03-01T00:00:00Z"
        );
        assert_eq!(
            format_timestamp(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        for &(secs, nanos) in &[
            (0u64, 0u32),
            (951_782_400, 1),
            (1_714_564_800, 123_456_789),
            (1_704_067_199, 999_999_999),
            (4_107_542_400, 10),
        ] {
            let text = format_timestamp(at(secs, nanos));
            assert_eq!(parse_timestamp(&text), Some(at(secs, nanos)), "{text}");
        }
        // Every day of four centuries round-trips.
        for day in 0..146_097i64 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(parse_timestamp("2024-05-01T12:00:00+02:00"), None);
        assert_eq!(parse_timestamp("2024-13-01T12:00:00Z"), None);
        assert_eq!(parse_timestamp("2024-05-01T12:00:00.Z"), None);
        assert_eq!(parse_timestamp("2024-05-01T12:00:00.1234567891Z"), None);
        assert_eq!(parse_timestamp("garbage"), None);
    }

    #[test]
    fn records_round_trip() {
        let mut buf = Vec::new();
        format_record(
            &mut buf,
            "2024-05-01T12:00:00.5Z",
            Stream::Stderr,
            false,
            b"a b  c",
        );
        format_record(&mut buf, "2024-05-01T12:00:01Z", Stream::Stdout, true, b"");
        assert_eq!(
            buf,
            b"2024-05-01T12:00:00.5Z stderr F a b  c\n2024-05-01T12:00:01Z stdout P \n"
        );
        let records = parse_lines(&buf);
        assert_eq!(
            records,
            vec![
                LogRecord {
                    time: "2024-05-01T12:00:00.5Z".to_owned(),
                    stream: Stream::Stderr,
                    partial: false,
                    text: b"a b  c".to_vec(),
                },
                LogRecord {
                    time: "2024-05-01T12:00:01Z".to_owned(),
                    stream: Stream::Stdout,
                    partial: true,
                    text: Vec::new(),
                },
            ]
        );
        assert_eq!(records[0].timestamp(), Some(at(1_714_564_800, 500_000_000)));
        assert!(parse_record(b"2024-05-01T12:00:00Z stdin F x").is_none());
        assert!(parse_record(b"2024-05-01T12:00:00Z stdout X x").is_none());
        assert!(parse_record(b"yesterday stdout F x").is_none());
        // An unterminated last line is not a record yet.
        assert_eq!(parse_lines(b"2024-05-01T12:00:00Z stdout F x").len(), 0);
    }

    #[test]
    fn lines_are_cut_at_the_buffer_size() {
        let mut lines = LineBuffer::new(4);
        let mut got: Vec<(bool, String)> = Vec::new();
        let mut emit = |partial: bool, text: &[u8]| {
            got.push((partial, String::from_utf8_lossy(text).into_owned()));
        };
        lines.feed(b"ab\ncdefgh", &mut emit);
        lines.feed(b"ij\n\nxyz", &mut emit);
        lines.finish(&mut emit);
        lines.finish(&mut emit);
        let expected: Vec<(bool, String)> = [
            (false, "ab"),
            (true, "cdef"),
            (true, "ghij"),
            (false, ""),
            (false, ""),
            (true, "xyz"),
        ]
        .iter()
        .map(|&(p, t)| (p, t.to_owned()))
        .collect();
        assert_eq!(got, expected);
    }

    fn write_lines(writer: &mut LogWriter, from: usize, to: usize) {
        for i in from..to {
            let text = format!("line {i:04} {}", "x".repeat(80));
            writer
                .write(
                    &format_timestamp(SystemTime::now()),
                    Stream::Stdout,
                    false,
                    text.as_bytes(),
                )
                .expect("write");
        }
    }

    fn numbers(records: &[LogRecord]) -> Vec<usize> {
        records
            .iter()
            .map(|r| {
                String::from_utf8_lossy(&r.text[5..9])
                    .parse()
                    .expect("a line number")
            })
            .collect()
    }

    #[test]
    fn rotation_keeps_max_files_and_reads_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("container.log");
        let config = LogConfig {
            max_size: 4096,
            max_files: 3,
        };
        let mut writer = LogWriter::open(&path, config).expect("open");
        assert_eq!(writer.line_capacity(), 2048);
        write_lines(&mut writer, 0, 200);
        for p in [path.clone(), rotated_path(&path, 1), rotated_path(&path, 2)] {
            let len = fs::metadata(&p).expect("exists").len();
            assert!(len <= 4096 && len > 0, "{} has {len} bytes", p.display());
        }
        assert!(!rotated_path(&path, 3).exists());

        let all = read_logs(&path, None).expect("read");
        let got = numbers(&all);
        let last = *got.last().expect("records");
        assert_eq!(last, 199);
        let first = got[0];
        assert_eq!(
            got,
            (first..200).collect::<Vec<_>>(),
            "contiguous, oldest first"
        );
        assert!(first > 0, "the oldest records were dropped");

        let tail = read_logs(&path, Some(5)).expect("tail");
        assert_eq!(numbers(&tail), vec![195, 196, 197, 198, 199]);
        // A tail reaching into the rotated files.
        let current = read_logs(&path, Some(0)).expect("none");
        assert!(current.is_empty());
        let long = read_logs(&path, Some(60)).expect("tail");
        assert_eq!(numbers(&long), (140..200).collect::<Vec<_>>());
        assert!(
            read_logs(&dir.path().join("absent.log"), None)
                .expect("missing reads as empty")
                .is_empty()
        );
    }

    #[test]
    fn one_file_is_restarted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.log");
        let config = LogConfig {
            max_size: 4096,
            max_files: 1,
        };
        let mut writer = LogWriter::open(&path, config).expect("open");
        write_lines(&mut writer, 0, 100);
        assert!(fs::metadata(&path).expect("exists").len() <= 4096);
        assert!(!rotated_path(&path, 1).exists());
        assert_eq!(numbers(&read_logs(&path, Some(1)).expect("read")), vec![99]);
    }

    #[test]
    fn the_follower_sees_appends_and_rotations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("container.log");
        let config = LogConfig {
            max_size: 4096,
            max_files: 3,
        };
        // Before the file exists.
        let mut early = LogFollower::new(&path).expect("follower");
        assert!(early.next_batch().expect("batch").is_empty());

        let mut writer = LogWriter::open(&path, config).expect("open");
        write_lines(&mut writer, 0, 10);
        assert_eq!(
            numbers(&early.next_batch().expect("batch")),
            (0..10).collect::<Vec<_>>()
        );
        let (existing, mut follower) = follow(&path, Some(3)).expect("follow");
        assert_eq!(numbers(&existing), vec![7, 8, 9]);
        assert!(follower.next_batch().expect("batch").is_empty());

        // Within one file, then across one rotation (about 40 lines fit in a file).
        write_lines(&mut writer, 10, 30);
        assert_eq!(
            numbers(&follower.next_batch().expect("batch")),
            (10..30).collect::<Vec<_>>()
        );
        write_lines(&mut writer, 30, 60);
        assert_eq!(
            numbers(&follower.next_batch().expect("batch")),
            (30..60).collect::<Vec<_>>()
        );
        assert_eq!(
            numbers(&early.next_batch().expect("batch")),
            (10..60).collect::<Vec<_>>()
        );

        // A partly written record waits for its newline.
        let mut raw = OpenOptions::new().append(true).open(&path).expect("open");
        raw.write_all(b"2024-05-01T12:00:00Z stdout F line 9999")
            .expect("write");
        assert!(follower.next_batch().expect("batch").is_empty());
        raw.write_all(b" tail\n").expect("write");
        assert_eq!(numbers(&follower.next_batch().expect("batch")), vec![9999]);
    }
}
