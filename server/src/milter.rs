//! `mailward milter`: the mail plane's DKIM signer, a Postfix milter on the submission
//! service (`mailward mailplane render --milter inet:HOST:PORT`). Each submitted message is
//! signed with the active key of its From domain, read from the database at that moment
//! (`app::dns::service::sign_message`): a key rotation reaches the mail plane with no
//! re-render and no restart. Messages from domains without an active key pass unsigned; a
//! database or key-file failure answers "try again later" (Postfix's `milter_default_action
//! = tempfail` covers a milter that is down), so mail never leaves unsigned while the panel
//! says it is signed.
use app::core::state::AppState;
use app::dns::service::{sign_message, Signed};
use indymilter::{
    Actions, Callbacks, Context, ContextActions, EomContext, NegotiateContext, Status,
};
use std::ffi::CString;

/// One message as it passes: headers as received, then the body.
#[derive(Default)]
struct Msg {
    raw: Vec<u8>,
    body: Vec<u8>,
}

async fn negotiate(ctx: &mut NegotiateContext<Msg>) -> Status {
    ctx.requested_actions |= Actions::ADD_HEADER;
    Status::Continue
}

async fn mail(ctx: &mut Context<Msg>) -> Status {
    ctx.data = Some(Msg::default());
    Status::Continue
}

async fn header(ctx: &mut Context<Msg>, name: CString, value: CString) -> Status {
    let m = ctx.data.get_or_insert_with(Msg::default);
    m.raw.extend_from_slice(name.as_bytes());
    m.raw.extend_from_slice(b": ");
    // Postfix hands folded values with bare LF; a message on the wire has CRLF.
    for line in value.as_bytes().split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !m.raw.ends_with(b": ") {
            m.raw.extend_from_slice(b"\r\n");
        }
        m.raw.extend_from_slice(line);
    }
    m.raw.extend_from_slice(b"\r\n");
    Status::Continue
}

async fn body(ctx: &mut Context<Msg>, chunk: bytes::Bytes) -> Status {
    ctx.data
        .get_or_insert_with(Msg::default)
        .body
        .extend_from_slice(&chunk);
    Status::Continue
}

async fn eom(st: AppState, ctx: &mut EomContext<Msg>) -> Status {
    let Some(m) = ctx.data.take() else {
        return Status::Continue;
    };
    let mut raw = m.raw;
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&m.body);
    match sign_message(&st, &raw).await {
        Ok(Signed::Header {
            header,
            domain,
            selector,
        }) => {
            let value = header
                .trim_end()
                .strip_prefix("DKIM-Signature:")
                .unwrap_or(&header)
                .trim_start()
                .replace("\r\n", "\n");
            if let Err(e) = ctx.actions.insert_header(0, "DKIM-Signature", value).await {
                tracing::warn!(error = %e, %domain, "milter: adding the DKIM signature failed");
                return Status::Tempfail;
            }
            tracing::debug!(%domain, %selector, "milter: signed");
            Status::Continue
        }
        Ok(Signed::Unsigned(why)) => {
            tracing::debug!(%why, "milter: not signed");
            Status::Continue
        }
        Err(e) => {
            tracing::warn!(error = %e, "milter: signing failed; the message is deferred");
            Status::Tempfail
        }
    }
}

/// Serves the milter on `listen` until SIGTERM or Ctrl-C.
pub async fn run(st: AppState, listen: &str) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let callbacks = Callbacks::new()
        .on_negotiate(|ctx, _, _| Box::pin(negotiate(ctx)))
        .on_mail(|ctx, _| Box::pin(mail(ctx)))
        .on_header(|ctx, name, value| Box::pin(header(ctx, name, value)))
        .on_body(|ctx, chunk| Box::pin(body(ctx, chunk)))
        .on_eom(move |ctx| Box::pin(eom(st.clone(), ctx)));
    tracing::info!(%listen, "DKIM milter listening");
    let shutdown = crate::shutdown_signal();
    indymilter::run(listener, callbacks, Default::default(), shutdown)
        .await
        .map_err(|e| e.to_string())
}
