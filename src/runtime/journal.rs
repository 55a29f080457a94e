//! The journal on a thread of its own: every write is an fsync (WAL, `synchronous=FULL`),
//! so none runs on the async workers. The runtime hands the journal closures and awaits
//! their results; writes are carried out one at a time, in the order they were sent.

use std::sync::mpsc as std_mpsc;

use tokio::sync::oneshot;

use crate::flow::devices::CardJournal;
use crate::flow::{JournalOp, LegOutcome, PrintResult};
use crate::journal::{Journal, NewTxn, NoteSource};

type Job = Box<dyn FnOnce(&mut Journal) + Send>;

/// The journal thread has stopped (it panicked, or was shut down).
#[derive(Debug, thiserror::Error)]
#[error("the journal thread has stopped")]
pub struct Stopped;

/// Handle to the journal thread. Cheap to clone; the thread ends with the last handle.
#[derive(Debug, Clone)]
pub struct JournalHandle {
    tx: std_mpsc::Sender<Job>,
    kiosk_id: String,
}

impl JournalHandle {
    /// Moves the journal onto its own thread.
    pub fn spawn(journal: Journal) -> std::io::Result<Self> {
        let kiosk_id = journal.kiosk_id().to_owned();
        let (tx, rx) = std_mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                let mut journal = journal;
                while let Ok(job) = rx.recv() {
                    job(&mut journal);
                }
            })?;
        Ok(Self { tx, kiosk_id })
    }

    /// The kiosk id the journal was opened with.
    pub fn kiosk_id(&self) -> &str {
        &self.kiosk_id
    }

    /// Runs `f` on the journal thread and returns its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Stopped>
    where
        T: Send + 'static,
        F: FnOnce(&mut Journal) -> T + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Box::new(move |j: &mut Journal| {
                let _ = reply.send(f(j));
            }))
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Runs `f` and waits for it from a thread that is not a runtime worker (the
    /// technician's tools, tests).
    pub fn run_blocking<T, F>(&self, f: F) -> Result<T, Stopped>
    where
        T: Send + 'static,
        F: FnOnce(&mut Journal) -> T + Send + 'static,
    {
        let (reply, rx) = std_mpsc::channel();
        self.tx
            .send(Box::new(move |j: &mut Journal| {
                let _ = reply.send(f(j));
            }))
            .map_err(|_| Stopped)?;
        rx.recv().map_err(|_| Stopped)
    }
}

/// What a journal write gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The transaction was opened with this id.
    Opened(String),
    /// The paper was recorded with this id.
    Paper(i64),
    /// A card was picked (the intent recorded) with this id: the session's current card.
    Card(i64),
}

/// Carries out one of a flow's journal writes on the session's transaction `txn` (`""`
/// before it is opened). `paper` is the recorded id of the paper a `PaperDone` is about, or
/// of the session's current card for a card's stage.
/// Runs on the journal thread (through [`JournalHandle::run`]); benchmarks call it directly.
pub fn write(
    j: &mut Journal,
    txn: &str,
    op: JournalOp,
    paper: Option<i64>,
    now: i64,
) -> Result<Written, crate::journal::Error> {
    let fen = |f: u64| i64::try_from(f).unwrap_or(i64::MAX);
    match op {
        JournalOp::Open {
            kind,
            msisdn,
            number_masked,
        } => {
            let id = j.begin(
                &NewTxn {
                    kind: kind.as_str(),
                    msisdn: msisdn.as_deref(),
                    msisdn_masked: &number_masked,
                },
                now,
            )?;
            return Ok(Written::Opened(id));
        }
        JournalOp::Step {
            kind,
            phase,
            detail,
        } => j.step(txn, kind, phase, &detail, now)?,
        JournalOp::CreditNote { fen: f, power_up } => {
            let source = if power_up {
                NoteSource::PowerUp
            } else {
                NoteSource::Credit
            };
            j.credit_note(txn, fen(f), source, now)?;
            tracing::info!(txn, fen = f, "note credited");
        }
        JournalOp::OperatorSent {
            leg,
            op,
            amount_fen,
        } => j.operator_sent(txn, &leg, op, fen(amount_fen), now)?,
        JournalOp::OperatorAnswered { leg, outcome } => {
            let (state, operator_ref, detail) = match &outcome {
                LegOutcome::Committed { operator_ref } => (
                    "committed",
                    Some(operator_ref.as_str()),
                    serde_json::json!({}),
                ),
                LegOutcome::Failed { code } => ("failed", None, serde_json::json!({"code": code})),
                LegOutcome::Unknown { cause } => {
                    ("unknown", None, serde_json::json!({"cause": cause}))
                }
                LegOutcome::NotSent { cause } => {
                    ("not_sent", None, serde_json::json!({"cause": cause}))
                }
            };
            j.operator_answered(&leg, state, operator_ref, &detail, now)?;
        }
        JournalOp::Settle {
            credited_fen,
            boss_ref,
            new_balance_fen,
        } => j.settle(txn, fen(credited_fen), &boss_ref, new_balance_fen, now)?,
        JournalOp::MarkPending { reason } => j.mark_pending(txn, &reason, now)?,
        JournalOp::IssueVoucher { reason } => {
            j.issue_voucher(txn, &reason, now)?;
        }
        JournalOp::Cancel { reason } => j.cancel(txn, &reason, now)?,
        JournalOp::Complete { operator_ref } => {
            let r = (!operator_ref.is_empty()).then_some(operator_ref.as_str());
            j.complete(txn, r, now)?;
        }
        JournalOp::PaperSent { paper, .. } => {
            let doc = serde_json::to_value(&paper).unwrap_or_default();
            return Ok(Written::Paper(j.paper_sent(
                txn,
                paper.kind(),
                &doc,
                now,
            )?));
        }
        JournalOp::Card(CardJournal::Pick { attempt }) => {
            return Ok(Written::Card(j.card_pick(txn, attempt, now)?));
        }
        JournalOp::Card(CardJournal::Stage {
            stage,
            iccid,
            reason,
        }) => {
            let Some(card) = paper else {
                tracing::error!(txn, ?stage, "a card's stage for no card picked");
                return Ok(Written::Done);
            };
            j.card_stage(card, stage, iccid.as_deref(), reason.as_deref(), now)?;
        }
        JournalOp::PaperDone { result, .. } => {
            let Some(id) = paper else {
                return Ok(Written::Done);
            };
            let (printed, reason) = match &result {
                PrintResult::Printed => (true, None),
                PrintResult::NotPrinted { reason } => (false, Some(reason.as_str())),
            };
            if !printed {
                tracing::warn!(
                    txn,
                    paper = id,
                    ?reason,
                    "paper not printed: recorded for the shop"
                );
            }
            j.paper_done(id, printed, reason, now)?;
        }
    }
    Ok(Written::Done)
}

/// The crash points before and after a journal write (names the crash tests print).
pub fn crash_points(op: &JournalOp) -> (Option<String>, Option<String>) {
    let s = |n: &str| Some(n.to_owned());
    match op {
        JournalOp::Open { .. } => (s("journal: before open"), s("journal: after open")),
        JournalOp::Step { kind, .. } => (
            Some(format!("journal: before intent {kind}")),
            Some(format!("journal: after intent {kind}")),
        ),
        JournalOp::CreditNote { .. } => (
            s("journal: before credit note"),
            s("journal: after credit note"),
        ),
        JournalOp::OperatorSent { op, .. } => (Some(format!("journal: before {op} sent")), None),
        JournalOp::Settle { .. } => (s("journal: before settle"), s("journal: after settle")),
        JournalOp::MarkPending { .. } => (None, s("journal: after pending")),
        JournalOp::IssueVoucher { .. } => (None, s("journal: after voucher")),
        JournalOp::Complete { .. } => (s("journal: before complete"), s("journal: after complete")),
        JournalOp::Card(CardJournal::Pick { .. }) => (
            s("journal: before card pick"),
            s("journal: after card pick"),
        ),
        JournalOp::Card(CardJournal::Stage { stage, iccid, .. }) => {
            let what = if iccid.is_some() {
                "iccid"
            } else {
                stage.as_str()
            };
            (
                Some(format!("journal: before card {what}")),
                Some(format!("journal: after card {what}")),
            )
        }
        JournalOp::OperatorAnswered { .. }
        | JournalOp::Cancel { .. }
        | JournalOp::PaperSent { .. }
        | JournalOp::PaperDone { .. } => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_happen_on_the_journal_thread_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j.sqlite"), "K1").unwrap();
        let h = JournalHandle::spawn(j).unwrap();
        let names: Vec<String> = futures_join(&h).await;
        assert!(names.iter().all(|n| n == "journal"), "{names:?}");
        let ids = h
            .run(|j| j.list(10).map(|l| l.len()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ids, 3);
    }

    async fn futures_join(h: &JournalHandle) -> Vec<String> {
        let mut names = Vec::new();
        for _ in 0..3 {
            let name = h
                .run(|j| {
                    j.begin(
                        &crate::journal::NewTxn {
                            kind: "topup",
                            msisdn: None,
                            msisdn_masked: "-",
                        },
                        0,
                    )
                    .unwrap();
                    std::thread::current().name().unwrap_or("").to_owned()
                })
                .await
                .unwrap();
            names.push(name);
        }
        names
    }
}
