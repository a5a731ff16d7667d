//! Backup and restore with real daemons (`spec/protocol.md` §13): an online backup taken
//! while disclosures flow, a restore, and the recovery mode that learns from the peers what
//! they cosigned of the restored node's log.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use streha_core::{AgeStatus, DisclosableCategory, Purpose, SubjectId};
use streha_transport::{Identity, request};
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::{MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(60);

/// Discloses one identity record from the shelter to the police (the agreement allows it
/// without consent) and waits until it is delivered.
async fn disclose(shelter: &streha_client::Client, subject: SubjectId) {
    disclose_to(shelter, subject, POLICE).await;
}

/// Discloses one identity record from `from`'s client to `to` and waits until delivered.
async fn disclose_to(shelter: &streha_client::Client, subject: SubjectId, to: &str) {
    let sealed = shelter
        .disclosure(
            subject,
            streha_core::AgencyId::new(to).unwrap(),
            Purpose::IdentificationAndReferral,
        )
        .field(DisclosableCategory::Identity, "name", "a pseudonym")
        .unwrap()
        .prepare()
        .unwrap()
        .seal(shelter)
        .unwrap();
    let id = sealed.envelope_id();
    shelter.submit(&sealed).await.unwrap();
    let state = shelter.await_delivery(id, T).await.unwrap();
    assert!(
        matches!(state, streha_wire::app::DeliveryState::Delivered { .. }),
        "{state:?}"
    );
}

/// The size of the latest checkpoint of the shelter's log that the police node cosigned,
/// asked as the shelter's node asks in recovery mode (`None` if the police could not be
/// asked this time: the connection is closed after each question, and the police caps the
/// connections of one key, so a poll may have to wait for an earlier one to close).
async fn police_cosigned_of_shelter(federation: &Federation) -> Option<u64> {
    police_cosigned_note_of_shelter(federation)
        .await
        .map(|latest| latest.map_or(0, |(_, size)| size))
}

/// The origin and size of the latest checkpoint of the shelter's log (in its latest epoch)
/// that the police node cosigned: `Some(None)` if none, `None` if not asked this time.
async fn police_cosigned_note_of_shelter(federation: &Federation) -> Option<Option<(String, u64)>> {
    let identity = Identity::from_key(&federation.member(SHELTER).node_key).unwrap();
    let police = federation.member(POLICE);
    let connection = raw_connection(
        &identity,
        police.node_key.public_key().to_bytes(),
        police.peer_addr,
        PEER_ALPN,
    )
    .await
    .ok()?;
    let answer = request(
        &connection,
        &PeerRequest::CosignedCheckpoint,
        MAX_FRAME_LEN,
        T,
    )
    .await;
    connection.close(0u32.into(), b"done");
    match answer.ok()? {
        PeerResponse::CosignedCheckpoint(None) => Some(None),
        PeerResponse::CosignedCheckpoint(Some(note)) => {
            let body = streha_audit::SignedNote::parse(&note).unwrap();
            let checkpoint = streha_audit::Checkpoint::parse_body(body.body()).unwrap();
            Some(Some((checkpoint.origin().to_owned(), checkpoint.size())))
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

fn data_dir(federation: &Federation, name: &str) -> PathBuf {
    federation.member(name).dir.join("data")
}

/// Takes a backup of `name`'s running node into `dir`, as `streha admin backup` does.
async fn backup(
    federation: &Federation,
    name: &str,
    dir: &Path,
) -> streha_node::admin::BackupReport {
    let (data, out, vault) = (
        data_dir(federation, name),
        dir.join("store.backup"),
        dir.join("vault.backup"),
    );
    tokio::task::spawn_blocking(move || {
        streha_node::admin::request_backup(&data, &out, &vault).unwrap()
    })
    .await
    .unwrap()
}

/// Replaces `name`'s data directory with one restored from the backup in `dir`.
fn restore(federation: &Federation, name: &str, dir: &Path) {
    let data = data_dir(federation, name);
    std::fs::rename(&data, data.with_extension("lost")).unwrap();
    let report =
        streha_node::admin::restore(&dir.join("store.backup"), &dir.join("vault.backup"), &data)
            .unwrap();
    assert!(data.join(streha_node::recovery::RESTORED_FILE).exists());
    let _ = report;
}

/// `/health` of a node that may not answer (`None` then).
fn try_health(member: &Member) -> Option<serde_json::Value> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(member.metrics_addr).ok()?;
    write!(stream, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    serde_json::from_str(response.split("\r\n\r\n").nth(1)?).ok()
}

fn health(federation: &Federation, name: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(federation.member(name), "/health")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_of_an_up_to_date_backup_leaves_recovery_mode_and_serves() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose(&shelter, subject).await;

    let backups = tempfile::tempdir().unwrap();
    let report = backup(&federation, SHELTER, backups.path()).await;
    let size = shelter.checkpoint().await.unwrap().size();
    assert_eq!(report.size, size, "nothing was appended meanwhile");
    assert!(
        report.keys >= 1,
        "the subject's data key is in the vault backup"
    );
    assert!(node.terminate());

    restore(&federation, SHELTER, backups.path());
    let _node = federation.start(SHELTER);
    let recovered = eventually(T, || async {
        let health = health(&federation, SHELTER);
        (health["recovery"]["recovering"] == false).then_some(health)
    })
    .await
    .expect("the node leaves recovery mode");
    assert_eq!(recovered["recovery"]["lost_entries"], 0);
    assert_eq!(recovered["log_size"], size);
    assert!(
        !data_dir(&federation, SHELTER)
            .join(streha_node::recovery::RESTORED_FILE)
            .exists()
    );

    // It serves as before: the restored subject (and its data key) and a new disclosure.
    let shelter = federation.client(SHELTER).await;
    disclose(&shelter, subject).await;
    assert_eq!(
        metric(federation.member(POLICE), "streha_fork_alarms_total"),
        0
    );

    // An honest restore that lost nothing is no finding of the federation's verification.
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let police = federation.client(POLICE).await;
    let prosecution = federation.client(PROSECUTION).await;
    let report = eventually(T, || async {
        let bundles = vec![
            shelter.export_bundle().await.ok()?,
            police.export_bundle().await.ok()?,
            prosecution.export_bundle().await.ok()?,
        ];
        let report = streha_verify::verify(&bundles, &roster, &streha_verify::VerifyOptions::new());
        report.findings.is_empty().then_some(report)
    })
    .await;
    assert!(report.is_some(), "the federation verifies with no finding");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_that_lost_cosigned_entries_stays_in_recovery_and_names_the_loss() {
    let federation = Federation::new();
    let police_node = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose(&shelter, subject).await;

    // The backup is taken online, while disclosures flow; one of them is in the outbound
    // queue then (the police is down), and delivered after it.
    assert!(police_node.terminate());
    let backups = tempfile::tempdir().unwrap();
    let queued = submit_to_police(&shelter, subject, "queued").await;
    let (report, in_flight) = tokio::join!(
        backup(&federation, SHELTER, backups.path()),
        submit_to_police(&shelter, subject, "in flight")
    );
    let _police = federation.start(POLICE);
    let shelter = federation.client(SHELTER).await;
    for id in [queued, in_flight] {
        let state = shelter.await_delivery(id, T).await.unwrap();
        assert!(
            matches!(state, streha_wire::app::DeliveryState::Delivered { .. }),
            "{state:?}"
        );
    }
    // More disclosures after it, cosigned by the peers.
    disclose(&shelter, subject).await;
    disclose(&shelter, subject).await;
    let after = shelter.checkpoint().await.unwrap().size();
    assert!(after > report.size);
    let cosigned = eventually(T, || async {
        let size = police_cosigned_of_shelter(&federation).await?;
        (size > report.size).then_some(size)
    })
    .await
    .expect("the police cosigned entries the backup does not hold");
    assert!(node.terminate());

    restore(&federation, SHELTER, backups.path());
    let _node = federation.start(SHELTER);
    let cosigned_now = eventually(T, || police_cosigned_of_shelter(&federation))
        .await
        .expect("the police answers");
    assert!(cosigned_now >= cosigned);
    let health = eventually(T, || async {
        let health = health(&federation, SHELTER);
        (health["recovery"]["lost_entries"] != 0).then_some(health)
    })
    .await
    .expect("recovery finds the loss");
    let lost = health["recovery"]["lost_entries"].as_u64().unwrap();
    // The prosecution may have cosigned less than the police; the loss is the largest.
    assert!(lost >= cosigned_now - report.size, "{health}");
    assert_eq!(health["recovery"]["recovering"], true);

    // Nothing is appended: not the receipt of the restored queue's envelope, which the
    // police answers (it holds it already); not a disclosure; and no witness saw a rollback.
    let shelter = federation.client(SHELTER).await;
    let waiting = eventually(T, || async {
        match shelter.delivery_status(queued).await.ok()? {
            streha_wire::app::DeliveryState::Queued {
                last_error: Some(error),
                ..
            } if error.contains("recovery mode") => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(
        waiting.is_some(),
        "the restored envelope waits for the end of recovery"
    );
    assert_eq!(crate::health(&federation, SHELTER)["log_size"], report.size);
    let refused = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .expect_err("the log takes no entry in recovery mode");
    assert!(refused.to_string().contains("recovery mode"), "{refused}");
    assert_eq!(
        metric(federation.member(POLICE), "streha_fork_alarms_total"),
        0
    );
    assert_eq!(
        metric(federation.member(PROSECUTION), "streha_fork_alarms_total"),
        0
    );
}

/// Seals one identity record from the shelter to the police and submits it (delivered now
/// or, with the police down, queued in the shelter's outbound queue).
async fn submit_to_police(
    shelter: &streha_client::Client,
    subject: SubjectId,
    name: &str,
) -> streha_core::EnvelopeId {
    let sealed = shelter
        .disclosure(
            subject,
            streha_core::AgencyId::new(POLICE).unwrap(),
            Purpose::IdentificationAndReferral,
        )
        .field(DisclosableCategory::Identity, "name", name)
        .unwrap()
        .prepare()
        .unwrap()
        .seal(shelter)
        .unwrap();
    let id = sealed.envelope_id();
    shelter.submit(&sealed).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn envelopes_in_the_inbox_and_the_outbound_queue_survive_backup_and_restore() {
    let federation = Federation::new();
    let police_node = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    // One envelope in the police's inbox (its body is a file of the police's store)...
    let delivered = submit_to_police(&shelter, subject, "first pseudonym").await;
    let state = shelter.await_delivery(delivered, T).await.unwrap();
    assert!(
        matches!(state, streha_wire::app::DeliveryState::Delivered { .. }),
        "{state:?}"
    );
    let police_backups = tempfile::tempdir().unwrap();
    backup(&federation, POLICE, police_backups.path()).await;
    assert!(police_node.terminate());

    // ... and one in the shelter's outbound queue, the police being down.
    let queued = submit_to_police(&shelter, subject, "second pseudonym").await;
    assert!(matches!(
        shelter.delivery_status(queued).await.unwrap(),
        streha_wire::app::DeliveryState::Queued { .. }
    ));
    let shelter_backups = tempfile::tempdir().unwrap();
    backup(&federation, SHELTER, shelter_backups.path()).await;
    drop(shelter);
    assert!(shelter_node.terminate());

    restore(&federation, POLICE, police_backups.path());
    restore(&federation, SHELTER, shelter_backups.path());
    let _police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);

    // The queued envelope leaves the restored outbound queue once both are out of recovery,
    // and both envelopes open at the police: bodies and data keys were restored.
    let shelter = federation.client(SHELTER).await;
    let delivered_after_restore = eventually(Duration::from_secs(240), || async {
        matches!(
            shelter.delivery_status(queued).await.ok()?,
            streha_wire::app::DeliveryState::Delivered { .. }
        )
        .then_some(())
    })
    .await;
    assert!(
        delivered_after_restore.is_some(),
        "the restored outbound envelope is delivered"
    );
    let police = federation.client(POLICE).await;
    let inbox = police.inbox(None, 10).await.unwrap();
    let ids: Vec<_> = inbox.iter().map(|entry| entry.envelope).collect();
    assert!(ids.contains(&delivered) && ids.contains(&queued), "{ids:?}");
    for id in [delivered, queued] {
        police.open(id).await.unwrap();
    }
    for name in [POLICE, SHELTER] {
        let health = health(&federation, name);
        assert_eq!(health["recovery"]["lost_entries"], 0, "{name}: {health}");
    }
}

/// Issue 18.18: a restore that lost cosigned entries, confirmed by the operator
/// (`streha admin recover --accept-loss`), continues the log in a new epoch whose entry 0
/// declares the loss; the peers witness the new epoch (its first checkpoint goes with the
/// declaration) and raise no alarm; the restored epoch's bundle is kept for export; and a
/// later epoch offered without a declaration is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_loss_continues_in_a_new_epoch_witnessed_by_the_peers() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose(&shelter, subject).await;
    let backups = tempfile::tempdir().unwrap();
    let report = backup(&federation, SHELTER, backups.path()).await;
    // More disclosures after the backup, witnessed by the peers: lost by the restore. The
    // police waits to have cosigned every checkpoint its deliveries carried (the declaration
    // proves the largest cosigned size, and the verifier holds it to what the peers' logs
    // keep of the lost epoch).
    disclose(&shelter, subject).await;
    disclose(&shelter, subject).await;
    let delivered = shelter.checkpoint().await.unwrap().size();
    eventually(T, || async {
        let size = police_cosigned_of_shelter(&federation).await?;
        (size > report.size && size >= delivered).then_some(size)
    })
    .await
    .expect("the police cosigned entries the backup does not hold");
    drop(shelter);
    assert!(node.terminate());

    restore(&federation, SHELTER, backups.path());
    let node = federation.start(SHELTER);
    let data = data_dir(&federation, SHELTER);
    // Before the loss is proven, or without confirmation, nothing changes.
    eventually(T, || async {
        (health(&federation, SHELTER)["recovery"]["lost_entries"] != 0).then_some(())
    })
    .await
    .expect("recovery finds the loss");
    let recovered = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || streha_node::admin::request_recover(&data))
            .await
            .unwrap()
            .expect("the operator's confirmation is taken")
    };
    let base = recovered.previous_origin.clone();
    assert!(base.ends_with("/streha/shelter"), "{base}");
    assert_eq!(recovered.origin, format!("{base}/epoch/2"));
    assert_eq!(recovered.restored, report.size);
    assert!(recovered.proven > report.size);

    // The node restarts by itself in the new epoch, leaves recovery mode, and its peers
    // witness the new epoch.
    let serving = eventually(T, || async {
        // The node restarts meanwhile: its endpoint may not answer for a moment.
        let health = try_health(federation.member(SHELTER))?;
        (health["recovery"]["recovering"] == false && health["log_origin"] == recovered.origin)
            .then_some(health)
    })
    .await
    .expect("the node serves in the new epoch");
    assert!(serving["log_size"].as_u64().unwrap() >= 1, "{serving}");
    assert!(!data.join(streha_node::recovery::RESTORED_FILE).exists());
    let witnessed = eventually(T, || async {
        let (origin, size) = police_cosigned_note_of_shelter(&federation).await??;
        (origin == recovered.origin).then_some(size)
    })
    .await
    .expect("the police witnesses the new epoch");
    assert!(witnessed >= 1);
    for peer in [POLICE, PROSECUTION] {
        assert_eq!(
            metric(federation.member(peer), "streha_fork_alarms_total"),
            0,
            "{peer}"
        );
    }

    // Deliveries from and to the node in its new epoch: each side checks the other's
    // checkpoint under the origin it was signed under.
    let shelter = federation.client(SHELTER).await;
    disclose(&shelter, subject).await;
    let police_client = federation.client(POLICE).await;
    let (police_subject, _) = police_client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose_to(&police_client, police_subject, SHELTER).await;

    // The restored epoch's bundle is kept beside, whole.
    let old = streha_audit::LogBundle::decode(&std::fs::read(&recovered.bundle).unwrap()).unwrap();
    assert_eq!(old.origin, base);
    assert_eq!(old.entries.len() as u64, report.size);

    // The federation's verification: every node's bundle — the restored node's kept
    // `epochs/1.bundle` and its export in epoch 2 — verify with the loss declared (a
    // warning) and no critical finding. Exported until one moment's bundles agree (a
    // witness records what it cosigned in its own log, so an export can trail another).
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let prosecution_client = federation.client(PROSECUTION).await;
    let last = std::sync::Mutex::new(String::new());
    let (verified, bundles) = eventually(T, || async {
        let mut bundles = vec![
            police_client.export_bundle().await.ok()?,
            prosecution_client.export_bundle().await.ok()?,
            shelter.export_bundle().await.ok()?,
        ];
        bundles.push(old.clone());
        let report = streha_verify::verify(&bundles, &roster, &streha_verify::VerifyOptions::new());
        *last.lock().unwrap() = streha_verify::render_text(&report);
        report
            .findings
            .iter()
            .all(|f| f.severity < streha_verify::Severity::Error)
            .then_some((report, bundles))
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the federation does not verify across the epochs: {}",
            last.lock().unwrap()
        )
    });
    let shelter_epoch2 = bundles[2].clone();
    assert_eq!(shelter_epoch2.origin, recovered.origin);
    let declared: Vec<_> = verified
        .findings
        .iter()
        .filter(|f| f.rule == streha_verify::Rule::DeclaredLoss)
        .collect();
    assert_eq!(
        declared.len(),
        1,
        "{}",
        streha_verify::render_text(&verified)
    );
    assert_eq!(declared[0].node, format!("{SHELTER} (epoch 2)"));
    assert!(
        verified
            .findings
            .iter()
            .all(|f| f.rule == streha_verify::Rule::DeclaredLoss),
        "{}",
        streha_verify::render_text(&verified)
    );
    assert!(
        verified
            .nodes
            .iter()
            .any(|n| n.origin == recovered.origin && n.replayed && !n.disclosures.is_empty()),
        "the new epoch is replayed: {}",
        streha_verify::render_text(&verified)
    );

    // The same bundles with the new epoch's declaration falsified (another restored root) or
    // missing (entry 0 not a declaration), each signed again by the node's own key: critical.
    let resign = |entries: Vec<Vec<u8>>| {
        let tree = streha_audit::MemoryTree::from_entries(&entries);
        let signer = streha_audit::NoteSigner::new(
            &recovered.origin,
            federation.member(SHELTER).node_key.as_dalek().clone(),
        )
        .unwrap();
        let note = streha_audit::sign_checkpoint(
            &streha_audit::Checkpoint::new(recovered.origin.as_str(), tree.size(), tree.root())
                .unwrap(),
            &signer,
        )
        .to_text();
        streha_audit::LogBundle::new(recovered.origin.clone(), entries, vec![note])
    };
    let Ok(streha_core::AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        proven_note,
        proven_by,
        at,
        ..
    }) = streha_core::AuditEntry::decode(&shelter_epoch2.entries[0])
    else {
        panic!("entry 0 of the new epoch is its declaration");
    };
    let falsified = streha_core::AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root: [0xee; 32],
        proven_note,
        proven_by,
        at,
    };
    let mut forged_entries = shelter_epoch2.entries.clone();
    forged_entries[0] = falsified.encode();
    let mut missing_entries = shelter_epoch2.entries.clone();
    missing_entries[0] = streha_core::AuditEntry::SubjectRegistered {
        subject: SubjectId::from_bytes([0x5a; 16]),
        age_status: AgeStatus::Adult,
        at: streha_core::Timestamp(0),
    }
    .encode();
    for (entries, rule) in [
        (
            forged_entries,
            streha_verify::Rule::ForgedRestoreDeclaration,
        ),
        (missing_entries, streha_verify::Rule::UndeclaredEpoch),
    ] {
        let mut forged = bundles.clone();
        forged[2] = resign(entries);
        let report = streha_verify::verify(&forged, &roster, &streha_verify::VerifyOptions::new());
        assert!(
            report.findings.iter().any(|f| f.rule == rule
                && f.severity == streha_verify::Severity::Critical
                && f.node == format!("{SHELTER} (epoch 2)")),
            "{rule}: {}",
            streha_verify::render_text(&report)
        );
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.rule != streha_verify::Rule::DeclaredLoss),
            "{}",
            streha_verify::render_text(&report)
        );
    }
    drop(prosecution_client);

    // A restart keeps the epoch, and `strehad --check` (run before every start by the
    // service unit) accepts the data directory in it.
    drop(shelter);
    assert!(node.terminate());
    let (code, stdout, stderr) = federation.run_to_exit(SHELTER, &["--check"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&recovered.origin), "{stdout}");
    let node = federation.start(SHELTER);
    let restarted = eventually(T, || async { try_health(federation.member(SHELTER)) })
        .await
        .unwrap();
    assert_eq!(restarted["log_origin"], recovered.origin);
    assert_eq!(restarted["recovery"]["recovering"], false);

    // A later epoch offered without its declaration is refused by the peers.
    let identity = Identity::from_key(&federation.member(SHELTER).node_key).unwrap();
    let undeclared = format!("{base}/epoch/3");
    let signer = streha_audit::NoteSigner::new(
        &undeclared,
        federation.member(SHELTER).node_key.as_dalek().clone(),
    )
    .unwrap();
    let mut tree = streha_audit::MemoryTree::new();
    tree.append_entry(b"a log started over");
    let note = streha_audit::sign_checkpoint(
        &streha_audit::Checkpoint::new(undeclared.as_str(), 1, tree.root()).unwrap(),
        &signer,
    )
    .to_text();
    let police = federation.member(POLICE);
    let answer = eventually(T, || async {
        let connection = raw_connection(
            &identity,
            police.node_key.public_key().to_bytes(),
            police.peer_addr,
            PEER_ALPN,
        )
        .await
        .ok()?;
        let answer = request(
            &connection,
            &PeerRequest::Witness(Box::new(streha_wire::peer::WitnessRequest {
                old_size: 0,
                proof: streha_audit::ConsistencyProof::new(vec![]).unwrap(),
                checkpoint: note.clone(),
            })),
            MAX_FRAME_LEN,
            T,
        )
        .await;
        connection.close(0u32.into(), b"done");
        answer.ok()
    })
    .await
    .expect("the police answers");
    assert!(
        matches!(answer, PeerResponse::Error(_)),
        "an undeclared epoch is not cosigned: {answer:?}"
    );
    drop(node);
}

/// Seals one identity record from `from`'s client to `to` (not submitted).
fn seal_to(
    client: &streha_client::Client,
    subject: SubjectId,
    to: &str,
    name: &str,
) -> streha_client::SealedDisclosure {
    client
        .disclosure(
            subject,
            streha_core::AgencyId::new(to).unwrap(),
            Purpose::IdentificationAndReferral,
        )
        .field(DisclosableCategory::Identity, "name", name)
        .unwrap()
        .prepare()
        .unwrap()
        .seal(client)
        .unwrap()
}

/// Confirms the loss the restored shelter's recovery proved (`streha admin recover
/// --accept-loss`) and waits until the node serves in the new epoch, restarted in-process on
/// the same addresses (a daemon that exits instead — its old sockets still bound, as before
/// the shutdown released them — fails the test).
async fn accept_loss(
    federation: &Federation,
    mut node: Daemon,
) -> (streha_node::recovery::RecoverReport, Daemon) {
    let data = data_dir(federation, SHELTER);
    eventually(T, || async {
        (health(federation, SHELTER)["recovery"]["lost_entries"] != 0).then_some(())
    })
    .await
    .expect("recovery finds the loss");
    let recovered = tokio::task::spawn_blocking(move || streha_node::admin::request_recover(&data))
        .await
        .unwrap()
        .expect("the operator's confirmation is taken");
    let deadline = std::time::Instant::now() + 2 * T;
    loop {
        if let Some(health) = try_health(federation.member(SHELTER))
            && health["recovery"]["recovering"] == false
            && health["log_origin"] == recovered.origin
        {
            break;
        }
        if let Some(code) = node.wait_for_exit(Duration::from_millis(200)) {
            panic!("the shelter's daemon exited ({code}) instead of restarting in-process");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node serves in the new epoch"
        );
    }
    (recovered, node)
}

/// Verifies the federation's bundles, with the restored node's kept bundle of epoch 1,
/// until one moment's exports agree on everything but the one declared loss (a warning);
/// panics with the last report otherwise.
async fn verifies_with_only_the_declared_loss(
    federation: &Federation,
    recovered: &streha_node::recovery::RecoverReport,
) {
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let old = streha_audit::LogBundle::decode(&std::fs::read(&recovered.bundle).unwrap()).unwrap();
    let clients = [
        federation.client(POLICE).await,
        federation.client(PROSECUTION).await,
        federation.client(SHELTER).await,
    ];
    let last = std::sync::Mutex::new(String::new());
    let verified = eventually(T, || async {
        let mut bundles = vec![old.clone()];
        for client in &clients {
            bundles.push(client.export_bundle().await.ok()?);
        }
        let report = streha_verify::verify(&bundles, &roster, &streha_verify::VerifyOptions::new());
        *last.lock().unwrap() = streha_verify::render_text(&report);
        let declared = report
            .findings
            .iter()
            .filter(|f| f.rule == streha_verify::Rule::DeclaredLoss)
            .count();
        (declared == 1
            && report
                .findings
                .iter()
                .all(|f| f.rule == streha_verify::Rule::DeclaredLoss))
        .then_some(())
    })
    .await;
    assert!(
        verified.is_some(),
        "the federation does not verify with only the declared loss: {}",
        last.lock().unwrap()
    );
}

/// Issue 18.18, kept state across epochs (`spec/audit-log.md` §9): the state a node keeps
/// through an epoch switch points into the log epoch it was logged in. Envelopes disclosed
/// before the backup and still queued (their recipient down) are delivered in epoch 2 with
/// the evidence of epoch 1 — their `disclosed` entries proven from the kept bundle under
/// epoch 1's checkpoint — and their receipts logged in epoch 2, as is a disclosure in epoch 2 on
/// a consent granted in epoch 1 (its evidence proven from epoch 1); a resubmission of one is
/// told it was accepted in epoch 1; an envelope delivered in epoch 1 is reported delivered
/// there, its receipt proven from the kept bundle; the inbox lists what arrived in epoch 1;
/// and the federation verifies with the one declared loss. Before, the queued envelopes
/// were proven at their epoch-1 indices in the new log (retried forever, or a wrong entry
/// the receiver refused) and the inbox read its headers from the wrong log.
#[tokio::test(flavor = "multi_thread")]
async fn envelopes_queued_before_a_confirmed_loss_are_delivered_in_the_new_epoch() {
    let federation = Federation::new();
    let police_node = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    // A consent granted in epoch 1, relied on by a disclosure in epoch 2.
    let (consent, _) = shelter
        .grant_consent(consent_terms(
            subject,
            streha_core::Grantor::Subject,
            POLICE,
            &[streha_core::Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .unwrap();
    // Delivered in epoch 1: its receipt stays there.
    let early = submit_to_police(&shelter, subject, "early").await;
    assert!(matches!(
        shelter.await_delivery(early, T).await.unwrap(),
        streha_wire::app::DeliveryState::Delivered { .. }
    ));
    // Received by the shelter in epoch 1: in its inbox.
    let police_client = federation.client(POLICE).await;
    let (police_subject, _) = police_client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let incoming = seal_to(&police_client, police_subject, SHELTER, "incoming");
    let incoming_id = incoming.envelope_id();
    police_client.submit(&incoming).await.unwrap();
    assert!(matches!(
        police_client.await_delivery(incoming_id, T).await.unwrap(),
        streha_wire::app::DeliveryState::Delivered { .. }
    ));
    drop(police_client);

    // The police goes down; two disclosures to it wait in the shelter's queue when the
    // backup is taken.
    assert!(police_node.terminate());
    let queued = [
        seal_to(&shelter, subject, POLICE, "queued one"),
        seal_to(&shelter, subject, POLICE, "queued two"),
    ];
    for sealed in &queued {
        shelter.submit(sealed).await.unwrap();
    }
    let backups = tempfile::tempdir().unwrap();
    let report = backup(&federation, SHELTER, backups.path()).await;
    // After the backup, disclosures to the prosecution: lost by the restore.
    for _ in 0..2 {
        let sealed = shelter
            .disclosure(
                subject,
                streha_core::AgencyId::new(PROSECUTION).unwrap(),
                Purpose::CriminalInvestigationAndProsecution,
            )
            .field(DisclosableCategory::Identity, "name", "a pseudonym")
            .unwrap()
            .prepare()
            .unwrap()
            .seal(&shelter)
            .unwrap();
        shelter.submit(&sealed).await.unwrap();
        let state = shelter
            .await_delivery(sealed.envelope_id(), T)
            .await
            .unwrap();
        assert!(
            matches!(state, streha_wire::app::DeliveryState::Delivered { .. }),
            "{state:?}"
        );
    }
    drop(shelter);
    assert!(node.terminate());

    restore(&federation, SHELTER, backups.path());
    let _police = federation.start(POLICE);
    let node = federation.start(SHELTER);
    let (recovered, _node) = accept_loss(&federation, node).await;
    assert_eq!(recovered.restored, report.size);

    // The queued envelopes are delivered in epoch 2.
    let shelter = federation.client(SHELTER).await;
    for sealed in &queued {
        let state = shelter
            .await_delivery(sealed.envelope_id(), T)
            .await
            .unwrap();
        assert!(
            matches!(state, streha_wire::app::DeliveryState::Delivered { .. }),
            "{state:?}"
        );
    }
    let police = federation.client(POLICE).await;
    for sealed in &queued {
        police.open(sealed.envelope_id()).await.unwrap();
    }
    // A disclosure in epoch 2 on the consent granted in epoch 1 carries the consent's
    // evidence from epoch 1.
    let medical = shelter
        .disclosure(
            subject,
            streha_core::AgencyId::new(POLICE).unwrap(),
            Purpose::Assistance,
        )
        .field(DisclosableCategory::Medical, "note", "a visit")
        .unwrap()
        .consent(consent)
        .prepare()
        .unwrap()
        .seal(&shelter)
        .unwrap();
    shelter.submit(&medical).await.unwrap();
    let state = shelter
        .await_delivery(medical.envelope_id(), T)
        .await
        .unwrap();
    assert!(
        matches!(state, streha_wire::app::DeliveryState::Delivered { .. }),
        "{state:?}"
    );
    // A resubmission of an envelope accepted in epoch 1 is told so, precisely.
    let again = shelter
        .submit(&queued[0])
        .await
        .expect_err("accepted in an earlier epoch");
    assert!(again.to_string().contains("epoch 1"), "{again}");
    // The envelope delivered in epoch 1 is reported delivered there; its receipt is proven
    // from the kept bundle, under epoch 1's origin.
    let state = shelter.delivery_status(early).await.unwrap();
    let streha_wire::app::DeliveryState::DeliveredInEarlierEpoch {
        epoch: 1,
        receipt_index,
        ..
    } = state
    else {
        panic!("delivered in epoch 1: {state:?}");
    };
    let proven = shelter
        .prove_entry_in_epoch(1, receipt_index)
        .await
        .unwrap();
    assert!(
        matches!(
            streha_core::AuditEntry::decode(proven.entry_bytes()),
            Ok(streha_core::AuditEntry::Receipt { envelope, .. }) if envelope == early
        ),
        "the receipt of the early envelope"
    );
    // What arrived in epoch 1 is listed, its header read from the kept bundle.
    let inbox = shelter.inbox(None, 10).await.unwrap();
    assert!(
        inbox.iter().any(|item| item.envelope == incoming_id),
        "{inbox:?}"
    );
    shelter.open(incoming_id).await.unwrap();
    drop((shelter, police));

    verifies_with_only_the_declared_loss(&federation, &recovered).await;
}

/// Issue 18.18: a declaration proves the largest checkpoint of the lost epoch any peer holds,
/// cosigned *or kept as delivery evidence*. Here the shelter's peers cosign only after its
/// own receipts, so a delivery *to* it leaves its log larger than any witness cosigned, and
/// the police's `receipt` keeps that larger checkpoint. Recovery asks the peers for it
/// (`PeerRequest::KeptCheckpoint`) and declares up to it, and the federation verifies with
/// the one declared loss. Before, the declaration proved only the cosigned size and V1.9
/// took the police's kept evidence beyond it for hidden entries
/// (`forged_restore_declaration`).
#[tokio::test(flavor = "multi_thread")]
async fn a_declaration_covers_delivery_evidence_no_witness_cosigned() {
    let federation = Federation::new();
    // The shelter's witnessing round runs after its own receipts only (and hourly).
    let toml = federation.member(SHELTER).dir.join("node.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("interval_ms = 300\n"));
    std::fs::write(
        &toml,
        text.replace("interval_ms = 300\n", "interval_ms = 3600000\n"),
    )
    .unwrap();
    let _police = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose(&shelter, subject).await;
    let backups = tempfile::tempdir().unwrap();
    let report = backup(&federation, SHELTER, backups.path()).await;
    // Lost by the restore: a disclosure, cosigned after its receipt ...
    disclose(&shelter, subject).await;
    let cosigned = shelter.checkpoint().await.unwrap().size();
    eventually(T, || async {
        let size = police_cosigned_of_shelter(&federation).await?;
        (size >= cosigned).then_some(size)
    })
    .await
    .expect("the police cosigned the shelter's log after its receipt");
    // ... then a delivery to the shelter, whose receipt at the police keeps a checkpoint of
    // the shelter's log that no witness was asked to cosign.
    let police_client = federation.client(POLICE).await;
    let (police_subject, _) = police_client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose_to(&police_client, police_subject, SHELTER).await;
    let kept = shelter.checkpoint().await.unwrap().size();
    assert!(kept > cosigned && cosigned > report.size);
    drop((shelter, police_client));
    assert!(node.terminate());

    restore(&federation, SHELTER, backups.path());
    let node = federation.start(SHELTER);
    let (recovered, _node) = accept_loss(&federation, node).await;
    assert_eq!(recovered.restored, report.size);
    verifies_with_only_the_declared_loss(&federation, &recovered).await;
    assert_eq!(
        recovered.proven, kept,
        "the declaration proves the police's kept evidence"
    );
    assert_eq!(recovered.proven_by, POLICE);
    for peer in [POLICE, PROSECUTION] {
        assert_eq!(
            metric(federation.member(peer), "streha_fork_alarms_total"),
            0,
            "{peer}"
        );
    }
}

const WITNESS: &str = "dpa.example/streha-witness";

/// Configures a `streha witness serve` that follows every log of `federation`'s roster, and
/// lists it in the roster as its independent witness (`WITNESS`): its configuration file,
/// its address and its cosignature verifier. Each node gives it 2 s to answer.
fn with_independent_witness(
    federation: &mut Federation,
) -> (PathBuf, std::net::SocketAddr, streha_audit::NoteVerifier) {
    let key = streha_crypto::NodeIdentitySecretKey::generate();
    let verifier = streha_audit::CosignatureSigner::new(WITNESS, key.as_dalek().clone())
        .unwrap()
        .verifier();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let witness_dir = federation.dir.path().join("witness");
    std::fs::create_dir_all(&witness_dir).unwrap();
    std::fs::write(witness_dir.join("witness.key"), key.to_key_file()).unwrap();
    let config = witness_dir.join("witness.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"{WITNESS}\"\nkey = \"witness.key\"\nlisten = \"{addr}\"\n\
             state_dir = \"state\"\nroster = \"../roster.note\"\nroster_key = \"../roster.pub\"\n"
        ),
    )
    .unwrap();
    let roster = federation
        .roster_of(federation.members.iter().map(Member::entry).collect())
        .with_witnesses(vec![streha_wire::IndependentWitness {
            vkey: verifier.to_vkey(),
            url: format!("http://{addr}"),
        }])
        .unwrap();
    federation.publish(roster);
    for member in &federation.members {
        let path = member.dir.join("node.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("quorum = 1\n", "quorum = 1\nsubmit_timeout_ms = 2000\n");
        std::fs::write(&path, text).unwrap();
    }
    (config, addr, verifier)
}

/// A metric of the witness at `addr` (`None` if it does not answer or has no such line).
fn witness_metric(addr: std::net::SocketAddr, name: &str) -> Option<u64> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let prefix = format!("{name} ");
    response
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

/// Issue 18.18: the roster's independent witness (`streha witness serve`) follows a node
/// into its new epoch. It cosigned the node's log before the loss; after the operator's
/// confirmation the node offers the new epoch's first checkpoint with its declaration
/// (`add-new-epoch`), the witness judges it by the nodes' rule and cosigns, and the epoch's
/// checkpoints carry its cosignature. A later epoch whose declaration is forged, or hides
/// what the witness cosigned of epoch 2, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn an_independent_witness_cosigns_the_new_epoch_after_its_declaration() {
    let mut federation = Federation::new();
    let (config, addr, verifier) = with_independent_witness(&mut federation);
    let witness = start_witness(&config);
    let _police = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let base = shelter.checkpoint().await.unwrap().origin().to_owned();
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose(&shelter, subject).await;
    let cosigned_metric =
        |origin: &str| format!("streha_witness_cosigned_size{{log=\"{origin}\"}}");
    eventually(T, || async {
        (witness_metric(addr, &cosigned_metric(&base))? >= 1).then_some(())
    })
    .await
    .expect("the independent witness cosigns the shelter's log");
    let backups = tempfile::tempdir().unwrap();
    let report = backup(&federation, SHELTER, backups.path()).await;
    // The witness is down while the log grows past the backup: the peers prove the loss.
    drop(witness);
    disclose(&shelter, subject).await;
    disclose(&shelter, subject).await;
    let delivered = shelter.checkpoint().await.unwrap().size();
    eventually(T, || async {
        let size = police_cosigned_of_shelter(&federation).await?;
        (size > report.size && size >= delivered).then_some(size)
    })
    .await
    .expect("the police cosigned entries the backup does not hold");
    drop(shelter);
    assert!(node.terminate());

    restore(&federation, SHELTER, backups.path());
    let node = federation.start(SHELTER);
    let data = data_dir(&federation, SHELTER);
    eventually(T, || async {
        (health(&federation, SHELTER)["recovery"]["lost_entries"] != 0).then_some(())
    })
    .await
    .expect("recovery finds the loss");
    // Without the operator's confirmation nothing changes: the admin request with
    // `accept_loss: false`, or without it, is refused; no bundle kept, no epoch pending,
    // the log, its origin and recovery mode as they were.
    let before = health(&federation, SHELTER);
    for (request, says) in [
        (
            r#"{"command":"recover","accept_loss":false}"#,
            "operator's confirmation",
        ),
        (r#"{"command":"recover"}"#, "accept_loss"),
    ] {
        let answer = admin_request(&data, request);
        assert_eq!(answer["result"], "error", "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert!(
        !data
            .join(streha_node::recovery::PENDING_EPOCH_FILE)
            .exists()
    );
    assert!(!data.join(streha_node::recovery::EPOCHS_DIR).exists());
    assert!(data.join(streha_node::recovery::RESTORED_FILE).exists());
    let after = health(&federation, SHELTER);
    for field in ["log_size", "log_origin"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(after["recovery"]["recovering"], true);
    assert_eq!(
        after["recovery"]["lost_entries"],
        before["recovery"]["lost_entries"]
    );
    let witness = start_witness(&config);
    let recovered = tokio::task::spawn_blocking(move || streha_node::admin::request_recover(&data))
        .await
        .unwrap()
        .expect("the operator's confirmation is taken");
    assert_eq!(recovered.origin, format!("{base}/epoch/2"));

    // The node offers its new epoch to the witness with the declaration; it is accepted
    // and cosigned, and the node's checkpoints carry the witness's cosignature.
    eventually(T, || async {
        (witness_metric(addr, "streha_witness_epochs_accepted_total")? == 1).then_some(())
    })
    .await
    .expect("the independent witness accepts the declaration");
    let shelter = eventually(T, || async {
        let client = federation.client(SHELTER).await;
        let checkpoint = client.checkpoint().await.ok()?;
        (checkpoint.origin() == recovered.origin
            && signers(checkpoint.note(), &verifier) == [WITNESS])
        .then_some(client)
    })
    .await
    .expect("the new epoch's checkpoint carries the independent witness's cosignature");
    let kept = witness_metric(addr, &cosigned_metric(&base)).unwrap();
    assert!(
        kept >= 1 && kept <= recovered.proven,
        "the witness keeps the last checkpoint of epoch 1 it cosigned: {kept}"
    );

    // The witness follows epoch 2 as any log: it grows past 3 entries.
    disclose(&shelter, subject).await;
    disclose(&shelter, subject).await;
    let epoch2 = shelter.export_bundle().await.unwrap();
    assert_eq!(epoch2.origin, recovered.origin);
    let seen = eventually(T, || async {
        witness_metric(addr, &cosigned_metric(&recovered.origin)).filter(|s| *s >= 3)
    })
    .await
    .expect("the witness cosigns the new epoch as it grows");

    // Epoch 3, signed by the node's key, whose declaration's proof of the loss is not
    // signed by the node (forged: 422), or proves less of epoch 2 than the witness
    // cosigned (it hides entries: 409). Neither is accepted.
    let node_key = &federation.member(SHELTER).node_key;
    let sign = |origin: &str,
                tree: &streha_audit::MemoryTree,
                key: &streha_crypto::NodeIdentitySecretKey| {
        streha_audit::sign_checkpoint(
            &streha_audit::Checkpoint::new(origin, tree.size(), tree.root()).unwrap(),
            &streha_audit::NoteSigner::new(origin, key.as_dalek().clone()).unwrap(),
        )
        .to_text()
    };
    let epoch3 = format!("{base}/epoch/3");
    let restored = streha_audit::MemoryTree::from_entries(&epoch2.entries[..1]);
    let proven = streha_audit::MemoryTree::from_entries(&epoch2.entries[..2]);
    assert!(seen > proven.size());
    let stranger = streha_crypto::NodeIdentitySecretKey::generate();
    for (proof_key, status) in [(&stranger, 422), (node_key, 409)] {
        let declaration = streha_core::AuditEntry::LogRestored {
            previous_origin: streha_core::LogOrigin::new(recovered.origin.as_str()).unwrap(),
            restored_size: restored.size(),
            restored_root: *restored.root().as_bytes(),
            proven_note: sign(&recovered.origin, &proven, proof_key),
            proven_by: streha_core::AgencyId::new(POLICE).unwrap(),
            at: streha_core::Timestamp(1),
        }
        .encode();
        let tree = streha_audit::MemoryTree::from_entries(std::slice::from_ref(&declaration));
        let answer = streha_witness::client::post_add_new_epoch(
            &format!("http://{addr}"),
            &streha_witness::client::Tls::new(b"").unwrap(),
            streha_witness::protocol::format_add_new_epoch(
                &declaration,
                &streha_audit::inclusion_proof(0, 1, &tree).unwrap(),
                &sign(&epoch3, &tree, node_key),
            )
            .into_bytes(),
            T,
        )
        .await
        .unwrap();
        assert_eq!(answer.status, status, "{answer:?}");
    }
    assert_eq!(witness_metric(addr, &cosigned_metric(&epoch3)), None);
    assert_eq!(
        witness_metric(addr, "streha_witness_epochs_accepted_total"),
        Some(1)
    );
    for peer in [POLICE, PROSECUTION] {
        assert_eq!(
            metric(federation.member(peer), "streha_fork_alarms_total"),
            0,
            "{peer}"
        );
    }

    // A backup of the node in epoch 2 carries the kept bundle of epoch 1, and a restore
    // puts it back: the restored node serves in epoch 2 and the federation verifies with
    // the restored `epochs/1.bundle`.
    let data = data_dir(&federation, SHELTER);
    let kept = std::fs::read(data.join("epochs/1.bundle")).unwrap();
    let backups = tempfile::tempdir().unwrap();
    let report = backup(&federation, SHELTER, backups.path()).await;
    assert_eq!(report.origin, recovered.origin);
    assert_eq!(report.epoch_bundles, ["epochs/1.bundle"]);
    drop(shelter);
    assert!(node.terminate());
    // The data directory is lost again (the first restore's leftovers are kept apart).
    std::fs::rename(&data, data.with_extension("lost-in-epoch-2")).unwrap();
    streha_node::admin::restore(
        &backups.path().join("store.backup"),
        &backups.path().join("vault.backup"),
        &data,
    )
    .unwrap();
    assert_eq!(std::fs::read(data.join("epochs/1.bundle")).unwrap(), kept);
    let _node = federation.start(SHELTER);
    eventually(T, || async {
        let health = try_health(federation.member(SHELTER))?;
        (health["recovery"]["recovering"] == false && health["log_origin"] == recovered.origin)
            .then_some(())
    })
    .await
    .expect("the restored node serves in epoch 2");
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let old =
        streha_audit::LogBundle::decode(&std::fs::read(data.join("epochs/1.bundle")).unwrap())
            .unwrap();
    let (police, prosecution, shelter) = (
        federation.client(POLICE).await,
        federation.client(PROSECUTION).await,
        federation.client(SHELTER).await,
    );
    let last = std::sync::Mutex::new(String::new());
    eventually(T, || async {
        let bundles = vec![
            police.export_bundle().await.ok()?,
            prosecution.export_bundle().await.ok()?,
            shelter.export_bundle().await.ok()?,
            old.clone(),
        ];
        let report = streha_verify::verify(&bundles, &roster, &streha_verify::VerifyOptions::new());
        *last.lock().unwrap() = streha_verify::render_text(&report);
        report
            .findings
            .iter()
            .all(|f| f.severity < streha_verify::Severity::Error)
            .then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the federation does not verify after the restore in epoch 2: {}",
            last.lock().unwrap()
        )
    });
    drop(witness);
}

/// Issue 18.18, recovery learns from the witnesses too: the roster's independent witness
/// (`streha witness serve`) cosigned more of the shelter's log than any peer (the peers
/// were down while the shelter kept logging and submitting to the witness). The restored
/// node asks the witness (`latest-cosigned`), verifies its answer (the node's own signature,
/// the witness's cosignature) and proves the loss from it; after the operator's
/// confirmation the witness accepts the declaration and cosigns epoch 2, and the federation
/// verifies with the one declared loss. Before, recovery asked only the peers: it found
/// nothing lost and served on, and the witness refused the shelter's log for good.
#[tokio::test(flavor = "multi_thread")]
async fn recovery_learns_a_loss_only_the_independent_witness_cosigned() {
    let mut federation = Federation::new();
    let (config, addr, verifier) = with_independent_witness(&mut federation);
    let witness = start_witness(&config);
    let police = federation.start(POLICE);
    let prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let base = shelter.checkpoint().await.unwrap().origin().to_owned();
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    disclose(&shelter, subject).await;
    let cosigned_metric =
        |origin: &str| format!("streha_witness_cosigned_size{{log=\"{origin}\"}}");
    let backups = tempfile::tempdir().unwrap();
    let report = backup(&federation, SHELTER, backups.path()).await;
    // The peers go down; the shelter keeps logging, and the independent witness alone
    // cosigns the entries the backup does not hold.
    assert!(police.terminate());
    assert!(prosecution.terminate());
    for _ in 0..2 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    let logged = shelter.checkpoint().await.unwrap().size();
    assert!(logged > report.size);
    eventually(T, || async {
        (witness_metric(addr, &cosigned_metric(&base))? == logged).then_some(())
    })
    .await
    .expect("the independent witness cosigns what the peers never saw");
    drop(shelter);
    assert!(node.terminate());

    restore(&federation, SHELTER, backups.path());
    let _police = federation.start(POLICE);
    let _prosecution = federation.start(PROSECUTION);
    let node = federation.start(SHELTER);
    // Only the witness knows the loss: the peers cosigned at most what the backup holds.
    eventually(T, || async {
        (health(&federation, SHELTER)["recovery"]["lost_entries"] == logged - report.size)
            .then_some(())
    })
    .await
    .expect("recovery proves the loss from the independent witness");
    let size = police_cosigned_of_shelter(&federation).await;
    assert!(size.is_none_or(|s| s <= report.size), "{size:?}");
    let (recovered, _node) = accept_loss(&federation, node).await;
    assert_eq!(recovered.origin, format!("{base}/epoch/2"));
    assert_eq!(
        (recovered.restored, recovered.proven),
        (report.size, logged)
    );
    assert_eq!(recovered.proven_by, WITNESS);
    // The witness accepts the declaration and cosigns the new epoch.
    eventually(T, || async {
        (witness_metric(addr, "streha_witness_epochs_accepted_total")? == 1).then_some(())
    })
    .await
    .expect("the independent witness accepts the declaration proven by its own cosignature");
    let shelter = eventually(T, || async {
        let client = federation.client(SHELTER).await;
        let checkpoint = client.checkpoint().await.ok()?;
        (checkpoint.origin() == recovered.origin
            && signers(checkpoint.note(), &verifier) == [WITNESS])
        .then_some(client)
    })
    .await
    .expect("the new epoch's checkpoint carries the independent witness's cosignature");
    // The declaration proves the checkpoint the witness cosigned: it carries the
    // witness's cosignature, and names the node itself (a witness has no agency id).
    let epoch2 = shelter.export_bundle().await.unwrap();
    match streha_core::AuditEntry::decode(&epoch2.entries[0]).unwrap() {
        streha_core::AuditEntry::LogRestored {
            proven_note,
            proven_by,
            restored_size,
            ..
        } => {
            assert_eq!(restored_size, report.size);
            assert_eq!(proven_by.as_str(), SHELTER);
            assert_eq!(signers(&proven_note, &verifier), [WITNESS]);
        }
        other => panic!("entry 0 of the new epoch is {other:?}"),
    }
    for peer in [POLICE, PROSECUTION] {
        assert_eq!(
            metric(federation.member(peer), "streha_fork_alarms_total"),
            0,
            "{peer}"
        );
    }
    verifies_with_only_the_declared_loss(&federation, &recovered).await;
    drop(witness);
}

/// One raw request line to the node's admin socket in `data`, and its answer.
fn admin_request(data: &Path, request: &str) -> serde_json::Value {
    use std::io::{BufRead as _, Write as _};
    let stream =
        std::os::unix::net::UnixStream::connect(data.join(streha_node::admin::ADMIN_SOCKET))
            .unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    (&stream)
        .write_all(format!("{request}\n").as_bytes())
        .unwrap();
    let mut answer = String::new();
    std::io::BufReader::new(&stream)
        .read_line(&mut answer)
        .unwrap();
    serde_json::from_str(&answer).unwrap()
}

/// Names of the cosigners of `note` among `verifier`.
fn signers(note: &str, verifier: &streha_audit::NoteVerifier) -> Vec<String> {
    streha_audit::SignedNote::parse(note)
        .unwrap()
        .verify(std::slice::from_ref(verifier))
        .map(|v| v.signer_names())
        .unwrap_or_default()
}
