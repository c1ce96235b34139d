//! Integration tests: black-box through HTTP against the real router, each on SQLite and on
//! PostgreSQL.
mod api;
mod audit;
mod auth;
mod changes;
mod imports;
mod mailboxes;
mod mailplane;
mod matrix;
mod overview;
mod ownership;
mod package;
mod parsers;
mod roles;
mod routing;
mod security;
mod tenancy;
