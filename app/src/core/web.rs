//! HTTP plumbing shared by every capability: client info, the signed-in user, flash
//! messages, form redirects, and request metrics.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::authz::Actor;
use super::error::AppError;
use crate::auth::sessions as keys;
use crate::auth::{CurrentUser, Flash, FlashKind};

/// Where a request came from (set by the server's outer middleware).
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Served over TLS (directly, or a trusted proxy said so).
    pub https: bool,
}

/// The person signed in on this request, if any (set by the session middleware).
#[derive(Clone, Debug, Default)]
pub struct SignedIn(pub Option<CurrentUser>);

impl SignedIn {
    pub fn actor(&self, client: &ClientInfo) -> Actor {
        match &self.0 {
            Some(u) => {
                crate::auth::service::actor_for(u, client.ip.clone(), client.user_agent.clone())
            }
            None => Actor::anonymous(client.ip.clone(), client.user_agent.clone()),
        }
    }
}

pub async fn set_flash(session: &Session, kind: FlashKind, message: impl Into<String>) {
    let _ = session
        .insert(
            keys::FLASH,
            Flash {
                kind,
                message: message.into(),
            },
        )
        .await;
}

pub async fn take_flash(session: &Session) -> Option<Flash> {
    take(session, keys::FLASH).await
}

/// Removes and returns a one-time session value. Reads first: removing marks the session
/// changed, and an unchanged session is not written back.
pub async fn take<T: serde::de::DeserializeOwned>(session: &Session, key: &str) -> Option<T> {
    let v = session.get::<T>(key).await.ok().flatten()?;
    let _ = session.remove_value(key).await;
    Some(v)
}

/// After a form post: a success message and a 303 to `to`.
pub async fn done(session: &Session, to: &str, message: impl Into<String>) -> Response {
    set_flash(session, FlashKind::Success, message).await;
    Redirect::to(to).into_response()
}

/// After a failed form post: the error's user message and a 303 back to `to`.
pub async fn failed(session: &Session, to: &str, err: AppError) -> Response {
    err.log();
    set_flash(session, FlashKind::Error, err.user_message()).await;
    Redirect::to(to).into_response()
}

/// Prometheus counters and a latency histogram, rendered by hand (text format 0.0.4).
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency_buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    pub signin_failures: AtomicU64,
    /// Page renders that passed their deadline (answered 503, never rendered again).
    pub render_stalls: AtomicU64,
}

const LATENCY_BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

impl Metrics {
    pub fn observe(&self, method: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((method.to_string(), status))
            .or_default() += 1;
        for (i, b) in LATENCY_BOUNDS.iter().enumerate() {
            if seconds <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out += "# HELP mailward_http_requests_total HTTP requests by method and status.\n";
        out += "# TYPE mailward_http_requests_total counter\n";
        for ((m, s), n) in self.requests.lock().expect("metrics lock").iter() {
            out += &format!("mailward_http_requests_total{{method=\"{m}\",status=\"{s}\"}} {n}\n");
        }
        out += "# HELP mailward_http_request_duration_seconds Time to produce a response.\n";
        out += "# TYPE mailward_http_request_duration_seconds histogram\n";
        for (i, b) in LATENCY_BOUNDS.iter().enumerate() {
            out += &format!(
                "mailward_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}\n",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        out += &format!("mailward_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n");
        out += &format!(
            "mailward_http_request_duration_seconds_sum {}\n",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        out += &format!("mailward_http_request_duration_seconds_count {count}\n");
        out += "# HELP mailward_signin_failures_total Failed sign-in steps (password or second factor).\n";
        out += "# TYPE mailward_signin_failures_total counter\n";
        out += &format!(
            "mailward_signin_failures_total {}\n",
            self.signin_failures.load(Ordering::Relaxed)
        );
        out += "# HELP mailward_password_checks_total Password hashes and verifications run (argon2id).\n";
        out += "# TYPE mailward_password_checks_total counter\n";
        out += &format!(
            "mailward_password_checks_total {}\n",
            super::secrets::PASSWORD_CHECKS.load(Ordering::Relaxed)
        );
        out += "# HELP mailward_password_checks_refused_total Password checks turned away because the queue was full (503).\n";
        out += "# TYPE mailward_password_checks_refused_total counter\n";
        out += &format!(
            "mailward_password_checks_refused_total {}\n",
            super::secrets::PASSWORD_BUSY.load(Ordering::Relaxed)
        );
        out += "# HELP mailward_render_stalls_total Page renders that passed their deadline (503; a render is never repeated).\n";
        out += "# TYPE mailward_render_stalls_total counter\n";
        out += &format!(
            "mailward_render_stalls_total {}\n",
            self.render_stalls.load(Ordering::Relaxed)
        );
        out
    }
}

/// Everything a form handler needs about its caller, extracted once: the state, the
/// session, and the acting person (anonymous when signed out).
pub struct Caller {
    pub st: super::state::AppState,
    pub session: Session,
    pub client: ClientInfo,
    pub user: SignedIn,
}

impl axum::extract::FromRequestParts<super::state::AppState> for Caller {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        st: &super::state::AppState,
    ) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, st)
            .await
            .map_err(|e| e.into_response())?;
        Ok(Caller {
            st: st.clone(),
            session,
            client: parts
                .extensions
                .get::<ClientInfo>()
                .cloned()
                .unwrap_or_default(),
            user: parts
                .extensions
                .get::<SignedIn>()
                .cloned()
                .unwrap_or_default(),
        })
    }
}

impl Caller {
    pub fn actor(&self) -> Actor {
        self.user.actor(&self.client)
    }

    /// Answers a form post: on success a flash message and a 303 to `ok_to`; on failure the
    /// error's message and a 303 to `err_to`.
    pub async fn answer<T>(
        &self,
        result: Result<T, AppError>,
        ok_to: &str,
        ok_message: &str,
        err_to: &str,
    ) -> Response {
        match result {
            Ok(_) => done(&self.session, ok_to, ok_message).await,
            Err(e) => failed(&self.session, err_to, e).await,
        }
    }
}

// ---------- reverse proxies ----------

/// The reverse proxies whose `X-Forwarded-For` / `-Proto` headers are believed, as
/// addresses or CIDR ranges (`trusted_proxies`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProxyList(Vec<(std::net::IpAddr, u8)>);

impl ProxyList {
    pub fn parse(items: &[String]) -> Result<ProxyList, String> {
        let mut out = Vec::new();
        for it in items {
            let (addr, bits) = match it.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (it.as_str(), None),
            };
            let ip: std::net::IpAddr = addr.trim().parse().map_err(|_| {
                format!("trusted_proxies: {it:?} is not an IP address or CIDR range")
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("trusted_proxies: bad prefix length in {it:?}"))?,
            };
            out.push((ip, bits));
        }
        Ok(ProxyList(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        fn bits(ip: std::net::IpAddr) -> (u128, u8) {
            match ip {
                std::net::IpAddr::V4(v) => (u32::from(v) as u128, 32),
                std::net::IpAddr::V6(v) => match v.to_ipv4_mapped() {
                    Some(v4) => (u32::from(v4) as u128, 32),
                    None => (u128::from(v), 128),
                },
            }
        }
        let (x, xw) = bits(ip);
        self.0.iter().any(|(net, len)| {
            let (n, nw) = bits(*net);
            if nw != xw {
                return false;
            }
            let shift = u32::from(nw - (*len).min(nw));
            let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
            (x & mask) == (n & mask)
        })
    }

    /// Who the client is: the peer, unless the peer is a trusted proxy; then the right-most
    /// `X-Forwarded-For` entry that is not a trusted proxy itself (entries to its left were
    /// written by the client and prove nothing).
    pub fn client_ip(
        &self,
        peer: Option<std::net::IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<String> {
        let peer = peer?;
        if !self.contains(peer) {
            return Some(peer.to_string());
        }
        let Some(xff) = forwarded_for else {
            return Some(peer.to_string());
        };
        let mut last = None;
        for entry in xff.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.parse::<std::net::IpAddr>() {
                Ok(ip) if self.contains(ip) => last = Some(ip),
                Ok(ip) => return Some(ip.to_string()),
                // Garbage where an address belongs: stop believing the header there.
                Err(_) => break,
            }
        }
        Some(last.unwrap_or(peer).to_string())
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::ProxyList;

    fn list(v: &[&str]) -> ProxyList {
        ProxyList::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn right_most_untrusted_entry_is_the_client() {
        let l = list(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = Some("127.0.0.1".parse().unwrap());
        // The client wrote "6.6.6.6"; the proxy appended the real address.
        assert_eq!(
            l.client_ip(peer, Some("6.6.6.6, 203.0.113.7")).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            l.client_ip(peer, Some("203.0.113.7, 10.1.2.3")).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(l.client_ip(peer, None).as_deref(), Some("127.0.0.1"));
        // An untrusted peer's header is ignored.
        let other = Some("192.0.2.1".parse().unwrap());
        assert_eq!(
            l.client_ip(other, Some("6.6.6.6")).as_deref(),
            Some("192.0.2.1")
        );
        // Garbage stops the walk.
        assert_eq!(
            l.client_ip(peer, Some("6.6.6.6, junk")).as_deref(),
            Some("127.0.0.1")
        );
        assert!(l.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!l.contains("11.0.0.1".parse().unwrap()));
        assert!(list(&["::1", "fd00::/8"]).contains("fd12::1".parse().unwrap()));
        assert!(ProxyList::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(ProxyList::parse(&["proxy.local".into()]).is_err());
    }
}
