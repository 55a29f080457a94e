//! JCM ID-003 (iVIZION, WBA, UBA families).
//!
//! Layout, as everywhere in this crate: [`frame`] (codec), [`message`] (commands,
//! statuses, codes, currency table), [`host`] (the pure host state machine, time passed
//! in), [`Id003`] (the thin tokio transport implementing [`crate::BillAcceptor`]) and
//! [`sim`] (an iVIZION-like acceptor on a pseudo-terminal).
//!
//! Wire: 9600 baud, 8 data bits, even parity, 1 stop bit. Frame
//! `FC | LNG | CMD/STATUS | DATA.. | CRC_L CRC_H`, `LNG` = whole frame length,
//! CRC-16/KERMIT over `FC..DATA`. The host polls with status request `11`; the acceptor
//! never speaks unasked. Operation commands (`40` reset, `41` stack-1, `42` stack-2,
//! `43` return, `44` hold, `45` wait) are answered with ACK `50`; setting commands
//! (`C0`–`C5`) are echoed; `88`/`89`/`8A` return version, boot version and the
//! currency-assign table.
//!
//! Money: a note in escrow (暂存, `13` + escrow code) is valued only through the
//! acceptor's own currency-assign table, never a built-in list. The driver does not
//! decide for the application: while the note is undecided, each poll sends HOLD so the
//! acceptor keeps it; the application calls `stack` (STACK-1) or `return_note` (RETURN). VEND VALID
//! (`15`) is ACKed and, once the ACK is written, gives the one
//! [`crate::AcceptorEvent::Credit`]; repeated VEND VALIDs (lost ACK) are re-ACKed without
//! crediting again. Power-up `41` / `42` become `PowerUpNoteReturned` /
//! `PowerUpNoteInCashbox`, with the value if the host saw that note's escrow and had not
//! credited it (a `42` for an already credited note is only logged). A VEND VALID for a
//! note whose escrow the host never saw is reported as `PowerUpNoteInCashbox { fen: None }`
//! so it gets settled, and so is a note that was past escrow (stack accepted) when the
//! host lost track of it (the acceptor shows idle / initialising without VEND VALID): the
//! customer's money is never silently dropped. A note lost track of while still in escrow
//! is reported returned. An escrow code missing from the table is returned at once. A note
//! found in escrow (`13`) or holding (`19`) by the first status request of a connect was
//! left by a host that stopped before deciding: RETURN is sent before anything else (the
//! reset included) and the connect reports [`crate::AcceptorEvent::Returned`], valued by
//! the escrow code when the status carried one.
//!
//! Choices and \[U\]nverified points, all in [`Config`]:
//! - reply timeout 500 ms, 3 tries per command, then [`crate::Error::NoAnswer`]; a `4A`
//!   (acceptor saw a corrupted frame) resends at once within the same try budget;
//! - the driver holds an undecided note for at most 30 s (`escrow_hold`), then leaves it
//!   to the acceptor's own escrow timeout, which returns it;
//! - the currency-assign entry is `escrow code, country code, base, exponent` with value
//!   `base × 10^exponent` units, bit 7 of the exponent marking a negative power \[U\];
//! - country code → ISO 4217 mapping: default `0x9C` → CNY \[U\], configurable; a code
//!   not in the mapping is resolved from the version string's parenthesised currency
//!   (`i(CNY)-100-SS …`), and only without one reported as `JCM-xx`;
//! - `C0` bit n refuses escrow code `0x61 + n` (n = 0‥15) \[U\];
//! - HOLD (`44`) without data restarts the acceptor's escrow timer \[U\] (some firmware
//!   takes a hold-time byte);
//! - reject-reason (`71`–`7F`) and failure (`A2`–`B3`) texts are from public ID-003
//!   material \[U\]; the raw code always travels with the text.
//!
//! Synthetic in [`crate::DeviceInfo`]: ID-003 has no serial-number request, so `serial`
//! is the boot ROM version string (`89`); `firmware` is the version string (`88`).
//!
//! A public driver maps status `40` twice, so `41` is never handled; here each of `40`,
//! `41`, `42` is its own [`message::Status`] (tested).
//!
//! Device conditions — jams (acceptor jam `45` = unsafe, the note may be reachable from
//! the front; stacker jam `46` = safe), stacker full, stacker (cashbox, 钱箱) open,
//! cheated, failure `49` + code — are [`crate::AcceptorEvent`]s, reported once when the
//! status changes; only a silent or garbled line is an [`crate::Error`].
//!
//! Tests over pseudo-terminals cannot check parity: Linux clears `PARENB` on every pty
//! (`pty_set_termios`), so only baud, data and stop bits are asserted there; the
//! `hardware-tests` feature (`TELEKIOSK_ID003_PORT`) checks the full 8E1 on a real port.

mod driver;
pub mod frame;
pub mod host;
pub mod message;
pub mod sim;

pub use driver::Id003;
pub use host::{Config, Host, Op};
