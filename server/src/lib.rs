#![recursion_limit = "512"]
//! The `mailward` process: configuration, the HTTP router with its middleware, background
//! upkeep and graceful shutdown. A library with a thin `main.rs`, so tests run the real router.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Method, StatusCode};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use app::auth::sessions::DbSessionStore;
use app::core::state::AppState;
use app::core::web::ClientInfo;

pub mod cli;
pub mod edge;
pub mod mailplane;
pub mod milter;
pub mod policy;
pub mod seed;

/// Every change kind and job kind the capabilities offer: the one place they are plugged
/// in. The change-request mechanism and the job worker look kinds up here; a kind that is
/// not listed does not exist.
pub fn kinds() -> app::core::registry::Registry {
    let r = app::core::registry::Registry::new();
    let r = app::auth::kinds::register(r);
    let r = app::mailboxes::kinds::register(r);
    let r = app::routing::kinds::register(r);
    let r = app::dns::kinds::register(r);
    let r = app::monitoring::kinds::register(r);
    let r = app::domain_control::kinds::register(r);
    app::imports::kinds::register(r)
}

pub fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MAILWARD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    // Logs go to stderr (stdout carries command output: `seed` prints a cookie scripts read),
    // in colour only on a terminal (not in the journal).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The nonce of this response's Content-Security-Policy.
#[derive(Clone)]
struct CspNonce(String);

fn leptos_options(state: &AppState) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("mailward")
        .site_root(state.config.site_root.clone())
        .site_pkg_dir("pkg")
        .env(leptos::config::Env::PROD)
        .build()
}

/// The pages' route list, generated once per process. Generating it runs the app with
/// Leptos's *process-wide* "suppress resource loads" flag set (leptos#4773): a page render
/// whose resource is first polled in that window waits forever. Generated once, before any
/// router exists, it can never overlap a render — however many routers a process builds
/// (the test harness builds one per test).
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static LIST: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    LIST.get_or_init(|| generate_route_list(app::App)).clone()
}

/// The complete application router (pages, forms, REST API, probes) with every middleware.
pub fn router(state: AppState) -> Router {
    let options = leptos_options(&state);
    let context = {
        let st = state.clone();
        move || {
            provide_context(st.clone());
            if let Some(parts) = use_context::<http::request::Parts>() {
                if let Some(n) = parts.extensions.get::<CspNonce>() {
                    provide_context(leptos::nonce::Nonce::from_value(n.0.clone()));
                }
            }
        }
    };
    let site = Router::new()
        .leptos_routes_with_context(&options, route_list(), context.clone(), {
            let o = options.clone();
            move || app::shell(o.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context,
            app::shell,
        ))
        .with_state(options);
    // Pages render completely on the server (SsrMode::Async), exactly once. A render that
    // passes its deadline is answered 503 and counted (`mailward_render_stalls_total`),
    // never run again: a loader may have consumed a one-time value.
    let site = site.layer(from_fn_with_state(state.clone(), render_with_deadline));

    let session_layer =
        SessionManagerLayer::new(DbSessionStore::new(state.db.clone(), state.clock.clone()))
            .with_name("mailward_session")
            .with_http_only(true)
            .with_same_site(SameSite::Strict)
            .with_secure(state.config.always_secure())
            .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
                state.config.session_idle_minutes,
            )));

    let own = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(app::auth::http::routes())
        .merge(app::tenancy::http::routes())
        .merge(app::mailboxes::http::routes())
        .merge(app::changes::http::routes())
        .merge(app::routing::http::routes())
        .merge(app::imports::http::routes())
        .merge(app::dns::http::routes())
        .merge(app::monitoring::http::routes())
        .merge(app::incidents::http::routes())
        .merge(app::outbound::http::routes())
        .merge(app::domain_control::http::routes())
        .merge(app::api::routes())
        .with_state(state.clone());

    own.merge(site)
        .layer(from_fn_with_state(
            state.clone(),
            app::auth::http::session_user,
        ))
        .layer(axum::middleware::from_fn(app::auth::web::keep_typed))
        .layer(axum::middleware::from_fn(edge::limits))
        .layer(session_layer)
        .layer(from_fn_with_state(state.clone(), csrf))
        .layer(from_fn_with_state(state.clone(), client_info))
        .layer(from_fn_with_state(state.clone(), security_headers))
        .layer(from_fn_with_state(state, observe))
}

/// How long one page render may take before it is abandoned (and counted as a stall).
const RENDER_DEADLINE: Duration = Duration::from_secs(10);

async fn render_with_deadline(State(st): State<AppState>, req: Request, next: Next) -> Response {
    // Only rendered pages: static files stream straight through.
    if req.method() != Method::GET || req.uri().path().starts_with("/pkg/") {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let render = async move {
        let (head, body) = next.run(req).await.into_parts();
        let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await;
        bytes.map(|b| Response::from_parts(head, axum::body::Body::from(b)))
    };
    match tokio::time::timeout(RENDER_DEADLINE, render).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            tracing::error!(error = %e, path = %path, "page body failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.\n",
            )
                .into_response()
        }
        Err(_) => {
            st.metrics
                .render_stalls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(path = %path, "page render passed its deadline");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(http::header::RETRY_AFTER, "1")],
                "This page took too long to render. Reload it.\n",
            )
                .into_response()
        }
    }
}

async fn readyz(State(st): State<AppState>) -> Response {
    match st.db.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            e.log();
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    let mut body = st.metrics.render();
    match app::monitoring::service::metrics(&st).await {
        Ok(m) => body.push_str(&m),
        Err(e) => tracing::warn!(error = %e, "alert metrics"),
    }
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

/// Request counts and latency for /metrics, and one log line per request.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    st.metrics
        .observe(method.as_str(), resp.status().as_u16(), secs);
    tracing::debug!(%method, %path, status = resp.status().as_u16(), ms = secs * 1000.0, "request");
    resp
}

/// The path as it may be logged (one-time link tokens left out).
fn loggable_path(path: &str) -> String {
    app::auth::without_link_token(path)
}

/// Who is calling, from where, over what.
async fn client_info(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let info = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let proxies = st.proxies();
        let from_proxy = peer.is_some_and(|p| proxies.contains(p));
        let ip = proxies.client_ip(peer, header("x-forwarded-for").as_deref());
        let forwarded_https =
            header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let user_agent = header("user-agent").map(|u| u.chars().take(256).collect());
        let https = st.config.always_secure() || (from_proxy && forwarded_https);
        ClientInfo {
            ip,
            user_agent,
            https,
        }
    };
    req.extensions_mut().insert(info);
    next.run(req).await
}

/// Cross-site request forgery guard: every state-changing request must come from our own
/// pages (Sec-Fetch-Site, or failing that Origin). Bearer-token API calls carry no cookies
/// and are exempt.
async fn csrf(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if req.uri().path().starts_with("/api/v1/") && !req.headers().contains_key(http::header::COOKIE)
    {
        return next.run(req).await;
    }
    let allowed = {
        let h = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match (h("sec-fetch-site"), h("origin")) {
            // Browsers say where a request comes from; trust that first (an Origin of
            // "null" accompanies some legitimate same-origin posts).
            (Some(site), _) => site == "same-origin" || site == "none",
            (None, Some(origin)) => {
                let host = h("host").unwrap_or_default();
                origin == st.config.public_url()
                    || origin == format!("http://{host}")
                    || origin == format!("https://{host}")
            }
            (None, None) => false,
        }
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::warn!(path = %req.uri().path(), "refused a cross-site request");
        (
            StatusCode::FORBIDDEN,
            "Refused: this request did not come from a Mailward page (cross-site request).\n",
        )
            .into_response()
    }
}

/// Security headers on every response, with a fresh CSP nonce for the hydration script.
async fn security_headers(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let nonce = leptos::nonce::Nonce::new().to_string();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let https = st.config.always_secure()
        || (peer.is_some_and(|p| st.proxies().contains(p))
            && req
                .headers()
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https")));
    let static_file = req.uri().path().starts_with("/pkg/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; connect-src 'self'; \
         font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    if https {
        h.insert(
            http::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !static_file && !h.contains_key(http::header::CACHE_CONTROL) {
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    resp
}

/// Periodic upkeep: expired sessions and old throttle records.
pub fn spawn_upkeep(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let store = DbSessionStore::new(state.db.clone(), state.clock.clone());
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            // Every hour (and at start), a signed checkpoint of the audit chain goes to the
            // log: shipped off the host, it lets `audit verify --checkpoint` find events
            // removed later, even by someone who can write the database.
            if ticks % 6 == 0 {
                match app::audit::service::checkpoint(&state.db, state.clock.now()).await {
                    Ok(cp) => tracing::info!(
                        checkpoint = %serde_json::to_string(&cp).unwrap_or_default(),
                        "audit checkpoint"
                    ),
                    Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
                }
            }
            ticks += 1;
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
            let before = state.clock.now() - 24 * 3600;
            if let Err(e) = app::auth::store::prune_throttles(&state.db, before).await {
                tracing::warn!(error = %e, "pruning sign-in failures failed");
            }
        }
    })
}

/// The files of the built console that `serve` cannot do without (what `scripts/build`
/// writes into `site_root/pkg`): without them every page would load unstyled and inert.
pub const SITE_FILES: [&str; 3] = [
    "pkg/mailward.css",
    "pkg/mailward.js",
    "pkg/mailward_bg.wasm",
];

/// Refuses a `site_root` that does not hold the built console, in one line.
pub fn check_site(site_root: &str) -> Result<(), String> {
    let root = std::path::Path::new(site_root);
    if !root.is_dir() {
        return Err(format!(
            "the site folder {site_root} (site_root) does not exist: build it with scripts/build, \
             or point site_root / --site-root / MAILWARD_SITE_ROOT at the built site"
        ));
    }
    for f in SITE_FILES {
        if !root.join(f).is_file() {
            return Err(format!(
                "the site folder {site_root} (site_root) has no {f}: build it with scripts/build, \
                 or point site_root / --site-root / MAILWARD_SITE_ROOT at the built site"
            ));
        }
    }
    Ok(())
}

/// Runs the server until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn serve(state: AppState) -> Result<(), String> {
    let addr = state.config.bind.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    if let Some(link) = app::auth::service::ensure_setup_link(&state)
        .await
        .map_err(|e| e.to_string())?
    {
        println!("\nMailward has no owner yet. Open this one-time link to set it up (valid {} h):\n\n    {link}\n", state.config.invite_ttl_hours);
    }
    tracing::info!(
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or(addr),
        database = %app::core::db::redact_url(&state.config.database_url),
        "Mailward is listening"
    );
    state.mailer.announce();
    // The mail plane's policy token exists from the first start on, made by the user Mailward
    // runs as (`mailplane render`, run as root, then only reads it).
    app::monitoring::service::policy_token(&state.config).map_err(|e| e.to_string())?;
    app::core::doveadm::api_key(&state.config).map_err(|e| e.to_string())?;
    // A configured GeoIP database that cannot be read stops the start, with the reason.
    app::monitoring::geoip::check(&state.config).map_err(|e| e.to_string())?;
    let clock_file = state.config.clock_offset_file.clone().map(|f| {
        tracing::warn!(file = %f, "the clock follows an offset file: for tests and drills only");
        let clock = state.clock.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(s) = tokio::fs::read_to_string(&f).await {
                    if let Ok(secs) = s.trim().parse::<i64>() {
                        clock.set_offset(secs);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    });
    let upkeep = spawn_upkeep(state.clone());
    let worker = app::core::jobs::spawn_worker(state.clone());
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| e.to_string())?;
    upkeep.abort();
    worker.abort();
    if let Some(c) = clock_file {
        c.abort();
    }
    tracing::info!("Mailward stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C: `serve`, `milter` and `policy` stop on either.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn link_tokens_never_reach_the_log() {
        assert_eq!(loggable_path("/activate/abcDEF123"), "/activate/…");
        assert_eq!(loggable_path("/invite/abc/password"), "/invite/…/password");
        assert_eq!(loggable_path("/mailboxes/m1"), "/mailboxes/m1");
    }
}
