use super::*;
use crate::flow::devices::{CardAnswer, CardCmd, CardProblem};
use crate::flow::testkit::*;
use crate::flow::{AcceptorEvent, PrintResult};
use crate::journal::CardStage;
use boss_protocol::{
    FaceVerdict, NumberList, OrderCancelled, PlanCatalogue, PoolNumber, Reply, Reservation,
    TxnState, TxnStatus,
};

const WALL: i64 = 1_796_000_000_000;
const NUMBER: &str = "13912345678";
const CARD_FEE: u64 = 1000;

fn cfg() -> Config {
    Config {
        timeouts: timeouts(),
        accept_fen: vec![1000, 2000, 5000, 10000],
        max_fen: 50_000,
        card_fee_fen: CARD_FEE,
        wall_ms_at_start: WALL,
    }
}

fn catalogue() -> Result<Response, OpError> {
    Ok(Response::PlanCatalogue(PlanCatalogue {
        day: "2026-12-07".into(),
        plans: vec![boss_protocol::CataloguePlan {
            plan: boss_protocol::Plan {
                id: "P38".into(),
                name: "畅享38元套餐".into(),
                monthly_fee_fen: 3800,
                data_mb: 10_240,
                voice_min: 200,
                sms: 100,
                features: vec![],
            },
            first_month_rule: boss_protocol::FirstMonthRule::Package,
            first_month_fee_fen: 3800,
        }],
    }))
}

/// A flow and its clock, driven as the runtime would.
struct Run {
    f: SimFlow,
    now: Millis,
}

impl Run {
    fn go(&mut self, input: Input) -> Vec<Effect> {
        self.f.handle(input, self.now)
    }

    fn ui(&mut self, ui: Ui) -> Vec<Effect> {
        self.go(Input::Ui(ui))
    }

    fn insert(&mut self, fen: u64) -> Vec<Effect> {
        let mut out = self.go(Input::Acceptor(AcceptorEvent::Escrow { fen }));
        out.extend(self.go(Input::Acceptor(AcceptorEvent::Credit { fen })));
        out
    }

    /// ID card, real-name check, consent, live photo, face match: what follows.
    fn identity(&mut self, out: &[Effect], applicant: bool) -> Vec<Effect> {
        let req = id_read(out);
        let mut out = self.go(Input::IdCard {
            req,
            result: Ok(id_document(false)),
        });
        if applicant {
            let (req, _) = request(&out, "real_name_check");
            out = self.go(answer(req, real_name_ok()));
        }
        assert!(matches!(last_screen(&out), Screen::FaceConsent { .. }));
        let out = self.go(select("consent"));
        let req = face_req(&out);
        let out = self.go(Input::Face {
            req,
            result: Ok(live_photo()),
        });
        let (req, r) = request(&out, "face_compare");
        let Request::FaceCompare(fc) = r else {
            unreachable!()
        };
        assert_eq!(
            fc.live_photo.0,
            live_photo().jpeg,
            "the photo taken is sent"
        );
        self.go(answer(req, face(FaceVerdict::Match)))
    }

    /// A new SIM from the intro to the note screen: the journal's Open and its id.
    fn new_sim_to_cash(&mut self) -> Vec<Effect> {
        let out = self.ui(Ui::Confirm);
        let out = self.identity(&out, true);
        let (req, _) = request(&out, "number_search");
        let out = self.go(answer(
            req,
            Ok(Response::NumberSearch(NumberList {
                numbers: vec![
                    PoolNumber {
                        msisdn: Msisdn::new(NUMBER),
                        tier: "normal".into(),
                        min_plan_fee_fen: 0,
                    },
                    PoolNumber {
                        msisdn: Msisdn::new("13988888888"),
                        tier: "nice".into(),
                        min_plan_fee_fen: 8800,
                    },
                ],
            })),
        ));
        let Screen::Numbers { numbers, .. } = last_screen(&out) else {
            panic!("{out:?}")
        };
        assert!(numbers[1].premium && !numbers[0].premium);
        let out = self.go(select(&format!("number:{NUMBER}")));
        let (req, r) = request(&out, "number_reserve");
        let Request::NumberReserve(q) = r else {
            unreachable!()
        };
        assert_eq!(q.msisdn.as_str(), NUMBER);
        let out = self.go(answer(
            req,
            Ok(Response::NumberReserve(Reservation {
                reservation_id: "R1".into(),
                msisdn: Msisdn::new(NUMBER),
                expires_ms: WALL + 600_000,
            })),
        ));
        let (req, r) = request(&out, "plan_catalogue");
        let Request::PlanCatalogue(q) = r else {
            unreachable!()
        };
        assert_eq!(q.msisdn.as_ref().map(Msisdn::as_str), Some(NUMBER));
        let out = self.go(answer(req, catalogue()));
        let Screen::JoinPlans { hold_s, plans, .. } = last_screen(&out) else {
            panic!("{out:?}")
        };
        assert_eq!(
            hold_s, 600,
            "the hold's time left, from the operator's expiry"
        );
        assert_eq!(plans[0].first_month_fee_fen, 3800);
        let out = self.go(select("P38"));
        assert!(matches!(last_screen(&out), Screen::Agreement { .. }));
        let out = self.ui(Ui::Confirm);
        let Screen::SimConfirm {
            due_fen,
            excess_to_balance,
            number,
            ..
        } = last_screen(&out)
        else {
            panic!("{out:?}")
        };
        assert_eq!(due_fen, CARD_FEE + 3800, "card fee plus the first month");
        assert!(excess_to_balance);
        assert_eq!(number, NUMBER, "the customer's own new number, in full");
        assert!(journal(&out).is_empty(), "nothing journaled before the yes");
        let out = self.ui(Ui::Confirm);
        assert!(matches!(
            journal(&out).as_slice(),
            [JournalOp::Open { kind: TxnKind::NewSim, number_masked, .. }] if number_masked == "139****5678"
        ));
        self.go(Input::TxnOpened { id: "T1".into() })
    }

    /// Pays `notes`, taps "done": the order's request.
    fn pay(&mut self, notes: &[u64]) -> Vec<Effect> {
        for fen in notes {
            self.insert(*fen);
        }
        let mut out = self.ui(Ui::Finish);
        out.extend(self.go(Input::Acceptor(AcceptorEvent::Disabled)));
        out
    }

    /// Issues one card all the way, taken: what the last step did.
    fn issue_card(&mut self, out: &[Effect]) -> Vec<Effect> {
        let (req, cmd) = card_cmd(out);
        assert_eq!(cmd, CardCmd::ToIc);
        let out = self.go(card_ok(req, CardAnswer::AtIc));
        let (req, _) = card_cmd(&out);
        let out = self.go(card_ok(req, CardAnswer::Iccid(ICCID.into())));
        let (req, _) = request(&out, "sim_script");
        let out = self.go(answer(req, script()));
        let (req, _) = card_cmd(&out);
        let out = self.go(card_ok(req, written(true)));
        let (req, _) = request(&out, "activate_sim");
        let out = self.go(answer(req, activated(None)));
        let (req, _) = card_cmd(&out);
        self.go(card_ok(req, CardAnswer::Taken))
    }
}

fn new_sim() -> Run {
    let (f, out) = SimFlow::new_sim(cfg(), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::SimIntro {
            fee_fen: CARD_FEE,
            ..
        }
    ));
    Run { f, now: 0 }
}

fn printed(out: &[Effect]) -> (ReqId, SimReceipt) {
    out.iter()
        .find_map(|e| match e {
            Effect::Print {
                req,
                paper: Paper::Sim(r),
            } => Some((*req, r.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a SIM paper expected in {out:?}"))
}

#[test]
fn a_new_sim_is_paid_ordered_issued_and_settled_with_the_excess_on_the_balance() {
    let mut r = new_sim();
    r.new_sim_to_cash();
    assert!(r.f.takes_notes());
    let out = r.pay(&[5000, 1000]);
    let sent = journal(&out);
    assert!(
        sent.iter().any(|op| matches!(op,
            JournalOp::OperatorSent { leg, op: "new_sim_order", amount_fen: 6000 } if leg == "T1")),
        "the order is journaled before it is sent: {sent:?}"
    );
    let (req, o) = request(&out, "new_sim_order");
    let Request::NewSimOrder(o) = o else {
        unreachable!()
    };
    assert_eq!(o.txn_id.as_str(), "T1");
    assert_eq!(o.reservation_id, "R1");
    assert_eq!(o.plan_id, "P38");
    assert_eq!(o.face_check_id, "F01");
    assert_eq!(o.agreement_version, AGREEMENT_VERSION);
    assert_eq!((o.card_fee_fen, o.prepaid_fen), (CARD_FEE, 5000));
    assert_eq!(r.f.money_in_fen(), 6000);
    let out = r.go(answer(req, sim_order("KH1")));
    let out = r.issue_card(&out);
    let ops = journal(&out);
    assert!(
        ops.iter().any(|op| matches!(op,
            JournalOp::Settle { credited_fen: 6000, boss_ref, .. } if boss_ref == "KH1")),
        "{ops:?}"
    );
    let (preq, receipt) = printed(&out);
    assert_eq!(receipt.kind(), "sim_receipt");
    assert_eq!(receipt.number_masked, "139****5678");
    assert_eq!(receipt.name_masked, "王**");
    assert_eq!(receipt.id_masked, "110101********1233");
    assert_eq!(receipt.prepaid_fen, 5000);
    assert!(matches!(
        receipt.outcome,
        SimOutcome::Issued { taken: true, ref iccid_tail, .. } if ICCID.ends_with(iccid_tail.as_str())
    ));
    let out = r.go(Input::Printed {
        req: preq,
        result: PrintResult::Printed,
    });
    assert!(matches!(
        last_screen(&out),
        Screen::SimDone {
            receipt: ReceiptState::Printed,
            ..
        }
    ));
    let out = r.ui(Ui::Confirm);
    assert!(ends(&out));
}

#[test]
fn less_than_the_price_orders_nothing_and_goes_on_a_voucher() {
    let mut r = new_sim();
    r.new_sim_to_cash();
    r.insert(2000);
    // "Done" is not offered below the price: nothing happens on it.
    let out = r.ui(Ui::Finish);
    assert!(journal(&out).is_empty() && r.f.takes_notes());
    // The customer gives up.
    let out = r.ui(Ui::Cancel);
    assert!(requests(&out).is_empty(), "no order: {out:?}");
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::IssueVoucher { .. }))
    );
    let (_, receipt) = printed(&out);
    assert_eq!(receipt.kind(), "refund_voucher");
    assert_eq!(receipt.paid_fen, 2000);
}

#[test]
fn a_refused_order_puts_the_cash_on_a_voucher() {
    let mut r = new_sim();
    r.new_sim_to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "new_sim_order");
    let out = r.go(answer(
        req,
        Err(OpError::refused("reservation_expired", "hold lapsed")),
    ));
    let ops = journal(&out);
    assert!(matches!(
        &ops[0],
        JournalOp::OperatorAnswered { outcome: LegOutcome::Failed { code }, .. } if code == "reservation_expired"
    ));
    assert!(
        ops.iter()
            .any(|op| matches!(op, JournalOp::IssueVoucher { .. }))
    );
    assert!(card_stages(&out).is_empty(), "no card picked");
    let (_, receipt) = printed(&out);
    assert_eq!((receipt.kind(), receipt.paid_fen), ("refund_voucher", 5000));
}

#[test]
fn an_empty_stacker_cancels_the_order_and_refunds() {
    let mut r = new_sim();
    r.new_sim_to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "new_sim_order");
    let out = r.go(answer(req, sim_order("KH1")));
    let (req, _) = card_cmd(&out);
    let out = r.go(Input::Card {
        req,
        result: Err(CardProblem::Empty),
    });
    assert_eq!(card_stages(&out), vec![CardStage::NotPicked]);
    assert!(journal(&out).iter().any(|op| matches!(op,
        JournalOp::OperatorSent { leg, op: "cancel_order", .. } if leg == "T1-C")));
    let (req, c) = request(&out, "cancel_order");
    let Request::CancelOrder(c) = c else {
        unreachable!()
    };
    assert_eq!((c.txn_id.as_str(), c.order_id.as_str()), ("T1-C", "KH1"));
    let out = r.go(answer(
        req,
        Ok(Response::CancelOrder(OrderCancelled {
            txn_id: TxnId::new("T1-C"),
            order_id: "KH1".into(),
            refund_due_fen: 5000,
        })),
    ));
    let (_, receipt) = printed(&out);
    assert_eq!(receipt.kind(), "refund_voucher");
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::IssueVoucher { .. }))
    );
}

#[test]
fn a_lost_order_answer_is_asked_for_and_the_committed_order_goes_on() {
    let mut r = new_sim();
    r.new_sim_to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "new_sim_order");
    let out = r.go(answer(
        req,
        Err(OpError::Unknown {
            cause: "timed out".into(),
        }),
    ));
    let (req, q) = request(&out, "txn_status");
    let Request::TxnStatus(q) = q else {
        unreachable!()
    };
    assert_eq!(q.txn_id.as_str(), "T1");
    let committed = sim_order("KH7").unwrap();
    let out = r.go(answer(
        req,
        Ok(Response::TxnStatus(TxnStatus {
            txn_id: TxnId::new("T1"),
            state: TxnState::Committed,
            txn_op: Some("new_sim_order".into()),
            amount_fen: Some(5000),
            outcome: Some(Box::new(Reply::Ok(committed))),
            reversed_by: None,
        })),
    ));
    assert!(
        requests(&out)
            .iter()
            .all(|(_, r)| r.op() != "new_sim_order"),
        "never ordered twice"
    );
    let (_, cmd) = card_cmd(&out);
    assert_eq!(cmd, CardCmd::ToIc, "the committed order's card is issued");
}

#[test]
fn an_order_the_operator_never_saw_is_sent_once_more_with_the_same_id() {
    let mut r = new_sim();
    r.new_sim_to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "new_sim_order");
    let out = r.go(answer(
        req,
        Err(OpError::Unknown {
            cause: "timed out".into(),
        }),
    ));
    let (req, _) = request(&out, "txn_status");
    let unknown = || {
        Ok(Response::TxnStatus(TxnStatus {
            txn_id: TxnId::new("T1"),
            state: TxnState::Unknown,
            txn_op: None,
            amount_fen: None,
            outcome: None,
            reversed_by: None,
        }))
    };
    let out = r.go(answer(req, unknown()));
    let (req, o) = request(&out, "new_sim_order");
    assert_eq!(o.txn_id().map(TxnId::as_str), Some("T1"));
    assert!(
        !journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::OperatorSent { .. })),
        "the resend is the same journaled leg"
    );
    // Lost again, and still unknown: nothing was ordered, the money goes on a voucher.
    let out = r.go(answer(
        req,
        Err(OpError::Unknown {
            cause: "timed out".into(),
        }),
    ));
    let (req, _) = request(&out, "txn_status");
    let out = r.go(answer(req, unknown()));
    let (_, receipt) = printed(&out);
    assert_eq!(receipt.kind(), "refund_voucher");
}

#[test]
fn a_card_left_in_the_gate_is_captured_and_the_receipt_says_so() {
    let mut r = new_sim();
    r.new_sim_to_cash();
    let out = r.pay(&[5000]);
    let (req, _) = request(&out, "new_sim_order");
    let out = r.go(answer(req, sim_order("KH1")));
    let (req, _) = card_cmd(&out);
    let out = r.go(card_ok(req, CardAnswer::AtIc));
    let (req, _) = card_cmd(&out);
    let out = r.go(card_ok(req, CardAnswer::Iccid(ICCID.into())));
    let (req, _) = request(&out, "sim_script");
    let out = r.go(answer(req, script()));
    let (req, _) = card_cmd(&out);
    let out = r.go(card_ok(req, written(true)));
    let (req, _) = request(&out, "activate_sim");
    let out = r.go(answer(req, activated(None)));
    let (req, _) = card_cmd(&out);
    let out = r.go(card_ok(req, CardAnswer::Captured { not_taken: true }));
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Settle { .. }))
    );
    let (_, receipt) = printed(&out);
    assert!(matches!(
        receipt.outcome,
        SimOutcome::Issued { taken: false, .. }
    ));
}

#[test]
fn declining_face_recognition_sends_to_the_counter_and_captures_nothing() {
    let mut r = new_sim();
    let out = r.ui(Ui::Confirm);
    let req = id_read(&out);
    let out = r.go(Input::IdCard {
        req,
        result: Ok(id_document(false)),
    });
    let (req, _) = request(&out, "real_name_check");
    r.go(answer(req, real_name_ok()));
    let out = r.go(select("decline"));
    assert!(!out.iter().any(|e| matches!(e, Effect::CaptureFace { .. })));
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::ConsentDeclined,
            ..
        }
    ));
    assert!(journal(&out).is_empty());
}

#[test]
fn the_operators_refusals_of_the_applicant_have_their_own_words() {
    for (code, notice) in [
        (
            "limit_reached",
            Notice::IdLimitReached {
                held: None,
                limit: None,
            },
        ),
        ("blacklisted", Notice::Blacklisted),
    ] {
        let mut r = new_sim();
        let out = r.ui(Ui::Confirm);
        let req = id_read(&out);
        let out = r.go(Input::IdCard {
            req,
            result: Ok(id_document(false)),
        });
        let (req, _) = request(&out, "real_name_check");
        let out = r.go(answer(req, Err(OpError::refused(code, "no"))));
        match last_screen(&out) {
            Screen::Refused { notice: n, .. } => assert_eq!(n, notice, "{code}"),
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[test]
fn an_expired_card_is_refused_on_the_kiosk_before_the_operator() {
    let mut r = new_sim();
    let out = r.ui(Ui::Confirm);
    let req = id_read(&out);
    let out = r.go(Input::IdCard {
        req,
        result: Ok(id_document(true)),
    });
    assert!(requests(&out).is_empty());
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::IdExpired,
            ..
        }
    ));
}

#[test]
fn a_hold_that_lapsed_before_the_yes_sends_back_to_the_numbers() {
    let mut r = new_sim();
    let out = r.ui(Ui::Confirm);
    let out = r.identity(&out, true);
    let (req, _) = request(&out, "number_search");
    r.go(answer(
        req,
        Ok(Response::NumberSearch(NumberList {
            numbers: vec![PoolNumber {
                msisdn: Msisdn::new(NUMBER),
                tier: "normal".into(),
                min_plan_fee_fen: 0,
            }],
        })),
    ));
    let out = r.go(select(&format!("number:{NUMBER}")));
    let (req, _) = request(&out, "number_reserve");
    let out = r.go(answer(
        req,
        Ok(Response::NumberReserve(Reservation {
            reservation_id: "R1".into(),
            msisdn: Msisdn::new(NUMBER),
            expires_ms: WALL + 60_000,
        })),
    ));
    let (req, _) = request(&out, "plan_catalogue");
    r.go(answer(req, catalogue()));
    r.go(select("P38"));
    r.ui(Ui::Confirm);
    r.now = 61_000;
    let out = r.ui(Ui::Confirm);
    assert!(journal(&out).is_empty(), "no transaction for a lapsed hold");
    let (_, q) = request(&out, "number_search");
    assert_eq!(q.op(), "number_search");
}

#[test]
fn a_search_by_the_digits_a_customer_likes() {
    let mut r = new_sim();
    let out = r.ui(Ui::Confirm);
    let out = r.identity(&out, true);
    let (req, _) = request(&out, "number_search");
    r.go(answer(
        req,
        Ok(Response::NumberSearch(NumberList { numbers: vec![] })),
    ));
    let out = r.go(select("search:8a8"));
    let (req, q) = request(&out, "number_search");
    let Request::NumberSearch(q) = q else {
        unreachable!()
    };
    assert_eq!(q.contains.as_deref(), Some("88"), "digits only");
    let out = r.go(answer(
        req,
        Ok(Response::NumberSearch(NumberList { numbers: vec![] })),
    ));
    assert!(matches!(
        last_screen(&out),
        Screen::Numbers {
            notice: Some(Notice::NoNumbersFound),
            ..
        }
    ));
}

// ---- 补卡 -------------------------------------------------------------------------------

fn replacement(arrears_fen: u64) -> (Run, Vec<Effect>) {
    let (f, _) = SimFlow::replacement(cfg(), 0);
    let mut r = Run { f, now: 0 };
    let out = r.ui(Ui::Number(N.into()));
    let (req, _) = request(&out, "subscriber_lookup");
    let out = r.go(answer(req, lookup(arrears_fen)));
    (r, out)
}

#[test]
fn a_replacement_with_arrears_is_refused_and_offers_a_top_up_with_the_number() {
    let (mut r, out) = replacement(1500);
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::Arrears { fen: 1500 },
            offer: Some(ServiceId::TopUp),
            ..
        }
    ));
    let out = r.go(select(ServiceId::TopUp.id()));
    assert!(out.iter().any(|e| matches!(e,
        Effect::Handoff { service: ServiceId::TopUp, number } if number.digits() == N)));
    assert!(ends(&out));
}

#[test]
fn a_replacement_proves_the_owner_and_takes_the_exact_fee() {
    let (mut r, out) = replacement(0);
    assert!(matches!(last_screen(&out), Screen::SimIntro { .. }));
    let out = r.ui(Ui::Confirm);
    let out = r.identity(&out, false);
    let (req, a) = request(&out, "auth_id_card");
    let Request::AuthIdCard(a) = a else {
        unreachable!()
    };
    assert_eq!(a.msisdn.as_str(), N);
    assert_eq!(a.face_check_id.as_deref(), Some("F01"));
    let out = r.go(answer(
        req,
        Ok(Response::AuthIdCard(auth_ok(&[
            boss_protocol::AuthFactor::IdCard,
        ]))),
    ));
    let Screen::SimConfirm {
        due_fen,
        excess_to_balance,
        number,
        ..
    } = last_screen(&out)
    else {
        panic!("{out:?}")
    };
    assert_eq!(due_fen, CARD_FEE);
    assert!(!excess_to_balance);
    assert_eq!(number, "138****0000");
    let out = r.ui(Ui::Confirm);
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::Open {
            kind: TxnKind::ReplaceSim,
            ..
        }]
    ));
    r.go(Input::TxnOpened { id: "T1".into() });
    // A 20 yuan note is more than the fee: handed back.
    let out = r.go(Input::Acceptor(AcceptorEvent::Escrow { fen: 2000 }));
    assert!(out.contains(&Effect::Acceptor(crate::flow::AcceptorCmd::Return)));
    r.go(Input::Acceptor(AcceptorEvent::Returned { fen: Some(2000) }));
    let out = r.insert(1000);
    // The fee met, the payment closes by itself.
    let mut out = out;
    out.extend(r.go(Input::Acceptor(AcceptorEvent::Disabled)));
    let (req, o) = request(&out, "replacement_sim");
    let Request::ReplacementSim(o) = o else {
        unreachable!()
    };
    assert_eq!((o.txn_id.as_str(), o.fee_fen), ("T1", CARD_FEE));
    let mut order = sim_order("BK1").unwrap();
    if let Response::NewSimOrder(s) = order {
        order = Response::ReplacementSim(s);
    }
    let out = r.go(answer(req, Ok(order)));
    let out = r.issue_card(&out);
    let (_, receipt) = printed(&out);
    assert_eq!(receipt.service, "replace_sim");
    assert_eq!(receipt.prepaid_fen, 0);
    assert!(matches!(receipt.outcome, SimOutcome::Issued { .. }));
}
