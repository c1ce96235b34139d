//! Cross-cutting server-side machinery: database, authorization, audit chain, secrets,
//! clock, configuration, mail and errors. Every capability module builds on these.
pub mod audit_key;
pub mod authz;
pub mod clock;
pub mod config;
pub mod csv;
pub mod db;
pub mod doveadm;
pub mod error;
pub mod jobs;
pub mod mailer;
pub mod registry;
pub mod sealed;
pub mod secrets;
pub mod smtp_check;
pub mod state;
pub mod web;

pub use error::{AppError, AppResult};
