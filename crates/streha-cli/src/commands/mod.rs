//! The commands. Each takes its parsed arguments and returns `Result<(), CliError>`; none
//! picks an exit code or exits the process.

mod key;
mod keygen;

use crate::cli::{Command, KeyCommand};
use crate::error::CliError;

/// Runs one parsed command.
pub(crate) fn run(command: &Command) -> Result<(), CliError> {
    match command {
        Command::Keygen(args) => keygen::run(args),
        Command::Key(KeyCommand::Show(args)) => key::show(args),
    }
}
