//! The one error type of the server side, mapped once to an HTTP status and a clear message.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: the message is shown to the user as is; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// Bad input (or a conflict) about one named field of the request (its form or JSON
    /// name): the form shows the message next to that field, the REST API names it in
    /// `error.field`. Status and message are the inner error's.
    #[error("{1}")]
    InField(&'static str, Box<AppError>),
    /// Not signed in, or credentials not accepted (message stays neutral).
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but this action is not allowed.
    #[error("you are not allowed to do that")]
    Forbidden,
    /// Missing — or belonging to someone the actor may not see (no existence leak).
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Refused while an incident holds: the message names the incident (423).
    #[error("{0}")]
    Frozen(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// Something Mailward depends on (outgoing mail) failed; the message says what was and
    /// was not done.
    #[error("{0}")]
    Unavailable(String),
    /// Too much of a bounded resource (password checks) is in use right now: try again in
    /// a few seconds (503 with Retry-After).
    #[error("{0}")]
    Busy(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        AppError::Invalid(msg.into())
    }
    /// Bad input in the request's field `field` ([`AppError::InField`]).
    pub fn invalid_field(field: &'static str, msg: impl Into<String>) -> Self {
        AppError::InField(field, Box::new(AppError::Invalid(msg.into())))
    }
    /// This error, when it is bad input or a conflict, as being about the request's field
    /// `field` (a name taken, an allocation that does not fit); any other error as it is.
    pub fn on(self, field: &'static str) -> Self {
        match self {
            e @ (AppError::Invalid(_) | AppError::Conflict(_)) => {
                AppError::InField(field, Box::new(e))
            }
            other => other,
        }
    }
    /// The request field this error is about, if it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::InField(f, _) => Some(f),
            _ => None,
        }
    }
    /// The error itself, without the field it is about.
    pub fn kind(&self) -> &AppError {
        match self {
            AppError::InField(_, e) => e.kind(),
            e => e,
        }
    }
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        AppError::Internal(msg.to_string())
    }
    /// The reason a governed change or a sensitive act needs (4 to 500 characters, trimmed),
    /// or the error that asks for it: "Give the reason {what} …".
    pub fn reason_for(reason: Option<&str>, what: &str) -> AppResult<String> {
        let r = reason.map(str::trim).unwrap_or_default();
        let n = r.chars().count();
        if !(4..=500).contains(&n) {
            return Err(AppError::invalid(format!(
                "Give the reason {what} (4 to 500 characters): it goes into the audit log."
            )));
        }
        Ok(r.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::InField(_, e) => e.status(),
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Frozen(_) => StatusCode::LOCKED,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Config(_) | AppError::Db(_) | AppError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// What a user may read: internal details stay in the log.
    pub fn user_message(&self) -> String {
        match self.kind() {
            AppError::Config(_) | AppError::Db(_) | AppError::Internal(_) => {
                "Something went wrong on our side. The error was logged.".to_string()
            }
            other => {
                let mut s = other.to_string();
                // Never a huge message (one that quotes what someone typed, say).
                if s.chars().count() > 600 {
                    s = s.chars().take(600).collect::<String>() + "…";
                }
                // A message may open with an address or domain name: those keep their case.
                let first = s.split_whitespace().next().unwrap_or("");
                if first.contains('@') || first.trim_end_matches([':', ',', '.']).contains('.') {
                    return s;
                }
                let mut c = s.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => s,
                }
            }
        }
    }

    /// Seconds a client should wait before trying again, for the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self.kind() {
            AppError::TooManyRequests(_) => Some(900),
            AppError::Busy(_) => Some(2),
            _ => None,
        }
    }

    /// Logs server-side failures once, where they are turned into a response.
    pub fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
    }
}

/// JSON error body for the REST API: `{"error": {"status": 404, "message": "..."}}`, with
/// `"field": "name"` when the message is about one field of the request.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let mut body = serde_json::json!({
            "error": { "status": status.as_u16(), "message": self.user_message() }
        });
        if let Some(f) = self.field() {
            body["error"]["field"] = f.into();
        }
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert("retry-after", http::HeaderValue::from(secs));
        }
        resp
    }
}
