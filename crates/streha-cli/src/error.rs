//! The errors of the `streha` command, split by who must act, and their one mapping to exit
//! codes.
//!
//! Commands return [`CliError`]. [`CliError::exit_code`] is the only place that turns an
//! outcome into a process exit status; `main` calls it and nothing else picks a code.
//! [`from_client`] is the only place that sorts the client library's errors into these
//! classes (by [`streha_client::Fault`]).

use std::fmt;

use streha_client::{ClientError, Fault};
use streha_wire::ErrorCode;

/// Exit status: the command did what was asked.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the command was valid but failed while running.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit status: the command line or configuration is wrong; nothing was changed.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status: the disclosure policy refused (Law 04/L-218); the refusal is logged.
pub(crate) const EXIT_REFUSED: u8 = 3;
/// Exit status: something did not verify (a signature, a proof, a checkpoint).
pub(crate) const EXIT_VERIFICATION: u8 = 4;

/// The exit statuses, for `--help` (kept next to the codes they describe).
pub(crate) const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  the command was valid but failed while running: a file could not be read or written,
     the node could not be reached or is unavailable, a demo step did not behave as stated
  2  usage or configuration error: a bad flag or value, a wrong or unreadable key file, a
     file that exists without --force, something the node does not know (an unknown
     subject or consent); nothing was changed
  3  the disclosure policy refused (Law No. 04/L-218); the refusal is logged at the node
  4  verification failed: a roster, checkpoint, proof or envelope did not verify, or a
     received record broke its declaration (a security event)
Output to a closed pipe (`| head`) is not an error: the command stops writing and exits
with the status its work earned.";

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The command line or a configuration value is wrong, and the person running the
    /// command must change it. The message names the problem and the fix. Nothing was
    /// written.
    Usage(String),
    /// The command was valid but failed while running: an IO error, a malformed input file,
    /// an unreachable node. The error carries its context chain ("cannot write x: …").
    Failure(anyhow::Error),
    /// The policy refused a disclosure; the message carries the reason, its article, and
    /// the index of the `refused` entry in the node's log.
    Refused(String),
    /// Something that must verify did not: an unsigned or badly signed roster, a
    /// checkpoint, a proof, an envelope. A security event, or a wrong key file.
    Verification(anyhow::Error),
}

impl CliError {
    /// A [`CliError::Usage`] with this message.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// A [`CliError::Verification`] with this message.
    pub(crate) fn verification(message: impl Into<String>) -> Self {
        Self::Verification(anyhow::anyhow!(message.into()))
    }

    /// The process exit status for this error: the one mapping from errors to exit codes.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Failure(_) => EXIT_FAILURE,
            Self::Refused(_) => EXIT_REFUSED,
            Self::Verification(_) => EXIT_VERIFICATION,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) | Self::Refused(message) => f.write_str(message),
            // `{:#}` prints anyhow's whole context chain on one line: "a: b: c".
            Self::Failure(error) | Self::Verification(error) => write!(f, "{error:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        Self::Failure(error)
    }
}

/// Sorts an error of the client library by who must act, with `doing` ("cannot register
/// the subject") in front of its message.
pub(crate) fn from_client(doing: &str, error: ClientError) -> CliError {
    let message = format!("{doing}: {error}");
    match error.fault() {
        Fault::Policy => CliError::Refused(message),
        Fault::Verification | Fault::Sender => CliError::Verification(anyhow::anyhow!(message)),
        Fault::Local => CliError::Usage(message),
        Fault::Node => match error.remote_code() {
            Some(
                ErrorCode::BadRequest
                | ErrorCode::NotFound
                | ErrorCode::Conflict
                | ErrorCode::Unauthorized,
            ) => CliError::Usage(message),
            Some(ErrorCode::VerificationFailed) => CliError::Verification(anyhow::anyhow!(message)),
            _ => CliError::Failure(anyhow::anyhow!(
                "{message}; the node may be busy or restarting: retry later"
            )),
        },
        // The client's transport errors say themselves what to check (a refused connection,
        // a timeout, a busy node): adding a hint here would print it twice.
        Fault::Transport => CliError::Failure(anyhow::anyhow!(message)),
        _ => CliError::Failure(anyhow::anyhow!(message)),
    }
}

#[cfg(test)]
mod tests {
    use streha_core::{Category, RefusalReason};
    use streha_wire::RemoteError;

    use super::*;

    #[test]
    fn codes_and_messages() {
        let usage = CliError::usage("x exists; pass --force");
        assert_eq!(usage.exit_code(), EXIT_USAGE);
        assert_eq!(usage.to_string(), "x exists; pass --force");

        let failure = CliError::from(anyhow::anyhow!("disk full").context("cannot write x"));
        assert_eq!(failure.exit_code(), EXIT_FAILURE);
        assert_eq!(failure.to_string(), "cannot write x: disk full");
        assert_eq!(CliError::verification("bad").exit_code(), EXIT_VERIFICATION);
        assert_ne!(EXIT_OK, EXIT_FAILURE);
    }

    #[test]
    fn client_errors_are_sorted_by_fault() {
        let refused = from_client(
            "cannot send",
            ClientError::Refused {
                reason: RefusalReason::ProtectionCategory {
                    category: Category::ShelterLocation,
                },
                log_index: 4,
            },
        );
        assert_eq!(refused.exit_code(), EXIT_REFUSED);
        assert!(refused.to_string().starts_with("cannot send: "));
        assert!(refused.to_string().contains("index 4"));

        let unknown = from_client(
            "cannot grant",
            ClientError::Remote(RemoteError::new(ErrorCode::NotFound, "no such subject")),
        );
        assert_eq!(unknown.exit_code(), EXIT_USAGE);
        let busy = from_client(
            "cannot grant",
            ClientError::Remote(RemoteError::new(ErrorCode::Unavailable, "busy")),
        );
        assert_eq!(busy.exit_code(), EXIT_FAILURE);
        assert!(busy.to_string().contains("retry later"));
    }
}
