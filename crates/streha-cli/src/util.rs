//! Helpers shared by the commands: reading key files with precise errors, writing files
//! (atomically, with a mode, never clobbering without `--force`), times, and JSON output.

use std::fs::{self, File, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use streha_core::Timestamp;
use streha_crypto::{AnyPublicKey, AnySecretKey, KeyFile, KeyKind, KeyPart, MAX_KEY_FILE_LEN};
use zeroize::Zeroizing;

use crate::error::CliError;

/// Mode of files holding a secret (key files, re-key salts): owner only.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// Mode of other files the command writes.
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// Reads at most [`MAX_KEY_FILE_LEN`] bytes of `path` into a zeroizing buffer, with the
/// file's permission bits.
pub(crate) fn read_key_bytes(path: &Path) -> anyhow::Result<(Zeroizing<Vec<u8>>, u32)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot inspect {}", path.display()))?;
    if meta.is_dir() {
        anyhow::bail!(
            "{} is a directory; give the path of a key file",
            path.display()
        );
    }
    // One allocation that is never outgrown, so no copy of the secret is left behind in a
    // freed buffer.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN + 1));
    file.take(MAX_KEY_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > MAX_KEY_FILE_LEN {
        anyhow::bail!(
            "{} is larger than {MAX_KEY_FILE_LEN} bytes: it is not a Streha key file",
            path.display()
        );
    }
    Ok((bytes, meta.permissions().mode()))
}

/// Reads a key file that must hold a key of `kind` and `part`. A file of another kind or
/// part, a malformed file, or (for a secret) a file readable by others is a usage error that
/// names the file and what was expected; an unreadable file is a usage error too (the path
/// is wrong).
pub(crate) fn load_key(path: &Path, kind: KeyKind, part: KeyPart) -> Result<KeyFile, CliError> {
    let (bytes, mode) = read_key_bytes(path).map_err(|e| CliError::usage(format!("{e:#}")))?;
    let key = KeyFile::parse_bytes(&bytes).map_err(|e| {
        CliError::usage(format!(
            "{}: {e}; expected the {kind} {part} key file",
            path.display()
        ))
    })?;
    if key.kind() != kind {
        return Err(CliError::usage(format!(
            "{} holds a `{}` key where a `{kind}` key is needed; give the {kind} {part} key \
             file",
            path.display(),
            key.kind()
        )));
    }
    if key.part() != part {
        let hint = match part {
            KeyPart::Public => "secrets never leave their holder: give the public key file (.pub)",
            KeyPart::Secret => "give the secret key file (.key) written by `streha keygen`",
        };
        return Err(CliError::usage(format!(
            "{} is a {} key file, but a {part} key is needed here; {hint}",
            path.display(),
            key.part()
        )));
    }
    if part == KeyPart::Secret && mode & 0o077 != 0 {
        return Err(CliError::usage(format!(
            "{} holds a secret key but is accessible to group or others (mode {:04o}); \
             restrict it with: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(key)
}

/// Reads the public key of `kind` from `path` (a `.pub` file).
pub(crate) fn load_public(path: &Path, kind: KeyKind) -> Result<AnyPublicKey, CliError> {
    match load_key(path, kind, KeyPart::Public)? {
        KeyFile::Public(key) => Ok(key),
        KeyFile::Secret(_) => unreachable!("load_key checked the part"),
    }
}

/// Reads the secret key of `kind` from `path` (a `.key` file, mode 0600).
pub(crate) fn load_secret(path: &Path, kind: KeyKind) -> Result<AnySecretKey, CliError> {
    match load_key(path, kind, KeyPart::Secret)? {
        KeyFile::Secret(key) => Ok(key),
        KeyFile::Public(_) => unreachable!("load_key checked the part"),
    }
}

/// Reads a text file of at most `max` bytes.
pub(crate) fn read_text(path: &Path, max: usize, what: &str) -> Result<String, CliError> {
    let file = File::open(path)
        .map_err(|e| CliError::usage(format!("cannot open the {what} {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    if bytes.len() > max {
        return Err(CliError::usage(format!(
            "the {what} {} is larger than {max} bytes; is it the right file?",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        CliError::usage(format!(
            "the {what} {} is not UTF-8 text; is it the right file?",
            path.display()
        ))
    })
}

/// Whether an existing `path` may be replaced: refuses (usage error) without `force`.
pub(crate) fn check_overwrite(path: &Path, force: bool) -> Result<(), CliError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(CliError::usage(format!(
            "{} is a directory; give a file name",
            path.display()
        ))),
        Ok(_) if !force => Err(CliError::usage(format!(
            "{} exists; pass --force to overwrite it, or choose another file (nothing was \
             written)",
            path.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow!(e)
            .context(format!("cannot check whether {} exists", path.display()))
            .into()),
    }
}

/// The directory a file `path` is written in.
fn target_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks that `dir`, where an output file goes, is an existing directory (a usage error
/// otherwise: the path is wrong).
fn check_target_dir(path: &Path, dir: &Path) -> Result<(), CliError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(CliError::usage(format!(
            "cannot write {}: {} is not a directory; choose another file name (nothing was \
             written)",
            path.display(),
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CliError::usage(format!(
            "cannot write {}: the directory {} does not exist; create it first (nothing was \
             written)",
            path.display(),
            dir.display()
        ))),
        Err(e) => Err(anyhow!(e)
            .context(format!(
                "cannot write {}: cannot inspect the directory {}",
                path.display(),
                dir.display()
            ))
            .into()),
    }
}

/// Checks, before any work is done, that `path` can be written: it does not exist (or
/// `force`), its directory exists, and a file can be created there (a probe file, removed at
/// once). Commands that fetch from the node call it first, so a wrong `--out` fails before
/// the network is used.
pub(crate) fn check_target(path: &Path, force: bool) -> Result<(), CliError> {
    let dir = target_dir(path);
    check_target_dir(path, &dir)?;
    check_overwrite(path, force)?;
    tempfile::Builder::new()
        .prefix(".streha-probe.")
        .tempfile_in(&dir)
        .map(drop)
        .with_context(|| {
            format!(
                "cannot write {}: no file can be created in {}",
                path.display(),
                dir.display()
            )
        })?;
    Ok(())
}

/// Writes `contents` to `path` atomically (a temporary file in the same directory, created
/// with `mode`, synced, renamed into place). Without `force` an existing file is never
/// replaced, even one that appears while writing.
pub(crate) fn write_file(
    path: &Path,
    contents: &[u8],
    mode: u32,
    force: bool,
) -> Result<(), CliError> {
    let dir = target_dir(path);
    check_target_dir(path, &dir)?;
    check_overwrite(path, force)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    temp.write_all(contents)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let persisted = if force {
        temp.persist(path).map(drop)
    } else {
        temp.persist_noclobber(path).map(drop)
    };
    persisted.map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            CliError::usage(format!(
                "{} appeared while it was being written; pass --force to overwrite it",
                path.display()
            ))
        } else {
            anyhow!(e.error)
                .context(format!(
                    "cannot move the new file into place at {}",
                    path.display()
                ))
                .into()
        }
    })
}

/// An absolute form of `path` (relative to the current directory), without resolving
/// symbolic links; a path that exists is canonicalized.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    if let Ok(canonical) = path.canonicalize() {
        return Ok(canonical);
    }
    std::path::absolute(path)
        .with_context(|| format!("cannot resolve the path {}", path.display()))
        .map_err(Into::into)
}

/// The time now.
pub(crate) fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(millis)
}

/// Milliseconds in a day.
pub(crate) const DAY_MS: u64 = 86_400_000;

/// Parses a time: `now`, an RFC 3339 UTC time (`2026-03-01T12:00:00Z`, optionally with
/// milliseconds), or a date (`2026-03-01`, midnight UTC).
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    const HELP: &str = "write `now`, a date such as 2026-03-01, or a UTC time such as \
                        2026-03-01T12:00:00Z";
    if text == "now" {
        return Ok(now());
    }
    let bad = || format!("`{text}` is not a time; {HELP}");
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let mut num = |len: usize| -> Result<u64, String> {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != len || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (year, month, day) = (num(4)?, num(2)?, num(2)?);
    if parts.next().is_some() || !(1970..=9999).contains(&year) {
        return Err(bad());
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let mut millis = days_from_civil(year, month, day) * DAY_MS;
    if let Some(time) = time {
        let time = time.strip_suffix('Z').ok_or_else(|| {
            format!(
                "`{text}` has no time zone; times are UTC and end in Z, e.g. 2026-03-01T12:00:00Z"
            )
        })?;
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let fields: Vec<&str> = hms.split(':').collect();
        if fields.len() != 3
            || fields
                .iter()
                .any(|f| f.len() != 2 || !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let value = |i: usize| fields[i].parse::<u64>().map_err(|_| bad());
        let (h, m, s) = (value(0)?, value(1)?, value(2)?);
        if h > 23 || m > 59 || s > 59 {
            return Err(bad());
        }
        millis += ((h * 60 + m) * 60 + s) * 1000;
        if let Some(fraction) = fraction {
            if fraction.is_empty()
                || fraction.len() > 3
                || !fraction.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            let padded = format!("{fraction:0<3}");
            millis += padded.parse::<u64>().map_err(|_| bad())?;
        }
    }
    Ok(Timestamp::from_unix_millis(millis))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, for years from 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The outcome of writing the command's output: a reader that went away (`| head`, a
/// closed terminal) is not the command's failure — the output stops, and the command's own
/// status stands (documented under "Exit status"). Any other write error is a failure.
pub(crate) fn output_written(result: io::Result<()>) -> Result<(), CliError> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow!(e).context("cannot write to standard output").into())
        }
        _ => Ok(()),
    }
}

/// Prints `value` as one line of JSON on standard output.
pub(crate) fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    output_written(
        serde_json::to_writer(&mut out, value)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush()),
    )
}

/// Prints lines of text on standard output.
pub(crate) fn print_lines(lines: &[String]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    output_written(
        lines
            .iter()
            .try_for_each(|line| writeln!(out, "{line}"))
            .and_then(|()| out.flush()),
    )
}

/// Prints `text` as it is on standard output.
pub(crate) fn print_text(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    output_written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// Prints one line on standard error. Never fails and never panics: if standard error is
/// gone, there is nobody left to tell.
pub(crate) fn print_stderr(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}").and_then(|()| err.flush());
}

/// Runs `future` to completion on a single-threaded runtime (the client's requests are
/// sequential; the QUIC endpoint's driver runs on the same thread).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_round_trip() {
        for (text, millis) in [
            ("1970-01-01", 0),
            ("2026-03-01", 1_772_323_200_000),
            ("2026-03-01T12:00:00Z", 1_772_366_400_000),
            ("2026-03-01T12:00:00.5Z", 1_772_366_400_500),
            ("2024-02-29T23:59:59.999Z", 1_709_251_199_999),
        ] {
            let t = parse_time(text).unwrap();
            assert_eq!(t.unix_millis(), millis, "{text}");
        }
        let t = parse_time("2026-03-01T12:34:56.789Z").unwrap();
        assert_eq!(t.to_string(), "2026-03-01T12:34:56.789Z");
        for bad in [
            "",
            "yesterday",
            "2026-3-1",
            "2026-02-30",
            "2025-02-29",
            "2026-03-01T12:00:00",
            "2026-03-01T25:00:00Z",
            "2026-03-01T12:00:00.1234Z",
            "1969-12-31",
            "2026-03-01-01",
        ] {
            let err = parse_time(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        assert!(parse_time("now").unwrap() > Timestamp(1_735_689_600_000));
    }
}
