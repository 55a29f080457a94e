//! telekiosk-hq — the self-service system server (自助系统服务器).
//!
//! The kiosks' one link (docs/boss-protocol.md over mutual TLS 1.3), the gateway to the
//! operator's business system (BOSS), and head office's work: the fleet, alerts,
//! configuration bundles, locks and diagnostics, the audit log, journal uploads, daily
//! reconciliation and reports — on SQLite (embedded) or PostgreSQL (several instances).
//!
//! The library is what the binary, the demo, the tests and a web console build on:
//! - [`app::start`] runs an instance in-process; [`config::HqConfig`] is its configuration;
//! - [`store::Store`] is head office's data and acts: [`store::Store::fleet`],
//!   [`store::Store::lock`], [`store::Store::create_bundle`], [`store::Store::rollout`],
//!   [`store::Store::alerts`], [`store::Store::audit`], the reports of [`reports`], the
//!   reconciliation results of [`recon`], technicians' visits of [`service_log`] — every
//!   act takes its actor and is audited;
//! - [`boss::Boss`] is the backend interface to the operator; [`boss::GatewayBoss`] its
//!   implementation over the documented protocol.
//!
//! - [`web`] is head office's web console on the same store ([`store_console`] adds its
//!   staff accounts, sessions and queries).
//!
//! The server's guide is docs/hq.md; the console's is docs/console.md.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod app;
pub mod boss;
pub mod config;
pub mod db;
pub mod fleet;
pub mod recon;
pub mod reports;
pub mod rollout;
pub mod server;
pub mod service_log;
pub mod store;
pub mod store_console;
pub mod web;

pub use fleet::Target;
