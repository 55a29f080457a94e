use bill_acceptor::AcceptorEvent;
use boss_protocol::{PinCatalogue, PinVoided, Reply, TxnState, TxnStatus};

use super::*;
use crate::flow::testkit::*;
use crate::flow::{AcceptorCmd, PrintResult};

const PIN: &str = "123456789012345678";

fn cfg() -> Config {
    Config {
        timeouts: timeouts(),
        accept_fen: vec![1000, 2000, 5000, 10000],
    }
}

fn catalogue(faces: &[u64]) -> Result<Response, OpError> {
    Ok(Response::PinCatalogue(PinCatalogue {
        face_values_fen: faces.to_vec(),
        valid_days: 365,
    }))
}

fn sold() -> Result<Response, OpError> {
    Ok(Response::PinSale(PinSold {
        txn_id: TxnId::new("P1"),
        serial: "2026120800001234".into(),
        pin: Secret::new(PIN),
        face_fen: 5000,
        expires_on: "2027-12-08".into(),
    }))
}

struct Run {
    f: PinSaleFlow,
}

impl Run {
    fn go(&mut self, input: Input) -> Vec<Effect> {
        self.f.handle(input, 0)
    }

    /// The catalogue answered, ¥50 chosen, the transaction open: the note screen.
    fn to_cash() -> (Self, Vec<Effect>) {
        let (f, out) = PinSaleFlow::start(cfg(), 0);
        let mut r = Run { f };
        let (req, _) = request(&out, "pin_catalogue");
        let out = r.go(answer(req, catalogue(&[3000, 5000, 10000])));
        assert!(matches!(
            last_screen(&out),
            Screen::PinFaces { faces_fen, .. } if faces_fen == [3000, 5000, 10000]
        ));
        let out = r.go(select("face:5000"));
        assert!(matches!(
            journal(&out).as_slice(),
            [JournalOp::Open {
                kind: TxnKind::PinSale,
                msisdn: None,
                ..
            }]
        ));
        let out = r.go(Input::TxnOpened { id: "P1".into() });
        (r, out)
    }

    fn insert(&mut self, fen: u64) -> Vec<Effect> {
        let mut out = self.go(Input::Acceptor(AcceptorEvent::Escrow { fen }));
        out.extend(self.go(Input::Acceptor(AcceptorEvent::Credit { fen })));
        out
    }

    /// Notes in; the payment closes at the face value by itself.
    fn pay(&mut self, notes: &[u64]) -> Vec<Effect> {
        let mut out = Vec::new();
        for fen in notes {
            out.extend(self.insert(*fen));
        }
        out.extend(self.go(Input::Acceptor(AcceptorEvent::Disabled)));
        out
    }
}

fn pin_paper(out: &[Effect]) -> (ReqId, PinPaper) {
    out.iter()
        .find_map(|e| match e {
            Effect::Print {
                req,
                paper: Paper::Pin(p),
            } => Some((*req, p.clone())),
            _ => None,
        })
        .expect("a recharge card")
}

fn sim_paper(out: &[Effect]) -> (ReqId, SimReceipt) {
    out.iter()
        .find_map(|e| match e {
            Effect::Print {
                req,
                paper: Paper::Sim(p),
            } => Some((*req, p.clone())),
            _ => None,
        })
        .expect("a voucher or receipt")
}

#[test]
fn the_exact_amount_buys_a_card_printed_and_settled_by_its_serial() {
    let (mut r, out) = Run::to_cash();
    assert!(matches!(
        last_screen(&out),
        Screen::Insert(v) if v.due_fen == Some(5000) && !v.accept_fen.contains(&10000)
    ));
    let out = r.pay(&[2000, 2000, 1000]);
    assert!(matches!(
        journal(&out).last(),
        Some(JournalOp::OperatorSent {
            op: "pin_sale",
            amount_fen: 5000,
            ..
        })
    ));
    let (req, s) = request(&out, "pin_sale");
    let Request::PinSale(s) = s else {
        unreachable!()
    };
    assert_eq!((s.txn_id.as_str(), s.face_fen), ("P1", 5000));
    let out = r.go(answer(req, sold()));
    assert!(matches!(
        journal(&out).first(),
        Some(JournalOp::OperatorAnswered {
            outcome: LegOutcome::Committed { operator_ref },
            ..
        }) if operator_ref == "2026120800001234"
    ));
    let (preq, paper) = pin_paper(&out);
    assert_eq!(
        paper.grouped_pin().as_deref(),
        Some("1234 5678 9012 3456 78")
    );
    // The PIN is in the paper for the printer, and in no journal line, screen or log.
    for op in journal(&out) {
        if let JournalOp::PaperSent { paper, .. } = &op {
            // What the journal thread stores of a paper.
            let json = serde_json::to_string(paper).unwrap_or_default();
            assert!(!json.contains(PIN), "journaled: {json}");
        }
        assert!(!format!("{op:?}").contains(PIN));
    }
    let screens: Vec<String> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Show(s) => Some(format!("{s:?}")),
            _ => None,
        })
        .collect();
    assert!(screens.iter().all(|s| !s.contains(PIN)), "{screens:?}");
    assert!(
        !format!("{out:?}").contains(PIN),
        "Debug of every effect hides it"
    );
    assert!(matches!(
        last_screen(&out),
        Screen::SimDone {
            outcome: SimOutcome::PinSold { serial_tail, .. },
            receipt: ReceiptState::Printing,
            ..
        } if serial_tail == "1234"
    ));
    let out = r.go(Input::Printed {
        req: preq,
        result: PrintResult::Printed,
    });
    assert!(journal(&out).iter().any(|op| matches!(op,
        JournalOp::Settle { credited_fen: 5000, boss_ref, .. } if boss_ref == "2026120800001234")));
    assert!(matches!(
        last_screen(&out),
        Screen::SimDone {
            receipt: ReceiptState::Printed,
            ..
        }
    ));
}

#[test]
fn a_card_that_did_not_print_is_voided_and_refunded() {
    let (mut r, _) = Run::to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "pin_sale");
    let out = r.go(answer(req, sold()));
    let (preq, _) = pin_paper(&out);
    let out = r.go(Input::Printed {
        req: preq,
        result: PrintResult::NotPrinted {
            reason: "paper_out".into(),
        },
    });
    assert!(journal(&out).iter().any(|op| matches!(op,
        JournalOp::OperatorSent { leg, op: "pin_void", .. } if leg == "P1-V")));
    let (req, v) = request(&out, "pin_void");
    let Request::PinVoid(v) = v else {
        unreachable!()
    };
    assert_eq!(v.sale_txn_id.as_str(), "P1");
    assert_eq!(v.serial.as_deref(), Some("2026120800001234"));
    let out = r.go(answer(
        req,
        Ok(Response::PinVoid(PinVoided {
            txn_id: TxnId::new("P1-V"),
            sale_txn_id: TxnId::new("P1"),
            serial: Some("2026120800001234".into()),
            refund_due_fen: 5000,
        })),
    ));
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::IssueVoucher { .. }))
    );
    let (_, voucher) = sim_paper(&out);
    assert_eq!(voucher.paid_fen, 5000);
    assert!(matches!(voucher.outcome, SimOutcome::Refunded { .. }));
    assert_eq!(voucher.kind(), "refund_voucher");
}

#[test]
fn a_lost_answer_is_asked_about_and_an_unknown_sale_voided() {
    let (mut r, _) = Run::to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "pin_sale");
    let lost = || {
        Err(OpError::Unknown {
            cause: "timed out".into(),
        })
    };
    let out = r.go(answer(req, lost()));
    let (req, _) = request(&out, "txn_status");
    let status = |state, outcome: Option<Reply>| {
        Ok(Response::TxnStatus(TxnStatus {
            txn_id: TxnId::new("P1"),
            state,
            txn_op: Some("pin_sale".into()),
            amount_fen: Some(5000),
            outcome: outcome.map(Box::new),
            reversed_by: None,
        }))
    };
    // Never received: sent once more with the same id.
    let out = r.go(answer(req, status(TxnState::Unknown, None)));
    let (req, _) = request(&out, "pin_sale");
    let out = r.go(answer(req, lost()));
    let (req, _) = request(&out, "txn_status");
    // Still nothing: the sale is voided (barred at the operator) and refunded.
    let out = r.go(answer(req, lost()));
    let (_, v) = request(&out, "pin_void");
    let Request::PinVoid(v) = v else {
        unreachable!()
    };
    assert_eq!(v.serial, None);

    // Committed after all: the card is printed from the status's answer.
    let (mut r, _) = Run::to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "pin_sale");
    let out = r.go(answer(req, lost()));
    let (req, _) = request(&out, "txn_status");
    let out = r.go(answer(
        req,
        status(TxnState::Committed, Some(Reply::Ok(sold().unwrap()))),
    ));
    let (_, paper) = pin_paper(&out);
    assert_eq!(paper.serial, "2026120800001234");
}

#[test]
fn a_refused_sale_or_too_little_money_goes_on_a_voucher() {
    let (mut r, _) = Run::to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "pin_sale");
    let out = r.go(answer(
        req,
        Err(OpError::refused("pin_unavailable", "sold out")),
    ));
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::IssueVoucher { .. }))
    );
    assert_eq!(sim_paper(&out).1.paid_fen, 5000);

    // The customer walks away after ¥20 of ¥50.
    let (mut r, _) = Run::to_cash();
    r.insert(2000);
    // "Finish" does nothing short of the price; leaving does.
    let out = r.go(Input::Ui(Ui::Finish));
    assert!(
        !out.iter()
            .any(|e| matches!(e, Effect::Acceptor(AcceptorCmd::Disable)))
    );
    let mut out = r.go(Input::Ui(Ui::Cancel));
    out.extend(r.go(Input::Acceptor(AcceptorEvent::Disabled)));
    assert!(requests(&out).iter().all(|(_, q)| q.op() != "pin_sale"));
    assert_eq!(sim_paper(&out).1.paid_fen, 2000);
}

#[test]
fn a_void_not_confirmed_leaves_the_sale_pending_for_recovery() {
    let (mut r, _) = Run::to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "pin_sale");
    let out = r.go(answer(req, sold()));
    let (preq, _) = pin_paper(&out);
    let out = r.go(Input::Printed {
        req: preq,
        result: PrintResult::NotPrinted {
            reason: "jam".into(),
        },
    });
    let (req, _) = request(&out, "pin_void");
    let out = r.go(answer(
        req,
        Err(OpError::Unknown {
            cause: "link down".into(),
        }),
    ));
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::MarkPending { .. }))
    );
    assert!(matches!(
        sim_paper(&out).1.outcome,
        SimOutcome::Unconfirmed { .. }
    ));
}

#[test]
fn only_face_values_payable_in_the_notes_taken_are_offered() {
    let (mut f, out) = PinSaleFlow::start(
        Config {
            accept_fen: vec![2000, 5000],
            ..cfg()
        },
        0,
    );
    let (req, _) = request(&out, "pin_catalogue");
    // ¥30 cannot be paid exactly in ¥20 and ¥50 notes; ¥10 neither.
    let out = f.handle(answer(req, catalogue(&[1000, 3000, 5000, 10000])), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::PinFaces { faces_fen, .. } if faces_fen == [5000, 10000]
    ));
    // A face value not offered is not taken.
    let out = f.handle(select("face:3000"), 0);
    assert!(journal(&out).is_empty());

    let (mut f, out) = PinSaleFlow::start(cfg(), 0);
    let (req, _) = request(&out, "pin_catalogue");
    let out = f.handle(answer(req, catalogue(&[])), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::PinSoldOut,
            ..
        }
    ));
}

#[test]
fn the_journaled_paper_cannot_print_a_pin() {
    let paper = Paper::Pin(PinPaper {
        txn_id: "P1".into(),
        serial: "2026120800001234".into(),
        pin: Some(Secret::new(PIN)),
        face_fen: 5000,
        expires_on: "2027-12-08".into(),
    });
    let json = serde_json::to_string(&paper).unwrap_or_default();
    assert!(!json.contains(PIN), "{json}");
    let back: Paper = serde_json::from_str(&json).unwrap();
    let Paper::Pin(back) = back else {
        panic!("{back:?}")
    };
    assert_eq!(back.pin, None);
    assert_eq!(back.grouped_pin(), None);
}
