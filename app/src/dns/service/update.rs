//! Writing DNS by RFC 2136 (dynamic update), signed with TSIG: today the operator's DKIM zone
//! (`dkim_zone`), where the key records of delegated domains live. One UPDATE message per
//! record set, replacing it whole (delete the set, add the new values), so a repeated write
//! after a crash is harmless.
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use hickory_net::client::Client;
use hickory_net::proto::op::{update_message, MessageType, ResponseCode, UpdateMessage};
use hickory_net::proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_net::proto::rr::rdata::TXT;
use hickory_net::proto::rr::{Name, RData, Record, RecordType, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::FirstAnswer;
use hickory_net::DnsHandle;

use crate::core::config::Config;

/// Time to live of the records Mailward writes: short, so a rotation's new record is seen soon.
pub const TTL: u32 = 300;

/// A connection to the primary nameserver of one zone, allowed to update it.
pub struct ZoneWriter {
    server: SocketAddr,
    zone: Name,
    signer: Option<TSigner>,
    timeout: Duration,
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
    let algorithm = match alg.trim().to_ascii_lowercase().as_str() {
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        other => {
            return Err(format!(
            "TSIG algorithm {other:?} in {path} is not supported (hmac-sha256, -sha384, -sha512)"
        ))
        }
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map_err(|_| format!("the TSIG secret in {path} is not base64"))?;
    let name = Name::from_str(name.trim())
        .map_err(|_| format!("the TSIG key name in {path} is not a DNS name"))?;
    TSigner::new(key, algorithm, name, 300).map_err(|e| format!("TSIG key in {path}: {e}"))
}

impl ZoneWriter {
    /// The writer of the DKIM zone, when the configuration has one (`dkim_zone_server`).
    pub fn dkim_zone(cfg: &Config) -> Result<Option<ZoneWriter>, String> {
        let (Some(zone), Some(server)) = (&cfg.dkim_zone, &cfg.dkim_zone_server) else {
            return Ok(None);
        };
        let server = server
            .parse::<SocketAddr>()
            .or_else(|_| server.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| format!("dkim_zone_server {server:?} is not an address"))?;
        let signer = match &cfg.dkim_zone_tsig_file {
            Some(p) => Some(read_tsig(p)?),
            None => None,
        };
        Ok(Some(ZoneWriter {
            server,
            zone: fqdn(zone)?,
            signer,
            // A primary answers an update once it is applied, which can take longer than a
            // lookup; updates are rare, so they get time.
            timeout: Duration::from_millis(cfg.dns_timeout_ms.max(5_000)),
        }))
    }

    /// Makes the TXT set at `name` (absolute, inside the zone) hold exactly `values`; no
    /// values: the set is removed. One UPDATE, applied whole or not at all.
    pub async fn put_txt(&self, name: &str, values: &[String]) -> Result<(), String> {
        let owner = fqdn(name)?;
        if !self.zone.zone_of(&owner) {
            return Err(format!("{name} is not inside the zone {}", self.zone));
        }
        let mut msg = update_message::delete_rrset(
            Record::update0(owner.clone(), 0, RecordType::TXT).into_record_of_rdata(),
            self.zone.clone(),
            true,
        );
        for v in values {
            // Long values (RSA keys) are split into strings of at most 255 bytes.
            let chunks: Vec<String> = v
                .as_bytes()
                .chunks(255)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            msg.add_update(Record::from_rdata(
                owner.clone(),
                TTL,
                RData::TXT(TXT::new(chunks)),
            ));
        }
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
        let refused = |why: String| {
            format!(
                "{} refused the update of {name}: {why}{}",
                self.server,
                if self.signer.is_some() {
                    " (check the TSIG key's name, algorithm and secret, and that the zone's \
                     update ACL allows it)"
                } else {
                    " (no TSIG key is configured: dkim_zone_tsig_file)"
                }
            )
        };
        let response = match sent {
            Err(_) => {
                return Err(format!(
                    "{} did not answer the update of {name} within {:?}",
                    self.server, self.timeout
                ))
            }
            // A refusal of the key comes back unsigned, which the client reports as an error
            // of its own; either way the zone did not change.
            Ok(Err(e)) => {
                let text = e.to_string();
                let lower = text.to_ascii_lowercase();
                // hickory reports Knot's unsigned BADSIG/BADKEY answer as an HMAC problem of
                // its own ("truncated HMACs"): say what it means.
                return Err(refused(
                    if lower.contains("hmac") || lower.contains("tsig") {
                        "the TSIG signature was not accepted (BADSIG or BADKEY)".into()
                    } else {
                        text
                    },
                ));
            }
            Ok(Ok(r)) => r,
        };
        if response.metadata.message_type != MessageType::Response {
            return Err(refused("not a response".into()));
        }
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            rc => Err(refused(rc.to_string())),
        }
    }
}

fn fqdn(name: &str) -> Result<Name, String> {
    Name::from_str(&format!("{}.", name.trim_end_matches('.')))
        .map_err(|e| format!("bad name {name}: {e}"))
}
