//! `streha keygen`: generate key pairs and write them as key files (`spec/keys.md` §3).
//!
//! These files are an agency's secrets, so writing them is careful:
//!
//! - **Check everything first.** Every target path (secret and public, for every kind) is
//!   checked before anything is written or created; if any exists and `--force` is absent,
//!   the command refuses and writes nothing, not even the directory.
//! - **Never readable by others, never half written.** Each file is written to a temporary
//!   file in the target directory, created with `O_CREAT | O_EXCL` and its final mode (0600
//!   for secret keys; the process umask can only narrow it), then `fsync`ed and renamed to its
//!   name. Without `--force` the rename does not replace a file (Linux `renameat2` with
//!   `RENAME_NOREPLACE`, elsewhere link + unlink), so a file that appeared since the check is
//!   left alone too. The directory is `fsync`ed at the end.
//! - **All or nothing.** Every file is staged before the first rename. On an error the
//!   temporary files are removed, and, without `--force`, so are the files this run already
//!   renamed into place. (With `--force` the files already replaced cannot be restored; the
//!   message names them.)
//! - **No secret in the output.** Only kinds, file names and public fingerprints are printed.

use std::fs::{self, File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, AnySecretKey, ApplicationSecretKey, KeyKind,
    NodeIdentitySecretKey, OfficerSecretKey, RosterSecretKey,
};
use tempfile::NamedTempFile;

use crate::cli::{KeygenArgs, SingleKind};
use crate::error::CliError;

/// Mode of secret key files: read and write by the owner only.
const SECRET_MODE: u32 = 0o600;
/// Mode of public key files.
const PUBLIC_MODE: u32 = 0o644;
/// Mode of an output directory that keygen creates.
const DIR_MODE: u32 = 0o700;

/// The three key pairs of an agency, in the order of `spec/keys.md` §1.
const AGENCY_KINDS: [KeyKind; 3] = [
    KeyKind::NodeIdentity,
    KeyKind::AgencySigning,
    KeyKind::AgencyEncryption,
];

/// Whose keys are generated, and which.
struct Holder<'a> {
    /// The validated name, the first part of every file name.
    name: &'a str,
    /// The kinds to generate.
    kinds: &'a [KeyKind],
    /// For messages: "the keys of agency police-prishtina", "the officer key of …".
    described: String,
    /// What to do with the public keys next.
    next_step: String,
}

impl<'a> Holder<'a> {
    fn from_args(args: &'a KeygenArgs) -> Result<Self, CliError> {
        match (&args.agency, args.kind, &args.name) {
            (Some(agency), None, None) => Ok(Self {
                name: agency.as_str(),
                kinds: &AGENCY_KINDS,
                described: format!("the keys of agency {agency}"),
                next_step: format!(
                    "send the public key files (.pub) to the national authority for the roster \
                     entry of {agency}, and tell it the fingerprints above by another channel \
                     (it checks them with `streha roster add --expect-fingerprint`); the node \
                     needs only its node-identity key, the applications the agency-signing and \
                     agency-encryption keys"
                ),
            }),
            (None, Some(kind), Some(name)) => {
                let (kinds, next_step): (&'static [KeyKind], &str) = match kind {
                    SingleKind::Roster => (
                        &[KeyKind::Roster],
                        "give the public key (.pub) to every node operator: nodes accept \
                         only rosters it signed",
                    ),
                    SingleKind::Application => (
                        &[KeyKind::Application],
                        "enrol the public key (.pub) with the application's node",
                    ),
                    SingleKind::Officer => (
                        &[KeyKind::Officer],
                        "register the public key (.pub) with the officer's agency, for \
                         urgent-danger approvals",
                    ),
                };
                Ok(Self {
                    name,
                    kinds,
                    described: format!("the {} key of {name}", kind.key_kind()),
                    next_step: next_step.to_owned(),
                })
            }
            // clap's argument group makes these unreachable; say what is needed anyway.
            _ => Err(CliError::usage(
                "pass either --agency NAME, or --kind KIND with --name NAME",
            )),
        }
    }
}

/// The two files of one key pair.
struct Target {
    kind: KeyKind,
    secret: PathBuf,
    public: PathBuf,
}

impl Target {
    fn new(dir: &Path, name: &str, kind: KeyKind) -> Self {
        Self {
            kind,
            secret: dir.join(format!("{name}.{kind}.key")),
            public: dir.join(format!("{name}.{kind}.pub")),
        }
    }
}

/// Runs `streha keygen`.
pub(crate) fn run(args: &KeygenArgs) -> Result<(), CliError> {
    let holder = Holder::from_args(args)?;
    let dir = args.out.as_path();
    let targets: Vec<Target> = holder
        .kinds
        .iter()
        .map(|&kind| Target::new(dir, holder.name, kind))
        .collect();

    // 1. Check every path before writing anything.
    let dir_exists = check_out_dir(dir)?;
    let existing = existing_targets(&targets)?;
    if !existing.is_empty() {
        if !args.force {
            return Err(refuse_overwrite(&existing));
        }
        crate::util::print_stderr(&format!(
            "warning: --force: replacing {} existing key file(s): {}",
            existing.len(),
            list(&existing)
        ));
    }

    // 2. Generate and write.
    if !dir_exists {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let keys: Vec<AnySecretKey> = holder.kinds.iter().map(|&kind| generate(kind)).collect();
    write_key_files(dir, &targets, &keys, args.force)?;

    // 3. Report.
    if args.json {
        return crate::util::print_json(&report_json(args, &holder, dir, &targets, &keys));
    }
    match print_report(&holder, dir, &targets, &keys) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(anyhow::anyhow!(e)
            .context("the keys were written, but printing the report failed")
            .into()),
        _ => Ok(()),
    }
}

/// The report for scripts: who, where, and for each key pair its kind, fingerprint and the
/// two files written. Only public fingerprints: never a secret.
fn report_json(
    args: &KeygenArgs,
    holder: &Holder<'_>,
    dir: &Path,
    targets: &[Target],
    keys: &[AnySecretKey],
) -> serde_json::Value {
    let kind = match args.kind {
        None => "agency".to_owned(),
        Some(kind) => kind.key_kind().as_str().to_owned(),
    };
    serde_json::json!({
        "holder": holder.name,
        "kind": kind,
        "dir": dir.display().to_string(),
        "keys": targets.iter().zip(keys).map(|(target, key)| {
            let fingerprint = key.fingerprint();
            serde_json::json!({
                "kind": key.kind().as_str(),
                "fingerprint": fingerprint.to_hex(),
                "fingerprint_short": fingerprint.short(),
                "secret_file": target.secret.display().to_string(),
                "public_file": target.public.display().to_string(),
            })
        }).collect::<Vec<_>>(),
    })
}

/// A fresh key pair of `kind`, from the operating system's random number generator.
fn generate(kind: KeyKind) -> AnySecretKey {
    match kind {
        KeyKind::NodeIdentity => AnySecretKey::NodeIdentity(NodeIdentitySecretKey::generate()),
        KeyKind::AgencySigning => AnySecretKey::AgencySigning(AgencySigningSecretKey::generate()),
        KeyKind::AgencyEncryption => {
            AnySecretKey::AgencyEncryption(AgencyEncryptionSecretKey::generate())
        }
        KeyKind::Roster => AnySecretKey::Roster(RosterSecretKey::generate()),
        KeyKind::Application => AnySecretKey::Application(ApplicationSecretKey::generate()),
        KeyKind::Officer => AnySecretKey::Officer(OfficerSecretKey::generate()),
    }
}

/// Whether `--out` exists (as a directory). A non-directory is a usage error.
fn check_out_dir(dir: &Path) -> Result<bool, CliError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(true),
        Ok(_) => Err(CliError::usage(format!(
            "{} exists and is not a directory; choose another --out",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow!(e)
            .context(format!(
                "cannot inspect the --out directory {}",
                dir.display()
            ))
            .into()),
    }
}

/// The target paths that exist already. A directory in the way is a usage error even with
/// `--force`: keygen replaces files, never directories.
fn existing_targets(targets: &[Target]) -> Result<Vec<PathBuf>, CliError> {
    let mut existing = Vec::new();
    for path in targets.iter().flat_map(|t| [&t.secret, &t.public]) {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(CliError::usage(format!(
                    "{} is a directory, where a key file would go; move it away or choose \
                     another --out",
                    path.display()
                )));
            }
            Ok(_) => existing.push(path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow!(e)
                    .context(format!("cannot check whether {} exists", path.display()))
                    .into());
            }
        }
    }
    Ok(existing)
}

fn refuse_overwrite(existing: &[PathBuf]) -> CliError {
    match existing {
        [one] => CliError::usage(format!(
            "{} exists; pass --force to overwrite it, or choose another --out \
             (nothing was written)",
            one.display()
        )),
        many => CliError::usage(format!(
            "{} key files exist: {}; pass --force to overwrite them, or choose another --out \
             (nothing was written)",
            many.len(),
            list(many)
        )),
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A complete file under a temporary name, waiting to be renamed to `target`.
struct Staged {
    temp: NamedTempFile,
    target: PathBuf,
}

/// Writes every key file of `targets`: all staged first, then all renamed into place.
fn write_key_files(
    dir: &Path,
    targets: &[Target],
    keys: &[AnySecretKey],
    force: bool,
) -> Result<(), CliError> {
    let mut staged = Vec::with_capacity(2 * targets.len());
    for (target, key) in targets.iter().zip(keys) {
        debug_assert_eq!(target.kind, key.kind());
        // The key file text is zeroized when dropped; the page cache is the kernel's.
        let secret_text = key.to_key_file();
        staged.push(stage(
            dir,
            &target.secret,
            secret_text.as_bytes(),
            SECRET_MODE,
        )?);
        let public_text = key.public_key().to_key_file();
        staged.push(stage(
            dir,
            &target.public,
            public_text.as_bytes(),
            PUBLIC_MODE,
        )?);
    }

    let mut placed: Vec<PathBuf> = Vec::with_capacity(staged.len());
    for Staged { temp, target } in staged {
        let result = if force {
            temp.persist(&target).map(drop)
        } else {
            temp.persist_noclobber(&target).map(drop)
        };
        if let Err(failed) = result {
            // Dropping `failed` (and the rest of `staged`) removes the temporary files.
            let error = failed.error;
            if !force {
                // These did not exist before this run: take them back, leave nothing behind.
                for path in &placed {
                    let _ = fs::remove_file(path);
                }
                if error.kind() == io::ErrorKind::AlreadyExists {
                    return Err(CliError::usage(format!(
                        "{} appeared while the keys were being written; pass --force to \
                         overwrite it, or choose another --out (nothing was written)",
                        target.display()
                    )));
                }
                return Err(anyhow!(error)
                    .context(format!(
                        "cannot move the new key file into place at {} (nothing was written)",
                        target.display()
                    ))
                    .into());
            }
            let replaced = if placed.is_empty() {
                "no file was replaced yet".to_owned()
            } else {
                format!(
                    "already replaced: {}; run the command again to write a complete set",
                    list(&placed)
                )
            };
            return Err(anyhow!(error)
                .context(format!(
                    "cannot move the new key file into place at {} ({replaced})",
                    target.display()
                ))
                .into());
        }
        placed.push(target);
    }

    // Make the renames themselves durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the directory {}", dir.display()))?;
    Ok(())
}

/// Writes `contents` to a new temporary file beside `target`, created with `mode`, and
/// syncs it. The temporary file is removed if anything fails (or when it is dropped).
fn stage(dir: &Path, target: &Path, contents: &[u8], mode: u32) -> Result<Staged, CliError> {
    let file_name = target.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    // tempfile opens with O_CREAT | O_EXCL and this mode: the file never exists with a
    // wider mode (the umask can only narrow it), and a random name never collides.
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;

    if mode & 0o077 == 0 {
        // Some file systems (FAT, some network mounts) ignore permission bits.
        let actual = temp
            .as_file()
            .metadata()
            .with_context(|| format!("cannot inspect a new file in {}", dir.display()))?
            .permissions()
            .mode();
        if actual & 0o077 != 0 {
            return Err(CliError::usage(format!(
                "the file system of {} does not keep file permissions (a new file got mode \
                 {:04o}, not {mode:04o}), so a secret key there would be readable by others; \
                 choose an --out on a Unix file system",
                dir.display(),
                actual & 0o777
            )));
        }
    }

    temp.write_all(contents)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok(Staged {
        temp,
        target: target.to_path_buf(),
    })
}

fn print_report(
    holder: &Holder<'_>,
    dir: &Path,
    targets: &[Target],
    keys: &[AnySecretKey],
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "Generated {} in {}:", holder.described, dir.display())?;
    writeln!(out)?;
    writeln!(out, "  {:<18} {:<19}  fingerprint", "kind", "short")?;
    for key in keys {
        let fingerprint = key.fingerprint();
        writeln!(
            out,
            "  {:<18} {}  {}",
            key.kind().as_str(),
            fingerprint.short(),
            fingerprint.to_hex()
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "  secret (mode 0600; keep private and back up: a lost key cannot be recovered):"
    )?;
    for target in targets {
        writeln!(out, "    {}", target.secret.display())?;
    }
    writeln!(out, "  public:")?;
    for target in targets {
        writeln!(out, "    {}", target.public.display())?;
    }
    writeln!(out)?;
    writeln!(out, "Next: {}.", holder.next_step)?;
    out.flush()
}
