//! Start-up recovery: nothing an earlier run left unfinished is dropped.
//!
//! 1. Notes the acceptor reports right after start-up — a credit that was never polled, or
//!    a note cleared into the cash box at power-up — belong to the transaction that was
//!    taking notes (a top-up or a SIM's payment left open), or, with none, go on a refund
//!    voucher of their own.
//!    A note found waiting in escrow is handed back: its customer is gone.
//! 2. Every open or pending transaction is resolved by its kind
//!    ([`crate::flow::recovery::resolve`]): a top-up with the operator's status (交易结果查询)
//!    — cancelled (no money), settled, re-sent with the same id, refunded on a voucher, or
//!    kept pending with its reason; any other kind's money goes on a voucher, never into a
//!    recharge.
//!    A SIM transaction (新开户 / 补卡) is resolved from its cards and operator legs: first
//!    every card the journal left inside the machine is accounted for on the dispenser
//!    (one still in the channel is captured into the reject bin; one that never left the
//!    stacker is recorded as not picked; one gone from the gate as taken), then the order
//!    and each activation are asked about by their ids: an activated number settles (its
//!    card, if captured, waits in the bin for staff), an order with no activated card is
//!    cancelled at the operator and the money refunded, an order the operator never took is
//!    refunded, and what cannot be learned now stays pending. Nothing is written to a card
//!    and nothing is activated at start-up: only learned, cancelled, refunded.
//! 3. Every paper that did not come out is printed again, and every customer whose
//!    transaction recovery finished gets theirs.

use std::time::Duration;

use bill_acceptor::AcceptorEvent;
use serde::Serialize;
use tokio::sync::mpsc;

use super::devices::{BillAcceptorDevice, PrinterDevice, Watched};
use super::journal::JournalHandle;
use super::operator::{Operator, status};
use super::{Clock, Error, crash};
use crate::flow::recovery::{
    OperatorStatus, Resolution, SimFacts, SimResolution, Unfinished, needs_status, resolve,
    resolve_sim,
};
use crate::flow::screen::SimOutcome;
use crate::flow::sim::SimReceipt;
use crate::flow::topup::{Outcome, TopUpReceipt};
use crate::flow::{AcceptorCmd, OpError, Paper, PrintResult, TxnKind};
use crate::journal::{CardStage, NoteSource, Phase, TxnRecord, TxnState};
use crate::receipts::Letterhead;

/// What recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Notes reported by the acceptor at start-up, and the transaction each went to.
    pub notes: Vec<(String, u64)>,
    /// Each unfinished transaction and what was done with it.
    pub resolved: Vec<(String, Resolution)>,
    /// Papers printed (transaction, text).
    pub printed: Vec<(String, String)>,
    /// Papers that still could not be printed (transaction).
    pub unprinted: Vec<String>,
    /// Cards found inside the machine by the journal, and where each was found to be.
    pub cards: Vec<(i64, CardStage)>,
}

/// Takes the acceptor's start-up events: waits until it has connected (or `window`
/// passes), then until it has been quiet for a moment, so that everything the device queued
/// while the kiosk was down is polled out. A note found waiting in escrow is handed back.
pub async fn collect_startup_notes(
    acceptor: &BillAcceptorDevice,
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
                if matches!(e, AcceptorEvent::Escrow { .. }) {
                    tracing::warn!("a note was waiting in escrow at start-up: handed back");
                    acceptor.command(AcceptorCmd::Return).await;
                }
                out.push(e);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// The journal, with its errors turned into the runtime's.
macro_rules! j {
    ($journal:expr, |$j:ident| $body:expr) => {
        $journal
            .run(move |$j| $body)
            .await
            .map_err(|_| Error::JournalStopped)?
    };
}
pub(crate) use j;

/// Runs recovery. `startup_events` are what [`collect_startup_notes`] gathered.
pub async fn recover(
    journal: &JournalHandle,
    operator: &dyn Operator,
    startup_events: &[AcceptorEvent],
    printer: Option<&PrinterDevice>,
    dispenser: Option<&Watched<card_dispenser::DispenserHandle>>,
    letterhead: &Letterhead,
    clock: &Clock,
) -> Result<RecoveryReport, Error> {
    let mut report = RecoveryReport::default();

    // 0. Cards the journal left inside the machine, found where they are.
    account_for_cards(journal, dispenser, clock, &mut report).await?;

    // 1. Money the acceptor reports now belongs to the transaction that was taking notes
    //    (a top-up, the payment of a SIM or of a recharge card).
    let open = j!(journal, |j| j.unfinished())?
        .into_iter()
        .rev()
        .find(|t| {
            t.state == TxnState::Open
                && matches!(
                    TxnKind::parse(&t.kind),
                    Some(TxnKind::TopUp | TxnKind::NewSim | TxnKind::ReplaceSim | TxnKind::PinSale)
                )
        });
    let mut in_flight = match &open {
        Some(t) => {
            let id = t.id.clone();
            let steps = j!(journal, |j| j.steps(&id))?;
            crate::journal::stack_unresolved(&steps)
        }
        None => None,
    };
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
                "note of unknown value in the cash box at start-up: staff must count it"
            );
            continue;
        };
        let now = clock.unix_ms();
        let amount = to_i64(fen);
        crash::point("recovery: before startup note").await;
        let txn = match &open {
            Some(t) => {
                let id = t.id.clone();
                j!(journal, |j| j.credit_note(
                    &id,
                    amount,
                    NoteSource::PowerUp,
                    now
                ))?;
                tracing::warn!(txn = %t.id, fen, "note from before the restart credited to its transaction");
                t.id.clone()
            }
            None => j!(journal, |j| j.orphan_note(
                amount,
                NoteSource::PowerUp,
                "note found in the cash box at start-up, no customer session open",
                now
            ))?,
        };
        crash::point("recovery: after startup note").await;
        report.notes.push((txn, fen));
    }
    // The acceptor was told to stack a note and has nothing more to say about it: its
    // credit event was read by the run that stopped before journaling it. The note is in the
    // cash box; it is the customer's money.
    if let (Some(t), Some(fen)) = (&open, in_flight) {
        let now = clock.unix_ms();
        let id = t.id.clone();
        j!(journal, |j| {
            j.step(
                &id,
                "note_assumed_stacked",
                Phase::Outcome,
                &serde_json::json!({"fen": fen, "why": "stack commanded, no later word from the acceptor"}),
                now,
            )?;
            j.credit_note(&id, to_i64(fen), NoteSource::PowerUp, now)
        })?;
        tracing::warn!(txn = %t.id, fen, "note told to stack before the restart counted as stacked");
        report.notes.push((t.id.clone(), fen));
    }

    // 2. Resolve every unfinished transaction, by its kind.
    for txn in j!(journal, |j| j.unfinished())? {
        let resolution = resolve_one(journal, operator, &txn, clock).await?;
        report.resolved.push((txn.id.clone(), resolution));
    }

    // 3. Paper for every customer who has none. Confidential pages left unprinted for more
    //    than a day lose their content.
    let day_ago = clock.unix_ms() - 24 * 3600 * 1000;
    let stripped = j!(journal, |j| j.purge_confidential(day_ago))?;
    if stripped > 0 {
        tracing::info!(
            stripped,
            "unprinted confidential papers older than a day stripped"
        );
    }
    print_missing(journal, printer, letterhead, clock, &mut report).await?;
    Ok(report)
}

fn unfinished_of(txn: &TxnRecord) -> Unfinished {
    Unfinished {
        id: txn.id.clone(),
        kind: txn.kind.clone(),
        inserted_fen: u64::try_from(txn.inserted_fen).unwrap_or(0),
        has_number: txn.msisdn.is_some(),
        leg_sent: false,
    }
}

/// Resolves one unfinished transaction (start-up, and the retry of pending credits).
pub async fn resolve_one(
    journal: &JournalHandle,
    operator: &dyn Operator,
    txn: &TxnRecord,
    clock: &Clock,
) -> Result<Resolution, Error> {
    let mut unfinished = unfinished_of(txn);
    let id = txn.id.clone();
    let legs = j!(journal, |j| j.legs(&id))?;
    unfinished.leg_sent = !legs.is_empty();
    let sim = matches!(
        TxnKind::parse(&txn.kind),
        Some(TxnKind::NewSim | TxnKind::ReplaceSim)
    );
    if sim && legs.iter().any(|(leg, _, _)| *leg == txn.id) {
        return resolve_sim_txn(journal, operator, txn, &legs, clock).await;
    }
    if TxnKind::parse(&txn.kind) == Some(TxnKind::PinSale)
        && legs.iter().any(|(leg, _, _)| *leg == txn.id)
    {
        return resolve_pin_txn(journal, operator, txn, clock).await;
    }
    let status = if needs_status(&unfinished) {
        crash::point("recovery: before status query").await;
        Some(status(operator, &txn.id).await)
    } else {
        None
    };
    resolve_with(journal, operator, txn, &unfinished, status, clock).await
}

async fn resolve_with(
    journal: &JournalHandle,
    operator: &dyn Operator,
    txn: &TxnRecord,
    unfinished: &Unfinished,
    status: Option<OperatorStatus>,
    clock: &Clock,
) -> Result<Resolution, Error> {
    let resolution = resolve(unfinished, status.as_ref());
    tracing::info!(txn = %txn.id, kind = %txn.kind, ?status, ?resolution, "recovering transaction");
    apply(journal, operator, txn, &resolution, clock).await?;
    Ok(resolution)
}

async fn apply(
    journal: &JournalHandle,
    operator: &dyn Operator,
    txn: &TxnRecord,
    resolution: &Resolution,
    clock: &Clock,
) -> Result<(), Error> {
    let now = clock.unix_ms();
    let id = txn.id.clone();
    let inserted = txn.inserted_fen;
    match resolution {
        Resolution::Cancel => j!(journal, |j| j.cancel(
            &id,
            "interrupted before any money",
            now
        ))?,
        Resolution::Complete { operator_ref } => {
            let r = operator_ref.clone();
            j!(journal, |j| j.complete(
                &id,
                (!r.is_empty()).then_some(r.as_str()),
                now
            ))?;
        }
        Resolution::Settle {
            boss_ref,
            new_balance_fen,
        } => {
            let (r, b) = (boss_ref.clone(), *new_balance_fen);
            j!(journal, |j| j.settle(&id, inserted, &r, b, now))?;
        }
        Resolution::Recharge { amount_fen } => {
            let Some(msisdn) = txn.msisdn.clone() else {
                j!(journal, |j| j.issue_voucher(
                    &id,
                    "number not known for the credit",
                    now
                ))?;
                return Ok(());
            };
            let amount = *amount_fen;
            let leg = id.clone();
            j!(journal, |j| j.operator_sent(
                &leg,
                &leg,
                "recharge",
                to_i64(amount),
                now
            ))?;
            crash::point("recovery: before recharge").await;
            let req = boss_protocol::Request::Recharge(boss_protocol::Recharge {
                txn_id: boss_protocol::TxnId::new(id.clone()),
                msisdn: boss_protocol::Msisdn::new(msisdn),
                amount_fen: amount,
                notes: Vec::new(),
            });
            let result = operator.call(req, None).await;
            crash::point("recovery: after recharge").await;
            let now = clock.unix_ms();
            match result {
                Ok(boss_protocol::Response::Recharge(ok)) => {
                    j!(journal, |j| {
                        j.operator_answered(
                            &id,
                            "committed",
                            Some(&ok.operator_ref),
                            &serde_json::json!({}),
                            now,
                        )?;
                        j.settle(
                            &id,
                            inserted,
                            &ok.operator_ref,
                            Some(ok.balance_after_fen),
                            now,
                        )
                    })?;
                }
                Err(OpError::Refused { code, message, .. }) => {
                    j!(journal, |j| {
                        j.operator_answered(
                            &id,
                            "failed",
                            None,
                            &serde_json::json!({"code": code}),
                            now,
                        )?;
                        j.issue_voucher(&id, &format!("operator refused ({code}): {message}"), now)
                            .map(|_| ())
                    })?;
                }
                other => {
                    let cause = match other {
                        Err(e) => e.cause(),
                        Ok(r) => format!("unexpected answer {}", r.op()),
                    };
                    j!(journal, |j| {
                        j.operator_answered(
                            &id,
                            "unknown",
                            None,
                            &serde_json::json!({"cause": cause}),
                            now,
                        )?;
                        j.mark_pending(&id, &format!("credit not confirmed: {cause}"), now)
                    })?;
                }
            }
        }
        Resolution::Voucher { reason } => {
            let r = reason.clone();
            j!(journal, |j| j.issue_voucher(&id, &r, now))?;
        }
        Resolution::KeepPending { reason } => {
            let r = reason.clone();
            j!(journal, |j| j.mark_pending(&id, &r, now))?;
        }
    }
    Ok(())
}

/// How long start-up waits for the card dispenser to answer when the journal left cards
/// inside the machine.
const DISPENSER_WAIT: Duration = Duration::from_secs(10);

/// Accounts for every card the journal left inside the machine (step 0): a card still in
/// the channel (at the IC contacts or at the gate) is captured into the reject bin; with
/// the channel empty, a card being picked never left the stacker, a card presented at the
/// gate was taken, and a card between (its capture commanded before the stop) is in the
/// bin. With no dispenser answering, the cards are recorded as stuck for the technician.
async fn account_for_cards(
    journal: &JournalHandle,
    dispenser: Option<&Watched<card_dispenser::DispenserHandle>>,
    clock: &Clock,
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    let cards = j!(journal, |j| j.cards_in_flight())?;
    if cards.is_empty() {
        return Ok(());
    }
    let handle = match dispenser {
        Some(d) => {
            let mut rx = d.handle.clone();
            let waited = tokio::time::timeout(DISPENSER_WAIT, rx.wait_for(Option::is_some)).await;
            match waited {
                Ok(Ok(h)) => h.clone(),
                _ => None,
            }
        }
        None => None,
    };
    let position = match &handle {
        Some(h) => match h.status().await {
            Ok(st) => Some(st.card_position),
            Err(e) => {
                tracing::error!(error = %e, "card dispenser status at start-up failed");
                None
            }
        },
        None => None,
    };
    // Only the last card can still be in the channel (one card moves at a time).
    let last = cards.last().map(|c| c.id);
    for card in cards {
        let now = clock.unix_ms();
        let (stage, reason) = match (position, Some(card.id) == last) {
            (None, _) => (
                CardStage::Stuck,
                "card dispenser not answering at start-up: staff to check the channel".to_owned(),
            ),
            (Some(card_dispenser::CardPosition::Ic | card_dispenser::CardPosition::Gate), true) => {
                crash::point("recovery: before capture").await;
                let captured = match &handle {
                    Some(h) => h.capture().await,
                    None => continue,
                };
                crash::point("recovery: after capture").await;
                match captured {
                    Ok(st) if st.card_position == card_dispenser::CardPosition::None => (
                        CardStage::Captured,
                        "found in the card channel at start-up: captured".to_owned(),
                    ),
                    Ok(st) => (
                        CardStage::Stuck,
                        format!(
                            "found in the channel at start-up; capture left it at {:?}",
                            st.card_position
                        ),
                    ),
                    Err(e) => (
                        CardStage::Stuck,
                        format!("found in the channel at start-up; capture failed: {e}"),
                    ),
                }
            }
            (Some(_), _) => match card.stage {
                CardStage::Picking => (
                    CardStage::NotPicked,
                    "no card in the channel at start-up: none left the stacker".to_owned(),
                ),
                CardStage::Presented => (
                    CardStage::Taken,
                    "gone from the gate at start-up: taken by the customer".to_owned(),
                ),
                _ => (
                    CardStage::Captured,
                    "not in the channel at start-up: captured before the stop".to_owned(),
                ),
            },
        };
        let (id, r) = (card.id, reason.clone());
        j!(journal, |j| j.card_stage(id, stage, None, Some(&r), now))?;
        tracing::warn!(txn = %card.txn_id, card = card.id, from = card.stage.as_str(), to = stage.as_str(), %reason, "card from before the restart accounted for");
        report.cards.push((card.id, stage));
    }
    Ok(())
}

/// A SIM transaction whose order was sent: its order and activations asked about by their
/// ids, then settled, cancelled and refunded, or kept pending ([`resolve_sim`]).
async fn resolve_sim_txn(
    journal: &JournalHandle,
    operator: &dyn Operator,
    txn: &TxnRecord,
    legs: &[(String, String, String)],
    clock: &Clock,
) -> Result<Resolution, Error> {
    crash::point("recovery: before status query").await;
    let order = status(operator, &txn.id).await;
    let mut activations = Vec::new();
    if matches!(order, OperatorStatus::Credited { .. }) {
        for (leg, op, _) in legs {
            if op != "activate_sim" {
                continue;
            }
            let Some(attempt) = leg
                .rsplit_once("-A")
                .and_then(|(_, n)| n.parse::<u32>().ok())
            else {
                continue;
            };
            activations.push((attempt, status(operator, leg).await));
        }
    }
    let facts = SimFacts {
        inserted_fen: u64::try_from(txn.inserted_fen).unwrap_or(0),
        order,
        activations,
    };
    let decision = resolve_sim(&facts);
    tracing::info!(txn = %txn.id, kind = %txn.kind, ?facts, ?decision, "recovering SIM transaction");
    let id = txn.id.clone();
    let inserted = txn.inserted_fen;
    let now = clock.unix_ms();
    match decision {
        SimResolution::Plain(r) => {
            apply(journal, operator, txn, &r, clock).await?;
            Ok(r)
        }
        SimResolution::Settle { order_ref, attempt } => {
            let i = id.clone();
            let cards = j!(journal, |j| j.cards(&i))?;
            let card = cards.iter().find(|c| c.attempt == attempt);
            let r = order_ref.clone();
            let late = card.filter(|c| !c.activated).map(|c| c.id);
            j!(journal, |j| {
                if let Some(card) = late {
                    j.card_activated_late(card, now)?;
                }
                j.settle(&id, inserted, &r, None, now)
            })?;
            Ok(Resolution::Settle {
                boss_ref: order_ref,
                new_balance_fen: None,
            })
        }
        SimResolution::CancelOrder { order_ref } => {
            let leg = format!("{id}-C");
            let (i, l) = (id.clone(), leg.clone());
            j!(journal, |j| j.operator_sent(&i, &l, "cancel_order", 0, now))?;
            crash::point("recovery: before cancel_order").await;
            let result = operator
                .call(
                    boss_protocol::Request::CancelOrder(boss_protocol::CancelOrder {
                        txn_id: boss_protocol::TxnId::new(leg.clone()),
                        order_id: order_ref.clone(),
                        reason: "kiosk restarted before a card was issued".into(),
                    }),
                    None,
                )
                .await;
            crash::point("recovery: after cancel_order").await;
            let now = clock.unix_ms();
            let resolution = match result {
                Ok(boss_protocol::Response::CancelOrder(c)) => {
                    let reason = format!(
                        "SIM not issued before the restart: order {} cancelled",
                        c.order_id
                    );
                    let (r, oref) = (reason.clone(), c.order_id.clone());
                    j!(journal, |j| {
                        j.operator_answered(
                            &leg,
                            "committed",
                            Some(&oref),
                            &serde_json::json!({}),
                            now,
                        )?;
                        j.issue_voucher(&id, &r, now).map(|_| ())
                    })?;
                    Resolution::Voucher { reason }
                }
                other => {
                    let cause = match other {
                        Err(e) => e.cause(),
                        Ok(r) => format!("unexpected answer {}", r.op()),
                    };
                    let reason = format!("cancelling order {order_ref} not confirmed: {cause}");
                    let r = reason.clone();
                    j!(journal, |j| {
                        j.operator_answered(
                            &leg,
                            "unknown",
                            None,
                            &serde_json::json!({"cause": cause}),
                            now,
                        )?;
                        j.mark_pending(&id, &r, now)
                    })?;
                    Resolution::KeepPending { reason }
                }
            };
            Ok(resolution)
        }
    }
}

/// A recharge-card sale that reached the operator and did not finish. A card that came out
/// of the printer is the customer's: settled by its serial. Otherwise the customer has no
/// PIN they can trust (its print was cut short or never started): it is voided at the
/// operator and the money goes on a voucher — unless the operator says the PIN was already
/// redeemed, which only its holder can have done. The void is idempotent by its leg, so a
/// void sent before the stop is the same void asked again.
async fn resolve_pin_txn(
    journal: &JournalHandle,
    operator: &dyn Operator,
    txn: &TxnRecord,
    clock: &Clock,
) -> Result<Resolution, Error> {
    let id = txn.id.clone();
    let inserted = txn.inserted_fen;
    let i = id.clone();
    let papers = j!(journal, |j| j.papers(&i))?;
    let printed = papers
        .iter()
        .find(|p| p.kind == "pin_card" && p.state == "printed");
    let serial = papers
        .iter()
        .find(|p| p.kind == "pin_card")
        .and_then(|p| p.doc.get("serial"))
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    if let (Some(_), Some(serial)) = (printed, serial.clone()) {
        let (now, r, i) = (clock.unix_ms(), serial.clone(), id.clone());
        j!(journal, |j| j.settle(&i, inserted, &r, None, now))?;
        tracing::info!(txn = %txn.id, "recharge card printed before the stop: settled");
        return Ok(Resolution::Settle {
            boss_ref: serial,
            new_balance_fen: None,
        });
    }
    let leg = crate::flow::pin_sale::void_leg(&id);
    let now = clock.unix_ms();
    let (i, l) = (id.clone(), leg.clone());
    j!(journal, |j| j.operator_sent(&i, &l, "pin_void", 0, now))?;
    crash::point("recovery: before pin_void").await;
    let result = operator
        .call(
            boss_protocol::Request::PinVoid(boss_protocol::PinVoid {
                txn_id: boss_protocol::TxnId::new(leg.clone()),
                sale_txn_id: boss_protocol::TxnId::new(id.clone()),
                serial,
                reason: "kiosk restarted before the recharge card was printed".into(),
            }),
            None,
        )
        .await;
    crash::point("recovery: after pin_void").await;
    let now = clock.unix_ms();
    let resolution = match result {
        Ok(boss_protocol::Response::PinVoid(v)) => {
            let reason = match &v.serial {
                Some(s) => format!("recharge card not printed before the restart: {s} voided"),
                None => "recharge card not sold before the restart: sale barred".into(),
            };
            let (r, oref) = (reason.clone(), v.serial.unwrap_or_else(|| "none".into()));
            j!(journal, |j| {
                j.operator_answered(&leg, "committed", Some(&oref), &serde_json::json!({}), now)?;
                j.issue_voucher(&id, &r, now).map(|_| ())
            })?;
            Resolution::Voucher { reason }
        }
        Err(OpError::Refused { code, .. }) if code == "not_reversible" => {
            let reason = "the recharge card was already redeemed: its holder had it".to_owned();
            j!(journal, |j| {
                j.operator_answered(
                    &leg,
                    "failed",
                    None,
                    &serde_json::json!({"code": "not_reversible"}),
                    now,
                )?;
                j.settle(&id, inserted, "redeemed", None, now)
            })?;
            tracing::warn!(txn = %txn.id, "{reason}");
            Resolution::Settle {
                boss_ref: "redeemed".into(),
                new_balance_fen: None,
            }
        }
        other => {
            let cause = match other {
                Err(e) => e.cause(),
                Ok(r) => format!("unexpected answer {}", r.op()),
            };
            let reason = format!("voiding the unprinted recharge card not confirmed: {cause}");
            let r = reason.clone();
            j!(journal, |j| {
                j.operator_answered(
                    &leg,
                    "unknown",
                    None,
                    &serde_json::json!({"cause": cause}),
                    now,
                )?;
                j.mark_pending(&id, &r, now)
            })?;
            Resolution::KeepPending { reason }
        }
    };
    tracing::info!(txn = %txn.id, ?resolution, "recovering recharge-card sale");
    Ok(resolution)
}

/// Prints every paper that did not come out, and paper for every transaction with money
/// that has none.
pub async fn print_missing(
    journal: &JournalHandle,
    printer: Option<&PrinterDevice>,
    letterhead: &Letterhead,
    clock: &Clock,
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    // Transactions recovery finished (or older runs left) with no paper at all.
    for txn in j!(journal, |j| j.unprinted())? {
        if txn.receipt.is_some() {
            continue;
        }
        let paper = match TxnKind::parse(&txn.kind) {
            // A settled card is the customer's paper already.
            Some(TxnKind::PinSale) if txn.state == TxnState::Settled => None,
            Some(TxnKind::NewSim | TxnKind::ReplaceSim | TxnKind::PinSale) => {
                let id = txn.id.clone();
                let cards = j!(journal, |j| j.cards(&id))?;
                sim_paper_for(&txn, &cards)
            }
            _ => paper_for(&txn),
        };
        let Some(paper) = paper else {
            continue;
        };
        let (id, kind, doc) = (
            txn.id.clone(),
            paper.kind(),
            serde_json::to_value(&paper).unwrap_or_default(),
        );
        let now = clock.unix_ms();
        j!(journal, |j| j.paper_sent(&id, kind, &doc, now))?;
    }
    for rec in j!(journal, |j| j.papers_to_reprint())? {
        if !Paper::reprint_unattended(&rec.kind) {
            // A bill or records whose printing was cut short: its customer is gone, and it
            // is nobody else's to read. Recorded as not printed, never printed again.
            if rec.state == "sent" {
                let (id, now) = (rec.id, clock.unix_ms());
                j!(journal, |j| j.paper_done(
                    id,
                    false,
                    Some("interrupted; confidential, not printed again unattended"),
                    now
                ))?;
            }
            continue;
        }
        let Ok(paper) = serde_json::from_value::<Paper>(rec.doc.clone()) else {
            tracing::error!(paper = rec.id, kind = %rec.kind, "a recorded paper cannot be read back");
            continue;
        };
        let now = clock.unix_ms();
        let doc = crate::receipts::render(&paper, letterhead, now);
        let id = rec.id;
        if rec.state == "not_printed" {
            j!(journal, |j| j.paper_retry(id, now))?;
        }
        crash::point("recovery: before print").await;
        let result = match printer {
            Some(p) => p.print(doc.clone()).await,
            None => PrintResult::NotPrinted {
                reason: "no printer fitted".into(),
            },
        };
        crash::point("recovery: after print").await;
        let now = clock.unix_ms();
        let (printed, reason) = match &result {
            PrintResult::Printed => (true, None),
            PrintResult::NotPrinted { reason } => (false, Some(reason.clone())),
        };
        j!(journal, |j| j.paper_done(
            id,
            printed,
            reason.as_deref(),
            now
        ))?;
        if printed {
            report.printed.push((rec.txn_id.clone(), doc.to_text()));
        } else {
            report.unprinted.push(rec.txn_id.clone());
        }
    }
    Ok(())
}

/// The paper a transaction's customer should have, from what the journal holds.
pub fn paper_for(txn: &TxnRecord) -> Option<Paper> {
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
    Some(Paper::TopUp(TopUpReceipt {
        txn_id: txn.id.clone(),
        number_masked: txn.msisdn_masked.clone(),
        amount_fen: u64::try_from(amount_fen).unwrap_or(0),
        outcome,
        jammed: None,
    }))
}

/// The paper of a SIM transaction recovery finished: the receipt with the card that
/// carries the number (waiting in the reject bin for staff if it was captured), or the
/// refund voucher, or the pending receipt. No name and no ID number: they never reached the
/// disk.
pub fn sim_paper_for(txn: &TxnRecord, cards: &[crate::journal::CardRecord]) -> Option<Paper> {
    let outcome = match txn.state {
        TxnState::Settled => {
            let card = cards.iter().rev().find(|c| c.activated);
            SimOutcome::Issued {
                taken: card.is_some_and(|c| c.stage == CardStage::Taken),
                iccid_tail: card
                    .and_then(|c| c.iccid.as_deref())
                    .map(crate::flow::parts::issue::iccid_tail)
                    .unwrap_or_default(),
                operator_ref: txn.boss_ref.clone().unwrap_or_default(),
            }
        }
        TxnState::Pending => SimOutcome::Unconfirmed {
            reason: txn.reason.clone().unwrap_or_default(),
        },
        TxnState::Voucher => SimOutcome::Refunded {
            reason: txn.reason.clone().unwrap_or_default(),
        },
        TxnState::Open | TxnState::Cancelled => return None,
    };
    let paid_fen = u64::try_from(match txn.state {
        TxnState::Voucher => txn.inserted_fen - txn.credited_fen,
        _ => txn.inserted_fen,
    })
    .unwrap_or(0);
    Some(Paper::Sim(SimReceipt {
        txn_id: txn.id.clone(),
        service: txn.kind.clone(),
        number_masked: txn.msisdn_masked.clone(),
        name_masked: String::new(),
        id_masked: String::new(),
        plan_name: None,
        card_fee_fen: 0,
        prepaid_fen: 0,
        first_month_fee_fen: 0,
        paid_fen,
        agreement_version: None,
        outcome,
    }))
}

/// Retries pending credits (while the kiosk runs, between customers): the status query
/// decides, exactly as at start-up. Returns how many settled.
pub async fn retry_pending(
    journal: &JournalHandle,
    operator: &dyn Operator,
    clock: &Clock,
) -> Result<usize, Error> {
    let mut settled = 0;
    for txn in j!(journal, |j| j.unfinished())?
        .into_iter()
        .filter(|t| t.state == TxnState::Pending)
    {
        let mut unfinished = unfinished_of(&txn);
        let id = txn.id.clone();
        unfinished.leg_sent = !j!(journal, |j| j.legs(&id))?.is_empty();
        if matches!(
            TxnKind::parse(&txn.kind),
            Some(TxnKind::NewSim | TxnKind::ReplaceSim | TxnKind::PinSale)
        ) {
            let r = resolve_one(journal, operator, &txn, clock).await?;
            if matches!(r, Resolution::KeepPending { .. }) {
                // Nobody to ask now: try again at the next retry.
                break;
            }
            let id = txn.id.clone();
            if j!(journal, |j| j.get(&id))?.state == TxnState::Settled {
                settled += 1;
            }
            continue;
        }
        let status = if needs_status(&unfinished) {
            let s = status(operator, &txn.id).await;
            if matches!(s, OperatorStatus::Unreachable { .. }) {
                // Nobody to ask now: try again at the next retry.
                break;
            }
            Some(s)
        } else {
            None
        };
        resolve_with(journal, operator, &txn, &unfinished, status, clock).await?;
        let id = txn.id.clone();
        if j!(journal, |j| j.get(&id))?.state == TxnState::Settled {
            settled += 1;
        }
    }
    Ok(settled)
}

pub(crate) fn to_i64(fen: u64) -> i64 {
    i64::try_from(fen).unwrap_or(i64::MAX)
}
