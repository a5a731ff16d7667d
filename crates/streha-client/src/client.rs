//! The client: one QUIC connection to the agency's node, the verified roster, and every
//! request of the application protocol (`streha_wire::app`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use streha_audit::{ConsistencyProof, LogBundle};
use streha_core::{
    AgeStatus, AgencyId, CategorySet, ConsentId, ConsentRevocation, EnvelopeId, OfficerId, Purpose,
    RepresentativeId, SubjectId, Timestamp, ViolationKind,
};
use streha_transport::{
    ByteBudget, ClientSetup, ConnectionFailure, Identity, ServerKeyPin, StreamError,
    TransportLimits, client_config_pinned,
};
use streha_wire::app::{
    AppRequest, AppResponse, ConsentStatus, DeliveryState, HeldDelivery, MAX_PAGE, WitnessEvidence,
};
use streha_wire::limits::MAX_ROSTERS_PAGE;
use streha_wire::{APP_ALPN, ErrorCode, MAX_FRAME_LEN, Roster};
use tracing::Instrument as _;

use crate::config::ClientConfig;
use crate::consent::NewConsent;
use crate::disclosure::{
    DisclosureBuilder, PreparedDisclosure, Sealable, SealedDisclosure, Submitted, seal_prepared,
};
use crate::error::ClientError;
use crate::inbox::{InboxEntry, Opened, OpenedRecord, open_envelope};
use crate::proofs::{
    VerifiedCheckpoint, VerifiedEntry, by_size, check_consistency, log_verifier, needs_proof,
};

/// The TLS server name sent to the node. Nodes are identified by their pinned key, never by
/// name; the value is ignored.
const SERVER_NAME: &str = "streha.invalid";

/// An application's connection to its agency's node.
///
/// Made by [`Client::connect`], which authenticates both sides (the node by its pinned
/// identity key, the application by its enrolled application key), fetches the roster and
/// checks it: signed by the national authority's roster key, listing this agency with
/// exactly the configured keys.
///
/// All methods take `&self`; share a client between tasks behind an [`Arc`]. If the
/// connection is lost, the next request reconnects (a request is never re-sent by the
/// client itself; resubmitting a [`SealedDisclosure`] is safe, it is idempotent).
///
/// The client remembers the largest checkpoint of the node's log it has verified and checks
/// every later checkpoint against it with a consistency proof, so a node that rewrites its
/// log or rolls it back is caught ([`ClientError::Inconsistent`]).
pub struct Client {
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    /// The pin on the node's key, which remembers a refused key the address presented.
    pin: Arc<ServerKeyPin>,
    /// Bytes of requests in flight, within what a node holds per connection by default
    /// (`ByteBudget::pacing`), so that concurrent requests wait here instead of being
    /// answered "busy".
    pacing: ByteBudget,
    connection: tokio::sync::Mutex<quinn::Connection>,
    roster: Mutex<Arc<Roster>>,
    origin: String,
    latest: Mutex<Option<VerifiedCheckpoint>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("agency", &self.config.agency)
            .field("node_address", &self.config.node_address)
            .field("node_key", &self.config.node_key)
            .field("roster_version", &self.roster().version())
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The log epoch of a verified checkpoint (`spec/audit-log.md` §9): 1 for the base origin.
fn epoch_of(checkpoint: &VerifiedCheckpoint) -> u64 {
    streha_wire::roster::split_epoch(checkpoint.origin())
        .map_or(streha_wire::roster::FIRST_EPOCH, |(_, epoch)| epoch)
}

/// The node showed a checkpoint of an earlier epoch of its log than one this client
/// verified: its log went back, as a rollback does.
fn earlier_epoch(known: &VerifiedCheckpoint, shown: &VerifiedCheckpoint) -> ClientError {
    ClientError::CheckpointOrigin {
        expected: known.origin().to_owned(),
        found: shown.origin().to_owned(),
    }
}

/// The name of a request, for errors and logs.
fn request_name(request: &AppRequest) -> &'static str {
    match request {
        AppRequest::RegisterSubject { .. } => "RegisterSubject",
        AppRequest::RecordAgeStatus { .. } => "RecordAgeStatus",
        AppRequest::AddRepresentative { .. } => "AddRepresentative",
        AppRequest::GrantConsent(_) => "GrantConsent",
        AppRequest::RevokeConsent(_) => "RevokeConsent",
        AppRequest::ListConsents { .. } => "ListConsents",
        AppRequest::Submit(_) => "Submit",
        AppRequest::DeliveryStatus { .. } => "DeliveryStatus",
        AppRequest::Inbox { .. } => "Inbox",
        AppRequest::Fetch { .. } => "Fetch",
        AppRequest::ReportViolation { .. } => "ReportViolation",
        AppRequest::Roster => "Roster",
        AppRequest::Checkpoint => "Checkpoint",
        AppRequest::ProveEntry { .. } => "ProveEntry",
        AppRequest::ProveConsistency { .. } => "ProveConsistency",
        AppRequest::Entries { .. } => "Entries",
        AppRequest::Checkpoints { .. } => "Checkpoints",
        AppRequest::ConsentsPage { .. } => "ConsentsPage",
        AppRequest::CheckpointsAfter { .. } => "CheckpointsAfter",
        AppRequest::ProveEntryInEpoch { .. } => "ProveEntryInEpoch",
        _ => "a request",
    }
}

/// The name of a response, for errors.
fn response_name(response: &AppResponse) -> &'static str {
    match response {
        AppResponse::Logged { .. } => "Logged",
        AppResponse::Accepted { .. } => "Accepted",
        AppResponse::Refused { .. } => "Refused",
        AppResponse::Consents(_) => "Consents",
        AppResponse::Delivery(_) => "Delivery",
        AppResponse::Inbox(_) => "Inbox",
        AppResponse::Envelope(_) => "Envelope",
        AppResponse::Note(_) => "Note",
        AppResponse::Entry(_) => "Entry",
        AppResponse::Consistency(_) => "Consistency",
        AppResponse::Entries(_) => "Entries",
        AppResponse::Checkpoints(_) => "Checkpoints",
        AppResponse::Held(_) => "Held",
        AppResponse::Evidence(_) => "Evidence",
        AppResponse::Rosters(_) => "Rosters",
        AppResponse::Error(_) => "Error",
        _ => "an unknown answer",
    }
}

fn unexpected(request: &'static str, response: &AppResponse) -> ClientError {
    ClientError::InvalidResponse {
        request,
        problem: format!("unexpected answer `{}`", response_name(response)),
    }
}

fn invalid(request: &'static str, problem: impl Into<String>) -> ClientError {
    ClientError::InvalidResponse {
        request,
        problem: problem.into(),
    }
}

/// How often the probe for a refused address sends while a handshake waits for an answer.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// Says in an operator's words why the connection to the node failed, from how it was
/// closed: who refused which key, or which limit; `None` if the close says nothing more
/// than the error itself.
fn diagnose(
    config: &ClientConfig,
    pin: &ServerKeyPin,
    error: &quinn::ConnectionError,
) -> Option<ClientError> {
    let address = config.node_address;
    match ConnectionFailure::of(error) {
        ConnectionFailure::ServerKeyRefused => Some(ClientError::NodeKeyMismatch {
            address,
            expected: config.node_key.fingerprint().to_hex(),
            presented: pin.refused_key().map_or_else(
                || "another key".to_owned(),
                |key| streha_crypto::Fingerprint::of_key_bytes(&key).to_hex(),
            ),
        }),
        ConnectionFailure::ClientKeyRefused => Some(ClientError::NotEnrolled {
            address,
            fingerprint: config.application_key.fingerprint().to_hex(),
        }),
        ConnectionFailure::WrongProtocol => Some(ClientError::WrongEndpoint { address }),
        ConnectionFailure::TooManyConnections(reason) => Some(ClientError::NodeBusy {
            address,
            reason: if reason.is_empty() {
                "too many connections".to_owned()
            } else {
                reason
            },
        }),
        ConnectionFailure::Refused => Some(ClientError::NodeBusy {
            address,
            reason: "too many connection attempts in progress".to_owned(),
        }),
        _ => None,
    }
}

/// Opens a QUIC connection to the node (the endpoint pins the node's key). Fails at once
/// if the node's host says nothing listens there, instead of waiting for the timeout.
async fn dial(
    endpoint: &quinn::Endpoint,
    config: &ClientConfig,
    pin: &ServerKeyPin,
) -> Result<quinn::Connection, ClientError> {
    let (address, timeout) = (config.node_address, config.request_timeout);
    let connecting = endpoint
        .connect(address, SERVER_NAME)
        .map_err(|source| ClientError::Connect { address, source })?;
    tokio::select! {
        connected = tokio::time::timeout(timeout, connecting) => match connected {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(source)) => Err(diagnose(config, pin, &source)
                .unwrap_or(ClientError::Handshake { address, source })),
            Err(_) => Err(ClientError::ConnectTimeout { address, timeout }),
        },
        _ = streha_transport::refused(address, PROBE_INTERVAL) => {
            Err(ClientError::ConnectionRefused { address })
        }
    }
}

/// One request/response exchange on `connection`; a node's error answer becomes
/// [`ClientError::Remote`]. If the connection was closed, why is said in the operator's
/// words where the close tells (a node refuses an application key only after the client
/// has finished its side of the handshake, so this is where a client learns of it).
async fn exchange(
    config: &ClientConfig,
    pin: &ServerKeyPin,
    pacing: &ByteBudget,
    connection: &quinn::Connection,
    request: &AppRequest,
    timeout: Duration,
) -> Result<AppResponse, ClientError> {
    let response: AppResponse =
        match streha_transport::request_paced(connection, request, MAX_FRAME_LEN, timeout, pacing)
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let closed = match &error {
                    StreamError::Connection(closed) => Some(closed.clone()),
                    _ => connection.close_reason(),
                };
                return Err(closed
                    .and_then(|closed| diagnose(config, pin, &closed))
                    .unwrap_or(ClientError::Transport(error)));
            }
        };
    match response {
        AppResponse::Error(error) => {
            tracing::debug!(request = request_name(request), code = ?error.code, "the node answered with an error");
            Err(ClientError::Remote(error))
        }
        other => Ok(other),
    }
}

/// Opens the roster note under the configured roster key and checks this agency's entry.
fn open_roster(note: &str, config: &ClientConfig) -> Result<Roster, ClientError> {
    let roster = Roster::open(note, &config.roster_key).map_err(ClientError::Roster)?;
    check_own_entry(&roster, config)?;
    Ok(roster)
}

/// The roster lists this agency with exactly the configured node, signing and encryption
/// keys.
pub(crate) fn check_own_entry(roster: &Roster, config: &ClientConfig) -> Result<(), ClientError> {
    let agency = &config.agency;
    let entry = roster
        .agency(agency)
        .ok_or_else(|| ClientError::AgencyNotInRoster {
            agency: agency.clone(),
            version: roster.version(),
        })?;
    let mismatch = |key| ClientError::KeyMismatch {
        agency: agency.clone(),
        key,
    };
    if entry.signing_key != config.signing_key.public_key() {
        return Err(mismatch("agency signing key"));
    }
    if entry.encryption_key != config.encryption_key.public_key() {
        return Err(mismatch("agency encryption key"));
    }
    if entry.node_key != config.node_key {
        return Err(mismatch("configured node key"));
    }
    Ok(())
}

/// The time now, as Unix milliseconds (0 if the clock is before 1970).
pub(crate) fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(millis)
}

impl Client {
    /// Connects to the node, fetches the roster and checks it.
    ///
    /// # Errors
    /// Transport errors ([`ClientError::Socket`], [`ClientError::Tls`],
    /// [`ClientError::Connect`], [`ClientError::ConnectionRefused`] at once if nothing
    /// listens at the address, [`ClientError::NodeBusy`], [`ClientError::Handshake`],
    /// [`ClientError::ConnectTimeout`], [`ClientError::Transport`]);
    /// [`ClientError::NotEnrolled`] if the node does not accept this application's key,
    /// [`ClientError::NodeKeyMismatch`] if the address answers with another node key,
    /// [`ClientError::WrongEndpoint`] if it is not a node's application endpoint; [`ClientError::Remote`]; [`ClientError::Roster`] if the
    /// roster is not validly signed by the configured roster key;
    /// [`ClientError::AgencyNotInRoster`] and [`ClientError::KeyMismatch`] if the roster
    /// does not list this agency with the configured keys.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let span = tracing::info_span!(
            "streha_client.connect",
            agency = %config.agency,
            node = %config.node_address,
        );
        async move {
            let identity = Identity::from_key(&config.application_key).map_err(ClientError::Tls)?;
            let (quic, pin) = client_config_pinned(ClientSetup {
                identity: &identity,
                server_key: config.node_key.to_bytes(),
                alpn: APP_ALPN,
                limits: TransportLimits::default(),
            })
            .map_err(ClientError::Tls)?;
            let bind: SocketAddr = if config.node_address.is_ipv6() {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            };
            let mut endpoint = quinn::Endpoint::client(bind).map_err(ClientError::Socket)?;
            endpoint.set_default_client_config(quic);
            let connection = dial(&endpoint, &config, &pin).await?;
            let pacing = ByteBudget::new(streha_wire::limits::MAX_BYTES_IN_FLIGHT_PER_CONNECTION);
            let note = match exchange(
                &config,
                &pin,
                &pacing,
                &connection,
                &AppRequest::Roster,
                config.request_timeout,
            )
            .await?
            {
                AppResponse::Note(note) => note,
                other => return Err(unexpected("Roster", &other)),
            };
            let roster = open_roster(&note, &config)?;
            let origin = roster
                .agency(&config.agency)
                .map(|entry| entry.log_origin(roster.federation()))
                .ok_or_else(|| ClientError::AgencyNotInRoster {
                    agency: config.agency.clone(),
                    version: roster.version(),
                })?;
            tracing::info!(roster_version = roster.version(), "connected to the node");
            Ok(Self {
                config,
                endpoint,
                pin,
                pacing,
                connection: tokio::sync::Mutex::new(connection),
                roster: Mutex::new(Arc::new(roster)),
                origin,
                latest: Mutex::new(None),
            })
        }
        .instrument(span)
        .await
    }

    /// Closes the connection to the node, waiting briefly for the close to be sent.
    pub async fn close(self) {
        self.connection.lock().await.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }

    /// This client's agency.
    pub fn agency(&self) -> &AgencyId {
        &self.config.agency
    }

    /// The roster in use (verified).
    pub fn roster(&self) -> Arc<Roster> {
        Arc::clone(&lock(&self.roster))
    }

    /// The base origin of the node's audit log: `<federation>/streha/<agency>`, the key name
    /// its checkpoints are signed under in epoch 1. A node restored with a declared loss
    /// continues in a later epoch, `<base>/epoch/<n>` (`spec/audit-log.md` §9): the client
    /// accepts the node's checkpoints under any epoch of this log, never going back to an
    /// earlier one, and [`VerifiedCheckpoint::origin`] says which.
    pub fn log_origin(&self) -> &str {
        &self.origin
    }

    /// The largest checkpoint of the node's log this client has verified, if any.
    pub fn latest_checkpoint(&self) -> Option<VerifiedCheckpoint> {
        lock(&self.latest).clone()
    }

    /// Fetches the node's roster again and adopts it if it is newer. Returns the roster in
    /// use.
    ///
    /// # Errors
    /// As [`connect`](Self::connect); [`ClientError::Roster`] also if the node offers an
    /// older roster than the one in use, or another roster under the same version.
    #[tracing::instrument(name = "streha_client.refresh_roster", skip_all)]
    pub async fn refresh_roster(&self) -> Result<Arc<Roster>, ClientError> {
        let note = match self.call(AppRequest::Roster).await? {
            AppResponse::Note(note) => note,
            other => return Err(unexpected("Roster", &other)),
        };
        let offered = open_roster(&note, &self.config)?;
        let current = self.roster();
        if offered == *current {
            return Ok(current);
        }
        offered
            .check_replaces(&current)
            .map_err(ClientError::Roster)?;
        let offered = Arc::new(offered);
        let mut roster = lock(&self.roster);
        if roster.version() < offered.version() {
            *roster = Arc::clone(&offered);
            tracing::info!(roster_version = offered.version(), "adopted a newer roster");
        }
        Ok(Arc::clone(&roster))
    }

    /// One request, on the current connection (reconnecting first if it was lost).
    async fn call(&self, request: AppRequest) -> Result<AppResponse, ClientError> {
        self.call_with_timeout(request, self.config.request_timeout)
            .await
    }

    /// [`Client::call`] with another timeout for the answer.
    async fn call_with_timeout(
        &self,
        request: AppRequest,
        timeout: std::time::Duration,
    ) -> Result<AppResponse, ClientError> {
        let connection = {
            let mut connection = self.connection.lock().await;
            if connection.close_reason().is_some() {
                tracing::info!("the connection to the node was lost; reconnecting");
                *connection = dial(&self.endpoint, &self.config, &self.pin).await?;
            }
            connection.clone()
        };
        exchange(
            &self.config,
            &self.pin,
            &self.pacing,
            &connection,
            &request,
            timeout,
        )
        .await
    }

    /// A request answered by [`AppResponse::Logged`]: returns the log index.
    async fn logged(&self, request: AppRequest) -> Result<u64, ClientError> {
        let name = request_name(&request);
        match self.call(request).await? {
            AppResponse::Logged { index } => Ok(index),
            other => Err(unexpected(name, &other)),
        }
    }

    // ----- Subjects -------------------------------------------------------------------------

    /// Registers a subject under a fresh random pseudonymous id (16 bytes from the operating
    /// system): never derived from personal data (Art. 18.5). Returns the id and the index
    /// of the `subject registered` entry.
    ///
    /// # Errors
    /// [`ClientError::Randomness`], transport errors, [`ClientError::Remote`].
    #[tracing::instrument(
        name = "streha_client.register_subject",
        skip_all,
        fields(subject, index)
    )]
    pub async fn register_subject(
        &self,
        age_status: AgeStatus,
        representatives: Vec<RepresentativeId>,
    ) -> Result<(SubjectId, u64), ClientError> {
        let subject = SubjectId::from_bytes(crate::random_16()?);
        tracing::Span::current().record("subject", tracing::field::display(subject));
        let index = self
            .logged(AppRequest::RegisterSubject {
                subject,
                age_status,
                representatives,
            })
            .await?;
        tracing::Span::current().record("index", index);
        Ok((subject, index))
    }

    /// Records a new age status (e.g. an adult age once established; a presumed child is a
    /// child until then, Art. 36). Returns the log index.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.record_age_status", skip_all, fields(subject = %subject))]
    pub async fn record_age_status(
        &self,
        subject: SubjectId,
        age_status: AgeStatus,
    ) -> Result<u64, ClientError> {
        self.logged(AppRequest::RecordAgeStatus {
            subject,
            age_status,
        })
        .await
    }

    /// Registers a legal representative of a subject (Art. 18.3, 38.5). Returns the log
    /// index.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.add_representative", skip_all, fields(subject = %subject))]
    pub async fn add_representative(
        &self,
        subject: SubjectId,
        representative: RepresentativeId,
    ) -> Result<u64, ClientError> {
        self.logged(AppRequest::AddRepresentative {
            subject,
            representative,
        })
        .await
    }

    /// Moves a subject to a new random pseudonymous id (Art. 18.5: identity change when
    /// life or health is in real danger). The node closes the old id — later disclosures
    /// about it are refused — logs only a salted commitment to the new id, registers the new
    /// id with the age status carried over, deletes the envelopes it holds for the old id and
    /// holds queued disclosures about it. Representatives and consents do not carry over:
    /// register and record them again under the new id.
    ///
    /// Returns the new id and the salt. **Keep the salt** with the agency's protected
    /// records: with it, a court or DPO can check that the new id is the one committed to
    /// (`streha_core::rekey_commitment`); without it, nobody can link the ids from the log.
    ///
    /// # Errors
    /// [`ClientError::Randomness`], transport errors, [`ClientError::Remote`] (unknown or
    /// already re-keyed subject).
    #[tracing::instrument(name = "streha_client.rekey_subject", skip_all)]
    pub async fn rekey_subject(
        &self,
        subject: SubjectId,
    ) -> Result<(SubjectId, zeroize::Zeroizing<[u8; 32]>, u64), ClientError> {
        let new_subject = SubjectId::from_bytes(crate::random_16()?);
        let mut salt = zeroize::Zeroizing::new([0u8; 32]);
        salt[..16].copy_from_slice(&crate::random_16()?);
        salt[16..].copy_from_slice(&crate::random_16()?);
        let index = self
            .logged(AppRequest::RekeySubject {
                subject,
                new_subject,
                salt: *salt,
            })
            .await?;
        Ok((new_subject, salt, index))
    }

    // ----- Consent --------------------------------------------------------------------------

    /// Records a consent (Art. 18.3) under a fresh random id. Returns the id and the index
    /// of the `consent granted` entry.
    ///
    /// # Errors
    /// [`ClientError::Consent`] if the terms are invalid (checked before sending),
    /// [`ClientError::ConsentRefused`] if the node's policy refuses the grant (a child's own
    /// consent, an unregistered representative, a re-keyed id, an agency not in the roster;
    /// the refusal is logged), [`ClientError::Randomness`], transport errors,
    /// [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.grant_consent", skip_all, fields(subject = %terms.subject, consent))]
    pub async fn grant_consent(&self, terms: NewConsent) -> Result<(ConsentId, u64), ClientError> {
        let id = ConsentId::from_bytes(crate::random_16()?);
        tracing::Span::current().record("consent", tracing::field::display(id));
        let grant = terms.into_grant(id)?;
        match self.call(AppRequest::GrantConsent(Box::new(grant))).await? {
            AppResponse::Logged { index } => Ok((id, index)),
            AppResponse::Refused { reason, index } => {
                tracing::info!(article = reason.article(), "consent refused by the policy");
                Err(ClientError::ConsentRefused {
                    consent: id,
                    reason,
                    log_index: index,
                })
            }
            other => Err(unexpected("GrantConsent", &other)),
        }
    }

    /// Revokes a consent from `revoked_at` on. Returns the log index.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.revoke_consent", skip_all, fields(consent = %consent))]
    pub async fn revoke_consent(
        &self,
        consent: ConsentId,
        revoked_at: Timestamp,
        recorded_by: OfficerId,
    ) -> Result<u64, ClientError> {
        self.logged(AppRequest::RevokeConsent(ConsentRevocation {
            consent,
            revoked_at,
            recorded_by,
        }))
        .await
    }

    /// Every consent recorded for a subject, with their revocation times, in consent-id
    /// order: pages of [`Client::consents_page`] until the node has no more. To handle a
    /// subject with very many consents a page at a time, call that instead.
    ///
    /// # Errors
    /// As [`Client::consents_page`].
    #[tracing::instrument(name = "streha_client.consents", skip_all, fields(subject = %subject))]
    pub async fn consents(&self, subject: SubjectId) -> Result<Vec<ConsentStatus>, ClientError> {
        let mut all: Vec<ConsentStatus> = Vec::new();
        loop {
            let after = all.last().map(|c| c.grant.id());
            let page = self.consents_page(subject, after, MAX_PAGE).await?;
            if page.is_empty() {
                return Ok(all);
            }
            all.extend(page);
        }
    }

    /// A page of the consents recorded for a subject, in consent-id order after `after`
    /// (exclusive; `None`: from the first), at most `limit` (capped at [`MAX_PAGE`]). A
    /// page may be shorter than asked (the node also bounds a page's bytes); only an empty
    /// page means there are no more.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`], [`ClientError::InvalidResponse`] if the
    /// node answers with another subject's consents, more than asked, or consents out of
    /// order.
    pub async fn consents_page(
        &self,
        subject: SubjectId,
        after: Option<ConsentId>,
        limit: u32,
    ) -> Result<Vec<ConsentStatus>, ClientError> {
        let limit = limit.min(MAX_PAGE);
        match self
            .call(AppRequest::ConsentsPage {
                subject,
                after,
                limit,
            })
            .await?
        {
            AppResponse::Consents(page) => {
                if page.len() > limit as usize {
                    return Err(invalid("ConsentsPage", "more consents than asked for"));
                }
                if page.iter().any(|c| c.grant.subject() != subject) {
                    return Err(invalid(
                        "ConsentsPage",
                        "the page holds a consent about another subject",
                    ));
                }
                let ids = after
                    .into_iter()
                    .chain(page.iter().map(|c| c.grant.id()))
                    .collect::<Vec<_>>();
                if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
                    return Err(invalid(
                        "ConsentsPage",
                        "the consents are not in increasing id order after the cursor",
                    ));
                }
                Ok(page)
            }
            other => Err(unexpected("ConsentsPage", &other)),
        }
    }

    // ----- Disclosure -----------------------------------------------------------------------

    /// Starts a disclosure from this agency to `recipient` about `subject` for `purpose`,
    /// created now. Add fields and the consent, then [`submit`](Self::submit) it.
    pub fn disclosure(
        &self,
        subject: SubjectId,
        recipient: AgencyId,
        purpose: Purpose,
    ) -> DisclosureBuilder {
        DisclosureBuilder::new(
            self.config.agency.clone(),
            subject,
            recipient,
            purpose,
            now(),
        )
    }

    /// Seals a disclosure: checks it (no protection category, declared categories exact,
    /// approvals by this agency's officers in the roster) and seals the record to the
    /// recipient's encryption key from the roster, signed with the agency signing key.
    ///
    /// # Errors
    /// As [`PreparedDisclosure::seal`].
    pub fn seal(&self, disclosure: PreparedDisclosure) -> Result<SealedDisclosure, ClientError> {
        seal_prepared(
            disclosure,
            &self.config.agency,
            &self.config.signing_key,
            &self.roster(),
        )
    }

    /// Seals (if needed) and submits a disclosure. The node decides with the policy: allowed,
    /// it logs `disclosed` durably and queues the envelope for delivery; refused, it logs
    /// `refused` and nothing leaves.
    ///
    /// Idempotent by envelope id: after a transport error, resubmit the same
    /// [`SealedDisclosure`].
    ///
    /// # Errors
    /// [`ClientError::Refused`] with the policy's exact reason and the log index of the
    /// refusal; sealing errors (local); transport errors; [`ClientError::Remote`].
    #[tracing::instrument(
        name = "streha_client.submit",
        skip_all,
        fields(envelope, recipient, purpose, categories, index)
    )]
    pub async fn submit(&self, disclosure: impl Sealable) -> Result<Submitted, ClientError> {
        let sealed = disclosure.into_sealed(self)?;
        let header = sealed.header();
        let span = tracing::Span::current();
        span.record("envelope", tracing::field::display(header.envelope_id));
        span.record("recipient", tracing::field::display(&header.recipient));
        span.record("purpose", tracing::field::display(header.purpose));
        span.record("categories", tracing::field::display(header.categories));
        let expected = sealed.envelope_id();
        let response = self
            .call(AppRequest::Submit(Box::new(sealed.envelope().clone())))
            .await?;
        match response {
            AppResponse::Accepted { envelope, index } if envelope == expected => {
                span.record("index", index);
                tracing::info!("disclosure accepted");
                Ok(Submitted { envelope, index })
            }
            AppResponse::Accepted { envelope, .. } => Err(invalid(
                "Submit",
                format!("accepted envelope {envelope}, but {expected} was submitted"),
            )),
            AppResponse::Refused { reason, index } => {
                span.record("index", index);
                tracing::info!(
                    article = reason.article(),
                    "disclosure refused by the policy"
                );
                Err(ClientError::Refused {
                    reason,
                    log_index: index,
                })
            }
            other => Err(unexpected("Submit", &other)),
        }
    }

    /// Waits until the disclosure is delivered (the receiver's receipt verified and logged
    /// by the node) or held, or until `timeout` (at most 60 s) passed; returns its state
    /// then.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`] (`NotFound` for an unknown envelope).
    #[tracing::instrument(name = "streha_client.await_delivery", skip_all, fields(envelope = %envelope))]
    pub async fn await_delivery(
        &self,
        envelope: EnvelopeId,
        timeout: std::time::Duration,
    ) -> Result<DeliveryState, ClientError> {
        let timeout_ms = u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .min(60_000);
        match self
            .call_with_timeout(
                AppRequest::AwaitDelivery {
                    envelope,
                    timeout_ms,
                },
                timeout + self.config.request_timeout,
            )
            .await?
        {
            AppResponse::Delivery(state) => Ok(state),
            other => Err(unexpected("AwaitDelivery", &other)),
        }
    }

    /// Where a submitted disclosure stands: queued, or delivered with its receipt.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.delivery_status", skip_all, fields(envelope = %envelope))]
    pub async fn delivery_status(
        &self,
        envelope: EnvelopeId,
    ) -> Result<DeliveryState, ClientError> {
        match self.call(AppRequest::DeliveryStatus { envelope }).await? {
            AppResponse::Delivery(state) => Ok(state),
            other => Err(unexpected("DeliveryStatus", &other)),
        }
    }

    /// A page of the disclosures whose delivery the node holds, in envelope-id order, after
    /// `after` (exclusive; `None`: from the start), at most `limit` (capped at [`MAX_PAGE`]).
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.held_deliveries", skip_all)]
    pub async fn held_deliveries(
        &self,
        after: Option<EnvelopeId>,
        limit: u32,
    ) -> Result<Vec<HeldDelivery>, ClientError> {
        let limit = limit.min(MAX_PAGE);
        match self
            .call(AppRequest::HeldDeliveries { after, limit })
            .await?
        {
            AppResponse::Held(page) => Ok(page),
            other => Err(unexpected("HeldDeliveries", &other)),
        }
    }

    /// Every disclosure whose delivery the node holds (pages of [`Client::held_deliveries`]
    /// until an empty one).
    ///
    /// # Errors
    /// As [`Client::held_deliveries`]; [`ClientError::InvalidResponse`] if a page does not
    /// move past the previous one.
    pub async fn all_held_deliveries(&self) -> Result<Vec<HeldDelivery>, ClientError> {
        let mut all: Vec<HeldDelivery> = Vec::new();
        loop {
            let after = all.last().map(|held| held.envelope);
            let page = self.held_deliveries(after, MAX_PAGE).await?;
            if page.is_empty() {
                return Ok(all);
            }
            // Envelope-id order after the cursor: so paging always ends.
            let ids = after
                .into_iter()
                .chain(page.iter().map(|held| held.envelope))
                .collect::<Vec<_>>();
            if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
                return Err(invalid(
                    "HeldDeliveries",
                    "the held deliveries are not in increasing envelope-id order after the cursor",
                ));
            }
            all.extend(page);
        }
    }

    /// A page of the evidence the node keeps as a witness (two signed checkpoints of another
    /// node's log that cannot both be true, exactly as received), from the `start`-th, at
    /// most `limit` (capped at [`MAX_PAGE`]). The notes are returned as stored, unverified:
    /// check them against the log owner's key from the roster (or hand them to the offline
    /// verifier).
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.witness_evidence", skip_all)]
    pub async fn witness_evidence(
        &self,
        start: u64,
        limit: u32,
    ) -> Result<Vec<WitnessEvidence>, ClientError> {
        let limit = limit.min(MAX_PAGE);
        match self
            .call(AppRequest::WitnessEvidence { start, limit })
            .await?
        {
            AppResponse::Evidence(page) => Ok(page),
            other => Err(unexpected("WitnessEvidence", &other)),
        }
    }

    /// All the evidence the node keeps as a witness (pages of [`Client::witness_evidence`]).
    ///
    /// # Errors
    /// As [`Client::witness_evidence`].
    pub async fn all_witness_evidence(&self) -> Result<Vec<WitnessEvidence>, ClientError> {
        let mut all = Vec::new();
        loop {
            let page = self.witness_evidence(all.len() as u64, MAX_PAGE).await?;
            if page.is_empty() {
                return Ok(all);
            }
            all.extend(page);
        }
    }

    // ----- Inbox ----------------------------------------------------------------------------

    /// A page of the inbox in arrival order, after `after` (exclusive; `None`: from the
    /// start), at most `limit` entries (capped at [`MAX_PAGE`]). A page may be shorter than
    /// asked (the node also bounds a page's bytes); only an empty page means there are no
    /// more.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`], [`ClientError::InvalidResponse`] if an
    /// entry's header does not decode.
    #[tracing::instrument(name = "streha_client.inbox", skip_all)]
    pub async fn inbox(
        &self,
        after: Option<EnvelopeId>,
        limit: u32,
    ) -> Result<Vec<InboxEntry>, ClientError> {
        let limit = limit.min(MAX_PAGE);
        match self.call(AppRequest::Inbox { after, limit }).await? {
            AppResponse::Inbox(items) => {
                if items.len() > limit as usize {
                    return Err(invalid("Inbox", "more entries than asked for"));
                }
                items.into_iter().map(InboxEntry::from_item).collect()
            }
            other => Err(unexpected("Inbox", &other)),
        }
    }

    /// Fetches and opens an envelope of the inbox: verifies the sender's signature against
    /// the roster, decrypts, and checks that the content holds exactly the declared
    /// categories.
    ///
    /// A record that does not (or is not a record at all) is a violation by the sender: it
    /// is reported to the node, which logs a `violation` entry, and the content is not
    /// released.
    ///
    /// # Errors
    /// [`ClientError::Violation`]; [`ClientError::Envelope`] if the envelope does not open
    /// (not reported: without a valid signature nothing is provable);
    /// [`ClientError::UnknownSender`] (after fetching the roster again);
    /// [`ClientError::InvalidResponse`]; transport errors;
    /// [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.open", skip_all, fields(envelope = %envelope, sender))]
    pub async fn open(&self, envelope: EnvelopeId) -> Result<OpenedRecord, ClientError> {
        let sealed = match self.call(AppRequest::Fetch { envelope }).await? {
            AppResponse::Envelope(sealed) => sealed,
            other => return Err(unexpected("Fetch", &other)),
        };
        let open = |roster: &Roster| {
            open_envelope(
                &sealed,
                envelope,
                &self.config.agency,
                &self.config.encryption_key,
                roster,
            )
        };
        let opened = match open(&self.roster()) {
            // The sender may have joined after this client fetched its roster.
            Err(ClientError::UnknownSender { .. }) => open(&*self.refresh_roster().await?)?,
            other => other?,
        };
        match opened {
            Opened::Record(record) => {
                tracing::Span::current()
                    .record("sender", tracing::field::display(&record.header.sender));
                tracing::debug!("envelope opened");
                Ok(record)
            }
            Opened::Violation {
                sender,
                kind,
                declared,
                found,
            } => {
                tracing::Span::current().record("sender", tracing::field::display(&sender));
                tracing::warn!(?kind, %declared, %found, "the sender violated its declaration; reporting it");
                let log_index = match self.report_violation(envelope, kind, found).await {
                    Ok(index) => Some(index),
                    Err(error) => {
                        tracing::error!(%error, "the violation could not be reported to the node");
                        None
                    }
                };
                Err(ClientError::Violation {
                    envelope,
                    sender,
                    kind,
                    declared,
                    found,
                    log_index,
                })
            }
        }
    }

    /// Reports that an envelope's content did not hold what its header declared, for the
    /// node to log a `violation` entry. [`open`](Self::open) does this itself; call it only
    /// to retry a report that failed. Returns the log index.
    ///
    /// # Errors
    /// Transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.report_violation", skip_all, fields(envelope = %envelope))]
    pub async fn report_violation(
        &self,
        envelope: EnvelopeId,
        kind: ViolationKind,
        found: CategorySet,
    ) -> Result<u64, ClientError> {
        self.logged(AppRequest::ReportViolation {
            envelope,
            kind,
            found,
        })
        .await
    }

    // ----- Proofs ---------------------------------------------------------------------------

    /// Checks a checkpoint against the largest one seen (consistency proof from the node if
    /// the sizes differ) and remembers the larger.
    ///
    /// A checkpoint of a later epoch of the log (`spec/audit-log.md` §9: the node was restored
    /// with a declared loss) starts a new log: nothing to be consistent with, and from then
    /// on a checkpoint of an earlier epoch is refused, as a rollback would be.
    async fn witness(&self, checkpoint: &VerifiedCheckpoint) -> Result<(), ClientError> {
        let known = self.latest_checkpoint();
        if let Some(known) = &known {
            match epoch_of(known).cmp(&epoch_of(checkpoint)) {
                std::cmp::Ordering::Equal => {
                    self.consistency(known, checkpoint).await?;
                }
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Greater => return Err(earlier_epoch(known, checkpoint)),
            }
        }
        let mut latest = lock(&self.latest);
        let newer = match latest.as_ref() {
            None => true,
            Some(l) => match epoch_of(l).cmp(&epoch_of(checkpoint)) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => l.size() < checkpoint.size(),
                // Another call saw a later epoch meanwhile.
                std::cmp::Ordering::Greater => return Err(earlier_epoch(l, checkpoint)),
            },
        };
        if newer {
            *latest = Some(checkpoint.clone());
        }
        Ok(())
    }

    /// The origin a checkpoint note of the node is verified under: the origin it names if
    /// that is an epoch of this agency's log (`AgencyEntry::epoch_of`, the same node key
    /// under that key name), else the base origin (and the note then fails to verify unless
    /// it is of the base origin). Which epochs may follow which is [`Self::witness`]'s check.
    fn origin_of(&self, note: &str) -> String {
        let named = streha_audit::SignedNote::parse(note)
            .ok()
            .and_then(|n| streha_audit::Checkpoint::parse_body(n.body()).ok())
            .map(|c| c.origin().to_owned());
        let roster = self.roster();
        match (named, roster.agency(&self.config.agency)) {
            (Some(named), Some(me)) if me.epoch_of(roster.federation(), &named).is_some() => named,
            _ => self.origin.clone(),
        }
    }

    /// A checkpoint note of the node, verified under [`Self::origin_of`].
    fn verify_note(&self, note: &str) -> Result<VerifiedCheckpoint, ClientError> {
        VerifiedCheckpoint::verify(note, &self.origin_of(note), &self.config.node_key)
    }

    /// Verifies that the smaller of two checkpoints is a prefix of the larger.
    async fn consistency(
        &self,
        a: &VerifiedCheckpoint,
        b: &VerifiedCheckpoint,
    ) -> Result<ConsistencyProof, ClientError> {
        let (old, new) = by_size(a, b);
        let proof = if needs_proof(old, new) {
            match self
                .call(AppRequest::ProveConsistency {
                    old: old.size(),
                    new: new.size(),
                })
                .await?
            {
                AppResponse::Consistency(proof) => proof,
                other => return Err(unexpected("ProveConsistency", &other)),
            }
        } else {
            ConsistencyProof::new(Vec::new()).expect("an empty proof is within the limit")
        };
        check_consistency(old, new, &proof)?;
        Ok(proof)
    }

    /// The node's latest signed checkpoint, verified: signed by the node's identity key
    /// under its log origin, and consistent with every checkpoint this client saw before.
    ///
    /// # Errors
    /// [`ClientError::Checkpoint`], [`ClientError::CheckpointOrigin`],
    /// [`ClientError::Inconsistent`], transport errors, [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.checkpoint", skip_all, fields(size))]
    pub async fn checkpoint(&self) -> Result<VerifiedCheckpoint, ClientError> {
        let note = match self.call(AppRequest::Checkpoint).await? {
            AppResponse::Note(note) => note,
            other => return Err(unexpected("Checkpoint", &other)),
        };
        let checkpoint = self.verify_note(&note)?;
        tracing::Span::current().record("size", checkpoint.size());
        self.witness(&checkpoint).await?;
        Ok(checkpoint)
    }

    /// The node's *published* checkpoint — the latest one cosigned by at least the node's
    /// quorum of other nodes — with the agencies whose cosignatures verify against the
    /// roster. A log that its node could fork quietly proves nothing; a published checkpoint
    /// is one other nodes have seen and would catch a fork of.
    ///
    /// # Errors
    /// [`ClientError::Remote`] with `NotFound` while nothing is published; verification
    /// errors as [`Client::checkpoint`].
    #[tracing::instrument(name = "streha_client.published_checkpoint", skip_all)]
    pub async fn published_checkpoint(
        &self,
    ) -> Result<(VerifiedCheckpoint, Vec<AgencyId>), ClientError> {
        let note = match self.call(AppRequest::PublishedCheckpoint).await? {
            AppResponse::Note(note) => note,
            other => return Err(unexpected("PublishedCheckpoint", &other)),
        };
        let checkpoint = self.verify_note(&note)?;
        self.witness(&checkpoint).await?;
        let witnesses = checkpoint.witnesses(&self.roster());
        Ok((checkpoint, witnesses))
    }

    /// Entry `index` with its inclusion proof against the published checkpoint, verified,
    /// and the agencies that cosigned that checkpoint.
    ///
    /// # Errors
    /// As [`Client::prove_entry`]; `NotFound` if the entry is beyond the published size.
    #[tracing::instrument(name = "streha_client.prove_published", skip_all, fields(index))]
    pub async fn prove_published(
        &self,
        index: u64,
    ) -> Result<(VerifiedEntry, Vec<AgencyId>), ClientError> {
        let proven = match self.call(AppRequest::ProvePublished { index }).await? {
            AppResponse::Entry(proven) => *proven,
            other => return Err(unexpected("ProvePublished", &other)),
        };
        if proven.index != index {
            return Err(invalid(
                "ProvePublished",
                format!("asked for entry {index}, received entry {}", proven.index),
            ));
        }
        let origin = self.origin_of(&proven.checkpoint);
        let entry = VerifiedEntry::verify(proven, &origin, &self.config.node_key)?;
        self.witness(entry.checkpoint()).await?;
        let witnesses = entry.checkpoint().witnesses(&self.roster());
        Ok((entry, witnesses))
    }

    /// An entry of the node's log with its inclusion proof, verified against the node's
    /// signed checkpoint (itself checked for consistency with those seen before).
    ///
    /// # Errors
    /// [`ClientError::InclusionProof`], [`ClientError::Checkpoint`],
    /// [`ClientError::CheckpointOrigin`], [`ClientError::Inconsistent`],
    /// [`ClientError::InvalidResponse`] if the node proves another index; transport errors;
    /// [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.prove_entry", skip_all, fields(index = index))]
    pub async fn prove_entry(&self, index: u64) -> Result<VerifiedEntry, ClientError> {
        let proven = match self.call(AppRequest::ProveEntry { index }).await? {
            AppResponse::Entry(proven) => *proven,
            other => return Err(unexpected("ProveEntry", &other)),
        };
        if proven.index != index {
            return Err(invalid(
                "ProveEntry",
                format!("asked for entry {index}, received entry {}", proven.index),
            ));
        }
        let origin = self.origin_of(&proven.checkpoint);
        let entry = VerifiedEntry::verify(proven, &origin, &self.config.node_key)?;
        self.witness(entry.checkpoint()).await?;
        Ok(entry)
    }

    /// An entry of epoch `epoch` of the node's log (`spec/audit-log.md` §9) with its
    /// inclusion proof, verified against the epoch's checkpoint, signed by the node's key
    /// under that epoch's origin. For an earlier epoch than the node's current one, the
    /// checkpoint is the last of that epoch, which the node keeps: it is checked on its own
    /// (an earlier epoch is a log that no longer grows), not against the checkpoints of the
    /// current epoch. The indices of `DeliveryState::DeliveredInEarlierEpoch` are proven so.
    ///
    /// # Errors
    /// [`ClientError::InclusionProof`], [`ClientError::Checkpoint`],
    /// [`ClientError::CheckpointOrigin`]; [`ClientError::InvalidResponse`] if the node proves
    /// another index or an entry of another epoch; transport errors; [`ClientError::Remote`]
    /// (`NotFound` for an epoch the log does not have).
    #[tracing::instrument(name = "streha_client.prove_entry_in_epoch", skip_all, fields(epoch = epoch, index = index))]
    pub async fn prove_entry_in_epoch(
        &self,
        epoch: u64,
        index: u64,
    ) -> Result<VerifiedEntry, ClientError> {
        let proven = match self
            .call(AppRequest::ProveEntryInEpoch { epoch, index })
            .await?
        {
            AppResponse::Entry(proven) => *proven,
            other => return Err(unexpected("ProveEntryInEpoch", &other)),
        };
        if proven.index != index {
            return Err(invalid(
                "ProveEntryInEpoch",
                format!("asked for entry {index}, received entry {}", proven.index),
            ));
        }
        let origin = self.origin_of(&proven.checkpoint);
        let named = streha_core::epoch::split_epoch(&origin).map(|(_, named)| named);
        if named != Some(epoch) {
            return Err(invalid(
                "ProveEntryInEpoch",
                format!("asked for epoch {epoch}, received a proof under `{origin}`"),
            ));
        }
        VerifiedEntry::verify(proven, &origin, &self.config.node_key)
    }

    /// A consistency proof between two verified checkpoints of the node's log, verified:
    /// the tree of `old` is a prefix of the tree of `new` (RFC 9162 §2.1.4).
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] if `old` is larger than `new`;
    /// [`ClientError::Inconsistent`]; transport errors; [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.prove_consistency", skip_all, fields(old = old.size(), new = new.size()))]
    pub async fn prove_consistency(
        &self,
        old: &VerifiedCheckpoint,
        new: &VerifiedCheckpoint,
    ) -> Result<ConsistencyProof, ClientError> {
        if old.size() > new.size() {
            return Err(ClientError::InvalidArgument(
                "the old checkpoint is larger than the new one",
            ));
        }
        self.consistency(old, new).await
    }

    /// Exports the node's log up to its latest checkpoint, for an offline audit
    /// (`streha audit verify`): every entry, and every checkpoint the node issued up to
    /// that one. The bundle is verified before it is returned (each checkpoint signed by
    /// the node under its origin, each root recomputed from the entries, each checkpoint
    /// consistent with the previous), and its last checkpoint is the one this client
    /// verified.
    ///
    /// # Errors
    /// [`ClientError::Bundle`], [`ClientError::Checkpoint`],
    /// [`ClientError::InvalidResponse`] (missing entries, an endless checkpoint list),
    /// [`ClientError::Inconsistent`]; transport errors; [`ClientError::Remote`].
    #[tracing::instrument(name = "streha_client.export_bundle", skip_all, fields(size))]
    pub async fn export_bundle(&self) -> Result<LogBundle, ClientError> {
        let latest = self.checkpoint().await?;
        self.export_bundle_to(latest).await
    }

    /// Exports the node's log up to a checkpoint its witnesses cosigned: waits, up to `wait`,
    /// until the node's *published* checkpoint (cosigned by its quorum) covers the latest
    /// checkpoint at the start, and exports the log up to the published checkpoint, which
    /// is then the bundle's last, with its cosignatures. Such a bundle verifies with
    /// witnesses required (`streha audit verify --min-witnesses`, default 1).
    ///
    /// # Errors
    /// [`ClientError::NotCosigned`] if nothing covering the latest checkpoint was published
    /// in time; otherwise as [`Client::export_bundle`].
    #[tracing::instrument(name = "streha_client.export_cosigned_bundle", skip_all)]
    pub async fn export_cosigned_bundle(
        &self,
        wait: std::time::Duration,
    ) -> Result<LogBundle, ClientError> {
        let latest = self.checkpoint().await?.size();
        let deadline = std::time::Instant::now() + wait;
        loop {
            let published = match self.published_checkpoint().await {
                Ok((published, _)) => Some(published),
                Err(ClientError::Remote(error))
                    if error.code == streha_wire::ErrorCode::NotFound =>
                {
                    None
                }
                Err(other) => return Err(other),
            };
            let size = published.as_ref().map(VerifiedCheckpoint::size);
            if let Some(published) = published.filter(|p| p.size() >= latest) {
                return self.export_bundle_to(published).await;
            }
            if std::time::Instant::now() >= deadline {
                return Err(ClientError::NotCosigned {
                    latest,
                    published: size,
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Exports the log up to `latest`, a checkpoint of the node this client verified.
    async fn export_bundle_to(&self, latest: VerifiedCheckpoint) -> Result<LogBundle, ClientError> {
        let size = latest.size();
        tracing::Span::current().record("size", size);

        let mut entries: Vec<Vec<u8>> = Vec::new();
        while (entries.len() as u64) < size {
            let start = entries.len() as u64;
            let limit = u32::try_from((size - start).min(u64::from(MAX_PAGE))).unwrap_or(MAX_PAGE);
            let page = match self.call(AppRequest::Entries { start, limit }).await? {
                AppResponse::Entries(page) => page,
                other => return Err(unexpected("Entries", &other)),
            };
            if page.is_empty() {
                return Err(invalid(
                    "Entries",
                    format!("no entries from index {start}, below the checkpoint size {size}"),
                ));
            }
            if page.len() > limit as usize {
                return Err(invalid("Entries", "more entries than asked for"));
            }
            entries.extend(page);
        }

        // Paged by tree size: each page starts after the last checkpoint received, sizes
        // strictly increase, and the export stops at the verified size, so it always ends.
        let mut checkpoints: Vec<String> = Vec::new();
        let mut last_size = None;
        'pages: loop {
            let after = last_size.unwrap_or(0);
            let page = match self
                .call(AppRequest::CheckpointsAfter {
                    after,
                    limit: MAX_PAGE,
                })
                .await?
            {
                AppResponse::Checkpoints(page) => page,
                other => return Err(unexpected("CheckpointsAfter", &other)),
            };
            if page.is_empty() {
                break;
            }
            if page.len() > MAX_PAGE as usize {
                return Err(invalid(
                    "CheckpointsAfter",
                    "more checkpoints than asked for",
                ));
            }
            for note in page {
                let checkpoint =
                    VerifiedCheckpoint::verify(&note, latest.origin(), &self.config.node_key)?;
                if checkpoint.size() <= last_size.unwrap_or(0) {
                    return Err(invalid(
                        "CheckpointsAfter",
                        "a checkpoint is not larger than the one before it",
                    ));
                }
                if checkpoint.size() > size {
                    // Issued after the latest checkpoint: not part of this export.
                    break 'pages;
                }
                last_size = Some(checkpoint.size());
                checkpoints.push(note);
            }
        }
        if last_size != Some(size) {
            checkpoints.push(latest.note().to_owned());
        }

        let rosters = self.adopted_rosters().await?;
        // The log of the checkpoint's epoch: a node restored with loss exports its current
        // epoch; the earlier epoch's bundle is the file the node kept (`spec/protocol.md` §13).
        let bundle =
            LogBundle::new(latest.origin().to_owned(), entries, checkpoints).with_rosters(rosters);
        let verifier = log_verifier(latest.origin(), &self.config.node_key)?;
        let report = bundle
            .verify(std::slice::from_ref(&verifier))
            .map_err(ClientError::Bundle)?;
        if report.signed_size != size || report.root != *latest.root() {
            return Err(invalid(
                "Checkpoints",
                "the exported log does not end at the checkpoint this client verified",
            ));
        }
        tracing::info!(
            checkpoints = bundle.checkpoints.len(),
            rosters = bundle.rosters.len(),
            "log bundle exported and verified"
        );
        Ok(bundle)
    }

    /// The signed roster notes the node adopted, oldest first, each checked against the
    /// roster key (a bundle carries them: `spec/verification.md` §1). A node that does not
    /// keep them (older versions) answers with none.
    async fn adopted_rosters(&self) -> Result<Vec<String>, ClientError> {
        /// More roster versions than any federation issues: the node's list does not end.
        const MAX_ROSTERS: usize = 4096;
        let mut rosters = Vec::new();
        loop {
            let page = match self
                .call(AppRequest::AdoptedRosters {
                    start: rosters.len() as u64,
                    limit: MAX_ROSTERS_PAGE as u32,
                })
                .await
            {
                Ok(AppResponse::Rosters(page)) => page,
                // A node from before adopted rosters were kept.
                Err(ClientError::Remote(e)) if e.code == ErrorCode::BadRequest => break,
                Ok(other) => return Err(unexpected("Rosters", &other)),
                Err(e) => return Err(e),
            };
            let count = page.len();
            for note in page {
                Roster::open(&note, &self.config.roster_key).map_err(|e| {
                    invalid(
                        "Rosters",
                        format!("a roster note the node adopted does not verify: {e}"),
                    )
                })?;
                rosters.push(note);
            }
            if count < MAX_ROSTERS_PAGE {
                break;
            }
            if rosters.len() > MAX_ROSTERS {
                return Err(invalid(
                    "Rosters",
                    "far more roster versions than any federation issues; the node's list does not end",
                ));
            }
        }
        Ok(rosters)
    }
}

#[cfg(test)]
mod tests {
    use streha_crypto::{
        AgencyEncryptionSecretKey, AgencySigningSecretKey, ApplicationSecretKey,
        NodeIdentitySecretKey,
    };

    use super::*;
    use crate::test_support::{Federation, id};

    fn config(f: &Federation) -> ClientConfig {
        ClientConfig {
            node_address: "127.0.0.1:1".parse().unwrap(),
            node_key: f.police_node.public_key(),
            agency: id("police"),
            application_key: ApplicationSecretKey::from_seed_bytes([42; 32]),
            signing_key: AgencySigningSecretKey::from_seed_bytes([2; 32]),
            encryption_key: AgencyEncryptionSecretKey::from_seed_bytes([3; 32]),
            roster_key: f.roster_key.public_key(),
            request_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_own_entry_must_match_the_keys() {
        let f = Federation::new();
        let good = config(&f);
        check_own_entry(&f.roster, &good).unwrap();
        open_roster(&f.signed_roster(), &good).unwrap();

        let mut other_signing = config(&f);
        other_signing.signing_key = AgencySigningSecretKey::from_seed_bytes([50; 32]);
        let err = check_own_entry(&f.roster, &other_signing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the agency signing key does not match the roster entry for police; load this agency's key files, or ask the national authority to update the roster"
        );

        let mut other_encryption = config(&f);
        other_encryption.encryption_key = AgencyEncryptionSecretKey::from_seed_bytes([51; 32]);
        assert!(
            check_own_entry(&f.roster, &other_encryption)
                .unwrap_err()
                .to_string()
                .starts_with(
                    "the agency encryption key does not match the roster entry for police"
                )
        );

        let mut other_node = config(&f);
        other_node.node_key = NodeIdentitySecretKey::from_seed_bytes([52; 32]).public_key();
        assert!(matches!(
            check_own_entry(&f.roster, &other_node),
            Err(ClientError::KeyMismatch {
                key: "configured node key",
                ..
            })
        ));

        let mut stranger = config(&f);
        stranger.agency = id("stranger");
        assert!(matches!(
            check_own_entry(&f.roster, &stranger),
            Err(ClientError::AgencyNotInRoster { version: 1, .. })
        ));
    }

    #[test]
    fn the_roster_must_be_signed_by_the_roster_key() {
        let f = Federation::new();
        let note = f.signed_roster();
        let mut wrong_key = config(&f);
        wrong_key.roster_key =
            streha_crypto::RosterSecretKey::from_seed_bytes([60; 32]).public_key();
        assert!(matches!(
            open_roster(&note, &wrong_key),
            Err(ClientError::Roster(streha_wire::RosterError::Signature(_)))
        ));
        let unsigned = f.roster.to_body().unwrap();
        assert!(matches!(
            open_roster(&unsigned, &config(&f)),
            Err(ClientError::Roster(_))
        ));
        let doctored = note.replacen("127.0.0.1:7402", "127.0.0.1:7403", 1);
        assert_ne!(doctored, note);
        assert!(matches!(
            open_roster(&doctored, &config(&f)),
            Err(ClientError::Roster(streha_wire::RosterError::Signature(_)))
        ));
    }

    /// Clients are shared between tasks: the client and its futures are `Send`.
    #[allow(dead_code, clippy::let_underscore_future)]
    fn futures_are_send(client: &Client, builder: DisclosureBuilder, id: EnvelopeId) {
        fn send<T: Send + Sync>(_: &T) {}
        fn send_future<T: Send>(_: T) {}
        send(client);
        send_future(client.submit(builder));
        send_future(client.open(id));
        send_future(client.export_bundle());
        send_future(client.refresh_roster());
    }

    #[test]
    fn now_is_after_2025() {
        assert!(now() > Timestamp(1_735_689_600_000));
    }
}
