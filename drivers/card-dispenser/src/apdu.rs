//! ISO 7816-4 APDUs over T=0: response parsing and the follow-up commands a T=0 card asks
//! for (`61 xx` / `9F xx` GET RESPONSE, `6C xx` re-issue with the right Le).
//!
//! [`ApduTransport`] is anything that carries one command APDU to a card and brings back
//! its raw response — the dispenser's IC station (`51 39`), a PC/SC reader, or a test
//! double. [`exchange`] adds the T=0 follow-ups on top of it.

use std::future::Future;

/// Carries one command APDU to the card and returns the raw response (data + SW1 SW2).
pub trait ApduTransport: Send {
    /// Error of the carrier (the dispenser, a reader).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Sends `apdu`, returns the card's raw response.
    fn transmit(
        &mut self,
        apdu: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;
}

/// A response APDU. `Debug` shows the status word and the data's length, not the data
/// (a card file can hold the subscriber's number).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// Status word SW1 SW2.
    pub sw: [u8; 2],
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("data_len", &self.data.len())
            .field("sw", &format_args!("{}", hex(&self.sw)))
            .finish()
    }
}

/// A response shorter than its status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("response APDU of {0} bytes has no status word")]
pub struct NoStatusWord(pub usize);

impl Response {
    /// Splits a raw response into data and status word.
    pub fn parse(raw: &[u8]) -> Result<Self, NoStatusWord> {
        match raw {
            [data @ .., sw1, sw2] => Ok(Self {
                data: data.to_vec(),
                sw: [*sw1, *sw2],
            }),
            _ => Err(NoStatusWord(raw.len())),
        }
    }

    /// SW 90 00.
    pub fn is_ok(&self) -> bool {
        self.sw == [0x90, 0x00]
    }
}

/// The four header bytes CLA INS P1 P2 of a command (zero-padded if it is shorter).
pub fn header(apdu: &[u8]) -> [u8; 4] {
    let mut h = [0; 4];
    for (d, s) in h.iter_mut().zip(apdu) {
        *d = *s;
    }
    h
}

/// Hex with spaces, for logs and reports: `00 A4 00 00`.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command a T=0 status word asks for next, if any.
///
/// - `61 xx`: more data waiting → `00 C0 00 00 xx` (GET RESPONSE, ISO class).
/// - `9F xx`: 2G SIM (GSM 11.11) response data waiting → `A0 C0 00 00 xx`.
/// - `6C xx`: wrong Le → the same command again with Le = xx.
pub fn follow_up(command: &[u8], sw: [u8; 2]) -> Option<Vec<u8>> {
    match sw {
        [0x61, xx] => Some(vec![0x00, 0xC0, 0x00, 0x00, xx]),
        [0x9F, xx] => Some(vec![0xA0, 0xC0, 0x00, 0x00, xx]),
        [0x6C, xx] => {
            let mut again = command.to_vec();
            match again.len() {
                0..=3 => return None,
                4 => again.push(xx),
                // Case 2 (header + Le) or case 4 with Le: replace the last byte.
                5 => {
                    if let Some(le) = again.last_mut() {
                        *le = xx;
                    }
                }
                n => {
                    // Case 3 (header + Lc + data) gets Le appended; case 4 has it replaced.
                    let lc = usize::from(again.get(4).copied().unwrap_or(0));
                    if n == 5 + lc {
                        again.push(xx);
                    } else if let Some(le) = again.last_mut() {
                        *le = xx;
                    }
                }
            }
            Some(again)
        }
        _ => None,
    }
}

/// How many follow-up commands one exchange may chain before the card is considered broken.
pub const MAX_FOLLOW_UPS: usize = 16;

/// Failure of an APDU exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError<E: std::error::Error + 'static> {
    /// The carrier failed.
    #[error("APDU transport: {0}")]
    Transport(#[source] E),
    /// The card answered without a status word.
    #[error(transparent)]
    NoStatusWord(#[from] NoStatusWord),
    /// The card kept asking for follow-ups.
    #[error("the card asked for more than {MAX_FOLLOW_UPS} follow-up commands")]
    TooManyFollowUps,
}

/// Sends `apdu` and performs the T=0 follow-ups; data of chained GET RESPONSEs is joined.
pub async fn exchange<T: ApduTransport>(
    t: &mut T,
    apdu: &[u8],
) -> Result<Response, ExchangeError<T::Error>> {
    let raw = t.transmit(apdu).await.map_err(ExchangeError::Transport)?;
    let mut resp = Response::parse(&raw)?;
    let mut data = Vec::new();
    let mut current = apdu.to_vec();
    for _ in 0..MAX_FOLLOW_UPS {
        let Some(next) = follow_up(&current, resp.sw) else {
            data.extend_from_slice(&resp.data);
            return Ok(Response { data, sw: resp.sw });
        };
        // Data that came with a 61 xx is kept; a 6C xx answer carries none worth keeping.
        if resp.sw[0] != 0x6C {
            data.extend_from_slice(&resp.data);
        }
        tracing::trace!(sw = %hex(&resp.sw), next = %hex(&next), "T=0 follow-up");
        let raw = t.transmit(&next).await.map_err(ExchangeError::Transport)?;
        resp = Response::parse(&raw)?;
        current = next;
    }
    Err(ExchangeError::TooManyFollowUps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    #[test]
    fn follow_ups() {
        assert_eq!(
            follow_up(&hex!("00 A4 00 00 02 3F 00"), [0x61, 0x1C]).unwrap(),
            hex!("00 C0 00 00 1C")
        );
        assert_eq!(
            follow_up(&hex!("A0 A4 00 00 02 3F 00"), [0x9F, 0x16]).unwrap(),
            hex!("A0 C0 00 00 16")
        );
        assert_eq!(
            follow_up(&hex!("00 B0 00 00 00"), [0x6C, 0x0A]).unwrap(),
            hex!("00 B0 00 00 0A")
        );
        assert_eq!(
            follow_up(&hex!("00 B0 00 00"), [0x6C, 0x0A]).unwrap(),
            hex!("00 B0 00 00 0A")
        );
        assert_eq!(
            follow_up(&hex!("00 A4 00 00 02 3F 00"), [0x6C, 0x10]).unwrap(),
            hex!("00 A4 00 00 02 3F 00 10")
        );
        assert_eq!(
            follow_up(&hex!("00 A4 00 00 02 3F 00 00"), [0x6C, 0x10]).unwrap(),
            hex!("00 A4 00 00 02 3F 00 10")
        );
        assert_eq!(follow_up(&hex!("00 B0 00 00 0A"), [0x90, 0x00]), None);
        assert_eq!(follow_up(&hex!("00 B0 00 00 0A"), [0x6A, 0x82]), None);
    }

    #[test]
    fn responses() {
        assert_eq!(
            Response::parse(&hex!("01 02 90 00")).unwrap(),
            Response {
                data: vec![1, 2],
                sw: [0x90, 0]
            }
        );
        assert_eq!(Response::parse(&[0x90]), Err(NoStatusWord(1)));
        assert_eq!(header(&[0xA0, 0xB0]), [0xA0, 0xB0, 0, 0]);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300), sw: [u8; 2]) {
            if let Ok(r) = Response::parse(&raw) {
                let mut back = r.data.clone();
                back.extend_from_slice(&r.sw);
                prop_assert_eq!(back, raw.clone());
            }
            let _ = follow_up(&raw, sw);
            let _ = header(&raw);
        }
    }
}
