//! `GET /health` reports the node's real state (issue 18.3): ok, degraded or failing, with
//! the reasons, and HTTP 200 (ok, degraded: still serving) or 503 (failing: not serving);
//! and the free-space reserve (issue 16.2) refuses new disclosures and deliveries.

mod common;

use std::time::Duration;

use common::*;
use streha_core::{AgeStatus, Category, DisclosableCategory, Grantor, Purpose};
use streha_wire::app::DeliveryState;

fn health(member: &Member) -> (u16, serde_json::Value) {
    let (code, body) = http_get_status(member, "/health");
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (code, value)
}

/// Before the fix `/health` answered `{"status":"ok"}` whatever the state.
#[tokio::test(flavor = "multi_thread")]
async fn health_is_ok_when_all_is_well_and_shows_what_it_checks() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let _prosecution = federation.start(PROSECUTION);
    let member = federation.member(POLICE);
    // Peers count as reachable after the first witnessing round.
    let ok = eventually(Duration::from_secs(60), || async {
        let (code, value) = health(member);
        (value["status"] == "ok").then_some((code, value))
    })
    .await;
    let (code, value) = ok.expect("the node never reported ok");
    assert_eq!(code, 200);
    assert_eq!(value["reasons"], serde_json::json!([]));
    assert_eq!(value["store"], "writable");
    assert_eq!(value["roster"]["version"], 1);
    assert_eq!(value["peers"]["others"], 2);
    assert_eq!(value["outbound"]["queued"], 0);
    assert_eq!(value["disk"]["below_reserve"], false);
    assert!(value["disk"]["available_bytes"].as_u64().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_degraded_with_its_reason_when_the_peers_are_down() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let member = federation.member(POLICE);
    // Peers are judged once a witnessing round has had time (interval + request timeout).
    let degraded = eventually(Duration::from_secs(60), || async {
        let (code, value) = health(member);
        (value["status"] == "degraded").then_some((code, value))
    })
    .await;
    let (code, value) = degraded.expect("never degraded with every peer down");
    assert_eq!(code, 200, "degraded still serves: {value}");
    let reasons = value["reasons"].to_string();
    assert!(reasons.contains("peers answered"), "{reasons}");
    assert_eq!(value["peers"]["reachable"], 0);
}

/// Issue 16.2 without a small file system: a reserve larger than the free space makes the
/// police refuse its own new disclosures and the deliveries sent to it ("disk nearly
/// full", /health degraded); the sender keeps the disclosure queued and delivers it once
/// the police runs with a reserve it meets.
#[tokio::test(flavor = "multi_thread")]
async fn below_the_reserve_disclosures_and_deliveries_are_refused_and_health_says_so() {
    let federation = Federation::new();
    let police_toml = federation.member(POLICE).dir.join("node.toml");
    let normal = std::fs::read_to_string(&police_toml).expect("node.toml");
    federation.set_limit(POLICE, "disk_reserve_bytes = 1152921504606846976");
    let police_daemon = federation.start(POLICE);
    let _shelter_daemon = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;

    let (code, value) = health(federation.member(POLICE));
    assert_eq!(code, 200);
    assert_eq!(value["status"], "degraded", "{value}");
    assert_eq!(value["disk"]["below_reserve"], true, "{value}");
    assert!(
        value["reasons"].to_string().contains("disk nearly full"),
        "{value}"
    );

    // The police's own disclosure is refused before anything is logged.
    let (subject, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .expect("registering still works below the reserve");
    let size = police.checkpoint().await.expect("checkpoint").size();
    let sealed = police
        .disclosure(
            subject,
            streha_core::AgencyId::new(PROSECUTION).expect("id"),
            Purpose::CriminalInvestigationAndProsecution,
        )
        .field(
            streha_core::DisclosableCategory::Identity,
            "name",
            "x".to_owned(),
        )
        .expect("field")
        .prepare()
        .expect("prepare")
        .seal(&police)
        .expect("seal");
    let error = police.submit(&sealed).await.expect_err("refused");
    assert!(error.to_string().contains("disk nearly full"), "{error}");
    assert_eq!(police.checkpoint().await.expect("checkpoint").size(), size);

    // A delivery to the police is refused, and the shelter keeps it queued.
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .expect("register");
    let (consent, _) = shelter
        .grant_consent(consent_terms(
            subject,
            Grantor::Subject,
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .expect("grant");
    let sealed = shelter
        .disclosure(
            subject,
            streha_core::AgencyId::new(POLICE).expect("id"),
            Purpose::Assistance,
        )
        .field(DisclosableCategory::Medical, "note", "visit".to_owned())
        .expect("field")
        .consent(consent)
        .prepare()
        .expect("prepare")
        .seal(&shelter)
        .expect("seal");
    let id = sealed.envelope_id();
    shelter
        .submit(&sealed)
        .await
        .expect("accepted by the shelter");
    let refused = eventually(Duration::from_secs(60), || async {
        match shelter.delivery_status(id).await {
            Ok(DeliveryState::Queued {
                last_error: Some(error),
                ..
            }) if error.contains("disk nearly full") => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(
        refused.is_some(),
        "the delivery was not refused for the disk"
    );

    drop(police);
    assert!(police_daemon.terminate());
    std::fs::write(&police_toml, normal).expect("node.toml");
    let _police_daemon = federation.start(POLICE);
    let delivered = eventually(Duration::from_secs(60), || async {
        matches!(
            shelter.delivery_status(id).await,
            Ok(DeliveryState::Delivered { .. })
        )
        .then_some(())
    })
    .await;
    assert!(delivered.is_some(), "delivered once the police has room");
}
