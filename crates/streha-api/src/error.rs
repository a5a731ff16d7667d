//! Every error the service answers, its HTTP status, its stable code, and its JSON schema;
//! and the one mapping from the client library's errors to them ([`ApiError::from_client`]).
//!
//! Each kind of error has a schema of its own in the OpenAPI document, and every body
//! carries a stable `code` (a caller branches on it, never on `message`, which is for
//! people). Messages never carry record content, key bytes or tokens.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use streha_client::{ClientError, Fault};
use streha_core::{Category, CategorySet, RefusalReason};
use streha_wire::ErrorCode;
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::model::{CategoryName, RefusalCode};

/// The disclosure policy refused (Law No. 04/L-218). The refusal is logged in the node's
/// audit log at `log_index`; nothing left the agency. HTTP 422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyRefusal {
    /// Always `policy_refused`.
    #[schema(pattern = "^policy_refused$")]
    pub code: String,
    /// The exact rule that failed, one code per refusal reason of the policy
    /// (`streha_core::RefusalReason`).
    pub reason: RefusalCode,
    /// The articles of Law No. 04/L-218 the rule comes from (empty for a well-formedness
    /// rule).
    pub article: String,
    /// Index of the node's `refused` entry in its audit log.
    pub log_index: u64,
    /// The reason in words, with what to do.
    pub message: String,
    /// What the reason names (the category, consent, role, … at fault), as far as it
    /// names anything.
    pub details: RefusalDetails,
}

/// What a refusal reason names. Only the fields the reason has are present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalDetails {
    /// The category at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryName>,
    /// Declared categories (content mismatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<Vec<CategoryName>>,
    /// Carried categories (content mismatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<Vec<CategoryName>>,
    /// The agency at fault (unknown sender or recipient, recipient not covered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// The subject at fault (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The consent at fault (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// The recipient's (or sender's) role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The representative at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<String>,
    /// How many approvals verified (urgent danger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_approvals: Option<u32>,
    /// Why the consent is not in force, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in_force: Option<String>,
}

/// A protection category was sent (Art. 18.4, 18.6): refused by the service before
/// anything was sealed, sent or logged. HTTP 422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProtectionRefusal {
    /// Always `protection_category`.
    #[schema(pattern = "^protection_category$")]
    pub code: String,
    /// The protection category.
    pub category: String,
    /// Always `Art. 18.4, 18.6`.
    pub article: String,
    /// What to do.
    pub message: String,
}

/// Something the node sent did not verify (its roster, a checkpoint, a proof, an envelope
/// in the inbox): a security event until explained. HTTP 502.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerificationFailure {
    /// Always `verification_failed`.
    #[schema(pattern = "^verification_failed$")]
    pub code: String,
    /// What did not verify: `roster`, `checkpoint`, `inclusion_proof`, `consistency`,
    /// `bundle`, `envelope`, `sender`, `node_answer`.
    pub what: String,
    /// The check that failed.
    pub message: String,
}

/// A received record broke its declaration: a provable violation by the sending agency,
/// reported to the node (logged as `violation`). The content is not released. HTTP 502.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SenderViolation {
    /// Always `sender_violation`.
    #[schema(pattern = "^sender_violation$")]
    pub code: String,
    /// The envelope.
    pub envelope: String,
    /// The sending agency.
    pub sender: String,
    /// The categories it declared.
    pub declared: Vec<CategoryName>,
    /// The categories it carried.
    pub found: Vec<CategoryName>,
    /// Index of the node's `violation` entry, or null if reporting it failed.
    pub log_index: Option<u64>,
    /// In words.
    pub message: String,
}

/// The thing named does not exist: an unknown subject, consent, envelope, log entry, or
/// path. HTTP 404.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotFound {
    /// Always `not_found`.
    #[schema(pattern = "^not_found$")]
    pub code: String,
    /// What was not found.
    pub message: String,
}

/// No valid bearer token. HTTP 401, with `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Unauthorized {
    /// `token_missing` (no `Authorization` header), `token_malformed` (not
    /// `Bearer <token>`), or `token_unknown` (no caller has this token).
    #[schema(pattern = "^token_(missing|malformed|unknown)$")]
    pub code: String,
    /// What to do.
    pub message: String,
}

/// The caller is known but its scopes do not include the one this endpoint needs.
/// HTTP 403.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Forbidden {
    /// Always `scope_missing`.
    #[schema(pattern = "^scope_missing$")]
    pub code: String,
    /// The caller.
    pub caller: String,
    /// The scope needed.
    pub scope: String,
    /// What to do.
    pub message: String,
}

/// The request is malformed. HTTP 400 (405 for `method_not_allowed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BadRequest {
    /// `malformed_json` (not JSON, or not the expected shape), `unknown_field` (a field
    /// the schema does not have), `invalid_value` (a field's value is not acceptable),
    /// `invalid_parameter` (a path or query parameter), `invalid_idempotency_key`,
    /// `node_rejected` (the node refused the request as malformed), `method_not_allowed`.
    pub code: BadRequestCode,
    /// The field or parameter at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// The stable codes of [`BadRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BadRequestCode {
    /// Not JSON, or not the expected shape (a missing field, a wrong type).
    MalformedJson,
    /// A field the schema does not have.
    UnknownField,
    /// A field's value is not acceptable.
    InvalidValue,
    /// A path or query parameter is not acceptable.
    InvalidParameter,
    /// The idempotency key is malformed, or the header and body disagree.
    InvalidIdempotencyKey,
    /// The node refused the request as malformed.
    NodeRejected,
    /// The path exists, but not with this method.
    MethodNotAllowed,
}

/// The body is not `application/json`. HTTP 415.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnsupportedMediaType {
    /// Always `unsupported_media_type`.
    #[schema(pattern = "^unsupported_media_type$")]
    pub code: String,
    /// What to do.
    pub message: String,
}

/// The body is larger than the service reads. Refused from its `Content-Length` before any
/// of it is read, or as soon as a chunked body passes the limit. HTTP 413.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayloadTooLarge {
    /// Always `body_too_large`.
    #[schema(pattern = "^body_too_large$")]
    pub code: String,
    /// The limit in bytes (`limits.max_body_bytes`).
    pub limit: u64,
    /// What to do.
    pub message: String,
}

/// The request conflicts with an earlier one. HTTP 409.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Conflict {
    /// `idempotency_key_reused` (the key was used by this caller for a different
    /// request) or `node_conflict` (the node holds something else under this id).
    #[schema(pattern = "^(idempotency_key_reused|node_conflict)$")]
    pub code: String,
    /// What to do.
    pub message: String,
}

/// The node cannot be reached or is unavailable, or the request took too long: retry
/// later. For a submission with an idempotency key, `envelope` names the sealed envelope
/// kept for the retry: retry with the same key and it is submitted again, never twice.
/// HTTP 503.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Unavailable {
    /// `node_unavailable` or `request_timeout`.
    #[schema(pattern = "^(node_unavailable|request_timeout)$")]
    pub code: String,
    /// The envelope of a submission that may or may not have reached the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
    /// What happened.
    pub message: String,
}

/// The node answered with an error that is not the caller's: it refused this service's
/// own credentials, or failed inside. HTTP 502.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeError {
    /// Always `node_error`.
    #[schema(pattern = "^node_error$")]
    pub code: String,
    /// The node's error code: `Unauthorized`, `Internal`, … (`spec/protocol.md` §5).
    pub node_code: String,
    /// The node's message.
    pub message: String,
}

/// The service failed inside, or is misconfigured. HTTP 500.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Internal {
    /// `internal` or `service_misconfigured`.
    #[schema(pattern = "^(internal|service_misconfigured)$")]
    pub code: String,
    /// What happened (no content, no secrets).
    pub message: String,
}

/// A refused disclosure (HTTP 422): by the node's policy, logged ([`PolicyRefusal`]), or a
/// protection category refused by the service before sealing ([`ProtectionRefusal`]). Tell
/// them apart by `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DisclosureRefusal {
    /// `policy_refused`.
    Policy(Box<PolicyRefusal>),
    /// `protection_category`.
    Protection(ProtectionRefusal),
}

/// A received record that cannot be released (HTTP 502): it does not verify
/// ([`VerificationFailure`]), or its content breaks its declaration ([`SenderViolation`]).
/// Tell them apart by `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OpenFailure {
    /// `verification_failed`.
    Verification(VerificationFailure),
    /// `sender_violation`.
    Violation(Box<SenderViolation>),
}

/// An error answer of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiError {
    /// 422 `policy_refused`.
    PolicyRefusal(Box<PolicyRefusal>),
    /// 422 `protection_category`.
    Protection(ProtectionRefusal),
    /// 502 `verification_failed`.
    Verification(VerificationFailure),
    /// 502 `sender_violation`.
    Violation(Box<SenderViolation>),
    /// 404 `not_found`.
    NotFound(NotFound),
    /// 401 `token_*`.
    Unauthorized(Unauthorized),
    /// 403 `scope_missing`.
    Forbidden(Forbidden),
    /// 400 (405) the codes of [`BadRequestCode`].
    BadRequest(BadRequest),
    /// 415 `unsupported_media_type`.
    UnsupportedMediaType(UnsupportedMediaType),
    /// 413 `body_too_large`.
    PayloadTooLarge(PayloadTooLarge),
    /// 409 `idempotency_key_reused`, `node_conflict`.
    Conflict(Conflict),
    /// 503 `node_unavailable`, `request_timeout`.
    Unavailable(Unavailable),
    /// 502 `node_error`.
    Node(NodeError),
    /// 500 `internal`, `service_misconfigured`.
    Internal(Internal),
}

impl ApiError {
    /// A 400 with `code`, naming `field`.
    pub fn bad_request(
        code: BadRequestCode,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError::BadRequest(BadRequest {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        })
    }

    /// A 400 `invalid_value` for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::bad_request(BadRequestCode::InvalidValue, Some(field), message)
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(NotFound {
            code: "not_found".into(),
            message: message.into(),
        })
    }

    /// A 401 with `code`.
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized(Unauthorized {
            code: code.into(),
            message: message.into(),
        })
    }

    /// A 403: `caller` lacks `scope`.
    pub fn forbidden(caller: &str, scope: Scope) -> Self {
        ApiError::Forbidden(Forbidden {
            code: "scope_missing".into(),
            caller: caller.into(),
            scope: scope.as_str().into(),
            message: format!(
                "caller `{caller}` does not hold the scope `{scope}` this endpoint needs; ask the service's operator to add it (`streha api token add … --scope {scope}`)"
            ),
        })
    }

    /// A 413 for `limit`.
    pub fn too_large(limit: usize) -> Self {
        ApiError::PayloadTooLarge(PayloadTooLarge {
            code: "body_too_large".into(),
            limit: limit as u64,
            message: format!(
                "the body is larger than {limit} bytes, the service's limit (limits.max_body_bytes); send less, e.g. large documents in several disclosures"
            ),
        })
    }

    /// A 409 with `code`.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ApiError::Conflict(Conflict {
            code: code.into(),
            message: message.into(),
        })
    }

    /// A 503 with `code`, naming a pending envelope.
    pub fn unavailable(code: &str, envelope: Option<String>, message: impl Into<String>) -> Self {
        ApiError::Unavailable(Unavailable {
            code: code.into(),
            envelope,
            message: message.into(),
        })
    }

    /// A 500 with `code`.
    pub fn internal(code: &str, message: impl Into<String>) -> Self {
        ApiError::Internal(Internal {
            code: code.into(),
            message: message.into(),
        })
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::PolicyRefusal(_) | ApiError::Protection(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Verification(_) | ApiError::Violation(_) | ApiError::Node(_) => {
                StatusCode::BAD_GATEWAY
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(b) if b.code == BadRequestCode::MethodNotAllowed => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> String {
        self.body()
            .get("code")
            .and_then(|c| c.as_str())
            .unwrap_or("internal")
            .to_owned()
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let value = match self {
            ApiError::PolicyRefusal(e) => serde_json::to_value(e),
            ApiError::Protection(e) => serde_json::to_value(e),
            ApiError::Verification(e) => serde_json::to_value(e),
            ApiError::Violation(e) => serde_json::to_value(e),
            ApiError::NotFound(e) => serde_json::to_value(e),
            ApiError::Unauthorized(e) => serde_json::to_value(e),
            ApiError::Forbidden(e) => serde_json::to_value(e),
            ApiError::BadRequest(e) => serde_json::to_value(e),
            ApiError::UnsupportedMediaType(e) => serde_json::to_value(e),
            ApiError::PayloadTooLarge(e) => serde_json::to_value(e),
            ApiError::Conflict(e) => serde_json::to_value(e),
            ApiError::Unavailable(e) => serde_json::to_value(e),
            ApiError::Node(e) => serde_json::to_value(e),
            ApiError::Internal(e) => serde_json::to_value(e),
        };
        value.unwrap_or_else(|_| serde_json::json!({"code": "internal", "message": "error"}))
    }

    /// The one mapping from the client library's errors, by fault
    /// ([`streha_client::Fault`]); a policy refusal keeps its exact reason.
    pub fn from_client(error: &ClientError) -> Self {
        use ClientError as E;
        match error {
            E::Refused { reason, log_index }
            | E::ConsentRefused {
                reason, log_index, ..
            } => ApiError::PolicyRefusal(Box::new(policy_refusal(reason, *log_index))),
            E::RecipientIsSender { .. } => Self::invalid("recipient", error.to_string()),
            E::ProtectionCategory { category } => protection(*category),
            E::Remote(remote) => match remote.code {
                ErrorCode::NotFound => Self::not_found(remote.message.clone()),
                ErrorCode::BadRequest => Self::bad_request(
                    BadRequestCode::NodeRejected,
                    None,
                    format!("the node refused the request: {}", remote.message),
                ),
                ErrorCode::Conflict => Self::conflict("node_conflict", remote.message.clone()),
                ErrorCode::Unavailable => Self::unavailable(
                    "node_unavailable",
                    None,
                    format!("the node is unavailable; retry later: {}", remote.message),
                ),
                ErrorCode::VerificationFailed => ApiError::Verification(VerificationFailure {
                    code: "verification_failed".into(),
                    what: "node_answer".into(),
                    message: remote.message.clone(),
                }),
                other => ApiError::Node(NodeError {
                    code: "node_error".into(),
                    node_code: format!("{other:?}"),
                    message: remote.message.clone(),
                }),
            },
            E::Violation {
                envelope,
                sender,
                declared,
                found,
                log_index,
                ..
            } => ApiError::Violation(Box::new(SenderViolation {
                code: "sender_violation".into(),
                envelope: envelope.to_string(),
                sender: sender.to_string(),
                declared: names(*declared),
                found: names(*found),
                log_index: *log_index,
                message: error.to_string(),
            })),
            E::UnknownRecipient { .. } => Self::invalid("recipient", error.to_string()),
            E::Record(_) | E::Seal(_) | E::DeclarationMismatch { .. } => {
                Self::invalid("fields", error.to_string())
            }
            E::Consent(_) => Self::invalid("consent", error.to_string()),
            E::Randomness => Self::internal("internal", error.to_string()),
            E::InvalidArgument(_) => {
                Self::bad_request(BadRequestCode::InvalidValue, None, error.to_string())
            }
            other => match other.fault() {
                Fault::Transport => Self::unavailable(
                    "node_unavailable",
                    None,
                    format!("the node cannot be reached; retry later: {other}"),
                ),
                Fault::Verification => ApiError::Verification(VerificationFailure {
                    code: "verification_failed".into(),
                    what: verification_what(other).into(),
                    message: other.to_string(),
                }),
                _ => Self::internal("service_misconfigured", other.to_string()),
            },
        }
    }
}

fn verification_what(error: &ClientError) -> &'static str {
    use ClientError as E;
    match error {
        E::Roster(_) => "roster",
        E::Checkpoint(_) | E::CheckpointOrigin { .. } => "checkpoint",
        E::InclusionProof { .. } => "inclusion_proof",
        E::Inconsistent { .. } => "consistency",
        E::Bundle(_) => "bundle",
        E::Envelope { .. } => "envelope",
        E::UnknownSender { .. } => "sender",
        _ => "node_answer",
    }
}

/// 422 for a protection category caught before sealing.
pub(crate) fn protection(category: Category) -> ApiError {
    ApiError::Protection(ProtectionRefusal {
        code: "protection_category".into(),
        category: category.as_str().into(),
        article: "Art. 18.4, 18.6".into(),
        message: format!(
            "category `{category}` is protection data (protection measures, the persons who protect or assist, shelter locations) and can never be disclosed, whatever the consent, agreement, role or purpose (Art. 18.4, 18.6); nothing was sealed, sent or logged; remove the field"
        ),
    })
}

fn names(set: CategorySet) -> Vec<CategoryName> {
    set.iter()
        .map(|c| CategoryName(c.as_str().into()))
        .collect()
}

/// The body of a policy refusal.
pub(crate) fn policy_refusal(reason: &RefusalReason, log_index: u64) -> PolicyRefusal {
    use RefusalReason as R;
    let mut details = RefusalDetails::default();
    let category = |c: &Category| Some(CategoryName(c.as_str().into()));
    match reason {
        R::ProtectionCategory { category: c } | R::NoConsentForAssistance { category: c } => {
            details.category = category(c);
        }
        R::EmptyCategories => {}
        R::ContentMismatch { declared, found } => {
            details.declared = Some(names(*declared));
            details.found = Some(names(*found));
        }
        R::UnknownSender { sender } => details.agency = Some(sender.to_string()),
        R::UnknownRecipient { recipient } => details.agency = Some(recipient.to_string()),
        R::UnknownSubject { subject } | R::SubjectClosed { subject } => {
            details.subject = Some(subject.to_string());
        }
        R::SubjectMismatch { header, .. } => details.subject = Some(header.to_string()),
        R::UrgentDangerSenderRole { role } => details.role = Some(role.to_string()),
        R::UrgentDangerNeedsTwoApprovers { verified } => {
            details.verified_approvals = Some(*verified);
        }
        R::ChildIdentificationOutsideAgreement {
            category: c,
            role,
            purpose,
        }
        | R::NotInAgreement {
            category: c,
            role,
            purpose,
        } => {
            details.category = category(c);
            details.role = Some(role.to_string());
            details.purpose = Some(purpose.to_string());
        }
        R::ConsentUnknown { consent } | R::ChildOwnConsent { consent } => {
            details.consent = Some(consent.to_string());
        }
        R::ConsentSubjectMismatch { consent, subject } => {
            details.consent = Some(consent.to_string());
            details.subject = Some(subject.to_string());
        }
        R::GrantorNotRegisteredRepresentative {
            consent,
            representative,
        } => {
            details.consent = Some(consent.to_string());
            details.representative = Some(representative.to_string());
        }
        R::ConsentNotInForce { consent, why } => {
            details.consent = Some(consent.to_string());
            details.not_in_force = Some(why.to_string());
        }
        R::ConsentDoesNotCoverRecipient {
            consent,
            recipient,
            role,
        } => {
            details.consent = Some(consent.to_string());
            details.agency = Some(recipient.to_string());
            details.role = Some(role.to_string());
        }
        R::ConsentDoesNotCoverCategory {
            consent,
            category: c,
        } => {
            details.consent = Some(consent.to_string());
            details.category = category(c);
        }
        R::ConsentDoesNotCoverPurpose { consent, purpose } => {
            details.consent = Some(consent.to_string());
            details.purpose = Some(purpose.to_string());
        }
        R::RecipientIsSender { agency } => details.agency = Some(agency.to_string()),
        R::ConsentRecipientNotInRoster { consent, recipient } => {
            details.consent = Some(consent.to_string());
            details.agency = Some(recipient.to_string());
        }
        _ => {}
    }
    PolicyRefusal {
        code: "policy_refused".into(),
        reason: RefusalCode::of(reason),
        article: reason.article().into(),
        log_index,
        message: reason.to_string(),
        details,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"streha-api\""),
            );
        }
        response
    }
}
