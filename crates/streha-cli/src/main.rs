//! `streha`: the command-line tool of Streha.
//!
//! Streha lets the authorities that identify, assist and protect victims of trafficking
//! exchange records end to end encrypted and consent-scoped, with an audit log anyone can
//! verify. This binary is the operator's tool. Today it manages keys:
//!
//! - `streha keygen --agency NAME --out DIR [--force]` writes an agency's three key pairs
//!   (node identity, agency signing, agency encryption) as `DIR/NAME.<kind>.key` (secret,
//!   mode 0600) and `DIR/NAME.<kind>.pub`, and prints their fingerprints for the roster;
//! - `streha keygen --kind roster|application|officer --name NAME --out DIR [--force]`
//!   writes one key pair of that kind;
//! - `streha key show FILE` prints a key file's kind, part and fingerprint, never its secret.
//!
//! The roster, consent, send, inbox, audit and demo commands arrive with their issues.
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
//! | 1 | the command was valid but failed: a file could not be read or written, a key file is malformed |
//! | 2 | usage or configuration error: a bad flag or value, an invalid name, a key file that exists without `--force`; nothing was written |
//!
//! Errors are printed to standard error as one line that says what was wrong and what to do.
//! Nothing this tool prints contains secret key bytes.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;

use std::process::ExitCode;

use clap::Parser as _;

use crate::error::{EXIT_OK, EXIT_USAGE};

fn main() -> ExitCode {
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
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
