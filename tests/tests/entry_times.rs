//! Issue 15.4, the node's side, against a real daemon: a time an application states — a
//! consent's `recorded_at`, a revocation's `revoked_at`, a disclosure's `created_at` — is
//! refused with an error naming the field when it lies beyond the clock skew in the past or
//! the future, or earlier than the log's latest entry allows; an age record takes the
//! node's own time; and every entry of the log is, in log order, at most the protocol's
//! clock-skew bound before any entry that precedes it.

mod common;

use std::time::Duration;

use common::*;
use streha_core::{
    AgeStatus, AuditEntry, Category, DisclosableCategory, Grantor, MAX_CLOCK_SKEW_MS, OfficerId,
    Purpose, Timestamp,
};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::{APP_ALPN, ErrorCode, MAX_FRAME_LEN};

const MINUTE: i64 = 60_000;

fn shifted(minutes: i64) -> Timestamp {
    Timestamp::from_unix_millis(now().unix_millis().saturating_add_signed(minutes * MINUTE))
}

fn officer() -> OfficerId {
    OfficerId::new("intake-officer").unwrap()
}

/// Asserts a refusal as a bad request whose message names `field` and says `says`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, streha_client::ClientError>,
    field: &str,
    says: &str,
) {
    let err = result.expect_err("the node must refuse it");
    let text = err.to_string();
    assert!(text.contains(field), "`{field}` not named in: {text}");
    assert!(text.contains(says), "`{says}` not in: {text}");
}

/// Every entry at most the bound before the latest entry preceding it (`spec/protocol.md`
/// §6, "Entry times").
#[track_caller]
fn assert_times_keep_the_bound(log: &[AuditEntry]) {
    let mut latest = 0u64;
    for (i, entry) in log.iter().enumerate() {
        let at = entry.at().unix_millis();
        assert!(
            at + MAX_CLOCK_SKEW_MS >= latest,
            "entry {i} ({}) at {} goes back more than the bound from {}",
            entry.kind_name(),
            entry.at(),
            Timestamp::from_unix_millis(latest)
        );
        latest = latest.max(at);
    }
}

async fn raw_submit(
    federation: &Federation,
    agency: &str,
    envelope: streha_crypto::Envelope,
) -> AppResponse {
    let member = federation.member(agency);
    let identity = streha_transport::Identity::from_key(&member.app_key).unwrap();
    let connection = raw_connection(
        &identity,
        member.node_key.public_key().to_bytes(),
        member.app_addr,
        APP_ALPN,
    )
    .await
    .unwrap();
    streha_transport::request(
        &connection,
        &AppRequest::Submit(Box::new(envelope)),
        MAX_FRAME_LEN,
        Duration::from_secs(20),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn stated_times_beyond_the_skew_or_before_the_log_are_refused_naming_the_field() {
    let federation = Federation::new();
    let _shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    // A presumed child's consents come from the legal representative (a child's own is
    // refused when recorded, whatever its time).
    let guardian = streha_core::RepresentativeId::new("guardian-1").unwrap();
    let (subject, _) = shelter
        .register_subject(AgeStatus::PresumedChild, vec![guardian.clone()])
        .await
        .unwrap();
    let terms = |recorded_at: Timestamp| {
        let mut terms = consent_terms(
            subject,
            Grantor::Representative(guardian.clone()),
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        );
        terms.recorded_at = recorded_at;
        terms
    };

    // A consent recorded ten minutes ago, or ten minutes ahead: beyond the 5-minute skew.
    assert_refused(
        shelter.grant_consent(terms(shifted(-10))).await,
        "consent recorded_at",
        "behind this node's clock",
    );
    assert_refused(
        shelter.grant_consent(terms(shifted(10))).await,
        "consent recorded_at",
        "ahead of this node's clock",
    );

    // A consent recorded four minutes ago (within the skew) and one recorded now;
    // revocations dated before the skew or ten years ahead are refused; the consents stay
    // in force.
    let (early, _) = shelter.grant_consent(terms(shifted(-4))).await.unwrap();
    let (consent, _) = shelter.grant_consent(terms(now())).await.unwrap();
    assert_refused(
        shelter
            .revoke_consent(consent, shifted(-10), officer())
            .await,
        "revocation revoked_at",
        "behind this node's clock",
    );
    assert_refused(
        shelter
            .revoke_consent(consent, shifted(10 * 365 * 24 * 60), officer())
            .await,
        "revocation revoked_at",
        "ahead of this node's clock",
    );
    let consents = shelter.consents(subject).await.unwrap();
    assert!(consents.iter().all(|c| c.revoked_at.is_none()));

    // Within the skew, but out of log order: after an entry dated four minutes ahead, a
    // consent dated four minutes back, or a revocation three minutes back, would take the
    // log back more than the bound.
    shelter.grant_consent(terms(shifted(4))).await.unwrap();
    assert_refused(
        shelter.grant_consent(terms(shifted(-4))).await,
        "consent recorded_at",
        "before the latest entry of this node's log",
    );
    assert_refused(
        shelter.revoke_consent(early, shifted(-3), officer()).await,
        "revocation revoked_at",
        "before the latest entry of this node's log",
    );
    shelter
        .revoke_consent(early, now(), officer())
        .await
        .unwrap();

    // An age record states no time: the node stamps it with its own, after what it logged.
    let before = now();
    let index = shelter
        .record_age_status(subject, AgeStatus::Adult)
        .await
        .unwrap();
    let log = log_entries(&shelter).await;
    match &log[usize::try_from(index).unwrap()] {
        AuditEntry::AgeStatusRecorded { at, .. } => {
            assert!(*at >= before && *at <= now(), "stamped {at}");
        }
        other => panic!("expected an age record, found {}", other.kind_name()),
    }

    // A disclosure dated ten minutes ago is refused before anything is decided or logged.
    let logged = log.len();
    let mut header = shelter
        .disclosure(
            subject,
            federation.member(POLICE).id.clone(),
            Purpose::Assistance,
        )
        .field(DisclosableCategory::Medical, "m", "x")
        .unwrap()
        .consent(consent)
        .prepare()
        .unwrap()
        .header()
        .clone();
    header.created_at = shifted(-10);
    let envelope = streha_crypto::seal(
        &federation.member(SHELTER).signing_key,
        &federation.member(POLICE).encryption_key.public_key(),
        &header.encode(),
        &streha_core::Record::new().encode(),
    )
    .unwrap();
    match raw_submit(&federation, SHELTER, envelope).await {
        AppResponse::Error(e) => {
            assert_eq!(e.code, ErrorCode::BadRequest, "{e}");
            assert!(e.message.contains("disclosure created_at"), "{e}");
        }
        other => panic!("expected an error, got {other:?}"),
    }

    // Nothing refused was logged, and the log keeps the bound throughout.
    let log = log_entries(&shelter).await;
    assert_eq!(log.len(), logged);
    assert_eq!(count(&log, "consent_granted"), 3);
    assert_eq!(count(&log, "consent_revoked"), 1);
    assert_times_keep_the_bound(&log);
}
