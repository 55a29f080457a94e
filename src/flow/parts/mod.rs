//! Parts that customer flows are built from, each a small pure state machine of its own:
//! the idle timer every screen shares ([`idle`]), the cash payment ([`cash`]) and
//! print-and-record ([`paper`]). A flow owns its parts, forwards them the inputs that are
//! theirs and acts on what they report.

pub mod auth;
pub mod cash;
pub mod identity;
pub mod idle;
pub mod issue;
pub mod number;
pub mod paper;
