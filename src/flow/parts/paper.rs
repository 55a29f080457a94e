//! Print-and-record: papers go to the printer, each journaled before it is sent and its
//! outcome after — printed only when the printer's status after the job says so. A paper
//! that did not come out is recorded with the reason; start-up recovery and the
//! technician print it again.

use super::super::{Effect, Ids, Input, JournalOp, Paper, PrintResult, ReqId};

/// Papers of one step of a flow, on their way through the printer.
#[derive(Debug, Clone)]
pub struct PaperRun {
    pending: Vec<ReqId>,
    all_printed: bool,
}

impl PaperRun {
    /// Sends every paper to the printer, in order, each after its journal line.
    pub fn start(papers: Vec<Paper>, ids: &mut Ids, out: &mut Vec<Effect>) -> Self {
        let mut pending = Vec::with_capacity(papers.len());
        for paper in papers {
            let req = ids.fresh();
            out.push(Effect::Journal(JournalOp::PaperSent {
                req,
                paper: paper.clone(),
            }));
            out.push(Effect::Print { req, paper });
            pending.push(req);
        }
        Self {
            pending,
            all_printed: true,
        }
    }

    /// Whether every paper has an answer.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes a printer answer; returns `Some(all_printed)` once every paper has one.
    pub fn handle(&mut self, input: &Input, out: &mut Vec<Effect>) -> Option<bool> {
        let Input::Printed { req, result } = input else {
            return None;
        };
        let i = self.pending.iter().position(|r| r == req)?;
        self.pending.remove(i);
        self.all_printed &= *result == PrintResult::Printed;
        out.push(Effect::Journal(JournalOp::PaperDone {
            req: *req,
            result: result.clone(),
        }));
        self.pending.is_empty().then_some(self.all_printed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::topup::{Outcome, TopUpReceipt};

    fn receipt(n: u64) -> Paper {
        Paper::TopUp(TopUpReceipt {
            txn_id: format!("T{n}"),
            number_masked: "138****0000".into(),
            amount_fen: n,
            outcome: Outcome::Pending { reason: "x".into() },
            jammed: None,
        })
    }

    #[test]
    fn each_paper_is_journaled_before_it_is_printed_and_after() {
        let mut ids = Ids::default();
        let mut out = Vec::new();
        let mut run = PaperRun::start(vec![receipt(1), receipt(2)], &mut ids, &mut out);
        assert!(matches!(
            out[0],
            Effect::Journal(JournalOp::PaperSent { .. })
        ));
        assert!(matches!(out[1], Effect::Print { .. }));
        assert!(matches!(
            out[2],
            Effect::Journal(JournalOp::PaperSent { .. })
        ));
        let mut out = Vec::new();
        // An answer to a job of another run is not ours.
        let stray = Input::Printed {
            req: ReqId(99),
            result: PrintResult::Printed,
        };
        assert_eq!(run.handle(&stray, &mut out), None);
        assert!(out.is_empty());
        let first = Input::Printed {
            req: ReqId(1),
            result: PrintResult::NotPrinted {
                reason: "paper_out".into(),
            },
        };
        assert_eq!(run.handle(&first, &mut out), None);
        let second = Input::Printed {
            req: ReqId(2),
            result: PrintResult::Printed,
        };
        assert_eq!(run.handle(&second, &mut out), Some(false));
        assert_eq!(out.len(), 2);
        assert!(run.is_done());
    }
}
