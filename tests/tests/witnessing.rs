//! Witnessing, live roster updates and operations, with real daemons: honest nodes cosign
//! each other; a forked or rolled-back log is caught; a removed agency is cut off without a
//! restart; metrics move; SIGTERM under load loses nothing acknowledged.

mod common;

use std::time::Duration;

use common::*;
use streha_audit::{
    Checkpoint, MemoryTree, NoteSigner, NoteVerifier, SignedNote, consistency_proof,
    sign_checkpoint,
};
use streha_core::{
    AgeStatus, AuditEntry, Category, DisclosableCategory, Grantor, Purpose, WitnessAlarmKind,
};
use streha_transport::{Identity, request};
use streha_wire::app::{AppRequest, AppResponse, DeliveryState};
use streha_wire::peer::{PeerRequest, PeerResponse, WitnessRequest};
use streha_wire::{APP_ALPN, MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(10);

fn origin(name: &str) -> String {
    format!("{FEDERATION}/streha/{name}")
}

/// The published checkpoint of `name`'s node, via a raw application request.
async fn published(federation: &Federation, name: &str) -> Option<String> {
    let member = federation.member(name);
    let identity = Identity::from_key(&member.app_key).unwrap();
    let connection = raw_connection(
        &identity,
        member.node_key.public_key().to_bytes(),
        member.app_addr,
        APP_ALPN,
    )
    .await
    .ok()?;
    match request(
        &connection,
        &AppRequest::PublishedCheckpoint,
        MAX_FRAME_LEN,
        T,
    )
    .await
    .ok()?
    {
        AppResponse::Note(note) => Some(note),
        _ => None,
    }
}

/// Names of the witnesses whose cosignatures on `note` verify.
fn cosigners(federation: &Federation, note: &str) -> Vec<String> {
    let verifiers: Vec<_> = federation
        .members
        .iter()
        .map(|m| {
            NoteVerifier::cosignature_v1(
                &origin(m.id.as_str()),
                *m.node_key.public_key().as_dalek(),
            )
            .unwrap()
        })
        .collect();
    SignedNote::parse(note)
        .unwrap()
        .verify(&verifiers)
        .map(|v| v.signer_names())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn honest_nodes_cosign_and_publication_needs_the_quorum() {
    let federation = Federation::new();
    // The shelter publishes only with two cosignatures.
    let config = federation.member(SHELTER).dir.join("node.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("quorum = 1", "quorum = 2");
    std::fs::write(&config, text).unwrap();
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;
    shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();

    // The police publishes with one cosignature: the shelter's.
    let note = eventually(Duration::from_secs(15), || async {
        published(&federation, POLICE).await
    })
    .await
    .expect("the police checkpoint is published once the shelter cosigns");
    assert_eq!(cosigners(&federation, &note), vec![origin(SHELTER)]);
    let reachable = eventually(Duration::from_secs(15), || async {
        (metric(federation.member(POLICE), "streha_peers_reachable") >= 1).then_some(())
    })
    .await;
    assert!(reachable.is_some(), "the shelter counts as reachable");

    // The shelter has one cosignature, not two: nothing published yet.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(published(&federation, SHELTER).await, None);
    let prosecution_node = federation.start(PROSECUTION);
    let note = eventually(Duration::from_secs(15), || async {
        published(&federation, SHELTER).await
    })
    .await
    .expect("published once the quorum of two is reached");
    let mut names = cosigners(&federation, &note);
    names.sort();
    assert_eq!(names, vec![origin(POLICE), origin(PROSECUTION)]);
    let (checkpoint, _) = streha_audit::open_checkpoint(
        &note,
        &[NoteVerifier::new(
            &origin(SHELTER),
            *federation.member(SHELTER).node_key.public_key().as_dalek(),
        )
        .unwrap()],
    )
    .unwrap();
    assert!(checkpoint.size() >= 2);
    // Through the client: a proof against the published checkpoint, with its witnesses.
    let (entry, mut witnesses) = shelter.prove_published(0).await.unwrap();
    assert_eq!(entry.index(), 0);
    witnesses.sort();
    assert_eq!(
        witnesses,
        vec![
            federation.member(POLICE).id.clone(),
            federation.member(PROSECUTION).id.clone()
        ]
    );

    // Both peers answer the police; once one stops, it no longer counts as reachable, even
    // though the police has nothing new for it to cosign.
    let police_member = federation.member(POLICE);
    let both = eventually(Duration::from_secs(20), || async {
        (metric(police_member, "streha_peers_reachable") == 2).then_some(())
    })
    .await;
    assert!(both.is_some(), "both running peers count as reachable");
    assert!(prosecution_node.terminate());
    let one = eventually(Duration::from_secs(30), || async {
        (metric(police_member, "streha_peers_reachable") == 1).then_some(())
    })
    .await;
    assert!(one.is_some(), "a stopped peer is not counted as reachable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        metric(police_member, "streha_peers_reachable"),
        1,
        "and stays uncounted while it is down"
    );
}

/// Exported bundles and entry proofs carry the witnesses' cosignatures, so that the offline
/// verifier can require witnesses (`--min-witnesses`).
#[tokio::test(flavor = "multi_thread")]
async fn exported_bundles_and_proofs_carry_the_witnesses_cosignatures() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    for _ in 0..3 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let one_witness = streha_verify::VerifyOptions::new().min_witnesses(1);

    // Once the police has cosigned the latest checkpoint, the export verifies with one
    // witness required.
    let bundle = eventually(Duration::from_secs(20), || async {
        let bundle = shelter.export_bundle().await.ok()?;
        let report = streha_verify::verify(std::slice::from_ref(&bundle), &roster, &one_witness);
        report.findings.is_empty().then_some(bundle)
    })
    .await
    .expect("an exported bundle carries the police's cosignature on its latest checkpoint");
    let last = bundle.checkpoints.last().unwrap();
    assert_eq!(cosigners(&federation, last), vec![origin(POLICE)]);
    // Two witnesses are not there (the prosecution is down): required, that is a finding.
    let report = streha_verify::verify(
        std::slice::from_ref(&bundle),
        &roster,
        &streha_verify::VerifyOptions::new().min_witnesses(2),
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == streha_verify::Rule::InsufficientWitnesses),
        "{}",
        streha_verify::render_text(&report)
    );
    // The latest checkpoint, as the node serves it, carries the cosignature too.
    let latest = shelter.checkpoint().await.unwrap();
    assert_eq!(cosigners(&federation, latest.note()), vec![origin(POLICE)]);

    // A proof of an entry (what `streha audit prove` writes) checks with one witness.
    let proven = shelter.prove_entry(1).await.unwrap();
    let proof = streha_audit::TlogProof::new(
        proven.proven().index,
        proven.proven().proof.clone(),
        &proven.proven().checkpoint,
    )
    .unwrap();
    let checked =
        streha_verify::check_proof(&proof.to_text(), &proven.proven().entry, &roster, 1).unwrap();
    assert_eq!(checked.index, 1);
    assert_eq!(
        checked
            .witnesses
            .iter()
            .map(|(agency, _)| agency.as_str())
            .collect::<Vec<_>>(),
        vec![POLICE]
    );
    assert!(
        streha_verify::check_proof(&proof.to_text(), &proven.proven().entry, &roster, 2).is_err(),
        "two witnesses are not there"
    );
}

/// Two different trees of the same size, both signed by `name`'s node key.
fn forked_checkpoints(federation: &Federation, name: &str) -> (String, String) {
    let key = federation.member(name).node_key.as_dalek().clone();
    let signer = NoteSigner::new(&origin(name), key).unwrap();
    let mut a = MemoryTree::new();
    let mut b = MemoryTree::new();
    for i in 0..3u8 {
        a.append_entry(&[b'a', i]);
        b.append_entry(&[b'b', i]);
    }
    let note = |tree: &MemoryTree| {
        sign_checkpoint(
            &Checkpoint::new(origin(name), tree.size(), tree.root()).unwrap(),
            &signer,
        )
        .to_text()
    };
    (note(&a), note(&b))
}

async fn offer(federation: &Federation, from: &str, to: &str, note: &str) -> PeerResponse {
    let identity = Identity::from_key(&federation.member(from).node_key).unwrap();
    let target = federation.member(to);
    let connection = raw_connection(
        &identity,
        target.node_key.public_key().to_bytes(),
        target.peer_addr,
        PEER_ALPN,
    )
    .await
    .unwrap();
    let request_ = PeerRequest::Witness(Box::new(WitnessRequest {
        old_size: 0,
        proof: consistency_proof(0, 0, &MemoryTree::new()).unwrap(),
        checkpoint: note.to_owned(),
    }));
    request(&connection, &request_, MAX_FRAME_LEN, T)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_showing_two_trees_of_one_size_to_two_witnesses_is_caught_by_gossip() {
    let federation = Federation::new();
    // The shelter's node is not running: the test plays a malicious shelter with its key.
    let _police = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let (a, b) = forked_checkpoints(&federation, SHELTER);
    assert!(matches!(
        offer(&federation, SHELTER, POLICE, &a).await,
        PeerResponse::Cosigned(_)
    ));
    assert!(matches!(
        offer(&federation, SHELTER, PROSECUTION, &b).await,
        PeerResponse::Cosigned(_)
    ));

    // Neither witness saw both; their gossip brings them together.
    let caught = eventually(Duration::from_secs(15), || async {
        let alarms = metric(federation.member(POLICE), "streha_fork_alarms_total")
            + metric(federation.member(PROSECUTION), "streha_fork_alarms_total");
        (alarms > 0).then_some(())
    })
    .await;
    assert!(caught.is_some(), "the fork is caught");
    let police = federation.client(POLICE).await;
    let prosecution = federation.client(PROSECUTION).await;
    let mut entries = log_entries(&police).await;
    entries.extend(log_entries(&prosecution).await);
    let alarms: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            AuditEntry::WitnessAlarm {
                origin,
                kind,
                cosigned_size,
                cosigned_root,
                offered_size,
                offered_root,
                ..
            } => Some((
                origin.as_str().to_owned(),
                *kind,
                *cosigned_size,
                *offered_size,
                cosigned_root != offered_root,
            )),
            _ => None,
        })
        .collect();
    assert!(!alarms.is_empty(), "the alarm is in a witness's own log");
    for alarm in &alarms {
        assert_eq!(
            alarm,
            &(origin(SHELTER), WitnessAlarmKind::Fork, 3, 3, true),
            "a fork: two roots of one size"
        );
    }
    // The witness that raised it keeps the evidence (both signed checkpoints).
    let evidence =
        evidence_of(&federation, POLICE, "fork") + evidence_of(&federation, PROSECUTION, "fork");
    assert!(evidence >= 1, "the fork evidence is stored");
    // And a witness shown both directly refuses the second and keeps evidence.
    let response = offer(&federation, SHELTER, POLICE, &b).await;
    assert_eq!(
        response,
        PeerResponse::WitnessRefused {
            kind: WitnessAlarmKind::Fork,
            cosigned_size: 3
        },
        "the second tree is refused with the dedicated answer"
    );
    assert!(evidence_of(&federation, POLICE, "fork") >= 1);
    assert_eq!(evidence_of(&federation, POLICE, "rollback"), 0);

    // The evidence itself, fetched through the client: both signed checkpoints as stored,
    // each valid under the shelter's node key, of one size with two different roots.
    let kept = police.all_witness_evidence().await.unwrap();
    assert_eq!(
        kept.len() as u64,
        evidence_of(&federation, POLICE, "fork"),
        "{kept:?}"
    );
    let verifier = NoteVerifier::new(
        &origin(SHELTER),
        *federation.member(SHELTER).node_key.public_key().as_dalek(),
    )
    .unwrap();
    for evidence in &kept {
        assert_eq!(evidence.origin, origin(SHELTER));
        assert_eq!(evidence.kind, WitnessAlarmKind::Fork);
        let (first, _) =
            streha_audit::open_checkpoint(&evidence.first, std::slice::from_ref(&verifier))
                .expect("the cosigned checkpoint verifies under the owner's key");
        let (second, _) =
            streha_audit::open_checkpoint(&evidence.second, std::slice::from_ref(&verifier))
                .expect("the contradicting checkpoint verifies under the owner's key");
        assert_eq!(first.size(), second.size());
        assert_ne!(first.root(), second.root(), "two different roots");
    }
}

/// How many pieces of evidence of `kind` `name`'s node keeps as a witness.
fn evidence_of(federation: &Federation, name: &str, kind: &str) -> u64 {
    metric(
        federation.member(name),
        &format!("streha_witness_evidence{{kind=\"{kind}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_restored_from_an_older_copy_is_caught_by_its_peers() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    for _ in 0..3 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(15), || async {
            published(&federation, SHELTER).await
        })
        .await
        .is_some()
    );
    assert!(shelter_node.terminate());
    let data = federation.member(SHELTER).dir.join("data");
    let backup = federation.dir.path().join("shelter-backup");
    copy_dir(&data, &backup);

    let shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    for _ in 0..5 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    let grown = shelter.checkpoint().await.unwrap().size();
    let cosigned = eventually(Duration::from_secs(15), || async {
        let note = published(&federation, SHELTER).await?;
        let (cp, _) = streha_audit::open_checkpoint(
            &note,
            &[NoteVerifier::new(
                &origin(SHELTER),
                *federation.member(SHELTER).node_key.public_key().as_dalek(),
            )
            .unwrap()],
        )
        .ok()?;
        (cp.size() >= grown).then_some(())
    })
    .await;
    assert!(cosigned.is_some(), "the police cosigned the grown log");
    assert!(shelter_node.terminate());

    // Restore the older copy and start again: the police has cosigned more than it holds.
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    // A data directory must be private to the node's user (strehad refuses one others can read).
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let _shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let caught = eventually(Duration::from_secs(15), || async {
        (metric(federation.member(POLICE), "streha_fork_alarms_total") > 0).then_some(())
    })
    .await;
    assert!(caught.is_some(), "the rollback is caught by the witness");
    // The alarm says it is a rollback, with both sizes; the evidence is kept as one.
    let police = federation.client(POLICE).await;
    let alarms: Vec<_> = log_entries(&police)
        .await
        .into_iter()
        .filter_map(|e| match e {
            AuditEntry::WitnessAlarm {
                kind,
                cosigned_size,
                offered_size,
                ..
            } => Some((kind, cosigned_size, offered_size)),
            _ => None,
        })
        .collect();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let (kind, cosigned_size, offered_size) = alarms[0];
    assert_eq!(kind, WitnessAlarmKind::Rollback);
    assert!(cosigned_size >= grown, "{cosigned_size} < {grown}");
    assert!(
        offered_size < cosigned_size,
        "{offered_size} >= {cosigned_size}"
    );
    assert_eq!(evidence_of(&federation, POLICE, "rollback"), 1);
    assert_eq!(evidence_of(&federation, POLICE, "fork"), 0);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if std::os::unix::fs::FileTypeExt::is_socket(&kind) {
            continue; // the node's admin socket: not data
        }
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roster_update_removing_an_agency_takes_effect_without_restart() {
    let mut federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    // Prosecution is down; a disclosure to it waits in the queue.
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let sealed = shelter
        .disclosure(
            subject,
            federation.member(PROSECUTION).id.clone(),
            Purpose::CriminalInvestigationAndProsecution,
        )
        .field(DisclosableCategory::Identity, "name-token", "x")
        .unwrap()
        .prepare()
        .unwrap()
        .seal(&shelter)
        .unwrap();
    let envelope = sealed.envelope_id();
    // The agreement lets prosecution receive identity data for an investigation.
    shelter.submit(&sealed).await.unwrap();
    assert!(matches!(
        shelter.delivery_status(envelope).await.unwrap(),
        DeliveryState::Queued { .. }
    ));
    let removed = federation.member(PROSECUTION).id.clone();
    let entries = federation
        .members
        .iter()
        .filter(|m| m.id != removed)
        .map(Member::entry)
        .collect();
    let v2 = federation.roster_of(entries);
    federation.publish(v2);
    shelter_node.hangup();

    let held = eventually(Duration::from_secs(15), || async {
        match shelter.delivery_status(envelope).await.ok()? {
            DeliveryState::Held { reason } => Some(reason),
            _ => None,
        }
    })
    .await
    .expect("the envelope to the removed agency is held, not dropped");
    assert!(held.contains("not in the current roster"), "{held}");
    let log = log_entries(&shelter).await;
    assert!(
        log.iter()
            .any(|e| matches!(e, AuditEntry::RosterChanged { version: 2, .. }))
    );

    // The removed agency's node key is refused at the handshake from now on.
    let removed_member = federation.member(removed.as_str());
    let identity = Identity::from_key(&removed_member.node_key).unwrap();
    let target = federation.member(SHELTER);
    let refused = match raw_connection(
        &identity,
        target.node_key.public_key().to_bytes(),
        target.peer_addr,
        PEER_ALPN,
    )
    .await
    {
        Err(_) => true,
        Ok(connection) => {
            request::<_, PeerResponse>(&connection, &PeerRequest::Gossip(vec![]), MAX_FRAME_LEN, T)
                .await
                .is_err()
        }
    };
    assert!(refused, "a removed agency cannot connect");
    // And a new disclosure to it is refused by the policy.
    let err = shelter
        .submit(
            shelter
                .disclosure(subject, removed, Purpose::IdentificationAndReferral)
                .field(DisclosableCategory::Identity, "n", "x")
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        err.refusal().is_some() || err.to_string().contains("roster"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_and_sigterm_under_load_loses_nothing_acknowledged() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let member = federation.member(SHELTER);
    let health = http_get(member, "/health");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let text = http_get(member, "/metrics");
    assert!(
        text.contains("# TYPE streha_disclosures_accepted_total counter"),
        "{text}"
    );
    assert_eq!(metric(member, "streha_disclosures_accepted_total"), 0);

    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let (consent, _) = shelter
        .grant_consent(consent_terms(
            subject,
            Grantor::Subject,
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .unwrap();
    // Refusal counted by reason.
    let _ = shelter
        .submit(
            shelter
                .disclosure(
                    subject,
                    federation.member(POLICE).id.clone(),
                    Purpose::Assistance,
                )
                .field(DisclosableCategory::Psychological, "n", "x")
                .unwrap(),
        )
        .await;
    assert!(
        http_get(member, "/metrics")
            .contains("streha_refusals_total{side=\"send\",reason=\"NoConsentForAssistance\"} 1")
    );

    // Load from a task while SIGTERM arrives.
    let police_id = federation.member(POLICE).id.clone();
    let load = {
        let shelter = federation.client(SHELTER).await;
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..200 {
                let disclosure = shelter
                    .disclosure(subject, police_id.clone(), Purpose::Assistance)
                    .field(DisclosableCategory::Medical, "n", format!("{n}"))
                    .unwrap()
                    .consent(consent);
                match shelter.submit(disclosure).await {
                    Ok(submitted) => acknowledged.push(submitted),
                    Err(_) => break,
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        metric(member, "streha_disclosures_accepted_total") > 0,
        "the counter moves"
    );
    assert!(shelter_node.terminate(), "clean exit under load");
    let acknowledged = load.await.unwrap();
    assert!(!acknowledged.is_empty());

    let _shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    for submitted in &acknowledged {
        let proven = shelter.prove_entry(submitted.index).await.unwrap();
        match proven.audit_entry().unwrap() {
            AuditEntry::Disclosed { header, .. } => {
                assert_eq!(header.envelope_id, submitted.envelope)
            }
            other => panic!("acknowledged disclosure missing: {}", other.kind_name()),
        }
    }
}

/// How many deliveries `name`'s node holds for `reason` (from `/metrics`).
fn held_of(federation: &Federation, name: &str, reason: &str) -> u64 {
    metric(
        federation.member(name),
        &format!("streha_outbound_held{{reason=\"{reason}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_envelope_held_for_a_removed_agency_is_released_when_it_returns() {
    let mut federation = Federation::new();
    let shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    assert_eq!(held_of(&federation, SHELTER, "not-in-roster"), 0);
    // Prosecution leaves the roster; a disclosure to it, sealed before, is then queued.
    let all: Vec<_> = federation.members.iter().map(Member::entry).collect();
    let prosecution = federation.member(PROSECUTION).id.clone();
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let sealed = shelter
        .disclosure(
            subject,
            prosecution.clone(),
            Purpose::CriminalInvestigationAndProsecution,
        )
        .field(DisclosableCategory::Identity, "name-token", "x")
        .unwrap()
        .prepare()
        .unwrap()
        .seal(&shelter)
        .unwrap();
    let envelope = sealed.envelope_id();
    shelter.submit(&sealed).await.unwrap();
    // A second disclosure, whose subject is then re-keyed: held for another reason, which
    // no roster change releases.
    let (other_subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let rekeyed = shelter
        .submit(
            shelter
                .disclosure(
                    other_subject,
                    prosecution.clone(),
                    Purpose::CriminalInvestigationAndProsecution,
                )
                .field(DisclosableCategory::Identity, "name-token", "y")
                .unwrap(),
        )
        .await
        .unwrap()
        .envelope;
    shelter.rekey_subject(other_subject).await.unwrap();
    let without = federation.roster_of(
        all.iter()
            .filter(|entry| entry.id != prosecution)
            .cloned()
            .collect(),
    );
    federation.publish(without);
    shelter_node.hangup();

    let held = eventually(Duration::from_secs(15), || async {
        match shelter.delivery_status(envelope).await.ok()? {
            DeliveryState::Held { reason } => Some(reason),
            _ => None,
        }
    })
    .await
    .expect("the envelope to the removed agency is held");
    assert!(held.contains("not in the current roster"), "{held}");
    assert_eq!(held_of(&federation, SHELTER, "not-in-roster"), 1);
    assert_eq!(held_of(&federation, SHELTER, "rekeyed"), 1);
    assert_eq!(held_of(&federation, SHELTER, "refused"), 0);
    let listed = shelter.all_held_deliveries().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let of = |id| listed.iter().find(|held| held.envelope == id).unwrap();
    assert_eq!(of(envelope).recipient, prosecution);
    assert_eq!(of(envelope).class, streha_client::HoldReason::NotInRoster);
    assert_eq!(of(rekeyed).class, streha_client::HoldReason::Rekeyed);

    // Prosecution is back in a newer roster and its node runs: the envelope is retried and
    // delivered once.
    let with = federation.roster_of(all);
    federation.publish(with);
    let _prosecution_node = federation.start(PROSECUTION);
    shelter_node.hangup();
    let delivered = eventually(Duration::from_secs(20), || async {
        match shelter.delivery_status(envelope).await.ok()? {
            DeliveryState::Delivered { .. } => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(delivered.is_some(), "the released envelope is delivered");
    assert_eq!(held_of(&federation, SHELTER, "not-in-roster"), 0);
    // The re-keyed subject's disclosure stays held.
    assert_eq!(held_of(&federation, SHELTER, "rekeyed"), 1);
    let still: Vec<_> = shelter
        .all_held_deliveries()
        .await
        .unwrap()
        .into_iter()
        .map(|held| held.envelope)
        .collect();
    assert_eq!(still, vec![rekeyed]);
    assert!(matches!(
        shelter.delivery_status(rekeyed).await.unwrap(),
        DeliveryState::Held { .. }
    ));
    // Exactly once: one receipt at the sender, one `received` at the receiver.
    let receipts = log_entries(&shelter)
        .await
        .iter()
        .filter(|e| matches!(e, AuditEntry::Receipt { envelope: id, .. } if *id == envelope))
        .count();
    assert_eq!(receipts, 1);
    let prosecution_client = federation.client(PROSECUTION).await;
    let received = log_entries(&prosecution_client)
        .await
        .iter()
        .filter(
            |e| matches!(e, AuditEntry::Received { header, .. } if header.envelope_id == envelope),
        )
        .count();
    assert_eq!(received, 1);
    let inbox = prosecution_client.inbox(None, 256).await.unwrap();
    assert_eq!(inbox.iter().filter(|e| e.envelope == envelope).count(), 1);
}

/// Each node records in its own log what it cosigned (origin, size, root — one entry per
/// record interval, not one per cosignature); exports end at a cosigned checkpoint, so the
/// federation's bundles verify with a witness required (the verifier's default), and the
/// records hold against the witnessed logs.
#[tokio::test(flavor = "multi_thread")]
async fn witnesses_record_what_they_cosigned_and_cosigned_exports_verify_at_the_default() {
    let federation = Federation::new();
    for member in &federation.members {
        let config = member.dir.join("node.toml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "interval_ms = 300\n",
            "interval_ms = 300\nrecord_interval_ms = 500\n",
        );
        std::fs::write(&config, text).unwrap();
    }
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;
    for _ in 0..3 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    let shelter_size = shelter.checkpoint().await.unwrap().size();

    // The police records, in its own log, a shelter checkpoint of at least that size.
    let recorded = eventually(Duration::from_secs(30), || async {
        log_entries(&police)
            .await
            .into_iter()
            .find_map(|entry| match entry {
                AuditEntry::WitnessedCheckpoints { checkpoints, .. } => checkpoints
                    .into_iter()
                    .find(|c| c.origin.as_str() == origin(SHELTER) && c.size >= shelter_size),
                _ => None,
            })
    })
    .await
    .expect("the police records the shelter checkpoint it cosigned");
    // Batched: far fewer records than cosignatures.
    let records = count(&log_entries(&police).await, "witnessed_checkpoints");
    let cosigned = metric(
        federation.member(SHELTER),
        "streha_cosignatures_total{witness=\"police\"}",
    );
    assert!(
        records >= 1 && records as u64 <= cosigned,
        "{records} records, {cosigned} cosignatures"
    );

    // Exports that end at a cosigned checkpoint verify at the default (one witness).
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let wait = Duration::from_secs(30);
    let bundles = vec![
        police.export_cosigned_bundle(wait).await.unwrap(),
        shelter.export_cosigned_bundle(wait).await.unwrap(),
    ];
    let report = streha_verify::verify(
        &bundles,
        &roster,
        &streha_verify::VerifyOptions::new().min_witnesses(1),
    );
    assert!(
        report.findings.is_empty(),
        "{}",
        streha_verify::render_text(&report)
    );
    let shelter_bundle = &bundles[1];
    let tree = MemoryTree::from_entries(&shelter_bundle.entries);
    assert!(tree.size() >= recorded.size);
    assert_eq!(
        tree.root_at(recorded.size).unwrap().to_bytes(),
        recorded.root
    );
}
