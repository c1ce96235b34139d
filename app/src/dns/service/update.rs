//! Writing DNS by RFC 2136 (dynamic update), signed with TSIG: the operator's DKIM zone
//! (`dkim_zone`), where the key records of delegated domains live, and the zones of domains
//! whose DNS provider is "RFC 2136" (governed DNS changes, `changes.rs`). One UPDATE message
//! per record set: [`ZoneWriter::put_txt`] replaces a set whole (so a repeat after a crash is
//! harmless); [`ZoneWriter::swap`] is a compare-and-swap — its prerequisites say the set
//! still holds exactly what was recorded, so a concurrent edit makes the server refuse the
//! whole update instead of being overwritten.
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use hickory_net::client::Client;
use hickory_net::proto::op::{
    update_message, Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage,
};
use hickory_net::proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_net::proto::rr::rdata::TXT;
use hickory_net::proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::FirstAnswer;
use hickory_net::DnsHandle;

use crate::core::config::Config;

/// The record types of [`ZoneWriter::swap`] (re-exported for callers without hickory).
pub use hickory_net::proto::rr::RecordType as Rtype;

/// Time to live of the records Mailward writes: short, so a rotation's new record is seen soon.
pub const TTL: u32 = 300;

/// A connection to the primary nameserver of one zone, allowed to update it.
pub struct ZoneWriter {
    server: SocketAddr,
    zone: Name,
    signer: Option<TSigner>,
    timeout: Duration,
    /// Where the key is configured, for error messages.
    key_hint: &'static str,
}

/// The TSIG algorithms Mailward signs with.
pub const TSIG_ALGORITHMS: [&str; 3] = ["hmac-sha256", "hmac-sha384", "hmac-sha512"];

/// A TSIG signer from its parts. Errors never contain the secret.
pub fn signer(algorithm: &str, name: &str, secret: &[u8]) -> Result<TSigner, String> {
    let algorithm = match algorithm.trim().to_ascii_lowercase().as_str() {
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        other => {
            return Err(format!(
                "TSIG algorithm {other:?} is not supported (hmac-sha256, -sha384, -sha512)"
            ))
        }
    };
    let name = Name::from_str(name.trim()).map_err(|_| "the TSIG key name is not a DNS name")?;
    TSigner::new(secret.to_vec(), algorithm, name, 300).map_err(|e| format!("TSIG key: {e}"))
}

/// Reads a TSIG key file: `[algorithm:]name:base64-secret` (the `nsupdate -y` form; the
/// algorithm defaults to hmac-sha256). Errors never contain the secret.
pub fn read_tsig(path: &str) -> Result<TSigner, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the TSIG key file {path} cannot be read: {e}"))?;
    let parts: Vec<&str> = text.trim().split(':').collect();
    let (alg, name, secret) = match parts.as_slice() {
        [alg, name, secret] => (*alg, *name, *secret),
        [name, secret] => ("hmac-sha256", *name, *secret),
        _ => {
            return Err(format!(
                "the TSIG key file {path} must hold algorithm:name:secret"
            ))
        }
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map_err(|_| format!("the TSIG secret in {path} is not base64"))?;
    signer(alg, name, &key).map_err(|e| format!("{e} (in {path})"))
}

/// Why an update did not go through. `Refused`: the server answered and changed nothing.
/// `Unknown`: no (usable) answer — the update may or may not have been applied, so the
/// caller reads the record set again before deciding.
#[derive(Debug, Clone)]
pub enum UpdateError {
    Refused(String),
    Unknown(String),
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateError::Refused(s) | UpdateError::Unknown(s) => f.write_str(s),
        }
    }
}

impl ZoneWriter {
    /// A writer of `zone` at its primary `server` (`ip` or `ip:port`).
    pub fn new(
        server: &str,
        zone: &str,
        signer: Option<TSigner>,
        timeout_ms: u64,
        key_hint: &'static str,
    ) -> Result<ZoneWriter, String> {
        let server = parse_server(server)?;
        Ok(ZoneWriter {
            server,
            zone: fqdn(zone)?,
            signer,
            // A primary answers an update once it is applied, which can take longer than a
            // lookup; updates are rare, so they get time.
            timeout: Duration::from_millis(timeout_ms.max(5_000)),
            key_hint,
        })
    }

    /// The writer of the DKIM zone, when the configuration has one (`dkim_zone_server`).
    pub fn dkim_zone(cfg: &Config) -> Result<Option<ZoneWriter>, String> {
        let (Some(zone), Some(server)) = (&cfg.dkim_zone, &cfg.dkim_zone_server) else {
            return Ok(None);
        };
        let signer = match &cfg.dkim_zone_tsig_file {
            Some(p) => Some(read_tsig(p)?),
            None => None,
        };
        ZoneWriter::new(
            server,
            zone,
            signer,
            cfg.dns_timeout_ms,
            "dkim_zone_tsig_file",
        )
        .map(Some)
        .map_err(|e| format!("dkim_zone_server: {e}"))
    }

    /// The primary's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    fn inside(&self, name: &str) -> Result<Name, String> {
        let owner = fqdn(name)?;
        if !self.zone.zone_of(&owner) {
            return Err(format!("{name} is not inside the zone {}", self.zone));
        }
        Ok(owner)
    }

    /// Makes the TXT set at `name` (absolute, inside the zone) hold exactly `values`; no
    /// values: the set is removed. One UPDATE, applied whole or not at all.
    pub async fn put_txt(&self, name: &str, values: &[String]) -> Result<(), String> {
        let owner = self.inside(name)?;
        let mut msg = update_message::delete_rrset(
            Record::update0(owner.clone(), 0, RecordType::TXT).into_record_of_rdata(),
            self.zone.clone(),
            true,
        );
        for v in values {
            msg.add_update(Record::from_rdata(owner.clone(), TTL, txt(v)));
        }
        self.send(msg, name).await.map_err(|e| e.to_string())
    }

    /// Compare-and-swap of one record set: the update's prerequisites say the set at `name`
    /// holds exactly `before` (as the primary served it; empty: the set does not exist), then
    /// the set is deleted and `after` added with `ttl` (empty: the set is removed). A set
    /// that changed meanwhile makes the server refuse the whole update (NXRRSET/YXRRSET), and
    /// nothing changes.
    pub async fn swap(
        &self,
        name: &str,
        rtype: RecordType,
        before: &[RData],
        after: &[RData],
        ttl: u32,
    ) -> Result<(), UpdateError> {
        let owner = self.inside(name).map_err(UpdateError::Refused)?;
        let mut zone = Query::new();
        zone.set_name(self.zone.clone())
            .set_query_class(DNSClass::IN)
            .set_query_type(RecordType::SOA);
        let mut msg = Message::query();
        msg.metadata.op_code = OpCode::Update;
        msg.metadata.recursion_desired = false;
        msg.add_zone(zone);
        if before.is_empty() {
            // RFC 2136 2.4.3, "RRset does not exist": class NONE, no data.
            let mut r = Record::update0(owner.clone(), 0, rtype).into_record_of_rdata();
            r.dns_class = DNSClass::NONE;
            msg.add_pre_requisite(r);
        } else {
            // 2.4.2, "RRset exists (value dependent)": the whole set, class IN, TTL 0.
            for d in before {
                msg.add_pre_requisite(Record::from_rdata(owner.clone(), 0, d.clone()));
            }
        }
        // 2.5.2, delete the set (class ANY), then 2.5.1, add each new record.
        let mut del = Record::update0(owner.clone(), 0, rtype).into_record_of_rdata();
        del.dns_class = DNSClass::ANY;
        msg.add_update(del);
        for d in after {
            msg.add_update(Record::from_rdata(owner.clone(), ttl, d.clone()));
        }
        self.send(msg, name).await
    }

    /// How many records the zone holds (its SOA left out), by zone transfer — AXFR over TCP,
    /// signed with the key: what a bulk plan's share of a zone is measured against. An error
    /// when the server does not allow the transfer.
    pub async fn count_records(&self) -> Result<usize, String> {
        use futures_util::StreamExt;
        use hickory_net::client::ClientHandle;
        use hickory_net::tcp::TcpClientStream;
        use hickory_net::xfer::DnsMultiplexer;
        let (connect, handle) = TcpClientStream::new(
            self.server,
            None,
            Some(self.timeout),
            TokioRuntimeProvider::default(),
        );
        let stream = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| format!("{} did not accept a TCP connection", self.server))?
            .map_err(|e| format!("{}: {e}", self.server))?;
        let mut mux = DnsMultiplexer::new(stream, handle).with_timeout(self.timeout);
        if let Some(s) = &self.signer {
            mux = mux.with_signer(s.clone());
        }
        let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(mux);
        let bg = tokio::spawn(bg);
        let mut xfr = client.zone_transfer(self.zone.clone(), None);
        let counted = tokio::time::timeout(self.timeout * 4, async {
            let mut n = 0usize;
            while let Some(r) = xfr.next().await {
                let r = r.map_err(|e| format!("{}: {e}", self.server))?;
                if r.metadata.response_code != ResponseCode::NoError {
                    return Err(format!("{}: {}", self.server, r.metadata.response_code));
                }
                n += r
                    .answers
                    .iter()
                    .filter(|x| x.record_type() != RecordType::SOA)
                    .count();
            }
            Ok(n)
        })
        .await;
        bg.abort();
        counted.map_err(|_| format!("{} did not finish the zone transfer in time", self.server))?
    }

    async fn send(&self, msg: Message, name: &str) -> Result<(), UpdateError> {
        let stream = UdpClientStream::builder(self.server, TokioRuntimeProvider::default())
            .with_timeout(Some(self.timeout))
            .with_signer(self.signer.clone())
            .build();
        let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        let bg = tokio::spawn(bg);
        let sent = tokio::time::timeout(
            self.timeout + Duration::from_millis(500),
            client.send(msg.into()).first_answer(),
        )
        .await;
        bg.abort();
        let refused = |why: String, key: bool| {
            UpdateError::Refused(format!(
                "{} refused the update of {name}: {why}{}",
                self.server,
                match (key, self.signer.is_some()) {
                    (false, _) => String::new(),
                    (true, true) => " (check the TSIG key's name, algorithm and secret, and that \
                         the zone's update ACL allows it)"
                        .to_string(),
                    (true, false) => format!(" (no TSIG key is configured: {})", self.key_hint),
                }
            ))
        };
        let response = match sent {
            Err(_) => {
                return Err(UpdateError::Unknown(format!(
                    "{} did not answer the update of {name} within {:?}",
                    self.server, self.timeout
                )))
            }
            // A refusal of the key comes back unsigned, which the client reports as an error
            // of its own; either way the zone did not change.
            Ok(Err(e)) => {
                let text = e.to_string();
                let lower = text.to_ascii_lowercase();
                // hickory reports Knot's unsigned BADSIG/BADKEY answer as an HMAC problem of
                // its own ("truncated HMACs"): say what it means.
                if lower.contains("hmac") || lower.contains("tsig") {
                    return Err(refused(
                        "the TSIG signature was not accepted (BADSIG or BADKEY)".into(),
                        true,
                    ));
                }
                return Err(UpdateError::Unknown(format!(
                    "{} gave no usable answer to the update of {name}: {text}",
                    self.server
                )));
            }
            Ok(Ok(r)) => r,
        };
        if response.metadata.message_type != MessageType::Response {
            return Err(UpdateError::Unknown(format!(
                "{} sent something other than a response",
                self.server
            )));
        }
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            ResponseCode::NXRRSet | ResponseCode::YXRRSet | ResponseCode::NXDomain => Err(refused(
                "the record set no longer holds what was recorded before (someone changed \
                     it meanwhile), so nothing was changed"
                    .into(),
                false,
            )),
            ResponseCode::NotZone => Err(refused(
                format!("the name is not inside the zone {}", self.zone),
                false,
            )),
            ResponseCode::NotAuth => Err(refused(
                format!(
                    "the server is not authoritative for {} or does not accept this key (NOTAUTH)",
                    self.zone
                ),
                true,
            )),
            rc => Err(refused(rc.to_string(), true)),
        }
    }
}

/// A TXT value as record data (long values, such as RSA keys, split into 255-byte strings).
pub fn txt(v: &str) -> RData {
    RData::TXT(TXT::new(
        v.as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect(),
    ))
}

/// `ip` or `ip:port` (port 53 by default).
pub fn parse_server(server: &str) -> Result<SocketAddr, String> {
    let server = server.trim();
    server
        .parse::<SocketAddr>()
        .or_else(|_| server.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("{server:?} is not an IP address (with an optional :port)"))
}

fn fqdn(name: &str) -> Result<Name, String> {
    Name::from_str(&format!("{}.", name.trim_end_matches('.')))
        .map_err(|e| format!("bad name {name}: {e}"))
}
