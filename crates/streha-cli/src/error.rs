//! The errors of the `streha` command, split by who must act, and their one mapping to exit
//! codes.
//!
//! Commands return [`CliError`]. [`CliError::exit_code`] is the only place that turns an
//! outcome into a process exit status; `main` calls it and nothing else picks a code.

use std::fmt;

/// Exit status: the command did what was asked.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the command was valid but failed while running.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit status: the command line or configuration is wrong; nothing was changed.
pub(crate) const EXIT_USAGE: u8 = 2;

/// The exit statuses, for `--help` (kept next to the codes they describe).
pub(crate) const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  the command was valid but failed: a file could not be read or written, or a key file
     is malformed
  2  usage or configuration error: a bad flag or value, an invalid name, or a key file that
     already exists without --force; nothing was written";

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The command line or a configuration value is wrong, and the person running the
    /// command must change it. The message names the problem and the fix. Nothing was
    /// written.
    Usage(String),
    /// The command was valid but failed while running: an IO error, a malformed input file.
    /// The error carries its context chain ("cannot write keys/x.key: …").
    Failure(anyhow::Error),
}

impl CliError {
    /// A [`CliError::Usage`] with this message.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// The process exit status for this error: the one mapping from errors to exit codes.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Failure(_) => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => f.write_str(message),
            // `{:#}` prints anyhow's whole context chain on one line: "a: b: c".
            Self::Failure(error) => write!(f, "{error:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        Self::Failure(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let usage = CliError::usage("x exists; pass --force");
        assert_eq!(usage.exit_code(), EXIT_USAGE);
        assert_eq!(usage.to_string(), "x exists; pass --force");

        let failure = CliError::from(anyhow::anyhow!("disk full").context("cannot write x"));
        assert_eq!(failure.exit_code(), EXIT_FAILURE);
        assert_eq!(failure.to_string(), "cannot write x: disk full");
        assert_ne!(EXIT_OK, EXIT_FAILURE);
    }
}
