//! What the runtime asks of the operator's business system (through the self-service
//! system server), and its implementation over the mutual-TLS link.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use boss_protocol::{Reply, Request, Response, TxnId, TxnState, TxnStatusQuery};

use crate::boss::client::{BossClient, CallError};
use crate::flow::OpError;
use crate::flow::recovery::OperatorStatus;

/// A boxed future, so the runtime can hold any operator behind `dyn`.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The one thing the runtime needs: send a request, get the answer (or why not).
pub trait Operator: Send + Sync + 'static {
    /// Sends `request`; `timeout` overrides the link's default deadline. A timeout or a
    /// lost connection after sending is [`OpError::Unknown`]: only a status query with the
    /// same transaction id can tell whether it was applied.
    fn call(
        &self,
        request: Request,
        timeout: Option<Duration>,
    ) -> BoxFuture<Result<Response, OpError>>;
}

/// [`Operator`] over the link ([`BossClient`]).
#[derive(Debug, Clone)]
pub struct BossOperator {
    client: BossClient,
}

impl BossOperator {
    pub fn new(client: BossClient) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &BossClient {
        &self.client
    }
}

impl Operator for BossOperator {
    fn call(
        &self,
        request: Request,
        timeout: Option<Duration>,
    ) -> BoxFuture<Result<Response, OpError>> {
        let client = self.client.clone();
        Box::pin(async move {
            let sent = request.op();
            let result = match timeout {
                Some(t) => client.call_with_timeout(request, t).await,
                None => client.call(request).await,
            };
            match result {
                Ok(r) if r.op() == sent => Ok(r),
                Ok(other) => Err(OpError::Unknown {
                    cause: format!("answer `{}` to `{sent}`", other.op()),
                }),
                // Codes are sent once a minute: "busy" then means "the last code still
                // stands, ask again later" — an answer for the customer, not a fault.
                Err(CallError::Refused(body))
                    if sent == "sms_code_request" && body.code.as_str() == "busy" =>
                {
                    Err(OpError::Refused {
                        code: "busy".into(),
                        message: body.message,
                        tries_left: None,
                        until_ms: None,
                    })
                }
                // Nothing was applied and it may work later (docs/boss-protocol.md §6):
                // money waits, pending, instead of going on a voucher.
                Err(CallError::Refused(body))
                    if matches!(body.code.as_str(), "unavailable" | "busy") =>
                {
                    Err(OpError::NotSent {
                        cause: format!("{}: {}", body.code.as_str(), body.message),
                    })
                }
                // An unexpected failure: the protocol says to ask txn_status first.
                Err(CallError::Refused(body)) if body.code.as_str() == "internal" => {
                    Err(OpError::Unknown {
                        cause: format!("internal: {}", body.message),
                    })
                }
                Err(CallError::Refused(body)) => Err(OpError::Refused {
                    code: body.code.as_str().to_owned(),
                    message: body.message,
                    tries_left: body.tries_left,
                    until_ms: body.locked_until_ms,
                }),
                Err(e @ (CallError::NotConnected | CallError::Encode(_) | CallError::Stopped)) => {
                    Err(OpError::NotSent {
                        cause: e.to_string(),
                    })
                }
                Err(e) => Err(OpError::Unknown {
                    cause: e.to_string(),
                }),
            }
        })
    }
}

/// 交易结果查询 — where a transaction stands at the operator, for recovery.
pub async fn status(operator: &dyn Operator, txn_id: &str) -> OperatorStatus {
    let req = Request::TxnStatus(TxnStatusQuery {
        txn_id: TxnId::new(txn_id),
    });
    match operator.call(req, None).await {
        Ok(Response::TxnStatus(s)) => match s.state {
            TxnState::Unknown => OperatorStatus::NotFound,
            TxnState::Committed => match s.outcome.as_deref() {
                Some(Reply::Ok(Response::Recharge(ok))) => OperatorStatus::Credited {
                    amount_fen: ok.amount_fen,
                    boss_ref: ok.operator_ref.clone(),
                    new_balance_fen: Some(ok.balance_after_fen),
                },
                Some(Reply::Ok(Response::PlanChange(ok))) => OperatorStatus::Credited {
                    amount_fen: 0,
                    boss_ref: ok.operator_ref.clone(),
                    new_balance_fen: None,
                },
                // A SIM's order, a card's activation, an order's cancellation: the order.
                Some(Reply::Ok(Response::NewSimOrder(o) | Response::ReplacementSim(o))) => {
                    OperatorStatus::Credited {
                        amount_fen: s.amount_fen.unwrap_or(0),
                        boss_ref: o.order_id.clone(),
                        new_balance_fen: None,
                    }
                }
                Some(Reply::Ok(Response::ActivateSim(a))) => OperatorStatus::Credited {
                    amount_fen: 0,
                    boss_ref: a.order_id.clone(),
                    new_balance_fen: Some(a.balance_fen),
                },
                Some(Reply::Ok(Response::CancelOrder(c))) => OperatorStatus::Credited {
                    amount_fen: 0,
                    boss_ref: c.order_id.clone(),
                    new_balance_fen: None,
                },
                // The reference the flow gives a registration.
                Some(Reply::Ok(Response::RealNameReregister(r))) => OperatorStatus::Credited {
                    amount_fen: 0,
                    boss_ref: format!("RR{}", r.registered_at_ms),
                    new_balance_fen: None,
                },
                _ => OperatorStatus::Credited {
                    amount_fen: s.amount_fen.unwrap_or(0),
                    boss_ref: String::new(),
                    new_balance_fen: None,
                },
            },
            TxnState::Failed => OperatorStatus::Refused {
                reason: match s.outcome.as_deref() {
                    Some(Reply::Error(e)) => format!("{}: {}", e.code.as_str(), e.message),
                    _ => "failed".into(),
                },
            },
            TxnState::Reversed => OperatorStatus::Refused {
                reason: "reversed (冲正)".into(),
            },
            TxnState::Pending => OperatorStatus::Unreachable {
                cause: "still processing".into(),
            },
            _ => OperatorStatus::Unreachable {
                cause: "unknown state".into(),
            },
        },
        Ok(other) => OperatorStatus::Unreachable {
            cause: format!("unexpected answer {}", other.op()),
        },
        Err(e) => OperatorStatus::Unreachable { cause: e.cause() },
    }
}
