//! `streha audit verify|subject|check-proof`: the data-protection officer's offline checks
//! (`spec/verification.md`). They read files only — exported log bundles, the signed roster,
//! the roster key, proofs — and talk to no node. The logic is `streha_verify`'s; this module
//! reads the files, prints, and maps the outcome to the exit status.
//!
//! Exit status (`crate::error`): 0 no findings; 4 (verification failed) if there is any
//! finding, if a bundle does not decode, if the roster does not verify or a proof does not
//! check; 2 for a usage error (a file that cannot be opened, a bad flag); 1 for an IO failure.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use streha_verify::deps::streha_audit::{LogBundle, MAX_BUNDLE_SIZE, MAX_TLOG_PROOF_SIZE};
use streha_verify::deps::streha_core::{MAX_ENTRY_LEN, SubjectId};
use streha_verify::deps::streha_wire::Roster;
use streha_verify::{
    Severity, VerifyOptions, check_proof, render_html, render_subject_json, render_subject_text,
    render_text, subject_view, verify,
};

use crate::commands::roster::{load_roster_key, open_signed};
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

Findings (spec/verification.md §3) make the exit status 4; notes do not.

{EXIT_STATUS_HELP}"
    )
}

/// Arguments of `streha audit verify`.
#[derive(Debug, Args)]
pub(crate) struct AuditVerifyArgs {
    /// The exported log bundles (`streha audit export`), one or more per node
    #[arg(value_name = "BUNDLE", required = true)]
    pub(crate) bundles: Vec<PathBuf>,
    /// The signed roster (the national authority's signed note)
    #[arg(long, value_name = "FILE")]
    pub(crate) roster: PathBuf,
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
    /// An exported log bundle; repeat for each node
    #[arg(long = "bundle", value_name = "FILE", required = true)]
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
    /// The entry's bytes (`streha audit prove` writes them to PROOF.entry)
    #[arg(long, value_name = "FILE")]
    pub(crate) entry: PathBuf,
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
    let roster = open_roster(&args.roster, &args.roster_key)?;
    let bundles = args
        .bundles
        .iter()
        .map(|path| read_bundle(path))
        .collect::<Result<Vec<_>, _>>()?;
    let options = VerifyOptions::new()
        .min_witnesses(args.min_witnesses)
        .min_independent(args.min_independent);
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
        print!("{}", render_text(&report));
        if let Some(html) = &args.html {
            println!("HTML report written to {}.", html.display());
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
    let bundles = args
        .bundles
        .iter()
        .map(|path| read_bundle(path))
        .collect::<Result<Vec<_>, _>>()?;
    let view = subject_view(&bundles, &roster, args.subject);
    if args.json {
        print!("{}", render_subject_json(&view));
    } else {
        print!("{}", render_subject_text(&view));
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
    let entry = read_capped(&args.entry, MAX_ENTRY_LEN as u64, "entry")?;
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
    util::print_lines(&[
        format!(
            "{}: entry {} ({}) is in the log of `{}` at size {} (root {}), signed by its node key.",
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

fn read_bundle(path: &Path) -> Result<LogBundle, CliError> {
    let bytes = read_capped(path, MAX_BUNDLE_SIZE, "log bundle")?;
    LogBundle::decode(&bytes).map_err(|e| {
        CliError::verification(format!(
            "{} is not a valid log bundle: {e}; export it again with `streha audit export`",
            path.display()
        ))
    })
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
