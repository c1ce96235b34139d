//! What every request handler and service can reach.
use std::sync::Arc;

use super::clock::Clock;
use super::config::Config;
use super::db::Db;
use super::mailer::Mailer;
use super::web::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Clock,
    pub mailer: Mailer,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// The reverse proxies to believe (validated with the configuration at start).
    pub fn proxies(&self) -> super::web::ProxyList {
        super::web::ProxyList::parse(&self.config.trusted_proxies).unwrap_or_default()
    }

    pub fn new(db: Db, config: Config) -> Self {
        AppState {
            db,
            mailer: Mailer::new(config.smtp.clone()),
            config: Arc::new(config),
            clock: Clock::system(),
            metrics: Arc::new(Metrics::default()),
        }
    }
}
