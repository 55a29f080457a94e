//! Start-up recovery: nothing an earlier run left unfinished is dropped.
//!
//! 1. Notes the acceptor reports right after start-up — a credit that was never polled,
//!    or a note cleared into the cashbox at power-up — are money of the transaction that
//!    was open (or, with none open, go on a refund voucher of their own).
//! 2. Every open or pending transaction is resolved with the operator's status
//!    (交易结果查询) through [`crate::flow::recovery::resolve`]: cancelled (no money),
//!    settled, re-sent with the same id, turned into a refund voucher (退款凭条), or kept
//!    pending with its reason.
//! 3. Every customer whose paper did not come out gets it now: receipt, pending receipt
//!    or voucher, printed for the shop to hand over.

use std::time::Duration;

use bill_acceptor::AcceptorEvent;
use serde::Serialize;
use tokio::sync::mpsc;

use bill_acceptor::actor::AcceptorHandle;
use receipt_printer::PrinterHandle;

use super::{Clock, Error, Operator, crash, print, to_i64};
use crate::flow::recovery::{OperatorStatus, Resolution, Unfinished, resolve};
use crate::flow::topup::{Outcome, PrintResult, RechargeError, TopUpReceipt};
use crate::journal::{Journal, NewTxn, NoteSource, TxnRecord, TxnState};
use crate::receipts::{self, Letterhead};

/// What recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Notes reported by the acceptor at start-up, and the transaction each went to.
    pub notes: Vec<(String, u64)>,
    /// Each unfinished transaction and what was done with it.
    pub resolved: Vec<(String, Resolution)>,
    /// Receipts and vouchers printed (transaction, text).
    pub printed: Vec<(String, String)>,
    /// Receipts that still could not be printed.
    pub unprinted: Vec<String>,
}

/// Takes the acceptor's start-up events: waits until it has connected (or `window`
/// passes), then until it has been quiet for a moment, so that everything the device
/// queued while the kiosk was down is polled out. A note found waiting in escrow is handed
/// back: the customer it belonged to is gone.
pub async fn collect_startup_notes(
    acceptor: &AcceptorHandle,
    events: &mut mpsc::Receiver<AcceptorEvent>,
    window: Duration,
) -> Vec<AcceptorEvent> {
    const QUIET: Duration = Duration::from_millis(1500);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    let mut connected = false;
    let mut last_event = tokio::time::Instant::now();
    loop {
        let until = if connected {
            std::cmp::min(deadline, last_event + QUIET)
        } else {
            deadline
        };
        match tokio::time::timeout_at(until, events.recv()).await {
            Ok(Some(AcceptorEvent::Connected { .. })) => {
                connected = true;
                last_event = tokio::time::Instant::now();
            }
            Ok(Some(e)) => {
                last_event = tokio::time::Instant::now();
                if matches!(e, AcceptorEvent::Escrow { .. })
                    && let Err(err) = acceptor.return_note().await
                {
                    tracing::warn!(error = %err, "could not hand back the note found in escrow");
                }
                out.push(e);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// Runs recovery. `startup_events` are what [`collect_startup_notes`] gathered.
pub async fn recover<O: Operator>(
    journal: &mut Journal,
    operator: &O,
    startup_events: &[AcceptorEvent],
    printer: Option<&PrinterHandle>,
    letterhead: &Letterhead,
    clock: &Clock,
) -> Result<RecoveryReport, Error> {
    let mut report = RecoveryReport::default();

    // 1. Money the acceptor reports now belongs to the transaction that was open. A note
    //    the open transaction told the acceptor to stack is settled by what the device
    //    says of it: credited, or handed back.
    let open = journal
        .unfinished()?
        .into_iter()
        .rev()
        .find(|t| t.state == TxnState::Open);
    let mut in_flight = open.as_ref().and_then(|t| note_in_flight(journal, &t.id));
    for event in startup_events {
        let fen = match event {
            AcceptorEvent::Credit { fen } => Some(*fen),
            AcceptorEvent::PowerUpNoteInCashbox { fen } => fen.or(in_flight),
            AcceptorEvent::Escrow { .. }
            | AcceptorEvent::Rejected { .. }
            | AcceptorEvent::Returned { .. }
            | AcceptorEvent::PowerUpNoteReturned { .. } => {
                in_flight = None;
                continue;
            }
            _ => continue,
        };
        in_flight = None;
        let Some(fen) = fen else {
            tracing::error!(
                ?event,
                "note of unknown value in the cashbox at start-up: staff must count it"
            );
            continue;
        };
        let now = clock.unix_ms();
        crash::point("recovery: before startup note").await;
        let txn = match &open {
            Some(t) => t.id.clone(),
            None => {
                // No customer session was open: the note still gets a voucher.
                let id = journal.begin(
                    &NewTxn {
                        kind: "orphan_note",
                        msisdn: None,
                        msisdn_masked: "-",
                    },
                    now,
                )?;
                journal.credit_note(&id, to_i64(fen), NoteSource::PowerUp, now)?;
                journal.issue_voucher(&id, "note found in the cashbox at start-up", now)?;
                report.notes.push((id, fen));
                continue;
            }
        };
        journal.credit_note(&txn, to_i64(fen), NoteSource::PowerUp, now)?;
        crash::point("recovery: after startup note").await;
        tracing::warn!(txn = %txn, fen, "note from before the restart credited to its transaction");
        report.notes.push((txn, fen));
    }
    // The acceptor was told to stack a note and has nothing more to say about it: its
    // credit event was read by the run that stopped before journaling it. The note is in
    // the cashbox; it is the customer's money.
    if let (Some(t), Some(fen)) = (&open, in_flight) {
        let now = clock.unix_ms();
        journal.step(
            &t.id,
            "note_assumed_stacked",
            crate::journal::Phase::Outcome,
            &serde_json::json!({"fen": fen, "why": "stack commanded, no later word from the acceptor"}),
            now,
        )?;
        journal.credit_note(&t.id, to_i64(fen), NoteSource::PowerUp, now)?;
        tracing::warn!(txn = %t.id, fen, "note told to stack before the restart counted as stacked");
        report.notes.push((t.id.clone(), fen));
    }

    // 2. Resolve every unfinished transaction.
    for txn in journal.unfinished()? {
        let unfinished = Unfinished {
            id: txn.id.clone(),
            inserted_fen: u64::try_from(txn.inserted_fen).unwrap_or(0),
            has_number: txn.msisdn.is_some(),
        };
        let status = if unfinished.inserted_fen == 0 {
            None
        } else {
            crash::point("recovery: before status query").await;
            Some(operator.status(&txn.id).await)
        };
        let resolution = resolve(&unfinished, status.as_ref());
        tracing::info!(txn = %txn.id, ?status, ?resolution, "recovering transaction");
        apply(journal, operator, &txn, &resolution, clock).await?;
        report.resolved.push((txn.id.clone(), resolution));
    }

    // 3. Paper for every customer who has none.
    for txn in journal.unprinted()? {
        if txn
            .receipt
            .as_deref()
            .is_some_and(|r| r.starts_with("printed"))
        {
            continue;
        }
        let Some(paper) = paper_for(&txn) else {
            continue;
        };
        let now = clock.unix_ms();
        let doc = receipts::topup(&paper, letterhead, now);
        let result = match printer {
            Some(p) => print(p, &doc).await,
            None => PrintResult::NotPrinted {
                reason: "no printer configured".into(),
            },
        };
        let text = match &result {
            PrintResult::Printed => "printed".to_string(),
            PrintResult::NotPrinted { reason } => format!("not_printed: {reason}"),
        };
        journal.record_receipt(&txn.id, &text, now)?;
        if result == PrintResult::Printed {
            report.printed.push((txn.id.clone(), doc.to_text()));
        } else {
            report.unprinted.push(txn.id.clone());
        }
    }
    Ok(report)
}

async fn apply<O: Operator>(
    journal: &mut Journal,
    operator: &O,
    txn: &TxnRecord,
    resolution: &Resolution,
    clock: &Clock,
) -> Result<(), Error> {
    let now = clock.unix_ms();
    match resolution {
        Resolution::Cancel => journal.cancel(&txn.id, "interrupted before any note", now)?,
        Resolution::Settle {
            boss_ref,
            new_balance_fen,
        } => {
            journal.settle(&txn.id, txn.inserted_fen, boss_ref, *new_balance_fen, now)?;
        }
        Resolution::Recharge { amount_fen } => {
            let Some(msisdn) = txn.msisdn.as_deref() else {
                journal.issue_voucher(&txn.id, "number not known for the credit", now)?;
                return Ok(());
            };
            journal.step(
                &txn.id,
                "recharge",
                crate::journal::Phase::Intent,
                &serde_json::json!({"amount_fen": amount_fen, "by": "recovery"}),
                now,
            )?;
            crash::point("recovery: before recharge").await;
            let result = operator.recharge(&txn.id, msisdn, *amount_fen).await;
            crash::point("recovery: after recharge").await;
            let now = clock.unix_ms();
            match result {
                Ok(c) => journal.settle(
                    &txn.id,
                    txn.inserted_fen,
                    &c.boss_ref,
                    c.new_balance_fen,
                    now,
                )?,
                Err(RechargeError::Refused { code, message }) => {
                    journal.issue_voucher(
                        &txn.id,
                        &format!("operator refused ({code}): {message}"),
                        now,
                    )?;
                }
                Err(RechargeError::Unknown { cause }) => {
                    journal.mark_pending(
                        &txn.id,
                        &format!("credit not confirmed: {cause}"),
                        now,
                    )?;
                }
            }
        }
        Resolution::Voucher { reason } => {
            journal.issue_voucher(&txn.id, reason, now)?;
        }
        Resolution::KeepPending { reason } => journal.mark_pending(&txn.id, reason, now)?,
    }
    Ok(())
}

/// The value of the note the transaction was stacking when the kiosk stopped, if its
/// last `stack_note` intent has no credit after it.
fn note_in_flight(journal: &Journal, txn: &str) -> Option<u64> {
    let steps = journal.steps(txn).ok()?;
    let last_stack = steps.iter().rposition(|s| s.kind == "stack_note")?;
    if steps[last_stack..]
        .iter()
        .any(|s| s.kind == "note_credited" || s.kind == "note_returned")
    {
        return None;
    }
    steps[last_stack].detail.get("fen")?.as_u64()
}

fn paper_for(txn: &TxnRecord) -> Option<TopUpReceipt> {
    let outcome = match txn.state {
        TxnState::Settled => Outcome::Credited {
            boss_ref: txn.boss_ref.clone().unwrap_or_default(),
            new_balance_fen: txn.new_balance_fen,
        },
        TxnState::Pending => Outcome::Pending {
            reason: txn.reason.clone().unwrap_or_default(),
        },
        TxnState::Voucher => Outcome::Voucher {
            reason: txn.reason.clone().unwrap_or_default(),
        },
        TxnState::Open | TxnState::Cancelled => return None,
    };
    let amount_fen = match txn.state {
        TxnState::Voucher => txn.inserted_fen - txn.credited_fen,
        TxnState::Settled => txn.credited_fen,
        _ => txn.inserted_fen,
    };
    Some(TopUpReceipt {
        txn_id: txn.id.clone(),
        number_masked: txn.msisdn_masked.clone(),
        amount_fen: u64::try_from(amount_fen).unwrap_or(0),
        outcome,
    })
}

/// Retries pending credits (called periodically while the kiosk runs): the status query
/// decides, exactly as at start-up.
pub async fn retry_pending<O: Operator>(
    journal: &mut Journal,
    operator: &O,
    clock: &Clock,
) -> Result<usize, Error> {
    let mut settled = 0;
    for txn in journal
        .unfinished()?
        .into_iter()
        .filter(|t| t.state == TxnState::Pending)
    {
        let status = operator.status(&txn.id).await;
        if matches!(status, OperatorStatus::Unreachable { .. }) {
            break;
        }
        let unfinished = Unfinished {
            id: txn.id.clone(),
            inserted_fen: u64::try_from(txn.inserted_fen).unwrap_or(0),
            has_number: txn.msisdn.is_some(),
        };
        let resolution = resolve(&unfinished, Some(&status));
        apply(journal, operator, &txn, &resolution, clock).await?;
        if journal.get(&txn.id)?.state == TxnState::Settled {
            settled += 1;
        }
    }
    Ok(settled)
}
