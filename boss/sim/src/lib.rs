//! boss-sim — the operator-side simulator: the business system (BOSS) a telekiosk talks to
//! over mutual TLS, with a SQLite store of demo data, fault injection and the head-office
//! console.
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
