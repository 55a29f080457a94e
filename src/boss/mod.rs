//! The kiosk's side of the link to the operator's business system (BOSS).
//!
//! [`BossClient`] is an actor: a task owns the mutual-TLS connection; cloneable handles send
//! requests and get answers, the application watches the [`LinkState`] and receives pushes
//! (configuration, lock, unlock, diagnostics) on an mpsc. Nothing here blocks: a request
//! made while the link is down fails at once with [`CallError::NotConnected`].
//!
//! The wire protocol is the `boss-protocol` crate, specified in `docs/boss-protocol.md`.

pub mod client;

pub use client::{
    BackoffPolicy, BossClient, BossConfig, CallError, LinkDownCause, LinkState, PushDelivery,
    UploadQueueFull, UploadStatus, clock_skew_ms,
};
