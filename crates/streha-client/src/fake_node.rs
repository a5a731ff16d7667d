//! Test-only: a tiny in-process node that answers application requests over real QUIC,
//! with a scripted handler. It decides nothing; each test says what it answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use streha_audit::{
    Checkpoint, MemoryTree, NoteSigner, consistency_proof, inclusion_proof, sign_checkpoint,
};
use streha_crypto::{ApplicationSecretKey, NodeIdentitySecretKey};
use streha_transport::{
    Identity, PinnedKey, ServerSetup, TransportLimits, read_frame, server_config, write_frame,
};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::peer::ProvenEntry;
use streha_wire::{APP_ALPN, ErrorCode, MAX_FRAME_LEN, RemoteError};

use crate::config::ClientConfig;
use crate::test_support::{Federation, id};

type Handler = Arc<dyn Fn(AppRequest) -> AppResponse + Send + Sync>;

/// Starts a node on 127.0.0.1 with identity `node_key` that accepts only `app_key` and
/// answers every request with `handler`.
async fn start(
    node_key: &NodeIdentitySecretKey,
    app_key: &ApplicationSecretKey,
    handler: Handler,
) -> (quinn::Endpoint, SocketAddr) {
    let identity = Identity::from_key(node_key).unwrap();
    let config = server_config(ServerSetup {
        identity: &identity,
        clients: Arc::new(PinnedKey(app_key.public_key().to_bytes())),
        alpn: APP_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let address = endpoint.local_addr().unwrap();
    let accept = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    let handler = Arc::clone(&handler);
                    tokio::spawn(async move {
                        let Ok(request) = read_frame::<AppRequest>(&mut recv, MAX_FRAME_LEN).await
                        else {
                            return;
                        };
                        let _ = write_frame(&mut send, &handler(request)).await;
                    });
                }
            });
        }
    });
    (endpoint, address)
}

fn app_key() -> ApplicationSecretKey {
    ApplicationSecretKey::from_seed_bytes([42; 32])
}

fn config(f: &Federation, address: SocketAddr) -> ClientConfig {
    ClientConfig {
        node_address: address,
        node_key: f.police_node.public_key(),
        agency: id("police"),
        application_key: app_key(),
        signing_key: streha_crypto::AgencySigningSecretKey::from_seed_bytes([2; 32]),
        encryption_key: streha_crypto::AgencyEncryptionSecretKey::from_seed_bytes([3; 32]),
        roster_key: f.roster_key.public_key(),
        request_timeout: Duration::from_secs(5),
    }
}

const ORIGIN: &str = "test.example/streha/police";

/// A node's audit log in memory: entries, tree, and a checkpoint per append.
struct Log {
    origin: String,
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
    checkpoints: Vec<String>,
    signer: NoteSigner,
}

impl Log {
    fn new(node: &NodeIdentitySecretKey) -> Self {
        Self::with_origin(node, ORIGIN)
    }

    /// A log under another origin (a later epoch), signed by the same node key.
    fn with_origin(node: &NodeIdentitySecretKey, origin: &str) -> Self {
        let signer = NoteSigner::new(origin, node.as_dalek().clone()).unwrap();
        Self {
            origin: origin.to_owned(),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            checkpoints: Vec::new(),
            signer,
        }
    }

    fn append(&mut self, entry: &[u8]) -> u64 {
        let index = self.tree.append_entry(entry);
        self.entries.push(entry.to_vec());
        let checkpoint =
            Checkpoint::new(self.origin.as_str(), self.tree.size(), self.tree.root()).unwrap();
        self.checkpoints
            .push(sign_checkpoint(&checkpoint, &self.signer).to_text());
        index
    }

    fn answer(&self, request: AppRequest) -> AppResponse {
        let size = self.tree.size();
        match request {
            AppRequest::Checkpoint => AppResponse::Note(self.checkpoints.last().unwrap().clone()),
            AppRequest::ProveEntry { index } => AppResponse::Entry(Box::new(ProvenEntry {
                entry: self.entries[index as usize].clone(),
                index,
                proof: inclusion_proof(index, size, &self.tree).unwrap(),
                checkpoint: self.checkpoints.last().unwrap().clone(),
            })),
            AppRequest::ProveConsistency { old, new } => {
                AppResponse::Consistency(consistency_proof(old, new, &self.tree).unwrap())
            }
            AppRequest::Entries { start, limit } => AppResponse::Entries(
                self.entries
                    .iter()
                    .skip(start as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect(),
            ),
            AppRequest::Checkpoints { start, limit } => AppResponse::Checkpoints(
                self.checkpoints
                    .iter()
                    .skip(start as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect(),
            ),
            // One checkpoint per entry: the one after size `after` is the `after`-th. Pages
            // of at most 7, as a node cuts pages by bytes: shorter than asked, not the end.
            AppRequest::CheckpointsAfter { after, limit } => AppResponse::Checkpoints(
                self.checkpoints
                    .iter()
                    .skip(after as usize)
                    .take(limit.min(7) as usize)
                    .cloned()
                    .collect(),
            ),
            _ => AppResponse::Error(RemoteError::new(ErrorCode::BadRequest, "not scripted")),
        }
    }
}

fn roster_handler(note: String) -> Handler {
    Arc::new(move |request| match request {
        AppRequest::Roster => AppResponse::Note(note.clone()),
        _ => AppResponse::Error(RemoteError::new(ErrorCode::BadRequest, "not scripted")),
    })
}

mod tests {
    use streha_core::{
        AgeStatus, Category, CategorySet, DisclosableCategory, EnvelopeId, Purpose, RefusalReason,
        Role, SubjectId, Timestamp, ViolationKind,
    };
    use streha_crypto::RosterSecretKey;
    use streha_wire::app::InboxItem;

    use super::*;
    use crate::{Client, ClientError, Fault};

    #[tokio::test]
    async fn connect_checks_the_roster() {
        let f = Federation::new();
        let (_node, address) = start(
            &f.police_node,
            &app_key(),
            roster_handler(f.signed_roster()),
        )
        .await;
        let client = Client::connect(config(&f, address)).await.unwrap();
        assert_eq!(client.roster().version(), 1);
        assert_eq!(client.log_origin(), ORIGIN);
        assert_eq!(client.refresh_roster().await.unwrap().version(), 1);

        // A roster signed by someone else.
        let forged = f
            .roster
            .sign(&RosterSecretKey::from_seed_bytes([66; 32]))
            .unwrap();
        let (_node, address) = start(&f.police_node, &app_key(), roster_handler(forged)).await;
        let err = Client::connect(config(&f, address)).await.unwrap_err();
        assert!(matches!(err, ClientError::Roster(_)), "{err}");
        assert_eq!(err.fault(), Fault::Verification);

        // A roster in which our keys are not ours.
        let mut other = config(&f, address);
        let (_node, address) = start(
            &f.police_node,
            &app_key(),
            roster_handler(f.signed_roster()),
        )
        .await;
        other.node_address = address;
        other.signing_key = streha_crypto::AgencySigningSecretKey::from_seed_bytes([77; 32]);
        let err = Client::connect(other).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the agency signing key does not match the roster entry for police"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn handshakes_pin_both_keys_and_say_which_key_is_wrong() {
        let f = Federation::new();
        // The node does not know this application key: the error names the key's
        // fingerprint and the node.toml table to add it to.
        let stranger = ApplicationSecretKey::from_seed_bytes([43; 32]);
        let (_node, address) =
            start(&f.police_node, &stranger, roster_handler(f.signed_roster())).await;
        let err = Client::connect(config(&f, address)).await.unwrap_err();
        let fingerprint = app_key().fingerprint().to_hex();
        assert!(
            matches!(&err, ClientError::NotEnrolled { fingerprint: f, .. } if *f == fingerprint),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains(&fingerprint), "{message}");
        assert!(
            message.contains("[applications]") && message.contains("node.toml"),
            "{message}"
        );
        assert_eq!(err.fault(), Fault::Local);

        // A node presenting another key than the configured one: both fingerprints.
        let impostor = NodeIdentitySecretKey::from_seed_bytes([44; 32]);
        let (_node, address) =
            start(&impostor, &app_key(), roster_handler(f.signed_roster())).await;
        let err = Client::connect(config(&f, address)).await.unwrap_err();
        let (expected, presented) = (
            f.police_node.fingerprint().to_hex(),
            impostor.fingerprint().to_hex(),
        );
        assert!(
            matches!(&err, ClientError::NodeKeyMismatch { expected: e, presented: p, .. }
                if *e == expected && *p == presented),
            "{err}"
        );
        assert!(
            !err.to_string().contains("ApplicationVerificationFailure"),
            "{err}"
        );
        assert_eq!(err.fault(), Fault::Verification);
    }

    #[tokio::test]
    async fn nothing_listening_is_refused_at_once() {
        let f = Federation::new();
        // A port nobody listens on.
        let address = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut config = config(&f, address);
        // The timeout would take an hour: the error must come from the refusal.
        config.request_timeout = Duration::from_secs(3600);
        let err = tokio::time::timeout(Duration::from_secs(120), Client::connect(config))
            .await
            .expect("refused at once, not at the handshake timeout")
            .unwrap_err();
        assert!(
            matches!(err, ClientError::ConnectionRefused { .. }),
            "{err}"
        );
        assert_eq!(err.fault(), Fault::Transport);
        assert_eq!(err.to_string().matches("node_address").count(), 1, "{err}");
    }

    #[tokio::test]
    async fn submissions_map_to_accepted_or_the_exact_refusal() {
        let f = Federation::new();
        let note = f.signed_roster();
        let reasons = Arc::new(Mutex::new(Vec::<RefusalReason>::new()));
        let script = Arc::clone(&reasons);
        let handler: Handler = Arc::new(move |request| match request {
            AppRequest::Roster => AppResponse::Note(note.clone()),
            AppRequest::RegisterSubject { .. } => AppResponse::Logged { index: 1 },
            AppRequest::Submit(envelope) => {
                let header =
                    streha_core::DisclosureHeader::decode(&envelope.header.context).unwrap();
                match script.lock().unwrap().pop() {
                    None => AppResponse::Accepted {
                        envelope: header.envelope_id,
                        index: 2,
                    },
                    Some(reason) => AppResponse::Refused { reason, index: 3 },
                }
            }
            _ => AppResponse::Error(RemoteError::new(ErrorCode::NotFound, "no such thing")),
        });
        let (_node, address) = start(&f.police_node, &app_key(), handler).await;
        let client = Client::connect(config(&f, address)).await.unwrap();

        let (subject, index) = client
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
        assert_eq!(index, 1);
        let disclose = || {
            client
                .disclosure(subject, id("csw"), Purpose::Assistance)
                .field(DisclosableCategory::Medical, "diagnosis", "…")
                .unwrap()
                .consent(f.consent)
        };
        let sealed = disclose().seal(&client).unwrap();
        let submitted = client.submit(&sealed).await.unwrap();
        assert_eq!(submitted.envelope, sealed.envelope_id());
        assert_eq!(submitted.index, 2);

        let every_kind = [
            RefusalReason::ProtectionCategory {
                category: Category::ShelterLocation,
            },
            RefusalReason::NoConsentForAssistance {
                category: Category::Medical,
            },
            RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 },
            RefusalReason::UnknownSubject { subject },
            RefusalReason::NotInAgreement {
                category: Category::Investigation,
                role: Role::CentreForSocialWork,
                purpose: Purpose::Assistance,
            },
        ];
        for reason in every_kind {
            reasons.lock().unwrap().push(reason.clone());
            let err = client.submit(disclose()).await.unwrap_err();
            assert_eq!(err.fault(), Fault::Policy);
            match err {
                ClientError::Refused {
                    reason: got,
                    log_index: 3,
                } => assert_eq!(got, reason),
                other => panic!("{other}"),
            }
        }

        // A node error carries its code.
        let err = client
            .delivery_status(sealed.envelope_id())
            .await
            .unwrap_err();
        assert_eq!(err.remote_code(), Some(ErrorCode::NotFound));
    }

    #[tokio::test]
    async fn proofs_are_verified_and_a_rewritten_log_is_caught() {
        let f = Federation::new();
        let note = f.signed_roster();
        let log = Arc::new(Mutex::new(Log::new(&f.police_node)));
        for i in 0..300 {
            log.lock().unwrap().append(format!("entry {i}").as_bytes());
        }
        let shared = Arc::clone(&log);
        let handler: Handler = Arc::new(move |request| match request {
            AppRequest::Roster => AppResponse::Note(note.clone()),
            other => shared.lock().unwrap().answer(other),
        });
        let (_node, address) = start(&f.police_node, &app_key(), handler).await;
        let client = Client::connect(config(&f, address)).await.unwrap();

        let first = client.checkpoint().await.unwrap();
        assert_eq!(first.size(), 300);
        let entry = client.prove_entry(17).await.unwrap();
        assert_eq!(entry.entry_bytes(), b"entry 17");

        // The log grows: the new checkpoint is checked against the old one.
        log.lock().unwrap().append(b"entry 300");
        let second = client.checkpoint().await.unwrap();
        assert_eq!(second.size(), 301);
        client.prove_consistency(&first, &second).await.unwrap();
        assert!(matches!(
            client.prove_consistency(&second, &first).await,
            Err(ClientError::InvalidArgument(_))
        ));

        // The whole log, in pages, verified.
        let bundle = client.export_bundle().await.unwrap();
        assert_eq!(bundle.entries.len(), 301);
        assert_eq!(bundle.checkpoints.len(), 301);
        assert_eq!(bundle.origin, ORIGIN);

        // The node rewrites its history (validly signed): caught by consistency.
        {
            let mut rewritten = Log::new(&f.police_node);
            for i in 0..302 {
                let entry = if i == 5 {
                    "forged".to_owned()
                } else {
                    format!("entry {i}")
                };
                rewritten.append(entry.as_bytes());
            }
            *log.lock().unwrap() = rewritten;
        }
        let err = client.checkpoint().await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Inconsistent {
                    old_size: 301,
                    new_size: 302,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.fault(), Fault::Verification);
        assert_eq!(client.latest_checkpoint().unwrap().size(), 301);
    }

    /// Issue 18.18: a node restored with a declared loss continues its log in a later epoch
    /// (`spec/audit-log.md` §9), signed by the same key under `<base>/epoch/<n>`. The client
    /// verifies and exports it under that origin, refuses to go back to an earlier epoch, and
    /// refuses an origin that is no epoch of its agency's log.
    #[tokio::test]
    async fn a_node_in_a_later_log_epoch_is_verified_under_that_epoch() {
        let f = Federation::new();
        let note = f.signed_roster();
        let log = Arc::new(Mutex::new(Log::new(&f.police_node)));
        for i in 0..3 {
            log.lock().unwrap().append(format!("entry {i}").as_bytes());
        }
        let shared = Arc::clone(&log);
        let handler: Handler = Arc::new(move |request| match request {
            AppRequest::Roster => AppResponse::Note(note.clone()),
            other => shared.lock().unwrap().answer(other),
        });
        let (_node, address) = start(&f.police_node, &app_key(), handler).await;
        let client = Client::connect(config(&f, address)).await.unwrap();
        assert_eq!(client.checkpoint().await.unwrap().origin(), ORIGIN);

        // Restored with a declared loss: the node continues in epoch 2, a new log.
        let epoch2 = format!("{ORIGIN}/epoch/2");
        {
            let mut next = Log::with_origin(&f.police_node, &epoch2);
            next.append(b"the declaration");
            next.append(b"entry after");
            *log.lock().unwrap() = next;
        }
        let checkpoint = client.checkpoint().await.unwrap();
        assert_eq!(checkpoint.origin(), epoch2);
        assert_eq!(checkpoint.size(), 2);
        let entry = client.prove_entry(1).await.unwrap();
        assert_eq!(entry.entry_bytes(), b"entry after");
        assert_eq!(entry.checkpoint().origin(), epoch2);
        let bundle = client.export_bundle().await.unwrap();
        assert_eq!(bundle.origin, epoch2);
        assert_eq!(bundle.entries.len(), 2);
        assert_eq!(client.log_origin(), ORIGIN);

        // Back to the earlier epoch (validly signed, larger): refused, as a rollback.
        {
            let mut back = Log::new(&f.police_node);
            for i in 0..5 {
                back.append(format!("entry {i}").as_bytes());
            }
            *log.lock().unwrap() = back;
        }
        let err = client.checkpoint().await.unwrap_err();
        assert!(
            matches!(&err, ClientError::CheckpointOrigin { expected, found }
                if *expected == epoch2 && found == ORIGIN),
            "{err}"
        );
        assert_eq!(err.fault(), Fault::Verification);

        // Origins that are no epoch of this agency's log, signed by the node's key: refused.
        for origin in [
            format!("{ORIGIN}/epoch/02"),
            format!("{ORIGIN}/epoch/1"),
            "test.example/streha/shelter/epoch/3".to_owned(),
        ] {
            {
                let mut other = Log::with_origin(&f.police_node, &origin);
                other.append(b"entry");
                *log.lock().unwrap() = other;
            }
            let err = client.checkpoint().await.unwrap_err();
            assert!(matches!(err, ClientError::Checkpoint(_)), "{origin}: {err}");
        }
    }

    #[tokio::test]
    async fn opening_reports_violations_to_the_node() {
        let f = Federation::new();
        // The csw application receives from the police.
        let csw_app = ApplicationSecretKey::from_seed_bytes([45; 32]);
        let csw_node = NodeIdentitySecretKey::from_seed_bytes([4; 32]);
        let note = f.signed_roster();

        // An honest envelope and a dishonest one (declares identity, carries medical too).
        let honest_header = header(EnvelopeId::from_bytes([1; 16]), &[Category::Identity]);
        let record = streha_core::Record::new()
            .with(streha_core::Field::text(DisclosableCategory::Identity, "name", "x").unwrap())
            .unwrap();
        let honest = seal(&f, &honest_header, &record.encode());
        let dishonest_header = header(EnvelopeId::from_bytes([2; 16]), &[Category::Identity]);
        let more = record
            .clone()
            .with(streha_core::Field::text(DisclosableCategory::Medical, "d", "y").unwrap())
            .unwrap();
        let dishonest = seal(&f, &dishonest_header, &more.encode());

        let reports = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&reports);
        let items = vec![
            InboxItem {
                envelope: honest_header.envelope_id,
                header: honest_header.encode(),
                received_index: 0,
                received_at: Timestamp(5),
            },
            InboxItem {
                envelope: dishonest_header.envelope_id,
                header: dishonest_header.encode(),
                received_index: 1,
                received_at: Timestamp(6),
            },
        ];
        let handler: Handler = Arc::new(move |request| match request {
            AppRequest::Roster => AppResponse::Note(note.clone()),
            AppRequest::Inbox { .. } => AppResponse::Inbox(items.clone()),
            AppRequest::Fetch { envelope } if envelope == honest_header.envelope_id => {
                AppResponse::Envelope(Box::new(honest.clone()))
            }
            AppRequest::Fetch { .. } => AppResponse::Envelope(Box::new(dishonest.clone())),
            AppRequest::ReportViolation {
                envelope,
                kind,
                found,
            } => {
                seen.lock().unwrap().push((envelope, kind, found));
                AppResponse::Logged { index: 9 }
            }
            _ => AppResponse::Error(RemoteError::new(ErrorCode::BadRequest, "not scripted")),
        });
        let (_node, address) = start(&csw_node, &csw_app, handler).await;
        let client = Client::connect(ClientConfig {
            node_address: address,
            node_key: csw_node.public_key(),
            agency: id("csw"),
            application_key: csw_app,
            signing_key: streha_crypto::AgencySigningSecretKey::from_seed_bytes([5; 32]),
            encryption_key: streha_crypto::AgencyEncryptionSecretKey::from_seed_bytes([6; 32]),
            roster_key: f.roster_key.public_key(),
            request_timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();

        let inbox = client.inbox(None, 10).await.unwrap();
        assert_eq!(inbox.len(), 2);
        let opened = client.open(inbox[0].envelope).await.unwrap();
        assert_eq!(opened.record, record);
        assert!(reports.lock().unwrap().is_empty());

        let err = client.open(inbox[1].envelope).await.unwrap_err();
        match &err {
            ClientError::Violation {
                envelope,
                sender,
                kind,
                declared,
                found,
                log_index,
            } => {
                assert_eq!(*envelope, dishonest_header.envelope_id);
                assert_eq!(*sender, id("police"));
                assert_eq!(*kind, ViolationKind::CategoryMismatch);
                assert_eq!(*declared, CategorySet::of(&[Category::Identity]));
                assert_eq!(*found, more.categories());
                assert_eq!(*log_index, Some(9));
            }
            other => panic!("{other}"),
        }
        assert_eq!(err.fault(), Fault::Sender);
        assert_eq!(
            *reports.lock().unwrap(),
            vec![(
                dishonest_header.envelope_id,
                ViolationKind::CategoryMismatch,
                more.categories()
            )]
        );
    }

    fn consent(subject: SubjectId, n: u8) -> streha_wire::app::ConsentStatus {
        let grant = crate::NewConsent {
            subject,
            granted_by: streha_core::Grantor::Subject,
            recipients: vec![streha_core::Recipient::Role(Role::CentreForSocialWork)],
            categories: CategorySet::of(&[Category::Medical]),
            purposes: streha_core::PurposeSet::of(&[Purpose::Assistance]),
            valid_from: Timestamp(1),
            expires_at: Timestamp(2),
            evidence_hash: [0; 32],
            recorded_by: id("officer-1"),
            recorded_at: Timestamp(1),
        }
        .into_grant(streha_core::ConsentId::from_bytes([n; 16]))
        .unwrap();
        streha_wire::app::ConsentStatus {
            grant,
            revoked_at: None,
            log_index: u64::from(n),
        }
    }

    fn held(n: u8) -> streha_wire::app::HeldDelivery {
        streha_wire::app::HeldDelivery {
            envelope: EnvelopeId::from_bytes([n; 16]),
            recipient: id("csw"),
            class: streha_wire::app::HoldReason::Refused,
            reason: "refused by the receiver".into(),
            since: Timestamp(1),
        }
    }

    /// A page after `after` of at most three items (shorter than asked, as a node cuts
    /// pages by bytes), or, if `stuck`, always the first page whatever the cursor.
    fn short_page<T: Clone, K: PartialOrd + Copy>(
        all: &[T],
        key: impl Fn(&T) -> K,
        after: Option<K>,
        stuck: bool,
    ) -> Vec<T> {
        all.iter()
            .filter(|item| stuck || after.is_none_or(|after| key(item) > after))
            .take(3)
            .cloned()
            .collect()
    }

    #[tokio::test]
    async fn paged_lists_go_on_past_short_pages_and_a_node_that_does_not_move_on_is_refused() {
        let f = Federation::new();
        let note = f.signed_roster();
        let subject = SubjectId::from_bytes([7; 16]);
        let consents: Vec<_> = (1..=10).map(|n| consent(subject, n)).collect();
        let holds: Vec<_> = (1..=10).map(held).collect();
        for stuck in [false, true] {
            let (note, served_consents, served_holds) =
                (note.clone(), consents.clone(), holds.clone());
            let handler: Handler = Arc::new(move |request| match request {
                AppRequest::Roster => AppResponse::Note(note.clone()),
                AppRequest::ConsentsPage { after, .. } => AppResponse::Consents(short_page(
                    &served_consents,
                    |c| c.grant.id(),
                    after,
                    stuck,
                )),
                AppRequest::HeldDeliveries { after, .. } => {
                    AppResponse::Held(short_page(&served_holds, |h| h.envelope, after, stuck))
                }
                _ => AppResponse::Error(RemoteError::new(ErrorCode::BadRequest, "not scripted")),
            });
            let (_node, address) = start(&f.police_node, &app_key(), handler).await;
            let client = Client::connect(config(&f, address)).await.unwrap();
            if stuck {
                let err = client.consents(subject).await.unwrap_err();
                assert!(matches!(err, ClientError::InvalidResponse { .. }), "{err}");
                let err = client.all_held_deliveries().await.unwrap_err();
                assert!(matches!(err, ClientError::InvalidResponse { .. }), "{err}");
            } else {
                assert_eq!(client.consents(subject).await.unwrap(), consents);
                assert_eq!(client.all_held_deliveries().await.unwrap(), holds);
                let other = client.consents(SubjectId::from_bytes([8; 16])).await;
                assert!(
                    matches!(other, Err(ClientError::InvalidResponse { .. })),
                    "another subject's consents are refused"
                );
            }
        }
    }

    fn header(envelope: EnvelopeId, categories: &[Category]) -> streha_core::DisclosureHeader {
        streha_core::DisclosureHeader {
            envelope_id: envelope,
            sender: id("police"),
            recipient: id("csw"),
            subject: SubjectId::from_bytes([7; 16]),
            categories: CategorySet::of(categories),
            purpose: Purpose::IdentificationAndReferral,
            consent: None,
            created_at: Timestamp(1),
            approvals: streha_core::Approvals::new(),
        }
    }

    fn seal(
        f: &Federation,
        header: &streha_core::DisclosureHeader,
        plaintext: &[u8],
    ) -> streha_crypto::Envelope {
        streha_crypto::seal(
            &f.police_signing,
            &f.csw_encryption.public_key(),
            &header.encode(),
            plaintext,
        )
        .unwrap()
    }
}
