//! Framing and envelopes — pure code, no I/O.
//!
//! A frame is a 4-byte big-endian length `n` (1 ≤ n ≤ [`MAX_FRAME_LEN`]) followed by `n`
//! bytes of UTF-8 JSON, one envelope per frame:
//!
//! ```json
//! {"v":1,"id":42,"kind":"request","body":{"op":"recharge", ...}}
//! ```
//!
//! `kind` is `request` (kiosk → server), `response` (server → kiosk, same `id` as the
//! request), `push` (server → kiosk) or `ack` (kiosk → server, same `id` as the push).
//! Requests and pushes have separate id spaces, each chosen by its sender.

use serde::{Deserialize, Serialize};

use crate::messages::{Ack, Push, Reply, Request};

/// The protocol version this build speaks (the envelope's `v`).
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest payload accepted in one frame (4 MiB): room for two photos, refused beyond.
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

/// Length of the frame header.
pub const HEADER_LEN: usize = 4;

/// What an envelope carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Kiosk → server.
    Request(Request),
    /// Server → kiosk, answering the request with the same id.
    Response(Reply),
    /// Server → kiosk, unsolicited.
    Push(Push),
    /// Kiosk → server, answering the push with the same id.
    Ack(Ack),
}

/// The kind of an envelope, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `request`
    Request,
    /// `response`
    Response,
    /// `push`
    Push,
    /// `ack`
    Ack,
}

/// One message on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// Request id or push id.
    pub id: u64,
    /// The message.
    pub body: Body,
    /// For requests a gateway forwards (the self-service system server, docs/boss-protocol.md
    /// §10): the kiosk on whose behalf the request is made. Honoured only on a connection
    /// authenticated with a gateway certificate; absent (and not sent) otherwise.
    pub on_behalf_of: Option<String>,
}

impl Envelope {
    /// A request envelope of this version.
    pub fn request(id: u64, r: Request) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            body: Body::Request(r),
            on_behalf_of: None,
        }
    }
    /// A response envelope of this version.
    pub fn response(id: u64, r: Reply) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            body: Body::Response(r),
            on_behalf_of: None,
        }
    }
    /// A push envelope of this version.
    pub fn push(id: u64, p: Push) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            body: Body::Push(p),
            on_behalf_of: None,
        }
    }
    /// An ack envelope of this version.
    pub fn ack(id: u64, a: Ack) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            body: Body::Ack(a),
            on_behalf_of: None,
        }
    }
    /// The same envelope, sent on behalf of `kiosk_id` (a gateway forwarding a kiosk's
    /// request).
    #[must_use]
    pub fn on_behalf_of(mut self, kiosk_id: impl Into<String>) -> Self {
        self.on_behalf_of = Some(kiosk_id.into());
        self
    }

    /// The envelope's kind.
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::Request(_) => Kind::Request,
            Body::Response(_) => Kind::Response,
            Body::Push(_) => Kind::Push,
            Body::Ack(_) => Kind::Ack,
        }
    }
}

#[derive(Serialize)]
struct RawOut<'a, B: Serialize> {
    v: u16,
    id: u64,
    kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<&'a str>,
    body: &'a B,
}

#[derive(Deserialize)]
struct RawIn {
    v: u16,
    id: u64,
    kind: Kind,
    #[serde(default)]
    on_behalf_of: Option<String>,
    body: serde_json::Value,
}

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Serialisation failed (cannot happen for the types of this crate; kept for safety).
    #[error("cannot serialise envelope")]
    Json(#[source] serde_json::Error),
    /// The encoded message exceeds [`MAX_FRAME_LEN`].
    #[error("message of {0} bytes exceeds the frame limit")]
    TooLarge(usize),
}

/// A JSON parse error without the values it was about. serde_json's own message can quote
/// the offending value (`invalid type: integer `13812341234`, expected a string`) and a
/// body carries phone and ID numbers, so only the kind of problem, the field and variant
/// names serde reports, and the position are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    what: String,
    line: usize,
    column: usize,
}

impl JsonError {
    /// What was wrong, without values: `missing field `msisdn``, `invalid type or value`, …
    pub fn what(&self) -> &str {
        &self.what
    }
}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let message = e.to_string();
        // serde_json appends " at line L column C"; the rest is serde's message.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        let names_only = [
            "missing field",
            "unknown field",
            "unknown variant",
            "duplicate field",
        ];
        let what = match e.classify() {
            Category::Io => "I/O error".to_owned(),
            Category::Syntax => "not valid JSON".to_owned(),
            Category::Eof => "JSON ends too early".to_owned(),
            Category::Data if names_only.iter().any(|p| message.starts_with(p)) => {
                // `unknown variant `x`, expected one of …`: the names, not the list.
                message
                    .split(", expected")
                    .next()
                    .unwrap_or(message)
                    .to_owned()
            }
            Category::Data => "invalid type or value".to_owned(),
        };
        Self {
            what,
            line: e.line(),
            column: e.column(),
        }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)?;
        // Errors from an already parsed value (a body) have no position.
        if self.line > 0 {
            write!(f, " at line {} column {}", self.line, self.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for JsonError {}

/// Why received bytes could not be turned into an envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The length header announces 0 or more than [`MAX_FRAME_LEN`] bytes; the connection
    /// must be closed (the stream cannot be resynchronised).
    #[error("frame length {0} out of range")]
    BadLength(u64),
    /// The payload is not a JSON envelope (`v`, `id`, `kind`, `body`); the stream stays in
    /// sync, but the peer is broken: close.
    #[error("payload is not an envelope")]
    NotAnEnvelope(#[source] JsonError),
    /// The envelope's version is not [`PROTOCOL_VERSION`]; answer `unsupported_version`
    /// (for a request) and close.
    #[error("unsupported protocol version {v}")]
    UnsupportedVersion {
        /// The version received.
        v: u16,
        /// The envelope id, to address the error answer.
        id: u64,
        /// The envelope kind.
        kind: Kind,
    },
    /// A request whose `op` this protocol version does not know; answer `unknown_op`,
    /// then continue (docs/boss-protocol.md §3).
    #[error("unknown request op {op:?} (id {id})")]
    UnknownOp {
        /// The envelope id, to address the error answer.
        id: u64,
        /// The op as received.
        op: String,
    },
    /// The envelope is fine but its body does not parse (missing or mistyped field, no
    /// `op`; for responses, pushes and acks also an unknown `op`); answer a request with
    /// `bad_request`, then continue.
    #[error("invalid {kind:?} body (id {id})")]
    BadBody {
        /// The envelope id, to address the error answer.
        id: u64,
        /// The envelope kind.
        kind: Kind,
        /// The body's `op` if it had one.
        op: Option<String>,
        /// The parse error (values left out).
        #[source]
        source: JsonError,
    },
}

impl DecodeError {
    /// Whether the connection can go on after this error.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            DecodeError::BadBody { .. } | DecodeError::UnknownOp { .. }
        )
    }
}

/// Serialises an envelope to its JSON payload (without the length header).
pub fn to_json(env: &Envelope) -> Result<Vec<u8>, EncodeError> {
    let (v, id, kind) = (env.v, env.id, env.kind());
    let on_behalf_of = env.on_behalf_of.as_deref();
    let r = match &env.body {
        Body::Request(b) => serde_json::to_vec(&RawOut {
            v,
            id,
            kind,
            on_behalf_of,
            body: b,
        }),
        Body::Response(b) => serde_json::to_vec(&RawOut {
            v,
            id,
            kind,
            on_behalf_of,
            body: b,
        }),
        Body::Push(b) => serde_json::to_vec(&RawOut {
            v,
            id,
            kind,
            on_behalf_of,
            body: b,
        }),
        Body::Ack(b) => serde_json::to_vec(&RawOut {
            v,
            id,
            kind,
            on_behalf_of,
            body: b,
        }),
    };
    r.map_err(EncodeError::Json)
}

/// Encodes an envelope as a complete frame (header + JSON).
pub fn encode(env: &Envelope) -> Result<Vec<u8>, EncodeError> {
    let json = to_json(env)?;
    if json.len() > MAX_FRAME_LEN {
        return Err(EncodeError::TooLarge(json.len()));
    }
    let len = u32::try_from(json.len()).map_err(|_| EncodeError::TooLarge(json.len()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + json.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Parses one JSON payload (without header) into an envelope.
pub fn from_json(payload: &[u8]) -> Result<Envelope, DecodeError> {
    let raw: RawIn =
        serde_json::from_slice(payload).map_err(|e| DecodeError::NotAnEnvelope(e.into()))?;
    if raw.v != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            v: raw.v,
            id: raw.id,
            kind: raw.kind,
        });
    }
    // The op sits at the top of a request/push/ack body, under "ok" in a response.
    let op = [
        raw.body.get("op"),
        raw.body.get("ok").and_then(|ok| ok.get("op")),
    ]
    .into_iter()
    .flatten()
    .find_map(|o| o.as_str())
    .map(str::to_owned);
    let bad = |source: serde_json::Error| DecodeError::BadBody {
        id: raw.id,
        kind: raw.kind,
        op: op.clone(),
        source: source.into(),
    };
    let body = match raw.kind {
        Kind::Request => match serde_json::from_value(raw.body) {
            Ok(request) => Body::Request(request),
            Err(source) => {
                return Err(match op {
                    Some(op) if !Request::is_known_op(&op) => {
                        DecodeError::UnknownOp { id: raw.id, op }
                    }
                    _ => bad(source),
                });
            }
        },
        Kind::Response => Body::Response(serde_json::from_value(raw.body).map_err(bad)?),
        Kind::Push => Body::Push(serde_json::from_value(raw.body).map_err(bad)?),
        Kind::Ack => Body::Ack(serde_json::from_value(raw.body).map_err(bad)?),
    };
    Ok(Envelope {
        v: raw.v,
        id: raw.id,
        body,
        on_behalf_of: raw.on_behalf_of,
    })
}

/// Splits a byte stream into frames. Feed it bytes as they arrive with [`extend`], then call
/// [`next_frame`] until it returns `Ok(None)`.
///
/// [`extend`]: FrameDecoder::extend
/// [`next_frame`]: FrameDecoder::next_frame
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    failed: bool,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete payload, without parsing it. After a [`DecodeError::BadLength`]
    /// the decoder stays failed (the stream is out of sync).
    pub fn next_payload(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        if self.failed {
            return Err(DecodeError::BadLength(0));
        }
        let Some(header) = self.buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header);
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if len == 0 || len_usize > MAX_FRAME_LEN {
            self.failed = true;
            return Err(DecodeError::BadLength(u64::from(len)));
        }
        if self.buf.len() < HEADER_LEN + len_usize {
            return Ok(None);
        }
        let payload = self
            .buf
            .get(HEADER_LEN..HEADER_LEN + len_usize)
            .map(<[u8]>::to_vec);
        self.buf.drain(..HEADER_LEN + len_usize);
        Ok(payload)
    }

    /// The next complete envelope, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Envelope>, DecodeError> {
        match self.next_payload()? {
            Some(p) => from_json(&p).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorBody, ErrorCode};
    use crate::messages::*;
    use crate::types::*;

    fn recharge() -> Envelope {
        Envelope::request(
            42,
            Request::Recharge(Recharge {
                txn_id: TxnId::new("K0001-20261122-000042"),
                msisdn: Msisdn::new("13812341234"),
                amount_fen: 5000,
                notes: vec![NoteCount {
                    denomination_fen: 5000,
                    count: 1,
                }],
            }),
        )
    }

    #[test]
    fn request_wire_form() {
        let json = String::from_utf8(to_json(&recharge()).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"id":42,"kind":"request","body":{"op":"recharge","txn_id":"K0001-20261122-000042","msisdn":"13812341234","amount_fen":5000,"notes":[{"denomination_fen":5000,"count":1}]}}"#
        );
    }

    #[test]
    fn error_response_wire_form() {
        let env = Envelope::response(
            7,
            Reply::Error(ErrorBody::new(ErrorCode::FrozenPeriod, "出账期")),
        );
        let json = String::from_utf8(to_json(&env).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"id":7,"kind":"response","body":{"error":{"code":"frozen_period","message":"出账期","retry_after_ms":null}}}"#
        );
        assert_eq!(from_json(json.as_bytes()).unwrap(), env);
    }

    #[test]
    fn frame_header_is_big_endian_length() {
        let frame = encode(&recharge()).unwrap();
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4);
        let mut d = FrameDecoder::new();
        // byte by byte: nothing until the last byte
        for b in &frame[..frame.len() - 1] {
            d.extend(&[*b]);
            assert!(d.next_frame().unwrap().is_none());
        }
        d.extend(&frame[frame.len() - 1..]);
        assert_eq!(d.next_frame().unwrap(), Some(recharge()));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn oversize_and_zero_length_refused() {
        let mut d = FrameDecoder::new();
        d.extend(&(u32::try_from(MAX_FRAME_LEN).unwrap() + 1).to_be_bytes());
        assert!(matches!(d.next_frame(), Err(DecodeError::BadLength(_))));
        assert!(d.next_frame().is_err(), "stays failed");
        let mut d = FrameDecoder::new();
        d.extend(&[0, 0, 0, 0]);
        assert!(matches!(d.next_frame(), Err(DecodeError::BadLength(0))));
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn unknown_op_keeps_id_and_stream_in_sync() {
        let payload = br#"{"v":1,"id":9,"kind":"request","body":{"op":"teleport","to":"mars"}}"#;
        let mut d = FrameDecoder::new();
        d.extend(&frame(payload));
        d.extend(&encode(&recharge()).unwrap());
        match d.next_frame() {
            Err(e @ DecodeError::UnknownOp { id: 9, .. }) => {
                assert!(e.is_recoverable());
                if let DecodeError::UnknownOp { op, .. } = e {
                    assert_eq!(op, "teleport");
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(d.next_frame().unwrap(), Some(recharge()));
    }

    #[test]
    fn a_known_op_that_does_not_parse_is_a_bad_body_not_an_unknown_op() {
        // Known op, field missing / of the wrong type; no op at all; op not a string.
        for payload in [
            &br#"{"v":1,"id":3,"kind":"request","body":{"op":"recharge","txn_id":"T1"}}"#[..],
            br#"{"v":1,"id":3,"kind":"request","body":{"op":"recharge","txn_id":"T1","msisdn":13812341234,"amount_fen":1}}"#,
            br#"{"v":1,"id":3,"kind":"request","body":{"txn_id":"T1"}}"#,
            br#"{"v":1,"id":3,"kind":"request","body":{"op":7}}"#,
            br#"{"v":1,"id":3,"kind":"request","body":"recharge"}"#,
        ] {
            match from_json(payload) {
                Err(
                    e @ DecodeError::BadBody {
                        id: 3,
                        kind: Kind::Request,
                        ..
                    },
                ) => assert!(e.is_recoverable()),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(payload)),
            }
        }
        // The error keeps what was wrong and where, never the value: a number sent as a
        // number instead of a string is not quoted.
        let payload = br#"{"v":1,"id":3,"kind":"request","body":{"op":"recharge","txn_id":"T1","msisdn":13812341234,"amount_fen":1}}"#;
        let Err(e) = from_json(payload) else {
            panic!("parsed")
        };
        let chain = format!("{e} {e:?} {}", std::error::Error::source(&e).unwrap());
        assert!(!chain.contains("13812341234"), "{chain}");
        assert!(chain.contains("invalid type or value"), "{chain}");
        let e = from_json(b"{\"v\":1,").unwrap_err();
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "JSON ends too early at line 1 column 7"
        );
        let payload = br#"{"v":1,"id":3,"kind":"request","body":{"op":"recharge","txn_id":"T1"}}"#;
        let Err(DecodeError::BadBody { source, .. }) = from_json(payload) else {
            panic!("parsed")
        };
        assert_eq!(source.what(), "missing field `msisdn`");
        // An unknown op in a response stays a bad body: only requests are answered.
        let payload = br#"{"v":1,"id":4,"kind":"response","body":{"ok":{"op":"teleport"}}}"#;
        assert!(matches!(
            from_json(payload),
            Err(DecodeError::BadBody {
                kind: Kind::Response,
                ..
            })
        ));
    }

    #[test]
    fn other_version_reported_with_id() {
        let payload = br#"{"v":2,"id":5,"kind":"request","body":{}}"#;
        assert!(matches!(
            from_json(payload),
            Err(DecodeError::UnsupportedVersion {
                v: 2,
                id: 5,
                kind: Kind::Request
            })
        ));
    }

    #[test]
    fn on_behalf_of_travels_only_when_set() {
        let plain = String::from_utf8(to_json(&recharge()).unwrap()).unwrap();
        assert!(
            !plain.contains("on_behalf_of"),
            "kiosk envelopes are unchanged"
        );
        let fwd = recharge().on_behalf_of("K0001");
        let json = String::from_utf8(to_json(&fwd).unwrap()).unwrap();
        assert!(
            json.starts_with(r#"{"v":1,"id":42,"kind":"request","on_behalf_of":"K0001","body":"#),
            "{json}"
        );
        assert_eq!(from_json(json.as_bytes()).unwrap(), fwd);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let payload = br#"{"v":1,"id":1,"kind":"request","extra":true,"body":{"op":"txn_status","txn_id":"T1","future_field":[1,2]}}"#;
        let env = from_json(payload).unwrap();
        assert_eq!(
            env.body,
            Body::Request(Request::TxnStatus(TxnStatusQuery {
                txn_id: TxnId::new("T1")
            }))
        );
    }
}
