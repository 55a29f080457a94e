//! What the engine needs from the operator's business system, and its implementation
//! over the BOSS link.

use std::time::Duration;

use boss_protocol::messages::{
    Recharge, Reply, Request, Response, SubscriberLookup, SubscriberStatus, TxnState,
    TxnStatusQuery,
};
use boss_protocol::types::{Msisdn, TxnId};

use crate::boss::client::{BossClient, CallError};
use crate::flow::recovery::OperatorStatus;
use crate::flow::topup::{AccountStatus, Credited, LookupError, RechargeError, Subscriber};

/// The operations the top-up engine asks of the business system.
pub trait Operator: Send + Sync + 'static {
    /// Subscriber lookup by number (answer masked by the operator).
    fn lookup(&self, msisdn: &str) -> impl Future<Output = Result<Subscriber, LookupError>> + Send;
    /// 充值 with the transaction id as idempotency key.
    fn recharge(
        &self,
        txn_id: &str,
        msisdn: &str,
        amount_fen: u64,
    ) -> impl Future<Output = Result<Credited, RechargeError>> + Send;
    /// 交易结果查询.
    fn status(&self, txn_id: &str) -> impl Future<Output = OperatorStatus> + Send;
}

/// [`Operator`] over the mutual-TLS link.
#[derive(Debug, Clone)]
pub struct BossOperator {
    client: BossClient,
    /// Deadline of a recharge; past it the outcome is unknown and only a status query tells.
    pub recharge_timeout: Duration,
}

impl BossOperator {
    pub fn new(client: BossClient) -> Self {
        Self {
            client,
            recharge_timeout: Duration::from_secs(15),
        }
    }

    pub fn client(&self) -> &BossClient {
        &self.client
    }
}

impl Operator for BossOperator {
    async fn lookup(&self, msisdn: &str) -> Result<Subscriber, LookupError> {
        let req = Request::SubscriberLookup(SubscriberLookup {
            msisdn: Msisdn::new(msisdn),
        });
        match self.client.call(req).await {
            Ok(Response::SubscriberLookup(s)) => Ok(Subscriber {
                owner_masked: s.owner_name_masked,
                status: match s.status {
                    SubscriberStatus::Active | SubscriberStatus::PreActive => AccountStatus::Active,
                    SubscriberStatus::Cancelled => AccountStatus::Closed,
                    _ => AccountStatus::Suspended,
                },
                prepaid: matches!(s.payment, boss_protocol::messages::PaymentKind::Prepaid),
                balance_fen: s.balance_fen,
                arrears_fen: s.arrears_fen,
            }),
            Ok(other) => Err(LookupError::Unavailable(format!(
                "unexpected answer {}",
                other.op()
            ))),
            Err(CallError::Refused(body)) if body.code.as_str() == "unknown_subscriber" => {
                Err(LookupError::NotFound)
            }
            Err(e) => Err(LookupError::Unavailable(e.to_string())),
        }
    }

    async fn recharge(
        &self,
        txn_id: &str,
        msisdn: &str,
        amount_fen: u64,
    ) -> Result<Credited, RechargeError> {
        let req = Request::Recharge(Recharge {
            txn_id: TxnId::new(txn_id),
            msisdn: Msisdn::new(msisdn),
            amount_fen,
            notes: Vec::new(),
        });
        match self
            .client
            .call_with_timeout(req, self.recharge_timeout)
            .await
        {
            Ok(Response::Recharge(ok)) => Ok(Credited {
                boss_ref: ok.operator_ref,
                new_balance_fen: Some(ok.balance_after_fen),
            }),
            Ok(other) => Err(RechargeError::Unknown {
                cause: format!("unexpected answer {}", other.op()),
            }),
            Err(CallError::Refused(body)) => Err(RechargeError::Refused {
                code: body.code.as_str().to_string(),
                message: body.message,
            }),
            // Not sent (link down) or sent without answer: either way the engine keeps the
            // money pending and asks for the status later with the same id.
            Err(e) => Err(RechargeError::Unknown {
                cause: e.to_string(),
            }),
        }
    }

    async fn status(&self, txn_id: &str) -> OperatorStatus {
        let req = Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new(txn_id),
        });
        match self.client.call(req).await {
            Ok(Response::TxnStatus(s)) => match s.state {
                TxnState::Unknown => OperatorStatus::NotFound,
                TxnState::Committed => match s.outcome.as_deref() {
                    Some(Reply::Ok(Response::Recharge(ok))) => OperatorStatus::Credited {
                        amount_fen: ok.amount_fen,
                        boss_ref: ok.operator_ref.clone(),
                        new_balance_fen: Some(ok.balance_after_fen),
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
            Err(e) => OperatorStatus::Unreachable {
                cause: e.to_string(),
            },
        }
    }
}
