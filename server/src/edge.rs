//! The edge: one place where every request's text is bounded before any handler sees it, and
//! where every API error leaves in the same JSON envelope.
//!
//! - Every value a client sends as text — query parameters, form fields, JSON strings and
//!   keys, path segments — is at most [`MAX_FIELD_CHARS`] characters and holds no control
//!   characters (tab and line breaks excepted). Anything else is refused with 422 before a
//!   handler runs; the value is never echoed back, only the field's name. The fields every
//!   form shares have tighter bounds by name ([`FIELD_LIMITS`]: names 255 characters on one
//!   line, addresses 254, reasons 2,000); what a value must look like stays with its type.
//! - Form and JSON bodies are read up to [`MAX_BODY_BYTES`] (413 beyond); uploads
//!   (multipart, text/csv) go through untouched to handlers that bound them themselves.
//! - `/api/` responses with a 4xx/5xx status that are not JSON yet (axum's extractor
//!   rejections are plain text) are wrapped as `{"error": {"status", "message"}}`, with the
//!   message cut short.
use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, StatusCode};
use tower_sessions::Session;

use app::auth::web::set_flash;
use app::auth::FlashKind;
use app::core::AppError;

/// The longest text value accepted in any one field.
pub const MAX_FIELD_CHARS: usize = 4000;
/// The largest form or JSON body read at the edge.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// API error messages are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 400;

/// Tighter bounds for the fields every form and API shares, by name: (field, most
/// characters, may span lines). Everything else: [`MAX_FIELD_CHARS`], line breaks allowed.
const FIELD_LIMITS: &[(&str, usize, bool)] = &[
    // Also a domain's name (up to 253 characters).
    ("name", 255, false),
    ("display_name", 200, false),
    ("contact_name", 200, false),
    ("contact_email", 254, false),
    ("email", 254, false),
    ("address", 254, false),
    ("invite_to", 254, false),
    ("source", 254, false),
    ("slug", 64, false),
    ("q", 200, false),
    ("reason", 2000, true),
];

/// What is wrong with one value, without the value.
fn check(field: &str, value: &str) -> Result<(), String> {
    let (max, multiline) = FIELD_LIMITS
        .iter()
        .find(|(f, _, _)| *f == field)
        .map(|(_, m, ml)| (*m, *ml))
        .unwrap_or((MAX_FIELD_CHARS, true));
    let name: String = field.chars().take(40).collect();
    let name = if name.is_empty() || name.chars().any(char::is_control) {
        "a field".to_string()
    } else {
        format!("“{name}”")
    };
    if value.chars().count() > max {
        return Err(format!(
            "The value of {name} is too long (at most {max} characters)."
        ));
    }
    let allowed = |c: char| multiline && matches!(c, '\t' | '\n' | '\r');
    if value
        .chars()
        .any(|c| (c.is_control() && !allowed(c)) || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err(format!(
            "The value of {name} contains control characters (such as NUL), which are not accepted."
        ));
    }
    Ok(())
}

fn check_pairs(text: &str) -> Result<(), String> {
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        check(&k, &k)?;
        check(&k, &v)?;
    }
    Ok(())
}

fn check_json(field: &str, v: &serde_json::Value) -> Result<(), String> {
    match v {
        serde_json::Value::String(s) => check(field, s),
        serde_json::Value::Array(a) => a.iter().try_for_each(|x| check_json(field, x)),
        serde_json::Value::Object(o) => o.iter().try_for_each(|(k, x)| {
            check(k, k)?;
            check_json(k, x)
        }),
        _ => Ok(()),
    }
}

fn refuse(
    req_path: &str,
    referer: Option<String>,
    session: Option<Session>,
    status: StatusCode,
    msg: String,
) -> impl std::future::Future<Output = Response> {
    let api = req_path.starts_with("/api/");
    async move {
        if !api {
            // A console form: back to the page it came from, with the message on it.
            if let (Some(to), Some(session)) = (referer, session) {
                set_flash(&session, FlashKind::Error, msg).await;
                return Redirect::to(&to).into_response();
            }
        }
        envelope(status, &msg)
    }
}

fn envelope(status: StatusCode, msg: &str) -> Response {
    let body = serde_json::json!({ "error": { "status": status.as_u16(), "message": msg } });
    (status, axum::Json(body)).into_response()
}

/// The same-origin path of the page a form was posted from, if any.
fn referer_path(req: &Request) -> Option<String> {
    let r = req.headers().get(header::REFERER)?.to_str().ok()?;
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let rest = r
        .strip_prefix("http://")
        .or_else(|| r.strip_prefix("https://"))?;
    let path = rest.strip_prefix(host)?;
    (path.starts_with('/') && !path.starts_with("//")).then(|| path.to_string())
}

pub async fn limits(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let session = req.extensions().get::<Session>().cloned();
    let referer = referer_path(&req);
    // Path segments (ids) and the query string.
    let decoded = percent_encoding::percent_decode_str(&path).decode_utf8_lossy();
    if let Err(m) = check("path", &decoded) {
        return refuse(&path, None, None, StatusCode::UNPROCESSABLE_ENTITY, m).await;
    }
    if let Some(q) = req.uri().query() {
        if let Err(m) = check_pairs(q) {
            return refuse(&path, referer, session, StatusCode::UNPROCESSABLE_ENTITY, m).await;
        }
    }
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form = ctype.starts_with("application/x-www-form-urlencoded");
    let json = ctype.starts_with("application/json");
    if !(form || json) {
        return wrap_api_errors(&path, next.run(req).await).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                &path,
                referer,
                session,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The request is too large (at most {} MiB).",
                    MAX_BODY_BYTES / 1024 / 1024
                ),
            )
            .await
        }
    };
    let verdict = if form {
        match std::str::from_utf8(&bytes) {
            Ok(t) => check_pairs(t),
            Err(_) => Err("The form is not valid UTF-8 text.".to_string()),
        }
    } else {
        // Malformed JSON is the handler's to refuse (with its own message).
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => check_json("body", &v),
            Err(_) => Ok(()),
        }
    };
    if let Err(m) = verdict {
        return refuse(&path, referer, session, StatusCode::UNPROCESSABLE_ENTITY, m).await;
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    wrap_api_errors(&path, next.run(req).await).await
}

async fn wrap_api_errors(path: &str, resp: Response) -> Response {
    let status = resp.status();
    if !path.starts_with("/api/") || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let retry = resp.headers().get(header::RETRY_AFTER).cloned();
    let text = to_bytes(resp.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let text = without_quoted_values(&text);
    let mut msg: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    if text.chars().count() > MAX_MESSAGE_CHARS {
        msg.push('…');
    }
    if msg.is_empty() {
        msg = status.canonical_reason().unwrap_or("error").to_string();
    }
    let mut out = envelope(status, &msg);
    if let Some(r) = retry {
        out.headers_mut().insert(header::RETRY_AFTER, r);
    }
    out
}

/// A framework's refusal without the values it quotes (serde says `invalid type: string
/// "…", expected a boolean`): the field and the expectation stay, the input is never echoed.
fn without_quoted_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

/// For the unit tests and the rare caller that wants the same refusal as the edge.
pub fn check_value(field: &str, value: &str) -> Result<(), AppError> {
    check(field, value).map_err(AppError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_not_echoed() {
        assert_eq!(
            without_quoted_values(
                "body: daily_cap: invalid type: string \"<script>\", expected i64 at line 1"
            ),
            "body: daily_cap: invalid type: string \"…\", expected i64 at line 1"
        );
        assert_eq!(
            without_quoted_values("missing field `name`"),
            "missing field `name`"
        );
    }

    #[test]
    fn bounds_and_control_characters() {
        assert!(check("name", "Acme GmbH").is_ok());
        assert!(check("reason", "line one\nline two\ttab").is_ok());
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let e = check("reason", &long).unwrap_err();
        assert!(e.contains("too long") && !e.contains("xxxx"), "{e}");
        assert!(check("name", "a\0b").unwrap_err().contains("control"));
        assert!(check("name", "a\u{1b}[31m").is_err());
        assert!(check("name", "two\nlines").is_err(), "names are one line");
        assert!(check("name", &"n".repeat(256)).is_err());
        assert!(check("display_name", &"n".repeat(201)).is_err());
        assert!(check("q", &"q".repeat(201)).is_err());
        assert!(check_pairs("q=%00").is_err());
        assert!(check_pairs(&format!("q={}", "y".repeat(50_001))).is_err());
        assert!(check_json("body", &serde_json::json!({"a": ["ok", "b\u{0}"]})).is_err());
        assert!(check_json("body", &serde_json::json!({"a": 1, "b": [true, null]})).is_ok());
    }
}
