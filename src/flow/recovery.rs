//! Start-up recovery of unfinished transactions, as a pure decision.
//!
//! For every transaction the journal holds as open or pending, the orchestrator asks the
//! operator for its status (交易结果查询, by transaction id) and lets [`resolve`] decide
//! what to do. Nothing is dropped: money the operator has credited is settled, money it
//! never saw is re-sent with the same transaction id (idempotent, so never twice), money it
//! refused goes on a printed refund voucher (退款凭条), and money whose fate cannot be
//! learned now stays pending with its reason and is retried.

use serde::Serialize;

/// What the operator says about a transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OperatorStatus {
    /// Credited, for this amount.
    Credited {
        amount_fen: u64,
        boss_ref: String,
        new_balance_fen: Option<i64>,
    },
    /// The operator has no such transaction: the recharge never reached it.
    NotFound,
    /// The operator refused it (or it was reversed): nothing is credited.
    Refused { reason: String },
    /// The operator could not be asked.
    Unreachable { cause: String },
}

/// What the kiosk knows about an unfinished transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub id: String,
    /// Money taken (credited notes, power-up notes included).
    pub inserted_fen: u64,
    /// Whether the full number is still known (it is until the transaction closes).
    pub has_number: bool,
}

/// What to do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Resolution {
    /// No money was taken: close it.
    Cancel,
    /// The operator credited it: record that, print the receipt.
    Settle {
        boss_ref: String,
        new_balance_fen: Option<i64>,
    },
    /// The operator never saw it: send the recharge again with the same id.
    Recharge { amount_fen: u64 },
    /// It cannot be credited: print a refund voucher for the amount.
    Voucher { reason: String },
    /// Its fate is unknown for now: keep it pending (receipt says "credit pending"), retry later.
    KeepPending { reason: String },
}

/// Decides what recovery does with one unfinished transaction. The status query is not
/// needed (pass `None`) when no money was taken.
pub fn resolve(txn: &Unfinished, status: Option<&OperatorStatus>) -> Resolution {
    if txn.inserted_fen == 0 {
        return Resolution::Cancel;
    }
    match status {
        None => Resolution::KeepPending {
            reason: "operator not asked yet".into(),
        },
        Some(OperatorStatus::Credited {
            amount_fen,
            boss_ref,
            new_balance_fen,
        }) => {
            if *amount_fen == txn.inserted_fen {
                Resolution::Settle {
                    boss_ref: boss_ref.clone(),
                    new_balance_fen: *new_balance_fen,
                }
            } else {
                // Never guess with money: staff see both amounts and the reference.
                Resolution::KeepPending {
                    reason: format!(
                        "operator credited {amount_fen} fen, kiosk took {} fen: staff to reconcile",
                        txn.inserted_fen
                    ),
                }
            }
        }
        Some(OperatorStatus::NotFound) if txn.has_number => Resolution::Recharge {
            amount_fen: txn.inserted_fen,
        },
        Some(OperatorStatus::NotFound) => Resolution::Voucher {
            reason: "recharge never reached the operator and the number is not known".into(),
        },
        Some(OperatorStatus::Refused { reason }) => Resolution::Voucher {
            reason: format!("operator refused: {reason}"),
        },
        Some(OperatorStatus::Unreachable { cause }) => Resolution::KeepPending {
            reason: format!("operator unreachable: {cause}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(fen: u64) -> Unfinished {
        Unfinished {
            id: "T".into(),
            inserted_fen: fen,
            has_number: true,
        }
    }

    #[test]
    fn nothing_taken_is_cancelled_without_asking() {
        assert_eq!(resolve(&txn(0), None), Resolution::Cancel);
    }

    #[test]
    fn credited_at_the_operator_settles() {
        let s = OperatorStatus::Credited {
            amount_fen: 5000,
            boss_ref: "B".into(),
            new_balance_fen: Some(1),
        };
        assert_eq!(
            resolve(&txn(5000), Some(&s)),
            Resolution::Settle {
                boss_ref: "B".into(),
                new_balance_fen: Some(1)
            }
        );
    }

    #[test]
    fn an_amount_mismatch_is_never_guessed() {
        let s = OperatorStatus::Credited {
            amount_fen: 2000,
            boss_ref: "B".into(),
            new_balance_fen: None,
        };
        assert!(matches!(
            resolve(&txn(5000), Some(&s)),
            Resolution::KeepPending { .. }
        ));
    }

    #[test]
    fn unseen_recharge_is_sent_again_with_the_same_amount() {
        assert_eq!(
            resolve(&txn(7000), Some(&OperatorStatus::NotFound)),
            Resolution::Recharge { amount_fen: 7000 }
        );
        let no_number = Unfinished {
            has_number: false,
            ..txn(7000)
        };
        assert!(matches!(
            resolve(&no_number, Some(&OperatorStatus::NotFound)),
            Resolution::Voucher { .. }
        ));
    }

    #[test]
    fn refused_becomes_a_voucher_and_unreachable_stays_pending() {
        let r = OperatorStatus::Refused {
            reason: "account closed".into(),
        };
        assert!(matches!(
            resolve(&txn(100), Some(&r)),
            Resolution::Voucher { .. }
        ));
        let u = OperatorStatus::Unreachable {
            cause: "link down".into(),
        };
        assert!(matches!(
            resolve(&txn(100), Some(&u)),
            Resolution::KeepPending { .. }
        ));
    }
}
