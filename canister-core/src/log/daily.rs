//! One log file per local day, `log.YYYY-MM-DD`, older ones deleted.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Days, Local, NaiveDate};

use super::error::LogError;
use crate::clock::Clock;

/// The prefix of every log file name.
const PREFIX: &str = "log.";

/// The date format of log file names.
const DATE_FORMAT: &str = "%Y-%m-%d";

/// Writes to `<dir>/log.YYYY-MM-DD`, one file per local day, keeping `keep_days` days.
///
/// The day is the local calendar day of the time a line is written, as the injected
/// [`Clock`] tells it, so rotation and retention are tested by moving a `TestClock` across
/// midnight. When a new day's file is opened, files named `log.YYYY-MM-DD` dated `keep_days`
/// or more days before it are deleted (today's file and the `keep_days - 1` before it stay);
/// other files in the directory are never touched. Files are opened in append mode, so a
/// restart continues the day's file.
///
/// # Permissions (Unix)
///
/// The logs hold user names, client addresses and URLs, so by default only the owner can
/// read them: a file canister creates gets mode `0600` and a `dir` it creates `0700`
/// ([`DEFAULT_FILE_MODE`](Self::DEFAULT_FILE_MODE), [`DEFAULT_DIR_MODE`](Self::DEFAULT_DIR_MODE);
/// `log_file_mode` / `log_dir_mode` in the configuration, [`new_with_modes`](Self::new_with_modes)
/// here). The mode is set exactly, whatever the process umask. Modes are applied only to
/// what canister creates: an existing directory or file keeps its permissions, so an
/// administrator's choice (a group-readable `/var/log/app`) is never loosened or tightened
/// behind their back. Directories above `dir` that are missing are created with the
/// process umask. Elsewhere than Unix the modes are not used.
///
/// As an `io::Write`, each `write` call picks the file for the clock's current day: write
/// whole lines per call (a `LineWriter` or `writeln!` on a locked writer does).
/// [`DefaultLogSink`](super::DefaultLogSink) uses it through its own path, choosing the file
/// from each line's timestamp, so a line stamped just before midnight lands in that day's
/// file even when it is written just after.
///
/// # Examples
///
/// ```
/// use std::{io::Write, sync::Arc, time::Duration};
/// use canister_core::{log::DailyFiles, TestClock};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let clock = TestClock::new();
/// let mut files = DailyFiles::new(dir.path(), 30, Arc::new(clock.clone()))?;
/// files.write_all(b"one\n")?;
/// clock.advance(Duration::from_secs(24 * 3600));
/// files.write_all(b"two\n")?;
/// assert_eq!(std::fs::read_dir(dir.path())?.count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DailyFiles {
    dir: PathBuf,
    file_mode: u32,
    keep_days: u32,
    clock: Arc<dyn Clock>,
    current: Option<(NaiveDate, File)>,
    pruned_through: Option<NaiveDate>,
}

impl DailyFiles {
    /// The mode of a log file canister creates: read and write for the owner only.
    pub const DEFAULT_FILE_MODE: u32 = 0o600;

    /// The mode of a log directory canister creates: the owner only.
    pub const DEFAULT_DIR_MODE: u32 = 0o700;

    /// Creates `dir` if needed, opens today's file and deletes files past retention, with
    /// the default modes (`0600` files, `0700` directory).
    ///
    /// `keep_days` of 0 is read as 1: today's file is always kept.
    ///
    /// # Errors
    ///
    /// [`LogError::Directory`] when the directory cannot be created or listed,
    /// [`LogError::File`] when today's file cannot be opened.
    pub fn new(
        dir: impl Into<PathBuf>,
        keep_days: u32,
        clock: impl Clock,
    ) -> Result<Self, LogError> {
        Self::new_with_modes(
            dir,
            keep_days,
            clock,
            Self::DEFAULT_FILE_MODE,
            Self::DEFAULT_DIR_MODE,
        )
    }

    /// Like [`new`](Self::new), with the Unix modes of the files and the directory it
    /// creates (`0o640`, `0o750`, ...; only the permission bits, `0o777`, are used).
    /// Existing ones keep theirs (see the type's docs).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn new_with_modes(
        dir: impl Into<PathBuf>,
        keep_days: u32,
        clock: impl Clock,
        file_mode: u32,
        dir_mode: u32,
    ) -> Result<Self, LogError> {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let dir = dir.into();
        create_dir(&dir, dir_mode & 0o777).map_err(|source| LogError::Directory {
            path: dir.clone(),
            source,
        })?;
        let mut files = Self {
            dir,
            file_mode: file_mode & 0o777,
            keep_days: keep_days.max(1),
            clock,
            current: None,
            pruned_through: None,
        };
        let today = local_day(files.clock.now());
        if let Err(source) = files.file_for(today) {
            return Err(LogError::File {
                path: files.path_for(today),
                source,
            });
        }
        files.prune(today).map_err(|source| LogError::Directory {
            path: files.dir.clone(),
            source,
        })?;
        Ok(files)
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the file for local day `day`: `<dir>/log.YYYY-MM-DD`.
    pub fn path_for(&self, day: NaiveDate) -> PathBuf {
        self.dir
            .join(format!("{PREFIX}{}", day.format(DATE_FORMAT)))
    }

    /// Writes `line` to the file of local day `day`, switching files (and pruning) if needed.
    pub(crate) fn write_line(&mut self, day: NaiveDate, line: &[u8]) -> io::Result<()> {
        self.file_for(day)?.write_all(line)
    }

    /// The open file for `day`; opens it (and prunes, for a new latest day) when needed.
    fn file_for(&mut self, day: NaiveDate) -> io::Result<&mut File> {
        let is_current = matches!(&self.current, Some((d, _)) if *d == day);
        if !is_current {
            // Drop the old handle first so a failed open does not keep writing to it.
            self.current = None;
            let file = open_append(&self.path_for(day), self.file_mode)?;
            self.current = Some((day, file));
            if self.pruned_through.is_some_and(|p| day > p) {
                // Retention failures must not lose the line: report them once, keep going.
                if let Err(e) = self.prune(day) {
                    eprintln!(
                        "canister: cannot delete old log files in {}: {e}",
                        self.dir.display()
                    );
                }
            }
        }
        match &mut self.current {
            Some((_, file)) => Ok(file),
            None => Err(io::Error::other("log file closed")),
        }
    }

    /// Deletes `log.YYYY-MM-DD` files dated `keep_days` or more days before `today`.
    fn prune(&mut self, today: NaiveDate) -> io::Result<()> {
        self.pruned_through = Some(today);
        let Some(oldest_kept) = today.checked_sub_days(Days::new(u64::from(self.keep_days) - 1))
        else {
            return Ok(());
        };
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(day) = name.to_str().and_then(parse_file_day) else {
                continue;
            };
            if day < oldest_kept && entry.file_type()?.is_file() {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

impl Write for DailyFiles {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let day = local_day(self.clock.now());
        self.file_for(day)?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.current {
            Some((_, file)) => file.flush(),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for DailyFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DailyFiles")
            .field("dir", &self.dir)
            .field("keep_days", &self.keep_days)
            .field("current", &self.current.as_ref().map(|(day, _)| day))
            .finish_non_exhaustive()
    }
}

/// Creates `dir` (and missing parents) unless it exists; `dir` itself gets `mode` exactly.
fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match fs::DirBuilder::new().mode(mode).create(dir) {
            // The umask may have taken bits away; set what was asked for.
            Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(mode)),
            // Created meanwhile by someone else: theirs, left as it is.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        fs::create_dir_all(dir)
    }
}

/// Opens `path` for appending; a file it creates gets `mode` exactly (Unix).
fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut last = None;
        // Twice: a file deleted between the two opens (retention in another process) is
        // created the second time.
        for _ in 0..2 {
            match OpenOptions::new()
                .append(true)
                .create_new(true)
                .mode(mode)
                .open(path)
            {
                Ok(file) => {
                    // The umask may have taken bits away; set what was asked for. Should the
                    // file system refuse, the file keeps the narrower mode it was created with.
                    let _ = file.set_permissions(fs::Permissions::from_mode(mode));
                    return Ok(file);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match OpenOptions::new().append(true).open(path) {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => last = Some(e),
                        other => return other,
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("log file vanished while opening")))
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        OpenOptions::new().create(true).append(true).open(path)
    }
}

/// The local calendar day of `time`.
pub(crate) fn local_day(time: SystemTime) -> NaiveDate {
    DateTime::<Local>::from(time).date_naive()
}

/// The day of a file named exactly `log.YYYY-MM-DD`.
fn parse_file_day(name: &str) -> Option<NaiveDate> {
    let date = name.strip_prefix(PREFIX)?;
    if date.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(date, DATE_FORMAT).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::time::Duration;

    use chrono::{NaiveTime, TimeZone};

    use super::*;
    use crate::clock::TestClock;

    /// A test clock at `hh:mm:ss` local time on `date` (in whatever zone the machine has).
    fn local_clock(date: &str, time: &str) -> TestClock {
        let day = NaiveDate::parse_from_str(date, DATE_FORMAT).unwrap();
        let t = NaiveTime::parse_from_str(time, "%H:%M:%S").unwrap();
        let local = Local
            .from_local_datetime(&day.and_time(t))
            .single()
            .unwrap();
        TestClock::at(SystemTime::from(local))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn switches_file_at_local_midnight() {
        let dir = tempfile::tempdir().unwrap();
        let clock = local_clock("2016-07-02", "23:59:59");
        let mut files =
            DailyFiles::new(dir.path().join("logs"), 30, Arc::new(clock.clone())).unwrap();
        files.write_all(b"before\n").unwrap();
        clock.advance(Duration::from_millis(999));
        files.write_all(b"still before\n").unwrap();
        clock.advance(Duration::from_millis(1));
        files.write_all(b"after\n").unwrap();
        let logs = dir.path().join("logs");
        assert_eq!(names(&logs), ["log.2016-07-02", "log.2016-07-03"]);
        assert_eq!(
            fs::read_to_string(logs.join("log.2016-07-02")).unwrap(),
            "before\nstill before\n"
        );
        assert_eq!(
            fs::read_to_string(logs.join("log.2016-07-03")).unwrap(),
            "after\n"
        );
    }

    #[test]
    fn appends_to_the_day_file_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(local_clock("2016-07-02", "10:00:00"));
        DailyFiles::new(dir.path(), 30, clock.clone())
            .unwrap()
            .write_all(b"one\n")
            .unwrap();
        DailyFiles::new(dir.path(), 30, clock)
            .unwrap()
            .write_all(b"two\n")
            .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("log.2016-07-02")).unwrap(),
            "one\ntwo\n"
        );
    }

    #[test]
    fn retention_at_start_keeps_log_days_days() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "log.2016-06-01",
            "log.2016-06-02",
            "log.2016-06-03",
            "log.2016-07-01",
            "log.2016-7-1",
            "log.2016-06-01.gz",
            "log.txt",
            "other.2016-06-01",
        ] {
            fs::write(dir.path().join(name), "x\n").unwrap();
        }
        let clock = Arc::new(local_clock("2016-07-02", "12:00:00"));
        // 30 days kept: 2016-06-03 ..= 2016-07-02.
        DailyFiles::new(dir.path(), 30, clock).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "log.2016-06-01.gz",
                "log.2016-06-03",
                "log.2016-07-01",
                "log.2016-07-02",
                "log.2016-7-1",
                "log.txt",
                "other.2016-06-01",
            ]
        );
    }

    #[test]
    fn retention_runs_again_at_each_new_day() {
        let dir = tempfile::tempdir().unwrap();
        let clock = local_clock("2016-07-01", "23:00:00");
        let mut files = DailyFiles::new(dir.path(), 2, Arc::new(clock.clone())).unwrap();
        files.write_all(b"1\n").unwrap();
        for _ in 0..3 {
            clock.advance(Duration::from_secs(24 * 3600));
            files.write_all(b"n\n").unwrap();
        }
        assert_eq!(names(dir.path()), ["log.2016-07-03", "log.2016-07-04"]);
    }

    #[test]
    fn one_day_keeps_only_today_and_zero_means_one() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("log.2016-07-01"), "x\n").unwrap();
        let clock = Arc::new(local_clock("2016-07-02", "00:00:00"));
        DailyFiles::new(dir.path(), 0, clock).unwrap();
        assert_eq!(names(dir.path()), ["log.2016-07-02"]);
    }

    #[test]
    fn late_line_goes_to_its_own_day() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(local_clock("2016-07-03", "00:00:01"));
        let mut files = DailyFiles::new(dir.path(), 30, clock).unwrap();
        let day = NaiveDate::from_ymd_opt(2016, 7, 2).unwrap();
        files.write_line(day, b"late\n").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("log.2016-07-02")).unwrap(),
            "late\n"
        );
        assert_eq!(names(dir.path()), ["log.2016-07-02", "log.2016-07-03"]);
    }

    #[test]
    fn unusable_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").unwrap();
        let err =
            DailyFiles::new(blocker.join("logs"), 30, Arc::new(TestClock::new())).unwrap_err();
        assert!(matches!(err, LogError::Directory { .. }), "{err:?}");
        assert!(err.to_string().contains("file/logs"), "{err}");
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    #[cfg(unix)]
    fn files_and_directory_it_creates_are_the_owners_only() {
        // Finding 17 of the security review: 0644 files in a 0755 directory.
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("a/logs");
        let clock = Arc::new(local_clock("2016-07-02", "10:00:00"));
        DailyFiles::new(&logs, 30, clock).unwrap();
        assert_eq!(mode_of(&logs), 0o700);
        assert_eq!(mode_of(&logs.join("log.2016-07-02")), 0o600);
    }

    #[test]
    #[cfg(unix)]
    fn configured_modes_are_set_exactly_and_existing_ones_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let clock = local_clock("2016-07-02", "10:00:00");
        let mut files =
            DailyFiles::new_with_modes(&logs, 30, Arc::new(clock.clone()), 0o664, 0o775).unwrap();
        assert_eq!(mode_of(&logs), 0o775);
        assert_eq!(mode_of(&logs.join("log.2016-07-02")), 0o664);
        // The next day's file too.
        clock.advance(Duration::from_secs(24 * 3600));
        files.write_all(b"x\n").unwrap();
        assert_eq!(mode_of(&logs.join("log.2016-07-03")), 0o664);

        // An existing directory and file keep theirs.
        let existing = dir.path().join("existing");
        fs::create_dir(&existing).unwrap();
        fs::set_permissions(&existing, fs::Permissions::from_mode(0o755)).unwrap();
        let file = existing.join("log.2016-07-03");
        fs::write(&file, "old\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let mut files = DailyFiles::new(&existing, 30, Arc::new(clock)).unwrap();
        files.write_all(b"new\n").unwrap();
        assert_eq!(mode_of(&existing), 0o755);
        assert_eq!(mode_of(&file), 0o644);
        assert_eq!(fs::read_to_string(&file).unwrap(), "old\nnew\n");
    }
}
