//! Form endpoints of CSV imports: upload (multipart, up to 16 MB), start, discard.
use axum::extract::{DefaultBodyLimit, Multipart, Path};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::Router;

use super::service;
use crate::auth::web::{done, failed, Caller};
use crate::core::state::AppState;
use crate::core::AppError;

pub const MAX_UPLOAD: usize = 16 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/imports",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/imports/{id}/start", post(start))
        .route("/imports/{id}/discard", post(discard))
}

async fn upload(c: Caller, mut form: Multipart) -> Response {
    let mut tenant = String::new();
    let mut csv: Option<String> = None;
    let read = async {
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| AppError::invalid(format!("The upload was cut off: {e}")))?
        {
            match field.name() {
                Some("tenant") => tenant = field.text().await.unwrap_or_default(),
                Some("file") => {
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| AppError::invalid(format!("The upload was cut off: {e}")))?;
                    csv = Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                        AppError::invalid("The file is not UTF-8 text: save it as CSV (UTF-8).")
                    })?);
                }
                _ => {}
            }
        }
        Ok::<_, AppError>(())
    };
    let r = read.await;
    let back = if tenant.is_empty() {
        "/tenants".to_string()
    } else {
        format!("/tenants/{tenant}")
    };
    if let Err(e) = r {
        return failed(&c.session, &back, e).await;
    }
    let Some(csv) = csv.filter(|s| !s.trim().is_empty()) else {
        return failed(
            &c.session,
            &back,
            AppError::invalid("Choose a CSV file to upload."),
        )
        .await;
    };
    match service::preview(&c.st, &c.actor(), &tenant, &csv).await {
        Ok(job) => Redirect::to(&format!("/imports/{}", job.id)).into_response(),
        Err(e) => failed(&c.session, &back, e).await,
    }
}

async fn start(c: Caller, Path(id): Path<String>) -> Response {
    let page = format!("/imports/{id}");
    match service::start(&c.st, &c.actor(), &id).await {
        Ok(_) => {
            done(
                &c.session,
                &page,
                "Import started: this page follows its progress.",
            )
            .await
        }
        Err(e) => failed(&c.session, &page, e).await,
    }
}

async fn discard(c: Caller, Path(id): Path<String>) -> Response {
    let page = format!("/imports/{id}");
    let r = service::cancel(&c.st, &c.actor(), &id).await;
    c.answer(r, &page, "Import discarded; nothing was created.", &page)
        .await
}
