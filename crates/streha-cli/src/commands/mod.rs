//! The commands. Each takes its parsed arguments and returns `Result<(), CliError>`; none
//! picks an exit code or exits the process.

mod audit;
pub(crate) mod audit_offline;
mod consent;
pub(crate) mod demo;
mod inbox;
mod key;
mod keygen;
pub(crate) mod node;
mod operations;
pub(crate) mod roster;
mod send;
mod subject;

use std::path::Path;

use crate::cli::{
    AuditCommand, Command, ConsentCommand, DeliveryCommand, InboxCommand, KeyCommand, NodeCommand,
    RosterCommand, SubjectCommand, WitnessCommand,
};
use crate::error::CliError;

/// Runs one parsed command; `profile` is the client profile of the commands that talk to a
/// node.
pub(crate) fn run(command: &Command, profile: &Path) -> Result<(), CliError> {
    match command {
        Command::Keygen(args) => keygen::run(args),
        Command::Key(KeyCommand::Show(args)) => key::show(args),
        Command::Roster(RosterCommand::Init(args)) => roster::init(args),
        Command::Roster(RosterCommand::Add(args)) => roster::add(args),
        Command::Roster(RosterCommand::Remove(args)) => roster::remove(args),
        Command::Roster(RosterCommand::Sign(args)) => roster::sign(args),
        Command::Roster(RosterCommand::Verify(args)) => roster::verify(args),
        Command::Roster(RosterCommand::Show(args)) => roster::show(args),
        Command::Node(NodeCommand::Init(args)) => node::init(args),
        Command::Subject(SubjectCommand::Register(args)) => subject::register(profile, args),
        Command::Subject(SubjectCommand::Rekey(args)) => subject::rekey(profile, args),
        Command::Consent(ConsentCommand::Grant(args)) => consent::grant(profile, args),
        Command::Consent(ConsentCommand::Revoke(args)) => consent::revoke(profile, args),
        Command::Consent(ConsentCommand::List(args)) => consent::list(profile, args),
        Command::Send(args) => send::run(profile, args),
        Command::Inbox(InboxCommand::List(args)) => inbox::list(profile, args),
        Command::Inbox(InboxCommand::Open(args)) => inbox::open(profile, args),
        Command::Audit(AuditCommand::Checkpoint(args)) => audit::checkpoint(profile, args),
        Command::Audit(AuditCommand::Prove(args)) => audit::prove(profile, args),
        Command::Audit(AuditCommand::Export(args)) => audit::export(profile, args),
        Command::Audit(AuditCommand::Verify(args)) => audit_offline::verify_bundles(args),
        Command::Audit(AuditCommand::Subject(args)) => audit_offline::subject(args),
        Command::Audit(AuditCommand::CheckProof(args)) => audit_offline::check(args),
        Command::Delivery(DeliveryCommand::Held(args)) => operations::held(profile, args),
        Command::Witness(WitnessCommand::Evidence(args)) => operations::evidence(profile, args),
        Command::Demo(args) => demo::run(args),
        Command::Api(args) => streha_api::command::run(&args.args).map_err(|e| match e {
            streha_api::command::CommandError::Usage(message) => CliError::usage(message),
            other => CliError::Failure(anyhow::anyhow!("{other}")),
        }),
    }
}
