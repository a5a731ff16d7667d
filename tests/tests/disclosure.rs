//! A three-agency federation of real daemons: disclosures end to end, the policy at both
//! ends, and proofs that verify against signed checkpoints.

mod common;

use std::time::Duration;

use common::*;
use streha_client::ClientError;
use streha_core::{
    AgeStatus, AuditEntry, Category, DisclosableCategory, Grantor, Purpose, RefusalReason,
    RepresentativeId,
};
use streha_wire::peer::{KeptCheckpoint, verify_envelope_signature};

#[tokio::test(flavor = "multi_thread")]
async fn a_consented_assistance_disclosure_is_delivered_opened_and_proven() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER, PROSECUTION]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;

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
    let sealed = shelter
        .disclosure(subject, police.agency().clone(), Purpose::Assistance)
        .field(DisclosableCategory::Medical, "treatment", "needs follow-up")
        .unwrap()
        .consent(consent)
        .prepare()
        .unwrap()
        .seal(&shelter)
        .unwrap();
    let envelope = sealed.envelope_id();
    let submitted = shelter.submit(&sealed).await.unwrap();

    // Delivered: the receiver's inbox holds it, and the sender logged the receipt.
    let item = eventually(Duration::from_secs(20), || async {
        police
            .inbox(None, 10)
            .await
            .ok()?
            .into_iter()
            .find(|i| i.envelope == envelope)
    })
    .await
    .expect("delivered to the police inbox");
    let opened = police.open(envelope).await.unwrap();
    assert_eq!(
        opened.header.categories,
        [Category::Medical].into_iter().collect()
    );
    assert_eq!(opened.record.fields().len(), 1);

    let status = shelter
        .await_delivery(envelope, Duration::from_secs(20))
        .await
        .unwrap();
    let streha_wire::app::DeliveryState::Delivered {
        receipt_index,
        receiver_index,
    } = status
    else {
        panic!("not delivered in time: {status:?}");
    };
    assert_eq!(receiver_index, item.received_index);

    // Each side's entries are proven against its own signed checkpoint.
    let disclosed = shelter.prove_entry(submitted.index).await.unwrap();
    assert!(matches!(
        disclosed.audit_entry().unwrap(),
        AuditEntry::Disclosed { .. }
    ));
    let receipt = shelter.prove_entry(receipt_index).await.unwrap();
    assert!(matches!(
        receipt.audit_entry().unwrap(),
        AuditEntry::Receipt { .. }
    ));
    let received = police.prove_entry(item.received_index).await.unwrap();
    // The `received` keeps the sender's evidence, and it verifies offline under the
    // roster's keys of the sender: its envelope signature, and its signed checkpoint
    // covering its `disclosed` entry.
    let shelter_entry = federation.member(SHELTER).entry();
    let shelter_log = streha_audit::NoteVerifier::new(
        &shelter_entry.log_origin(FEDERATION),
        *shelter_entry.node_key.as_dalek(),
    )
    .unwrap();
    match received.audit_entry().unwrap() {
        AuditEntry::Received {
            header,
            ciphertext_hash,
            sender_signature,
            sender_log_index,
            sender_tree_size,
            sender_root_hash,
            sender_checkpoint_signature,
            ..
        } => {
            assert_eq!(header.envelope_id, envelope);
            assert_eq!(sender_log_index, submitted.index);
            assert!(sender_log_index < sender_tree_size);
            let signer =
                verify_envelope_signature(&header, &ciphertext_hash, &sender_signature).unwrap();
            assert_eq!(signer, shelter_entry.signing_key);
            KeptCheckpoint {
                size: sender_tree_size,
                root: sender_root_hash,
                signature: sender_checkpoint_signature,
            }
            .verify(&shelter_log)
            .unwrap();
        }
        other => panic!("expected a received entry, got {}", other.kind_name()),
    }
    // And the sender's `receipt` keeps the receiver's signed checkpoint.
    let police_entry = federation.member(POLICE).entry();
    let police_log = streha_audit::NoteVerifier::new(
        &police_entry.log_origin(FEDERATION),
        *police_entry.node_key.as_dalek(),
    )
    .unwrap();
    match receipt.audit_entry().unwrap() {
        AuditEntry::Receipt {
            receiver_log_index,
            receiver_tree_size,
            receiver_root_hash,
            receiver_checkpoint_signature,
            ..
        } => {
            assert_eq!(receiver_log_index, item.received_index);
            KeptCheckpoint {
                size: receiver_tree_size,
                root: receiver_root_hash,
                signature: receiver_checkpoint_signature,
            }
            .verify(&police_log)
            .unwrap();
        }
        other => panic!("expected a receipt entry, got {}", other.kind_name()),
    }
    // Exactly one of each.
    let shelter_log = log_entries(&shelter).await;
    let police_log = log_entries(&police).await;
    assert_eq!(count(&shelter_log, "disclosed"), 1);
    assert_eq!(count(&shelter_log, "receipt"), 1);
    assert_eq!(count(&police_log, "received"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_refusals_reach_the_application_with_their_reason_and_are_logged() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER, PROSECUTION]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let shelter = federation.client(SHELTER).await;
    let police_id = federation.member(POLICE).id.clone();
    let prosecution_id = federation.member(PROSECUTION).id.clone();

    // No consent for assistance data (Art. 18.3).
    let (adult, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let err = shelter
        .submit(
            shelter
                .disclosure(adult, police_id.clone(), Purpose::Assistance)
                .field(DisclosableCategory::Psychological, "notes", "x")
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.refusal(),
            Some(RefusalReason::NoConsentForAssistance { .. })
        ),
        "{err}"
    );

    // A child's own consent never counts (Art. 18.3, 36): refused when it is recorded
    // (issue 18.4); and an adult's own consent stops counting once the subject is recorded
    // as a presumed child.
    let representative = RepresentativeId::new("guardian-7").unwrap();
    let (child, _) = shelter
        .register_subject(AgeStatus::PresumedChild, vec![representative.clone()])
        .await
        .unwrap();
    let err = shelter
        .grant_consent(consent_terms(
            child,
            Grantor::Subject,
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(RefusalReason::ChildOwnConsent { .. })),
        "{err}"
    );
    let (grown, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let (own, _) = shelter
        .grant_consent(consent_terms(
            grown,
            Grantor::Subject,
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .unwrap();
    shelter
        .record_age_status(grown, AgeStatus::PresumedChild)
        .await
        .unwrap();
    let err = shelter
        .submit(
            shelter
                .disclosure(grown, police_id.clone(), Purpose::Assistance)
                .field(DisclosableCategory::Medical, "m", "x")
                .unwrap()
                .consent(own),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(RefusalReason::ChildOwnConsent { .. })),
        "{err}"
    );

    // The legal representative's consent is allowed.
    let (by_guardian, _) = shelter
        .grant_consent(consent_terms(
            child,
            Grantor::Representative(representative),
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .unwrap();
    shelter
        .submit(
            shelter
                .disclosure(child, police_id.clone(), Purpose::Assistance)
                .field(DisclosableCategory::Medical, "m", "x")
                .unwrap()
                .consent(by_guardian),
        )
        .await
        .expect("the representative's consent counts");

    // A revoked consent is refused.
    shelter
        .revoke_consent(
            by_guardian,
            now(),
            streha_core::OfficerId::new("intake-officer").unwrap(),
        )
        .await
        .unwrap();
    let err = shelter
        .submit(
            shelter
                .disclosure(child, police_id.clone(), Purpose::Assistance)
                .field(DisclosableCategory::Medical, "m", "x")
                .unwrap()
                .consent(by_guardian),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(RefusalReason::ConsentNotInForce { .. })),
        "{err}"
    );

    // Outside the agreement (Art. 18.2): the NGO may not send case data to prosecution for
    // compensation.
    let err = shelter
        .submit(
            shelter
                .disclosure(adult, prosecution_id, Purpose::Compensation)
                .field(DisclosableCategory::CaseSummary, "c", "x")
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(RefusalReason::NotInAgreement { .. })),
        "{err}"
    );

    // An unknown subject.
    let stranger = streha_core::SubjectId::from_bytes([9; 16]);
    let err = shelter
        .submit(
            shelter
                .disclosure(stranger, police_id, Purpose::IdentificationAndReferral)
                .field(DisclosableCategory::Identity, "i", "x")
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.refusal(), Some(RefusalReason::UnknownSubject { .. })),
        "{err}"
    );

    // Every refusal is logged with its reason; the allowed one as disclosed.
    let log = log_entries(&shelter).await;
    assert_eq!(count(&log, "refused"), 5);
    assert_eq!(count(&log, "disclosed"), 1);
    match err {
        ClientError::Refused { log_index, .. } => {
            let proven = shelter.prove_entry(log_index).await.unwrap();
            assert!(matches!(
                proven.audit_entry().unwrap(),
                AuditEntry::Refused {
                    reason: RefusalReason::UnknownSubject { .. },
                    ..
                }
            ));
        }
        other => panic!("expected a refusal, got {other}"),
    }
}
