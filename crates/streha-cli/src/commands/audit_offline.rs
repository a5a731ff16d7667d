//! `streha audit verify|subject|check-proof`: the data-protection officer's offline checks
//! (`spec/verification.md`). They read files only — exported log bundles, the signed roster,
//! the roster key, proofs — and talk to no node. The logic is `streha_verify`'s; this module
//! reads the files, prints, and maps the outcome to the exit status.
//!
//! Exit status (`crate::error`, `spec/verification.md` §1): 0 no findings; 4 (verification
//! failed) if there is any finding — a bundle that cannot be opened or decoded is one, and
//! the other bundles are still verified and reported — if the roster does not verify or a
//! proof does not check; 2 for a usage error (a bad flag, a roster or key file that cannot
//! be opened or is not one); 1 if the report cannot be written.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use streha_verify::deps::streha_audit::{LogBundle, MAX_BUNDLE_SIZE, MAX_TLOG_PROOF_SIZE};
use streha_verify::deps::streha_core::{MAX_ENTRY_LEN, SubjectId};
use streha_verify::deps::streha_crypto::RosterPublicKey;
use streha_verify::deps::streha_wire::Roster;
use streha_verify::deps::streha_wire::roster::MAX_ROSTER_LEN;
use streha_verify::{
    InputFile, InputKind, Severity, VerifyOptions, check_proof, render_html, render_subject_json,
    render_subject_text, render_text, subject_view, verify,
};

use crate::commands::roster::{load_roster_key, open_signed, open_signed_text};
use crate::error::{CliError, EXIT_STATUS_HELP};
use crate::util::{self, SECRET_MODE};

/// Examples and exit statuses under `streha audit verify --help`.
pub(crate) fn verify_after_help() -> String {
    format!(
        "Examples:
  streha audit verify police.bundle shelter.bundle prosecution.bundle \\
      --roster roster.note --roster-key national-authority.roster.pub
  streha audit verify *.bundle --roster roster.note --roster-key na.roster.pub \\
      --html report.html --json > report.json

Findings (spec/verification.md §3) make the exit status 4; notes do not. A bundle that
cannot be opened or decoded is a finding (unreadable_bundle): the other bundles are still
verified and reported. The report states when it was generated (this machine's clock: keep
it right, entries dated after it are findings), the verifier's version, every input file
with its SHA-256, the roster versions used and the roster key's fingerprint.

{EXIT_STATUS_HELP}"
    )
}

/// Arguments of `streha audit verify`.
#[derive(Debug, Args)]
pub(crate) struct AuditVerifyArgs {
    /// The exported log bundles (`streha audit export`), one or more per node
    #[arg(value_name = "BUNDLE", required = true)]
    pub(crate) bundles: Vec<PathBuf>,
    /// The signed roster (the national authority's signed note); repeat to add older
    /// versions the nodes ran on (the bundles normally carry them). The newest is the one
    /// the report names
    #[arg(long, value_name = "FILE", required = true)]
    pub(crate) roster: Vec<PathBuf>,
    /// The national authority's roster public key (a .pub key file)
    #[arg(long, value_name = "FILE")]
    pub(crate) roster_key: PathBuf,
    /// Require this many distinct witness cosignatures on each log's latest checkpoint (0
    /// reports them without requiring any)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) min_witnesses: usize,
    /// Of those, require this many of the roster's independent witnesses (oversight bodies)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) min_independent: usize,
    /// Print the report as JSON (format streha-verify-report/v1) instead of text
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the report as one self-contained HTML page (mode 0600: it names subjects)
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Replace an existing --html file
    #[arg(long)]
    pub(crate) force: bool,
}

/// Arguments of `streha audit subject`.
#[derive(Debug, Args)]
pub(crate) struct AuditSubjectArgs {
    /// The pseudonymous subject id (32 hex digits)
    #[arg(value_name = "SUBJECT")]
    pub(crate) subject: SubjectId,
    /// The exported log bundles (`streha audit export`), one or more per node, as for
    /// `streha audit verify`
    #[arg(value_name = "BUNDLE", required = true)]
    pub(crate) bundles: Vec<PathBuf>,
    /// The signed roster
    #[arg(long, value_name = "FILE")]
    pub(crate) roster: PathBuf,
    /// The national authority's roster public key
    #[arg(long, value_name = "FILE")]
    pub(crate) roster_key: PathBuf,
    /// Print JSON (format streha-subject-view/v1) instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha audit check-proof`.
#[derive(Debug, Args)]
pub(crate) struct AuditCheckProofArgs {
    /// The proof (C2SP tlog-proof, as `streha audit prove` writes it)
    #[arg(value_name = "PROOF")]
    pub(crate) proof: PathBuf,
    /// The entry's bytes [default: PROOF.entry, where `streha audit prove` writes them]
    #[arg(long, value_name = "FILE")]
    pub(crate) entry: Option<PathBuf>,
    /// The signed roster
    #[arg(long, value_name = "FILE")]
    pub(crate) roster: PathBuf,
    /// The national authority's roster public key
    #[arg(long, value_name = "FILE")]
    pub(crate) roster_key: PathBuf,
    /// Require this many distinct witness cosignatures on the proof's checkpoint (0 for
    /// none)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) min_witnesses: usize,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `streha audit verify`.
pub(crate) fn verify_bundles(args: &AuditVerifyArgs) -> Result<(), CliError> {
    if let Some(html) = &args.html {
        util::check_target(html, args.force)?;
    }
    let mut options = VerifyOptions::new()
        .min_witnesses(args.min_witnesses)
        .min_independent(args.min_independent)
        .generated_at(util::now());
    let (key, key_input) = read_roster_key(&args.roster_key)?;
    options = options.roster_key(key).input(key_input);
    let mut rosters = Vec::with_capacity(args.roster.len());
    for path in &args.roster {
        let (roster, input) = read_roster(path, &key)?;
        options = options.input(input);
        rosters.push(roster);
    }
    // The newest version is the roster the report names; the others are history.
    rosters.sort_by_key(Roster::version);
    let roster = rosters.pop().expect("clap requires --roster");
    for older in rosters {
        options = options.roster(older);
    }
    let mut bundles = Vec::with_capacity(args.bundles.len());
    for path in &args.bundles {
        let (bundle, input) = read_bundle(path);
        options = options.input(input);
        bundles.extend(bundle);
    }
    let report = verify(&bundles, &roster, &options);

    if let Some(html) = &args.html {
        util::write_file(
            html,
            render_html(&report).as_bytes(),
            SECRET_MODE,
            args.force,
        )?;
    }
    if args.json {
        let value = serde_json::to_value(&report).context("cannot serialize the report")?;
        util::print_json(&value)?;
    } else {
        util::print_text(&render_text(&report))?;
        if let Some(html) = &args.html {
            util::print_lines(&[format!("HTML report written to {}.", html.display())])?;
        }
    }
    if report.is_clean() {
        return Ok(());
    }
    Err(CliError::verification(format!(
        "the logs do not verify: {} findings ({} critical, {} error, {} warning); see the report",
        report.findings.len(),
        report.count(Severity::Critical),
        report.count(Severity::Error),
        report.count(Severity::Warning),
    )))
}

/// Runs `streha audit subject`.
pub(crate) fn subject(args: &AuditSubjectArgs) -> Result<(), CliError> {
    let roster = open_roster(&args.roster, &args.roster_key)?;
    let mut bundles = Vec::with_capacity(args.bundles.len());
    let mut unreadable = Vec::new();
    for path in &args.bundles {
        match read_bundle(path) {
            (Some(bundle), _) => bundles.push(bundle),
            (None, input) => unreadable.push(format!(
                "{}: {}",
                input.file,
                input.error.unwrap_or_default()
            )),
        }
    }
    let view = subject_view(&bundles, &roster, args.subject);
    if args.json {
        util::print_text(&render_subject_json(&view))?;
    } else {
        util::print_text(&render_subject_text(&view))?;
    }
    if !unreadable.is_empty() {
        return Err(CliError::verification(format!(
            "some bundles could not be read, so the view may miss what they hold: {}",
            unreadable.join("; ")
        )));
    }
    if view.logs_verified {
        Ok(())
    } else {
        Err(CliError::verification(
            "not every log verified; the view shows only what the nodes signed. Run `streha audit verify` on the bundles",
        ))
    }
}

/// Runs `streha audit check-proof`.
pub(crate) fn check(args: &AuditCheckProofArgs) -> Result<(), CliError> {
    let roster = open_roster(&args.roster, &args.roster_key)?;
    let proof = util::read_text(&args.proof, MAX_TLOG_PROOF_SIZE, "proof")?;
    let entry_path = args
        .entry
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.entry", args.proof.display())));
    let entry = read_capped(&entry_path, MAX_ENTRY_LEN as u64, "entry")?;
    let checked = check_proof(&proof, &entry, &roster, args.min_witnesses)
        .map_err(|e| CliError::verification(format!("{}: {e}", args.proof.display())))?;
    if args.json {
        let value = serde_json::to_value(&checked).context("cannot serialize the result")?;
        return util::print_json(&value);
    }
    let witnesses: Vec<String> = checked
        .witnesses
        .iter()
        .map(|(agency, _)| agency.clone())
        .collect();
    // A later epoch of the agency's log (after a restore with a declared loss) is named.
    let epoch = match streha_verify::deps::streha_core::epoch::split_epoch(&checked.origin) {
        Some((_, epoch)) if epoch > streha_verify::deps::streha_core::epoch::FIRST_EPOCH => {
            format!(" (epoch {epoch}, `{}`)", checked.origin)
        }
        _ => String::new(),
    };
    util::print_lines(&[
        format!(
            "{}: entry {} ({}) is in the log of `{}`{epoch} at size {} (root {}), signed by its node key.",
            args.proof.display(),
            checked.index,
            checked.entry_kind.unwrap_or("not a Streha audit entry"),
            checked.agency,
            checked.size,
            checked.root
        ),
        if witnesses.is_empty() {
            "No witness cosignatures.".to_owned()
        } else {
            format!(
                "Cosigned by {} witness(es): {}.",
                witnesses.len(),
                witnesses.join(", ")
            )
        },
    ])
}

fn open_roster(roster: &Path, key: &Path) -> Result<Roster, CliError> {
    let key = load_roster_key(key)?;
    open_signed(roster, &key)
}

/// Reads and decodes a bundle. One that cannot be opened, read or decoded is not an error
/// here: it is listed in the report (and is a finding), and the others are verified.
fn read_bundle(path: &Path) -> (Option<LogBundle>, InputFile) {
    let name = path.display().to_string();
    let bytes = match read_capped(path, MAX_BUNDLE_SIZE, "log bundle") {
        Ok(bytes) => bytes,
        Err(e) => {
            return (
                None,
                InputFile::unreadable(InputKind::Bundle, name, None, e.to_string()),
            );
        }
    };
    match LogBundle::decode(&bytes) {
        Ok(bundle) => (
            Some(bundle),
            InputFile::read(InputKind::Bundle, name, &bytes),
        ),
        Err(e) => (
            None,
            InputFile::unreadable(
                InputKind::Bundle,
                name,
                Some(&bytes),
                format!("not a valid log bundle: {e}; export it again with `streha audit export`"),
            ),
        ),
    }
}

/// Reads the roster key, and its file's digest for the report.
fn read_roster_key(path: &Path) -> Result<(RosterPublicKey, InputFile), CliError> {
    let key = load_roster_key(path)?;
    // The key file is small; the report names the key by its fingerprint too.
    let bytes = read_capped(path, 64 * 1024, "roster key")?;
    Ok((
        key,
        InputFile::read(InputKind::RosterKey, path.display().to_string(), &bytes),
    ))
}

/// Reads and opens a signed roster, and its digest for the report (of the very bytes
/// opened).
fn read_roster(path: &Path, key: &RosterPublicKey) -> Result<(Roster, InputFile), CliError> {
    let text = util::read_text(path, MAX_ROSTER_LEN, "roster")?;
    let roster = open_signed_text(path, &text, key)?;
    Ok((
        roster,
        InputFile::read(
            InputKind::Roster,
            path.display().to_string(),
            text.as_bytes(),
        ),
    ))
}

fn read_capped(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let file = File::open(path)
        .map_err(|e| CliError::usage(format!("cannot open the {what} {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(CliError::usage(format!(
            "the {what} {} is larger than {max} bytes; is it the right file?",
            path.display()
        )));
    }
    Ok(bytes)
}
