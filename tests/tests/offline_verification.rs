//! The data-protection officer's offline verification of real daemons' exported logs across
//! a roster change that removes a clause mid-history (issue 15.6): each node keeps the signed
//! roster notes it adopted and its exported bundle carries them; the verifier judges every
//! entry under the version in force at its position, so the disclosure made under the
//! removed clause before the change verifies clean.

mod common;

use std::time::Duration;

use common::*;
use streha_client::DeliveryState;
use streha_core::{
    AgeStatus, AuditEntry, DisclosableCategory, ExchangeAgreement, Purpose, Timestamp,
};
use streha_verify::{Rule, VerifyOptions, render_text, verify};
use streha_wire::Roster;

const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn a_clause_removed_mid_history_leaves_earlier_disclosures_lawful() {
    let mut federation = Federation::new();
    let shelter_node = federation.start(SHELTER);
    let police_node = federation.start(POLICE);
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;
    let police_id = federation.member(POLICE).id.clone();

    // Under version 1, the shelter refers a subject to the police (`police-identification`).
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let referral = shelter
        .submit(
            shelter
                .disclosure(
                    subject,
                    police_id.clone(),
                    Purpose::IdentificationAndReferral,
                )
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await
        .unwrap();
    eventually(PATIENCE, || async {
        match shelter.delivery_status(referral.envelope).await.ok()? {
            DeliveryState::Delivered { .. } => Some(()),
            _ => None,
        }
    })
    .await
    .expect("the referral is delivered");

    // Version 2 removes that clause; both nodes adopt it.
    let v1_note = std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap();
    let agreement = ExchangeAgreement::new(
        agreement()
            .clauses()
            .iter()
            .filter(|c| c.id().as_str() != "police-identification")
            .cloned()
            .collect(),
    )
    .unwrap();
    let entries = federation.members.iter().map(Member::entry).collect();
    let v2 = Roster::new(
        FEDERATION,
        2,
        Timestamp(1_763_856_000_000 + 2),
        entries,
        agreement,
    )
    .unwrap();
    federation.publish(v2);
    shelter_node.hangup();
    police_node.hangup();
    for client in [&shelter, &police] {
        eventually(PATIENCE, || async {
            log_entries(client)
                .await
                .iter()
                .any(|e| matches!(e, AuditEntry::RosterChanged { version: 2, .. }))
                .then_some(())
        })
        .await
        .expect("the node adopts version 2");
    }
    // The same referral is now refused by the node (and the refusal logged: lawful).
    let refused = shelter
        .submit(
            shelter
                .disclosure(
                    subject,
                    police_id.clone(),
                    Purpose::IdentificationAndReferral,
                )
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await;
    assert!(refused.is_err(), "the removed clause no longer allows it");

    // The exports carry both signed roster versions the nodes adopted.
    let v2_note = std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap();
    let mut bundles = Vec::new();
    for client in [&shelter, &police] {
        let bundle = client.export_bundle().await.unwrap();
        assert_eq!(bundle.rosters, [v1_note.clone(), v2_note.clone()]);
        bundles.push(bundle);
    }

    // The DPO holds the newest roster and the roster key: no finding.
    let key = federation.roster_key.public_key();
    let roster = Roster::open(&v2_note, &key).unwrap();
    let now = Timestamp(
        u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    let options = VerifyOptions::new().roster_key(key).generated_at(now);
    let report = verify(&bundles, &roster, &options);
    assert!(report.findings.is_empty(), "{}", render_text(&report));
    assert_eq!(report.meta.rosters.len(), 2);
    assert_eq!(report.refusals.len(), 1);
    assert_eq!(report.refusals[0].article, "Art. 18.2, 45.1");

    // Without the roster key the older version cannot be checked, and the DPO is told which
    // decisions it could not judge (never a silent pass).
    let report = verify(&bundles, &roster, &VerifyOptions::new());
    assert!(
        report.with_rule(Rule::RosterUnverifiable).count() >= 2,
        "{}",
        render_text(&report)
    );
}
