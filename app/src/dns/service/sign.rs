//! Signing outgoing mail: the mail plane's milter (`mailward milter`) hands each submitted
//! message here; it is signed with the active key of its From domain, read from the
//! database at that moment — a rotation needs no re-render and no restart. A domain without
//! an active key (none made yet, or its record not yet seen on every nameserver) is not
//! signed: never with a key receivers cannot find.
use mail_auth::common::crypto::{DkimKey as SigningKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;

use super::*;

/// The headers signed (those present; `From` always).
const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// What signing a message came to.
#[derive(Debug)]
pub enum Signed {
    /// The header to prepend (`DKIM-Signature: …`, folded, ending in CRLF) and the selector.
    Header {
        header: String,
        domain: String,
        selector: String,
    },
    /// Not signed, and why (no From domain, not hosted, no active key).
    Unsigned(String),
}

/// The domain of the message's (first) From address.
pub fn from_domain(raw: &[u8]) -> Option<String> {
    let m = mail_auth::AuthenticatedMessage::parse(raw)?;
    let from = m.from();
    from.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// Signs `raw` with the active key of its From domain.
pub async fn sign_message(st: &AppState, raw: &[u8]) -> AppResult<Signed> {
    let Some(domain) = from_domain(raw) else {
        return Ok(Signed::Unsigned("no From address".into()));
    };
    let sys = Actor::system("dkim signer");
    let g = authorize(&sys, Action::ViewTenants)?;
    let Some(d) = crate::tenancy::store::domain(&st.db, &g, &domain).await? else {
        return Ok(Signed::Unsigned(format!("{domain} is not hosted here")));
    };
    if d.status != crate::types::LiveStatus::Active {
        return Ok(Signed::Unsigned(format!("{domain} is not active")));
    }
    let mut conn = st.db.pool().acquire().await?;
    let Some(k) = store::active_key(&mut conn, &d.id).await? else {
        return Ok(Signed::Unsigned(format!("{domain} has no signing key yet")));
    };
    drop(conn);
    let der = dkim::open_private(st, &k)?;
    let key: SigningKey = if k.algorithm == "ed25519" {
        Ed25519Key::from_pkcs8_der(&der)
            .map_err(|e| AppError::Internal(format!("DKIM key {}: {e}", k.selector)))?
            .into()
    } else {
        #[allow(deprecated)] // PKCS#1 DER, as mail-auth's generator writes it.
        RsaKey::<Sha256>::from_der(&der)
            .map_err(|e| AppError::Internal(format!("DKIM key {}: {e}", k.selector)))?
            .into()
    };
    let sig = DkimSigner::from_key(key)
        .domain(d.name.clone())
        .selector(k.selector.clone())
        .headers(SIGNED_HEADERS)
        .sign(raw)
        .map_err(|e| AppError::Internal(format!("DKIM signing for {domain}: {e}")))?;
    Ok(Signed::Header {
        header: sig.to_header(),
        domain: d.name,
        selector: k.selector,
    })
}
