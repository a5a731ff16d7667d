//! The commands. Each takes its parsed arguments and returns `Result<(), CliError>`; none
//! picks an exit code or exits the process.

mod admin;
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

use crate::cli::{
    AdminCommand, AuditCommand, Command, ConsentCommand, DeliveryCommand, InboxCommand, KeyCommand,
    NodeCommand, RosterClauseCommand, RosterCommand, SubjectCommand, WitnessCommand,
};
use crate::error::CliError;

/// Runs one parsed command. Only the commands that talk to a node read a client profile
/// (their `--profile`).
pub(crate) fn run(command: &Command) -> Result<(), CliError> {
    match command {
        Command::Keygen(args) => keygen::run(args),
        Command::Key(KeyCommand::Show(args)) => key::show(args),
        Command::Roster(RosterCommand::Init(args)) => roster::init(args),
        Command::Roster(RosterCommand::Add(args)) => roster::add(args),
        Command::Roster(RosterCommand::Remove(args)) => roster::remove(args),
        Command::Roster(RosterCommand::Clause(RosterClauseCommand::Add(args))) => {
            roster::clause_add(args)
        }
        Command::Roster(RosterCommand::Clause(RosterClauseCommand::Remove(args))) => {
            roster::clause_remove(args)
        }
        Command::Roster(RosterCommand::Sign(args)) => roster::sign(args),
        Command::Roster(RosterCommand::Verify(args)) => roster::verify(args),
        Command::Roster(RosterCommand::Show(args)) => roster::show(args),
        Command::Node(NodeCommand::Init(args)) => node::init(args),
        Command::Subject(SubjectCommand::Register(args)) => {
            subject::register(&args.profile.profile, args)
        }
        Command::Subject(SubjectCommand::Rekey(args)) => {
            subject::rekey(&args.profile.profile, args)
        }
        Command::Subject(SubjectCommand::AddRepresentative(args)) => {
            subject::add_representative(&args.profile.profile, args)
        }
        Command::Subject(SubjectCommand::Age(args)) => subject::age(&args.profile.profile, args),
        Command::Consent(ConsentCommand::Grant(args)) => {
            consent::grant(&args.profile.profile, args)
        }
        Command::Consent(ConsentCommand::Revoke(args)) => {
            consent::revoke(&args.profile.profile, args)
        }
        Command::Consent(ConsentCommand::List(args)) => consent::list(&args.profile.profile, args),
        Command::Send(args) => send::run(&args.profile.profile, args),
        Command::Inbox(InboxCommand::List(args)) => inbox::list(&args.profile.profile, args),
        Command::Inbox(InboxCommand::Open(args)) => inbox::open(&args.profile.profile, args),
        Command::Audit(AuditCommand::Checkpoint(args)) => {
            audit::checkpoint(&args.profile.profile, args)
        }
        Command::Audit(AuditCommand::Prove(args)) => audit::prove(&args.profile.profile, args),
        Command::Audit(AuditCommand::Export(args)) => audit::export(&args.profile.profile, args),
        Command::Audit(AuditCommand::Verify(args)) => audit_offline::verify_bundles(args),
        Command::Audit(AuditCommand::Subject(args)) => audit_offline::subject(args),
        Command::Audit(AuditCommand::CheckProof(args)) => audit_offline::check(args),
        Command::Admin(AdminCommand::Backup(args)) => admin::backup(args),
        Command::Admin(AdminCommand::Restore(args)) => admin::restore(args),
        Command::Admin(AdminCommand::Recover(args)) => admin::recover(args),
        Command::Delivery(DeliveryCommand::Held(args)) => {
            operations::held(&args.profile.profile, args)
        }
        Command::Delivery(DeliveryCommand::Status(args)) => {
            operations::status(&args.profile.profile, args)
        }
        Command::Witness(WitnessCommand::Evidence(args)) => {
            operations::evidence(&args.profile.profile, args)
        }
        Command::Witness(WitnessCommand::Serve(args)) => {
            match streha_witness::server::main_with_config(&args.config) {
                0 => Ok(()),
                code => std::process::exit(code),
            }
        }
        Command::Witness(WitnessCommand::Vkey(args)) => {
            let config = streha_witness::server::WitnessConfig::load(&args.config)
                .map_err(|e| CliError::usage(e.to_string()))?;
            crate::util::print_lines(&[config.vkey()])
        }
        Command::Demo(args) => demo::run(args),
        Command::Api(args) => streha_api::command::run(&args.args).map_err(|e| match e {
            streha_api::command::CommandError::Usage(message) => CliError::usage(message),
            other => CliError::Failure(anyhow::anyhow!("{other}")),
        }),
    }
}
