//! Form endpoints of the approval queue.
use axum::extract::Path;
use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::service;
use crate::auth::web::{done, failed, Caller};
use crate::core::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/approvals/{id}/approve", post(approve))
        .route("/approvals/{id}/reject", post(reject))
        .route("/approvals/{id}/cancel", post(cancel))
        .route("/approvals/{id}/rollback", post(rollback))
}

async fn approve(c: Caller, Path(id): Path<String>) -> Response {
    match service::approve(&c.st, &c.actor(), &id).await {
        Ok(cr) => {
            let msg = format!(
                "Approved and applied: {} — {}",
                cr.target_label,
                cr.result.unwrap_or_default()
            );
            done(&c.session, "/approvals", msg).await
        }
        Err(e) => failed(&c.session, "/approvals", e).await,
    }
}

#[derive(Deserialize, Default)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

async fn reject(c: Caller, Path(id): Path<String>, Form(f): Form<NoteForm>) -> Response {
    let r = service::reject(&c.st, &c.actor(), &id, &f.note).await;
    c.answer(
        r,
        "/approvals",
        "Rejected: the change will not be made.",
        "/approvals",
    )
    .await
}

async fn cancel(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::cancel(&c.st, &c.actor(), &id).await;
    c.answer(r, "/approvals", "Your request was withdrawn.", "/approvals")
        .await
}

#[derive(Deserialize, Default)]
struct ReasonForm {
    #[serde(default)]
    reason: String,
}

async fn rollback(c: Caller, Path(id): Path<String>, Form(f): Form<ReasonForm>) -> Response {
    let r = service::request_rollback(&c.st, &c.actor(), &id, &f.reason).await;
    c.answer(
        r,
        "/approvals",
        "Rollback requested: it waits for a second person's approval.",
        "/approvals",
    )
    .await
}
