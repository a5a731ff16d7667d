//! `streha`: the command-line tool of Streha.
//!
//! Streha lets the authorities that identify, assist and protect victims of trafficking
//! exchange records end to end encrypted and consent-scoped, with an audit log anyone can
//! verify. This binary is the tool of everyone who is not a program:
//!
//! - **the national authority**: `keygen --kind roster`, `roster init|add|remove|sign|verify|show`;
//! - **agency operators**: `keygen --agency`, `key show`, `node init` (writes `node.toml` and
//!   the application's `client.toml`);
//! - **officers and scripts acting as the agency's application** (through `client.toml`):
//!   `subject register|add-representative|age|rekey`, `consent grant|revoke|list`, `send`,
//!   `inbox list|open`, `delivery status|held`, `witness evidence`,
//!   `audit checkpoint|prove|export`;
//! - **data-protection officers**, offline: `audit verify|subject|check-proof`;
//! - **newcomers**: `demo`, a three-agency federation on 127.0.0.1 running a scripted
//!   scenario.
//!
//! Run under the name `strehad` (a symbolic link to this binary, or the demo's child
//! processes), it is the node daemon: `streha_node::daemon_main`, the same entry point as
//! the `strehad` binary of `streha-node`.
//!
//! # Structure
//!
//! `main` only parses ([`cli`], one clap definition per flag, which also drives `--help`),
//! runs the command ([`commands`]) and maps the outcome to an exit status
//! ([`error::CliError::exit_code`], the only such mapping). `anyhow` is used here, in the
//! binary, and nowhere in Streha's libraries.
//!
//! # Exit status
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (also `--help` and `--version`) |
//! | 1 | the command was valid but failed while running: IO, an unreachable or unavailable node, a demo step that did not behave as stated |
//! | 2 | usage or configuration error: a bad flag or value, a wrong or unreadable key file, a file that exists without `--force`, something the node does not know; nothing was changed |
//! | 3 | the disclosure policy refused; the refusal is logged at the node |
//! | 4 | verification failed: an unsigned or badly signed roster, a checkpoint, proof or envelope that does not verify, a received record that breaks its declaration |
//!
//! Errors are printed to standard error as one line that says what was wrong and what to do.
//! Output to a reader that went away (`streha … | head`, with or without `2>&1`) is not an
//! error: the command stops writing, never panics, and exits with the status above that its
//! work earned.
//! Nothing this tool prints contains secret key bytes, and only `inbox open` prints record
//! content (that is its job).
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod profile;
mod util;

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser as _;

use crate::error::{EXIT_OK, EXIT_USAGE};

/// The name under which this binary is the node daemon.
pub(crate) const DAEMON_NAME: &str = "strehad";

fn main() -> ExitCode {
    // Multi-call: invoked as `strehad`, run the daemon's own command line.
    let invoked_as = std::env::args_os().next();
    if invoked_as
        .as_deref()
        .and_then(|arg0| Path::new(arg0).file_name())
        .is_some_and(|name| name == OsStr::new(DAEMON_NAME))
    {
        return streha_node::daemon_main();
    }

    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version requests are not errors; clap prints them to stdout.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    match commands::run(&cli.command) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(error) => {
            util::print_stderr(&format!("error: {error}"));
            ExitCode::from(error.exit_code())
        }
    }
}
