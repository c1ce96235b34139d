//! Asking DNS: the nameservers of a domain (through a recursive resolver, once per scan) and
//! then each record set *from every authoritative nameserver directly* — no cache anywhere,
//! so a record removed a minute ago is missing now, not after its TTL. An error or a timeout
//! is an unknown answer, never "missing".
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_net::{DnsError, NetError};
use tokio::sync::Mutex;

use crate::core::config::Config;

/// One answer: the values (empty: the name has no such records), or why there is none.
pub type Answer = Result<Vec<String>, String>;

/// The resolver of one scan: UDP clients per server address, reused by every question.
#[derive(Clone)]
pub struct Resolver {
    recursive: SocketAddr,
    port: u16,
    timeout: Duration,
    clients: Arc<Mutex<HashMap<SocketAddr, Client<TokioRuntimeProvider>>>>,
    /// Addresses of nameserver host names, found once per scan.
    ns_addrs: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
    /// Zones many domains share (the operator's DKIM zone), their nameservers found once.
    zone_ns: Arc<Mutex<HashMap<String, Result<Vec<(String, SocketAddr)>, String>>>>,
    /// TXT answers of the recursive resolver (SPF includes, shared by many domains).
    txt: Arc<Mutex<HashMap<String, Answer>>>,
}

/// The first `nameserver` of /etc/resolv.conf.
fn system_resolver() -> Option<IpAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|a| a.trim().parse().ok())
}

impl Resolver {
    pub fn new(cfg: &Config) -> Result<Resolver, String> {
        let recursive = match cfg.dns_resolver.as_deref() {
            Some(r) => r
                .parse::<SocketAddr>()
                .or_else(|_| r.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| format!("dns_resolver {r:?} is not an address"))?,
            None => SocketAddr::new(
                system_resolver().ok_or("no dns_resolver set and none in /etc/resolv.conf")?,
                53,
            ),
        };
        Ok(Resolver {
            recursive,
            port: cfg.dns_port,
            timeout: Duration::from_millis(cfg.dns_timeout_ms),
            clients: Arc::default(),
            ns_addrs: Arc::default(),
            zone_ns: Arc::default(),
            txt: Arc::default(),
        })
    }

    /// The recursive resolver asked (for the mail probes' authentication checks).
    pub fn recursive(&self) -> SocketAddr {
        self.recursive
    }

    async fn client(&self, server: SocketAddr) -> Client<TokioRuntimeProvider> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&server) {
            return c.clone();
        }
        let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
            .with_timeout(Some(self.timeout))
            .build();
        let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(bg);
        clients.insert(server, client.clone());
        client
    }

    /// Asks `server` for `name`'s records of `rtype`, as presentation-format values (TXT
    /// strings joined, names with their final dot).
    pub async fn ask(&self, server: SocketAddr, name: &str, rtype: RecordType) -> Answer {
        Ok(self
            .ask_raw(server, name, rtype)
            .await?
            .iter()
            .filter_map(|r| present(&r.data))
            .collect())
    }

    /// Asks `server` for `name`'s records of `rtype`, as records (their data is what an
    /// update's prerequisite must repeat exactly). Empty: the name has no such records.
    pub async fn ask_raw(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
    ) -> Result<Vec<Record>, String> {
        let qname = Name::from_str(&format!("{}.", name.trim_end_matches('.')))
            .map_err(|e| format!("bad name {name}: {e}"))?;
        let mut client = self.client(server).await;
        let asked = tokio::time::timeout(
            self.timeout + Duration::from_millis(200),
            client.query(qname, DNSClass::IN, rtype),
        )
        .await;
        let response = match asked {
            Err(_) => return Err(format!("{server}: no answer within {:?}", self.timeout)),
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(nr)))) => {
                return match nr.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => Ok(vec![]),
                    rc => Err(format!("{server}: {rc}")),
                }
            }
            Ok(Err(e)) => return Err(format!("{server}: {e}")),
            Ok(Ok(r)) => r,
        };
        match response.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            rc => return Err(format!("{server}: {rc}")),
        }
        Ok(response
            .answers
            .iter()
            .filter(|r| r.record_type() == rtype)
            .cloned()
            .collect())
    }

    /// The SOA serial `server` has for `zone` (`None`: it has no SOA there).
    pub async fn serial(&self, server: SocketAddr, zone: &str) -> Result<Option<u32>, String> {
        Ok(self
            .ask_raw(server, zone, RecordType::SOA)
            .await?
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(s) => Some(s.serial),
                _ => None,
            }))
    }

    /// The nameservers of a zone many domains share, found once per scan.
    pub async fn shared_zone_nameservers(
        &self,
        zone: &str,
    ) -> Result<Vec<(String, SocketAddr)>, String> {
        let mut cache = self.zone_ns.lock().await;
        if let Some(r) = cache.get(zone) {
            return r.clone();
        }
        let r = self.nameservers(zone).await;
        cache.insert(zone.to_string(), r.clone());
        r
    }

    /// A name's TXT records as the recursive resolver has them, asked once per scan: for
    /// following SPF includes, which mostly point at other organisations' zones.
    pub async fn txt_via_resolver(&self, name: &str) -> Answer {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(a) = self.txt.lock().await.get(&key) {
            return a.clone();
        }
        let a = self.ask(self.recursive, &key, RecordType::TXT).await;
        self.txt.lock().await.insert(key, a.clone());
        a
    }

    /// Asks the recursive resolver (the delegation as the world sees it: NS, DS).
    pub async fn ask_recursive(&self, name: &str, rtype: RecordType) -> Answer {
        self.ask(self.recursive, name, rtype).await
    }

    /// The authoritative nameservers of `domain` as (host name, address on the DNS port).
    pub async fn nameservers(&self, domain: &str) -> Result<Vec<(String, SocketAddr)>, String> {
        let names = self.ask(self.recursive, domain, RecordType::NS).await?;
        if names.is_empty() {
            return Err(format!("{domain} has no NS records"));
        }
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for ns in names {
            let host = ns.trim_end_matches('.').to_ascii_lowercase();
            let cached = self.ns_addrs.lock().await.get(&host).cloned();
            let addrs = match cached {
                Some(a) => a,
                None => {
                    let mut a: Vec<IpAddr> = Vec::new();
                    for t in [RecordType::A, RecordType::AAAA] {
                        match self.ask(self.recursive, &host, t).await {
                            Ok(v) => a.extend(v.iter().filter_map(|s| s.parse::<IpAddr>().ok())),
                            Err(e) => errors.push(e),
                        }
                    }
                    self.ns_addrs.lock().await.insert(host.clone(), a.clone());
                    a
                }
            };
            // One address per nameserver: they serve the same zone.
            if let Some(ip) = addrs.first() {
                out.push((host, SocketAddr::new(*ip, self.port)));
            }
        }
        if out.is_empty() {
            return Err(format!(
                "no address for the nameservers of {domain}{}",
                errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        Ok(out)
    }
}

/// A record's data as it is written in a zone file (TXT: its strings joined).
pub fn present(d: &RData) -> Option<String> {
    Some(match d {
        RData::A(a) => a.to_string(),
        RData::AAAA(a) => a.to_string(),
        RData::NS(n) => n.0.to_ascii(),
        RData::CNAME(n) => n.0.to_ascii(),
        RData::MX(m) => format!("{} {}", m.preference, m.exchange.to_ascii()),
        RData::SRV(s) => format!(
            "{} {} {} {}",
            s.priority,
            s.weight,
            s.port,
            s.target.to_ascii()
        ),
        RData::TXT(t) => t
            .txt_data
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<String>(),
        RData::DNSSEC(hickory_net::proto::dnssec::rdata::DNSSECRData::DS(ds)) => ds.to_string(),
        _ => return None,
    })
}

/// How many DNS lookups an SPF record costs a receiver, includes and redirects followed (RFC
/// 7208 §4.6.4: more than 10 is a permanent error), and definite problems met on the way. A
/// target that cannot be asked is left out (unknown, not a finding); macros are not expanded.
pub async fn spf_lookups(r: &Resolver, spf: &str) -> (usize, Vec<String>) {
    const STOP: usize = 30;
    let mut count = 0usize;
    let mut notes = Vec::new();
    let mut seen: std::collections::HashSet<String> = Default::default();
    let mut stack: Vec<(String, usize)> = vec![(spf.to_string(), 0)];
    while let Some((record, depth)) = stack.pop() {
        for term in record.split_whitespace().skip(1) {
            let m = term
                .trim_start_matches(['+', '-', '~', '?'])
                .to_ascii_lowercase();
            let (name, arg) = match m.find([':', '=', '/']) {
                Some(i) => (&m[..i], m.get(i + 1..)),
                None => (m.as_str(), None),
            };
            match name {
                "a" | "mx" | "ptr" | "exists" => count += 1,
                "include" | "redirect" => {
                    count += 1;
                    let Some(target) = arg.map(|t| t.trim_end_matches('.').to_string()) else {
                        continue;
                    };
                    if target.contains('%') || depth >= 10 || count > STOP {
                        continue;
                    }
                    if !seen.insert(target.clone()) {
                        notes.push(format!("SPF includes {target} more than once (a loop?)"));
                        continue;
                    }
                    if let Ok(values) = r.txt_via_resolver(&target).await {
                        let spfs: Vec<&String> = values
                            .iter()
                            .filter(|v| {
                                let v = v.trim_start().to_ascii_lowercase();
                                v == "v=spf1" || v.starts_with("v=spf1 ")
                            })
                            .collect();
                        match spfs.as_slice() {
                            [one] => stack.push(((*one).clone(), depth + 1)),
                            [] => notes
                                .push(format!("SPF {name} {target} has no SPF record (permerror)")),
                            many => notes.push(format!(
                                "SPF {name} {target} has {} SPF records (permerror)",
                                many.len()
                            )),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    (count, notes)
}
