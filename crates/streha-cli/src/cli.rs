//! The command line: one definition of each command and flag, which drives both parsing and
//! `--help`. Values are validated here, while parsing (an invalid agency id is a usage error
//! before any command runs).

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use streha_core::{AgencyId, IdError, OfficerId};
use streha_crypto::KeyKind;

use crate::error::EXIT_STATUS_HELP;

/// The `streha` command.
#[derive(Debug, Parser)]
#[command(
    name = "streha",
    version,
    about = "Streha: consent-scoped, audited exchange of records between anti-trafficking authorities",
    long_about = "Streha: consent-scoped, audited exchange of records between the authorities \
                  that identify, assist and protect victims of trafficking.\n\n\
                  This command manages keys; the roster, consent, send, inbox, audit and demo \
                  commands arrive with their issues.",
    after_help = EXIT_STATUS_HELP,
    propagate_version = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Generate keys: an agency's three key pairs, or one roster, application or officer key
    #[command(
        long_about = "Generate keys and write them as key files (spec/keys.md).\n\n\
                      With --agency NAME: the agency's three key pairs (node identity and agency \
                      signing, Ed25519; agency encryption, X25519) as \
                      DIR/NAME.<kind>.key (secret) and DIR/NAME.<kind>.pub (public).\n\
                      With --kind KIND --name NAME: one key pair of that kind, as \
                      DIR/NAME.KIND.key and DIR/NAME.KIND.pub.\n\n\
                      Secret files are created with mode 0600 (never readable by others, not \
                      even while being written) and appear complete or not at all. Existing \
                      files are never overwritten without --force; every target is checked \
                      before anything is written. Prints each key's fingerprint, short and \
                      full, to put in the roster.",
        after_help = keygen_after_help()
    )]
    Keygen(KeygenArgs),

    /// Inspect key files
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Key(KeyCommand),
}

/// Examples and exit statuses under `streha keygen --help`.
fn keygen_after_help() -> String {
    format!(
        "Examples:
  streha keygen --agency police-prishtina --out ./keys
  streha keygen --kind roster --name national-authority --out ./keys
  streha keygen --kind application --name police-prishtina-app --out ./keys
  streha keygen --kind officer --name police-officer-1 --out ./keys

{EXIT_STATUS_HELP}"
    )
}

/// Arguments of `streha keygen`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("owner").required(true).args(["agency", "kind"])))]
pub(crate) struct KeygenArgs {
    /// Generate the three key pairs of this agency: node identity, agency signing, agency
    /// encryption [e.g. police-prishtina; 1-64 of a-z, 0-9, '-', starting with a letter]
    #[arg(long, value_name = "NAME")]
    pub(crate) agency: Option<AgencyId>,

    /// Generate one key pair of this kind instead (with --name)
    #[arg(long, value_enum, value_name = "KIND", requires = "name")]
    pub(crate) kind: Option<SingleKind>,

    /// Who holds the --kind key [e.g. national-authority, police-prishtina-app,
    /// police-officer-1; 1-64 of a-z, 0-9, '-', starting with a letter]
    #[arg(
        long,
        value_name = "NAME",
        value_parser = parse_holder_name,
        requires = "kind",
        conflicts_with = "agency"
    )]
    pub(crate) name: Option<String>,

    /// Directory to write the key files to; created with mode 0700 if it does not exist
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,

    /// Replace key files that already exist (the keys they held are lost)
    #[arg(long)]
    pub(crate) force: bool,
}

/// The kinds `streha keygen --kind` generates one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SingleKind {
    /// The national authority's key that signs the roster (Ed25519)
    Roster,
    /// An application's key for authenticating to its agency's node (Ed25519)
    Application,
    /// An officer's key for approving urgent-danger disclosures (Ed25519)
    Officer,
}

impl SingleKind {
    /// The key kind of `spec/keys.md`.
    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::Roster => KeyKind::Roster,
            Self::Application => KeyKind::Application,
            Self::Officer => KeyKind::Officer,
        }
    }
}

/// Checks a `--name` against the naming rule every Streha identifier follows (the rule of
/// `streha_core`'s validated names). The name becomes part of file names, so the rule also
/// keeps it from holding a path separator.
fn parse_holder_name(name: &str) -> Result<String, String> {
    // Officer ids, agency ids and the other validated names share one rule; an officer id
    // is the strictest reading of "a staff identifier, never a person's name".
    match OfficerId::new(name) {
        Ok(_) => Ok(name.to_owned()),
        Err(IdError::InvalidName { rule, .. }) => Err(format!(
            "{rule}; use 1 to 64 characters of a-z, 0-9 and '-', starting with a letter"
        )),
        Err(other) => Err(other.to_string()),
    }
}

/// `streha key …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Print a key file's kind, part and fingerprint (never its secret bytes)
    #[command(
        long_about = "Print a key file's kind, algorithm, part (secret or public), public key \
                      and fingerprint, short and full. The file is checked completely \
                      (spec/keys.md §3); a malformed file is reported with the line at fault. \
                      Secret bytes are never printed. Warns if a secret key file is readable \
                      by group or others.",
        after_help = EXIT_STATUS_HELP
    )]
    Show(KeyShowArgs),
}

/// Arguments of `streha key show`.
#[derive(Debug, Args)]
pub(crate) struct KeyShowArgs {
    /// The key file to read (a secret .key or a public .pub file)
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn holder_names() {
        assert_eq!(
            parse_holder_name("police-officer-1").as_deref(),
            Ok("police-officer-1")
        );
        for bad in ["", "../x", "a/b", "Officer", "1a", "a b", &"a".repeat(65)] {
            let err = parse_holder_name(bad).unwrap_err();
            assert!(err.contains("use 1 to 64 characters"), "{err}");
            assert!(!err.contains("officer id"), "{err}");
        }
    }
}
