//! The application service (`streha api serve`, issue 20) against real daemons: every
//! endpoint, each refusal reason the sending node can give, a protection category refused by
//! the service and by the node, each authentication failure, malformed and oversized
//! requests, a restart in the middle of a submission, and the Python example.
//!
//! The service runs as a child process (`streha-api-test`, the entry point of `streha api`)
//! in front of a federation of `strehad` processes on 127.0.0.1.

mod api_harness;
mod common;

use std::time::Duration;

use api_harness::*;
use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use streha_core::{AgeStatus, Category, RefusalReason};
use streha_wire::app::{AppRequest, AppResponse};

const DAY_MS: u64 = 86_400_000;

fn now_ms() -> u64 {
    now().unix_millis()
}

const ALL_SCOPES: &[&str] = &[
    "subjects",
    "consent",
    "disclose",
    "delivery",
    "inbox",
    "inbox:open",
    "audit",
];

fn consent_body(subject: &str, granted_by: &str, recipient: &str, categories: &[&str]) -> Value {
    json!({
        "subject": subject,
        "granted_by": granted_by,
        "recipients": [format!("agency:{recipient}")],
        "categories": categories,
        "purposes": ["assistance"],
        "valid_from": now_ms() - 3_600_000,
        "expires_at": now_ms() + DAY_MS,
        "evidence_blake3": "11".repeat(32),
        "recorded_by": "intake-officer",
    })
}

fn disclosure(subject: &str, recipient: &str, purpose: &str, fields: Value) -> Value {
    json!({
        "subject": subject,
        "recipient": recipient,
        "purpose": purpose,
        "fields": fields,
    })
}

async fn register(at: &Listening, token: &str, age: &str, representatives: &[&str]) -> String {
    let reply = call(
        at,
        "POST",
        "/v1/subjects",
        Some(token),
        Some(&json!({"age_status": age, "representatives": representatives})),
    )
    .await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["subject"].as_str().unwrap().to_owned()
}

async fn grant(at: &Listening, token: &str, body: Value) -> String {
    let reply = call(at, "POST", "/v1/consents", Some(token), Some(&body)).await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["consent"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_works_against_real_daemons() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let police_setup = ApiSetup::new(&federation, POLICE, 20_000, false);
    let intake = police_setup.add_caller("intake", &["subjects", "consent"]);
    let sender = police_setup.add_caller("sender", &["disclose", "delivery"]);
    let auditor = police_setup.add_caller("auditor", &["audit"]);
    // Both services log everything they log at all (debug) into files, read at the end.
    let police_log = police_setup.dir.join("service.log");
    let police_api = police_setup.start_logging("debug", &police_log);
    let shelter_setup = ApiSetup::new(&federation, SHELTER, 20_000, false);
    let reader = shelter_setup.add_caller("records", &["inbox", "inbox:open"]);
    let shelter_log = shelter_setup.dir.join("service.log");
    let shelter_api = shelter_setup.start_logging("debug", &shelter_log);
    let (p, s) = (&police_api.at, &shelter_api.at);

    // The contract, without a token, is the committed one.
    let reply = call(p, "GET", "/openapi.json", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        String::from_utf8(reply.body).unwrap(),
        streha_api::openapi::document()
    );

    // Subjects, representatives, age status.
    let child = register(p, &intake, "presumed_child", &["guardian-0042"]).await;
    let reply = call(
        p,
        "POST",
        &format!("/v1/subjects/{child}/representatives"),
        Some(&intake),
        Some(&json!({"representative": "guardian-0043"})),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let representative_index = reply.json()["log_index"].as_u64().unwrap();
    let adult = register(p, &intake, "presumed_child", &[]).await;
    let reply = call(
        p,
        "POST",
        &format!("/v1/subjects/{adult}/age-status"),
        Some(&intake),
        Some(&json!({"age_status": "adult"})),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert!(reply.json()["log_index"].as_u64().unwrap() > representative_index);

    // Consent: the adult's own, and the child's guardian's; listed with their terms.
    let consent = grant(
        p,
        &intake,
        consent_body(&adult, "subject", SHELTER, &["psychological"]),
    )
    .await;
    let guardians = grant(
        p,
        &intake,
        consent_body(
            &child,
            "representative:guardian-0043",
            SHELTER,
            &["medical"],
        ),
    )
    .await;
    let reply = call(
        p,
        "GET",
        &format!("/v1/subjects/{adult}/consents"),
        Some(&intake),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    let listed = reply.json();
    assert_eq!(listed["consents"].as_array().unwrap().len(), 1);
    let view = &listed["consents"][0];
    assert_eq!(view["consent"], consent.as_str());
    assert_eq!(view["granted_by"], "subject");
    assert_eq!(view["recipients"], json!([format!("agency:{SHELTER}")]));
    assert_eq!(view["categories"], json!(["psychological"]));
    assert_eq!(view["revoked_at"], Value::Null);

    // A disclosure with a text and a binary field, waiting for its delivery.
    let scan: Vec<u8> = (0..=255u8).collect();
    let mut body = disclosure(
        &adult,
        SHELTER,
        "assistance",
        json!([
            {"category": "psychological", "name": "assessment", "text": "needs counselling"},
            {"category": "psychological", "name": "scan", "base64": base64::engine::general_purpose::STANDARD.encode(&scan)},
        ]),
    );
    body["consent"] = json!(consent);
    body["wait_ms"] = json!(30_000);
    let reply = call(p, "POST", "/v1/disclosures", Some(&sender), Some(&body)).await;
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    let accepted = reply.json();
    let envelope = accepted["envelope"].as_str().unwrap().to_owned();
    let disclosed_index = accepted["log_index"].as_u64().unwrap();
    assert_eq!(accepted["delivery"]["state"], "delivered", "{accepted}");

    // The child's, with the guardian's consent, without waiting.
    let mut body = disclosure(
        &child,
        SHELTER,
        "assistance",
        json!([{"category": "medical", "name": "note", "text": "x"}]),
    );
    body["consent"] = json!(guardians);
    let reply = call(p, "POST", "/v1/disclosures", Some(&sender), Some(&body)).await;
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    assert!(reply.json().get("delivery").is_none());
    let second = reply.json()["envelope"].as_str().unwrap().to_owned();

    // Delivery status (waiting), and no held deliveries.
    let reply = call(
        p,
        "GET",
        &format!("/v1/disclosures/{second}?wait_ms=30000"),
        Some(&sender),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["state"], "delivered", "{:?}", reply.json());
    assert!(reply.json()["receipt_index"].as_u64().is_some());
    let reply = call(
        p,
        "GET",
        "/v1/deliveries/held?limit=10",
        Some(&sender),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"held": [], "next_after": null}));

    // At the shelter: the inbox, one page of one and then the rest, and the record opened.
    let reply = call(s, "GET", "/v1/inbox?limit=1", Some(&reader), None).await;
    assert_eq!(reply.status, 200);
    let page = reply.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let first = &page["items"][0];
    assert_eq!(first["envelope"], envelope.as_str());
    assert_eq!(first["sender"], POLICE);
    assert_eq!(first["categories"], json!(["psychological"]));
    assert_eq!(first["purpose"], "assistance");
    assert_eq!(first["consent"], consent.as_str());
    assert_eq!(page["next_after"], envelope.as_str());
    let reply = call(
        s,
        "GET",
        &format!("/v1/inbox?after={envelope}"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(reply.json()["items"][0]["envelope"], second.as_str());
    assert_eq!(reply.json()["next_after"], Value::Null);
    let reply = call(
        s,
        "GET",
        &format!("/v1/inbox/{envelope}"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let opened = reply.json();
    assert_eq!(opened["sender"], POLICE);
    assert_eq!(opened["subject"], adult.as_str());
    let fields = opened["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 2);
    let text = fields.iter().find(|f| f["name"] == "assessment").unwrap();
    assert_eq!(text["text"], "needs counselling");
    let bytes = fields.iter().find(|f| f["name"] == "scan").unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(bytes["base64"].as_str().unwrap())
            .unwrap(),
        scan
    );

    // The audit log: checkpoint, the disclosed entry proven, the whole log exported.
    let reply = call(p, "GET", "/v1/log/checkpoint", Some(&auditor), None).await;
    assert_eq!(reply.status, 200);
    let checkpoint = reply.json();
    assert_eq!(
        checkpoint["origin"],
        format!("{FEDERATION}/streha/{POLICE}").as_str()
    );
    assert!(checkpoint["size"].as_u64().unwrap() > disclosed_index);
    assert!(checkpoint["note"].as_str().unwrap().contains("— "));
    let reply = call(
        p,
        "GET",
        &format!("/v1/log/entries/{disclosed_index}"),
        Some(&auditor),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    let proof = reply.json();
    assert_eq!(proof["index"], disclosed_index);
    assert_eq!(proof["kind"], "disclosed");
    assert!(
        proof["tlog_proof"]
            .as_str()
            .unwrap()
            .starts_with("c2sp.org/tlog-proof@v1")
    );
    let reply = call(p, "GET", "/v1/log/export", Some(&auditor), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/octet-stream");
    let bundle = streha_audit::LogBundle::decode(&reply.body).expect("a log bundle");
    assert_eq!(bundle.origin, format!("{FEDERATION}/streha/{POLICE}"));
    assert!(bundle.entries.len() as u64 > disclosed_index);

    // Revocation, and the list shows it.
    let reply = call(
        p,
        "POST",
        &format!("/v1/consents/{consent}/revocation"),
        Some(&intake),
        Some(&json!({"recorded_by": "intake-officer"})),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let reply = call(
        p,
        "GET",
        &format!("/v1/subjects/{adult}/consents"),
        Some(&intake),
        None,
    )
    .await;
    assert!(reply.json()["consents"][0]["revoked_at"].as_u64().is_some());

    // What does not exist.
    let nobody = "5a".repeat(16);
    let reply = call(
        p,
        "POST",
        &format!("/v1/subjects/{nobody}/age-status"),
        Some(&intake),
        Some(&json!({"age_status": "adult"})),
    )
    .await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".into()));
    let reply = call(
        s,
        "GET",
        &format!("/v1/inbox/{nobody}"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".into()));
    let reply = call(p, "GET", "/v1/log/entries/999999", Some(&auditor), None).await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".into()));
    let reply = call(p, "GET", "/v1/nothing-here", Some(&auditor), None).await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".into()));
    let reply = call(p, "DELETE", "/v1/log/checkpoint", Some(&auditor), None).await;
    assert_eq!(
        (reply.status, reply.code()),
        (405, "method_not_allowed".into())
    );

    // Record content and tokens never reach the services' logs; routes and callers do.
    drop(police_api);
    drop(shelter_api);
    let scan_b64 = base64::engine::general_purpose::STANDARD.encode(&scan);
    for log in [&police_log, &shelter_log] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.contains("/v1/disclosures") || text.contains("/v1/inbox/{envelope}"));
        for secret in [
            "needs counselling",
            scan_b64.as_str(),
            intake.as_str(),
            sender.as_str(),
            auditor.as_str(),
            reader.as_str(),
        ] {
            assert!(!text.contains(secret), "{} holds a secret", log.display());
        }
    }
    let shelter_text = std::fs::read_to_string(&shelter_log).unwrap();
    assert!(shelter_text.contains("record opened") && shelter_text.contains("caller=records"));
}

/// Submits `body` as the police's sender and expects the policy's refusal `reason`; checks
/// the refusal's entry in the log through the API.
async fn expect_refusal(
    at: &Listening,
    sender: &str,
    auditor: &str,
    body: &Value,
    reason: &str,
    article: &str,
) {
    let reply = call(at, "POST", "/v1/disclosures", Some(sender), Some(body)).await;
    assert_eq!(reply.status, 422, "{reason}: {:?}", reply.json());
    let refusal = reply.json();
    assert_eq!(refusal["code"], "policy_refused", "{refusal}");
    assert_eq!(refusal["reason"], reason, "{refusal}");
    assert_eq!(refusal["article"], article, "{refusal}");
    let index = refusal["log_index"].as_u64().expect("a log index");
    let reply = call(
        at,
        "GET",
        &format!("/v1/log/entries/{index}"),
        Some(auditor),
        None,
    )
    .await;
    assert_eq!(reply.json()["kind"], "refused", "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_refusal_reaches_the_caller_with_its_reason_and_nothing_leaves() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER, PROSECUTION]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let police_setup = ApiSetup::new(&federation, POLICE, 20_000, false);
    let all = police_setup.add_caller("all", ALL_SCOPES);
    let police_api = police_setup.start();
    let shelter_setup = ApiSetup::new(&federation, SHELTER, 20_000, false);
    let shelter_all = shelter_setup.add_caller("all", ALL_SCOPES);
    let shelter_api = shelter_setup.start();
    let (p, s) = (&police_api.at, &shelter_api.at);

    let adult = register(p, &all, "adult", &[]).await;
    let child = register(p, &all, "presumed_child", &["guardian-1"]).await;
    let rekeyed = register(p, &all, "adult", &[]).await;
    // Re-keying is the library's (an operator's act, not a case system's): done directly.
    let police = federation.client(POLICE).await;
    police
        .rekey_subject(rekeyed.parse().unwrap())
        .await
        .expect("re-key");
    let shelter_subject = register(s, &shelter_all, "adult", &[]).await;
    let consent = grant(
        p,
        &all,
        consent_body(&adult, "subject", SHELTER, &["medical"]),
    )
    .await;
    let revoked = grant(
        p,
        &all,
        consent_body(&adult, "subject", SHELTER, &["medical"]),
    )
    .await;
    let reply = call(
        p,
        "POST",
        &format!("/v1/consents/{revoked}/revocation"),
        Some(&all),
        Some(&json!({"recorded_by": "intake-officer"})),
    )
    .await;
    assert_eq!(reply.status, 200);
    // A child's own consent is refused when it is recorded (Art. 18.3, 36, 38.5), and the
    // refusal is logged at the node.
    let reply = call(
        p,
        "POST",
        "/v1/consents",
        Some(&all),
        Some(&consent_body(&child, "subject", SHELTER, &["medical"])),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (422, "policy_refused".into()),
        "{:?}",
        reply.json()
    );
    assert_eq!(reply.json()["reason"], "child_own_consent");
    assert_eq!(reply.json()["article"], "Art. 18.3, 36, 38.5");
    assert!(reply.json()["log_index"].as_u64().is_some());
    // A representative who is not registered: the node will not record the consent.
    let reply = call(
        p,
        "POST",
        "/v1/consents",
        Some(&all),
        Some(&consent_body(
            &child,
            "representative:stranger-9",
            SHELTER,
            &["medical"],
        )),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (422, "policy_refused".into()),
        "{:?}",
        reply.json()
    );
    assert_eq!(
        reply.json()["reason"],
        "grantor_not_registered_representative"
    );

    let field = |category: &str| json!([{"category": category, "name": "f", "text": "v"}]);
    let with_consent = |mut body: Value, consent: &str| {
        body["consent"] = json!(consent);
        body
    };
    let unknown_consent = "77".repeat(16);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            disclosure(
                &"5a".repeat(16),
                SHELTER,
                "identification_and_referral",
                field("identity"),
            ),
            "unknown_subject",
            "",
        ),
        (
            disclosure(
                &rekeyed,
                SHELTER,
                "identification_and_referral",
                field("identity"),
            ),
            "subject_closed",
            "Art. 18.5",
        ),
        (
            disclosure(&adult, PROSECUTION, "urgent_danger", field("identity")),
            "urgent_danger_needs_two_approvers",
            "Art. 45.3",
        ),
        (
            disclosure(
                &child,
                SHELTER,
                "criminal_investigation_and_prosecution",
                field("identity"),
            ),
            "child_identification_outside_agreement",
            "Art. 35.1.5, 38.9",
        ),
        (
            disclosure(&adult, SHELTER, "assistance", field("medical")),
            "no_consent_for_assistance",
            "Art. 18.3",
        ),
        (
            with_consent(
                disclosure(&adult, SHELTER, "assistance", field("medical")),
                &unknown_consent,
            ),
            "consent_unknown",
            "Art. 18.3",
        ),
        (
            with_consent(
                disclosure(&adult, SHELTER, "assistance", field("medical")),
                &revoked,
            ),
            "consent_not_in_force",
            "Art. 18.3",
        ),
        (
            with_consent(
                disclosure(&adult, PROSECUTION, "assistance", field("medical")),
                &consent,
            ),
            "consent_does_not_cover_recipient",
            "Art. 18.3",
        ),
        (
            with_consent(
                disclosure(
                    &adult,
                    SHELTER,
                    "assistance",
                    json!([
                        {"category": "medical", "name": "a", "text": "v"},
                        {"category": "psychological", "name": "b", "text": "v"},
                    ]),
                ),
                &consent,
            ),
            "consent_does_not_cover_category",
            "Art. 18.3",
        ),
        (
            with_consent(
                disclosure(
                    &adult,
                    SHELTER,
                    "identification_and_referral",
                    field("medical"),
                ),
                &consent,
            ),
            "consent_does_not_cover_purpose",
            "Art. 18.3",
        ),
        (
            disclosure(&adult, SHELTER, "assistance", field("case_summary")),
            "not_in_agreement",
            "Art. 18.2, 45.1",
        ),
    ];
    for (body, reason, article) in &cases {
        expect_refusal(p, &all, &all, body, reason, article).await;
    }
    // The shelter is no police or prosecution: urgent danger is not its to send.
    expect_refusal(
        s,
        &shelter_all,
        &shelter_all,
        &disclosure(
            &shelter_subject,
            PROSECUTION,
            "urgent_danger",
            field("identity"),
        ),
        "urgent_danger_sender_role",
        "Art. 45.3",
    )
    .await;
    // A recipient outside the roster is refused before sealing (Art. 18.2).
    let reply = call(
        p,
        "POST",
        "/v1/disclosures",
        Some(&all),
        Some(&disclosure(
            &adult,
            "ghost-agency",
            "assistance",
            field("identity"),
        )),
    )
    .await;
    assert_eq!((reply.status, reply.code()), (400, "invalid_value".into()));
    assert_eq!(reply.json()["field"], "recipient");

    // A protection category: refused by the service, before sealing; nothing logged.
    let before = log_entries(&police).await;
    for category in [
        "shelter_location",
        "protection_measures",
        "protector_identity",
        "assistant_identity",
    ] {
        let body = disclosure(
            &adult,
            SHELTER,
            "identification_and_referral",
            json!([
                {"category": "identity", "name": "alias", "text": "A."},
                {"category": category, "name": "where", "text": "secret"},
            ]),
        );
        let reply = call(p, "POST", "/v1/disclosures", Some(&all), Some(&body)).await;
        assert_eq!(reply.status, 422, "{:?}", reply.json());
        let refusal = reply.json();
        assert_eq!(refusal["code"], "protection_category");
        assert_eq!(refusal["category"], category);
        assert_eq!(refusal["article"], "Art. 18.4, 18.6");
        assert!(!reply.body.windows(6).any(|w| w == b"secret"));
    }
    let after = log_entries(&police).await;
    assert_eq!(count(&after, "refused"), count(&before, "refused"));
    assert_eq!(count(&after, "disclosed"), 0);

    // Forced past the service (an envelope sealed and signed with the agency's keys, that
    // declares a protection category): the node refuses it, and logs the refusal.
    let police_member = federation.member(POLICE);
    let header = streha_core::DisclosureHeader {
        envelope_id: streha_core::EnvelopeId::from_bytes([0x42; 16]),
        sender: police_member.id.clone(),
        recipient: federation.member(SHELTER).id.clone(),
        subject: adult.parse().unwrap(),
        categories: streha_core::CategorySet::of(&[Category::ShelterLocation]),
        purpose: streha_core::Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: streha_core::Approvals::new(),
    };
    let forged = streha_crypto::seal(
        &police_member.signing_key,
        &federation.member(SHELTER).encryption_key.public_key(),
        &header.encode(),
        &streha_core::Record::new().encode(),
    )
    .unwrap();
    let identity = streha_transport::Identity::from_key(&police_member.app_key).unwrap();
    let connection = raw_connection(
        &identity,
        police_member.node_key.public_key().to_bytes(),
        police_member.app_addr,
        streha_wire::APP_ALPN,
    )
    .await
    .unwrap();
    let response: AppResponse = streha_transport::request(
        &connection,
        &AppRequest::Submit(Box::new(forged)),
        streha_wire::MAX_FRAME_LEN,
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let AppResponse::Refused { reason, index } = response else {
        panic!("expected a refusal, got {response:?}");
    };
    assert!(matches!(
        reason,
        RefusalReason::ProtectionCategory {
            category: Category::ShelterLocation
        }
    ));
    // The same refusal, as the service words it to a caller.
    let mapped = streha_api::ApiError::from_client(&streha_client::ClientError::Refused {
        reason,
        log_index: index,
    });
    assert_eq!(mapped.body()["reason"], "protection_category");
    let reply = call(
        p,
        "GET",
        &format!("/v1/log/entries/{index}"),
        Some(&all),
        None,
    )
    .await;
    assert_eq!(reply.json()["kind"], "refused");

    // Nothing left: the shelter received nothing, and the police disclosed nothing.
    let reply = call(s, "GET", "/v1/inbox", Some(&shelter_all), None).await;
    assert_eq!(reply.json()["items"], json!([]));
    assert_eq!(count(&log_entries(&police).await, "disclosed"), 0);
    let shelter = federation.client(SHELTER).await;
    assert_eq!(count(&log_entries(&shelter).await, "received"), 0);
    let _ = AgeStatus::Adult;
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_without_a_valid_token_or_scope_and_malformed_requests_are_refused_precisely() {
    let federation = Federation::new();
    let _node = federation.start(POLICE);
    let setup = ApiSetup::new(&federation, POLICE, 20_000, false);
    let intake = setup.add_caller("intake", &["subjects", "consent"]);
    let api = setup.start();
    let at = &api.at;
    let subject_body = json!({"age_status": "adult"});

    // No token, a malformed header, an unknown token: 401, with WWW-Authenticate.
    let reply = call(at, "POST", "/v1/subjects", None, Some(&subject_body)).await;
    assert_eq!((reply.status, reply.code()), (401, "token_missing".into()));
    assert!(
        reply.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let reply = raw_call(
        at,
        "POST",
        "/v1/subjects",
        &[
            ("authorization", "Basic aW50YWtlOng=".into()),
            ("content-type", "application/json".into()),
        ],
        Some(b"{\"age_status\":\"adult\"}".to_vec()),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (401, "token_malformed".into())
    );
    let mut wrong = intake.clone();
    wrong.pop();
    wrong.push(if intake.ends_with('A') { 'B' } else { 'A' });
    let reply = call(
        at,
        "POST",
        "/v1/subjects",
        Some(&wrong),
        Some(&subject_body),
    )
    .await;
    assert_eq!((reply.status, reply.code()), (401, "token_unknown".into()));
    assert!(
        !reply
            .body
            .windows(wrong.len())
            .any(|w| w == wrong.as_bytes())
    );

    // Known, but out of scope: 403 naming the scope.
    for (method, path, scope) in [
        (
            "GET",
            format!("/v1/inbox/{}", "ab".repeat(16)),
            "inbox:open",
        ),
        ("GET", "/v1/inbox".to_owned(), "inbox"),
        ("POST", "/v1/disclosures".to_owned(), "disclose"),
        ("GET", "/v1/log/export".to_owned(), "audit"),
        ("GET", "/v1/deliveries/held".to_owned(), "delivery"),
    ] {
        let reply = call(at, method, &path, Some(&intake), Some(&json!({}))).await;
        assert_eq!(
            (reply.status, reply.code()),
            (403, "scope_missing".into()),
            "{path}"
        );
        assert_eq!(reply.json()["scope"], scope);
        assert_eq!(reply.json()["caller"], "intake");
    }

    // Malformed JSON, an unknown field, a wrong type, a bad value, not JSON at all.
    let json_headers = [
        ("authorization", format!("Bearer {intake}")),
        ("content-type", "application/json".to_owned()),
    ];
    let bad = |body: &'static [u8]| {
        raw_call(
            at,
            "POST",
            "/v1/subjects",
            &json_headers,
            Some(body.to_vec()),
        )
    };
    let reply = bad(b"{\"age_status\": \"adult\"").await;
    assert_eq!((reply.status, reply.code()), (400, "malformed_json".into()));
    let reply = bad(b"{\"age_status\": \"adult\", \"name\": \"Arta\"}").await;
    assert_eq!((reply.status, reply.code()), (400, "unknown_field".into()));
    assert_eq!(reply.json()["field"], "name");
    assert!(!reply.body.windows(4).any(|w| w == b"Arta"));
    let reply = bad(b"{\"age_status\": 7}").await;
    assert_eq!((reply.status, reply.code()), (400, "malformed_json".into()));
    let reply = bad(b"{\"age_status\": \"elderly\"}").await;
    assert_eq!((reply.status, reply.code()), (400, "invalid_value".into()));
    assert_eq!(reply.json()["field"], "age_status");
    let reply = raw_call(
        at,
        "POST",
        "/v1/subjects",
        &[
            ("authorization", format!("Bearer {intake}")),
            ("content-type", "text/plain".into()),
        ],
        Some(b"age_status=adult".to_vec()),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (415, "unsupported_media_type".into())
    );
    let reply = call(
        at,
        "POST",
        "/v1/subjects/not-an-id/age-status",
        Some(&intake),
        Some(&subject_body),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "invalid_parameter".into())
    );
    assert_eq!(reply.json()["field"], "subject");
    let reply = call(at, "GET", "/v1/inbox?limit=0", Some(&intake), None).await;
    assert_eq!(reply.status, 403, "scope first, then parameters");

    // Oversized: announced by Content-Length and never sent, the refusal comes at once;
    // sent chunked, it comes once the body passes the limit.
    let limit = streha_api::limits::DEFAULT_MAX_BODY_BYTES;
    let response = raw_tcp(
        api.addr(),
        &format!(
            "POST /v1/subjects HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {intake}\r\n\
             Content-Type: application/json\r\nContent-Length: {}",
            100 * limit
        ),
        b"{\"age_status\":",
    );
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains("\"code\":\"body_too_large\""),
        "{response}"
    );
    let chunk = vec![b' '; 64 * 1024];
    let mut chunked = Vec::new();
    for _ in 0..(limit / chunk.len() + 2) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    let response = raw_tcp(
        api.addr(),
        &format!(
            "POST /v1/subjects HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {intake}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked"
        ),
        &chunked,
    );
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    // Authentication comes first: a stranger's oversized body is not even looked at.
    let response = raw_tcp(
        api.addr(),
        &format!(
            "POST /v1/subjects HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}",
            100 * limit
        ),
        b"",
    );
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");

    // The service still serves.
    let reply = call(
        at,
        "POST",
        "/v1/subjects",
        Some(&intake),
        Some(&subject_body),
    )
    .await;
    assert_eq!(reply.status, 201);

    // A Unix socket, owner-only, serves the same contract.
    let unix_setup = ApiSetup::new(&federation, POLICE, 20_000, true);
    let unix_token = unix_setup.add_caller("intake", &["subjects"]);
    let unix_api = unix_setup.start();
    let Listening::Unix(path) = &unix_api.at else {
        panic!("not a Unix socket");
    };
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let reply = call(
        &unix_api.at,
        "POST",
        "/v1/subjects",
        Some(&unix_token),
        Some(&subject_body),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    // The TCP service's token is not the socket service's.
    let reply = call(
        &unix_api.at,
        "POST",
        "/v1/subjects",
        Some(&intake),
        Some(&subject_body),
    )
    .await;
    assert_eq!(reply.code(), "token_unknown");

    // A non-loopback address is refused at start.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(&setup.config, text.replace("127.0.0.1:0", "0.0.0.0:0")).unwrap();
    let out = std::process::Command::new(API_BIN)
        .args(["serve", "--config"])
        .arg(&setup.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

fn kill_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submission_retried_after_a_restart_is_answered_once_and_disclosed_once() {
    let federation = Federation::new();
    let police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);
    // A short request timeout to the node, so that a stopped node times the submission out.
    let setup = ApiSetup::new(&federation, POLICE, 3_000, false);
    let token = setup.add_caller("case-system", &["subjects", "disclose", "delivery"]);
    let api = setup.start();
    let subject = register(&api.at, &token, "adult", &[]).await;
    let body = disclosure(
        &subject,
        SHELTER,
        "identification_and_referral",
        json!([{"category": "identity", "name": "alias", "text": "A."}]),
    );
    let key = "case-17-disclosure-1";
    let submit = |at: Listening, body: Value, key: &'static str| {
        let token = token.clone();
        async move {
            raw_call(
                &at,
                "POST",
                "/v1/disclosures",
                &[
                    ("authorization", format!("Bearer {token}")),
                    ("content-type", "application/json".into()),
                    ("idempotency-key", key.into()),
                ],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await
        }
    };

    // The node stops answering (SIGSTOP): the service has sealed and kept the envelope and
    // sent it; the node's answer never comes, and the caller is told to retry.
    kill_signal(police_node.pid(), "STOP");
    let reply = submit(api.at.clone(), body.clone(), key).await;
    assert_eq!(
        (reply.status, reply.code()),
        (503, "node_unavailable".into()),
        "{:?}",
        reply.json()
    );
    let envelope = reply.json()["envelope"]
        .as_str()
        .expect("the kept envelope")
        .to_owned();

    // The service dies; the node resumes and handles what it had received: the
    // disclosure is accepted, logged and delivered, and nobody heard the answer.
    api.kill9();
    kill_signal(police_node.pid(), "CONT");
    let police = federation.client(POLICE).await;
    let envelope_id: streha_core::EnvelopeId = envelope.parse().unwrap();
    let delivered = eventually(Duration::from_secs(60), || {
        let police = &police;
        async move {
            match police.delivery_status(envelope_id).await {
                Ok(streha_client::DeliveryState::Delivered { .. }) => Some(()),
                _ => None,
            }
        }
    })
    .await;
    assert!(
        delivered.is_some(),
        "the node did not handle the submission it had received"
    );
    let entries = log_entries(&police).await;
    let disclosed: Vec<u64> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind_name() == "disclosed")
        .map(|(i, _)| i as u64)
        .collect();
    assert_eq!(disclosed.len(), 1);

    // A new service over the same state: the retry gets the answer the node gave.
    let api = setup.start();
    let reply = submit(api.at.clone(), body.clone(), key).await;
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    assert_eq!(reply.json()["envelope"], envelope.as_str());
    assert_eq!(reply.json()["log_index"], disclosed[0]);
    let first_answer = reply.json();

    // Again, with the node stopped: the kept answer, without the node.
    kill_signal(police_node.pid(), "STOP");
    let reply = submit(api.at.clone(), body.clone(), key).await;
    kill_signal(police_node.pid(), "CONT");
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json(), first_answer);
    assert_eq!(reply.headers[streha_api::REPLAYED_HEADER], "true");

    // The same key for another request is a conflict; the body's request_id is the same key.
    let mut other = body.clone();
    other["fields"][0]["text"] = json!("B.");
    let reply = submit(api.at.clone(), other, key).await;
    assert_eq!(
        (reply.status, reply.code()),
        (409, "idempotency_key_reused".into())
    );
    let mut in_body = body.clone();
    in_body["request_id"] = json!(key);
    let reply = call(
        &api.at,
        "POST",
        "/v1/disclosures",
        Some(&token),
        Some(&in_body),
    )
    .await;
    assert_eq!(reply.json(), first_answer);
    let reply = submit(api.at.clone(), in_body, "another-key").await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "invalid_idempotency_key".into())
    );

    // Disclosed once, received once.
    assert_eq!(count(&log_entries(&police).await, "disclosed"), 1);
    let shelter = federation.client(SHELTER).await;
    assert_eq!(shelter.inbox(None, 10).await.unwrap().len(), 1);
    assert_eq!(count(&log_entries(&shelter).await, "received"), 1);

    // A refusal is kept too: retried, it is not logged again.
    let refused_body = disclosure(
        &subject,
        SHELTER,
        "assistance",
        json!([{"category": "medical", "name": "note", "text": "x"}]),
    );
    let first = submit(api.at.clone(), refused_body.clone(), "refused-1").await;
    assert_eq!(first.json()["reason"], "no_consent_for_assistance");
    let refusals = count(&log_entries(&police).await, "refused");
    let again = submit(api.at.clone(), refused_body, "refused-1").await;
    assert_eq!(again.json(), first.json());
    assert_eq!(count(&log_entries(&police).await, "refused"), refusals);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_runs_against_a_demo_federation() {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if !python.is_ok_and(|out| out.status.success()) {
        eprintln!("skipped: python3 is not installed, so examples/streha_api.py cannot be run");
        return;
    }
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let police_setup = ApiSetup::new(&federation, POLICE, 20_000, false);
    let police_token =
        police_setup.add_caller("intake", &["subjects", "consent", "disclose", "delivery"]);
    let police_api = police_setup.start();
    let shelter_setup = ApiSetup::new(&federation, SHELTER, 20_000, false);
    let shelter_token = shelter_setup.add_caller("records", &["inbox", "inbox:open"]);
    let shelter_api = shelter_setup.start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/streha_api.py");
    let out = tokio::task::spawn_blocking({
        let (p, s) = (police_api.addr(), shelter_api.addr());
        move || {
            std::process::Command::new("python3")
                .arg(script)
                .env("STREHA_SENDER_URL", format!("http://{p}"))
                .env("STREHA_SENDER_TOKEN", police_token)
                .env("STREHA_RECEIVER_URL", format!("http://{s}"))
                .env("STREHA_RECEIVER_TOKEN", shelter_token)
                .env("STREHA_RECIPIENT", SHELTER)
                .output()
                .expect("run python3")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the example failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("opened at shelter"), "{stdout}");
    let shelter = federation.client(SHELTER).await;
    assert_eq!(shelter.inbox(None, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_that_joins_after_the_service_connected_can_receive() {
    let mut federation = Federation::new();
    let all: Vec<_> = federation.members.iter().map(Member::entry).collect();
    let prosecution = federation.member(PROSECUTION).id.clone();
    let without = federation.roster_of(
        all.iter()
            .filter(|entry| entry.id != prosecution)
            .cloned()
            .collect(),
    );
    federation.publish(without);
    let police_node = federation.start(POLICE);
    let setup = ApiSetup::new(&federation, POLICE, 20_000, false);
    let token = setup.add_caller("case-system", &["subjects", "disclose"]);
    let api = setup.start();
    let subject = register(&api.at, &token, "adult", &[]).await;
    let body = disclosure(
        &subject,
        PROSECUTION,
        "criminal_investigation_and_prosecution",
        json!([{"category": "identity", "name": "alias", "text": "A."}]),
    );
    let reply = call(
        &api.at,
        "POST",
        "/v1/disclosures",
        Some(&token),
        Some(&body),
    )
    .await;
    assert_eq!((reply.status, reply.code()), (400, "invalid_value".into()));

    // Prosecution joins (a newer roster, adopted by the node): the service seals for it
    // without a restart.
    let with = federation.roster_of(all);
    federation.publish(with);
    police_node.hangup();
    let police = federation.client(POLICE).await;
    let adopted = eventually(Duration::from_secs(20), || {
        let (police, prosecution) = (&police, &prosecution);
        async move {
            let roster = police.refresh_roster().await.ok()?;
            roster.agency(prosecution).map(|_| ())
        }
    })
    .await;
    assert!(adopted.is_some(), "the node adopts the roster");
    let reply = call(
        &api.at,
        "POST",
        "/v1/disclosures",
        Some(&token),
        Some(&body),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.json());
}
