//! Plan change (套餐变更) and bills (账单/详单) through the kiosk runtime, in process: the
//! same runtime `telekiosk run` starts, on the device simulators (bill acceptor, printer, ID
//! card reader) over pseudo-terminals, linked over mutual TLS to the self-service system
//! server, which forwards to the operator simulator. The customer acts through the screen
//! contract (`UiEvent` in, `ScreenUpdate` out, no Slint); each outcome is checked at the
//! operator (plan booked, ledger, SMS, balance) and in the kiosk's journal.
//!
//! The business date is pinned to the 20th of a month for the operator and the kiosk's
//! calendar, so plan changes are open (not the 出账期) whatever day the tests run.

use std::path::Path;
use std::time::Duration;

use bill_acceptor::Protocol;
use bill_acceptor::sim::Action;
use boss_protocol::Secret;
use receipt_printer::Paper as PaperLevel;
use receipt_printer::sim::SimControl;
use telekiosk::demo::{Day, DemoKiosk, KIOSK_ID, World, WorldOptions, day_text};
use telekiosk::flow::bills::last_six_months;
use telekiosk::flow::recovery::Resolution;
use telekiosk::flow::screen::{Notice, PlanOutcome, ReceiptState};
use telekiosk::flow::topup::Outcome;
use telekiosk::flow::{PrintResult, Screen, ServiceId, Ui};
use telekiosk::journal::{Journal, NewTxn, TxnState};
use telekiosk::runtime::kiosk::{Note, Options};
use telekiosk::runtime::screen::{Availability, KioskStatus, ScreenUpdate, UiEvent};

const PATIENCE: Duration = Duration::from_secs(40);
/// The business date of every test: plan changes open, bills for 2026-05 … 2026-10.
const TODAY: Day = (2026, 11, 20);
/// 王小明: prepaid, plan P58, password 123456.
const OWNER: &str = "13800000000";
/// 张伟: suspended for arrears, owes ¥23.50.
const IN_ARREARS: &str = "13800000002";

async fn world(dir: &Path) -> World {
    World::start_with(
        dir,
        Protocol::Ssp,
        true,
        WorldOptions { today: Some(TODAY) },
    )
    .await
    .expect("the world starts")
}

fn kiosk(dir: &Path, w: &World, options: Options) -> DemoKiosk {
    DemoKiosk::start(&w.config(dir, Default::default()), options).expect("the kiosk starts")
}

/// A customer at the screen, and what the screen has been told.
struct Customer {
    k: DemoKiosk,
    status: Option<KioskStatus>,
    tiles: Vec<telekiosk::runtime::screen::ServiceState>,
    last: Vec<ScreenUpdate>,
}

impl Customer {
    fn new(k: DemoKiosk) -> Self {
        Self {
            k,
            status: None,
            tiles: Vec::new(),
            last: Vec::new(),
        }
    }

    fn see(&mut self, u: &ScreenUpdate) {
        match u {
            ScreenUpdate::Status(s) => self.status = Some(s.clone()),
            ScreenUpdate::Services(t) => self.tiles = t.clone(),
            _ => {}
        }
        self.last.push(u.clone());
    }

    fn offers(&self, service: ServiceId) -> bool {
        self.status == Some(KioskStatus::InService)
            && self
                .tiles
                .iter()
                .any(|t| t.service == service && t.availability == Availability::Available)
    }

    /// Reads the screen until `pick` takes an update.
    async fn until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ScreenUpdate) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.k.screen.recv()).await {
                Ok(Some(u)) => {
                    self.see(&u);
                    if let Some(t) = pick(&u) {
                        return t;
                    }
                }
                Ok(None) => panic!("the kiosk stopped while waiting for {what}"),
                Err(_) => panic!(
                    "{what} never came; last: {:?}",
                    self.last.iter().rev().take(6).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Reads the screen until a session screen `pick` takes.
    async fn screen<T>(&mut self, what: &str, mut pick: impl FnMut(&Screen) -> Option<T>) -> T {
        self.until(what, |u| match u {
            ScreenUpdate::Show(s) => pick(s),
            ScreenUpdate::End => panic!("the session ended while waiting for {what}"),
            _ => None,
        })
        .await
    }

    async fn tap(&self, ui: Ui) {
        self.k.ui.send(UiEvent::Customer(ui)).await.unwrap();
    }

    /// Waits until the kiosk is in service and offers `service`.
    async fn offered(&mut self, service: ServiceId) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.offers(service) {
            match tokio::time::timeout_at(deadline, self.k.screen.recv()).await {
                Ok(Some(u)) => self.see(&u),
                _ => panic!("{} never offered: {:?}", service.id(), self.tiles),
            }
        }
    }

    /// Touches a tile once it is offered and waits for the keypad.
    async fn start(&mut self, service: ServiceId) {
        self.offered(service).await;
        while self.k.notes.try_recv().is_ok() {}
        self.k.ui.send(UiEvent::Start(service)).await.unwrap();
        self.screen("the keypad", |s| {
            matches!(s, Screen::EnterNumber { .. }).then_some(())
        })
        .await;
    }

    /// Waits for the session to end; returns its transaction.
    async fn ends(&mut self) -> Option<String> {
        self.until("the end of the session", |u| {
            (*u == ScreenUpdate::End).then_some(())
        })
        .await;
        self.k
            .wait_note(PATIENCE, |n| match n {
                Note::SessionEnded { txn, .. } => Some(txn.clone()),
                _ => None,
            })
            .await
            .unwrap()
    }

    /// Number and service password, up to the plans; returns the plan ids offered.
    async fn open_plans(&mut self, number: &str) -> Vec<String> {
        self.start(ServiceId::PlanChange).await;
        self.tap(Ui::Number(number.into())).await;
        self.password().await;
        self.screen("the plans", |s| match s {
            Screen::Plans { options, .. } => {
                Some(options.iter().map(|o| o.plan.id.clone()).collect())
            }
            Screen::Refused { notice, .. } => panic!("refused: {notice:?}"),
            _ => None,
        })
        .await
    }

    async fn password(&mut self) {
        self.screen("the choice of proof", |s| {
            matches!(s, Screen::AuthChoose { .. }).then_some(())
        })
        .await;
        self.tap(Ui::Select("password".into())).await;
        self.screen("the password keypad", |s| {
            matches!(s, Screen::Password { notice: None, .. }).then_some(())
        })
        .await;
        self.tap(Ui::Secret(Secret::new("123456"))).await;
    }

    /// Picks `plan`, confirms; returns the result screen's outcome once the receipt is done.
    async fn change_to(&mut self, plan: &str) -> (PlanOutcome, ReceiptState) {
        self.tap(Ui::Select(plan.into())).await;
        self.screen("the confirmation", |s| {
            matches!(s, Screen::PlanConfirm { .. }).then_some(())
        })
        .await;
        self.tap(Ui::Confirm).await;
        self.screen("the result", |s| match s {
            Screen::PlanDone {
                outcome, receipt, ..
            } if *receipt != ReceiptState::Printing => Some((outcome.clone(), receipt.clone())),
            Screen::Refused { notice, .. } | Screen::Sorry { notice, .. } => {
                panic!("no plan change: {notice:?}")
            }
            _ => None,
        })
        .await
    }

    async fn stop(self) -> telekiosk::runtime::journal::JournalHandle {
        let _ = self.k.stop.send(true);
        tokio::time::timeout(PATIENCE, self.k.task)
            .await
            .expect("the kiosk stops")
            .unwrap()
            .unwrap();
        self.k.journal
    }
}

/// The plan change SMS the operator sent to `number`.
fn plan_sms(w: &World, number: &str) -> Vec<String> {
    w.operator()
        .sms_for(number)
        .unwrap()
        .into_iter()
        .filter(|m| m.body.contains("套餐变更"))
        .map(|m| m.body)
        .collect()
}

/// The operator's ledger rows of the business day for the kiosk: (txn, op, state).
fn ledger(w: &World) -> Vec<(String, String, String)> {
    w.operator()
        .ledger(&day_text(TODAY), Some(KIOSK_ID))
        .unwrap()
        .into_iter()
        .map(|r| (r.txn_id, r.op, r.state))
        .collect()
}

/// The operator's reference stored with a transaction's outcome.
fn operator_ref(w: &World, txn: &str) -> String {
    let row = w
        .operator()
        .txn(KIOSK_ID, txn)
        .unwrap()
        .expect("at the operator");
    let reply: serde_json::Value = serde_json::from_str(&row.response).unwrap();
    fn find(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(m) => m
                .get("operator_ref")
                .and_then(|r| r.as_str().map(str::to_owned))
                .or_else(|| m.values().find_map(find)),
            _ => None,
        }
    }
    find(&reply).unwrap_or_else(|| panic!("no operator_ref in {}", row.response))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_change_is_booked_at_the_operator_for_next_month_and_settled_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path()).await;
    let mut c = Customer::new(kiosk(dir.path(), &w, w.options()));
    let plans = c.open_plans(OWNER).await;
    assert!(plans.contains(&"P88".to_owned()) && !plans.contains(&"P58".to_owned()));
    let (outcome, receipt) = c.change_to("P88").await;
    let PlanOutcome::Changed {
        operator_ref: reference,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(receipt, ReceiptState::Printed);
    c.tap(Ui::Confirm).await;
    let txn = c.ends().await.expect("a transaction");

    // The operator: booked for 2026-12, on its ledger once, the SMS sent.
    let s = w.subscriber(OWNER).unwrap();
    assert_eq!(
        (s.plan_code.as_str(), s.next_plan_code.as_deref()),
        ("P58", Some("P88"))
    );
    assert_eq!(
        ledger(&w),
        vec![(txn.clone(), "plan_change".into(), "done".into())]
    );
    assert_eq!(operator_ref(&w, &txn), reference);
    let sms = plan_sms(&w, OWNER);
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(
        sms[0].contains("全球通88元套餐") && sms[0].contains("2026年12月1日"),
        "{sms:?}"
    );

    // The kiosk: settled with the operator's reference, the receipt printed, the number gone.
    let id = txn.clone();
    let rec = c.k.journal.run(move |j| j.get(&id)).await.unwrap().unwrap();
    assert_eq!(rec.kind, "plan_change");
    assert_eq!(rec.state, TxnState::Settled);
    assert_eq!(rec.boss_ref.as_deref(), Some(reference.as_str()));
    assert_eq!(rec.receipt.as_deref(), Some("printed"));
    assert!(
        rec.msisdn.is_none(),
        "the full number stays only while open"
    );
    let id = txn.clone();
    let papers =
        c.k.journal
            .run(move |j| j.papers(&id))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(papers.len(), 1);
    assert_eq!(papers[0].kind, "plan_change_receipt");
    // The server received it.
    let id = txn.clone();
    let seq =
        c.k.journal
            .run(|j| j.uploads_after(0, 1000))
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .find(|u| u.txn_id == id)
            .expect("in the upload outbox")
            .seq;
    c.k.wait_note(PATIENCE, |n| match n {
        Note::Uploaded { acked_seq } if *acked_seq >= seq => Some(()),
        _ => None,
    })
    .await
    .unwrap();
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrears_refuse_a_plan_change_before_any_password_and_hand_the_number_to_a_top_up() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path()).await;
    let mut c = Customer::new(kiosk(dir.path(), &w, w.options()));
    let before = w.subscriber(IN_ARREARS).unwrap();
    assert_eq!(before.balance_fen, -2350);
    c.start(ServiceId::PlanChange).await;
    c.tap(Ui::Number(IN_ARREARS.into())).await;
    let offer = c
        .screen("the refusal", |s| match s {
            Screen::Refused {
                notice: Notice::Arrears { fen: 2350 },
                offer,
                ..
            } => Some(*offer),
            Screen::AuthChoose { .. } | Screen::Password { .. } => {
                panic!("asked for a password before telling of the arrears")
            }
            _ => None,
        })
        .await;
    assert_eq!(offer, Some(ServiceId::TopUp));
    c.tap(Ui::Select("topup".into())).await;
    assert_eq!(c.ends().await, None, "the refusal opens no transaction");

    // The top-up starts at once, for the same number: straight to "is this your number?".
    let masked = c
        .screen("the top-up's confirmation", |s| match s {
            Screen::Confirm { number_masked, .. } => Some(number_masked.clone()),
            Screen::EnterNumber { .. } => panic!("the number was asked again"),
            _ => None,
        })
        .await;
    assert_eq!(masked, "138****0002");
    c.tap(Ui::Confirm).await;
    c.screen("the note screen", |s| {
        matches!(s, Screen::Insert(v) if v.total_fen == 0 && !v.busy).then_some(())
    })
    .await;
    for (fen, total) in [(2000, 2000), (1000, 3000)] {
        w.bill.send(Action::Insert { fen }).await.unwrap();
        c.screen("the note credited", |s| {
            matches!(s, Screen::Insert(v) if v.total_fen == total && !v.busy).then_some(())
        })
        .await;
    }
    c.tap(Ui::Finish).await;
    c.screen("credited", |s| match s {
        Screen::Result {
            outcome: Outcome::Credited { .. },
            receipt,
            ..
        } if *receipt != ReceiptState::Printing => Some(()),
        Screen::Result { outcome, .. } if !matches!(outcome, Outcome::Credited { .. }) => {
            panic!("{outcome:?}")
        }
        _ => None,
    })
    .await;
    c.tap(Ui::Confirm).await;
    let txn = c.ends().await.expect("the top-up's transaction");
    let id = txn.clone();
    let rec = c.k.journal.run(move |j| j.get(&id)).await.unwrap().unwrap();
    assert_eq!((rec.kind.as_str(), rec.state), ("topup", TxnState::Settled));
    assert_eq!(rec.credited_fen, 3000);
    // The arrears are cleared at the operator, the service is back.
    let after = w.subscriber(IN_ARREARS).unwrap();
    assert_eq!(after.balance_fen, 650);
    assert_eq!(after.status, boss_sim::store::SubscriberStatus::Active);
    assert!(
        w.operator()
            .sms_for(IN_ARREARS)
            .unwrap()
            .last()
            .unwrap()
            .body
            .contains("恢复"),
        "the SMS tells the service is back"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_change_whose_answer_is_lost_is_settled_by_status_query_and_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path()).await;
    let mut c = Customer::new(kiosk(dir.path(), &w, w.options()));
    c.open_plans(OWNER).await;
    // The operator commits the change; its answer never reaches the kiosk.
    w.lose_next_credit_answer(true);
    let (outcome, _) = c.change_to("P128").await;
    c.tap(Ui::Confirm).await;
    let txn = c.ends().await.expect("a transaction");
    // Learned at once by the status query (PlanDone says changed), or left pending and
    // learned by the retry between customers: either way settled, once.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let rec = loop {
        let id = txn.clone();
        let rec = c.k.journal.run(move |j| j.get(&id)).await.unwrap().unwrap();
        if rec.state == TxnState::Settled {
            break rec;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {} after {PATIENCE:?} ({outcome:?})",
            rec.state
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let id = txn.clone();
    let steps =
        c.k.journal
            .run(move |j| j.steps(&id))
            .await
            .unwrap()
            .unwrap();
    assert!(
        steps.iter().any(|s| s.kind == "plan_change"
            && s.detail["state"]
                .as_str()
                .is_some_and(|st| st != "committed")),
        "the answer was not lost: {steps:?}"
    );
    assert_eq!(rec.boss_ref, Some(operator_ref(&w, &txn)));
    assert_eq!(
        ledger(&w),
        vec![(txn.clone(), "plan_change".into(), "done".into())]
    );
    assert_eq!(plan_sms(&w, OWNER).len(), 1, "applied once, one SMS");
    assert_eq!(
        w.subscriber(OWNER).unwrap().next_plan_code.as_deref(),
        Some("P128")
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_stopped_by_paper_out_after_the_first_paper_resume_from_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = world(dir.path()).await;
    let month = last_six_months(TODAY)[0].clone();
    assert_eq!(w.busy_month(OWNER, &month, 95).unwrap(), 95);
    let mut c = Customer::new(kiosk(dir.path(), &w, w.options()));
    c.start(ServiceId::BillPrint).await;
    c.tap(Ui::Number(OWNER.into())).await;
    c.password().await;
    c.screen("the SMS code", |s| {
        matches!(s, Screen::SmsCode { notice: None, .. }).then_some(())
    })
    .await;
    let code = w
        .sms_code(OWNER)
        .unwrap()
        .expect("an SMS code in the outbox");
    c.tap(Ui::Secret(Secret::new(code))).await;
    let m = c
        .screen("the menu", |s| match s {
            Screen::BillMenu { month, .. } => Some(month.clone()),
            Screen::SmsCode {
                notice: Some(n), ..
            } => panic!("{n:?}"),
            _ => None,
        })
        .await;
    assert_eq!(m, month);
    c.tap(Ui::Select("records:call".into())).await;
    let (pages, total) = c
        .screen("the records", |s| match s {
            Screen::Records {
                page: 1,
                pages,
                total,
                rows,
                ..
            } => {
                assert_eq!(rows.len(), 10);
                Some((*pages, *total))
            }
            _ => None,
        })
        .await;
    assert!(
        total >= 95 && pages == total.div_ceil(10),
        "{total} on {pages}"
    );
    c.tap(Ui::Select("next".into())).await;
    c.screen("page 2", |s| {
        matches!(s, Screen::Records { page: 2, .. }).then_some(())
    })
    .await;
    c.tap(Ui::Select("print".into())).await;
    let papers = c
        .screen("the preview", |s| match s {
            Screen::PrintPreview {
                pages,
                can_print: true,
                ..
            } => Some(*pages),
            Screen::PrintPreview { notice, .. } => panic!("cannot print: {notice:?}"),
            _ => None,
        })
        .await;
    assert_eq!(papers, total.div_ceil(40));
    c.tap(Ui::Confirm).await;
    // The roll ends a few lines into the second paper, once the first is out.
    let mut ended = false;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (printed, txn) = loop {
        tokio::select! {
            n = c.k.notes.recv() => {
                if matches!(n, Some(Note::Printed { result: PrintResult::Printed, .. })) && !ended {
                    ended = true;
                    w.printer.send(SimControl::PaperOutAfter(12)).await.unwrap();
                }
            }
            u = c.k.screen.recv() => {
                let u = u.expect("the kiosk runs");
                c.see(&u);
                if let ScreenUpdate::Show(Screen::PrintDone { printed, pages, reference, .. }) = u {
                    assert_eq!(pages, papers);
                    break (printed, reference);
                }
            }
            () = tokio::time::sleep_until(deadline) => panic!("the print never stopped"),
        }
    };
    assert_eq!(printed, 1, "the second paper ran out");
    let id = txn.clone();
    let journal =
        c.k.journal
            .run(move |j| j.papers(&id))
            .await
            .unwrap()
            .unwrap();
    let states: Vec<_> = journal.iter().map(|p| p.state.as_str()).collect();
    assert_eq!(
        states,
        ["printed", "not_printed"],
        "the journal records the stop"
    );
    assert!(
        journal[1]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("paper"))
    );
    // A technician loads paper; the customer carries on from the paper that did not come out.
    w.printer
        .send(SimControl::Paper(PaperLevel::Ok))
        .await
        .unwrap();
    c.offered(ServiceId::TopUp).await;
    c.tap(Ui::Select("resume".into())).await;
    let (printed, pages) = c
        .screen("the rest printed", |s| match s {
            Screen::PrintDone { printed, pages, .. } if *printed != 1 => Some((*printed, *pages)),
            _ => None,
        })
        .await;
    assert_eq!((printed, pages), (papers, papers));
    c.tap(Ui::Confirm).await;
    assert_eq!(c.ends().await.as_deref(), Some(txn.as_str()));
    let id = txn.clone();
    let rec = c.k.journal.run(move |j| j.get(&id)).await.unwrap().unwrap();
    assert_eq!(
        (rec.kind.as_str(), rec.state),
        ("bill_print", TxnState::Settled)
    );
    let id = txn.clone();
    let journal =
        c.k.journal
            .run(move |j| j.papers(&id))
            .await
            .unwrap()
            .unwrap();
    let pages_of = |p: &telekiosk::journal::PaperRecord| p.state.clone();
    let states: Vec<_> = journal.iter().map(pages_of).collect();
    let mut expected = vec!["printed", "not_printed"];
    expected.extend(std::iter::repeat_n(
        "printed",
        usize::try_from(papers).unwrap() - 1,
    ));
    assert_eq!(states, expected);
    // On paper: the first, the second cut short, then the second again and the rest.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut out = Vec::new();
    while let Ok((_, text)) = w.printed.try_recv() {
        out.push(text);
    }
    assert_eq!(out.len(), usize::try_from(papers).unwrap() + 1, "{out:#?}");
    assert!(
        out[1].contains("第2页") && out[1].contains("paper out"),
        "{}",
        out[1]
    );
    assert!(
        out[2].contains("第2页") && !out[2].contains("paper out"),
        "{}",
        out[2]
    );
    assert!(
        out.iter().all(|p| !p.contains(OWNER)),
        "numbers are masked on paper"
    );
    c.stop().await;
}

/// A plan change the operator committed while its answer and then the operator were lost
/// stays pending; the kiosk restarts; start-up recovery asks `txn_status` and closes it with
/// the operator's reference — nothing is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_change_pending_across_a_restart_is_resolved_at_start_up_by_status_query() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path()).await;
    // No retry between customers in this run: only the restart resolves it.
    let quiet = Options {
        retry_every: Duration::from_secs(3600),
        ..w.options()
    };
    let mut c = Customer::new(kiosk(dir.path(), &w, quiet));
    c.open_plans(OWNER).await;
    w.lose_next_answer_and_operator();
    let (outcome, receipt) = c.change_to("P38").await;
    assert_eq!(
        outcome,
        PlanOutcome::Unconfirmed,
        "the operator could not be asked"
    );
    assert_eq!(
        receipt,
        ReceiptState::Printed,
        "the customer has a paper saying so"
    );
    c.tap(Ui::Confirm).await;
    let txn = c.ends().await.expect("a transaction");
    let journal = c.stop().await;
    let id = txn.clone();
    let rec = journal.run(move |j| j.get(&id)).await.unwrap().unwrap();
    assert_eq!(rec.state, TxnState::Pending);
    assert!(
        rec.msisdn.is_none(),
        "a plan change never keeps the full number"
    );
    drop(journal);
    // The operator did apply it.
    assert_eq!(
        w.subscriber(OWNER).unwrap().next_plan_code.as_deref(),
        Some("P38")
    );

    w.set_operator_reachable(true);
    let mut k = kiosk(dir.path(), &w, w.options());
    let report = k
        .wait_note(Duration::from_secs(60), |n| match n {
            Note::Recovered(r) => Some(r.clone()),
            _ => None,
        })
        .await
        .unwrap();
    let reference = operator_ref(&w, &txn);
    assert_eq!(
        report.resolved,
        vec![(
            txn.clone(),
            Resolution::Complete {
                operator_ref: reference.clone()
            }
        )],
        "resolved at start-up"
    );
    let id = txn.clone();
    let rec = k.journal.run(move |j| j.get(&id)).await.unwrap().unwrap();
    assert_eq!(rec.state, TxnState::Settled);
    assert_eq!(rec.boss_ref, Some(reference));
    assert!(rec.msisdn.is_none());
    assert_eq!(
        ledger(&w),
        vec![(txn.clone(), "plan_change".into(), "done".into())]
    );
    assert_eq!(plan_sms(&w, OWNER).len(), 1, "not applied twice");
    Customer::new(k).stop().await;
}

/// A plan change the kiosk had sent when it stopped, which the operator never received, is
/// not sent again without the customer: start-up recovery asks `txn_status`, learns it is
/// unknown, and cancels it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_change_the_operator_never_saw_is_cancelled_at_start_up_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path()).await;
    let cfg = w.config(dir.path(), Default::default());
    // What a kiosk that stopped right after sending leaves in its journal.
    std::fs::create_dir_all(cfg.machine.journal.path.parent().unwrap()).unwrap();
    let txn = {
        let mut j = Journal::open(&cfg.machine.journal.path, KIOSK_ID).unwrap();
        let now = 1_790_000_000_000;
        let txn = j
            .begin(
                &NewTxn {
                    kind: "plan_change",
                    msisdn: None,
                    msisdn_masked: "138****0000",
                },
                now,
            )
            .unwrap();
        j.operator_sent(&txn, &txn, "plan_change", 0, now).unwrap();
        txn
    };
    let mut k = DemoKiosk::start(&cfg, w.options()).unwrap();
    let report = k
        .wait_note(Duration::from_secs(60), |n| match n {
            Note::Recovered(r) => Some(r.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(report.resolved, vec![(txn.clone(), Resolution::Cancel)]);
    let id = txn.clone();
    let rec = k.journal.run(move |j| j.get(&id)).await.unwrap().unwrap();
    assert_eq!(rec.state, TxnState::Cancelled);
    assert!(ledger(&w).is_empty(), "nothing sent to the operator");
    assert_eq!(w.subscriber(OWNER).unwrap().next_plan_code, None);
    assert!(plan_sms(&w, OWNER).is_empty());
    Customer::new(k).stop().await;
}
