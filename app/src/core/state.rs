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
    /// Alert e-mails: `[alert_smtp]` when set (a relay apart from the mail plane), else the
    /// same as `mailer`.
    pub alert_mailer: Mailer,
    pub metrics: Arc<Metrics>,
    /// The reverse proxies to believe, parsed once (validated with the configuration at start).
    proxies: Arc<super::web::NetList>,
    /// The change and job kinds the capabilities registered (`server::kinds()`).
    pub kinds: Arc<super::registry::Registry>,
}

impl AppState {
    pub fn proxies(&self) -> &super::web::NetList {
        &self.proxies
    }

    pub fn new(db: Db, config: Config, kinds: super::registry::Registry) -> Self {
        AppState {
            db,
            kinds: Arc::new(kinds),
            mailer: Mailer::new(config.smtp.clone(), &config.agency_name),
            alert_mailer: match &config.alert_smtp {
                Some(a) => Mailer::new(Some(a.clone()), &config.agency_name),
                None => Mailer::new(config.smtp.clone(), &config.agency_name),
            },
            proxies: Arc::new(
                super::web::NetList::parse(&config.trusted_proxies).unwrap_or_default(),
            ),
            config: Arc::new(config),
            clock: Clock::system(),
            metrics: Arc::new(Metrics::default()),
        }
    }
}
