//! `mailward policy`: the mail plane's submission policy, a Postfix policy delegation server
//! (the protocol: `name=value` lines ending in an empty line, answered by `action=…` and an
//! empty line; see Postfix's SMTPD_POLICY_README). Render the mail plane with
//! `--policy inet:HOST:PORT` and the submission service asks it about every recipient and
//! every finished message; the answers come from `app::outbound::service::submission`: the
//! plan's messages per hour, per mailbox and per tenant. Mail over a limit gets a temporary
//! refusal that says which limit and when sending resumes. When the database cannot be read
//! the answer is "try again later", never a silent pass; a policy server that does not
//! answer makes Postfix answer the same (`smtpd_policy_service_default_action`).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::core::state::AppState;
use app::outbound::service::{refused, submission, Stage, Verdict};
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
    match submission(st, get("sasl_username"), stage).await {
        Ok(Verdict::Pass) => "DUNNO".into(),
        Ok(Verdict::Hold(why)) => format!("HOLD {why}"),
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
