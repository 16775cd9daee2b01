//! Request extractors: the authenticated user, and JSON bodies whose rejection names
//! the offending field.

use std::future::{Future, Ready, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;

use pequod_api::users::Role;

use crate::auth::{AuthError, Principal};
use crate::error::ApiError;
use crate::state::AppState;

/// Declares an extractor for the principal of a valid bearer token whose role allows
/// `$role`; a lower one is refused with 403 naming the role needed. Being the first
/// argument of a handler, it is checked before the body is read.
macro_rules! principal_with_role {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(authenticate(req, bearer_token(req), $role).map($name))
            }
        }
    };
}

principal_with_role!(
    /// Any user or API token (a viewer may read everything).
    AuthUser,
    Role::Viewer
);
principal_with_role!(
    /// An operator or admin: failover, Add slave, Remove slave, Add again, running checks,
    /// acknowledging jobs.
    OperatorUser,
    Role::Operator
);
principal_with_role!(
    /// An admin: the cluster's and the node's configuration, users and tokens.
    AdminUser,
    Role::Admin
);

/// Like [`AuthUser`], but also accepts the token as `?access_token=`: a browser's
/// `EventSource` cannot set headers. Used only for the event stream.
#[derive(Debug, Clone)]
pub struct StreamUser(pub Principal);

impl FromRequest for StreamUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).or_else(|| {
            web::Query::<AccessToken>::from_query(req.query_string())
                .ok()
                .map(|q| q.into_inner().access_token)
        });
        ready(authenticate(req, token, Role::Viewer).map(StreamUser))
    }
}

#[derive(serde::Deserialize)]
struct AccessToken {
    access_token: String,
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn authenticate(
    req: &HttpRequest,
    token: Option<String>,
    needed: Role,
) -> Result<Principal, ApiError> {
    let token = token.ok_or(AuthError::MissingToken)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| anyhow::anyhow!("application state is missing"))?;
    let principal = state.auth.verify(&token)?;
    // The audit entry names whom the token check accepted, even when the role does
    // not suffice or the token ends while the handler runs.
    req.extensions_mut()
        .insert(crate::audit::AcceptedUser(principal.audit_name()));
    principal.require(needed)?;
    if let Some(at) = state.auth.note_use(&principal) {
        let store = state.store.clone();
        let name = principal.name.clone();
        actix_web::rt::spawn(async move {
            if let Err(err) = store.touch_api_token(&name, at).await {
                tracing::warn!(token = %name, error = %err, "could not store an API token's last use");
            }
        });
    }
    Ok(principal)
}

/// A JSON body. When it cannot be read, the problem names the field and what is wrong
/// with it (`hostname: may contain only letters …`) instead of a parser position.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::BadRequest(
                    "the request body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let bytes = body.await.map_err(|e| {
                ApiError::BadRequest(format!("the request body could not be read: {e}"))
            })?;
            parse_json(&bytes).map(ValidJson)
        })
    }
}

/// An optional body: none, only white space or `null` is `T::default()`, anything
/// else must be the JSON object `T` reads.
pub fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = bytes.trim_ascii();
    if text.is_empty() || text == b"null" {
        return Ok(T::default());
    }
    parse_json(text)
}

/// Deserialises the JSON object in `bytes`, turning a failure into a validation error
/// on the field's path. Every request body is an object: an array is refused, though
/// serde would read a struct from one.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.trim_ascii_start().first() {
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(ApiError::BadRequest(
                "the request body must be a JSON object".into(),
            ));
        }
        // Not JSON at all: let the parser say where.
        _ => {}
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::BadRequest(format!(
                    "the request body is not valid JSON: {inner}"
                )));
            }
            let message = strip_position(&inner.to_string());
            if path == "." {
                // A missing or unknown field: serde names it in the message.
                let field = quoted_field(&message).unwrap_or_else(|| "body".into());
                return Err(ApiError::field(field, message));
            }
            Err(ApiError::field(path, message))
        }
    }
}

/// serde_json appends " at line 1 column 22"; a person needs the field, not that.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// The first `name` in backticks, as serde writes "missing field `hostname`".
fn quoted_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pequod_api::nodes::NodePatch;

    fn field_errors(err: ApiError) -> Vec<(String, String)> {
        match err {
            ApiError::Validation(errors) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            other => vec![("<not validation>".into(), other.to_string())],
        }
    }

    #[test]
    fn a_bad_field_is_named_with_its_message() {
        let err = parse_json::<NodePatch>(br#"{"hostname": "bad name"}"#).expect_err("invalid");
        let errors = field_errors(err);
        assert_eq!(errors[0].0, "hostname");
        assert!(errors[0].1.contains("may contain only"), "{errors:?}");
        assert!(!errors[0].1.contains("line 1"), "{errors:?}");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let err = parse_json::<NodePatch>(br#"{"hostnam": "node1"}"#).expect_err("unknown");
        assert_eq!(field_errors(err)[0].0, "hostnam");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_bad_request() {
        for body in [
            &b"[null]"[..],
            b" [\"node1\"]",
            b"\"x\"",
            b"1",
            b"null",
            b"true",
        ] {
            assert!(
                matches!(parse_json::<NodePatch>(body), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn an_optional_body_may_be_empty_or_null() {
        for body in [&b""[..], b"  ", b"null", b" null\n"] {
            assert_eq!(
                optional_json::<NodePatch>(body).ok(),
                Some(NodePatch::default())
            );
        }
        assert!(matches!(
            optional_json::<NodePatch>(b"[]"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<NodePatch>(b"{"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
