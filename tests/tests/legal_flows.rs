//! The remaining legal flows end to end, with real daemons: re-keying a subject (Art. 18.5)
//! and urgent-danger disclosures (Art. 45.3), including their refusals.

mod common;

use std::time::Duration;

use common::*;
use streha_client::{ClientError, DeliveryState, sign_urgent_approval};
use streha_core::{
    AgeStatus, Approvals, AuditEntry, Category, CategorySet, DisclosableCategory, DisclosureHeader,
    Grantor, NotInForce, Purpose, RefusalReason, SubjectId, Timestamp, rekey_commitment,
};
use streha_wire::app::{AppRequest, AppResponse};

const PATIENCE: Duration = Duration::from_secs(20);

/// The refusal reason of a raw submission.
fn refused(response: AppResponse) -> RefusalReason {
    match response {
        AppResponse::Refused { reason, .. } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn delivered(client: &streha_client::Client, envelope: streha_core::EnvelopeId) -> u64 {
    eventually(PATIENCE, || async {
        match client.delivery_status(envelope).await.ok()? {
            DeliveryState::Delivered { receiver_index, .. } => Some(receiver_index),
            _ => None,
        }
    })
    .await
    .expect("delivered")
}

/// Whether the node's key vault file (`streha_store::KeyVault`: a 16-byte magic, then 64-byte
/// slots starting with the 16-byte id) has a slot for `subject`. Read raw, without opening
/// the vault, because the daemon has it open.
fn vault_holds_key_of(vault: &std::path::Path, subject: SubjectId) -> bool {
    let bytes = std::fs::read(vault).expect("the node's key vault");
    bytes
        .get(16..)
        .unwrap_or_default()
        .chunks_exact(64)
        .any(|slot| slot[..16] == *subject.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn rekeying_crypto_shreds_the_old_ids_envelopes_closes_it_and_logs_only_a_commitment() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);
    // Prosecution stays down for now: a disclosure to it waits in the shelter's queue.
    let police = federation.client(POLICE).await;
    let shelter = federation.client(SHELTER).await;
    let police_id = federation.member(POLICE).id.clone();
    let shelter_id = federation.member(SHELTER).id.clone();
    let prosecution_id = federation.member(PROSECUTION).id.clone();

    // The same person is known to both agencies under one pseudonymous id (the police
    // referred them to the shelter).
    let (old, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let registered = raw_request(
        &federation,
        SHELTER,
        AppRequest::RegisterSubject {
            subject: old,
            age_status: AgeStatus::Adult,
            representatives: vec![],
        },
    )
    .await;
    assert!(
        matches!(registered, AppResponse::Logged { .. }),
        "{registered:?}"
    );

    // A referral from the police is delivered to the shelter's inbox.
    let referral = police
        .submit(
            police
                .disclosure(old, shelter_id.clone(), Purpose::IdentificationAndReferral)
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await
        .unwrap();
    delivered(&police, referral.envelope).await;
    assert!(
        shelter
            .inbox(None, 256)
            .await
            .unwrap()
            .iter()
            .any(|e| e.envelope == referral.envelope)
    );
    // The shelter discloses to the prosecution, which is down: it waits in the queue.
    let queued = shelter
        .submit(
            shelter
                .disclosure(
                    old,
                    prosecution_id.clone(),
                    Purpose::CriminalInvestigationAndProsecution,
                )
                .field(DisclosableCategory::CaseSummary, "summary", "…")
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(matches!(
        shelter.delivery_status(queued.envelope).await.unwrap(),
        DeliveryState::Queued { .. }
    ));

    // What the shelter keeps about the old id (the received referral, the queued disclosure)
    // is sealed at rest under that id's data key, in the vault.
    let vault = federation
        .member(SHELTER)
        .dir
        .join("data")
        .join("subject-keys.vault");
    assert!(
        vault_holds_key_of(&vault, old),
        "no data key for the old id"
    );

    // Both are small: kept inline in sled, in the batch of their commit, not in body files
    // (`streha_store::INLINE_BODY_MAX`; larger ones get a file of their own, issue 19.3).
    let bodies = federation.member(SHELTER).dir.join("data").join("bodies");
    let body_files = || std::fs::read_dir(&bodies).unwrap().count();
    assert_eq!(
        body_files(),
        0,
        "the referral and the queued disclosure are inline"
    );

    // Art. 18.5: the shelter re-keys the subject.
    let (new, salt, rekey_index) = shelter.rekey_subject(old).await.unwrap();
    // The referral went with its inbox entry, in the re-keying's commit (hygiene: destroying
    // the key is what made it unreadable); the held disclosure stays, sealed under the
    // destroyed key.
    assert_eq!(body_files(), 0);
    assert_ne!(new, old);
    // Crypto-shredded: the old id's data key is overwritten in the vault file.
    assert!(
        !vault_holds_key_of(&vault, old),
        "the old id's key survived"
    );

    // The envelope held for the old id is gone from the inbox, and cannot be fetched.
    let inbox = shelter.inbox(None, 256).await.unwrap();
    assert!(inbox.iter().all(|e| e.header.subject != old), "{inbox:?}");
    let err = shelter.open(referral.envelope).await.unwrap_err();
    assert_eq!(
        err.remote_code(),
        Some(streha_wire::ErrorCode::NotFound),
        "{err}"
    );
    // The queued disclosure about the old id is held, never sent.
    match shelter.delivery_status(queued.envelope).await.unwrap() {
        DeliveryState::Held { reason } => assert!(reason.contains("Art. 18.5"), "{reason}"),
        other => panic!("expected the queued disclosure held, found {other:?}"),
    }

    // Later disclosures under the old id are refused: the id is closed.
    let err = shelter
        .submit(
            shelter
                .disclosure(old, police_id.clone(), Purpose::IdentificationAndReferral)
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(RefusalReason::SubjectClosed { subject }) if *subject == old),
        "{err}"
    );
    // … and so is a new consent under it.
    let err = shelter
        .grant_consent(consent_terms(
            old,
            streha_core::Grantor::Subject,
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(RefusalReason::SubjectClosed { subject }) if *subject == old),
        "{err}"
    );
    // The new id works, with the age status carried over.
    shelter
        .submit(
            shelter
                .disclosure(new, police_id.clone(), Purpose::IdentificationAndReferral)
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await
        .expect("disclosures under the new id are allowed");

    // The log: a `subject_rekeyed` entry naming the old id and a commitment that the salt
    // opens to the new id; no entry holds both ids.
    let bundle = shelter.export_bundle().await.unwrap();
    let entries: Vec<AuditEntry> = bundle
        .entries
        .iter()
        .map(|e| AuditEntry::decode(e).unwrap())
        .collect();
    match &entries[usize::try_from(rekey_index).unwrap()] {
        AuditEntry::SubjectRekeyed {
            old: logged_old,
            new_commitment,
            ..
        } => {
            assert_eq!(*logged_old, old);
            assert_eq!(*new_commitment, rekey_commitment(&salt, new));
            assert_ne!(*new_commitment, rekey_commitment(&[7; 32], new));
        }
        other => panic!("expected subject_rekeyed, found {}", other.kind_name()),
    }
    assert_eq!(count(&entries, "subject_rekeyed"), 1);
    for (index, raw) in bundle.entries.iter().enumerate() {
        let holds = |id: SubjectId| raw.windows(16).any(|w| w == id.as_bytes());
        assert!(
            !(holds(old) && holds(new)),
            "entry {index} ({}) holds both the old and the new id",
            entries[index].kind_name()
        );
    }
    // The police, which did not re-key, still knows only the old id: nothing was sent to
    // it about the re-keying.
    let police_log = log_entries(&police).await;
    assert_eq!(count(&police_log, "subject_rekeyed"), 0);
}

/// Art. 18.5 at the receiver: once the shelter has re-keyed a subject, an envelope another
/// agency sends later under the old id must not land in the shelter's inbox again (it would
/// undo the deletion). The receiving node consults its own closed ids as well as the facts
/// the envelope carries: it refuses (`receive_refused`, `SubjectClosed`) and the envelope
/// stays held at the sender.
#[tokio::test(flavor = "multi_thread")]
async fn a_later_delivery_about_an_id_rekeyed_at_the_receiver_is_refused() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);
    let police = federation.client(POLICE).await;
    let shelter = federation.client(SHELTER).await;
    let shelter_id = federation.member(SHELTER).id.clone();
    let (old, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let registered = raw_request(
        &federation,
        SHELTER,
        AppRequest::RegisterSubject {
            subject: old,
            age_status: AgeStatus::Adult,
            representatives: vec![],
        },
    )
    .await;
    assert!(matches!(registered, AppResponse::Logged { .. }));
    shelter.rekey_subject(old).await.unwrap();

    let later = police
        .submit(
            police
                .disclosure(old, shelter_id, Purpose::IdentificationAndReferral)
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await
        .unwrap();
    let state = eventually(PATIENCE, || async {
        match police.delivery_status(later.envelope).await.ok()? {
            DeliveryState::Queued { .. } => None,
            other => Some(other),
        }
    })
    .await
    .expect("the delivery is decided");
    assert!(
        matches!(state, DeliveryState::Held { .. }),
        "expected the receiver to refuse it (held at the sender), found {state:?}"
    );
    assert!(
        shelter
            .inbox(None, 256)
            .await
            .unwrap()
            .iter()
            .all(|e| e.header.subject != old)
    );
    let log = log_entries(&shelter).await;
    assert!(log.iter().any(|e| matches!(
        e,
        AuditEntry::ReceiveRefused {
            reason: RefusalReason::SubjectClosed { .. },
            ..
        }
    )));
}

/// A prepared urgent-danger disclosure police → prosecution and its header.
fn urgent_header(
    police: &streha_client::Client,
    subject: SubjectId,
    prosecution: &streha_core::AgencyId,
) -> DisclosureHeader {
    police
        .disclosure(subject, prosecution.clone(), Purpose::UrgentDanger)
        .field(DisclosableCategory::Identity, "alias", "A.")
        .unwrap()
        .field(DisclosableCategory::CaseSummary, "danger", "…")
        .unwrap()
        .prepare()
        .unwrap()
        .header()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn urgent_danger_needs_two_distinct_officers_of_the_sender_and_never_carries_protection() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER, PROSECUTION]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let police = federation.client(POLICE).await;
    let shelter = federation.client(SHELTER).await;
    let prosecution = federation.client(PROSECUTION).await;
    let prosecution_id = federation.member(PROSECUTION).id.clone();
    let officers = &federation.member(POLICE).officers;
    let (subject, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let build = || {
        police
            .disclosure(subject, prosecution_id.clone(), Purpose::UrgentDanger)
            .field(DisclosableCategory::Identity, "alias", "A.")
            .unwrap()
            .field(DisclosableCategory::CaseSummary, "danger", "…")
            .unwrap()
    };

    // Two distinct officers of the police: allowed, flagged for review, delivered.
    let two = build()
        .urgent_approval(officers[0].0.clone(), &officers[0].1)
        .unwrap()
        .urgent_approval(officers[1].0.clone(), &officers[1].1)
        .unwrap();
    let submitted = police.submit(two).await.unwrap();
    match police
        .prove_entry(submitted.index)
        .await
        .unwrap()
        .audit_entry()
        .unwrap()
    {
        AuditEntry::Disclosed {
            header,
            urgent_review,
            ..
        } => {
            assert!(urgent_review, "urgent danger is flagged for review");
            assert_eq!(header.purpose, Purpose::UrgentDanger);
            assert_eq!(header.approvals.len(), 2);
        }
        other => panic!("expected disclosed, found {}", other.kind_name()),
    }
    let received = delivered(&police, submitted.envelope).await;
    match prosecution
        .prove_entry(received)
        .await
        .unwrap()
        .audit_entry()
        .unwrap()
    {
        AuditEntry::Received { header, .. } => {
            assert_eq!(header.envelope_id, submitted.envelope);
            assert_eq!(header.approvals.len(), 2);
        }
        other => panic!("expected received, found {}", other.kind_name()),
    }

    // One approval: refused by the node.
    let one = build()
        .urgent_approval(officers[0].0.clone(), &officers[0].1)
        .unwrap();
    let err = police.submit(one).await.unwrap_err();
    assert!(
        matches!(
            err.refusal(),
            Some(RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 })
        ),
        "{err}"
    );
    // No approval: refused.
    let err = police.submit(build()).await.unwrap_err();
    assert!(
        matches!(
            err.refusal(),
            Some(RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 0 })
        ),
        "{err}"
    );

    // The same officer twice: the client refuses to add it; a header forged to carry the
    // same officer's signature under a second officer's id counts once at the node.
    let err = build()
        .urgent_approval(officers[0].0.clone(), &officers[0].1)
        .unwrap()
        .urgent_approval(officers[0].0.clone(), &officers[0].1)
        .unwrap_err();
    assert!(matches!(err, ClientError::Approval(_)), "{err}");
    let mut header = urgent_header(&police, subject, &prosecution_id);
    header.approvals = Approvals::new();
    for id in [&officers[0].0, &officers[1].0] {
        header
            .approvals
            .insert(sign_urgent_approval(&header, id.clone(), &officers[0].1))
            .unwrap();
    }
    let reason = refused(
        raw_request(
            &federation,
            POLICE,
            AppRequest::Submit(Box::new(seal_raw(&federation, POLICE, &header))),
        )
        .await,
    );
    assert_eq!(
        reason,
        RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 }
    );

    // An officer of another agency: the client refuses to seal it; forged through, it does
    // not count at the node.
    let (prosecutor_id, prosecutor_key) = &federation.member(PROSECUTION).officers[0];
    let err = police
        .seal(
            build()
                .urgent_approval(officers[0].0.clone(), &officers[0].1)
                .unwrap()
                .urgent_approval(prosecutor_id.clone(), prosecutor_key)
                .unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::UnknownOfficer { .. }), "{err}");
    let mut header = urgent_header(&police, subject, &prosecution_id);
    header.approvals = Approvals::new();
    header
        .approvals
        .insert(sign_urgent_approval(
            &header,
            officers[0].0.clone(),
            &officers[0].1,
        ))
        .unwrap();
    header
        .approvals
        .insert(sign_urgent_approval(
            &header,
            prosecutor_id.clone(),
            prosecutor_key,
        ))
        .unwrap();
    let reason = refused(
        raw_request(
            &federation,
            POLICE,
            AppRequest::Submit(Box::new(seal_raw(&federation, POLICE, &header))),
        )
        .await,
    );
    assert_eq!(
        reason,
        RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 }
    );

    // Not police or prosecution: the shelter cannot send urgent danger, even with two of
    // its own officers.
    let (shelter_subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let shelter_officers = &federation.member(SHELTER).officers;
    let err = shelter
        .submit(
            shelter
                .disclosure(
                    shelter_subject,
                    prosecution_id.clone(),
                    Purpose::UrgentDanger,
                )
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap()
                .urgent_approval(shelter_officers[0].0.clone(), &shelter_officers[0].1)
                .unwrap()
                .urgent_approval(shelter_officers[1].0.clone(), &shelter_officers[1].1)
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.refusal(),
            Some(RefusalReason::UrgentDangerSenderRole { .. })
        ),
        "{err}"
    );

    // Never protection data (Art. 18.4): the typed API cannot name it, and a forged header
    // declaring it — with two valid approvals — is refused before anything else.
    assert!("shelter_location".parse::<DisclosableCategory>().is_err());
    let mut header = urgent_header(&police, subject, &prosecution_id);
    header.categories = CategorySet::of(&[Category::Identity, Category::ShelterLocation]);
    header.approvals = Approvals::new();
    for (id, key) in officers.iter().take(2) {
        header
            .approvals
            .insert(sign_urgent_approval(&header, id.clone(), key))
            .unwrap();
    }
    let reason = refused(
        raw_request(
            &federation,
            POLICE,
            AppRequest::Submit(Box::new(seal_raw(&federation, POLICE, &header))),
        )
        .await,
    );
    assert_eq!(
        reason,
        RefusalReason::ProtectionCategory {
            category: Category::ShelterLocation
        }
    );

    // Every refusal is logged; exactly one urgent disclosure left, and it is flagged.
    let log = log_entries(&police).await;
    assert_eq!(count(&log, "disclosed"), 1);
    assert_eq!(count(&log, "refused"), 5);
    assert!(log.iter().all(|e| match e {
        AuditEntry::Disclosed {
            urgent_review,
            header,
            ..
        } => *urgent_review == (header.purpose == Purpose::UrgentDanger),
        _ => true,
    }));
}

/// Art. 18.3 and the clock skew: `created_at` is the application's and may lie up to the
/// skew in the past. A consent revoked at T must not allow a disclosure submitted after T
/// but dated before it: the sending node decides at its own time too, refuses, logs the
/// refusal with its reason, and nothing leaves.
#[tokio::test(flavor = "multi_thread")]
async fn a_disclosure_dated_before_a_revocation_is_refused_after_it() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);
    let police = federation.client(POLICE).await;
    let shelter = federation.client(SHELTER).await;
    let police_id = federation.member(POLICE).id.clone();
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    // Recorded two minutes ago (within the skew), so a `created_at` a little before the
    // revocation falls after the recording.
    let mut terms = consent_terms(
        subject,
        Grantor::Subject,
        POLICE,
        &[Category::Medical],
        &[Purpose::Assistance],
    );
    terms.recorded_at = Timestamp::from_unix_millis(now().unix_millis() - 120_000);
    let (consent, _) = shelter.grant_consent(terms).await.unwrap();

    // The header is prepared while the consent is in force …
    let mut header = shelter
        .disclosure(subject, police_id, Purpose::Assistance)
        .field(DisclosableCategory::Medical, "m", "x")
        .unwrap()
        .consent(consent)
        .prepare()
        .unwrap()
        .header()
        .clone();
    // … the consent is revoked …
    let revoked_at = now();
    shelter
        .revoke_consent(
            consent,
            revoked_at,
            streha_core::OfficerId::new("intake-officer").unwrap(),
        )
        .await
        .unwrap();
    // … and the disclosure is submitted afterwards, dated 30 s before the revocation.
    header.created_at = Timestamp::from_unix_millis(revoked_at.unix_millis() - 30_000);
    let envelope = seal_raw(&federation, SHELTER, &header);
    let response = raw_request(&federation, SHELTER, AppRequest::Submit(Box::new(envelope))).await;
    let index = match &response {
        AppResponse::Refused { index, .. } => *index,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refused(response),
        RefusalReason::ConsentNotInForce {
            consent,
            why: NotInForce::Revoked { at: revoked_at },
        }
    );

    // Logged as refused, with the reason and the node's own time; nothing disclosed.
    let log = log_entries(&shelter).await;
    match &log[usize::try_from(index).unwrap()] {
        AuditEntry::Refused {
            header: logged,
            reason,
            at,
        } => {
            assert_eq!(logged.envelope_id, header.envelope_id);
            assert!(*at >= revoked_at, "logged at {at}, revoked at {revoked_at}");
            assert!(
                matches!(
                    reason,
                    RefusalReason::ConsentNotInForce {
                        why: NotInForce::Revoked { .. },
                        ..
                    }
                ),
                "{reason}"
            );
        }
        other => panic!("expected refused, found {}", other.kind_name()),
    }
    assert_eq!(count(&log, "disclosed"), 0);

    // Nothing queued, nothing delivered.
    let err = shelter
        .delivery_status(header.envelope_id)
        .await
        .unwrap_err();
    assert_eq!(
        err.remote_code(),
        Some(streha_wire::ErrorCode::NotFound),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(police.inbox(None, 256).await.unwrap().is_empty());
    assert_eq!(count(&log_entries(&police).await, "received"), 0);
}
