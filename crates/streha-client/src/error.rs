//! The one error type of the client, split by who is at fault.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use streha_audit::{BundleError, CheckpointError, VerifyError};
use streha_core::{
    AgencyId, Category, CategorySet, ConsentError, EnvelopeId, HeaderError, OfficerId, RecordError,
    RefusalReason, ViolationKind,
};
use streha_crypto::{EnvelopeError, KeyFileError};
use streha_transport::StreamError;
use streha_wire::{ErrorCode, RemoteError, RosterError};

/// Who is at fault for a [`ClientError`], and so who must act: the one mapping from errors
/// to what an application does next (retry, fix its input, alert security, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The network or the node's availability: retry later (a submitted disclosure is
    /// idempotent by envelope id, so resubmitting the same [`SealedDisclosure`] is safe).
    ///
    /// [`SealedDisclosure`]: crate::SealedDisclosure
    Transport,
    /// The node answered with an error ([`ErrorCode`] says which kind).
    Node,
    /// The policy refused the disclosure (Law 04/L-218); the refusal is logged. Nothing left.
    Policy,
    /// Something the node (or a peer through it) sent did not verify: a security event.
    Verification,
    /// The application misused the library or is misconfigured: fix the call or the keys.
    Local,
    /// A received record broke its declaration: a provable violation by the sender.
    Sender,
}

/// Why a client operation failed.
///
/// Variants are grouped by [`Fault`] ([`ClientError::fault`]). Messages say what was wrong and
/// what to do; they never carry record content or key material (key files are named by path,
/// keys by their role).
///
/// # Refusals
///
/// A disclosure the node's policy refuses comes back as [`ClientError::Refused`] with the
/// exact [`RefusalReason`] (one variant per rule) and the index of the `refused` entry in the
/// node's log; nothing was queued. A few rules the client can check itself, before sealing:
/// then nothing reaches the node, nothing is logged, and the error is a local one
/// ([`Fault::Local`], [`ClientError::refusal`] is `None`):
///
/// | the node would refuse with | the client refuses first with |
/// | --- | --- |
/// | [`RefusalReason::ProtectionCategory`] | [`ClientError::ProtectionCategory`] (the typed builder cannot name one; a run-time check besides) |
/// | [`RefusalReason::ContentMismatch`] (the node never sees content: it is the receiving application that checks, [`ClientError::Violation`]) | [`ClientError::DeclarationMismatch`] (the builder declares exactly the record's categories; a run-time check besides) |
/// | [`RefusalReason::UnknownRecipient`] | [`ClientError::UnknownRecipient`] (sealing needs the recipient's key from the roster) |
/// | [`RefusalReason::RecipientIsSender`] | [`ClientError::RecipientIsSender`] |
/// | [`RefusalReason::UnknownSender`] (the node answers [`ErrorCode::Unauthorized`] for another sender, before the policy) | [`ClientError::WrongSender`], [`ClientError::AgencyNotInRoster`] |
/// | [`RefusalReason::UrgentDangerNeedsTwoApprovers`] (it counts only approvals that verify) | [`ClientError::UnknownOfficer`], [`ClientError::InvalidApproval`] for an approval that would not count; a duplicate officer is [`ClientError::Approval`] |
///
/// Every other reason is decided by the node only (it holds the subjects, consents and the
/// roster's agreement). `tests/tests/refusals.rs` drives each reason reachable at the
/// sending node end to end.
///
/// A consent the node refuses to record (`streha_core::check_grant`: a child's own consent,
/// an unregistered representative, a re-keyed id, an agency not in the roster) comes back as
/// [`ClientError::ConsentRefused`], with the reason and the index of the `consent_refused`
/// entry; nothing was recorded. The client does not check these itself: the node holds the
/// subject, and its roster may be newer than the client's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    // ----- Transport: the connection to the node -------------------------------------------
    /// No UDP socket could be opened for QUIC.
    #[error("cannot open a UDP socket for QUIC: {0}")]
    Socket(#[source] std::io::Error),
    /// The TLS configuration could not be built from the application key.
    #[error("cannot build the TLS configuration from the application key: {0}")]
    Tls(#[source] rustls::Error),
    /// The connection attempt could not even start (e.g. an unusable address).
    #[error("cannot connect to the node at {address}: {source}")]
    Connect {
        /// The node's address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: quinn::ConnectError,
    },
    /// Nothing listens at the node's address: its host refused the connection (ICMP port
    /// unreachable), so the client did not wait for the handshake timeout.
    #[error(
        "nothing listens at {address} (connection refused): check that the node is running (strehad) and that `node_address` is its `app_listen` address"
    )]
    ConnectionRefused {
        /// The node's address.
        address: SocketAddr,
    },
    /// The node refused the connection for one of its limits (connections, handshakes in
    /// progress).
    #[error("the node at {address} refused the connection: {reason}")]
    NodeBusy {
        /// The node's address.
        address: SocketAddr,
        /// The limit, in the node's words.
        reason: String,
    },
    /// The QUIC/TLS handshake with the node failed or the connection was lost, for a
    /// reason not told apart by the variants above and below.
    #[error(
        "the connection to the node at {address} failed: {source}; check that the node runs at this address"
    )]
    Handshake {
        /// The node's address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: quinn::ConnectionError,
    },
    /// The node did not complete the handshake in time (and its host did not refuse it).
    #[error(
        "nothing answered at {address} within {timeout:?}: check that the node is running there, that `node_address` is its `app_listen` address, and that no firewall drops UDP to it"
    )]
    ConnectTimeout {
        /// The node's address.
        address: SocketAddr,
        /// The configured request timeout.
        timeout: Duration,
    },
    /// A request/response exchange failed (timeout, stream reset, bad frame).
    #[error("the request to the node failed: {0}")]
    Transport(#[from] StreamError),

    // ----- Node: the node answered with an error --------------------------------------------
    /// The node answered the request with an error.
    #[error("the node refused the request ({code:?}): {message}", code = .0.code, message = streha_wire::text::Untrusted(&.0.message))]
    Remote(#[source] RemoteError),

    /// The node's latest checkpoint was not cosigned by its witnesses (published) within the
    /// time given: an export that ends there could not be checked with witnesses required.
    #[error(
        "the node's checkpoint of size {latest} was not cosigned by its witnesses in time (published: {}); check that the witnesses (peers, independent witnesses) are reachable, then export again",
        published.map_or_else(|| "nothing".to_owned(), |size| format!("size {size}"))
    )]
    NotCosigned {
        /// The size of the latest checkpoint when the export began.
        latest: u64,
        /// The size of the published checkpoint at the deadline, if any.
        published: Option<u64>,
    },

    // ----- Policy ---------------------------------------------------------------------------
    /// The policy refused the disclosure. The refusal is logged at `log_index` in the node's
    /// audit log; nothing left the agency. `reason` is the exact rule that failed.
    #[error("the disclosure was refused (logged at index {log_index}): {reason}")]
    Refused {
        /// The exact reason (it cites the article of Law 04/L-218).
        reason: RefusalReason,
        /// Index of the `refused` entry in the node's audit log.
        log_index: u64,
    },
    /// The policy refused to record the consent (`streha_core::check_grant`). The refusal is
    /// logged at `log_index` in the node's audit log; nothing was recorded.
    #[error("consent {consent} was not recorded: refused (logged at index {log_index}): {reason}")]
    ConsentRefused {
        /// The consent's id (drawn by the client).
        consent: streha_core::ConsentId,
        /// The exact reason (it cites the article of Law 04/L-218).
        reason: RefusalReason,
        /// Index of the `consent_refused` entry in the node's audit log.
        log_index: u64,
    },

    // ----- Verification: what the node sent does not hold -----------------------------------
    /// The roster the node serves is not validly signed by the configured roster key, is
    /// malformed, or is older than the roster in use.
    #[error("the node's roster was refused: {0}")]
    Roster(#[source] RosterError),
    /// The node's checkpoint is malformed or not signed by the node's key under its log
    /// origin.
    #[error(
        "the node's checkpoint does not verify: {0}; the node's log cannot be trusted until this is explained"
    )]
    Checkpoint(#[source] CheckpointError),
    /// The checkpoint is validly signed but for another log.
    #[error("the node's checkpoint is for the log `{found}`, not `{expected}`")]
    CheckpointOrigin {
        /// The origin this client expects (`streha/<federation>/<agency>`).
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// An inclusion proof did not verify against the signed checkpoint.
    #[error(
        "the proof that entry {index} is in the node's log does not verify: {source}; the node's log cannot be trusted until this is explained"
    )]
    InclusionProof {
        /// The entry index.
        index: u64,
        /// Why.
        #[source]
        source: VerifyError,
    },
    /// Two signed checkpoints of the node are not consistent: the log was rewritten or the
    /// node shows different logs to different parties (a split view).
    #[error(
        "the node's checkpoints of sizes {old_size} and {new_size} are not consistent: {source}; report this as a security event"
    )]
    Inconsistent {
        /// The smaller size.
        old_size: u64,
        /// The larger size.
        new_size: u64,
        /// Why.
        #[source]
        source: VerifyError,
    },
    /// The exported log bundle did not verify.
    #[error("the node's log bundle does not verify: {0}")]
    Bundle(#[source] BundleError),
    /// An envelope from the inbox did not open (bad signature, altered, not for this key).
    /// Not reported as a violation: without a valid sender signature nothing is provable.
    #[error("envelope {envelope} does not open: {source}")]
    Envelope {
        /// The envelope.
        envelope: EnvelopeId,
        /// The first check that failed.
        #[source]
        source: EnvelopeError,
    },
    /// An envelope names a sender agency that is not in the roster.
    #[error(
        "envelope {envelope} names the sender `{agency}`, which is not in the roster; refresh the roster, or report it"
    )]
    UnknownSender {
        /// The envelope.
        envelope: EnvelopeId,
        /// The agency it names.
        agency: AgencyId,
    },
    /// The node answered with something that does not fit the request.
    #[error("the node's answer to {request} is invalid: {problem}")]
    InvalidResponse {
        /// The request.
        request: &'static str,
        /// What is wrong (no content).
        problem: String,
    },

    /// The server at the node's address presented another key than the configured node
    /// key: the address is another node's, or the configured key is not this node's — or
    /// something impersonates the node.
    #[error(
        "the server at {address} presented the node key with fingerprint {presented}, but this client pins the node key with fingerprint {expected}: either `node_address` is another node's address, or the configured `node_key` is not this node's key (compare with `streha key show` on the node's key and with the roster); if both are right, something at this address is impersonating the node: report it"
    )]
    NodeKeyMismatch {
        /// The node's address.
        address: SocketAddr,
        /// Fingerprint of the configured node key (hex).
        expected: String,
        /// Fingerprint of the key the server presented (hex), if known.
        presented: String,
    },

    // ----- Local: misuse or misconfiguration ------------------------------------------------
    /// The node does not accept this application's key: it is not enrolled there.
    #[error(
        "the node at {address} does not accept this application's key (fingerprint {fingerprint}): it is not enrolled. On the node, add this application's public key file under `[applications]` in node.toml (e.g. `case-system = \"case-system.application.pub\"`) and restart strehad"
    )]
    NotEnrolled {
        /// The node's address.
        address: SocketAddr,
        /// Fingerprint of this application's key (hex), as `streha key show` prints it.
        fingerprint: String,
    },
    /// The server at the address does not speak the application protocol: most likely the
    /// node's peer endpoint.
    #[error(
        "the server at {address} does not speak the application protocol (ALPN streha-app/1): it is probably the node's peer endpoint (`listen`); set `node_address` to the node's `app_listen` address"
    )]
    WrongEndpoint {
        /// The address.
        address: SocketAddr,
    },
    /// A key file could not be read.
    #[error("cannot read the key file {}: {source}", path.display())]
    ReadKeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key file is not a valid key file of the expected kind.
    #[error("the key file {} is not usable: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: KeyFileError,
    },
    /// This client's agency is not in the roster.
    #[error(
        "agency `{agency}` is not in roster version {version}; check the agency id in the configuration, or ask the national authority to add it"
    )]
    AgencyNotInRoster {
        /// The agency.
        agency: AgencyId,
        /// The roster's version.
        version: u64,
    },
    /// A configured key differs from the roster entry of this client's agency.
    #[error(
        "the {key} does not match the roster entry for {agency}; load this agency's key files, or ask the national authority to update the roster"
    )]
    KeyMismatch {
        /// The agency.
        agency: AgencyId,
        /// Which key: "agency signing key", "agency encryption key" or "node key".
        key: &'static str,
    },
    /// The recipient of a disclosure is not in the roster.
    #[error(
        "the recipient `{agency}` is not in the roster; check the agency id (information is exchanged only between the roster's agencies, Art. 18.2)"
    )]
    UnknownRecipient {
        /// The agency.
        agency: AgencyId,
    },
    /// A protection category reached a disclosure (Art. 18.4): refused here, before sealing.
    #[error(
        "category `{category}` is protection data and can never be disclosed (Art. 18.4, 18.6); remove it"
    )]
    ProtectionCategory {
        /// The category.
        category: Category,
    },
    /// A disclosure's header does not declare exactly its record's categories.
    #[error("the disclosure declares {declared} but its record carries {found}")]
    DeclarationMismatch {
        /// Declared.
        declared: CategorySet,
        /// Carried.
        found: CategorySet,
    },
    /// A disclosure's header names this client's own agency as recipient: a disclosure goes to
    /// another agency (the node would refuse it, [`RefusalReason::RecipientIsSender`]).
    #[error(
        "the disclosure is addressed to `{agency}`, this client's own agency; a disclosure goes to another member agency: address it to the agency that is to receive it"
    )]
    RecipientIsSender {
        /// This client's agency.
        agency: AgencyId,
    },
    /// A disclosure's header names another sender than this client's agency.
    #[error(
        "the disclosure is prepared for sender `{sender}`, but this client is agency `{agency}`"
    )]
    WrongSender {
        /// The header's sender.
        sender: AgencyId,
        /// This client's agency.
        agency: AgencyId,
    },
    /// A field or record could not be built (bad name, too large, duplicate, …).
    #[error("invalid record: {0}")]
    Record(#[source] RecordError),
    /// The consent terms are invalid.
    #[error("invalid consent: {0}")]
    Consent(#[source] ConsentError),
    /// An approval could not be added (duplicate officer, too many).
    #[error("invalid approval: {0}")]
    Approval(#[source] HeaderError),
    /// The approving officer is not an officer of this agency in the roster.
    #[error(
        "officer `{officer}` is not an officer of agency `{agency}` in the roster; only the sending agency's officers approve an urgent-danger disclosure (Art. 45.3)"
    )]
    UnknownOfficer {
        /// The officer.
        officer: OfficerId,
        /// This client's agency.
        agency: AgencyId,
    },
    /// An approval's signature does not verify under the officer's key in the roster.
    #[error(
        "the approval of officer `{officer}` does not verify under the officer's key in the roster; it must sign this disclosure's approval message with their own key"
    )]
    InvalidApproval {
        /// The officer.
        officer: OfficerId,
    },
    /// Sealing failed (plaintext too large, randomness).
    #[error("cannot seal the disclosure: {0}")]
    Seal(#[source] EnvelopeError),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed; retry")]
    Randomness,
    /// A call's arguments are inconsistent.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),

    // ----- Sender: a received record broke its declaration ----------------------------------
    /// A received record does not hold what its header declared (or is not a record at all):
    /// a provable violation by the sender, reported to the node for its audit log. The
    /// content is not released.
    #[error(
        "envelope {envelope} from `{sender}` violates its declaration ({kind:?}): it declared {declared} but carried {found}; {}",
        match log_index {
            Some(index) => format!("reported to the node and logged at index {index}"),
            None => "the report to the node failed; retry with Client::report_violation".to_owned(),
        }
    )]
    Violation {
        /// The envelope.
        envelope: EnvelopeId,
        /// The sending agency.
        sender: AgencyId,
        /// What was violated.
        kind: ViolationKind,
        /// The categories the header declared.
        declared: CategorySet,
        /// The categories the content carried (empty if undecodable).
        found: CategorySet,
        /// Index of the node's `violation` entry, or `None` if the report failed.
        log_index: Option<u64>,
    },
}

impl ClientError {
    /// Who is at fault, and so who must act.
    pub fn fault(&self) -> Fault {
        use ClientError::*;
        match self {
            Socket(_)
            | Connect { .. }
            | ConnectionRefused { .. }
            | NodeBusy { .. }
            | Handshake { .. }
            | ConnectTimeout { .. }
            | Transport(_) => Fault::Transport,
            Remote(_) | NotCosigned { .. } => Fault::Node,
            Refused { .. } | ConsentRefused { .. } => Fault::Policy,
            Roster(_)
            | Checkpoint(_)
            | CheckpointOrigin { .. }
            | InclusionProof { .. }
            | Inconsistent { .. }
            | Bundle(_)
            | Envelope { .. }
            | UnknownSender { .. }
            | InvalidResponse { .. }
            | NodeKeyMismatch { .. } => Fault::Verification,
            Tls(_)
            | NotEnrolled { .. }
            | WrongEndpoint { .. }
            | ReadKeyFile { .. }
            | KeyFile { .. }
            | AgencyNotInRoster { .. }
            | KeyMismatch { .. }
            | UnknownRecipient { .. }
            | RecipientIsSender { .. }
            | ProtectionCategory { .. }
            | DeclarationMismatch { .. }
            | WrongSender { .. }
            | Record(_)
            | Consent(_)
            | Approval(_)
            | UnknownOfficer { .. }
            | InvalidApproval { .. }
            | Seal(_)
            | Randomness
            | InvalidArgument(_) => Fault::Local,
            Violation { .. } => Fault::Sender,
        }
    }

    /// The policy's reason, for [`ClientError::Refused`] and [`ClientError::ConsentRefused`].
    pub fn refusal(&self) -> Option<&RefusalReason> {
        match self {
            ClientError::Refused { reason, .. } | ClientError::ConsentRefused { reason, .. } => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// The node's error code, for [`ClientError::Remote`].
    pub fn remote_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Remote(e) => Some(e.code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_and_messages() {
        let refused = ClientError::Refused {
            reason: RefusalReason::ProtectionCategory {
                category: Category::ShelterLocation,
            },
            log_index: 7,
        };
        assert_eq!(refused.fault(), Fault::Policy);
        assert!(matches!(
            refused.refusal(),
            Some(RefusalReason::ProtectionCategory { .. })
        ));
        assert!(refused.to_string().contains("logged at index 7"));

        let remote = ClientError::Remote(RemoteError::new(ErrorCode::NotFound, "no such subject"));
        assert_eq!(remote.fault(), Fault::Node);
        assert_eq!(remote.remote_code(), Some(ErrorCode::NotFound));
        assert!(remote.to_string().contains("no such subject"));
        // What a node says is shown escaped: no forged line, no terminal escape.
        let hostile = ClientError::Remote(RemoteError::new(
            ErrorCode::BadRequest,
            "no\n2031-01-01 ERROR forged \u{1b}[2J",
        ));
        let shown = hostile.to_string();
        assert!(
            shown.ends_with(r"no\n2031-01-01 ERROR forged \u{1b}[2J"),
            "{shown}"
        );

        let mismatch = ClientError::KeyMismatch {
            agency: AgencyId::new("police").unwrap(),
            key: "agency signing key",
        };
        assert_eq!(mismatch.fault(), Fault::Local);
        assert!(
            mismatch
                .to_string()
                .starts_with("the agency signing key does not match the roster entry for police")
        );

        let violation = ClientError::Violation {
            envelope: EnvelopeId::from_bytes([1; 16]),
            sender: AgencyId::new("police").unwrap(),
            kind: ViolationKind::CategoryMismatch,
            declared: CategorySet::of(&[Category::Identity]),
            found: CategorySet::of(&[Category::Identity, Category::Medical]),
            log_index: None,
        };
        assert_eq!(violation.fault(), Fault::Sender);
        assert!(violation.to_string().contains("report_violation"));
    }
}
