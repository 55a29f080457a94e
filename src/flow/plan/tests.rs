use super::*;
use crate::flow::PrintResult;
use crate::flow::testkit::*;
use boss_protocol::{AuthFactor, PendingPlanChange, Plan, Reply, TxnStatus};

fn cfg(day: u32) -> Config {
    Config {
        timeouts: timeouts(),
        id_card: true,
        today: (2026, 12, day),
        seed: 7,
    }
}

fn plan(id: &str, name: &str, fee_yuan: u64, data_mb: u32, voice: u32, features: &[&str]) -> Plan {
    Plan {
        id: id.into(),
        name: name.into(),
        monthly_fee_fen: fee_yuan * 100,
        data_mb,
        voice_min: voice,
        sms: 100,
        features: features.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn current() -> boss_protocol::CurrentPlan {
    boss_protocol::CurrentPlan {
        msisdn: Msisdn::new(N),
        plan: plan("P38", "畅享38元套餐", 38, 10_240, 100, &["来电显示"]),
        pending: None,
    }
}

fn eligible() -> Vec<Plan> {
    vec![
        plan(
            "P58",
            "畅享58元套餐",
            58,
            30_720,
            300,
            &["来电显示", "视频彩铃"],
        ),
        plan("P18", "基础18元套餐", 18, 2_048, 50, &[]),
    ]
}

/// A plan change flow at the plans screen, authenticated by password.
fn at_plans(day: u32) -> (PlanChangeFlow, Vec<Effect>) {
    let (mut f, _) = PlanChangeFlow::start(cfg(day), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    let out = f.handle(answer(req, lookup(0)), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose {
            sms: false,
            id_card: true,
            ..
        }
    ));
    f.handle(select("password"), 0);
    let out = f.handle(secret("246810"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let (cur, r) = request(&out, "current_plan");
    let Request::CurrentPlan(q) = r else {
        unreachable!()
    };
    assert_eq!(q.token.0, TOKEN);
    let (elig, _) = request(&out, "eligible_plans");
    f.handle(
        answer(
            elig,
            Ok(Response::EligiblePlans(boss_protocol::EligiblePlans {
                msisdn: Msisdn::new(N),
                plans: eligible(),
            })),
        ),
        0,
    );
    let out = f.handle(answer(cur, Ok(Response::CurrentPlan(current()))), 0);
    (f, out)
}

/// From the plans screen: P58 chosen, confirmed, the transaction opened; returns the
/// plan_change request.
fn confirmed(f: &mut PlanChangeFlow) -> (ReqId, Vec<Effect>) {
    let out = f.handle(select("P58"), 0);
    match last_screen(&out) {
        Screen::PlanConfirm {
            change,
            current,
            effective_month,
            ..
        } => {
            assert_eq!(change.plan.id, "P58");
            assert_eq!(current.id, "P38");
            assert_eq!(effective_month, "2027-01", "from next month");
        }
        other => panic!("{other:?}"),
    }
    let out = f.handle(Input::Ui(Ui::Confirm), 0);
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::Open {
            kind: TxnKind::PlanChange,
            msisdn: None,
            ..
        }]
    ));
    let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
    let ops = journal(&out);
    assert!(
        matches!(&ops[..], [JournalOp::OperatorSent { leg, op: "plan_change", amount_fen: 0 }] if leg == "T1"),
        "journal before acting: {ops:?}"
    );
    let (req, r) = request(&out, "plan_change");
    let Request::PlanChange(pc) = r else {
        unreachable!()
    };
    assert_eq!(
        pc.txn_id.as_str(),
        "T1",
        "the transaction id makes it idempotent"
    );
    assert_eq!(pc.plan_id, "P58");
    assert_eq!(pc.token.0, TOKEN);
    (req, out)
}

fn changed_ok() -> Result<Response, OpError> {
    Ok(Response::PlanChange(boss_protocol::PlanChangeOk {
        txn_id: TxnId::new("T1"),
        msisdn: Msisdn::new(N),
        from_plan_id: "P38".into(),
        to_plan_id: "P58".into(),
        effective_month: "2027-01".into(),
        operator_ref: "BG0001".into(),
    }))
}

#[test]
fn the_plans_are_compared_with_the_current_one() {
    let (_, out) = at_plans(10);
    let Screen::Plans {
        number_masked,
        current,
        pending,
        options,
    } = last_screen(&out)
    else {
        panic!("plans expected: {out:?}");
    };
    assert_eq!(number_masked, "138****0000");
    assert_eq!(current.id, "P38");
    assert_eq!(pending, None);
    assert_eq!(options.len(), 2);
    let up = &options[0];
    assert_eq!(up.fee_delta_fen, 2000);
    assert_eq!(up.data_delta_mb, 20_480);
    assert_eq!(up.voice_delta_min, 200);
    assert_eq!(up.features_gained, vec!["视频彩铃".to_owned()]);
    assert!(up.features_lost.is_empty());
    let down = &options[1];
    assert_eq!(down.fee_delta_fen, -2000);
    assert_eq!(down.features_lost, vec!["来电显示".to_owned()]);
}

#[test]
fn a_change_already_booked_is_shown() {
    let (mut f, _) = PlanChangeFlow::start(cfg(10), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    f.handle(answer(req, lookup(0)), 0);
    f.handle(select("password"), 0);
    let out = f.handle(secret("246810"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let (cur, _) = request(&out, "current_plan");
    let (elig, _) = request(&out, "eligible_plans");
    let mut c = current();
    c.pending = Some(PendingPlanChange {
        plan_id: "P18".into(),
        effective_month: "2027-01".into(),
    });
    f.handle(answer(cur, Ok(Response::CurrentPlan(c))), 0);
    let out = f.handle(
        answer(
            elig,
            Ok(Response::EligiblePlans(boss_protocol::EligiblePlans {
                msisdn: Msisdn::new(N),
                plans: eligible(),
            })),
        ),
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Plans { pending: Some((name, month)), .. } if name == "基础18元套餐" && month == "2027-01"
    ));
}

#[test]
fn a_plan_change_is_journaled_applied_completed_and_printed() {
    let (mut f, _) = at_plans(10);
    let (req, _) = confirmed(&mut f);
    let out = f.handle(answer(req, changed_ok()), 0);
    let ops = journal(&out);
    assert!(matches!(
        &ops[0],
        JournalOp::OperatorAnswered { outcome: LegOutcome::Committed { operator_ref }, .. } if operator_ref == "BG0001"
    ));
    assert!(matches!(&ops[1], JournalOp::Complete { operator_ref } if operator_ref == "BG0001"));
    let Some((preq, paper)) = out.iter().find_map(|e| match e {
        Effect::Print { req, paper } => Some((*req, paper.clone())),
        _ => None,
    }) else {
        panic!("a receipt: {out:?}");
    };
    let Paper::PlanChange(r) = paper else {
        panic!("{paper:?}")
    };
    assert_eq!(r.number_masked, "138****0000");
    assert_eq!(
        (r.from_name.as_str(), r.to_name.as_str()),
        ("畅享38元套餐", "畅享58元套餐")
    );
    assert_eq!(r.effective_month, "2027-01");
    assert_eq!(
        r.outcome,
        PlanOutcome::Changed {
            operator_ref: "BG0001".into()
        }
    );
    let out = f.handle(
        Input::Printed {
            req: preq,
            result: PrintResult::Printed,
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::PlanDone {
            receipt: ReceiptState::Printed,
            outcome: PlanOutcome::Changed { .. },
            ..
        }
    ));
    let out = f.handle(Input::Ui(Ui::Confirm), 0);
    assert!(ends(&out));
    assert!(f.is_ended());
}

#[test]
fn arrears_are_refused_before_any_password_with_a_top_up_offered() {
    let (mut f, _) = PlanChangeFlow::start(cfg(10), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    let out = f.handle(answer(req, lookup(3_550)), 0);
    assert_eq!(
        last_screen(&out),
        Screen::Refused {
            service: ServiceId::PlanChange,
            notice: Notice::Arrears { fen: 3_550 },
            offer: Some(ServiceId::TopUp),
        }
    );
    assert!(requests(&out).is_empty());
    // "Top up now": the session ends and hands the number on to a top-up.
    let out = f.handle(select("topup"), 0);
    let handoff = out.iter().find_map(|e| match e {
        Effect::Handoff { service, number } => Some((*service, number.digits().to_owned())),
        _ => None,
    });
    assert_eq!(handoff, Some((ServiceId::TopUp, N.to_owned())));
    assert!(ends(&out));
}

#[test]
fn the_billing_days_are_refused_before_any_password() {
    let (mut f, _) = PlanChangeFlow::start(cfg(3), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    let out = f.handle(answer(req, lookup(0)), 0);
    assert_eq!(
        last_screen(&out),
        Screen::Refused {
            service: ServiceId::PlanChange,
            notice: Notice::FrozenPeriod,
            offer: None,
        }
    );
    let out = f.handle(Input::Ui(Ui::Confirm), 0);
    assert!(ends(&out));
}

#[test]
fn the_operators_refusal_closes_the_transaction_and_says_why() {
    for (code, notice, offer) in [
        ("frozen_period", Notice::FrozenPeriod, None),
        (
            "arrears",
            Notice::Arrears { fen: 0 },
            Some(ServiceId::TopUp),
        ),
        ("plan_not_eligible", Notice::PlanNotEligible, None),
    ] {
        let (mut f, _) = at_plans(10);
        let (req, _) = confirmed(&mut f);
        let out = f.handle(answer(req, Err(OpError::refused(code, "no"))), 0);
        let ops = journal(&out);
        assert!(
            matches!(&ops[0], JournalOp::OperatorAnswered { outcome: LegOutcome::Failed { code: c }, .. } if c == code),
            "{ops:?}"
        );
        assert!(matches!(&ops[1], JournalOp::Cancel { .. }), "{ops:?}");
        assert_eq!(
            last_screen(&out),
            Screen::Refused {
                service: ServiceId::PlanChange,
                notice,
                offer
            },
            "{code}"
        );
        assert!(!out.iter().any(|e| matches!(e, Effect::Print { .. })));
    }
}

#[test]
fn a_lost_answer_is_settled_by_the_status_query() {
    let (mut f, _) = at_plans(10);
    let (req, _) = confirmed(&mut f);
    let out = f.handle(
        answer(
            req,
            Err(OpError::Unknown {
                cause: "timeout".into(),
            }),
        ),
        0,
    );
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::OperatorAnswered {
            outcome: LegOutcome::Unknown { .. },
            ..
        }]
    ));
    let (q, r) = request(&out, "txn_status");
    let Request::TxnStatus(s) = r else {
        unreachable!()
    };
    assert_eq!(s.txn_id.as_str(), "T1");
    let Ok(Response::PlanChange(ok)) = changed_ok() else {
        unreachable!()
    };
    let out = f.handle(
        answer(
            q,
            Ok(Response::TxnStatus(TxnStatus {
                txn_id: TxnId::new("T1"),
                state: TxnState::Committed,
                txn_op: Some("plan_change".into()),
                amount_fen: None,
                outcome: Some(Box::new(Reply::Ok(Response::PlanChange(ok)))),
                reversed_by: None,
            })),
        ),
        0,
    );
    assert!(
        journal(&out).iter().any(
            |op| matches!(op, JournalOp::Complete { operator_ref } if operator_ref == "BG0001")
        )
    );
    assert!(out.iter().any(|e| matches!(e, Effect::Print { .. })));
}

#[test]
fn a_change_the_operator_never_saw_is_sent_again_once_with_the_same_id() {
    let (mut f, _) = at_plans(10);
    let (req, _) = confirmed(&mut f);
    let out = f.handle(
        answer(
            req,
            Err(OpError::Unknown {
                cause: "connection lost".into(),
            }),
        ),
        0,
    );
    let (q, _) = request(&out, "txn_status");
    let never_saw = || {
        Ok(Response::TxnStatus(TxnStatus {
            txn_id: TxnId::new("T1"),
            state: TxnState::Unknown,
            txn_op: None,
            amount_fen: None,
            outcome: None,
            reversed_by: None,
        }))
    };
    let out = f.handle(answer(q, never_saw()), 0);
    let (again, r) = request(&out, "plan_change");
    let Request::PlanChange(pc) = r else {
        unreachable!()
    };
    assert_eq!(pc.txn_id.as_str(), "T1");
    assert!(journal(&out).is_empty(), "the leg is already journaled");
    // Lost again, and the operator still says it never saw it: not sent a third time —
    // the customer gets an "awaiting confirmation" receipt and the transaction waits.
    let out = f.handle(
        answer(
            again,
            Err(OpError::Unknown {
                cause: "timeout".into(),
            }),
        ),
        0,
    );
    let (q, _) = request(&out, "txn_status");
    let out = f.handle(answer(q, never_saw()), 0);
    assert!(requests(&out).is_empty(), "{out:?}");
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::MarkPending { .. }))
    );
    let paper = out.iter().find_map(|e| match e {
        Effect::Print {
            paper: Paper::PlanChange(r),
            ..
        } => Some(r.outcome.clone()),
        _ => None,
    });
    assert_eq!(paper, Some(PlanOutcome::Unconfirmed));
}

#[test]
fn a_link_lost_mid_request_leaves_the_change_pending_not_dropped() {
    let (mut f, _) = at_plans(10);
    let (req, _) = confirmed(&mut f);
    let out = f.handle(
        answer(
            req,
            Err(OpError::Unknown {
                cause: "link lost".into(),
            }),
        ),
        0,
    );
    let (q, _) = request(&out, "txn_status");
    let out = f.handle(
        answer(
            q,
            Err(OpError::NotSent {
                cause: "link down".into(),
            }),
        ),
        0,
    );
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::MarkPending { .. }))
    );
    let preq = out
        .iter()
        .find_map(|e| match e {
            Effect::Print { req, .. } => Some(*req),
            _ => None,
        })
        .expect("a receipt saying it awaits confirmation");
    let out = f.handle(
        Input::Printed {
            req: preq,
            result: PrintResult::Printed,
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::PlanDone {
            outcome: PlanOutcome::Unconfirmed,
            ..
        }
    ));
}

#[test]
fn nothing_to_move_to_is_said_plainly() {
    let (mut f, _) = PlanChangeFlow::start(cfg(10), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    f.handle(answer(req, lookup(0)), 0);
    f.handle(select("password"), 0);
    let out = f.handle(secret("246810"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let (cur, _) = request(&out, "current_plan");
    let (elig, _) = request(&out, "eligible_plans");
    f.handle(answer(cur, Ok(Response::CurrentPlan(current()))), 0);
    let out = f.handle(
        answer(
            elig,
            Ok(Response::EligiblePlans(boss_protocol::EligiblePlans {
                msisdn: Msisdn::new(N),
                plans: vec![],
            })),
        ),
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::PlanNotEligible,
            ..
        }
    ));
}

#[test]
fn a_locked_password_ends_in_a_refusal_with_the_way_forward() {
    let (mut f, _) = PlanChangeFlow::start(cfg(10), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    f.handle(answer(req, lookup(0)), 0);
    f.handle(select("password"), 0);
    let out = f.handle(secret("000000"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Err(refused("auth_locked", Some(0), Some(1_900_000_000_000))),
        ),
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::AuthLocked { until_ms: Some(_) },
            offer: None,
            ..
        }
    ));
    assert!(journal(&out).is_empty());
}

#[test]
fn a_customer_who_walks_away_is_timed_out_and_nothing_is_journaled() {
    let (mut f, _) = at_plans(10);
    let out = f.handle(Input::Tick, 46_000);
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::IdleWarning { money_fen: 0, .. }))
    );
    let out = f.handle(Input::Tick, 61_000);
    assert!(ends(&out));
    assert!(journal(&out).is_empty());
    assert!(f.is_ended());
}

#[test]
fn a_second_tap_on_confirm_does_not_open_a_second_transaction() {
    let (mut f, _) = at_plans(10);
    f.handle(select("P58"), 0);
    let first = f.handle(Input::Ui(Ui::Confirm), 0);
    let second = f.handle(Input::Ui(Ui::Confirm), 0);
    assert_eq!(journal(&first).len(), 1);
    assert!(journal(&second).is_empty(), "{second:?}");
}
