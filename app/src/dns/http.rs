//! Console forms for DNS (plain POST → service → flash + redirect), and the MTA-STS policy.
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::service;
use super::Template;
use crate::auth::web::{done, failed, Caller};
use crate::core::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains/{id}/dns/check", post(check))
        .route("/domains/{id}/dkim", post(generate))
        .route("/domains/{id}/dkim/rotate", post(rotate))
        .route("/domains/{id}/dkim/delegation", post(delegation))
        .route(
            "/domains/{id}/dmarc",
            post(upload_report).layer(DefaultBodyLimit::max(
                super::service::dmarc::MAX_REPORT_BYTES + 64 * 1024,
            )),
        )
        .route("/domains/{id}/dns/provider", post(set_provider))
        .route("/domains/{id}/dns/provider/test", post(test_provider))
        .route("/domains/{id}/dns/changes", post(request_change))
        .route("/domains/{id}/dns/changes/{change}/entered", post(entered))
        .route("/dns/bulk", post(plan_bulk))
        .route("/dns/bulk/{id}/override", post(override_bulk))
        .route("/dns/templates/{category}", post(save_template))
        .route("/.well-known/mta-sts.txt", get(mta_sts))
}

async fn check(c: Caller, Path(id): Path<String>) -> Response {
    let back = format!("/domains/{id}/dns");
    match service::check_now(&c.st, &c.actor(), &id).await {
        Ok(s) => {
            let msg = if s.verified > 0 {
                "Checked: the challenge record is there, so the domain is verified (and active if it was pending).".to_string()
            } else if s.unknown == s.sets {
                "Checked, but no nameserver answered: the result is unknown, nothing was changed."
                    .to_string()
            } else if s.changed > 0 {
                "Checked: something changed since the last look; see below.".to_string()
            } else {
                "Checked: no change since the last look.".to_string()
            };
            done(&c.session, &back, &msg).await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    algorithm: String,
}

async fn generate(c: Caller, Path(id): Path<String>, Form(f): Form<KeyForm>) -> Response {
    let back = format!("/domains/{id}/dns");
    let alg = if f.algorithm.is_empty() {
        "rsa"
    } else {
        f.algorithm.as_str()
    };
    match service::generate_key(&c.st, &c.actor(), &id, alg).await {
        Ok(k) => {
            done(
                &c.session,
                &back,
                &format!(
                "DKIM key {} made. Publish its record; it signs once every nameserver serves it.",
                k.selector
            ),
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

async fn upload_report(c: Caller, Path(id): Path<String>, mut form: Multipart) -> Response {
    let back = format!("/domains/{id}/dns");
    let mut file: Option<Vec<u8>> = None;
    loop {
        match form.next_field().await {
            Ok(Some(f)) if f.name() == Some("report") => match f.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(e) => {
                    let e = crate::core::AppError::invalid(format!("The upload was cut off: {e}"));
                    return failed(&c.session, &back, e).await.into_response();
                }
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                let e = crate::core::AppError::invalid(format!("The upload was cut off: {e}"));
                return failed(&c.session, &back, e).await.into_response();
            }
        }
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        let e = crate::core::AppError::invalid("Choose a report file (XML, .gz, .zip or .eml).");
        return failed(&c.session, &back, e).await.into_response();
    };
    match service::import_report(&c.st, &c.actor(), &bytes, "upload", Some(&id)).await {
        Ok(r) => {
            let msg = if r.new {
                format!(
                    "Report {} from {} imported: {} message{}{}.",
                    r.report_id,
                    r.org_name,
                    r.messages,
                    if r.messages == 1 { "" } else { "s" },
                    if r.new_sources.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", {} source{} never seen before",
                            r.new_sources.len(),
                            if r.new_sources.len() == 1 { "" } else { "s" }
                        )
                    }
                )
            } else {
                format!(
                    "Report {} from {} was imported before: nothing changed.",
                    r.report_id, r.org_name
                )
            };
            done(&c.session, &back, &msg).await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

#[derive(Deserialize)]
struct RotateForm {
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    emergency: Option<String>,
}

#[derive(Deserialize)]
struct DelegationForm {
    /// "on" or "off".
    delegate: String,
}

async fn delegation(c: Caller, Path(id): Path<String>, Form(f): Form<DelegationForm>) -> Response {
    let back = format!("/domains/{id}/dns");
    let on = match f.delegate.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            return failed(
                &c.session,
                &back,
                crate::core::AppError::invalid("delegate is on or off."),
            )
            .await
            .into_response()
        }
    };
    match service::set_delegation(&c.st, &c.actor(), &id, on).await {
        Ok(k) => {
            let msg = if on {
                format!("Delegation started: publish the two CNAMEs shown below once. Key {} signs as soon as its CNAME and record are seen on every nameserver; until then the current key goes on signing.", k.selector)
            } else {
                format!("Delegation is being taken back: publish {}'s record in the domain's own zone. Signing switches to it once every nameserver serves it; the CNAMEs can go when the delegated key has retired.", k.selector)
            };
            done(&c.session, &back, &msg).await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

async fn rotate(c: Caller, Path(id): Path<String>, Form(f): Form<RotateForm>) -> Response {
    let back = format!("/domains/{id}/dns");
    let alg = if f.algorithm.is_empty() {
        "rsa"
    } else {
        f.algorithm.as_str()
    };
    let emergency = f.emergency.is_some();
    match service::rotate_key(&c.st, &c.actor(), &id, alg, emergency).await {
        Ok(k) => {
            let msg = if emergency {
                format!("The old key is revoked and no longer signs. Publish {}'s record now: mail leaves unsigned until every nameserver serves it.", k.selector)
            } else {
                format!("Rotation started: publish {}'s record; signing switches to it once every nameserver serves it, and the old record can go a week later.", k.selector)
            };
            done(&c.session, &back, &msg).await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

#[derive(Deserialize)]
struct TemplateForm {
    #[serde(default)]
    receive: Option<String>,
    spf: String,
    #[serde(default)]
    dkim: Option<String>,
    dmarc_policy: String,
    #[serde(default)]
    dmarc_rua: String,
    mta_sts: String,
    #[serde(default)]
    tls_rpt_rua: String,
    #[serde(default)]
    autoconfig: Option<String>,
}

async fn save_template(
    c: Caller,
    Path(category): Path<String>,
    Form(f): Form<TemplateForm>,
) -> Response {
    let t = Template {
        receive: f.receive.is_some(),
        spf: f.spf,
        dkim: f.dkim.is_some(),
        dmarc_policy: f.dmarc_policy,
        dmarc_rua: f.dmarc_rua,
        mta_sts: f.mta_sts,
        tls_rpt_rua: f.tls_rpt_rua,
        autoconfig: f.autoconfig.is_some(),
    };
    match service::save_template(&c.st, &c.actor(), &category, t).await {
        Ok(()) => {
            done(
                &c.session,
                "/dns/templates",
                &format!("The {category} baseline is saved; the next scan compares every {category} domain with it."),
            )
            .await
        }
        Err(e) => failed(&c.session, "/dns/templates", e).await.into_response(),
    }
}

/// `https://mta-sts.<domain>/.well-known/mta-sts.txt`, by Host header (the operator's TLS
/// proxy forwards those hosts here). Public, as RFC 8461 requires.
async fn mta_sts(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match service::mta_sts_policy(&st, host).await {
        Ok(Some(p)) => ([(http::header::CONTENT_TYPE, "text/plain")], p).into_response(),
        Ok(None) => (
            http::StatusCode::NOT_FOUND,
            "no MTA-STS policy for this host\n",
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ProviderForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    server: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    tsig_name: String,
    #[serde(default)]
    tsig_algorithm: String,
    #[serde(default)]
    tsig_secret: String,
    /// The owners' checkbox was on the form (so its absence means "off").
    #[serde(default)]
    unmanaged_shown: String,
    #[serde(default)]
    allow_unmanaged: String,
}

async fn set_provider(c: Caller, Path(id): Path<String>, Form(f): Form<ProviderForm>) -> Response {
    let back = format!("/domains/{id}/dns");
    let input = super::ProviderInput {
        kind: f.kind,
        server: f.server,
        zone: f.zone,
        tsig_name: f.tsig_name,
        tsig_algorithm: f.tsig_algorithm,
        tsig_secret: f.tsig_secret,
        allow_unmanaged: (!f.unmanaged_shown.is_empty()).then_some(!f.allow_unmanaged.is_empty()),
    };
    match service::changes::set_provider(&c.st, &c.actor(), &id, &input).await {
        Ok(p) if p.kind == "rfc2136" => {
            done(
                &c.session,
                &back,
                "Saved: Mailward updates this zone by RFC 2136. Test the connection to prove the key works.",
            )
            .await
        }
        Ok(_) => done(&c.session, &back, "Saved: this domain's DNS is edited by hand; approved changes show the records to enter.").await,
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

async fn test_provider(c: Caller, Path(id): Path<String>) -> Response {
    let back = format!("/domains/{id}/dns");
    match service::changes::test_provider(&c.st, &c.actor(), &id).await {
        Ok((true, msg)) => done(&c.session, &back, &msg).await,
        Ok((false, msg)) => failed(&c.session, &back, crate::core::AppError::Conflict(msg))
            .await
            .into_response(),
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    rtype: String,
    /// One value per line; empty: the set is removed.
    #[serde(default)]
    values: String,
    #[serde(default)]
    reason: String,
}

async fn request_change(c: Caller, Path(id): Path<String>, Form(f): Form<ChangeForm>) -> Response {
    let back = format!("/domains/{id}/dns");
    let input = super::RecordChangeInput {
        name: f.name,
        rtype: f.rtype,
        values: f.values.lines().map(str::to_string).collect(),
        reason: f.reason,
    };
    match service::changes::request_change(&c.st, &c.actor(), &id, &input).await {
        Ok(_) => {
            done(
                &c.session,
                &format!("{back}#dns-changes"),
                "Asked: the change waits for a second person's approval (Approvals). Its before-state was read from the live zone.",
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

async fn entered(c: Caller, Path((id, change)): Path<(String, String)>) -> Response {
    let back = format!("/domains/{id}/dns#dns-changes");
    match service::changes::mark_entered(&c.st, &c.actor(), &change).await {
        Ok(()) => {
            done(
                &c.session,
                &back,
                "Thanks: Mailward now checks every nameserver for the new records.",
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

#[derive(Deserialize)]
struct BulkForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    only_drifted: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    rtype: String,
    #[serde(default)]
    values: String,
    #[serde(default)]
    batch_size: String,
    #[serde(default)]
    reason: String,
    /// Where to come back to on an error (the domain's DNS page, or the plans).
    #[serde(default)]
    back: String,
}

async fn plan_bulk(c: Caller, Form(f): Form<BulkForm>) -> Response {
    let back = if f.back.starts_with("/domains/") && !f.back.contains("//") {
        f.back.clone()
    } else {
        "/dns/bulk".to_string()
    };
    let batch_size = match f.batch_size.trim() {
        "" => None,
        s => match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let e = crate::core::AppError::invalid("A batch size is a whole number.");
                return failed(&c.session, &back, e).await.into_response();
            }
        },
    };
    let input = super::BulkInput {
        tenant: f.tenant,
        operation: f.operation,
        domain: f.domain,
        category: f.category,
        only_drifted: !f.only_drifted.is_empty(),
        name: f.name,
        rtype: f.rtype,
        values: f.values.lines().map(str::to_string).collect(),
        batch_size,
        reason: f.reason,
    };
    match service::bulk::plan(&c.st, &c.actor(), &input).await {
        Ok(id) => {
            done(
                &c.session,
                &format!("/dns/bulk/{id}"),
                "Planned: every domain's diff is below. It waits for a second person's approval.",
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}

#[derive(Deserialize)]
struct OverrideForm {
    #[serde(default)]
    reason: String,
}

async fn override_bulk(c: Caller, Path(id): Path<String>, Form(f): Form<OverrideForm>) -> Response {
    let back = format!("/dns/bulk/{id}");
    match service::bulk::override_unsafe(&c.st, &c.actor(), &id, &f.reason).await {
        Ok(()) => {
            done(
                &c.session,
                &back,
                "Overridden: the plan can be approved now.",
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await.into_response(),
    }
}
