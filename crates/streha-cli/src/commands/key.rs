//! `streha key show`: what a key file holds, without its secret.

use std::io::{self, Write as _};

use anyhow::anyhow;
use streha_crypto::{Algorithm, KeyFile, KeyPart};

use crate::cli::KeyShowArgs;
use crate::error::CliError;

/// Runs `streha key show FILE`.
///
/// Prints `name: value` lines (file, kind, algorithm, part, public-key, fingerprint,
/// fingerprint-short), stable for scripts, or with `--json` one JSON object with the same
/// fields (`public_key`, `fingerprint_short`). Never prints secret bytes; the file's bytes are
/// held in a zeroizing buffer.
pub(crate) fn show(args: &KeyShowArgs) -> Result<(), CliError> {
    let path = args.file.as_path();
    let (bytes, mode) = crate::util::read_key_bytes(path)?;
    // The messages name the problem ("not a Streha key file: …", "line 3: …"); prefix the
    // file they are about.
    let key =
        KeyFile::parse_bytes(&bytes).map_err(|e| anyhow!(e).context(path.display().to_string()))?;

    let (public_key, algorithm) = match &key {
        KeyFile::Secret(secret) => (secret.public_key().to_bytes(), key.kind().algorithm()),
        KeyFile::Public(public) => (public.to_bytes(), key.kind().algorithm()),
    };
    let fingerprint = key.fingerprint();
    let algorithm = match algorithm {
        Algorithm::Ed25519 => "Ed25519",
        Algorithm::X25519 => "X25519",
    };

    if args.json {
        crate::util::print_json(&serde_json::json!({
            "file": path.display().to_string(),
            "kind": key.kind().as_str(),
            "algorithm": algorithm,
            "part": key.part().as_str(),
            "public_key": hex_lower(&public_key),
            "fingerprint": fingerprint.to_hex(),
            "fingerprint_short": fingerprint.short(),
        }))?;
        warn_if_exposed(&key, path, mode);
        return Ok(());
    }
    let mut out = io::stdout().lock();
    let written: io::Result<()> = (|| {
        writeln!(out, "file: {}", path.display())?;
        writeln!(out, "kind: {}", key.kind())?;
        writeln!(out, "algorithm: {algorithm}")?;
        writeln!(out, "part: {}", key.part())?;
        writeln!(out, "public-key: {}", hex_lower(&public_key))?;
        writeln!(out, "fingerprint: {}", fingerprint.to_hex())?;
        writeln!(out, "fingerprint-short: {}", fingerprint.short())?;
        out.flush()
    })();
    crate::util::output_written(written)?;
    warn_if_exposed(&key, path, mode);
    Ok(())
}

/// Warns (on standard error) if a secret key file is accessible to group or others.
fn warn_if_exposed(key: &KeyFile, path: &std::path::Path, mode: u32) {
    if key.part() == KeyPart::Secret && mode & 0o077 != 0 {
        crate::util::print_stderr(&format!(
            "warning: {path} holds a secret key but is accessible to group or others (mode \
             {mode:04o}); restrict it with: chmod 600 {path}",
            path = path.display(),
            mode = mode & 0o777,
        ));
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
