//! Why a request failed, split by fault, and the one mapping to the wire.

use streha_store::StoreError;
use streha_wire::text::Untrusted;
use streha_wire::{ErrorCode, RemoteError};

/// A request failure. Messages go to the caller: they say what was wrong and never carry
/// record content, key bytes or local paths. A message may quote what a peer sent, so it
/// is shown with its control characters escaped ([`Untrusted`]) wherever it goes: the
/// operator's log, the wire (where [`RemoteError::new`] also cuts it to the text cap).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Failure {
    #[error("{}", Untrusted(.0))]
    BadRequest(String),
    #[error("{}", Untrusted(.0))]
    Unauthorized(String),
    #[error("{}", Untrusted(.0))]
    NotFound(String),
    #[error("{}", Untrusted(.0))]
    Conflict(String),
    #[error("{}", Untrusted(.0))]
    Verification(String),
    #[error("{}", Untrusted(.0))]
    Unavailable(String),
    #[error("{}", Untrusted(.0))]
    Internal(String),
}

impl Failure {
    /// The wire form: the only place errors meet the outside.
    pub(crate) fn to_remote(&self) -> RemoteError {
        let code = match self {
            Failure::BadRequest(_) => ErrorCode::BadRequest,
            Failure::Unauthorized(_) => ErrorCode::Unauthorized,
            Failure::NotFound(_) => ErrorCode::NotFound,
            Failure::Conflict(_) => ErrorCode::Conflict,
            Failure::Verification(_) => ErrorCode::VerificationFailed,
            Failure::Unavailable(_) => ErrorCode::Unavailable,
            Failure::Internal(_) => ErrorCode::Internal,
        };
        RemoteError::new(code, self.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        // The detail (paths, sled errors) goes to the operator's log, not to the caller.
        tracing::error!(error = %error, "storage failure");
        match error {
            StoreError::GuardFailed(_) => {
                Failure::Conflict("the request conflicts with a concurrent one; retry".into())
            }
            StoreError::EntryTooLarge { len, max } => Failure::BadRequest(format!(
                "the audit entry would be {len} bytes, over the limit of {max}"
            )),
            StoreError::OutOfRange { .. } => {
                Failure::NotFound("no such entry or tree size in this log".into())
            }
            // Never "nothing was recorded" unless that is known: a failed commit may still
            // reach the disk; only a request refused after the failure is known unwritten.
            StoreError::CommitFailed(_) => Failure::Unavailable(
                "the node's storage failed while recording this request: whether it was \
                 recorded is unknown until the node has restarted from its disk; retry the \
                 same request (or ask its status) once the node is back"
                    .into(),
            ),
            // A body could not be written: refused before the commit, so known unwritten.
            StoreError::BodyNotWritten { full: true, .. } => Failure::Unavailable(
                "the node's disk is full: this request was not recorded; retry it once the \
                 operator has freed space"
                    .into(),
            ),
            StoreError::Poisoned => Failure::Unavailable(
                "the node's storage failed and the node is restarting from its disk; this \
                 request was not recorded; retry it once the node is back"
                    .into(),
            ),
            _ => Failure::Internal("the node's storage reported an error; see its log".into()),
        }
    }
}
