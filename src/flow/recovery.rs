//! Start-up recovery of unfinished transactions, as a pure decision.
//!
//! For every transaction the journal holds as open or pending, the orchestrator asks the
//! operator for its status (交易结果查询, by transaction id) and lets [`resolve`] decide
//! what to do. Nothing is dropped: money the operator has credited is settled, money it
//! never saw is re-sent with the same transaction id (idempotent, so never twice), money it
//! refused goes on a printed refund voucher (退款凭条), and money whose fate cannot be
//! learned now stays pending with its reason and is retried.

use serde::Serialize;

use super::TxnKind;

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
    /// The transaction's kind as the journal holds it (`topup`, …).
    pub kind: String,
    /// Money taken (credited notes, power-up notes included).
    pub inserted_fen: u64,
    /// Whether the full number is still known (it is until the transaction closes).
    pub has_number: bool,
    /// Whether an operator request of it was sent (an operator leg exists).
    pub leg_sent: bool,
}

/// What to do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Resolution {
    /// No money was taken: close it.
    Cancel,
    /// A transaction without money the operator did apply (a plan change): close it as
    /// done, with the operator's reference.
    Complete { operator_ref: String },
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

/// Whether recovery must ask the operator about this transaction before [`resolve`].
pub fn needs_status(txn: &Unfinished) -> bool {
    match TxnKind::parse(&txn.kind) {
        Some(TxnKind::TopUp) => txn.inserted_fen > 0,
        Some(
            TxnKind::PlanChange | TxnKind::Reregister | TxnKind::LossReport | TxnKind::LossLift,
        ) => txn.leg_sent,
        _ => false,
    }
}

/// Decides what recovery does with one unfinished transaction, by its kind: one service's
/// money is never turned into another's (only a top-up is ever re-sent as a recharge). The
/// status query is not needed (pass `None`) when [`needs_status`] says so.
pub fn resolve(txn: &Unfinished, status: Option<&OperatorStatus>) -> Resolution {
    match TxnKind::parse(&txn.kind) {
        // Account-changing, no money: what the operator applied stands; what it never
        // applied is not sent again without the customer.
        Some(
            TxnKind::PlanChange | TxnKind::Reregister | TxnKind::LossReport | TxnKind::LossLift,
        ) if txn.inserted_fen == 0 => {
            return match status {
                Some(OperatorStatus::Credited { boss_ref, .. }) => Resolution::Complete {
                    operator_ref: boss_ref.clone(),
                },
                Some(OperatorStatus::Unreachable { cause }) => Resolution::KeepPending {
                    reason: format!("operator unreachable: {cause}"),
                },
                _ => Resolution::Cancel,
            };
        }
        // Papers printed (or not) for a customer, or a query answered: the session is over.
        Some(TxnKind::BillPrint | TxnKind::NumberQuery) if txn.inserted_fen == 0 => {
            return Resolution::Complete {
                operator_ref: String::new(),
            };
        }
        _ => {}
    }
    if txn.inserted_fen == 0 {
        return Resolution::Cancel;
    }
    match TxnKind::parse(&txn.kind) {
        Some(TxnKind::TopUp) => resolve_topup(txn, status),
        Some(TxnKind::OrphanNote) => Resolution::Voucher {
            reason: "note taken with no customer session to own it".into(),
        },
        // A SIM whose order the operator never took: the money goes back. (An order the
        // operator took is resolved with its cards and activation by the runtime's SIM
        // recovery, which asks about each leg.)
        Some(TxnKind::NewSim | TxnKind::ReplaceSim) => Resolution::Voucher {
            reason: "SIM not issued: the order never reached the operator".into(),
        },
        // A recharge card whose sale the operator never took: the money goes back. (A sale
        // sent is voided by the runtime's PIN recovery first, which asks the operator.)
        Some(TxnKind::PinSale) => Resolution::Voucher {
            reason: "recharge card not sold: the sale never reached the operator".into(),
        },
        Some(
            TxnKind::PlanChange
            | TxnKind::BillPrint
            | TxnKind::Reregister
            | TxnKind::LossReport
            | TxnKind::LossLift
            | TxnKind::NumberQuery,
        ) => Resolution::Voucher {
            reason: format!(
                "money on a {} transaction, which takes none: refunded",
                txn.kind
            ),
        },
        None => Resolution::Voucher {
            reason: format!(
                "transaction of kind `{}` this kiosk cannot finish: the money is refunded",
                txn.kind
            ),
        },
    }
}

fn resolve_topup(txn: &Unfinished, status: Option<&OperatorStatus>) -> Resolution {
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

/// What recovery learned about a SIM transaction (新开户 / 补卡) whose order was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFacts {
    /// Money taken.
    pub inserted_fen: u64,
    /// The order's status at the operator (by the transaction id).
    pub order: OperatorStatus,
    /// Each activation sent (`{txn}-A{attempt}`): the card's attempt and the leg's status.
    pub activations: Vec<(u32, OperatorStatus)>,
}

/// What to do with a SIM transaction whose order was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SimResolution {
    /// Cancel, voucher, or keep pending, as for any transaction.
    Plain(Resolution),
    /// The number was activated on the card of `attempt`: settle with the order's
    /// reference; the card (captured at start-up if it was still inside) is the customer's.
    Settle { order_ref: String, attempt: u32 },
    /// The operator took the order but no card carries the number: cancel the order (its
    /// own leg, `{txn}-C`), then the money goes on a refund voucher.
    CancelOrder { order_ref: String },
}

/// Decides a SIM transaction's end from its order and activations. A number is never
/// activated twice and a card is never written again without the customer: recovery
/// only learns, cancels and refunds.
pub fn resolve_sim(f: &SimFacts) -> SimResolution {
    let plain = SimResolution::Plain;
    match &f.order {
        OperatorStatus::NotFound => plain(Resolution::Voucher {
            reason: "SIM not issued: the order never reached the operator".into(),
        }),
        OperatorStatus::Refused { reason } => plain(Resolution::Voucher {
            reason: format!("SIM not issued: the operator refused the order ({reason})"),
        }),
        OperatorStatus::Unreachable { cause } => plain(Resolution::KeepPending {
            reason: format!("order not confirmed: operator unreachable ({cause})"),
        }),
        OperatorStatus::Credited { boss_ref, .. } => {
            if let Some((attempt, _)) = f
                .activations
                .iter()
                .find(|(_, s)| matches!(s, OperatorStatus::Credited { .. }))
            {
                return SimResolution::Settle {
                    order_ref: boss_ref.clone(),
                    attempt: *attempt,
                };
            }
            if let Some((attempt, OperatorStatus::Unreachable { cause })) = f
                .activations
                .iter()
                .find(|(_, s)| matches!(s, OperatorStatus::Unreachable { .. }))
            {
                return plain(Resolution::KeepPending {
                    reason: format!(
                        "activation of card {attempt} not confirmed: operator unreachable ({cause})"
                    ),
                });
            }
            SimResolution::CancelOrder {
                order_ref: boss_ref.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(fen: u64) -> Unfinished {
        Unfinished {
            id: "T".into(),
            kind: "topup".into(),
            inserted_fen: fen,
            has_number: true,
            leg_sent: true,
        }
    }

    #[test]
    fn a_plan_change_stands_if_the_operator_applied_it_and_is_dropped_if_not() {
        let plan = Unfinished {
            kind: "plan_change".into(),
            ..txn(0)
        };
        assert!(needs_status(&plan));
        let committed = OperatorStatus::Credited {
            amount_fen: 0,
            boss_ref: "PC1".into(),
            new_balance_fen: None,
        };
        assert_eq!(
            resolve(&plan, Some(&committed)),
            Resolution::Complete {
                operator_ref: "PC1".into()
            }
        );
        assert_eq!(
            resolve(&plan, Some(&OperatorStatus::NotFound)),
            Resolution::Cancel
        );
        assert!(matches!(
            resolve(
                &plan,
                Some(&OperatorStatus::Unreachable {
                    cause: "down".into()
                })
            ),
            Resolution::KeepPending { .. }
        ));
        let never_sent = Unfinished {
            leg_sent: false,
            ..plan
        };
        assert!(!needs_status(&never_sent));
        assert_eq!(resolve(&never_sent, None), Resolution::Cancel);
        let prints = Unfinished {
            kind: "bill_print".into(),
            ..txn(0)
        };
        assert!(matches!(
            resolve(&prints, None),
            Resolution::Complete { .. }
        ));
    }

    #[test]
    fn another_kind_of_money_is_never_sent_as_a_recharge() {
        let other = Unfinished {
            kind: "new_sim".into(),
            ..txn(5000)
        };
        assert!(!needs_status(&other));
        assert!(matches!(
            resolve(&other, Some(&OperatorStatus::NotFound)),
            Resolution::Voucher { .. }
        ));
        let orphan = Unfinished {
            kind: "orphan_note".into(),
            ..txn(1000)
        };
        assert!(matches!(resolve(&orphan, None), Resolution::Voucher { .. }));
        assert!(needs_status(&txn(1)));
        assert!(!needs_status(&txn(0)));
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

    fn credited(r: &str) -> OperatorStatus {
        OperatorStatus::Credited {
            amount_fen: 0,
            boss_ref: r.into(),
            new_balance_fen: None,
        }
    }

    #[test]
    fn a_sim_activated_before_the_stop_is_settled_on_its_card() {
        let f = SimFacts {
            inserted_fen: 6000,
            order: credited("KH1"),
            activations: vec![
                (
                    1,
                    OperatorStatus::Refused {
                        reason: "script_failed".into(),
                    },
                ),
                (2, credited("KH1")),
            ],
        };
        assert_eq!(
            resolve_sim(&f),
            SimResolution::Settle {
                order_ref: "KH1".into(),
                attempt: 2
            }
        );
    }

    #[test]
    fn an_order_with_no_activated_card_is_cancelled_and_one_unknown_waits() {
        let mut f = SimFacts {
            inserted_fen: 6000,
            order: credited("KH1"),
            activations: vec![(1, OperatorStatus::NotFound)],
        };
        assert_eq!(
            resolve_sim(&f),
            SimResolution::CancelOrder {
                order_ref: "KH1".into()
            }
        );
        f.activations.push((
            2,
            OperatorStatus::Unreachable {
                cause: "down".into(),
            },
        ));
        assert!(matches!(
            resolve_sim(&f),
            SimResolution::Plain(Resolution::KeepPending { .. })
        ));
    }

    #[test]
    fn an_order_never_taken_is_refunded_and_an_unknown_one_waits() {
        for (order, voucher) in [
            (OperatorStatus::NotFound, true),
            (
                OperatorStatus::Refused {
                    reason: "reservation_expired".into(),
                },
                true,
            ),
            (
                OperatorStatus::Unreachable {
                    cause: "down".into(),
                },
                false,
            ),
        ] {
            let r = resolve_sim(&SimFacts {
                inserted_fen: 1000,
                order,
                activations: vec![],
            });
            assert_eq!(
                matches!(r, SimResolution::Plain(Resolution::Voucher { .. })),
                voucher,
                "{r:?}"
            );
        }
    }

    #[test]
    fn a_re_registration_stands_if_the_operator_applied_it() {
        let t = Unfinished {
            kind: "reregister".into(),
            ..txn(0)
        };
        assert!(needs_status(&t));
        assert!(matches!(
            resolve(&t, Some(&credited("RR1"))),
            Resolution::Complete { .. }
        ));
        assert_eq!(
            resolve(&t, Some(&OperatorStatus::NotFound)),
            Resolution::Cancel
        );
    }
}
