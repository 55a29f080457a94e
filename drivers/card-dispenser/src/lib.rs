//! Creator CRT-591 card dispenser (发卡机) with IC contact station, and SIM writing.
#![forbid(unsafe_code)]

pub mod apdu;
pub mod frame;
pub mod protocol;
pub mod simcard;
pub mod status;
