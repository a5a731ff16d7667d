//! The contract: the committed OpenAPI document is the generated one, every error case has
//! its schema, and every refusal reason of the policy has its own code.

use std::collections::BTreeSet;

use serde::de::{self, Deserializer, Visitor};
use streha_api::error::{ApiError, PolicyRefusal};
use streha_api::model::RefusalCode;
use streha_client::ClientError;
use streha_core::{
    AgencyId, Category, CategorySet, ConsentId, NotInForce, Purpose, RefusalReason,
    RepresentativeId, Role, SubjectId, Timestamp,
};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/openapi.json");

/// `spec/openapi.json` is what the code generates. Run with `STREHA_BLESS=1` to rewrite it
/// after changing the contract on purpose (and review the diff).
#[test]
fn the_committed_contract_is_the_generated_one() {
    let generated = streha_api::openapi::document();
    if std::env::var_os("STREHA_BLESS").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write spec/openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "spec/openapi.json differs from the generated contract; if the change is intended, \
         run `STREHA_BLESS=1 cargo test -p streha-api --test contract` and commit the file"
    );
    let value: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(value["openapi"], "3.1.0");
}

/// Every error case of the contract has a schema of its own, and every operation that needs
/// a token names its scope and documents 401 and 403.
#[test]
fn every_error_case_has_its_schema() {
    let doc: serde_json::Value = serde_json::from_str(&streha_api::openapi::document()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "PolicyRefusal",
        "ProtectionRefusal",
        "VerificationFailure",
        "SenderViolation",
        "NotFound",
        "Unauthorized",
        "Forbidden",
        "BadRequest",
        "UnsupportedMediaType",
        "PayloadTooLarge",
        "Conflict",
        "Unavailable",
        "NodeError",
        "Internal",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if path == "/openapi.json" {
                continue;
            }
            operations += 1;
            let scopes = &operation["security"][0]["bearer"];
            assert_eq!(scopes.as_array().map(Vec::len), Some(1), "{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            for status in ["401", "403", "503", "500"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
        }
    }
    assert_eq!(operations, 14);
}

/// The variant names of an enum, as serde knows them: a deserializer that only answers
/// `deserialize_enum` and keeps the list it is given. A variant added to
/// `RefusalReason` appears here without anyone updating this test.
fn variant_names<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    struct Names(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for &mut Names {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(variants);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
            identifier ignored_any
        }
    }
    let mut names = Names(None);
    let _ = T::deserialize(&mut names);
    names.0.expect("an enum")
}

/// One value of every reason the policy has (the test fails until a new reason is added
/// here, and then until it has a code of its own).
fn every_reason() -> Vec<RefusalReason> {
    let agency = AgencyId::new("shelter").unwrap();
    let subject = SubjectId::from_bytes([1; 16]);
    let consent = ConsentId::from_bytes([2; 16]);
    vec![
        RefusalReason::ProtectionCategory {
            category: Category::ShelterLocation,
        },
        RefusalReason::EmptyCategories,
        RefusalReason::ContentMismatch {
            declared: CategorySet::of(&[Category::Identity]),
            found: CategorySet::of(&[Category::Medical]),
        },
        RefusalReason::UnknownSender {
            sender: agency.clone(),
        },
        RefusalReason::UnknownRecipient {
            recipient: agency.clone(),
        },
        RefusalReason::UnknownSubject { subject },
        RefusalReason::SubjectMismatch {
            header: subject,
            context: SubjectId::from_bytes([3; 16]),
        },
        RefusalReason::SubjectClosed { subject },
        RefusalReason::UrgentDangerSenderRole {
            role: Role::LicensedNgo,
        },
        RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 },
        RefusalReason::ChildIdentificationOutsideAgreement {
            category: Category::Identity,
            role: Role::Health,
            purpose: Purpose::Assistance,
        },
        RefusalReason::NoConsentForAssistance {
            category: Category::Medical,
        },
        RefusalReason::ConsentUnknown { consent },
        RefusalReason::ConsentSubjectMismatch { consent, subject },
        RefusalReason::ChildOwnConsent { consent },
        RefusalReason::GrantorNotRegisteredRepresentative {
            consent,
            representative: RepresentativeId::new("guardian-1").unwrap(),
        },
        RefusalReason::ConsentNotInForce {
            consent,
            why: NotInForce::Revoked { at: Timestamp(5) },
        },
        RefusalReason::ConsentDoesNotCoverRecipient {
            consent,
            recipient: agency.clone(),
            role: Role::LicensedNgo,
        },
        RefusalReason::RecipientIsSender {
            agency: agency.clone(),
        },
        RefusalReason::ConsentRecipientNotInRoster {
            consent,
            recipient: agency,
        },
        RefusalReason::ConsentDoesNotCoverCategory {
            consent,
            category: Category::Medical,
        },
        RefusalReason::ConsentDoesNotCoverPurpose {
            consent,
            purpose: Purpose::Assistance,
        },
        RefusalReason::NotInAgreement {
            category: Category::Investigation,
            role: Role::LicensedNgo,
            purpose: Purpose::Assistance,
        },
    ]
}

fn variant_name(reason: &RefusalReason) -> String {
    // serde_json writes an externally tagged enum as "Name" or {"Name": …}.
    match serde_json::to_value(reason).unwrap() {
        serde_json::Value::String(name) => name,
        serde_json::Value::Object(map) => map.keys().next().unwrap().clone(),
        other => panic!("unexpected encoding {other}"),
    }
}

/// The policy refusals map one to one to the client's errors: every reason the policy can
/// give reaches a caller as `policy_refused` with a code of its own, its article and the
/// refusal's log index.
#[test]
fn refusal_codes_map_one_to_one() {
    let all: BTreeSet<&str> = variant_names::<RefusalReason>().iter().copied().collect();
    let reasons = every_reason();
    let sampled: BTreeSet<String> = reasons.iter().map(variant_name).collect();
    assert_eq!(
        all,
        sampled.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        "RefusalReason has reasons this test (and so perhaps the service) does not know"
    );
    let mut codes = BTreeSet::new();
    for (i, reason) in reasons.into_iter().enumerate() {
        let error = ApiError::from_client(&ClientError::Refused {
            reason: reason.clone(),
            log_index: 40 + i as u64,
        });
        assert_eq!(error.status().as_u16(), 422);
        let body: PolicyRefusal = serde_json::from_value(error.body()).unwrap();
        assert_eq!(body.code, "policy_refused");
        assert_ne!(body.reason, RefusalCode::Unrecognized, "{reason:?}");
        assert_eq!(body.reason, RefusalCode::of(&reason));
        assert_eq!(body.article, reason.article());
        assert_eq!(body.log_index, 40 + i as u64);
        assert_eq!(body.message, reason.to_string());
        assert!(
            codes.insert(body.reason.as_str()),
            "two reasons share {:?}",
            body.reason
        );
    }
    // And the contract lists exactly these codes (plus the one for a future reason).
    let doc: serde_json::Value = serde_json::from_str(&streha_api::openapi::document()).unwrap();
    let listed: BTreeSet<String> = doc["components"]["schemas"]["RefusalCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .filter(|c| c != "unrecognized")
        .collect();
    assert_eq!(listed, codes);
}

/// The other client errors land in their own classes.
#[test]
fn client_errors_map_by_fault() {
    use streha_wire::{ErrorCode, RemoteError};
    let cases = [
        (
            ClientError::Remote(RemoteError::new(ErrorCode::NotFound, "no such subject")),
            404,
            "not_found",
        ),
        (
            ClientError::Remote(RemoteError::new(ErrorCode::BadRequest, "bad")),
            400,
            "node_rejected",
        ),
        (
            ClientError::Remote(RemoteError::new(ErrorCode::Conflict, "dup")),
            409,
            "node_conflict",
        ),
        (
            ClientError::Remote(RemoteError::new(ErrorCode::Unavailable, "busy")),
            503,
            "node_unavailable",
        ),
        (
            ClientError::Remote(RemoteError::new(ErrorCode::Unauthorized, "who")),
            502,
            "node_error",
        ),
        (
            ClientError::Remote(RemoteError::new(ErrorCode::VerificationFailed, "sig")),
            502,
            "verification_failed",
        ),
        (
            ClientError::ProtectionCategory {
                category: Category::ProtectorIdentity,
            },
            422,
            "protection_category",
        ),
        (
            ClientError::UnknownRecipient {
                agency: AgencyId::new("nobody").unwrap(),
            },
            400,
            "invalid_value",
        ),
        (ClientError::Randomness, 500, "internal"),
    ];
    for (error, status, code) in cases {
        let api = ApiError::from_client(&error);
        assert_eq!(api.status().as_u16(), status, "{error}");
        assert_eq!(api.code(), code, "{error}");
    }
}
