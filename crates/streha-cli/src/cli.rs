//! The command line: one definition of each command and flag, which drives both parsing and
//! `--help`. Values are validated here, while parsing (an invalid agency id, an unknown
//! category, a protection category in a field) is a usage error before any command runs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use streha_core::{
    AgeStatus, AgencyId, Category, ClauseId, ConsentId, DisclosableCategory, EnvelopeId, Grantor,
    IdError, OfficerId, Purpose, Recipient, RepresentativeId, Role, SubjectId, Timestamp,
};
use streha_crypto::KeyKind;

use crate::error::EXIT_STATUS_HELP;

/// The default client profile, in the current directory.
pub(crate) const DEFAULT_PROFILE: &str = "client.toml";

/// The `streha` command.
#[derive(Debug, Parser)]
#[command(
    name = "streha",
    version,
    about = "Streha: consent-scoped, audited exchange of records between anti-trafficking authorities",
    long_about = "Streha: consent-scoped, audited exchange of records between the authorities \
                  that identify, assist and protect victims of trafficking (Law No. 04/L-218).\n\n\
                  Operators: keygen, key, roster, node. Applications and officers (through a \
                  client profile, client.toml): subject, consent, send, inbox, audit. \
                  Everyone: demo, a three-agency federation on this machine.\n\n\
                  Secrets are read from key files (mode 0600), never from arguments. Under \
                  the name `strehad` (a symbolic link to this binary) it runs the node \
                  daemon instead.",
    after_help = EXIT_STATUS_HELP,
    propagate_version = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The client profile of a command that talks to the node: flattened into exactly those
/// commands, so that `--profile` appears in the help of no command that ignores it.
#[derive(Debug, Args)]
pub(crate) struct ProfileArg {
    /// The client profile (client.toml: your node's address and key, your application's key
    /// files), as `streha node init --client` writes it
    #[arg(
        long,
        value_name = "FILE",
        env = "STREHA_PROFILE",
        default_value = DEFAULT_PROFILE
    )]
    pub(crate) profile: PathBuf,
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

    /// Build, sign, verify and show the federation roster (national authority)
    #[command(
        subcommand,
        long_about = "The roster lists the member agencies (id, role, address, keys, officers) \
                      and the exchange agreement (Art. 18.2). It is edited as an unsigned TOML \
                      body (init, add, remove; the agreement's [[agreement.clauses]] by hand) \
                      and published as a signed note (sign) that every node and client checks \
                      against the national authority's roster key (verify).",
        after_help = roster_after_help()
    )]
    Roster(RosterCommand),

    /// Configure a node (agency operator)
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Node(NodeCommand),

    /// Register subjects (pseudonymous persons) at your node, their representatives, age
    /// and re-keying
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Subject(SubjectCommand),

    /// Record, revoke and list consents (Art. 18.3)
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Consent(ConsentCommand),

    /// Disclose a record to another agency: sealed here, decided and logged by your node
    #[command(
        long_about = "Disclose a record about a subject to another member agency.\n\n\
                      The record's fields are sealed here to the recipient's encryption key from \
                      the verified roster and signed with your agency's signing key; your node \
                      decides with the policy (Law No. 04/L-218), logs `disclosed` or \
                      `refused`, and delivers. Fields are CATEGORY:NAME=VALUE, or \
                      CATEGORY:NAME=@FILE to read the value from a file (values on the command \
                      line end up in shell history: prefer files for real records). The \
                      protection categories (protection_measures, protector_identity, \
                      assistant_identity, shelter_location) are refused by the parser: Art. \
                      18.4 forbids disclosing them, whatever the consent or purpose.",
        after_help = send_after_help()
    )]
    Send(SendArgs),

    /// List and open the records received by your agency
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Inbox(InboxCommand),

    /// Your node's audit log: checkpoints, proofs, exports
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Audit(AuditCommand),

    /// Where your disclosures stand, and those your node holds instead of delivering
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Delivery(DeliveryCommand),

    /// Evidence your node keeps as a witness of other nodes' logs (DPOs, operators)
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Witness(WitnessCommand),

    /// Back up a running node, and restore a data directory from a backup (agency operator)
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Admin(AdminCommand),

    /// Run a three-agency demo federation on 127.0.0.1 and a scripted scenario
    #[command(
        long_about = "Start a demo federation of three agencies (police, a shelter NGO, \
                      prosecution) on 127.0.0.1 with the public demo keys of keys-example/, \
                      copied into a temporary directory, and run a scripted scenario that shows \
                      each rule of Law No. 04/L-218 at work, one line per step. Then export \
                      every node's log, verify the inclusion proofs of the demo's disclosures, \
                      and print a summary. Everything is removed at the end unless --keep is \
                      given. Exits 1 if any step did not behave as stated.\n\n\
                      The nodes are child processes running strehad: by default this binary's \
                      embedded copy of it (the same streha_node::daemon_main, started under \
                      the name strehad), or the binary given with --strehad.",
        after_help = EXIT_STATUS_HELP
    )]
    Demo(DemoArgs),

    /// Run the agency's application as a local HTTP/JSON service (`streha api --help`)
    #[command(disable_help_flag = true)]
    Api(ApiArgs),
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

/// Examples under `streha roster --help`.
fn roster_after_help() -> String {
    format!(
        "Examples:
  streha roster init --federation trafficking.example.org --out roster.toml
  streha roster add roster.toml --agency police-prishtina --role police \\
      --address 10.0.0.1:7401 --keys ./keys --officer police-officer-1=./keys/police-officer-1.officer.pub
  streha roster sign roster.toml --key national-authority.roster.key --out roster.note
  streha roster verify roster.note --roster-key national-authority.roster.pub

{EXIT_STATUS_HELP}"
    )
}

/// Examples under `streha send --help`.
fn send_after_help() -> String {
    format!(
        "Examples:
  streha send --subject 5a5a… --to police-prishtina --purpose assistance \\
      --consent c0c0… --field medical:treatment=@treatment.txt
  streha send --subject 5a5a… --to prosecution-prishtina --purpose urgent_danger \\
      --field identity:given_name=@name.txt \\
      --approval police-officer-1=./keys/police-officer-1.officer.key \\
      --approval police-officer-2=./keys/police-officer-2.officer.key

{EXIT_STATUS_HELP}"
    )
}

// ----- keygen / key -------------------------------------------------------------------------

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
    /// Print one line of JSON: the files written and each key's fingerprint (never a
    /// secret)
    #[arg(long)]
    pub(crate) json: bool,
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

/// `streha api …`: handed whole to `streha_api::command::run`, which parses it.
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    /// init | serve | token add|list|remove | openapi, and their options
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub(crate) args: Vec<std::ffi::OsString>,
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
    /// Print one line of JSON (the same fields; never secret bytes)
    #[arg(long)]
    pub(crate) json: bool,
}

// ----- roster -------------------------------------------------------------------------------

/// `streha roster …`.
#[derive(Debug, Subcommand)]
pub(crate) enum RosterCommand {
    /// Start a new, empty roster body (unsigned TOML, version 0)
    #[command(after_help = EXIT_STATUS_HELP)]
    Init(RosterInitArgs),
    /// Add an agency to the roster body, or replace the entry of the same id
    #[command(after_help = EXIT_STATUS_HELP)]
    Add(RosterAddArgs),
    /// Remove an agency from the roster body
    #[command(after_help = EXIT_STATUS_HELP)]
    Remove(RosterRemoveArgs),
    /// Add, replace or remove a clause of the exchange agreement (Art. 18.2, 45.1)
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Clause(RosterClauseCommand),
    /// Sign the roster body as the next version, with the national authority's roster key
    #[command(
        long_about = "Sign the roster body with the national authority's roster key \
                      (secret key file, mode 0600) and write the signed note that nodes run \
                      on. The version is bumped (the body's version + 1, or --roster-version) and \
                      the issue time set to now; the body file is updated to the signed \
                      version, so the next sign bumps again. Nodes adopt only a strictly \
                      newer version.",
        after_help = EXIT_STATUS_HELP
    )]
    Sign(RosterSignArgs),
    /// Check a signed roster against the roster public key
    #[command(after_help = EXIT_STATUS_HELP)]
    Verify(RosterVerifyArgs),
    /// Show a roster (a signed note, verified if --roster-key is given, or a body)
    #[command(after_help = EXIT_STATUS_HELP)]
    Show(RosterShowArgs),
}

/// Arguments of `streha roster init`.
#[derive(Debug, Args)]
pub(crate) struct RosterInitArgs {
    /// The federation's DNS domain, one it controls [e.g. trafficking.example.org]: it names
    /// the federation and begins every log origin, `<domain>/streha/<agency>`, so no other
    /// federation's log can have the same name [lower case; at most 128 characters]
    #[arg(long, visible_alias = "domain", value_name = "DOMAIN")]
    pub(crate) federation: String,
    /// Where to write the body
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub(crate) force: bool,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha roster add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key_source").required(true).args(["keys", "node_key"])))]
pub(crate) struct RosterAddArgs {
    /// The roster body to change
    #[arg(value_name = "ROSTER")]
    pub(crate) roster: PathBuf,
    /// The agency's id
    #[arg(long, value_name = "ID")]
    pub(crate) agency: AgencyId,
    /// The agency's role (see spec/policy.md §1.2)
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    pub(crate) role: Role,
    /// Where its node listens for peers (host:port)
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) address: String,
    /// Directory holding the agency's public key files as written by `streha keygen`
    /// (ID.node-identity.pub, ID.agency-signing.pub, ID.agency-encryption.pub)
    #[arg(long, value_name = "DIR")]
    pub(crate) keys: Option<PathBuf>,
    /// The node identity public key file (instead of --keys)
    #[arg(
        long,
        value_name = "FILE",
        requires_all = ["signing_key", "encryption_key"],
        conflicts_with = "keys"
    )]
    pub(crate) node_key: Option<PathBuf>,
    /// The agency signing public key file (with --node-key)
    #[arg(long, value_name = "FILE", requires = "node_key")]
    pub(crate) signing_key: Option<PathBuf>,
    /// The agency encryption public key file (with --node-key)
    #[arg(long, value_name = "FILE", requires = "node_key")]
    pub(crate) encryption_key: Option<PathBuf>,
    /// An officer who may approve urgent-danger disclosures: OFFICER-ID=PUBLIC-KEY-FILE
    /// (repeat for each officer)
    #[arg(long = "officer", value_name = "ID=FILE", value_parser = parse_officer_file)]
    pub(crate) officers: Vec<(OfficerId, PathBuf)>,
    /// A fingerprint the agency gave you by another channel (phone, in person): one of the
    /// keys read must have it, or nothing is written (repeat for each; full 64 hex digits or
    /// the short xxxx:xxxx:xxxx:xxxx form)
    #[arg(long = "expect-fingerprint", value_name = "FINGERPRINT", value_parser = parse_fingerprint)]
    pub(crate) expect_fingerprints: Vec<String>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// `streha roster clause …`.
#[derive(Debug, Subcommand)]
pub(crate) enum RosterClauseCommand {
    /// Add a clause to the agreement, or replace the clause with the same id
    #[command(
        long_about = "Add a clause to the exchange agreement in the roster body (Art. 18.2, \
                      45.1): which role may receive which categories for which purposes \
                      without consent. Assistance categories need the victim's consent (Art. \
                      18.3) and protection categories never move (Art. 18.4): neither can be \
                      in a clause. A clause with the same id is replaced. The body is written \
                      back in its canonical order; sign it afterwards.",
        after_help = roster_clause_after_help()
    )]
    Add(RosterClauseAddArgs),
    /// Remove a clause from the agreement
    #[command(after_help = EXIT_STATUS_HELP)]
    Remove(RosterClauseRemoveArgs),
}

/// Examples under `streha roster clause add --help`.
fn roster_clause_after_help() -> String {
    format!(
        "Example:
  streha roster clause add roster.toml --id prosecution-investigation --recipient prosecution \\
      --category identity --category case_summary --category investigation \\
      --purpose criminal_investigation_and_prosecution --purpose urgent_danger

{EXIT_STATUS_HELP}"
    )
}

/// Arguments of `streha roster clause add`.
#[derive(Debug, Args)]
pub(crate) struct RosterClauseAddArgs {
    /// The roster body to change
    #[arg(value_name = "ROSTER")]
    pub(crate) roster: PathBuf,
    /// The clause's id [e.g. prosecution-investigation; 1-64 of a-z, 0-9, '-', starting with
    /// a letter]
    #[arg(long, value_name = "ID")]
    pub(crate) id: ClauseId,
    /// The role that may receive (see spec/policy.md §1.2)
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    pub(crate) recipient: Role,
    /// A category it may receive (repeat for each; identification and case categories)
    #[arg(long = "category", value_name = "CATEGORY", required = true, value_parser = parse_clause_category)]
    pub(crate) categories: Vec<Category>,
    /// A purpose it may receive them for (repeat for each)
    #[arg(long = "purpose", value_name = "PURPOSE", required = true, value_parser = parse_purpose)]
    pub(crate) purposes: Vec<Purpose>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha roster clause remove`.
#[derive(Debug, Args)]
pub(crate) struct RosterClauseRemoveArgs {
    /// The roster body to change
    #[arg(value_name = "ROSTER")]
    pub(crate) roster: PathBuf,
    /// The clause's id
    #[arg(long, value_name = "ID")]
    pub(crate) id: ClauseId,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha roster remove`.
#[derive(Debug, Args)]
pub(crate) struct RosterRemoveArgs {
    /// The roster body to change
    #[arg(value_name = "ROSTER")]
    pub(crate) roster: PathBuf,
    /// The agency to remove
    #[arg(long, value_name = "ID")]
    pub(crate) agency: AgencyId,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha roster sign`.
#[derive(Debug, Args)]
pub(crate) struct RosterSignArgs {
    /// The roster body to sign
    #[arg(value_name = "ROSTER")]
    pub(crate) roster: PathBuf,
    /// The national authority's roster secret key file (mode 0600)
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Where to write the signed roster (the file every node.toml names)
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Sign as this version instead of the body's version + 1
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) roster_version: Option<u64>,
    /// How long the roster is valid from now: a number of days, hours or minutes (`90d`,
    /// `36h`, `30m`), or `never`. Past it, nodes send no disclosure but urgent-danger ones
    /// until they adopt a newer roster: sign the next one well before [default: 365d]
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_valid_for)]
    pub(crate) valid_for: ValidFor,
    /// Replace an existing signed roster file
    #[arg(long)]
    pub(crate) force: bool,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// A roster's validity period from its signing (`streha roster sign --valid-for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValidFor {
    /// No end (`never`): allowed, not advised.
    Never,
    /// This many milliseconds.
    Millis(u64),
}

/// Parses `90d`, `36h`, `30m` or `never`.
pub(crate) fn parse_valid_for(text: &str) -> Result<ValidFor, String> {
    if text == "never" {
        return Ok(ValidFor::Never);
    }
    let bad = || {
        format!(
            "`{text}` is not a validity period; write a whole number of days, hours or minutes (`90d`, `36h`, `30m`) or `never`"
        )
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = (text.get(..split).ok_or_else(bad)?, &text[split..]);
    let unit_ms: u64 = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        _ => return Err(bad()),
    };
    let count: u64 = number.parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(format!("`{text}`: a roster must be valid for some time"));
    }
    count
        .checked_mul(unit_ms)
        .map(ValidFor::Millis)
        .ok_or_else(bad)
}

/// Arguments of `streha roster verify`.
#[derive(Debug, Args)]
pub(crate) struct RosterVerifyArgs {
    /// The signed roster
    #[arg(value_name = "ROSTER")]
    pub(crate) roster: PathBuf,
    /// The national authority's roster public key file
    #[arg(long, value_name = "FILE")]
    pub(crate) roster_key: PathBuf,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha roster show`.
#[derive(Debug, Args)]
pub(crate) struct RosterShowArgs {
    /// A signed roster or a roster body
    #[arg(value_name = "ROSTER")]
    pub(crate) roster: PathBuf,
    /// Verify the signature with this roster public key file
    #[arg(long, value_name = "FILE")]
    pub(crate) roster_key: Option<PathBuf>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

// ----- node ---------------------------------------------------------------------------------

/// `streha node …`.
#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Write a working node.toml for an agency (and optionally its client profile)
    #[command(
        long_about = "Write node.toml for an agency's node, after checking everything it names: \
                      the node identity key (secret, mode 0600), the signed roster under the \
                      roster key, the agency's entry in it (the same node key), the enrolled \
                      application key. Key files are found in --keys by the names `streha \
                      keygen` gives them. With --client FILE, also write the client profile \
                      of the agency's application (client.toml), which the subject, consent, \
                      send, inbox and audit commands read.",
        after_help = node_init_after_help()
    )]
    Init(NodeInitArgs),
}

/// Examples under `streha node init --help`.
fn node_init_after_help() -> String {
    format!(
        "Example:
  streha node init --agency police-prishtina --keys ./keys --roster roster.note \\
      --roster-key national-authority.roster.pub --app-listen 127.0.0.1:7411 \\
      --data-dir ./data --out node.toml --client client.toml
  strehad --config node.toml --check

{EXIT_STATUS_HELP}"
    )
}

/// Arguments of `streha node init`.
#[derive(Debug, Args)]
pub(crate) struct NodeInitArgs {
    /// The agency whose node this is (as in the roster)
    #[arg(long, value_name = "ID")]
    pub(crate) agency: AgencyId,
    /// Directory of the agency's key files: ID.node-identity.key (secret, for the node),
    /// APP.application.pub (enrolled), and for --client APP.application.key,
    /// ID.agency-signing.key, ID.agency-encryption.key, ID.node-identity.pub
    #[arg(long, value_name = "DIR")]
    pub(crate) keys: PathBuf,
    /// The application to enrol (its key files are APP.application.{pub,key} in --keys)
    /// [default: ID-app]
    #[arg(long, value_name = "APP", value_parser = parse_holder_name)]
    pub(crate) app: Option<String>,
    /// The signed roster
    #[arg(long, value_name = "FILE")]
    pub(crate) roster: PathBuf,
    /// The national authority's roster public key file
    #[arg(long, value_name = "FILE")]
    pub(crate) roster_key: PathBuf,
    /// Where the node listens for peers [default: the agency's address in the roster]
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,
    /// Where the node listens for its applications (keep it on a private network)
    #[arg(long, value_name = "ADDR")]
    pub(crate) app_listen: SocketAddr,
    /// Serve GET /metrics (Prometheus) and GET /health on this loopback address
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// The node's store directory (created by the node)
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub(crate) data_dir: PathBuf,
    /// Where to write the node configuration
    #[arg(long, value_name = "FILE", default_value = "node.toml")]
    pub(crate) out: PathBuf,
    /// Also write the application's client profile here
    #[arg(long, value_name = "FILE")]
    pub(crate) client: Option<PathBuf>,
    /// Replace existing files
    #[arg(long)]
    pub(crate) force: bool,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

// ----- subject ------------------------------------------------------------------------------

/// `streha subject …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SubjectCommand {
    /// Register a subject under a fresh random pseudonymous id
    #[command(
        long_about = "Register a subject (a person the agency holds records about) at your node \
                      under a fresh random pseudonymous id, with what is known of their age \
                      (a presumed child is a child for every rule, Art. 36) and their legal \
                      representatives (Art. 18.3, 38.5). Prints the id: keep it with the \
                      person's file; the log never holds a name.",
        after_help = EXIT_STATUS_HELP
    )]
    Register(SubjectRegisterArgs),
    /// Move a subject to a new pseudonymous id (Art. 18.5: life or health in real danger)
    #[command(
        long_about = "Re-key a subject (Art. 18.5): your node closes the old id (later \
                      disclosures about it are refused), deletes the envelopes it holds about \
                      it, registers the new id with the age status carried over, and logs only \
                      a salted commitment to the new id. Representatives and consents do not \
                      carry over. Prints the new id and writes the salt to --salt-out (mode \
                      0600): keep it with the agency's protected records. With it, a court or \
                      data-protection officer can check the link between the ids; without it, \
                      nobody can.",
        after_help = EXIT_STATUS_HELP
    )]
    Rekey(SubjectRekeyArgs),
    /// Register a legal representative of a subject (Art. 18.3, 38.5)
    #[command(
        long_about = "Register a legal representative of a subject at your node (Art. 18.3, \
                      38.5): for a child, or a person presumed to be one (Art. 36), only a \
                      registered representative's consent counts. The id is the \
                      representative's number in the guardianship register, never a name. \
                      After `subject rekey`, representatives do not carry over: register them \
                      again under the new id with this command.",
        after_help = EXIT_STATUS_HELP
    )]
    AddRepresentative(SubjectAddRepresentativeArgs),
    /// Record what is now known of a subject's age (Art. 36)
    #[command(
        long_about = "Record a new age status for a subject: adult once an adult age is \
                      established, child, or presumed_child while the age is unknown but there \
                      are reasons to believe the person is a child (Art. 36: a presumed child \
                      is a child for every rule until an adult age is recorded). Logged as \
                      `age status recorded`; later disclosures are decided with it.",
        after_help = EXIT_STATUS_HELP
    )]
    Age(SubjectAgeArgs),
}

/// Arguments of `streha subject register`.
#[derive(Debug, Args)]
pub(crate) struct SubjectRegisterArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// What is known of the subject's age: adult, child or presumed_child
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub(crate) age: AgeStatus,
    /// A registered legal representative's id (repeat for each) [never a name]
    #[arg(long = "representative", value_name = "ID")]
    pub(crate) representatives: Vec<RepresentativeId>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha subject add-representative`.
#[derive(Debug, Args)]
pub(crate) struct SubjectAddRepresentativeArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The subject's id
    #[arg(value_name = "SUBJECT")]
    pub(crate) subject: SubjectId,
    /// The representative's registration id (guardianship register) [never a name]
    #[arg(long, value_name = "ID")]
    pub(crate) representative: RepresentativeId,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha subject age`.
#[derive(Debug, Args)]
pub(crate) struct SubjectAgeArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The subject's id
    #[arg(value_name = "SUBJECT")]
    pub(crate) subject: SubjectId,
    /// What is now known of the subject's age: adult, child or presumed_child
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub(crate) age: AgeStatus,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha subject rekey`.
#[derive(Debug, Args)]
pub(crate) struct SubjectRekeyArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The subject's current id
    #[arg(value_name = "SUBJECT")]
    pub(crate) subject: SubjectId,
    /// Where to write the salt that opens the commitment (a new file, mode 0600)
    #[arg(long, value_name = "FILE")]
    pub(crate) salt_out: PathBuf,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

// ----- consent ------------------------------------------------------------------------------

/// `streha consent …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConsentCommand {
    /// Record a consent (Art. 18.3) to disclose assistance information
    #[command(
        long_about = "Record a consent: who gave it (the subject, or for a child a registered \
                      legal representative, Art. 18.3, 38.5), whom it allows (agencies or \
                      roles), which assistance categories (medical, psychological, \
                      legal_assistance, social_assistance) and purposes, and for how long. \
                      Identification and case data move under the exchange agreement, never by \
                      consent; protection data never moves (Art. 18.4). Prints the consent id.",
        after_help = EXIT_STATUS_HELP
    )]
    Grant(ConsentGrantArgs),
    /// Revoke a consent from now (or --at)
    #[command(after_help = EXIT_STATUS_HELP)]
    Revoke(ConsentRevokeArgs),
    /// List the consents recorded for a subject
    #[command(after_help = EXIT_STATUS_HELP)]
    List(ConsentListArgs),
}

/// Arguments of `streha consent grant`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("until").required(true).args(["expires", "days"])))]
pub(crate) struct ConsentGrantArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The subject the consent is about
    #[arg(long, value_name = "SUBJECT")]
    pub(crate) subject: SubjectId,
    /// Who gave it: `subject`, or `representative:ID` (a registered legal representative)
    #[arg(long, value_name = "WHO", value_parser = parse_grantor)]
    pub(crate) granted_by: Grantor,
    /// Whom it allows: `agency:ID` or `role:ROLE` (repeat for each)
    #[arg(long = "to", value_name = "RECIPIENT", required = true, value_parser = parse_recipient)]
    pub(crate) recipients: Vec<Recipient>,
    /// An assistance category it covers (repeat for each)
    #[arg(long = "category", value_name = "CATEGORY", required = true, value_parser = parse_consent_category)]
    pub(crate) categories: Vec<Category>,
    /// A purpose it covers (repeat for each)
    #[arg(long = "purpose", value_name = "PURPOSE", required = true, value_parser = parse_purpose)]
    pub(crate) purposes: Vec<Purpose>,
    /// In force from (`now`, a date, or a UTC time) [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) valid_from: Option<Timestamp>,
    /// In force until (exclusive; a date or a UTC time)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) expires: Option<Timestamp>,
    /// In force for this many days from --valid-from (instead of --expires)
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u64).range(1..=36500))]
    pub(crate) days: Option<u64>,
    /// The officer recording it [a staff id, never a name]
    #[arg(long, value_name = "OFFICER")]
    pub(crate) recorded_by: OfficerId,
    /// The signed consent form (or other evidence), kept by the agency: only its BLAKE3
    /// hash is recorded
    #[arg(long, value_name = "FILE")]
    pub(crate) evidence: Option<PathBuf>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha consent revoke`.
#[derive(Debug, Args)]
pub(crate) struct ConsentRevokeArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The consent's id
    #[arg(value_name = "CONSENT")]
    pub(crate) consent: ConsentId,
    /// The officer recording the revocation
    #[arg(long, value_name = "OFFICER")]
    pub(crate) recorded_by: OfficerId,
    /// When the person withdrew it [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) at: Option<Timestamp>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha consent list`.
#[derive(Debug, Args)]
pub(crate) struct ConsentListArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The subject
    #[arg(long, value_name = "SUBJECT")]
    pub(crate) subject: SubjectId,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

// ----- send ---------------------------------------------------------------------------------

/// Arguments of `streha send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The subject the record is about
    #[arg(long, value_name = "SUBJECT")]
    pub(crate) subject: SubjectId,
    /// The receiving agency
    #[arg(long, value_name = "AGENCY")]
    pub(crate) to: AgencyId,
    /// Why (see spec/policy.md §1.3)
    #[arg(long, value_name = "PURPOSE", value_parser = parse_purpose)]
    pub(crate) purpose: Purpose,
    /// A field: CATEGORY:NAME=VALUE, or CATEGORY:NAME=@FILE (repeat for each)
    #[arg(long = "field", value_name = "CATEGORY:NAME=VALUE", value_parser = FieldParser)]
    pub(crate) fields: Vec<FieldArg>,
    /// A file of fields, one CATEGORY:NAME=VALUE (or =@FILE) per line; `#` starts a comment
    #[arg(long, value_name = "FILE")]
    pub(crate) fields_file: Option<PathBuf>,
    /// The consent the disclosure relies on (needed for assistance categories, Art. 18.3)
    #[arg(long, value_name = "CONSENT")]
    pub(crate) consent: Option<ConsentId>,
    /// An officer's approval for urgent danger (Art. 45.3: two distinct officers of your
    /// agency): OFFICER-ID=SECRET-KEY-FILE (repeat for each)
    #[arg(long = "approval", value_name = "ID=FILE", value_parser = parse_officer_file)]
    pub(crate) approvals: Vec<(OfficerId, PathBuf)>,
    /// Wait up to this many seconds for the receiver's receipt
    #[arg(long, value_name = "SECONDS")]
    pub(crate) wait: Option<u64>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// A `--field` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldArg {
    /// The category (never a protection category: the type has none).
    pub(crate) category: DisclosableCategory,
    /// The field's name.
    pub(crate) name: String,
    /// The value, or where to read it.
    pub(crate) value: FieldSource,
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldSource {
    /// Given inline.
    Inline(String),
    /// Read from a file (text if UTF-8, bytes otherwise).
    File(PathBuf),
}

// ----- inbox --------------------------------------------------------------------------------

/// `streha inbox …`.
#[derive(Debug, Subcommand)]
pub(crate) enum InboxCommand {
    /// List received envelopes: who sent what kind of information about whom, why (no content)
    #[command(after_help = EXIT_STATUS_HELP)]
    List(InboxListArgs),
    /// Open a received envelope and print its record (or write its fields to files)
    #[command(
        long_about = "Fetch and open a received envelope: verify the sender's signature against \
                      the roster, decrypt with your agency's encryption key, check that the \
                      record holds exactly the categories its header declared (a mismatch is \
                      reported to your node and logged as a violation, and nothing is shown), \
                      and print the record's fields to standard output — or, with --out DIR, \
                      write each field to its own file (mode 0600) and print only the header. \
                      This is the one command that shows record content: handle its output \
                      accordingly. Binary values are never printed raw: base64 in --json, a \
                      file with --out.",
        after_help = EXIT_STATUS_HELP
    )]
    Open(InboxOpenArgs),
}

/// `streha admin …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Take a consistent backup of the running node's store and key vault
    #[command(
        long_about = "Ask the node running on --data-dir (through its admin socket, \
                      DATA_DIR/admin.sock) for a consistent online backup: the audit log and \
                      state, written to --out, and the key vault, written to --vault-out, both \
                      taken at the same moment between two commits while the node keeps \
                      serving. Both files are new (never overwritten), mode 0600, outside the \
                      data directory.\n\n\
                      Keep them apart: the store backup can be kept as long as the log must \
                      be; the vault backup holds the subjects' data keys, and restoring it \
                      undoes every re-keying (Art. 18.5 shredding) done after it was taken, so \
                      keep it on other storage and delete it once a newer one exists \
                      (spec/protocol.md §13).",
        after_help = EXIT_STATUS_HELP
    )]
    Backup(AdminBackupArgs),
    /// Write a new data directory from a backup; the node then starts in recovery mode
    #[command(
        long_about = "Write a new data directory (--data-dir, which must not exist or be \
                      empty) from a store backup and its vault backup, after checking both \
                      whole, and mark it restored. The node started on it is in recovery \
                      mode: it appends nothing to its log until the other nodes have said \
                      which checkpoint of its log they cosigned last. If none cosigned more \
                      than the backup holds, it leaves recovery mode by itself; otherwise it \
                      reports the lost range and stays in recovery mode (spec/protocol.md \
                      §13). Re-keyings done after the vault backup was taken must be done \
                      again.",
        after_help = EXIT_STATUS_HELP
    )]
    Restore(AdminRestoreArgs),
    /// After a restore that lost entries: declare the loss and continue in a new log epoch
    #[command(
        long_about = "Ask the node running on --data-dir, in recovery mode after a restore                       whose loss its peers proved (a checkpoint of its log larger than the                       backup, signed by the node and kept by a peer), to continue: it keeps                       the restored log's bundle as DATA_DIR/epochs/<n>.bundle (export it beside                       the new one), starts its log over under the next epoch's origin                       (<base>/epoch/<n+1>), whose entry 0 is a signed `log_restored`                       declaration of the lost range, restarts on the same addresses and                       leaves recovery mode. The declaration is permanent: if a newer backup                       may lose less, restore that one instead. Refused without a proven loss                       (spec/protocol.md §13).",
        after_help = EXIT_STATUS_HELP
    )]
    Recover(AdminRecoverArgs),
}

/// Arguments of `streha admin recover`.
#[derive(Debug, Args)]
pub(crate) struct AdminRecoverArgs {
    /// The running node's data directory (`data_dir` in its node.toml)
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: PathBuf,
    /// Confirm that the lost range is given up and declared (required)
    #[arg(long)]
    pub(crate) accept_loss: bool,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha admin backup`.
#[derive(Debug, Args)]
pub(crate) struct AdminBackupArgs {
    /// The running node's data directory (`data_dir` in its node.toml)
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: PathBuf,
    /// The store backup to write (a new file)
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// The key vault backup to write (a new file; keep it elsewhere, see --help)
    #[arg(long, value_name = "FILE")]
    pub(crate) vault_out: PathBuf,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha admin restore`.
#[derive(Debug, Args)]
pub(crate) struct AdminRestoreArgs {
    /// The store backup (`streha admin backup --out`)
    #[arg(long, value_name = "FILE")]
    pub(crate) backup: PathBuf,
    /// The key vault backup taken with it (`--vault-out`)
    #[arg(long, value_name = "FILE")]
    pub(crate) vault_backup: PathBuf,
    /// The data directory to write (must not exist or be empty)
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: PathBuf,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// `streha delivery …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DeliveryCommand {
    /// List the disclosures whose delivery is held, with why (no content)
    #[command(
        long_about = "List the disclosures your node holds instead of delivering: envelope id, \
                      recipient, reason class (not-in-roster, refused, rekeyed, other), the \
                      reason in words and since when. A disclosure held because its recipient \
                      left the roster is retried when the node adopts a roster that lists the \
                      recipient again (SIGHUP); the others stay held and are never dropped.",
        after_help = EXIT_STATUS_HELP
    )]
    Held(ProfileJsonArgs),
    /// Where one of your disclosures stands: queued, held (and why) or delivered
    #[command(
        long_about = "Ask your node where a disclosure you sent stands: queued (with the number \
                      of delivery attempts and the last error), held and why, or delivered \
                      (the index of the receipt in your log and of `received` in the \
                      recipient's). With --wait, wait up to that many seconds for it to leave \
                      the queue.",
        after_help = EXIT_STATUS_HELP
    )]
    Status(DeliveryStatusArgs),
}

/// Arguments of `streha delivery status`.
#[derive(Debug, Args)]
pub(crate) struct DeliveryStatusArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The envelope id `streha send` printed
    #[arg(value_name = "ENVELOPE")]
    pub(crate) envelope: EnvelopeId,
    /// Wait up to this many seconds while it is still queued
    #[arg(long, value_name = "SECONDS")]
    pub(crate) wait: Option<u64>,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// `streha witness …`.
#[derive(Debug, Subcommand)]
pub(crate) enum WitnessCommand {
    /// Print the fork and rollback evidence your node keeps, with both signed checkpoints
    #[command(
        long_about = "Print every piece of evidence your node keeps as a witness: for each \
                      alarm, the other node's log origin, the kind (fork, rollback, \
                      inconsistent), when it was found, and both signed checkpoint notes exactly \
                      as received (the one your node cosigned and the one that contradicts it), \
                      to take to the offline verifier.",
        after_help = EXIT_STATUS_HELP
    )]
    Evidence(ProfileJsonArgs),
    /// Run a standalone C2SP tlog-witness over HTTP (for an oversight body)
    #[command(
        long_about = "Run a standalone witness (C2SP tlog-witness over HTTP) for an oversight \
                      body that runs no agency node: it follows the logs its configuration \
                      lists (each by origin and verifier key, or every agency of a signed \
                      roster), cosigns every checkpoint consistent with the last it cosigned, \
                      keeps that state durably, keeps forks and bad proofs as evidence, \
                      follows a log's new epoch (after a restore with a declared loss) only \
                      with its declaration (POST add-new-epoch) and serves GET /metrics. Prints `streha witness ready on ADDR` once it \
                      serves; stops on SIGTERM. See the README's operator guide and \
                      spec/witness.md.",
        after_help = EXIT_STATUS_HELP
    )]
    Serve(WitnessConfigArgs),
    /// Print the verifier key (vkey) of a standalone witness, for the roster
    #[command(
        long_about = "Print the C2SP verifier key (name+key id+key, cosignature/v1) of the \
                      witness that --config describes: the national authority lists it, with \
                      the witness's URL, under [[witnesses]] in the roster.",
        after_help = EXIT_STATUS_HELP
    )]
    Vkey(WitnessConfigArgs),
}

/// Arguments of `streha witness serve` and `streha witness vkey`.
#[derive(Debug, Args)]
pub(crate) struct WitnessConfigArgs {
    /// The witness's configuration (witness.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
}

/// Arguments of a node command whose only option is `--json`.
#[derive(Debug, Args)]
pub(crate) struct ProfileJsonArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha inbox list`.
#[derive(Debug, Args)]
pub(crate) struct InboxListArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// List the envelopes received after this one
    #[arg(long, value_name = "ENVELOPE")]
    pub(crate) after: Option<EnvelopeId>,
    /// At most this many (up to 256)
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) limit: u32,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha inbox open`.
#[derive(Debug, Args)]
pub(crate) struct InboxOpenArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The envelope's id (from `streha inbox list`)
    #[arg(value_name = "ENVELOPE")]
    pub(crate) envelope: EnvelopeId,
    /// Write each field's value to its own file DIR/CATEGORY.NAME (mode 0600; DIR is created
    /// with mode 0700 if missing) and print only the header and the file names
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// With --out: replace field files that already exist
    #[arg(long, requires = "out")]
    pub(crate) force: bool,
    /// Print one line of JSON (text values as strings, bytes values in base64; with --out,
    /// the files instead of the values)
    #[arg(long)]
    pub(crate) json: bool,
}

// ----- audit --------------------------------------------------------------------------------

/// `streha audit …`. (`verify`, `subject` and `check-proof`, the offline checks, are added
/// beside these by `commands/audit_offline.rs`.)
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Fetch, verify and print your node's latest signed checkpoint
    #[command(
        long_about = "Fetch your node's latest signed checkpoint (C2SP tlog-checkpoint in a \
                      signed note), verify its signature with the node's key, and print it \
                      (or write it to --out): keep it, and later proofs and exports can be \
                      checked against it.",
        after_help = EXIT_STATUS_HELP
    )]
    Checkpoint(AuditCheckpointArgs),
    /// Fetch an entry of your node's log with its inclusion proof, verify it, and write both
    #[command(
        long_about = "Fetch the log entry at INDEX with its inclusion proof (RFC 9162 §2.1.3) \
                      and the signed checkpoint it leads to, verify them, and write the proof \
                      to --out as a C2SP tlog-proof (text: `c2sp.org/tlog-proof@v1`, the \
                      index, the proof's hashes in base64, the signed checkpoint note; RFC 6962 \
                      tree, spec/audit-log.md) and the entry's bytes to --out with `.entry` \
                      appended, for anyone to check offline with `streha audit check-proof`. \
                      The checkpoint is the node's published one (cosigned by its witnesses); \
                      if it does not cover the entry yet, waits up to --wait seconds. \
                      Prints what the entry records.",
        after_help = EXIT_STATUS_HELP
    )]
    Prove(AuditProveArgs),
    /// Export your node's whole log (entries and checkpoints) as a verified log bundle
    #[command(
        long_about = "Fetch every entry and checkpoint of your node's log, verify them (each \
                      checkpoint signed by the node, each root recomputed from the entries, \
                      consecutive checkpoints consistent) and write the log bundle \
                      (spec/audit-log.md) to --out, for `streha audit verify`. The bundle \
                      ends at a checkpoint the node's witnesses cosigned (its published \
                      checkpoint): if the latest is not cosigned yet, waits up to --wait \
                      seconds for it, so that the bundle verifies with --min-witnesses (1 by \
                      default).",
        after_help = EXIT_STATUS_HELP
    )]
    Export(AuditExportArgs),
    /// Verify exported log bundles offline: signatures, witnesses, trees, the policy replayed,
    /// the logs matched against each other
    #[command(
        long_about = "Verify the nodes' exported log bundles offline against the signed roster \
                      (spec/verification.md): each checkpoint signed by its node, witness \
                      cosignatures by the other nodes, the tree recomputed from the entries, \
                      no fork; the disclosure policy replayed over every entry (no protection \
                      category ever left, consents from the right person and in force, two \
                      approvers for urgent danger); every `received` matched to its \
                      `disclosed` and every receipt to the receiver's log. Prints the findings \
                      (node, entry, rule, article, what was seen), per-node summaries and the \
                      disclosures over time; --json for JSON, --html for one self-contained \
                      page. Exits 4 if there is any finding.",
        after_help = crate::commands::audit_offline::verify_after_help()
    )]
    Verify(crate::commands::audit_offline::AuditVerifyArgs),
    /// Which agencies received what about one subject, never pointing to a shelter or protector
    #[command(
        long_about = "List which public authorities received which categories about one \
                      pseudonymous subject, when (day), and on which basis (Art. 20.2.6), from \
                      the exported log bundles. Never shows shelters, licensed NGOs, \
                      international organizations, municipalities, victim advocates, \
                      urgent-danger exchanges or protection categories, and does not say \
                      whether any exist (Art. 18.4; spec/verification.md §5).",
        after_help = EXIT_STATUS_HELP
    )]
    Subject(crate::commands::audit_offline::AuditSubjectArgs),
    /// Check one entry's proof (C2SP tlog-proof) offline against the roster
    #[command(
        long_about = "Check a proof written by `streha audit prove` for the entry's bytes: the \
                      checkpoint signed by the node of a roster agency, witness cosignatures by \
                      other nodes, the inclusion proof binding the entry to the checkpoint's \
                      root (spec/verification.md §6). Exits 4 if it does not check.",
        after_help = EXIT_STATUS_HELP
    )]
    CheckProof(crate::commands::audit_offline::AuditCheckProofArgs),
}

/// Arguments of `streha audit checkpoint`.
#[derive(Debug, Args)]
pub(crate) struct AuditCheckpointArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The published checkpoint instead of the latest: the latest one cosigned by the
    /// node's witness quorum, with its cosignatures
    #[arg(long)]
    pub(crate) published: bool,
    /// Write the signed checkpoint note here instead of printing it
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Replace an existing file
    #[arg(long)]
    pub(crate) force: bool,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha audit prove`.
#[derive(Debug, Args)]
pub(crate) struct AuditProveArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// The entry's index in your node's log
    #[arg(value_name = "INDEX")]
    pub(crate) index: u64,
    /// Wait up to this many seconds for the node's witnesses to cosign (see above)
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) wait: u64,
    /// Use the node's latest checkpoint even if no witness has cosigned it yet (the result
    /// then fails `--min-witnesses`, whose default is 1)
    #[arg(long)]
    pub(crate) latest: bool,
    /// Where to write the entry and its proof
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub(crate) force: bool,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `streha audit export`.
#[derive(Debug, Args)]
pub(crate) struct AuditExportArgs {
    #[command(flatten)]
    pub(crate) profile: ProfileArg,
    /// Wait up to this many seconds for the node's witnesses to cosign (see above)
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) wait: u64,
    /// Use the node's latest checkpoint even if no witness has cosigned it yet (the result
    /// then fails `--min-witnesses`, whose default is 1)
    #[arg(long)]
    pub(crate) latest: bool,
    /// Where to write the log bundle
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub(crate) force: bool,
    /// Print one line of JSON
    #[arg(long)]
    pub(crate) json: bool,
}

// ----- demo ---------------------------------------------------------------------------------

/// Arguments of `streha demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the federation's files here (keys, roster, configurations, stores, daemon logs,
    /// exported log bundles) instead of removing them; the directory must be new or empty
    #[arg(long, value_name = "DIR")]
    pub(crate) keep: Option<PathBuf>,
    /// Run this strehad binary instead of the embedded one
    #[arg(long, value_name = "FILE")]
    pub(crate) strehad: Option<PathBuf>,
    /// The demo keys directory [default: keys-example/ of the source tree, or beside the
    /// binary]
    #[arg(long, value_name = "DIR")]
    pub(crate) keys: Option<PathBuf>,
}

// ----- value parsers ------------------------------------------------------------------------

fn names<T: Copy + std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A role name, with the list of names on error.
pub(crate) fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
        .map_err(|_| format!("unknown role `{text}`; one of: {}", names(Role::ALL)))
}

/// A purpose name, with the list of names on error.
pub(crate) fn parse_purpose(text: &str) -> Result<Purpose, String> {
    text.parse()
        .map_err(|_| format!("unknown purpose `{text}`; one of: {}", names(Purpose::ALL)))
}

/// An age status name.
fn parse_age(text: &str) -> Result<AgeStatus, String> {
    text.parse().map_err(|_| {
        format!(
            "unknown age status `{text}`; one of: {} (if the age is unknown but there are \
             reasons to believe the person is a child, use presumed_child, Art. 36)",
            names(AgeStatus::ALL)
        )
    })
}

/// The message for a protection category where a disclosable one is needed.
pub(crate) fn protection_refusal(category: Category) -> String {
    format!(
        "`{category}` is protection data: Art. 18.4 of Law No. 04/L-218 forbids disclosing \
         data on protection measures and on the persons who protect or assist victims, \
         whatever the consent, agreement or purpose, so Streha cannot send it"
    )
}

/// A category a disclosure may carry: a protection category is refused with Art. 18.4.
pub(crate) fn parse_disclosable(text: &str) -> Result<DisclosableCategory, String> {
    if let Ok(category) = text.parse::<DisclosableCategory>() {
        return Ok(category);
    }
    match text.parse::<Category>() {
        Ok(category) => Err(protection_refusal(category)),
        Err(_) => Err(format!(
            "unknown category `{text}`; one of: {}",
            names(DisclosableCategory::ALL)
        )),
    }
}

/// A fingerprint as `streha key show` prints it: 64 hex digits, or the short form
/// `xxxx:xxxx:xxxx:xxxx`; returned in lowercase.
fn parse_fingerprint(text: &str) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let full = lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit());
    let short = lower.len() == 19
        && lower.split(':').count() == 4
        && lower
            .split(':')
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if full || short {
        Ok(lower)
    } else {
        Err(format!(
            "`{text}` is not a fingerprint; give the 64 hex digits or the short form \
             xxxx:xxxx:xxxx:xxxx that `streha key show` prints"
        ))
    }
}

/// A category a clause names: any known name (the clause's own check refuses assistance and
/// protection categories, citing the article).
fn parse_clause_category(text: &str) -> Result<Category, String> {
    text.parse().map_err(|_| {
        format!(
            "unknown category `{text}`; a clause names identification and case categories: \
             identity, contact, identity_documents, case_summary, investigation, \
             victim_status, referral"
        )
    })
}

/// A category a consent names: any category parses (the consent's own check says that only
/// assistance categories can be consented to), but a protection category is refused here.
fn parse_consent_category(text: &str) -> Result<Category, String> {
    let category: Category = text.parse().map_err(|_| {
        format!(
            "unknown category `{text}`; a consent covers assistance categories: medical, \
             psychological, legal_assistance, social_assistance"
        )
    })?;
    if category.is_protection() {
        return Err(protection_refusal(category));
    }
    if !category.is_assistance() {
        return Err(format!(
            "`{category}` is not an assistance category: a consent covers only medical, \
             psychological, legal_assistance and social_assistance (Art. 18.3); \
             identification and case data move under the exchange agreement (Art. 18.2)"
        ));
    }
    Ok(category)
}

/// `CATEGORY:NAME=VALUE` or `CATEGORY:NAME=@FILE`.
///
/// The value is record content: no error repeats it, nor the field's name; the category is
/// named only if it looks like a category name (a short lowercase word), so that a typo is
/// shown and a sentence is not.
pub(crate) fn parse_field(text: &str) -> Result<FieldArg, String> {
    let (category, rest) = text.split_once(':').ok_or_else(|| {
        "a field is CATEGORY:NAME=VALUE (or CATEGORY:NAME=@FILE), e.g. medical:treatment=@notes.txt"
            .to_owned()
    })?;
    let category = if looks_like_a_name(category) {
        parse_disclosable(category)?
    } else {
        return Err(format!(
            "the text before the first `:` is not a category (not shown: it may be record \
             content); write CATEGORY:NAME=VALUE with CATEGORY one of: {}",
            names(DisclosableCategory::ALL)
        ));
    };
    let (name, value) = rest.split_once('=').ok_or_else(|| {
        format!("the `{category}` field has no `=` and so no value; write CATEGORY:NAME=VALUE or CATEGORY:NAME=@FILE")
    })?;
    let value = match value.strip_prefix('@') {
        Some(path) if !path.is_empty() => FieldSource::File(PathBuf::from(path)),
        Some(_) => return Err("`=@` needs a file name, e.g. medical:treatment=@notes.txt".into()),
        None => FieldSource::Inline(value.to_owned()),
    };
    Ok(FieldArg {
        category,
        name: name.to_owned(),
        value,
    })
}

/// Whether `text` could be a category name someone mistyped (and so may be shown).
fn looks_like_a_name(text: &str) -> bool {
    (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Parses `--field` values with [`parse_field`], and reports a refused value without
/// repeating it: clap's own error for a value parser quotes the value, and a field's value
/// is record content, which must not reach a terminal, a shell history of errors or a log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldParser;

impl clap::builder::TypedValueParser for FieldParser {
    type Value = FieldArg;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<FieldArg, clap::Error> {
        let flag = arg.map_or_else(|| "--field".to_owned(), |a| a.to_string());
        let refuse = |problem: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for {flag} (the value is not repeated): {problem}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| {
            refuse("not UTF-8 text; put the value in a file and write CATEGORY:NAME=@FILE".into())
        })?;
        parse_field(text).map_err(refuse)
    }
}

/// `ID=FILE`, for officers.
fn parse_officer_file(text: &str) -> Result<(OfficerId, PathBuf), String> {
    let (id, file) = text
        .split_once('=')
        .filter(|(_, f)| !f.is_empty())
        .ok_or_else(|| format!("`{text}` is not OFFICER-ID=KEY-FILE, e.g. police-officer-1=./keys/police-officer-1.officer.key"))?;
    let id = OfficerId::new(id).map_err(|e| format!("{e}"))?;
    Ok((id, PathBuf::from(file)))
}

/// `subject` or `representative:ID`.
fn parse_grantor(text: &str) -> Result<Grantor, String> {
    if text == "subject" {
        return Ok(Grantor::Subject);
    }
    match text.strip_prefix("representative:") {
        Some(id) => RepresentativeId::new(id)
            .map(Grantor::Representative)
            .map_err(|e| e.to_string()),
        None => Err(format!(
            "`{text}` is not a grantor; write `subject` or `representative:ID` (for a child, \
             only a registered legal representative's consent counts, Art. 18.3, 38.5)"
        )),
    }
}

/// `agency:ID` or `role:ROLE`.
fn parse_recipient(text: &str) -> Result<Recipient, String> {
    if let Some(id) = text.strip_prefix("agency:") {
        return AgencyId::new(id)
            .map(Recipient::Agency)
            .map_err(|e| e.to_string());
    }
    if let Some(role) = text.strip_prefix("role:") {
        return parse_role(role).map(Recipient::Role);
    }
    Err(format!(
        "`{text}` is not a recipient; write agency:ID (e.g. agency:police-prishtina) or \
         role:ROLE (e.g. role:centre_for_social_work)"
    ))
}

/// A time for a flag.
fn parse_time(text: &str) -> Result<Timestamp, String> {
    crate::util::parse_time(text)
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

    #[test]
    fn fields_parse_and_protection_is_refused_with_the_article() {
        assert_eq!(
            parse_field("medical:treatment=needs follow-up").unwrap(),
            FieldArg {
                category: DisclosableCategory::Medical,
                name: "treatment".into(),
                value: FieldSource::Inline("needs follow-up".into()),
            }
        );
        assert_eq!(
            parse_field("identity:given_name=@name.txt").unwrap().value,
            FieldSource::File("name.txt".into())
        );
        assert_eq!(
            parse_field("case_summary:note=a=b").unwrap().value,
            FieldSource::Inline("a=b".into())
        );
        for protection in [
            "protection_measures",
            "protector_identity",
            "assistant_identity",
            "shelter_location",
        ] {
            let err = parse_field(&format!("{protection}:x=y")).unwrap_err();
            assert!(err.contains("Art. 18.4"), "{err}");
            assert!(err.contains(protection), "{err}");
        }
        assert!(parse_field("nonsense:x=y").unwrap_err().contains("one of"));
        assert!(parse_field("medical").is_err());
        assert!(parse_field("medical:x").is_err());
        assert!(parse_field("medical:x=@").is_err());
    }

    #[test]
    fn a_refused_field_value_is_never_repeated_in_the_error() {
        use clap::Parser as _;
        // Each is refused; none of the secret words may appear in what clap prints.
        for value in [
            "the victim said SECRETWORD at the border",
            "Patient SECRETWORD: stage 2",
            "medical:SECRETWORD diagnosis",
            "protection_measures:safe_house=SECRETWORD",
            "medical:x=@",
        ] {
            let args = [
                "streha",
                "send",
                "--subject",
                "0123456789abcdef0123456789abcdef",
                "--to",
                "police",
                "--purpose",
                "assistance",
                "--field",
                value,
            ];
            let err = Cli::try_parse_from(args).expect_err(value);
            let printed = err.render().to_string();
            assert!(!printed.contains("SECRETWORD"), "{value}: {printed}");
            assert!(printed.contains("--field"), "{printed}");
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{printed}"
            );
        }
        // A mistyped category is named: it is not content.
        let err = Cli::try_parse_from([
            "streha",
            "send",
            "--subject",
            "0123456789abcdef0123456789abcdef",
            "--to",
            "police",
            "--purpose",
            "assistance",
            "--field",
            "medcal:x=SECRETWORD",
        ])
        .unwrap_err()
        .render()
        .to_string();
        assert!(
            err.contains("`medcal`") && !err.contains("SECRETWORD"),
            "{err}"
        );
    }

    #[test]
    fn grantors_recipients_and_consent_categories() {
        assert_eq!(parse_grantor("subject").unwrap(), Grantor::Subject);
        assert_eq!(
            parse_valid_for("90d").unwrap(),
            ValidFor::Millis(90 * 86_400_000)
        );
        assert_eq!(
            parse_valid_for("36h").unwrap(),
            ValidFor::Millis(36 * 3_600_000)
        );
        assert_eq!(
            parse_valid_for("30m").unwrap(),
            ValidFor::Millis(30 * 60_000)
        );
        assert_eq!(parse_valid_for("never").unwrap(), ValidFor::Never);
        for bad in [
            "",
            "d",
            "0d",
            "90",
            "90s",
            "-1d",
            "1.5d",
            "99999999999999999d",
        ] {
            assert!(parse_valid_for(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_grantor("representative:guardian-1").unwrap(),
            Grantor::Representative(RepresentativeId::new("guardian-1").unwrap())
        );
        assert!(parse_grantor("guardian").is_err());
        assert_eq!(
            parse_recipient("role:police").unwrap(),
            Recipient::Role(Role::Police)
        );
        assert!(
            parse_recipient("role:nobody")
                .unwrap_err()
                .contains("one of")
        );
        assert!(parse_recipient("police").is_err());
        assert_eq!(
            parse_consent_category("medical").unwrap(),
            Category::Medical
        );
        assert!(
            parse_consent_category("shelter_location")
                .unwrap_err()
                .contains("Art. 18.4")
        );
        assert!(
            parse_consent_category("identity")
                .unwrap_err()
                .contains("Art. 18.2")
        );
    }
}
