//! The kiosk screen's Slint code (`ui/*.slint`), compiled to Rust by `build.rs`.
//!
//! This crate is only the generated component (`KioskWindow`) and the screens' adapter
//! globals; the bindings to the engine live in telekiosk's `src/ui`. It is a crate of its
//! own because Slint's generated vtables use `unsafe` (and `#[allow(unsafe_code)]`),
//! which the application's `#![forbid(unsafe_code)]` rightly refuses.
#![deny(unsafe_code)]
#![allow(clippy::all, clippy::pedantic)]

slint::include_modules!();

pub use slint;
