//! Secrets at rest: sealed with ChaCha20-Poly1305 under a key kept in a file off the database
//! (`dkim_key_file`, by default `dkim.key` beside a SQLite database), bound to what they
//! belong to by associated data (a sealed value copied to another row does not open). DKIM
//! private keys and webhook signing secrets are sealed here.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};

use super::config::Config;
use super::{AppError, AppResult};

/// Keys read so far, by file: the milter opens a key for every message it signs and should
/// not read the file each time.
static KEYS: OnceLock<Mutex<HashMap<PathBuf, [u8; 32]>>> = OnceLock::new();

fn key(cfg: &Config) -> AppResult<LessSafeKey> {
    let path = super::audit_key::secret_path(cfg, cfg.dkim_key_file.as_deref(), "dkim.key");
    let cache = KEYS.get_or_init(Default::default);
    let cached = cache.lock().ok().and_then(|c| c.get(&path).copied());
    let k = match cached {
        Some(k) => k,
        None => {
            let (k, created) = super::audit_key::load_or_create_secret(&path, "sealing key")?;
            if created {
                tracing::warn!(path = %path.display(), "created the key that seals secrets at rest (DKIM keys, webhook secrets): back it up with the database");
            }
            if let Ok(mut c) = cache.lock() {
                c.insert(path, k);
            }
            k
        }
    };
    Ok(LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, &k)
            .map_err(|_| AppError::Internal("aead key".into()))?,
    ))
}

/// Seals `secret` bound to `aad`: base64(nonce || ciphertext || tag).
pub fn seal(cfg: &Config, aad: &[u8], secret: &[u8]) -> AppResult<String> {
    let k = key(cfg)?;
    let nonce_bytes = super::secrets::random_bytes::<NONCE_LEN>();
    let mut buf = secret.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| AppError::Internal("sealing a secret failed".into()))?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buf);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Opens a sealed value. `None`: damaged, bound to something else, or sealed under another
/// key file (the caller says which secret it was).
pub fn open(cfg: &Config, aad: &[u8], sealed: &str) -> AppResult<Option<Vec<u8>>> {
    let k = key(cfg)?;
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(sealed) else {
        return Ok(None);
    };
    if raw.len() < NONCE_LEN + 16 {
        return Ok(None);
    }
    let (n, ct) = raw.split_at(NONCE_LEN);
    let Ok(nonce) = Nonce::try_assume_unique_for_key(n) else {
        return Ok(None);
    };
    let mut buf = ct.to_vec();
    Ok(k.open_in_place(nonce, Aad::from(aad), &mut buf)
        .ok()
        .map(|p| p.to_vec()))
}
