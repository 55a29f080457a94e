//! telekiosk — the application: the CLI entry points, the demo, and (as they land) the
//! transaction engine, the link to the operator and the screen adapters. `src/main.rs` is
//! a thin shell around this library so integration tests can drive the same code.
#![forbid(unsafe_code)]

pub mod boss;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod flow;
pub mod journal;
pub mod logging;
pub mod receipts;
pub mod run;
pub mod runtime;
pub mod ui;
