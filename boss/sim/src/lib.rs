//! boss-sim — the operator-side simulator: the business system (BOSS) a telekiosk talks to
//! over mutual TLS, with a SQLite store of demo data, fault injection and the head-office
//! console.
#![forbid(unsafe_code)]

pub mod clock;
pub mod rules;
pub mod seed;
pub mod service;
pub mod simcard;
pub mod store;
