//! The audit key: a secret kept *outside* the database (a file named by configuration) that
//! keys the chain's hashes (HMAC-SHA256) and signs checkpoints. Someone who can write the
//! database but not read this file can neither rewrite an event nor forge a checkpoint; with
//! checkpoints stored elsewhere, removing the newest events is found too.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::core::config::Config;
use crate::core::{secrets, AppError, AppResult};

#[derive(Clone)]
pub struct AuditKey(Arc<[u8; 32]>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.id())
    }
}

impl AuditKey {
    pub fn from_bytes(b: [u8; 32]) -> AuditKey {
        AuditKey(Arc::new(b))
    }
    /// HMAC-SHA256 over the parts, each followed by a newline, as lowercase hex.
    pub fn mac(&self, parts: &[&[u8]]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0[..]).expect("any key length");
        for p in parts {
            m.update(p);
            m.update(b"\n");
        }
        hex::encode(m.finalize().into_bytes())
    }
    /// A public name of the key (not the key): 16 hex digits of an HMAC of a fixed text.
    pub fn id(&self) -> String {
        self.mac(&[b"mailward audit key id"])[..16].to_string()
    }
}

/// Where the key lives: `audit_key_file`, else beside a SQLite database
/// (`DIR/audit.key`), else `data/audit.key`.
pub fn key_path(cfg: &Config) -> PathBuf {
    secret_path(cfg, cfg.audit_key_file.as_deref(), "audit.key")
}

/// Where a secret file lives: the configured path, else `file` beside a SQLite database,
/// else `data/<file>` (the audit key, the DKIM sealing key).
pub fn secret_path(cfg: &Config, configured: Option<&str>, file: &str) -> PathBuf {
    if let Some(p) = configured.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let url = &cfg.database_url;
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        if path != ":memory:" && !path.is_empty() {
            let parent = Path::new(path).parent().unwrap_or(Path::new(""));
            return parent.join(file);
        }
    }
    PathBuf::from("data").join(file)
}

/// Reads the key file (64 hex digits), creating it (mode 0600) when it does not exist yet.
pub fn load_or_create(path: &Path) -> AppResult<(AuditKey, bool)> {
    let (k, created) = load_or_create_secret(path, "audit key")?;
    Ok((AuditKey::from_bytes(k), created))
}

/// Reads a 32-byte secret file (64 hex digits), creating it (mode 0600) when it does not
/// exist yet; `what` names it in errors. Returns the bytes and whether it was created.
pub fn load_or_create_secret(path: &Path, what: &str) -> AppResult<([u8; 32], bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| {
                    AppError::Config(format!(
                        "the {what} file {} must hold 64 hexadecimal digits",
                        path.display()
                    ))
                })?;
            let mut k = [0u8; 32];
            k.copy_from_slice(&bytes);
            Ok((k, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    AppError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let k = secrets::random_bytes::<32>();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            use std::io::Write;
            let mut f = opts.open(path).map_err(|e| {
                AppError::Config(format!("cannot create the {what} {}: {e}", path.display()))
            })?;
            f.write_all(format!("{}\n", hex::encode(k)).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| {
                    AppError::Config(format!("cannot write the {what} {}: {e}", path.display()))
                })?;
            Ok((k, true))
        }
        Err(e) => Err(AppError::Config(format!(
            "cannot read the {what} {}: {e}",
            path.display()
        ))),
    }
}
