//! Tests of a node's request handlers on a real store, without endpoints or workers: answers
//! that can grow stay pages within a frame, whatever the store holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use streha_audit::NoteSigner;
use streha_core::{
    AgeStatus, AgencyId, Approvals, Category, CategorySet, ConsentGrant, ConsentId, ConsentTerms,
    DisclosableCategory, DisclosureHeader, EnvelopeId, ExchangeAgreement, Field, Grantor, Purpose,
    PurposeSet, Recipient, Record, Role, SubjectId, Timestamp,
};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, NodeIdentitySecretKey, RosterSecretKey,
};
use streha_store::{Store, Transaction};
use streha_transport::Identity;
use streha_wire::app::{AppRequest, AppResponse, DeliveryState, MAX_PAGE};
use streha_wire::limits::{MAX_PAGE_BYTES, MAX_TEXT_LEN};
use streha_wire::peer::{Delivery, PeerRequest, PeerResponse, SubjectFacts};
use streha_wire::{AgencyEntry, ErrorCode, MAX_FRAME_LEN, Roster, frame};

use crate::config::{Limits, WitnessConfig};
use crate::shared::Shared;
use crate::state::{
    self, CONSENT_INDEX, CONSENTS, HELD, Held, HoldClass, OUTBOUND_INDEX, OutboundIndex,
    SUBJECT_CONSENTS, StoredConsent,
};

/// A node of the police, and what the shelter (its peer) signs and seals with.
struct Node {
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
    shelter: AgencyEntry,
    shelter_node: NodeIdentitySecretKey,
    shelter_signing: AgencySigningSecretKey,
    police_encryption: AgencyEncryptionSecretKey,
    /// The police's agency signing key: what its applications sign submissions with.
    police_signing: AgencySigningSecretKey,
}

fn entry(
    id: &str,
    role: Role,
    node: &NodeIdentitySecretKey,
    signing: &AgencySigningSecretKey,
    encryption: &AgencyEncryptionSecretKey,
) -> AgencyEntry {
    AgencyEntry {
        id: AgencyId::new(id).unwrap(),
        role,
        address: "127.0.0.1:1".into(),
        node_key: node.public_key(),
        signing_key: signing.public_key(),
        encryption_key: encryption.public_key(),
        officers: vec![],
    }
}

fn node() -> Node {
    node_at(streha_core::epoch::FIRST_EPOCH)
}

/// A police node whose log is in `epoch` (`spec/audit-log.md` §9).
fn node_at(epoch: u64) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let police_node = NodeIdentitySecretKey::generate();
    let police_encryption = AgencyEncryptionSecretKey::generate();
    let police_signing = AgencySigningSecretKey::generate();
    let shelter_signing = AgencySigningSecretKey::generate();
    let shelter_node = NodeIdentitySecretKey::generate();
    let police = entry(
        "police",
        Role::Police,
        &police_node,
        &police_signing,
        &police_encryption,
    );
    let shelter = entry(
        "shelter",
        Role::LicensedNgo,
        &shelter_node,
        &shelter_signing,
        &AgencyEncryptionSecretKey::generate(),
    );
    let roster_key = RosterSecretKey::generate();
    let roster = Roster::new(
        "unit.example",
        1,
        Timestamp(1),
        vec![police.clone(), shelter.clone()],
        ExchangeAgreement::new(vec![]).unwrap(),
    )
    .unwrap();
    let roster =
        Roster::open(&roster.sign(&roster_key).unwrap(), &roster_key.public_key()).unwrap();
    let origin = streha_core::epoch::epoch_origin(&police.log_origin(roster.federation()), epoch);
    let signer = NoteSigner::new(&origin, police_node.as_dalek().clone()).unwrap();
    let store = Store::open(dir.path(), &origin, signer).unwrap();
    let shared = Arc::new(
        Shared::new(
            police.id.clone(),
            origin,
            Arc::new(store),
            streha_store::KeyVault::open(dir.path().join("vault")).unwrap(),
            roster,
            roster_key.public_key(),
            dir.path().join("roster.note"),
            dir.path(),
            Identity::from_key(&police_node).unwrap(),
            police_node,
            BTreeMap::new(),
            Limits::default(),
            WitnessConfig {
                quorum: 1,
                independent_quorum: 0,
                submit_timeout: std::time::Duration::from_secs(10),
                ca_pem: Vec::new(),
                interval: std::time::Duration::from_secs(3600),
                record_interval: std::time::Duration::from_secs(3600),
            },
        )
        .unwrap(),
    );
    Node {
        _dir: dir,
        shared,
        shelter,
        shelter_node,
        shelter_signing,
        police_encryption,
        police_signing,
    }
}

async fn ask(node: &Node, request: AppRequest) -> AppResponse {
    let response = crate::app::handle(&node.shared, request).await;
    // Every answer fits in a frame.
    let encoded = frame::encode(&response).expect("the answer fits in a frame");
    assert!(encoded.len() <= MAX_FRAME_LEN + 4);
    response
}

fn consent(subject: SubjectId, n: u32) -> ConsentGrant {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    ConsentGrant::new(ConsentTerms {
        id: ConsentId::from_bytes(id),
        subject,
        granted_by: Grantor::Subject,
        recipients: vec![Recipient::Role(Role::Police)],
        categories: CategorySet::of(&[Category::Medical]),
        purposes: PurposeSet::of(&[Purpose::Assistance]),
        valid_from: Timestamp(1),
        expires_at: Timestamp(2),
        evidence_hash: [3; 32],
        recorded_by: streha_core::OfficerId::new("officer").unwrap(),
        recorded_at: Timestamp(1),
    })
    .unwrap()
}

/// Writes `count` consents of `subject` into the registry directly (no log entries: the
/// listing reads only the registry), in one transaction.
fn store_consents(node: &Node, subject: SubjectId, from: u32, count: u32) {
    let mut tx = Transaction::new();
    for n in from..from + count {
        let grant = consent(subject, n);
        let id = grant.id();
        let mut subject_key = subject.as_bytes().to_vec();
        subject_key.extend_from_slice(id.as_bytes());
        tx.put(
            CONSENTS,
            id.as_bytes().to_vec(),
            state::encode(&StoredConsent {
                grant,
                revoked_at: None,
            }),
        )
        .put(SUBJECT_CONSENTS, subject_key, Vec::new())
        .put(
            CONSENT_INDEX,
            id.as_bytes().to_vec(),
            u64::from(n).to_be_bytes().to_vec(),
        );
    }
    node.shared.store.commit(tx).unwrap();
}

#[tokio::test]
async fn forty_thousand_consents_of_a_subject_are_listed_by_pages_never_cut_short() {
    let node = node();
    let subject = SubjectId::from_bytes([1; 16]);
    let neighbour = SubjectId::from_bytes([2; 16]);
    store_consents(&node, subject, 0, 40_000);
    store_consents(&node, neighbour, 40_000, 10);

    // All in one answer would not fit a frame: refused with a reason, not cut short.
    match ask(&node, AppRequest::ListConsents { subject }).await {
        AppResponse::Error(e) => {
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert!(e.message.contains("by pages"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // By pages: every one, once, in order, and none of the neighbour's.
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let AppResponse::Consents(page) = ask(
            &node,
            AppRequest::ConsentsPage {
                subject,
                after,
                limit: u32::MAX,
            },
        )
        .await
        else {
            panic!("a page of consents");
        };
        assert!(page.len() <= MAX_PAGE as usize);
        let Some(last) = page.last() else { break };
        after = Some(last.grant.id());
        listed.extend(page.into_iter().map(|c| c.grant.id()));
    }
    assert_eq!(listed.len(), 40_000);
    assert!(listed.windows(2).all(|w| w[0] < w[1]));
    // A few consents still come in one answer.
    match ask(&node, AppRequest::ListConsents { subject: neighbour }).await {
        AppResponse::Consents(all) => assert_eq!(all.len(), 10),
        other => panic!("{other:?}"),
    }

    // A submission reads only the consent it names, and only if it is the subject's.
    let named = consent(subject, 12_345).id();
    let read = crate::app::named_consent(&node.shared, subject, Some(named)).unwrap();
    assert_eq!(
        read.iter().map(|c| c.grant.id()).collect::<Vec<_>>(),
        vec![named]
    );
    assert!(
        crate::app::named_consent(&node.shared, neighbour, Some(named))
            .unwrap()
            .is_empty()
    );
    assert!(
        crate::app::named_consent(&node.shared, subject, None)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_page_of_large_entries_stays_within_its_byte_budget() {
    let node = node();
    // 100 entries of 60 KiB: 6 MB, more than a frame holds.
    for n in 0..100u8 {
        let mut tx = Transaction::new();
        tx.append(vec![n; 60 * 1024]);
        node.shared.store.commit(tx).unwrap();
    }
    let mut start = 0u64;
    let mut pages = 0;
    while start < 100 {
        let AppResponse::Entries(page) =
            ask(&node, AppRequest::Entries { start, limit: 256 }).await
        else {
            panic!("a page of entries");
        };
        assert!(!page.is_empty());
        assert!(page.iter().map(Vec::len).sum::<usize>() <= MAX_PAGE_BYTES);
        assert_eq!(page[0][0], u8::try_from(start).unwrap());
        start += page.len() as u64;
        pages += 1;
    }
    assert!(pages >= 6, "{pages} pages");
    // Checkpoints, by position and by tree size, are pages too.
    let AppResponse::Checkpoints(by_position) = ask(
        &node,
        AppRequest::Checkpoints {
            start: 98,
            limit: 256,
        },
    )
    .await
    else {
        panic!("checkpoints");
    };
    assert_eq!(by_position.len(), 2);
    let AppResponse::Checkpoints(by_size) = ask(
        &node,
        AppRequest::CheckpointsAfter {
            after: 98,
            limit: 256,
        },
    )
    .await
    else {
        panic!("checkpoints");
    };
    assert_eq!(by_size, by_position);
}

#[tokio::test]
async fn a_hold_reason_stored_oversized_is_served_cut_and_escaped() {
    let node = node();
    let id = EnvelopeId::from_bytes([9; 16]);
    let mut reason = String::from("the receiver answered: no\n\u{1b}[2J");
    reason.push_str(&"x".repeat(MAX_FRAME_LEN));
    let mut tx = Transaction::new();
    tx.put(
        HELD,
        id.as_bytes().to_vec(),
        state::encode(&Held {
            reason,
            since: Timestamp(5),
            class: HoldClass::Other,
        }),
    )
    .put(
        OUTBOUND_INDEX,
        id.as_bytes().to_vec(),
        state::encode(&OutboundIndex {
            recipient: node.shelter.id.clone(),
            disclosed_at: Timestamp(4),
        }),
    );
    node.shared.store.commit(tx).unwrap();

    let AppResponse::Held(held) = ask(
        &node,
        AppRequest::HeldDeliveries {
            after: None,
            limit: 10,
        },
    )
    .await
    else {
        panic!("held deliveries");
    };
    assert_eq!(held.len(), 1);
    assert!(held[0].reason.len() <= MAX_TEXT_LEN);
    assert!(
        held[0]
            .reason
            .starts_with(r"the receiver answered: no\n\u{1b}[2J")
    );
    match ask(&node, AppRequest::DeliveryStatus { envelope: id }).await {
        AppResponse::Delivery(DeliveryState::Held { reason }) => assert_eq!(reason, held[0].reason),
        other => panic!("{other:?}"),
    }
}

/// The `disclosed` of `envelope`, proven in a one-entry log of the shelter's node.
fn disclosed_in_shelter_log(
    node: &Node,
    header: &DisclosureHeader,
    envelope: &streha_crypto::Envelope,
) -> streha_wire::peer::ProvenEntry {
    let entry = streha_core::AuditEntry::Disclosed {
        header: header.clone(),
        basis: streha_core::Basis::Agreement(vec![
            streha_core::ClauseId::new("police-identification").unwrap(),
        ]),
        urgent_review: false,
        ciphertext_hash: envelope.ciphertext_hash,
        at: header.created_at,
    }
    .encode();
    let roster = node.shared.roster();
    let origin = node.shelter.log_origin(roster.federation());
    let tree = streha_audit::MemoryTree::from_entries(std::slice::from_ref(&entry));
    let signer = NoteSigner::new(&origin, node.shelter_node.as_dalek().clone()).unwrap();
    let checkpoint = streha_audit::Checkpoint::new(origin.as_str(), 1, tree.root()).unwrap();
    streha_wire::peer::ProvenEntry {
        entry,
        index: 0,
        proof: streha_audit::inclusion_proof(0, 1, &tree).unwrap(),
        checkpoint: streha_audit::sign_checkpoint(&checkpoint, &signer).to_text(),
    }
}

#[tokio::test]
async fn the_inbox_is_listed_without_opening_any_envelope() {
    let node = node();
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([7; 16]),
        sender: node.shelter.id.clone(),
        recipient: AgencyId::new("police").unwrap(),
        subject: SubjectId::from_bytes([8; 16]),
        categories: CategorySet::of(&[Category::Identity]),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: crate::shared::now(),
        approvals: Approvals::new(),
    };
    let record = Record::new()
        .with(Field::text(DisclosableCategory::Identity, "name", "x").unwrap())
        .unwrap();
    let envelope = streha_crypto::seal(
        &node.shelter_signing,
        &node.police_encryption.public_key(),
        &header.encode(),
        &record.encode(),
    )
    .unwrap();
    // An agreement-less roster refuses everything; receive through a roster that lets the
    // police receive identity data.
    let roster = node.shared.roster();
    let agreement = ExchangeAgreement::new(vec![
        streha_core::AgreementClause::new(
            streha_core::ClauseId::new("police-identification").unwrap(),
            Role::Police,
            CategorySet::of(&[Category::Identity]),
            PurposeSet::of(&[Purpose::IdentificationAndReferral]),
        )
        .unwrap(),
    ])
    .unwrap();
    node.shared.set_roster(
        Roster::new(
            roster.federation(),
            2,
            Timestamp(2),
            roster.agencies().to_vec(),
            agreement,
        )
        .unwrap(),
    );
    let response = crate::receive::handle(
        &node.shared,
        &node.shelter,
        PeerRequest::Deliver(Box::new(Delivery {
            disclosed: disclosed_in_shelter_log(&node, &header, &envelope),
            envelope,
            subject: SubjectFacts {
                age_status: AgeStatus::Adult,
                adult_since: Some(Timestamp::EPOCH),
                representatives: vec![],
            },
            consent: None,
        })),
    )
    .await;
    assert!(matches!(response, PeerResponse::Receipt(_)), "{response:?}");

    // The subject's data key is gone: no envelope about it can be opened, yet the inbox
    // lists it, header and all.
    assert!(
        node.shared
            .vault
            .destroy(header.subject.as_bytes())
            .unwrap()
    );
    let AppResponse::Inbox(items) = ask(
        &node,
        AppRequest::Inbox {
            after: None,
            limit: 10,
        },
    )
    .await
    else {
        panic!("the inbox");
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].header, header.encode());
    assert!(matches!(
        ask(
            &node,
            AppRequest::Fetch {
                envelope: header.envelope_id
            }
        )
        .await,
        AppResponse::Error(_)
    ));
}

/// The shelter's log as its node signs it: a checkpoint of `tree` under `origin`.
fn shelter_note(node: &Node, origin: &str, tree: &streha_audit::MemoryTree) -> String {
    let signer = NoteSigner::new(origin, node.shelter_node.as_dalek().clone()).unwrap();
    streha_audit::sign_checkpoint(
        &streha_audit::Checkpoint::new(origin, tree.size(), tree.root()).unwrap(),
        &signer,
    )
    .to_text()
}

fn shelter_tree(n: u8) -> streha_audit::MemoryTree {
    let mut tree = streha_audit::MemoryTree::new();
    for i in 0..n {
        tree.append_entry(&[b's', i]);
    }
    tree
}

/// The police node cosigns the shelter's epoch-1 log up to size 5; the shelter then
/// declares `restored..proven` lost and offers epoch 2, whose first checkpoint, the
/// declaration (entry 0) and its proof are returned.
async fn shelter_restored(node: &Node, proven: u8) -> (String, streha_wire::peer::NewEpochRequest) {
    use crate::witness::handle_witness;
    use streha_wire::peer::WitnessRequest;
    let federation = node.shared.roster().federation().to_owned();
    let base = node.shelter.log_origin(&federation);
    let cosigned = handle_witness(
        &node.shared,
        &node.shelter,
        WitnessRequest {
            old_size: 0,
            proof: streha_audit::ConsistencyProof::new(vec![]).unwrap(),
            checkpoint: shelter_note(node, &base, &shelter_tree(5)),
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(cosigned, PeerResponse::Cosigned(_)),
        "{cosigned:?}"
    );
    new_epoch_request(node, proven)
}

/// The shelter's epoch 2, whose declaration says its log was restored to size 3 and that a
/// checkpoint of size `proven` proves the loss: its first checkpoint, the declaration
/// (entry 0) and its proof.
fn new_epoch_request(node: &Node, proven: u8) -> (String, streha_wire::peer::NewEpochRequest) {
    use streha_wire::peer::NewEpochRequest;
    let federation = node.shared.roster().federation().to_owned();
    let base = node.shelter.log_origin(&federation);
    let declaration = streha_core::AuditEntry::LogRestored {
        previous_origin: streha_core::LogOrigin::new(base.as_str()).unwrap(),
        restored_size: 3,
        restored_root: shelter_tree(3).root().to_bytes(),
        proven_note: shelter_note(node, &base, &shelter_tree(proven)),
        proven_by: AgencyId::new("police").unwrap(),
        at: Timestamp(2),
    }
    .encode();
    let epoch = node.shelter.log_origin_at(&federation, 2);
    let mut tree = streha_audit::MemoryTree::new();
    tree.append_entry(&declaration);
    tree.append_entry(b"after");
    let proof = streha_audit::inclusion_proof(0, tree.size(), &tree).unwrap();
    (
        epoch.clone(),
        NewEpochRequest {
            checkpoint: shelter_note(node, &epoch, &tree),
            declaration,
            proof,
        },
    )
}

/// Issue 18.18: a peer witness cosigns a new epoch of a log only with its declaration
/// (`WitnessNewEpoch`, judged by `streha_witness::rules::judge_new_epoch`), and witnesses it
/// as any log afterwards; offered without it, the epoch is refused.
#[tokio::test]
async fn a_declared_restore_is_witnessed_and_an_undeclared_epoch_is_not() {
    use crate::witness::{handle_witness, handle_witness_new_epoch};
    use streha_wire::peer::WitnessRequest;
    let node = node();
    let (epoch, request) = shelter_restored(&node, 5).await;
    // Offered as a plain checkpoint: a log started over without a declaration.
    let undeclared = handle_witness(
        &node.shared,
        &node.shelter,
        WitnessRequest {
            old_size: 0,
            proof: streha_audit::ConsistencyProof::new(vec![]).unwrap(),
            checkpoint: request.checkpoint.clone(),
        },
    )
    .await;
    assert!(
        matches!(undeclared, Err(crate::failure::Failure::Verification(_))),
        "{undeclared:?}"
    );
    // With its declaration: cosigned, and the epoch is witnessed from then on.
    let answer = handle_witness_new_epoch(&node.shared, &node.shelter, request.clone())
        .await
        .unwrap();
    assert!(matches!(answer, PeerResponse::Cosigned(_)), "{answer:?}");
    let mut tree = streha_audit::MemoryTree::new();
    tree.append_entry(&request.declaration);
    tree.append_entry(b"after");
    tree.append_entry(b"more");
    let grown = handle_witness(
        &node.shared,
        &node.shelter,
        WitnessRequest {
            old_size: 2,
            proof: streha_audit::consistency_proof(2, 3, &tree).unwrap(),
            checkpoint: shelter_note(&node, &epoch, &tree),
        },
    )
    .await
    .unwrap();
    assert!(matches!(grown, PeerResponse::Cosigned(_)), "{grown:?}");
}

/// Issue 18.18: a declaration that hides entries this witness cosigned (it proves size 4,
/// the witness cosigned 5) is a rollback: refused, evidence kept against the old epoch.
#[tokio::test]
async fn a_declaration_hiding_what_the_witness_cosigned_is_a_rollback() {
    use crate::witness::handle_witness_new_epoch;
    let node = node();
    let (_, request) = shelter_restored(&node, 4).await;
    let answer = handle_witness_new_epoch(&node.shared, &node.shelter, request)
        .await
        .unwrap();
    assert_eq!(
        answer,
        PeerResponse::WitnessRefused {
            kind: streha_core::WitnessAlarmKind::Rollback,
            cosigned_size: 5
        }
    );
}

/// A peer that offers a new epoch again and again (here with a declaration that proves no
/// loss, refused each time without evidence: this node never cosigned the old epoch) has
/// the evidence this node keeps of its log read once per `KEPT_SCAN_INTERVAL`, not once per
/// request: the scan reads the whole log, under the witness lock. Before, every request
/// scanned.
#[tokio::test]
async fn repeated_new_epoch_offers_scan_the_log_once() {
    use crate::witness::handle_witness_new_epoch;
    let node = node();
    let (_, request) = new_epoch_request(&node, 3);
    for _ in 0..5 {
        let answer = handle_witness_new_epoch(&node.shared, &node.shelter, request.clone()).await;
        assert!(
            matches!(answer, Err(crate::failure::Failure::Verification(_))),
            "{answer:?}"
        );
    }
    assert_eq!(
        node.shared
            .metrics
            .evidence_scans
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Another question about the peer's log within the interval waits for it.
    let federation = node.shared.roster().federation().to_owned();
    let other = node.shelter.log_origin_at(&federation, 3);
    assert!(matches!(
        crate::recovery::largest_kept_of_peer(&node.shared, &node.shelter, &other),
        Err(crate::failure::Failure::Unavailable(_))
    ));
}

/// `/metrics` shows the store's group commits: a count, a Prometheus histogram of their
/// times (cumulative buckets ending in `+Inf`, which equals the count) and the time of each
/// synced write.
#[tokio::test]
async fn metrics_show_the_stores_group_commits() {
    let node = node();
    let before = node.shared.store.commit_stats().batches;
    store_consents(&node, SubjectId::from_bytes([9; 16]), 0, 2);
    let text = node.shared.render_metrics();
    let value = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
        line[name.len() + 1..].parse().unwrap()
    };
    let commits = value("streha_store_commits_total");
    assert_eq!(commits, (before + 1) as f64);
    assert_eq!(value("streha_store_commit_seconds_count"), commits);
    assert_eq!(
        value("streha_store_commit_seconds_bucket{le=\"+Inf\"}"),
        commits
    );
    let buckets: Vec<f64> = text
        .lines()
        .filter(|line| line.starts_with("streha_store_commit_seconds_bucket{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        buckets.len(),
        streha_store::COMMIT_SECONDS_BUCKETS.len() + 1
    );
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(value("streha_store_sync_seconds_total{write=\"state\"}") > 0.0);
    assert!(text.contains("# TYPE streha_store_commit_seconds histogram"));
    // A store opened fresh replayed nothing.
    assert_eq!(value("streha_store_replayed_batches"), 0.0);
}

/// The in-memory attempt counts (`Shared::attempts`) stay bounded by the durable queue:
/// counts left behind by envelopes that are no longer queued (a receipt logged by an earlier
/// attempt whose commit was reported failed, say) are forgotten when the scheduler reads its
/// queue, and the count of an envelope still queued is kept, as is the envelope.
#[tokio::test]
async fn delivery_attempt_counts_are_bounded_by_the_queue() {
    let node = node();
    let queued = EnvelopeId::from_bytes([7; 16]);
    let mut tx = Transaction::new();
    tx.put(
        OUTBOUND_INDEX,
        queued.as_bytes().to_vec(),
        state::encode(&OutboundIndex {
            recipient: node.shelter.id.clone(),
            disclosed_at: Timestamp(4),
        }),
    );
    node.shared.store.commit(tx).unwrap();
    {
        let mut attempts = node.shared.attempts.lock().unwrap();
        // A flood of counts of envelopes gone from the queue.
        for n in 0u32..10_000 {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            bytes[15] = 1;
            attempts.insert(
                EnvelopeId::from_bytes(bytes),
                crate::shared::Attempts {
                    count: 1,
                    last_error: Some("timed out".into()),
                },
            );
        }
        attempts.insert(
            queued,
            crate::shared::Attempts {
                count: 3,
                last_error: Some("busy".into()),
            },
        );
    }

    let mut queue = crate::queue::OutboundQueue::default();
    crate::outbound::load(&node.shared, &mut queue).unwrap();

    assert_eq!(queue.len(), 1, "the queued envelope is indexed");
    assert_eq!(node.shared.attempts.lock().unwrap().len(), 1);
    match ask(&node, AppRequest::DeliveryStatus { envelope: queued }).await {
        AppResponse::Delivery(DeliveryState::Queued {
            attempts,
            last_error,
        }) => {
            assert_eq!(attempts, 3);
            assert_eq!(last_error.as_deref(), Some("busy"));
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 18.18: `streha admin recover --accept-loss` is refused outside recovery mode and
/// without a proven loss; with one, it keeps the restored log's bundle, writes the pending
/// epoch (the `log_restored` declaration of the proven range) and asks for a restart; a
/// second acceptance is refused.
#[tokio::test]
async fn recover_accepts_only_a_proven_loss() {
    use crate::recovery::{Outcome, PENDING_EPOCH_FILE, PendingEpoch, accept_loss};
    use std::sync::atomic::Ordering;
    let node = node();
    let dir = node._dir.path();
    let mut tx = streha_store::Transaction::new();
    tx.append(b"restored".to_vec());
    node.shared.store.commit(tx).unwrap();
    let refused = accept_loss(&node.shared, dir).unwrap_err();
    assert!(refused.contains("not in recovery mode"), "{refused}");
    node.shared.recovering.store(true, Ordering::Release);
    let refused = accept_loss(&node.shared, dir).unwrap_err();
    assert!(refused.contains("no loss is proven"), "{refused}");
    *node.shared.proven_loss.lock().unwrap() = Some(Outcome::NothingLost);
    let refused = accept_loss(&node.shared, dir).unwrap_err();
    assert!(refused.contains("no loss is proven"), "{refused}");
    assert!(!dir.join(PENDING_EPOCH_FILE).exists());
    assert!(!*node.shared.restart.borrow());

    let base = node.shared.store.origin().to_owned();
    *node.shared.proven_loss.lock().unwrap() = Some(Outcome::Lost {
        restored: 1,
        proven: 4,
        witness: "shelter".into(),
        note: "the proving note".into(),
        independent: false,
    });
    let report = accept_loss(&node.shared, dir).unwrap();
    assert_eq!(report.origin, format!("{base}/epoch/2"));
    assert!(*node.shared.restart.borrow());
    let bundle =
        streha_audit::LogBundle::decode(&std::fs::read(dir.join("epochs/1.bundle")).unwrap())
            .unwrap();
    assert_eq!(bundle.origin, base);
    assert_eq!(bundle.entries, vec![b"restored".to_vec()]);
    let pending: PendingEpoch =
        serde_json::from_slice(&std::fs::read(dir.join(PENDING_EPOCH_FILE)).unwrap()).unwrap();
    assert_eq!(pending.origin, report.origin);
    match streha_core::AuditEntry::decode(&pending.declaration).unwrap() {
        streha_core::AuditEntry::LogRestored {
            previous_origin,
            restored_size,
            proven_note,
            proven_by,
            ..
        } => {
            assert_eq!(previous_origin.as_str(), base);
            assert_eq!(restored_size, 1);
            assert_eq!(proven_note, "the proving note");
            assert_eq!(proven_by.as_str(), "shelter");
        }
        other => panic!("{other:?}"),
    }
    let again = accept_loss(&node.shared, dir).unwrap_err();
    assert!(again.contains("accepted already"), "{again}");
}

/// Issue 18.18, kept state across epochs: an envelope this node received in epoch 1 (its
/// `received` position stored as before epochs, 8 bytes), delivered again after the node's
/// log continued in epoch 2, is answered with its epoch-1 `received` entry proven from the
/// kept bundle `epochs/1.bundle` under epoch 1's checkpoint — alone as `Receipt`, in a batch
/// as `ReceivedInEarlierEpoch` — and nothing is logged again. Before, the repeat read that
/// index in the new log (`log entry 1 is missing`: the sender retried forever).
#[tokio::test]
async fn a_redelivery_of_an_envelope_received_in_an_earlier_epoch_gets_that_epochs_receipt() {
    let node = node_at(2);
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([9; 16]),
        sender: node.shelter.id.clone(),
        recipient: AgencyId::new("police").unwrap(),
        subject: SubjectId::from_bytes([8; 16]),
        categories: CategorySet::of(&[Category::Identity]),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: crate::shared::now(),
        approvals: Approvals::new(),
    };
    let record = Record::new()
        .with(Field::text(DisclosableCategory::Identity, "name", "x").unwrap())
        .unwrap();
    let envelope = streha_crypto::seal(
        &node.shelter_signing,
        &node.police_encryption.public_key(),
        &header.encode(),
        &record.encode(),
    )
    .unwrap();
    let disclosed = disclosed_in_shelter_log(&node, &header, &envelope);

    // Epoch 1 as the switch kept it: a registration, then the `received` entry, signed by
    // this node under the base origin; the state points at index 1 in the old format.
    let shared = &node.shared;
    let base = streha_core::epoch::previous_epoch_origin(shared.store.origin()).unwrap();
    let received = streha_core::AuditEntry::Received {
        header: header.clone(),
        basis: streha_core::Basis::Agreement(vec![
            streha_core::ClauseId::new("police-identification").unwrap(),
        ]),
        ciphertext_hash: envelope.ciphertext_hash,
        sender_signature: Box::new(streha_wire::peer::envelope_signature(&envelope)),
        sender_log_index: 0,
        sender_tree_size: 1,
        sender_root_hash: [0; 32],
        sender_checkpoint_signature: streha_core::SignatureBytes::from_bytes([0; 64]),
        at: header.created_at,
    }
    .encode();
    let entries = vec![b"a registration".to_vec(), received.clone()];
    let tree = streha_audit::MemoryTree::from_entries(&entries);
    let signer = NoteSigner::new(&base, shared.node_key.as_dalek().clone()).unwrap();
    let note = streha_audit::sign_checkpoint(
        &streha_audit::Checkpoint::new(base.as_str(), 2, tree.root()).unwrap(),
        &signer,
    )
    .to_text();
    let bundle = streha_audit::LogBundle::new(base.clone(), entries, vec![note])
        .encode()
        .unwrap();
    let mut tx = Transaction::new();
    tx.append(b"epoch 2, entry 0".to_vec()).put(
        state::RECEIVED,
        header.envelope_id.as_bytes().to_vec(),
        1u64.to_be_bytes().to_vec(),
    );
    shared.store.commit(tx).unwrap();
    let size = shared.store.tree_size();
    let facts = SubjectFacts {
        age_status: AgeStatus::Adult,
        adult_since: Some(Timestamp::EPOCH),
        representatives: vec![],
    };
    let again = || {
        PeerRequest::Deliver(Box::new(Delivery {
            disclosed: disclosed.clone(),
            envelope: envelope.clone(),
            subject: facts.clone(),
            consent: None,
        }))
    };
    // Without the kept bundle: an error that names the epoch, never an entry of the new log.
    let response = crate::receive::handle(shared, &node.shelter, again()).await;
    let PeerResponse::Error(error) = response else {
        panic!("an error: {response:?}");
    };
    assert!(error.message.contains("epoch 1"), "{error}");
    let epochs = shared.data_dir.join(crate::recovery::EPOCHS_DIR);
    std::fs::create_dir_all(&epochs).unwrap();
    std::fs::write(epochs.join("1.bundle"), bundle).unwrap();

    let base_verifier =
        streha_audit::NoteVerifier::new(&base, *shared.node_key.public_key().as_dalek()).unwrap();
    let response = crate::receive::handle(shared, &node.shelter, again()).await;
    let PeerResponse::Receipt(receipt) = response else {
        panic!("a receipt: {response:?}");
    };
    assert_eq!(receipt.received.index, 1);
    assert_eq!(receipt.received.entry, received);
    receipt.received.verify(&base_verifier).unwrap();

    let (proof, note) = disclosed.split();
    let response = crate::receive::handle(
        shared,
        &node.shelter,
        PeerRequest::DeliverBatch(Box::new(streha_wire::peer::DeliveryBatch {
            checkpoint: note,
            deliveries: vec![streha_wire::peer::BatchedDelivery {
                envelope,
                disclosed: proof,
                subject: facts,
                consent: None,
            }],
        })),
    )
    .await;
    let PeerResponse::BatchReceipt(receipt) = response else {
        panic!("a batch receipt: {response:?}");
    };
    let [streha_wire::peer::BatchOutcome::ReceivedInEarlierEpoch(proven)] =
        receipt.outcomes.as_slice()
    else {
        panic!("received in epoch 1: {:?}", receipt.outcomes);
    };
    assert_eq!(proven.entry, received);
    proven.verify(&base_verifier).unwrap();
    assert_eq!(shared.store.tree_size(), size, "nothing is logged again");
}

/// The agreement of the integration tests' federation in the node's roster: the shelter (a
/// licensed NGO) may receive identity data for a referral, the police for identification.
fn agree(node: &Node) {
    let clause = |id: &str, role: Role| {
        streha_core::AgreementClause::new(
            streha_core::ClauseId::new(id).unwrap(),
            role,
            CategorySet::of(&[Category::Identity]),
            PurposeSet::of(&[Purpose::IdentificationAndReferral]),
        )
        .unwrap()
    };
    let roster = node.shared.roster();
    node.shared.set_roster(
        Roster::new(
            roster.federation(),
            roster.version() + 1,
            Timestamp(2),
            roster.agencies().to_vec(),
            ExchangeAgreement::new(vec![
                clause("ngo-referral", Role::LicensedNgo),
                clause("police-identification", Role::Police),
            ])
            .unwrap(),
        )
        .unwrap(),
    );
}

fn identity_record() -> Record {
    Record::new()
        .with(Field::text(DisclosableCategory::Identity, "name", "x").unwrap())
        .unwrap()
}

/// The shelter's log as the shelter's node would keep it: what the police node is shown of
/// it (one growing log, so that every checkpoint it sees is consistent with the last).
#[derive(Default)]
struct ShelterLog {
    entries: Vec<Vec<u8>>,
}

impl ShelterLog {
    fn append(&mut self, entry: Vec<u8>) -> u64 {
        self.entries.push(entry);
        self.entries.len() as u64 - 1
    }

    fn tree(&self) -> streha_audit::MemoryTree {
        streha_audit::MemoryTree::from_entries(&self.entries)
    }

    fn origin(node: &Node) -> String {
        node.shelter.log_origin(node.shared.roster().federation())
    }

    fn proof(&self, index: u64) -> streha_wire::peer::EntryProof {
        streha_wire::peer::EntryProof {
            entry: self.entries[usize::try_from(index).unwrap()].clone(),
            index,
            proof: streha_audit::inclusion_proof(index, self.entries.len() as u64, &self.tree())
                .unwrap(),
        }
    }

    /// The shelter discloses an envelope to the police: its `disclosed` entry, proven.
    fn disclose(&mut self, node: &Node, n: u8) -> (u64, streha_crypto::Envelope) {
        self.disclose_about(node, n, SubjectId::from_bytes([0x5e; 16]))
    }

    fn disclose_about(
        &mut self,
        node: &Node,
        n: u8,
        subject: SubjectId,
    ) -> (u64, streha_crypto::Envelope) {
        let header = DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([0xd0 ^ n; 16]),
            sender: node.shelter.id.clone(),
            recipient: AgencyId::new("police").unwrap(),
            subject,
            categories: CategorySet::of(&[Category::Identity]),
            purpose: Purpose::IdentificationAndReferral,
            consent: None,
            created_at: crate::shared::now(),
            approvals: Approvals::new(),
        };
        let envelope = streha_crypto::seal(
            &node.shelter_signing,
            &node.police_encryption.public_key(),
            &header.encode(),
            &identity_record().encode(),
        )
        .unwrap();
        let index = self.append(
            streha_core::AuditEntry::Disclosed {
                header: header.clone(),
                basis: streha_core::Basis::Agreement(vec![
                    streha_core::ClauseId::new("police-identification").unwrap(),
                ]),
                urgent_review: false,
                ciphertext_hash: envelope.ciphertext_hash,
                at: header.created_at,
            }
            .encode(),
        );
        (index, envelope)
    }

    /// The police node is delivered the shelter's `index`th entry, `envelope`.
    async fn deliver(
        &self,
        node: &Node,
        index: u64,
        envelope: &streha_crypto::Envelope,
    ) -> PeerResponse {
        crate::receive::handle(
            &node.shared,
            &node.shelter,
            self.delivery(node, index, envelope),
        )
        .await
    }

    /// The delivery of the shelter's `index`th entry, `envelope`, as the police node gets it.
    fn delivery(&self, node: &Node, index: u64, envelope: &streha_crypto::Envelope) -> PeerRequest {
        let proven = self.proof(index);
        PeerRequest::Deliver(Box::new(Delivery {
            disclosed: streha_wire::peer::ProvenEntry {
                entry: proven.entry,
                index,
                proof: proven.proof,
                checkpoint: shelter_note(node, &Self::origin(node), &self.tree()),
            },
            envelope: envelope.clone(),
            subject: SubjectFacts {
                age_status: AgeStatus::Adult,
                adult_since: Some(Timestamp::EPOCH),
                representatives: vec![],
            },
            consent: None,
        }))
    }

    /// The shelter receives `ids` (queued at the police node) and answers one batch
    /// receipt, which the police node checks and logs as its delivery workers do.
    async fn receipts(&mut self, node: &Node, ids: &[EnvelopeId]) {
        let shared = &node.shared;
        let items: Vec<(EnvelopeId, state::Outbound)> = ids
            .iter()
            .map(|id| {
                let item = state::load(&shared.store, state::OUTBOUND, id.as_bytes())
                    .unwrap()
                    .expect("queued");
                (*id, item)
            })
            .collect();
        let mut indices = Vec::new();
        for (id, item) in &items {
            let envelope = crate::at_rest::open(
                shared,
                crate::at_rest::Place::Queue,
                item.about,
                *id,
                item.sealed_envelope.clone(),
            )
            .unwrap();
            let header = DisclosureHeader::decode(&envelope.header.context).unwrap();
            indices.push(
                self.append(
                    streha_core::AuditEntry::Received {
                        header,
                        basis: streha_core::Basis::Agreement(vec![
                            streha_core::ClauseId::new("ngo-referral").unwrap(),
                        ]),
                        ciphertext_hash: envelope.ciphertext_hash,
                        sender_signature: Box::new(streha_wire::peer::envelope_signature(
                            &envelope,
                        )),
                        sender_log_index: 0,
                        sender_tree_size: 1,
                        sender_root_hash: [0; 32],
                        sender_checkpoint_signature: streha_core::SignatureBytes::from_bytes(
                            [0; 64],
                        ),
                        at: crate::shared::now(),
                    }
                    .encode(),
                ),
            );
        }
        let receipt = streha_wire::peer::BatchReceipt {
            checkpoint: shelter_note(node, &Self::origin(node), &self.tree()),
            outcomes: indices
                .iter()
                .map(|index| streha_wire::peer::BatchOutcome::Received(self.proof(*index)))
                .collect(),
        };
        let refs: Vec<(EnvelopeId, &state::Outbound)> =
            items.iter().map(|(id, item)| (*id, item)).collect();
        let roster = shared.roster();
        let results = crate::outbound::answer(
            shared,
            &roster,
            &node.shelter,
            &refs,
            PeerResponse::BatchReceipt(Box::new(receipt)),
        )
        .await;
        for result in results {
            result.expect("the receipt is logged");
        }
    }
}

/// The police node submits a disclosure to the shelter about `subject`: the envelope and
/// the answer.
async fn police_submits(
    node: &Node,
    n: u8,
    subject: SubjectId,
) -> (streha_crypto::Envelope, AppResponse) {
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([0x50 ^ n; 16]),
        sender: AgencyId::new("police").unwrap(),
        recipient: node.shelter.id.clone(),
        subject,
        categories: CategorySet::of(&[Category::Identity]),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: crate::shared::now(),
        approvals: Approvals::new(),
    };
    let envelope = streha_crypto::seal(
        &node.police_signing,
        &node.shelter.encryption_key,
        &header.encode(),
        &identity_record().encode(),
    )
    .unwrap();
    let answer = ask(node, AppRequest::Submit(Box::new(envelope.clone()))).await;
    (envelope, answer)
}

async fn register(node: &Node, subject: SubjectId) {
    let answer = ask(
        node,
        AppRequest::RegisterSubject {
            subject,
            age_status: AgeStatus::Adult,
            representatives: vec![],
        },
    )
    .await;
    assert!(!matches!(answer, AppResponse::Error(_)), "{answer:?}");
}

/// How many keys each state namespace holds (empty ones left out).
fn census(store: &Store) -> BTreeMap<u8, usize> {
    (0..=u8::MAX)
        .filter_map(|tag| {
            let n = store
                .scan(streha_store::Namespace::new(tag), &[])
                .unwrap()
                .len();
            (n > 0).then_some((tag, n))
        })
        .collect()
}

/// What `after` holds more than `before`, per namespace.
fn grown(before: &BTreeMap<u8, usize>, after: &BTreeMap<u8, usize>) -> BTreeMap<u8, usize> {
    after
        .iter()
        .filter_map(|(tag, n)| {
            let was = before.get(tag).copied().unwrap_or(0);
            (*n > was).then(|| (*tag, n - was))
        })
        .collect()
}

/// Issue 19: sled costs process memory for every key it keeps, for the life of the
/// process, so a delivered disclosure leaves one kept key at the sender (its sent record)
/// and two at the receiver (the inbox record and its order key, which holds where the
/// envelope was logged) — not three on each side (before: `disclosed`, `delivered` and
/// `receipt` positions; the inbox record, its order key and `received`).
#[tokio::test]
async fn a_delivered_disclosure_leaves_one_kept_key_at_the_sender_and_two_at_the_receiver() {
    const N: u8 = 5;
    let node = node();
    agree(&node);
    let subject = SubjectId::from_bytes([0x51; 16]);
    register(&node, subject).await;
    let mut shelter = ShelterLog::default();
    // One of each first, so that what a subject or a peer costs once is not counted.
    let (first, _) = police_submits(&node, 0, subject).await;
    let first_id = DisclosureHeader::decode(&first.header.context)
        .unwrap()
        .envelope_id;
    shelter.receipts(&node, &[first_id]).await;
    let (index, envelope) = shelter.disclose(&node, 0);
    let response = shelter.deliver(&node, index, &envelope).await;
    assert!(matches!(response, PeerResponse::Receipt(_)), "{response:?}");

    let before = census(&node.shared.store);
    let mut ids = Vec::new();
    for n in 1..=N {
        let (envelope, answer) = police_submits(&node, n, subject).await;
        assert!(matches!(answer, AppResponse::Accepted { .. }), "{answer:?}");
        ids.push(
            DisclosureHeader::decode(&envelope.header.context)
                .unwrap()
                .envelope_id,
        );
    }
    shelter.receipts(&node, &ids).await;
    for id in &ids {
        assert!(matches!(
            ask(&node, AppRequest::DeliveryStatus { envelope: *id }).await,
            AppResponse::Delivery(DeliveryState::Delivered { .. })
        ));
    }
    let sent = census(&node.shared.store);
    let kept = grown(&before, &sent);
    assert_eq!(
        kept.values().sum::<usize>(),
        usize::from(N),
        "kept keys per namespace (tag → keys) after {N} delivered disclosures: {kept:?}"
    );

    for n in 1..=N {
        let (index, envelope) = shelter.disclose(&node, n);
        let response = shelter.deliver(&node, index, &envelope).await;
        assert!(matches!(response, PeerResponse::Receipt(_)), "{response:?}");
    }
    let kept = grown(&sent, &census(&node.shared.store));
    assert_eq!(
        kept.values().sum::<usize>(),
        2 * usize::from(N),
        "kept keys per namespace (tag → keys) after {N} received disclosures: {kept:?}"
    );
}

/// Rewrites the police node's kept records into the layout of the first release (as its
/// code wrote them; `migrate::tests::OldLayout`), as if the store had been written then.
fn back_to_the_old_layout(store: &Store) {
    let old = crate::migrate::tests::OldLayout(store);
    let mut tx = Transaction::new();
    for (key, value) in store.scan(state::SENT, &[]).unwrap() {
        let record = state::SentRecord::decode(&value).unwrap();
        let id: [u8; 16] = key.as_slice().try_into().unwrap();
        match record.delivered {
            None => old.accepted(id, record.disclosed),
            Some(delivered) => old.delivered(
                id,
                record.disclosed,
                delivered.receipt,
                delivered.receiver_index,
            ),
        }
        tx.remove(state::SENT, key);
    }
    for (order, value) in store.scan(state::INBOX_ORDER, &[]).unwrap() {
        let id = order[8..24].to_vec();
        tx.put(state::INBOX_ORDER, order, Vec::new())
            .put(state::RECEIVED, id, value);
    }
    tx.remove(state::NODE_META, crate::migrate::DONE.to_vec());
    store.commit(tx).unwrap();
}

/// Issue 19, a store of the first release: three disclosures accepted (two delivered), two
/// envelopes received. Every answer that reads the kept records — a repeated submission
/// (the same acceptance, or `Conflict` for another envelope under the id), the delivery
/// state (asked and awaited), the proofs of the entries they name, the inbox and a
/// repeated delivery — is the same after the rewrite to one record per envelope as before,
/// and the disclosure still queued is delivered from its rewritten record.
/// In epoch 1 the positions are 8 bytes; from epoch 2 on, 16 (`state::LogPosition`).
#[tokio::test]
async fn a_store_in_the_old_layout_answers_as_before_once_rewritten() {
    for epoch in [1, 2] {
        the_old_layout_answers_as_before_once_rewritten(epoch).await;
    }
}

async fn the_old_layout_answers_as_before_once_rewritten(epoch: u64) {
    let node = node_at(epoch);
    agree(&node);
    let subject = SubjectId::from_bytes([0x52; 16]);
    register(&node, subject).await;
    let mut shelter = ShelterLog::default();
    let mut sent = Vec::new();
    for n in 0..3 {
        let (envelope, answer) = police_submits(&node, n, subject).await;
        assert!(matches!(answer, AppResponse::Accepted { .. }), "{answer:?}");
        sent.push((
            envelope.clone(),
            DisclosureHeader::decode(&envelope.header.context)
                .unwrap()
                .envelope_id,
        ));
    }
    shelter.receipts(&node, &[sent[0].1, sent[1].1]).await;
    let mut received = Vec::new();
    for n in 0..2 {
        let (index, envelope) = shelter.disclose(&node, n);
        let response = shelter.deliver(&node, index, &envelope).await;
        assert!(matches!(response, PeerResponse::Receipt(_)), "{response:?}");
        received.push((index, envelope));
    }

    let observe = || async {
        let mut seen = Vec::new();
        for (n, (envelope, id)) in (0u8..).zip(&sent) {
            seen.push(ask(&node, AppRequest::Submit(Box::new(envelope.clone()))).await);
            let (_, other) = police_submits(&node, n, subject).await;
            assert!(
                matches!(&other, AppResponse::Error(e) if e.code == ErrorCode::Conflict),
                "{other:?}"
            );
            seen.push(other);
            let state = ask(&node, AppRequest::DeliveryStatus { envelope: *id }).await;
            if let AppResponse::Delivery(DeliveryState::Delivered { receipt_index, .. }) = &state {
                seen.push(
                    ask(
                        &node,
                        AppRequest::ProveEntry {
                            index: *receipt_index,
                        },
                    )
                    .await,
                );
            }
            seen.push(state);
            seen.push(
                ask(
                    &node,
                    AppRequest::AwaitDelivery {
                        envelope: *id,
                        timeout_ms: 0,
                    },
                )
                .await,
            );
        }
        for answer in seen.clone() {
            if let AppResponse::Accepted { index, .. } = answer {
                seen.push(ask(&node, AppRequest::ProveEntry { index }).await);
            }
        }
        seen.push(
            ask(
                &node,
                AppRequest::Inbox {
                    after: None,
                    limit: 10,
                },
            )
            .await,
        );
        let mut again = Vec::new();
        for (index, envelope) in &received {
            again.push(shelter.deliver(&node, *index, envelope).await);
        }
        (
            seen.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
            again.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
        )
    };
    let before = observe().await;
    assert_eq!(
        before
            .0
            .iter()
            .filter(|a| a.starts_with("Delivery(Delivered"))
            .count(),
        4,
        "{before:?}"
    );
    assert!(
        before.1.iter().all(|a| a.starts_with("Receipt(")),
        "{before:?}"
    );
    let size = node.shared.store.tree_size();

    let store = &node.shared.store;
    back_to_the_old_layout(store);
    let old = census(store);
    for (ns, keys) in [
        (state::DISCLOSED, 3),
        (state::DELIVERED, 2),
        (state::RECEIPT_INDEX, 2),
        (state::RECEIVED, 2),
    ] {
        assert_eq!(old.get(&ns.tag()), Some(&keys), "{old:?}");
    }
    assert_eq!(old.get(&state::SENT.tag()), None);

    crate::migrate::migrate(store).unwrap();
    let new = census(store);
    for ns in [
        state::DISCLOSED,
        state::DELIVERED,
        state::RECEIPT_INDEX,
        state::RECEIVED,
    ] {
        assert_eq!(new.get(&ns.tag()), None, "{new:?}");
    }
    assert_eq!(new.get(&state::SENT.tag()), Some(&3));
    assert_eq!(observe().await, before);
    assert_eq!(
        store.tree_size(),
        size,
        "nothing was logged by the rewrite or the answers"
    );

    // The disclosure queued across the rewrite is delivered from its record.
    shelter.receipts(&node, &[sent[2].1]).await;
    assert!(matches!(
        ask(
            &node,
            AppRequest::DeliveryStatus {
                envelope: sent[2].1
            }
        )
        .await,
        AppResponse::Delivery(DeliveryState::Delivered { .. })
    ));
}

/// A re-keying shreds the inbox's content about the subject (Art. 18.5) but keeps where
/// each envelope was logged, now in `RECEIVED`: a repeated delivery is answered with the
/// first receipt, never received again.
#[tokio::test]
async fn a_redelivery_after_a_rekeying_shredded_the_inbox_gets_the_first_receipt() {
    let node = node();
    agree(&node);
    let subject = SubjectId::from_bytes([0x53; 16]);
    register(&node, subject).await;
    let mut shelter = ShelterLog::default();
    let (index, envelope) = shelter.disclose_about(&node, 1, subject);
    let first = shelter.deliver(&node, index, &envelope).await;
    let PeerResponse::Receipt(first) = first else {
        panic!("{first:?}");
    };
    let answer = ask(
        &node,
        AppRequest::RekeySubject {
            subject,
            new_subject: SubjectId::from_bytes([0x54; 16]),
            salt: [9; 32],
        },
    )
    .await;
    assert!(!matches!(answer, AppResponse::Error(_)), "{answer:?}");
    let store = &node.shared.store;
    assert!(store.scan(state::INBOX, &[]).unwrap().is_empty());
    assert!(store.scan(state::INBOX_ORDER, &[]).unwrap().is_empty());
    assert_eq!(store.scan(state::RECEIVED, &[]).unwrap().len(), 1);
    let size = store.tree_size();
    let again = shelter.deliver(&node, index, &envelope).await;
    let PeerResponse::Receipt(again) = again else {
        panic!("{again:?}");
    };
    assert_eq!(again.received.index, first.received.index);
    assert_eq!(again.received.entry, first.received.entry);
    assert_eq!(store.tree_size(), size, "nothing is logged again");
}
