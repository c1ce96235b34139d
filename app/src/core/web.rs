//! HTTP plumbing shared by every capability: client info, request metrics, trusted proxies.
//! (Who is signed in, flash messages and form answers are `auth::web`: they read the session.)
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Where a request came from (set by the server's outer middleware).
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Served over TLS (directly, or a trusted proxy said so).
    pub https: bool,
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

// ---------- reverse proxies ----------

/// Addresses and CIDR ranges: the reverse proxies whose `X-Forwarded-For` / `-Proto`
/// headers are believed (`trusted_proxies`), an API token's `allow_from`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetList(Vec<(std::net::IpAddr, u8)>);

impl NetList {
    /// `trusted_proxies` of the configuration.
    pub fn parse(items: &[String]) -> Result<NetList, String> {
        Self::parse_as(items, "trusted_proxies")
    }

    /// A list whose errors name `label`.
    pub fn parse_as(items: &[String], label: &str) -> Result<NetList, String> {
        let mut out = Vec::new();
        for it in items {
            let (addr, bits) = match it.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (it.as_str(), None),
            };
            let ip: std::net::IpAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("{label}: {it:?} is not an IP address or CIDR range"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{label}: bad prefix length in {it:?}"))?,
            };
            out.push((ip, bits));
        }
        Ok(NetList(out))
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
    use super::NetList;

    fn list(v: &[&str]) -> NetList {
        NetList::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
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
        assert!(NetList::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(NetList::parse(&["proxy.local".into()]).is_err());
    }
}
