//! Reading a JSON request body within the budget, with a stable error for each way it can
//! be wrong.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, BadRequestCode};

/// Reads and decodes a JSON body of at most `limit` bytes.
///
/// A `Content-Length` over the limit is refused before any byte of the body is read; a
/// body without one (chunked) is read up to the limit and refused as soon as it passes it.
///
/// # Errors
/// 415 `unsupported_media_type` unless `Content-Type` is `application/json`; 413
/// `body_too_large`; 400 `malformed_json` (not JSON, a missing field, a wrong type),
/// `unknown_field`, or `invalid_value` (a value the type refuses).
pub(crate) async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            crate::error::UnsupportedMediaType {
                code: "unsupported_media_type".into(),
                message: "send the body as JSON with `Content-Type: application/json`".into(),
            },
        ));
    }
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        let length: u64 = length
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    BadRequestCode::MalformedJson,
                    None,
                    "the Content-Length header is not a number",
                )
            })?;
        if length > limit as u64 {
            return Err(ApiError::too_large(limit));
        }
    }
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::too_large(limit)
            } else {
                ApiError::bad_request(
                    BadRequestCode::MalformedJson,
                    None,
                    "the body could not be read to its end",
                )
            }
        })?
        .to_bytes();
    decode_json(&bytes)
}

/// Decodes a JSON document into `T`, sorting serde's errors into stable codes.
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let message = e.to_string();
        // serde names an unknown field "unknown field `x`, expected one of …".
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let field = rest.split('`').next().unwrap_or_default();
            let field: String = field.chars().take(64).collect();
            return ApiError::bad_request(
                BadRequestCode::UnknownField,
                Some(&field),
                format!("unknown field `{field}`; the schema of this request is in /openapi.json"),
            );
        }
        // serde_json quotes the offending value in some messages ("invalid type: string
        // \"…\""): a value may be record content, so quoted text is cut out.
        ApiError::bad_request(
            BadRequestCode::MalformedJson,
            None,
            format!(
                "the body is not valid JSON for this request: {}",
                redact_quoted(&message)
            ),
        )
    })
}

/// `text` with every double-quoted part replaced by `"…"`.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RegisterSubject;

    fn code(error: ApiError) -> String {
        error.code()
    }

    #[test]
    fn json_errors_have_stable_codes() {
        assert_eq!(
            code(decode_json::<RegisterSubject>(b"{\"age_status\": ").unwrap_err()),
            "malformed_json"
        );
        assert_eq!(
            code(decode_json::<RegisterSubject>(b"[1, 2]").unwrap_err()),
            "malformed_json"
        );
        let unknown =
            decode_json::<RegisterSubject>(b"{\"age_status\": \"adult\", \"name\": \"x\"}")
                .unwrap_err();
        assert_eq!(code(unknown.clone()), "unknown_field");
        assert_eq!(unknown.body()["field"], "name");
        assert!(decode_json::<RegisterSubject>(b"{\"age_status\": \"adult\"}").is_ok());
        // A value in the wrong place is never echoed (it may be record content).
        let wrong = decode_json::<RegisterSubject>(
            b"{\"age_status\": \"adult\", \"representatives\": \"Arta Krasniqi\"}",
        )
        .unwrap_err();
        assert_eq!(wrong.code(), "malformed_json");
        assert!(
            !wrong.body().to_string().contains("Arta"),
            "{}",
            wrong.body()
        );
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        // Announced too large: refused before reading.
        headers.insert(header::CONTENT_LENGTH, "1000000".parse().unwrap());
        let err = read_json::<RegisterSubject>(&headers, Body::from("{}"), 1024)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "body_too_large");
        // Not announced (chunked): refused once past the limit.
        headers.remove(header::CONTENT_LENGTH);
        let err = read_json::<RegisterSubject>(&headers, Body::from(vec![b' '; 2048]), 1024)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "body_too_large");
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let err = read_json::<RegisterSubject>(&headers, Body::from("{}"), 1024)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "unsupported_media_type");
    }
}
