//! Countries of addresses, from a MaxMind-format country database the operator configures
//! (`geoip_country_db`). Without one, nothing geographic is claimed: every lookup answers
//! `None`. The file is read once per process (restart to load a newer one).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use maxminddb::Reader;

use crate::core::config::Config;
use crate::core::{AppError, AppResult};

type Db = Arc<Reader<Vec<u8>>>;

static READERS: OnceLock<Mutex<HashMap<String, Db>>> = OnceLock::new();

fn reader(path: &str) -> AppResult<Db> {
    let cache = READERS.get_or_init(Default::default);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(path).cloned()) {
        return Ok(r);
    }
    let r = Reader::open_readfile(path).map_err(|e| {
        AppError::Config(format!(
            "geoip_country_db {path}: not a readable MaxMind database ({e})"
        ))
    })?;
    let r = Arc::new(r);
    if let Ok(mut c) = cache.lock() {
        c.insert(path.to_string(), r.clone());
    }
    Ok(r)
}

/// Refuses a configured database that cannot be read (at start, so the operator hears of it
/// at once rather than from a signal that silently never fires).
pub fn check(cfg: &Config) -> AppResult<()> {
    match &cfg.geoip_country_db {
        Some(p) => reader(p).map(|_| ()),
        None => Ok(()),
    }
}

/// The ISO code of the country an address is in (`DE`), when a database is configured and
/// knows the address.
pub fn country_of(cfg: &Config, remote: &str) -> Option<String> {
    let path = cfg.geoip_country_db.as_deref()?;
    let ip: IpAddr = remote.parse().ok()?;
    let r = match reader(path) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "GeoIP");
            return None;
        }
    };
    // An IPv6 address in an IPv4-only database is an error: no country, not a failure.
    let found = r.lookup(ip).ok()?;
    found
        .decode_path::<String>(&maxminddb::path!["country", "iso_code"])
        .ok()
        .flatten()
        .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()))
}
