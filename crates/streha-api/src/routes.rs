//! The endpoints: each authorizes its caller first (before reading a body), then checks its
//! input, then asks the node through the client library, then answers.
//!
//! The `#[utoipa::path]` attribute of each handler is its part of the OpenAPI document:
//! the document is generated from these, so it cannot drift from the code.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use streha_client::{Client, ClientError, DeliveryState, NewConsent, SealedDisclosure};
use streha_core::{
    AgeStatus, AgencyId, Category, CategorySet, ConsentId, DisclosableCategory, EnvelopeId, Field,
    FieldValue, Grantor, OfficerId, Purpose, PurposeSet, Recipient, Record, RepresentativeId,
    SubjectId, Timestamp,
};
use utoipa::IntoParams;

use crate::auth::Scope;
use crate::body::read_json;
use crate::error::{
    ApiError, BadRequest, BadRequestCode, Conflict, DisclosureRefusal, Forbidden, Internal,
    NodeError, NotFound, OpenFailure, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType, VerificationFailure, protection,
};
use crate::idempotency::{Answer, RequestId, StoreError, Submission};
use crate::limits::{DEFAULT_PAGE, MAX_PAGE, MAX_WAIT};
use crate::model::{
    AddRepresentative, CategoryName, Checkpoint, ConsentGranted, ConsentList, ConsentView,
    Delivery, DisclosureAccepted, EntryProof, GrantConsent, HeldDelivery, HeldPage, InboxItem,
    InboxPage, Logged, OpenedRecord, PurposeName, RecordAgeStatus, RecordField, RegisterSubject,
    RevokeConsent, SubjectRegistered, SubmitDisclosure,
};
use crate::service::ApiState;

/// The shared state, as handlers take it.
pub(crate) type Shared = State<Arc<ApiState>>;

/// The header of a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

// ----- Helpers ------------------------------------------------------------------------------

fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn client_error(error: ClientError) -> ApiError {
    ApiError::from_client(&error)
}

fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(millis)
}

/// A parse error of a body field or of a path/query parameter.
#[derive(Clone, Copy)]
enum Place {
    Body,
    Parameter,
}

fn refuse(place: Place, field: &str, message: String) -> ApiError {
    let code = match place {
        Place::Body => BadRequestCode::InvalidValue,
        Place::Parameter => BadRequestCode::InvalidParameter,
    };
    ApiError::bad_request(code, Some(field), message)
}

/// The text a caller sent, cut short and quoted for a message (never record content: only
/// ids and names go through here).
fn quoted(text: &str) -> String {
    let cut: String = text.chars().take(64).collect();
    format!("`{}`", cut.escape_default())
}

fn parse_id<T: std::str::FromStr>(place: Place, field: &str, text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| {
        refuse(
            place,
            field,
            format!("{} is not an id: 32 lowercase hex digits", quoted(text)),
        )
    })
}

fn parse_name<T>(place: Place, field: &str, text: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| refuse(place, field, format!("{}: {e}", quoted(text))))
}

fn parse_age(field: &str, text: &str) -> Result<AgeStatus, ApiError> {
    parse_name(Place::Body, field, text)
}

fn grantor(text: &str) -> Result<Grantor, ApiError> {
    if text == "subject" {
        return Ok(Grantor::Subject);
    }
    match text.strip_prefix("representative:") {
        Some(id) => Ok(Grantor::Representative(parse_name(
            Place::Body,
            "granted_by",
            id,
        )?)),
        None => Err(ApiError::invalid(
            "granted_by",
            format!("{}: write `subject` or `representative:<id>`", quoted(text)),
        )),
    }
}

fn grantor_text(grantor: &Grantor) -> String {
    match grantor {
        Grantor::Subject => "subject".into(),
        Grantor::Representative(id) => format!("representative:{id}"),
        #[allow(unreachable_patterns)]
        _ => "unknown".into(),
    }
}

fn recipient(text: &str) -> Result<Recipient, ApiError> {
    if let Some(agency) = text.strip_prefix("agency:") {
        return Ok(Recipient::Agency(parse_name(
            Place::Body,
            "recipients",
            agency,
        )?));
    }
    if let Some(role) = text.strip_prefix("role:") {
        return Ok(Recipient::Role(parse_name(
            Place::Body,
            "recipients",
            role,
        )?));
    }
    Err(ApiError::invalid(
        "recipients",
        format!("{}: write `agency:<id>` or `role:<role>`", quoted(text)),
    ))
}

fn recipient_text(recipient: &Recipient) -> String {
    match recipient {
        Recipient::Agency(a) => format!("agency:{a}"),
        Recipient::Role(r) => format!("role:{r}"),
        #[allow(unreachable_patterns)]
        _ => "unknown".into(),
    }
}

fn category_names(set: CategorySet) -> Vec<CategoryName> {
    set.iter()
        .map(|c| CategoryName(c.as_str().into()))
        .collect()
}

fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(refuse(
            Place::Parameter,
            "limit",
            format!("must be 1 ..= {MAX_PAGE}"),
        )),
    }
}

fn wait_of(wait_ms: Option<u64>, place: Place) -> Result<Option<Duration>, ApiError> {
    match wait_ms {
        None => Ok(None),
        Some(ms) if u128::from(ms) <= MAX_WAIT.as_millis() => Ok(Some(Duration::from_millis(ms))),
        Some(_) => Err(refuse(
            place,
            "wait_ms",
            format!("must be at most {}", MAX_WAIT.as_millis()),
        )),
    }
}

fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(
        BadRequestCode::InvalidParameter,
        None,
        format!(
            "the query string is not acceptable: {}",
            rejection.body_text()
        ),
    )
}

fn delivery(state: DeliveryState) -> Delivery {
    let mut out = Delivery {
        state: String::new(),
        attempts: None,
        reason: None,
        receipt_index: None,
        receiver_index: None,
        receipt_epoch: None,
    };
    match state {
        DeliveryState::Queued {
            attempts,
            last_error,
        } => {
            out.state = "queued".into();
            out.attempts = Some(attempts);
            out.reason = last_error;
        }
        DeliveryState::Held { reason } => {
            out.state = "held".into();
            out.reason = Some(reason);
        }
        DeliveryState::Delivered {
            receipt_index,
            receiver_index,
        } => {
            out.state = "delivered".into();
            out.receipt_index = Some(receipt_index);
            out.receiver_index = Some(receiver_index);
        }
        DeliveryState::DeliveredInEarlierEpoch {
            epoch,
            receipt_index,
            receiver_index,
        } => {
            out.state = "delivered".into();
            out.receipt_epoch = Some(epoch);
            out.receipt_index = Some(receipt_index);
            out.receiver_index = Some(receiver_index);
        }
        #[allow(unreachable_patterns)]
        _ => {
            out.state = "unknown".into();
            out.reason = Some("a delivery state this service cannot name".into());
        }
    }
    out
}

// ----- Subjects -----------------------------------------------------------------------------

/// Register a subject under a fresh random pseudonymous id.
#[utoipa::path(
    post,
    path = "/v1/subjects",
    tag = "subjects",
    operation_id = "register_subject",
    request_body = RegisterSubject,
    security(("bearer" = ["subjects"])),
    responses(
        (status = 201, description = "Registered; logged as `subject registered`.", body = SubjectRegistered),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `subjects` scope.", body = Forbidden),
        (status = 413, description = "Body too large.", body = PayloadTooLarge),
        (status = 415, description = "Not JSON.", body = UnsupportedMediaType),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn register_subject(
    State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Subjects)?;
    let request: RegisterSubject = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let age = parse_age("age_status", &request.age_status.0)?;
    if request.representatives.len() > streha_core::MAX_REPRESENTATIVES {
        return Err(ApiError::invalid(
            "representatives",
            format!(
                "at most {} representatives",
                streha_core::MAX_REPRESENTATIVES
            ),
        ));
    }
    let representatives = request
        .representatives
        .iter()
        .map(|r| parse_name::<RepresentativeId>(Place::Body, "representatives", r))
        .collect::<Result<Vec<_>, _>>()?;
    let client = state.node.client().await?;
    let (subject, log_index) = client
        .register_subject(age, representatives)
        .await
        .map_err(client_error)?;
    Ok(json_response(
        StatusCode::CREATED,
        &SubjectRegistered {
            subject: subject.to_string(),
            log_index,
        },
    ))
}

/// Register a legal representative of a subject.
#[utoipa::path(
    post,
    path = "/v1/subjects/{subject}/representatives",
    tag = "subjects",
    operation_id = "add_representative",
    params(("subject" = String, Path, description = "The subject (32 hex digits).")),
    request_body = AddRepresentative,
    security(("bearer" = ["subjects"])),
    responses(
        (status = 200, description = "Logged as `representative registered`.", body = Logged),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `subjects` scope.", body = Forbidden),
        (status = 404, description = "Unknown subject.", body = NotFound),
        (status = 413, description = "Body too large.", body = PayloadTooLarge),
        (status = 415, description = "Not JSON.", body = UnsupportedMediaType),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn add_representative(
    State(state): Shared,
    Path(subject): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Subjects)?;
    let subject: SubjectId = parse_id(Place::Parameter, "subject", &subject)?;
    let request: AddRepresentative = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let representative = parse_name(Place::Body, "representative", &request.representative)?;
    let client = state.node.client().await?;
    let log_index = client
        .add_representative(subject, representative)
        .await
        .map_err(client_error)?;
    Ok(json_response(StatusCode::OK, &Logged { log_index }))
}

/// Record a subject's age status.
#[utoipa::path(
    post,
    path = "/v1/subjects/{subject}/age-status",
    tag = "subjects",
    operation_id = "record_age_status",
    params(("subject" = String, Path, description = "The subject (32 hex digits).")),
    request_body = RecordAgeStatus,
    security(("bearer" = ["subjects"])),
    responses(
        (status = 200, description = "Logged as `age status recorded`.", body = Logged),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `subjects` scope.", body = Forbidden),
        (status = 404, description = "Unknown subject.", body = NotFound),
        (status = 413, description = "Body too large.", body = PayloadTooLarge),
        (status = 415, description = "Not JSON.", body = UnsupportedMediaType),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn record_age_status(
    State(state): Shared,
    Path(subject): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Subjects)?;
    let subject: SubjectId = parse_id(Place::Parameter, "subject", &subject)?;
    let request: RecordAgeStatus = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let age = parse_age("age_status", &request.age_status.0)?;
    let client = state.node.client().await?;
    let log_index = client
        .record_age_status(subject, age)
        .await
        .map_err(client_error)?;
    Ok(json_response(StatusCode::OK, &Logged { log_index }))
}

// ----- Consent ------------------------------------------------------------------------------

/// Record a consent (Art. 18.3) under a fresh random id.
#[utoipa::path(
    post,
    path = "/v1/consents",
    tag = "consent",
    operation_id = "grant_consent",
    request_body = GrantConsent,
    security(("bearer" = ["consent"])),
    responses(
        (status = 201, description = "Recorded; logged as `consent granted`.", body = ConsentGranted),
        (status = 400, description = "Malformed request, or terms the node refuses (an unregistered representative, a time beyond the clock skew).", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `consent` scope.", body = Forbidden),
        (status = 404, description = "Unknown subject.", body = NotFound),
        (status = 409, description = "The node holds a conflicting consent.", body = Conflict),
        (status = 413, description = "Body too large.", body = PayloadTooLarge),
        (status = 415, description = "Not JSON.", body = UnsupportedMediaType),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn grant_consent(
    State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Consent)?;
    let request: GrantConsent = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let subject: SubjectId = parse_id(Place::Body, "subject", &request.subject)?;
    let granted_by = grantor(&request.granted_by)?;
    if request.recipients.len() > streha_core::MAX_CONSENT_RECIPIENTS {
        return Err(ApiError::invalid(
            "recipients",
            format!("at most {} recipients", streha_core::MAX_CONSENT_RECIPIENTS),
        ));
    }
    let recipients = request
        .recipients
        .iter()
        .map(|r| recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    let categories = request
        .categories
        .iter()
        .map(|c| parse_name::<Category>(Place::Body, "categories", &c.0))
        .collect::<Result<CategorySet, _>>()?;
    let purposes = request
        .purposes
        .iter()
        .map(|p| parse_name::<Purpose>(Place::Body, "purposes", &p.0))
        .collect::<Result<PurposeSet, _>>()?;
    let mut evidence_hash = [0u8; 32];
    if request.evidence_blake3.len() != 64
        || request
            .evidence_blake3
            .bytes()
            .any(|b| b.is_ascii_uppercase())
        || hex::decode_to_slice(&request.evidence_blake3, &mut evidence_hash).is_err()
    {
        return Err(ApiError::invalid(
            "evidence_blake3",
            "64 lowercase hex digits: the BLAKE3 hash of the consent's evidence (e.g. the signed form)",
        ));
    }
    let recorded_by: OfficerId = parse_name(Place::Body, "recorded_by", &request.recorded_by)?;
    let now = now();
    let terms = NewConsent {
        subject,
        granted_by,
        recipients,
        categories,
        purposes,
        valid_from: request.valid_from.map_or(now, Timestamp::from_unix_millis),
        expires_at: Timestamp::from_unix_millis(request.expires_at),
        evidence_hash,
        recorded_by,
        recorded_at: request.recorded_at.map_or(now, Timestamp::from_unix_millis),
    };
    let client = state.node.client().await?;
    let (consent, log_index) = client.grant_consent(terms).await.map_err(client_error)?;
    Ok(json_response(
        StatusCode::CREATED,
        &ConsentGranted {
            consent: consent.to_string(),
            log_index,
        },
    ))
}

/// Revoke a consent.
#[utoipa::path(
    post,
    path = "/v1/consents/{consent}/revocation",
    tag = "consent",
    operation_id = "revoke_consent",
    params(("consent" = String, Path, description = "The consent (32 hex digits).")),
    request_body = RevokeConsent,
    security(("bearer" = ["consent"])),
    responses(
        (status = 200, description = "Logged as `consent revoked`.", body = Logged),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `consent` scope.", body = Forbidden),
        (status = 404, description = "Unknown consent.", body = NotFound),
        (status = 409, description = "Already revoked.", body = Conflict),
        (status = 413, description = "Body too large.", body = PayloadTooLarge),
        (status = 415, description = "Not JSON.", body = UnsupportedMediaType),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn revoke_consent(
    State(state): Shared,
    Path(consent): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Consent)?;
    let consent: ConsentId = parse_id(Place::Parameter, "consent", &consent)?;
    let request: RevokeConsent = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let recorded_by: OfficerId = parse_name(Place::Body, "recorded_by", &request.recorded_by)?;
    let revoked_at = request
        .revoked_at
        .map_or_else(now, Timestamp::from_unix_millis);
    let client = state.node.client().await?;
    let log_index = client
        .revoke_consent(consent, revoked_at, recorded_by)
        .await
        .map_err(client_error)?;
    Ok(json_response(StatusCode::OK, &Logged { log_index }))
}

/// The consents recorded for a subject.
#[utoipa::path(
    get,
    path = "/v1/subjects/{subject}/consents",
    tag = "consent",
    operation_id = "list_consents",
    params(("subject" = String, Path, description = "The subject (32 hex digits).")),
    security(("bearer" = ["consent"])),
    responses(
        (status = 200, description = "Every consent recorded for the subject.", body = ConsentList),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `consent` scope.", body = Forbidden),
        (status = 404, description = "Unknown subject.", body = NotFound),
        (status = 502, description = "The node's answer did not verify.", body = VerificationFailure),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn list_consents(
    State(state): Shared,
    Path(subject): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Consent)?;
    let subject: SubjectId = parse_id(Place::Parameter, "subject", &subject)?;
    let client = state.node.client().await?;
    let list = client.consents(subject).await.map_err(client_error)?;
    let consents = list
        .into_iter()
        .map(|status| {
            let grant = &status.grant;
            ConsentView {
                consent: grant.id().to_string(),
                subject: grant.subject().to_string(),
                granted_by: grantor_text(grant.granted_by()),
                recipients: grant.recipients().iter().map(recipient_text).collect(),
                categories: category_names(grant.categories()),
                purposes: grant
                    .purposes()
                    .iter()
                    .map(|p| PurposeName(p.as_str().into()))
                    .collect(),
                valid_from: grant.valid_from().unix_millis(),
                expires_at: grant.expires_at().unix_millis(),
                evidence_blake3: hex::encode(grant.evidence_hash()),
                recorded_by: grant.recorded_by().to_string(),
                recorded_at: grant.recorded_at().unix_millis(),
                revoked_at: status.revoked_at.map(Timestamp::unix_millis),
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, &ConsentList { consents }))
}

// ----- Disclosure ---------------------------------------------------------------------------

/// A disclosure request, checked: everything the service can refuse is refused before the
/// node is asked or anything is sealed.
struct Checked {
    subject: SubjectId,
    recipient: AgencyId,
    purpose: Purpose,
    consent: Option<ConsentId>,
    record: Record,
}

impl Checked {
    fn from_request(request: &SubmitDisclosure) -> Result<Self, ApiError> {
        // Art. 18.4, 18.6: a protection category is refused here, before anything else,
        // whatever else is wrong with the request.
        for field in &request.fields {
            if let Ok(category) = field.category.0.parse::<Category>()
                && category.is_protection()
            {
                tracing::warn!(%category, "a protection category was sent; refused before sealing");
                return Err(protection(category));
            }
        }
        let subject = parse_id(Place::Body, "subject", &request.subject)?;
        let recipient = parse_name(Place::Body, "recipient", &request.recipient)?;
        let purpose = parse_name(Place::Body, "purpose", &request.purpose.0)?;
        let consent = request
            .consent
            .as_deref()
            .map(|c| parse_id(Place::Body, "consent", c))
            .transpose()?;
        if request.fields.is_empty() {
            return Err(ApiError::invalid(
                "fields",
                "a disclosure carries at least one field",
            ));
        }
        let mut record = Record::new();
        for (i, field) in request.fields.iter().enumerate() {
            let at = format!("fields[{i}]");
            let category: DisclosableCategory =
                parse_name(Place::Body, &format!("{at}.category"), &field.category.0)?;
            let value = match (&field.text, &field.base64) {
                (Some(text), None) => FieldValue::Text(text.clone()),
                (None, Some(b64)) => FieldValue::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| {
                            ApiError::invalid(
                                &format!("{at}.base64"),
                                "not standard base64 (RFC 4648 §4, with padding)",
                            )
                        })?,
                ),
                _ => {
                    return Err(ApiError::invalid(
                        &at,
                        "give exactly one of `text` and `base64`",
                    ));
                }
            };
            let field = Field::new(category, field.name.clone(), value)
                .map_err(|e| ApiError::invalid(&at, e.to_string()))?;
            record
                .insert(field)
                .map_err(|e| ApiError::invalid(&at, e.to_string()))?;
        }
        Ok(Self {
            subject,
            recipient,
            purpose,
            consent,
            record,
        })
    }

    /// What identifies the request for idempotency (not the time, not the wait).
    fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut part = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        part(b"streha-api disclosure v1");
        part(self.subject.as_bytes());
        part(self.recipient.as_str().as_bytes());
        part(self.purpose.as_str().as_bytes());
        part(
            self.consent
                .map(|c| c.to_bytes())
                .as_ref()
                .map_or(&[][..], |c| &c[..]),
        );
        part(&self.record.encode());
        out
    }

    /// Seals for the recipient's key in the client's roster; a recipient the roster does not
    /// list is looked up once more in the node's current roster (an agency may have joined
    /// since the service connected).
    async fn seal(&self, client: &Client) -> Result<SealedDisclosure, ApiError> {
        match self.seal_once(client) {
            Err(ClientError::UnknownRecipient { .. }) => {
                client.refresh_roster().await.map_err(client_error)?;
                self.seal_once(client).map_err(client_error)
            }
            other => other.map_err(client_error),
        }
    }

    fn seal_once(&self, client: &Client) -> Result<SealedDisclosure, ClientError> {
        let mut builder = client.disclosure(self.subject, self.recipient.clone(), self.purpose);
        for field in self.record.fields() {
            builder = builder.with_field(field.clone())?;
        }
        if let Some(consent) = self.consent {
            builder = builder.consent(consent);
        }
        client.seal(builder.prepare()?)
    }
}

/// The idempotency key of a submission: the `Idempotency-Key` header or `request_id`.
fn request_id(headers: &HeaderMap, body: Option<&str>) -> Result<Option<RequestId>, ApiError> {
    let invalid = |message: &str| {
        ApiError::bad_request(
            BadRequestCode::InvalidIdempotencyKey,
            Some("request_id"),
            message,
        )
    };
    let header = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| invalid("the Idempotency-Key header is not visible ASCII"))?,
        ),
    };
    let text = match (header, body) {
        (Some(h), Some(b)) if h != b => {
            return Err(invalid(
                "the Idempotency-Key header and the body's request_id differ; send one, or the same",
            ));
        }
        (Some(h), _) => Some(h),
        (None, b) => b,
    };
    text.map(|t| {
        RequestId::new(t).ok_or_else(|| {
            invalid("an idempotency key is 1 to 128 of A-Z a-z 0-9 - _ . : (e.g. a UUID)")
        })
    })
    .transpose()
}

async fn store<T: Send + 'static>(
    state: &Arc<ApiState>,
    work: impl FnOnce(&crate::idempotency::IdempotencyStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || work(&state.idempotency))
        .await
        .map_err(|_| ApiError::internal("internal", "the idempotency store's task failed"))?
        .map_err(|e| {
            tracing::error!(error = %e, "idempotency store");
            ApiError::internal("internal", e.to_string())
        })
}

/// Answers an accepted submission, waiting for the delivery if asked (the node is asked
/// only then: a replayed answer needs no node).
async fn accepted(
    state: &ApiState,
    mut body: DisclosureAccepted,
    wait: Option<Duration>,
    replayed: bool,
) -> Response {
    if let Some(wait) = wait {
        let unknown = |reason: String| Delivery {
            state: "unknown".into(),
            attempts: None,
            reason: Some(reason),
            receipt_index: None,
            receiver_index: None,
            receipt_epoch: None,
        };
        body.delivery = Some(match body.envelope.parse::<EnvelopeId>() {
            Err(_) => unknown("the kept envelope id does not parse".into()),
            Ok(envelope) => match state.node.client().await {
                Err(e) => unknown(format!("the node cannot be asked: {}", e.code())),
                Ok(client) => match client.await_delivery(envelope, wait).await {
                    Ok(state) => delivery(state),
                    Err(e) => unknown(format!("the delivery state could not be read: {e}")),
                },
            },
        });
    }
    let mut response = json_response(StatusCode::CREATED, &body);
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// Submits `sealed`; keeps the answer under `key` when it is one (accepted or refused).
async fn submit_sealed(
    state: &Arc<ApiState>,
    client: &Client,
    sealed: SealedDisclosure,
    kept: Option<Submission>,
    wait: Option<Duration>,
) -> Result<Response, ApiError> {
    let envelope = sealed.envelope_id();
    let outcome = client.submit(&sealed).await;
    let (answer, result) = match outcome {
        Ok(submitted) => {
            let body = DisclosureAccepted {
                envelope: submitted.envelope.to_string(),
                log_index: submitted.index,
                delivery: None,
            };
            let answer = Answer {
                status: StatusCode::CREATED.as_u16(),
                body: serde_json::to_value(&body).unwrap_or_default(),
            };
            (Some(answer), Ok(body))
        }
        Err(error @ ClientError::Refused { .. }) => {
            let refusal = client_error(error);
            let answer = Answer {
                status: refusal.status().as_u16(),
                body: refusal.body(),
            };
            (Some(answer), Err(refusal))
        }
        Err(error) => {
            let mut refusal = client_error(error);
            if let ApiError::Unavailable(ref mut unavailable) = refusal
                && kept.is_some()
            {
                unavailable.envelope = Some(envelope.to_string());
                unavailable.message.push_str(
                    "; the sealed envelope is kept: retry with the same idempotency key and it is submitted again, never twice",
                );
            }
            (None, Err(refusal))
        }
    };
    if let (Some(kept), Some(answer)) = (kept, answer) {
        let caller = crate::auth::CallerName::new(&kept.caller);
        let id = RequestId::new(&kept.request_id);
        if let (Ok(caller), Some(id)) = (caller, id) {
            let record = kept.answered(answer);
            // The node has answered; if the answer cannot be kept, the record stays
            // pending and a retry submits the same envelope again (same answer).
            if let Err(e) = store(state, move |s| s.save(&caller, &id, &record)).await {
                tracing::error!(code = %e.code(), "the answer could not be kept; a retry will resubmit the same envelope");
            }
        }
    }
    match result {
        Ok(body) => Ok(accepted(state, body, wait, false).await),
        Err(e) => Err(e),
    }
}

/// Disclose a record to another member agency.
#[utoipa::path(
    post,
    path = "/v1/disclosures",
    tag = "disclosures",
    operation_id = "submit_disclosure",
    request_body = SubmitDisclosure,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "A request id (1 to 128 of A-Z a-z 0-9 - _ . :): a repeated request with the same key (from the same caller, with the same content) gets the first answer, and nothing is disclosed twice, across restarts of the service. Or give it as `request_id` in the body."),
    ),
    security(("bearer" = ["disclose"])),
    responses(
        (status = 201, description = "Allowed: logged as `disclosed` and queued for delivery. A replayed answer carries `Idempotent-Replayed: true`.", body = DisclosureAccepted),
        (status = 400, description = "Malformed request (a field, the idempotency key, an unknown recipient).", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `disclose` scope.", body = Forbidden),
        (status = 409, description = "The idempotency key was used by this caller for another request (`idempotency_key_reused`), or the node holds another envelope under this id.", body = Conflict),
        (status = 413, description = "Body too large.", body = PayloadTooLarge),
        (status = 415, description = "Not JSON.", body = UnsupportedMediaType),
        (status = 422, description = "Refused: by the node's policy, logged (`PolicyRefusal`, kept for replay under the idempotency key), or a protection category refused by the service before sealing (`ProtectionRefusal`, nothing logged).", body = DisclosureRefusal),
        (status = 502, description = "The node refused this service's credentials or failed.", body = NodeError),
        (status = 503, description = "The node is unavailable; retry (with the same idempotency key: the kept envelope is submitted again).", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn submit_disclosure(
    State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.authorize(&headers, Scope::Disclose)?.name.clone();
    let request: SubmitDisclosure = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let checked = Checked::from_request(&request)?;
    let key = request_id(&headers, request.request_id.as_deref())?;
    let wait = wait_of(request.wait_ms, Place::Body)?;

    let Some(key) = key else {
        let client = state.node.client().await?;
        let sealed = checked.seal(&client).await?;
        return submit_sealed(&state, &client, sealed, None, wait).await;
    };
    let _guard = state.idempotency.lock(&caller, &key).await;
    let fingerprint = state.idempotency.fingerprint(&checked.canonical());
    let existing = {
        let (caller, key) = (caller.clone(), key.clone());
        store(&state, move |s| s.load(&caller, &key)).await?
    };
    match existing {
        Some(kept) if kept.fingerprint != fingerprint => Err(ApiError::conflict(
            "idempotency_key_reused",
            format!(
                "the idempotency key {} was used by caller `{caller}` for a different request; use a new key for a new request",
                quoted(key.as_str())
            ),
        )),
        Some(kept) => match kept.answer {
            Some(answer) => {
                tracing::info!(caller = %caller, envelope = %kept.envelope_id, "idempotent replay of a kept answer");
                if answer.status == StatusCode::CREATED.as_u16()
                    && let Ok(body) =
                        serde_json::from_value::<DisclosureAccepted>(answer.body.clone())
                {
                    return Ok(accepted(&state, body, wait, true).await);
                }
                let status = StatusCode::from_u16(answer.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = json_response(status, &answer.body);
                response
                    .headers_mut()
                    .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
                Ok(response)
            }
            None => {
                let bytes = kept
                    .envelope_bytes()
                    .ok_or_else(|| {
                        ApiError::internal("internal", "a pending record without its envelope")
                    })?
                    .map_err(|e| ApiError::internal("internal", e.to_string()))?;
                let envelope = streha_crypto::Envelope::from_bytes(&bytes).map_err(|e| {
                    ApiError::internal(
                        "internal",
                        format!("the kept envelope does not decode: {e}"),
                    )
                })?;
                let sealed = SealedDisclosure::from_envelope(envelope).map_err(client_error)?;
                let client = state.node.client().await?;
                tracing::info!(caller = %caller, envelope = %sealed.envelope_id(), "submitting a kept envelope again");
                submit_sealed(&state, &client, sealed, Some(kept), wait).await
            }
        },
        None => {
            let client = state.node.client().await?;
            let sealed = checked.seal(&client).await?;
            let record = Submission::pending(
                &caller,
                &key,
                fingerprint,
                sealed.envelope_id().to_string(),
                &sealed.envelope().to_bytes(),
            );
            {
                let (caller, key, record) = (caller.clone(), key.clone(), record.clone());
                store(&state, move |s| s.save(&caller, &key, &record)).await?;
            }
            submit_sealed(&state, &client, sealed, Some(record), wait).await
        }
    }
}

/// Optional wait for a delivery status.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitQuery {
    /// Wait up to this long (ms, at most 60000) until delivered or held.
    wait_ms: Option<u64>,
}

/// Where a submitted disclosure stands.
#[utoipa::path(
    get,
    path = "/v1/disclosures/{envelope}",
    tag = "disclosures",
    operation_id = "delivery_status",
    params(("envelope" = String, Path, description = "The envelope (32 hex digits)."), WaitQuery),
    security(("bearer" = ["delivery"])),
    responses(
        (status = 200, description = "The delivery state.", body = Delivery),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `delivery` scope.", body = Forbidden),
        (status = 404, description = "Unknown envelope.", body = NotFound),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn delivery_status(
    State(state): Shared,
    Path(envelope): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Delivery)?;
    let envelope: EnvelopeId = parse_id(Place::Parameter, "envelope", &envelope)?;
    let Query(query) = query.map_err(query_error)?;
    let wait = wait_of(query.wait_ms, Place::Parameter)?;
    let client = state.node.client().await?;
    let state = match wait {
        Some(wait) => client.await_delivery(envelope, wait).await,
        None => client.delivery_status(envelope).await,
    }
    .map_err(client_error)?;
    Ok(json_response(StatusCode::OK, &delivery(state)))
}

/// A page request.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Start after this envelope (the previous page's `next_after`); absent: from the start.
    after: Option<String>,
    /// At most this many (1 ..= 256; default 50).
    limit: Option<u32>,
}

/// The disclosures whose delivery the node holds.
#[utoipa::path(
    get,
    path = "/v1/deliveries/held",
    tag = "disclosures",
    operation_id = "held_deliveries",
    params(PageQuery),
    security(("bearer" = ["delivery"])),
    responses(
        (status = 200, description = "A page, in envelope-id order.", body = HeldPage),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `delivery` scope.", body = Forbidden),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn held_deliveries(
    State(state): Shared,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Delivery)?;
    let Query(query) = query.map_err(query_error)?;
    let limit = page_limit(query.limit)?;
    let after: Option<EnvelopeId> = query
        .after
        .as_deref()
        .map(|a| parse_id(Place::Parameter, "after", a))
        .transpose()?;
    let client = state.node.client().await?;
    let page = client
        .held_deliveries(after, limit)
        .await
        .map_err(client_error)?;
    let next_after = (page.len() >= limit as usize)
        .then(|| page.last().map(|h| h.envelope.to_string()))
        .flatten();
    let held = page
        .into_iter()
        .map(|h| HeldDelivery {
            envelope: h.envelope.to_string(),
            recipient: h.recipient.to_string(),
            class: h.class.name().into(),
            reason: h.reason,
            since: h.since.unix_millis(),
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &HeldPage { held, next_after },
    ))
}

// ----- Inbox --------------------------------------------------------------------------------

/// The records received by this agency: header facts only.
#[utoipa::path(
    get,
    path = "/v1/inbox",
    tag = "inbox",
    operation_id = "list_inbox",
    params(PageQuery),
    security(("bearer" = ["inbox"])),
    responses(
        (status = 200, description = "A page, in arrival order.", body = InboxPage),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `inbox` scope.", body = Forbidden),
        (status = 502, description = "The node's answer did not verify.", body = VerificationFailure),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn list_inbox(
    State(state): Shared,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Inbox)?;
    let Query(query) = query.map_err(query_error)?;
    let limit = page_limit(query.limit)?;
    let after: Option<EnvelopeId> = query
        .after
        .as_deref()
        .map(|a| parse_id(Place::Parameter, "after", a))
        .transpose()?;
    let client = state.node.client().await?;
    let page = client.inbox(after, limit).await.map_err(client_error)?;
    let next_after = (page.len() >= limit as usize)
        .then(|| page.last().map(|e| e.envelope.to_string()))
        .flatten();
    let items = page
        .into_iter()
        .map(|entry| InboxItem {
            envelope: entry.envelope.to_string(),
            sender: entry.header.sender.to_string(),
            subject: entry.header.subject.to_string(),
            categories: category_names(entry.header.categories),
            purpose: PurposeName(entry.header.purpose.as_str().into()),
            consent: entry.header.consent.map(|c| c.to_string()),
            created_at: entry.header.created_at.unix_millis(),
            received_index: entry.received_index,
            received_at: entry.received_at.unix_millis(),
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &InboxPage { items, next_after },
    ))
}

/// Open a received record: the only endpoint that returns record content.
#[utoipa::path(
    get,
    path = "/v1/inbox/{envelope}",
    tag = "inbox",
    operation_id = "open_record",
    params(("envelope" = String, Path, description = "The envelope (32 hex digits).")),
    security(("bearer" = ["inbox:open"])),
    responses(
        (status = 200, description = "The record, verified and opened.", body = OpenedRecord),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `inbox:open` scope.", body = Forbidden),
        (status = 404, description = "No such envelope in the inbox.", body = NotFound),
        (status = 502, description = "The envelope does not verify (`VerificationFailure`), or its content breaks its declaration, a violation by the sender reported to the node (`SenderViolation`).", body = OpenFailure),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn open_record(
    State(state): Shared,
    Path(envelope): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = state.authorize(&headers, Scope::InboxOpen)?.name.clone();
    let envelope: EnvelopeId = parse_id(Place::Parameter, "envelope", &envelope)?;
    let client = state.node.client().await?;
    let opened = client.open(envelope).await.map_err(client_error)?;
    // Who read what (ids only, never content): the service's own trail of record access.
    tracing::info!(caller = %caller, envelope = %envelope, sender = %opened.header.sender, "record opened");
    let header = &opened.header;
    let fields = opened
        .record
        .fields()
        .iter()
        .map(|field| {
            let (text, base64) = match field.value() {
                FieldValue::Text(text) => (Some(text.clone()), None),
                FieldValue::Bytes(bytes) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                ),
                #[allow(unreachable_patterns)]
                _ => (None, None),
            };
            RecordField {
                category: crate::model::FieldCategory(field.category().as_str().into()),
                name: field.name().to_owned(),
                text,
                base64,
            }
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &OpenedRecord {
            envelope: header.envelope_id.to_string(),
            sender: header.sender.to_string(),
            recipient: header.recipient.to_string(),
            subject: header.subject.to_string(),
            categories: category_names(header.categories),
            purpose: PurposeName(header.purpose.as_str().into()),
            consent: header.consent.map(|c| c.to_string()),
            created_at: header.created_at.unix_millis(),
            fields,
        },
    ))
}

// ----- Audit log ----------------------------------------------------------------------------

/// The node's latest signed checkpoint, verified.
#[utoipa::path(
    get,
    path = "/v1/log/checkpoint",
    tag = "audit",
    operation_id = "checkpoint",
    security(("bearer" = ["audit"])),
    responses(
        (status = 200, description = "The checkpoint.", body = Checkpoint),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `audit` scope.", body = Forbidden),
        (status = 502, description = "The checkpoint does not verify, or is inconsistent with an earlier one: a security event.", body = VerificationFailure),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn checkpoint(
    State(state): Shared,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Audit)?;
    let client = state.node.client().await?;
    let checkpoint = client.checkpoint().await.map_err(client_error)?;
    Ok(json_response(
        StatusCode::OK,
        &Checkpoint {
            origin: checkpoint.origin().to_owned(),
            size: checkpoint.size(),
            root: hex::encode(checkpoint.root().as_bytes()),
            note: checkpoint.note().to_owned(),
        },
    ))
}

/// An entry of the node's log with its inclusion proof, verified.
#[utoipa::path(
    get,
    path = "/v1/log/entries/{index}",
    tag = "audit",
    operation_id = "prove_entry",
    params(("index" = u64, Path, description = "The entry's index.")),
    security(("bearer" = ["audit"])),
    responses(
        (status = 200, description = "The entry and its proof.", body = EntryProof),
        (status = 400, description = "Malformed request.", body = BadRequest),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `audit` scope.", body = Forbidden),
        (status = 404, description = "No entry at this index.", body = NotFound),
        (status = 502, description = "The proof does not verify: a security event.", body = VerificationFailure),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn prove_entry(
    State(state): Shared,
    Path(index): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Audit)?;
    let index: u64 = index.parse().map_err(|_| {
        refuse(
            Place::Parameter,
            "index",
            format!("{} is not an entry index", quoted(&index)),
        )
    })?;
    let client = state.node.client().await?;
    let verified = client.prove_entry(index).await.map_err(client_error)?;
    let proven = verified.proven();
    let proof =
        streha_audit::TlogProof::new(proven.index, proven.proof.clone(), &proven.checkpoint)
            .map_err(|e| {
                ApiError::Verification(VerificationFailure {
                    code: "verification_failed".into(),
                    what: "inclusion_proof".into(),
                    message: format!("the node's proof is malformed: {e}"),
                })
            })?;
    Ok(json_response(
        StatusCode::OK,
        &EntryProof {
            index: proven.index,
            tree_size: verified.checkpoint().size(),
            kind: verified
                .audit_entry()
                .ok()
                .map(|e| e.kind_name().to_owned()),
            entry: base64::engine::general_purpose::STANDARD.encode(&proven.entry),
            tlog_proof: proof.to_text(),
        },
    ))
}

/// The node's whole log, verified, as a log bundle (`spec/audit-log.md`).
#[utoipa::path(
    get,
    path = "/v1/log/export",
    tag = "audit",
    operation_id = "export_log",
    security(("bearer" = ["audit"])),
    responses(
        (status = 200, description = "The log bundle, verified (the file `streha audit export` writes; check it offline with `streha audit verify`).", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token.", body = Unauthorized),
        (status = 403, description = "The caller lacks the `audit` scope.", body = Forbidden),
        (status = 502, description = "The log does not verify: a security event.", body = VerificationFailure),
        (status = 503, description = "The node is unavailable; retry.", body = Unavailable),
        (status = 500, description = "The service failed.", body = Internal),
    )
)]
pub(crate) async fn export_log(
    State(state): Shared,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Scope::Audit)?;
    let client = state.node.client().await?;
    let bundle = client.export_bundle().await.map_err(client_error)?;
    let bytes = bundle.encode().map_err(|e| {
        ApiError::internal("internal", format!("cannot encode the log bundle: {e}"))
    })?;
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

// ----- The contract itself, and what is not a route -----------------------------------------

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "contract",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this service.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi() -> Response {
    let mut response = (StatusCode::OK, crate::openapi::document()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Any path that is not an endpoint.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the endpoints are listed in /openapi.json")
}

/// An endpoint asked with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::bad_request(
        BadRequestCode::MethodNotAllowed,
        None,
        "this endpoint does not take this method; see /openapi.json",
    )
}
