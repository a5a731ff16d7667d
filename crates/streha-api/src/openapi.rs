//! The OpenAPI 3.1 document, generated from the handlers' attributes and the types'
//! derives (`utoipa`): served at `/openapi.json`, committed as `spec/openapi.json`, and a
//! test fails when the two differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{
    BadRequest, BadRequestCode, Conflict, DisclosureRefusal, Forbidden, Internal, NodeError,
    NotFound, OpenFailure, PayloadTooLarge, PolicyRefusal, ProtectionRefusal, RefusalDetails,
    SenderViolation, Unauthorized, Unavailable, UnsupportedMediaType, VerificationFailure,
};
use crate::model::{
    AddRepresentative, AgeStatusName, CategoryName, Checkpoint, ConsentGranted, ConsentList,
    ConsentView, Delivery, DisclosureAccepted, EntryProof, FieldCategory, GrantConsent,
    HeldDelivery, HeldPage, InboxItem, InboxPage, Logged, OpenedRecord, PurposeName,
    RecordAgeStatus, RecordField, RefusalCode, RegisterSubject, RevokeConsent, RoleName,
    SubjectRegistered, SubmitDisclosure,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A caller's token, from `streha api token add --name NAME --scope SCOPE …`. \
                         The scopes listed per operation are the caller scopes it needs: subjects, \
                         consent, disclose, delivery, inbox, inbox:open, audit.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Streha application service",
        description = "An agency's Streha application as a local HTTP/JSON service: register subjects, record consent, disclose records end-to-end sealed, read the inbox, and verify the audit log, for case-management systems in any language. The service holds the agency's signing and encryption keys and talks to the agency's node with the Streha client library; the node never sees record content. It listens on a Unix socket or a loopback address only. Every error is a JSON object with a stable `code`; policy refusals carry the exact rule, its article of Law No. 04/L-218, and the index of the refusal in the node's audit log.",
        version = "1",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::routes::register_subject,
        crate::routes::add_representative,
        crate::routes::record_age_status,
        crate::routes::grant_consent,
        crate::routes::revoke_consent,
        crate::routes::list_consents,
        crate::routes::submit_disclosure,
        crate::routes::delivery_status,
        crate::routes::held_deliveries,
        crate::routes::list_inbox,
        crate::routes::open_record,
        crate::routes::checkpoint,
        crate::routes::prove_entry,
        crate::routes::export_log,
        crate::routes::openapi,
    ),
    components(schemas(
        AddRepresentative, AgeStatusName, CategoryName, Checkpoint, ConsentGranted, ConsentList,
        ConsentView, Delivery, DisclosureAccepted, EntryProof, FieldCategory, GrantConsent,
        HeldDelivery, HeldPage, InboxItem, InboxPage, Logged, OpenedRecord, PurposeName,
        RecordAgeStatus, RecordField, RefusalCode, RegisterSubject, RevokeConsent, RoleName,
        SubjectRegistered, SubmitDisclosure,
        BadRequest, BadRequestCode, Conflict, DisclosureRefusal, Forbidden, Internal, NodeError,
        NotFound, OpenFailure, PayloadTooLarge, PolicyRefusal, ProtectionRefusal, RefusalDetails, SenderViolation,
        Unauthorized, Unavailable, UnsupportedMediaType, VerificationFailure,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "subjects", description = "Pseudonymous subjects, their representatives and age status (scope `subjects`)."),
        (name = "consent", description = "Consent (Art. 18.3) (scope `consent`)."),
        (name = "disclosures", description = "Disclosures and their delivery (scopes `disclose`, `delivery`)."),
        (name = "inbox", description = "Received records (scopes `inbox`, `inbox:open`)."),
        (name = "audit", description = "The node's audit log, verified (scope `audit`)."),
        (name = "contract", description = "This document."),
    ),
)]
struct ApiDoc;

/// The OpenAPI document as a value.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The OpenAPI document as pretty-printed JSON, ending in a newline: exactly the committed
/// `spec/openapi.json`.
pub fn document() -> String {
    let mut text = openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
