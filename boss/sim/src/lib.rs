//! boss-sim — the operator's business system (BOSS), simulated: the protocol's server over
//! mutual TLS for the self-service system server (a gateway, docs/boss-protocol.md §10) and
//! for kiosks speaking for themselves, a SQLite store of demo data (subscribers, plans,
//! bills, number pool, SIM data, the idempotent ledger), business rules and fault injection.
//! What is head office's — kiosks, pushes, locks, uploads, reports — is `telekiosk-hq`'s.
#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod console;
pub mod control;
pub mod faults;
pub mod rules;
pub mod seed;
pub mod server;
pub mod service;
pub mod simcard;
pub mod store;
