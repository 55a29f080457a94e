//! Error codes answered by the business system (stable strings on the wire).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $s:literal ),* $(,)?) => {
        /// Why a request failed. On the wire a snake_case string; codes unknown to this build
        /// decode as [`ErrorCode::Other`] so a newer server never breaks an older kiosk.
        #[derive(Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this build does not know (kept verbatim).
            Other(String),
        }

        impl ErrorCode {
            /// Every known code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( ErrorCode::$variant => $s, )*
                    ErrorCode::Other(s) => s,
                }
            }

            /// Parses a wire string (never fails: unknown strings become `Other`).
            pub fn from_wire(s: &str) -> Self {
                match s {
                    $( $s => ErrorCode::$variant, )*
                    other => ErrorCode::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// Malformed or invalid request (missing field, amount 0, bad month …).
    BadRequest = "bad_request",
    /// The envelope's `v` is not supported by the receiver.
    UnsupportedVersion = "unsupported_version",
    /// The `op` is unknown to the receiver.
    UnknownOp = "unknown_op",
    /// A request other than `hello` arrived before `hello`.
    HelloRequired = "hello_required",
    /// No such number with this operator.
    UnknownSubscriber = "unknown_subscriber",
    /// The number is not in a state that allows the operation (cancelled, pre-active …).
    SubscriberInactive = "subscriber_inactive",
    /// The account has arrears; after-sale business is refused (欠费).
    Arrears = "arrears",
    /// Day 1–5 of the month (出账期): no plan or account-information change.
    FrozenPeriod = "frozen_period",
    /// No token, expired token, or a token lacking the factors the operation needs.
    InsufficientAuth = "insufficient_auth",
    /// Wrong password or SMS code.
    AuthFailed = "auth_failed",
    /// Too many failed attempts; authentication blocked for a while.
    AuthLocked = "auth_locked",
    /// The SMS code expired; request another.
    CodeExpired = "code_expired",
    /// The same `txn_id` was already used with different content (a true repeat returns
    /// the first outcome instead; there is no "duplicate" error).
    TxnConflict = "txn_conflict",
    /// The per-ID number limit is reached (一证多号).
    LimitReached = "limit_reached",
    /// The ID is on the operator's blacklist.
    Blacklisted = "blacklisted",
    /// The applicant is under 16.
    UnderAge = "under_age",
    /// The ID card is past its validity.
    IdExpired = "id_expired",
    /// The ID number fails its check digit or is not registered.
    IdInvalid = "id_invalid",
    /// The ID card is not the registered owner's.
    IdMismatch = "id_mismatch",
    /// The face check did not pass or is missing.
    FaceMismatch = "face_mismatch",
    /// The plan is not available to this subscriber.
    PlanNotEligible = "plan_not_eligible",
    /// The number was taken or is not in the pool.
    NumberUnavailable = "number_unavailable",
    /// The reservation lapsed.
    ReservationExpired = "reservation_expired",
    /// The ICCID is unknown, already used, or does not belong to the order.
    CardInvalid = "card_invalid",
    /// The personalisation did not complete; activation refused.
    ScriptFailed = "script_failed",
    /// The transaction cannot be reversed any more (balance used, too late, already reversed
    /// by another reversal).
    NotReversible = "not_reversible",
    /// The referenced thing (order, transaction, month, reservation) does not exist.
    NotFound = "not_found",
    /// 挂失: the number is already reported lost (protocol 1.3).
    AlreadyReported = "already_reported",
    /// 解挂: the number is not reported lost (protocol 1.3).
    NotReported = "not_reported",
    /// The number is closed (销户); nothing can be done to it (protocol 1.3).
    NumberClosed = "number_closed",
    /// `pin_sale`: the face value is not on sale, or the sale's `txn_id` was voided by a
    /// `pin_void` before the sale arrived (protocol 1.3).
    PinUnavailable = "pin_unavailable",
    /// The recharge PIN is unknown, voided or already used (protocol 1.3).
    PinInvalid = "pin_invalid",
    /// The recharge PIN is past its last day (protocol 1.3).
    PinExpired = "pin_expired",
    /// Head office has locked this kiosk; only hello, heartbeat, txn_status, reversal,
    /// journal_upload, cancel_order and reconcile are served.
    KioskLocked = "kiosk_locked",
    /// Temporarily overloaded; retry after `retry_after_ms` (same `txn_id`).
    Busy = "busy",
    /// A back-end system is down; retry later (same `txn_id`).
    Unavailable = "unavailable",
    /// Unexpected failure at the operator; the outcome of a money request is then
    /// determined with `txn_status`.
    Internal = "internal",
}

impl ErrorCode {
    /// True for codes after which the same request (same `txn_id`) may be sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorCode::Busy | ErrorCode::Unavailable | ErrorCode::Internal
        )
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::from_wire(&s))
    }
}

/// The body of an error response: `{"error": {"code": "arrears", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation (Chinese), no personal data; the kiosk may show it.
    #[serde(default)]
    pub message: String,
    /// For `busy`/`unavailable`: wait at least this long before retrying.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// For `auth_failed`: how many more tries before authentication is locked (added in
    /// 1.1; absent when the server does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u32>,
    /// For `auth_locked`: until when (UTC ms), when the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until_ms: Option<i64>,
}

impl ErrorBody {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
            tries_left: None,
            locked_until_ms: None,
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_is_kept() {
        for c in ErrorCode::ALL {
            assert_eq!(&ErrorCode::from_wire(c.as_str()), c);
        }
        let c: ErrorCode = serde_json::from_str("\"new_code\"").unwrap();
        assert_eq!(c, ErrorCode::Other("new_code".into()));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"new_code\"");
        assert_eq!(
            serde_json::to_string(&ErrorCode::FrozenPeriod).unwrap(),
            "\"frozen_period\""
        );
    }
}
