//! Daily reconciliation (对账): each kiosk's uploaded journal against the operator's ledger.
//! For a kiosk and a day the server sends the kiosk's money transactions (the latest journal
//! entry of each) to BOSS as a `reconcile` on the kiosk's behalf; BOSS names every
//! difference. The result is stored per kiosk and day; a run with differences raises the
//! `reconciliation_mismatch` alert, a later balanced run of the same day clears it.

use std::time::Duration;

use boss_protocol::{
    DayTotals, MismatchKind, OpTotal, ReconTxn, Reconcile, Reply, Request, Response, TxnId,
    TxnState,
};
use serde::Serialize;

use crate::boss::Boss;
use crate::store::{Store, StoreError, now_ms};

/// Operations that take money in (counted in the totals): a recharge card sale (`pin_sale`)
/// is cash taken in like a top-up.
#[must_use]
pub fn is_money_in(op: &str) -> bool {
    matches!(
        op,
        "recharge" | "new_sim_order" | "replacement_sim" | "pin_sale"
    )
}

/// Operations compared one by one: money in, and what gives money back. A voided card sale
/// is journalled `reversed` (so it leaves the totals, as a reversed top-up does) and its
/// `pin_void` is compared on its own, as BOSS's ledger has them. Redeeming a card
/// (`pin_recharge`) takes no cash and is not reconciled.
#[must_use]
pub fn is_money_changing(op: &str) -> bool {
    is_money_in(op) || matches!(op, "reversal" | "cancel_order" | "pin_void")
}

/// Stored name of a transaction state.
#[must_use]
pub fn state_name(s: TxnState) -> &'static str {
    match s {
        TxnState::Unknown => "unknown",
        TxnState::Pending => "pending",
        TxnState::Committed => "committed",
        TxnState::Failed => "failed",
        TxnState::Reversed => "reversed",
        _ => "unknown",
    }
}

fn state_of(s: &str) -> TxnState {
    match s {
        "pending" => TxnState::Pending,
        "committed" => TxnState::Committed,
        "failed" => TxnState::Failed,
        "reversed" => TxnState::Reversed,
        _ => TxnState::Unknown,
    }
}

fn kind_name(k: MismatchKind) -> &'static str {
    match k {
        MismatchKind::MissingAtOperator => "missing_at_operator",
        MismatchKind::MissingAtKiosk => "missing_at_kiosk",
        MismatchKind::AmountDiffers => "amount_differs",
        MismatchKind::StateDiffers => "state_differs",
        _ => "other",
    }
}

/// One difference, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MismatchRow {
    /// The transaction.
    pub txn_id: String,
    /// `missing_at_operator`, `missing_at_kiosk`, `amount_differs`, `state_differs`.
    pub kind: String,
    /// Operation.
    pub op: String,
    /// Kiosk's amount, fen.
    pub kiosk_amount_fen: Option<i64>,
    /// Operator's amount, fen.
    pub operator_amount_fen: Option<i64>,
    /// Kiosk's state.
    pub kiosk_state: Option<String>,
    /// Operator's state.
    pub operator_state: Option<String>,
}

/// One kiosk's reconciliation of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconRun {
    /// The kiosk.
    pub kiosk_id: String,
    /// The day.
    pub day: String,
    /// When it ran (UTC ms).
    pub run_ms: i64,
    /// No difference.
    pub balanced: bool,
    /// Kiosk's count and amount of committed money-in transactions.
    pub kiosk_count: i64,
    /// Kiosk's amount, fen.
    pub kiosk_amount_fen: i64,
    /// Operator's count.
    pub operator_count: i64,
    /// Operator's amount, fen.
    pub operator_amount_fen: i64,
    /// Every difference.
    pub mismatches: Vec<MismatchRow>,
}

/// Why a reconciliation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconError {
    /// The store failed.
    #[error("store")]
    Store(#[from] StoreError),
    /// BOSS did not answer.
    #[error("business system: {0}")]
    Boss(#[from] crate::boss::BossError),
    /// BOSS refused.
    #[error("business system refused: {0}")]
    Refused(boss_protocol::ErrorBody),
    /// BOSS answered something else.
    #[error("unexpected answer {0}")]
    Unexpected(&'static str),
}

impl Store {
    /// The kiosk's side of a day: the latest journal entry of each money-changing
    /// transaction, and the totals of the committed money-in ones. A committed entry counts
    /// with what the kiosk credited (`detail.credited_fen`) when it says so — cash it took
    /// beyond that went on a refund voucher, not to the operator.
    ///
    /// # Errors
    /// The database's.
    pub fn kiosk_day(&self, kiosk_id: &str, day: &str) -> Result<Reconcile, StoreError> {
        let rows = self.db().read(|s| {
            s.query(
                "SELECT txn_id, op, amount_fen, state, credited_fen FROM journal j \
                 WHERE kiosk_id=$1 AND day=$2 \
                 AND seq=(SELECT MAX(seq) FROM journal WHERE kiosk_id=j.kiosk_id AND txn_id=j.txn_id) \
                 ORDER BY txn_id",
                &[kiosk_id.into(), day.into()],
            )
        })?;
        let mut txns = Vec::new();
        for r in rows {
            let op = r.str(1)?;
            if !is_money_changing(&op) {
                continue;
            }
            let state = state_of(&r.str(3)?);
            let amount = match r.opt_i64(4)? {
                Some(credited) if state == TxnState::Committed => credited,
                _ => r.i64(2)?,
            };
            txns.push(ReconTxn {
                txn_id: TxnId::new(r.str(0)?),
                op,
                amount_fen: u64::try_from(amount).unwrap_or(0),
                state,
            });
        }
        let mut by_op: Vec<OpTotal> = Vec::new();
        for t in txns
            .iter()
            .filter(|t| t.state == TxnState::Committed && is_money_in(&t.op))
        {
            match by_op.iter_mut().find(|o| o.op == t.op) {
                Some(o) => {
                    o.count += 1;
                    o.amount_fen += t.amount_fen;
                }
                None => by_op.push(OpTotal {
                    op: t.op.clone(),
                    count: 1,
                    amount_fen: t.amount_fen,
                }),
            }
        }
        Ok(Reconcile {
            day: day.to_owned(),
            totals: DayTotals {
                count: by_op.iter().map(|o| o.count).sum(),
                amount_fen: by_op.iter().map(|o| o.amount_fen).sum(),
                by_op,
            },
            txns,
        })
    }

    /// Kiosks to reconcile for a day: every known kiosk.
    ///
    /// # Errors
    /// The database's.
    pub fn kiosk_ids(&self) -> Result<Vec<String>, StoreError> {
        self.db().read(|s| {
            s.query("SELECT kiosk_id FROM kiosks ORDER BY kiosk_id", &[])?
                .iter()
                .map(|r| Ok(r.str(0)?))
                .collect()
        })
    }

    /// Stores a run (replacing an earlier run of the same kiosk and day).
    ///
    /// # Errors
    /// The database's.
    pub fn save_recon(&self, actor: &str, run: &ReconRun) -> Result<(), StoreError> {
        self.db().tx(|s| {
            s.exec(
                "INSERT INTO recon_runs(kiosk_id, day, run_ms, balanced, kiosk_count, \
                 kiosk_amount_fen, operator_count, operator_amount_fen) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) \
                 ON CONFLICT(kiosk_id, day) DO UPDATE SET run_ms=$3, balanced=$4, kiosk_count=$5, \
                 kiosk_amount_fen=$6, operator_count=$7, operator_amount_fen=$8",
                &[
                    run.kiosk_id.as_str().into(),
                    run.day.as_str().into(),
                    run.run_ms.into(),
                    run.balanced.into(),
                    run.kiosk_count.into(),
                    run.kiosk_amount_fen.into(),
                    run.operator_count.into(),
                    run.operator_amount_fen.into(),
                ],
            )?;
            s.exec(
                "DELETE FROM recon_mismatches WHERE kiosk_id=$1 AND day=$2",
                &[run.kiosk_id.as_str().into(), run.day.as_str().into()],
            )?;
            for m in &run.mismatches {
                s.exec(
                    "INSERT INTO recon_mismatches(kiosk_id, day, txn_id, kind, op, kiosk_amount_fen, \
                     operator_amount_fen, kiosk_state, operator_state) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                    &[
                        run.kiosk_id.as_str().into(),
                        run.day.as_str().into(),
                        m.txn_id.as_str().into(),
                        m.kind.as_str().into(),
                        m.op.as_str().into(),
                        m.kiosk_amount_fen.into(),
                        m.operator_amount_fen.into(),
                        m.kiosk_state.clone().into(),
                        m.operator_state.clone().into(),
                    ],
                )?;
            }
            Store::audit_in(
                s,
                actor,
                "reconcile",
                &format!("kiosk:{}", run.kiosk_id),
                &serde_json::json!({ "day": run.day, "balanced": run.balanced,
                    "mismatches": run.mismatches.len() }),
            )
        })
    }

    /// Stored runs of a day (every kiosk), with their differences.
    ///
    /// # Errors
    /// The database's.
    pub fn recon_runs(&self, day: &str) -> Result<Vec<ReconRun>, StoreError> {
        self.db().read(|s| {
            let runs = s.query(
                "SELECT kiosk_id, day, run_ms, balanced, kiosk_count, kiosk_amount_fen, \
                 operator_count, operator_amount_fen FROM recon_runs WHERE day=$1 ORDER BY kiosk_id",
                &[day.into()],
            )?;
            let mut out = Vec::new();
            for r in runs {
                let kiosk_id = r.str(0)?;
                let ms = s.query(
                    "SELECT txn_id, kind, op, kiosk_amount_fen, operator_amount_fen, kiosk_state, \
                     operator_state FROM recon_mismatches WHERE kiosk_id=$1 AND day=$2 ORDER BY txn_id",
                    &[kiosk_id.as_str().into(), day.into()],
                )?;
                let mismatches = ms
                    .iter()
                    .map(|m| {
                        Ok(MismatchRow {
                            txn_id: m.str(0)?,
                            kind: m.str(1)?,
                            op: m.str(2)?,
                            kiosk_amount_fen: m.opt_i64(3)?,
                            operator_amount_fen: m.opt_i64(4)?,
                            kiosk_state: m.opt_str(5)?,
                            operator_state: m.opt_str(6)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                out.push(ReconRun {
                    kiosk_id,
                    day: r.str(1)?,
                    run_ms: r.i64(2)?,
                    balanced: r.i64(3)? != 0,
                    kiosk_count: r.i64(4)?,
                    kiosk_amount_fen: r.i64(5)?,
                    operator_count: r.i64(6)?,
                    operator_amount_fen: r.i64(7)?,
                    mismatches,
                });
            }
            Ok(out)
        })
    }
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reconciles one kiosk's day against BOSS and stores the result.
///
/// # Errors
/// [`ReconError`].
pub async fn reconcile_kiosk(
    store: &Store,
    boss: &dyn Boss,
    actor: &str,
    kiosk_id: &str,
    day: &str,
) -> Result<ReconRun, ReconError> {
    let (k, d) = (kiosk_id.to_owned(), day.to_owned());
    let ours = store.run(move |s| s.kiosk_day(&k, &d)).await?;
    let reply = boss
        .call(kiosk_id, Request::Reconcile(ours), Duration::from_secs(30))
        .await?;
    let rec = match reply {
        Reply::Ok(Response::Reconcile(r)) => r,
        Reply::Ok(other) => return Err(ReconError::Unexpected(other.op())),
        Reply::Error(e) => return Err(ReconError::Refused(e)),
    };
    let run = ReconRun {
        kiosk_id: kiosk_id.to_owned(),
        day: day.to_owned(),
        run_ms: now_ms(),
        balanced: rec.balanced,
        kiosk_count: i64::from(rec.kiosk.count),
        kiosk_amount_fen: i(rec.kiosk.amount_fen),
        operator_count: i64::from(rec.operator.count),
        operator_amount_fen: i(rec.operator.amount_fen),
        mismatches: rec
            .mismatches
            .iter()
            .map(|m| MismatchRow {
                txn_id: m.txn_id.as_str().to_owned(),
                kind: kind_name(m.kind).to_owned(),
                op: m.op.clone(),
                kiosk_amount_fen: m.kiosk_amount_fen.map(i),
                operator_amount_fen: m.operator_amount_fen.map(i),
                kiosk_state: m.kiosk_state.map(|s| state_name(s).to_owned()),
                operator_state: m.operator_state.map(|s| state_name(s).to_owned()),
            })
            .collect(),
    };
    let (st, actor, r) = (store.clone(), actor.to_owned(), run.clone());
    st.run(move |s| s.save_recon(&actor, &r)).await?;
    Ok(run)
}

/// Reconciles every kiosk's day. Kiosks BOSS could not be asked about are listed with
/// the reason; the others are stored.
///
/// # Errors
/// The store's (listing the kiosks).
pub async fn reconcile_day(
    store: &Store,
    boss: &dyn Boss,
    actor: &str,
    day: &str,
) -> Result<(Vec<ReconRun>, Vec<(String, String)>), StoreError> {
    let kiosks = store.run(Store::kiosk_ids).await?;
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for k in kiosks {
        match reconcile_kiosk(store, boss, actor, &k, day).await {
            Ok(r) => done.push(r),
            Err(e) => failed.push((k, e.to_string())),
        }
    }
    Ok((done, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Head office's lists are the operator's (docs/boss-protocol.md §7.12): a card sale is
    /// cash in, its void gives cash back, redeeming a card and the loss report move no cash.
    #[test]
    fn recharge_cards_count_like_top_ups_and_their_voids_like_reversals() {
        for op in ["recharge", "new_sim_order", "replacement_sim", "pin_sale"] {
            assert!(is_money_in(op) && is_money_changing(op), "{op}");
        }
        for op in ["reversal", "cancel_order", "pin_void"] {
            assert!(!is_money_in(op) && is_money_changing(op), "{op}");
        }
        let others = [
            "pin_recharge",
            "loss_report",
            "loss_lift",
            "numbers_by_id",
            "number_query",
            "plan_change",
            "activate_sim",
            "cash_box_clearance",
        ];
        for op in others {
            assert!(!is_money_changing(op), "{op}");
        }
        for op in Request::OPS.iter().copied().chain(others) {
            assert_eq!(is_money_in(op), boss_sim::store::is_money_op(op), "{op}");
            assert_eq!(
                is_money_changing(op),
                boss_sim::store::is_money_changing(op),
                "{op}"
            );
        }
    }
}
