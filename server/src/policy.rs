//! `mailward policy`: the mail plane's submission policy, a Postfix policy delegation server
//! (the protocol: `name=value` lines ending in an empty line, answered by `action=…` and an
//! empty line; see Postfix's SMTPD_POLICY_README). Render the mail plane with
//! `--policy inet:HOST:PORT` and the submission service asks it about every recipient and
//! every finished message; the answers come from `app::outbound::service::submission`: the
//! plan's messages per hour, per mailbox and per tenant. Mail over a limit gets a temporary
//! refusal that says which limit and when sending resumes. When the database cannot be read
//! the answer is "try again later", never a silent pass; a policy server that does not
//! answer makes Postfix answer the same (`smtpd_policy_service_default_action`).
//!
//! At RCPT it also refuses mail to outside addresses from a tenant whose plan has no managed
//! relay and which set none of its own. And the same listener answers Postfix's socketmap
//! lookups (netstrings, which begin with a digit; a policy request begins with a letter):
//! `transport` names the relay a hosted sender's mail leaves through (the tenant's own, from
//! `tenant_relays`), `sasl` its credentials — unsealed here, so no password sits in a file or
//! a view, and a relay changed on the tenant page applies at the next message.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::core::state::AppState;
use app::outbound::service::{refused, relay_for_sender, submission, Stage, Verdict};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A request has some 30 attributes of at most a few hundred bytes: anything far larger is
/// not Postfix.
const MAX_LINE: u64 = 4096;
const MAX_ATTRS: usize = 100;
/// Postfix closes an idle policy connection after 300 s (`smtpd_policy_service_max_idle`).
const IDLE: Duration = Duration::from_secs(330);
const MAX_CONNECTIONS: usize = 512;
const UNAVAILABLE: &str = "451 4.3.0 Sending limits cannot be checked just now; try again later";

pub async fn run(st: AppState, listen: &str) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, "submission policy listening");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (sock, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "policy: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "policy: too many connections; one refused");
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(&st, sock).await {
                        tracing::debug!(%peer, error = %e, "policy: connection ended");
                    }
                    drop(permit);
                });
            }
        }
    }
}

/// One Postfix connection: requests one after another until it closes.
async fn serve(st: &AppState, sock: TcpStream) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    if tokio::time::timeout(IDLE, sock.peek(&mut first))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??
        == 1
        && first[0].is_ascii_digit()
    {
        return serve_socketmap(st, sock).await;
    }
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let mut attrs: HashMap<String, String> = HashMap::new();
    // Postfix asks once per recipient; a message refused at its first recipient is counted
    // once, not once per recipient.
    let mut last_refused: Option<String> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(IDLE, (&mut r).take(MAX_LINE).read_until(b'\n', &mut line))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a line too long (or cut short)",
            ));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            let action = answer(st, &attrs, &mut last_refused).await;
            attrs.clear();
            w.write_all(format!("action={action}\n\n").as_bytes())
                .await?;
            continue;
        }
        if attrs.len() >= MAX_ATTRS {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "too many attributes",
            ));
        }
        if let Some((k, v)) = text.split_once('=') {
            attrs.insert(k.to_string(), v.to_string());
        }
    }
}

async fn answer(
    st: &AppState,
    attrs: &HashMap<String, String>,
    last_refused: &mut Option<String>,
) -> String {
    let get = |k: &str| attrs.get(k).map(String::as_str).unwrap_or("");
    if get("request") != "smtpd_access_policy" {
        return "DUNNO".into();
    }
    let stage = match get("protocol_state") {
        "RCPT" => Stage::Recipient,
        "END-OF-MESSAGE" => Stage::EndOfMessage,
        _ => return "DUNNO".into(),
    };
    match submission(st, get("sasl_username"), stage, get("recipient")).await {
        Ok(Verdict::Pass) => "DUNNO".into(),
        Ok(Verdict::Hold(why)) => format!("HOLD {why}"),
        Ok(Verdict::Reject(reply)) => {
            tracing::info!(login = %get("sasl_username"), "policy: outside mail refused, no relay");
            reply
        }
        Ok(Verdict::Refuse(r)) => {
            let instance = get("instance").to_string();
            if last_refused.as_deref() != Some(instance.as_str()) || instance.is_empty() {
                *last_refused = Some(instance);
                if let Err(e) = refused(st, &r).await {
                    tracing::warn!(error = %e, "policy: counting a refusal failed");
                }
            }
            tracing::info!(address = %r.address, scope = r.scope.as_str(), limit = r.limit, "policy: sending limit reached");
            r.reply
        }
        Err(e) => {
            tracing::warn!(error = %e, "policy: the database could not answer");
            UNAVAILABLE.into()
        }
    }
}

/// A socketmap request is a netstring of at most this many bytes (`name key`): a mail
/// address and a table name.
const MAX_NETSTRING: usize = 1024;

/// One Postfix socketmap connection: netstring requests (`name key`) answered by netstrings
/// (`OK value`, `NOTFOUND `, `TEMP reason`, `PERM reason`) until it closes.
async fn serve_socketmap(st: &AppState, sock: TcpStream) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    loop {
        let mut len = Vec::new();
        let n = tokio::time::timeout(IDLE, (&mut r).take(8).read_until(b':', &mut len))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Ok(());
        }
        let digits = len
            .strip_suffix(b":")
            .ok_or_else(|| bad("netstring length"))?;
        let size: usize = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| bad("netstring length"))?;
        if size > MAX_NETSTRING {
            return Err(bad("netstring too long"));
        }
        let mut body = vec![0u8; size + 1];
        r.read_exact(&mut body).await?;
        if body.pop() != Some(b',') {
            return Err(bad("netstring without its comma"));
        }
        let text = String::from_utf8_lossy(&body);
        let reply = match text.split_once(' ') {
            Some((name, key)) => lookup(st, name, key).await,
            None => "PERM a socketmap request is `name key`".into(),
        };
        w.write_all(format!("{}:{reply},", reply.len()).as_bytes())
            .await?;
    }
}

/// One socketmap lookup, answered in Postfix's words.
async fn lookup(st: &AppState, name: &str, key: &str) -> String {
    if !matches!(name, "transport" | "sasl") {
        return format!("PERM no table {name:?} here (transport, sasl)");
    }
    match relay_for_sender(st, key).await {
        Ok(None) => "NOTFOUND ".into(),
        Ok(Some((relay, password))) => match name {
            "transport" => format!("OK {}", transport_of(&relay)),
            _ => format!("OK {}:{password}", relay.username),
        },
        Err(e) => {
            tracing::warn!(error = %e, table = name, "policy: a relay lookup failed");
            "TEMP the relay of this sender cannot be read just now".into()
        }
    }
}

/// The Postfix transport and next hop of a tenant's relay: `mwrelay` requires STARTTLS,
/// `mwrelays` speaks TLS from the first byte (both in the rendered master.cf).
pub fn transport_of(r: &app::outbound::Relay) -> String {
    let service = match r.tls {
        app::outbound::RelayTls::Starttls => "mwrelay",
        app::outbound::RelayTls::Tls => "mwrelays",
    };
    format!("{service}:[{}]:{}", r.host, r.port)
}
