//! The customers of plan change (套餐变更) and bills, itemised records and invoices (账单 /
//! 详单 / 发票): each touches the kiosk's screen as a person would — the number, the service
//! password on the shuffled keypad, the SMS code read from the phone (the operator's SMS
//! outbox), or the owner's ID card placed on the simulated reader — and the scenario then
//! checks what became of it on both sides: the kiosk's journal (and what it uploaded to the
//! server) and the operator's business system (plan booked, SMS sent, arrears cleared).
//!
//! The shop's calendar matters: on days 1–5 of a month (出账期) the plan change tile is
//! greyed, so the plan change customers then expect the greyed tile instead.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bill_acceptor::sim::Action;
use boss_protocol::Secret;
use receipt_printer::Paper as PaperLevel;
use receipt_printer::sim::SimControl;

use super::customer::{Customer, Event, Observed, PATIENCE};
use super::world::{Day, day_text};
use super::{DemoKiosk, KIOSK_ID, ScreenRecorder, World, indent};
use crate::flow::bills::last_six_months;
use crate::flow::screen::{Notice, PlanOutcome, ReceiptState};
use crate::flow::topup::Outcome;
use crate::flow::{PrintResult, Screen, ServiceId, Ui, mask_phone, yuan};
use crate::journal::TxnState;
use crate::runtime::kiosk::Note;
use crate::runtime::screen::ScreenUpdate;

/// 王小明: prepaid, plan P58, service password 123456; the ID card `resident` is his.
const OWNER: &str = "13800000000";
/// The simulated reader's fixture of the owner's card.
const OWNER_CARD: &str = "resident";
/// 张伟: suspended for arrears, owes ¥23.50.
const IN_ARREARS: &str = "13800000002";
/// 李娜: the customer who forgets her password (not the owner's number, so the others still
/// work after her lock-out).
const FORGETFUL: &str = "13900000001";
/// Every demo subscriber's service password.
const PASSWORD: &str = "123456";
/// Call records of the busy month the `records` customer prints (three papers).
const BUSY_MONTH_CALLS: u32 = 95;

/// Which customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    PlanChange,
    PlanChangeIdCard,
    PlanArrears,
    PlanFrozen,
    WrongPassword,
    Bill,
    Records,
    BillIdCard,
    Technician,
}

/// A scripted customer of plan change or bills.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scenario {
    pub(super) name: &'static str,
    pub(super) what: &'static str,
    pub(super) kind: Kind,
}

pub(super) fn scenarios() -> Vec<Scenario> {
    let s = |name, what, kind| Scenario { name, what, kind };
    vec![
        s(
            "plan-change",
            "138****0000 changes plan by service password: P58 → P88 from next month, receipt printed (on days 1–5: the tile is greyed)",
            Kind::PlanChange,
        ),
        s(
            "plan-change-id-card",
            "138****0000 changes plan again with the owner's ID card on the reader: → P38 (on days 1–5: the tile is greyed)",
            Kind::PlanChangeIdCard,
        ),
        s(
            "plan-arrears",
            "138****0002 owes ¥23.50: plan change refused before any password, a top-up offered; he takes it, the number already entered, pays 30 yuan, service restored",
            Kind::PlanArrears,
        ),
        s(
            "plan-frozen",
            "days 1–5 of a month (出账期): the plan change tile is greyed with the reason, the other services stay open (run with --today YYYY-MM-03)",
            Kind::PlanFrozen,
        ),
        s(
            "wrong-password",
            "139****0001 types wrong service passwords: the screen counts the tries left, then the operator locks the password until the end of the day",
            Kind::WrongPassword,
        ),
        s(
            "bill",
            "138****0000 prints last month's bill: service password + SMS code read from the phone",
            Kind::Bill,
        ),
        s(
            "records",
            "138****0000 prints the calls of a busy month (详单, three papers): paged on screen, the paper runs out after the first paper, a technician loads a roll, the rest prints from where it stopped",
            Kind::Records,
        ),
        s(
            "bill-id-card",
            "138****0000 prints the invoice data (发票信息) with the owner's ID card",
            Kind::BillIdCard,
        ),
        s(
            "technician",
            "technician T01 on the kiosk's screen: the hidden corner, a wrong PIN, the panel, the printer, note-acceptor and dispenser tests, the cash box emptied and cleared (清机) against the journal, 20 cards restocked (放卡), back into service",
            Kind::Technician,
        ),
    ]
}

/// Whether `day` is in the 出账期 (days 1–5), when no plan may change.
pub(super) fn frozen(day: Day) -> bool {
    day.2 <= 5
}

/// What a scenario works with.
#[derive(Debug)]
pub(super) struct Cx<'a> {
    pub(super) kiosk: &'a mut DemoKiosk,
    pub(super) world: &'a mut World,
    pub(super) recorder: &'a ScreenRecorder,
    pub(super) state: &'a mut Observed,
    /// Run as part of `all` (not chosen on its own).
    pub(super) in_all: bool,
}

/// Runs one customer.
pub(super) async fn run(s: &Scenario, cx: Cx<'_>) -> anyhow::Result<()> {
    let Cx {
        kiosk,
        world,
        recorder,
        state,
        in_all,
    } = cx;
    let day = world.business_day();
    let mut c = Customer::new(kiosk, state, recorder, s.name);
    let plan_scenario = matches!(
        s.kind,
        Kind::PlanChange | Kind::PlanChangeIdCard | Kind::PlanArrears
    );
    if plan_scenario && frozen(day) {
        println!(
            "  [kiosk] {} is in the 出账期 (days 1–5): no plan change today, so this customer finds the tile greyed",
            day_text(day)
        );
        return plan_tile_greyed(&mut c).await;
    }
    let outcome = match s.kind {
        Kind::PlanChange => plan_change(&mut c, world, By::Password, "P88").await,
        Kind::PlanChangeIdCard => plan_change(&mut c, world, By::IdCard, "P38").await,
        Kind::PlanArrears => plan_arrears(&mut c, world).await,
        Kind::PlanFrozen => plan_frozen(&mut c, day, in_all).await,
        Kind::WrongPassword => wrong_password(&mut c).await,
        Kind::Bill => bill(&mut c, world, day).await,
        Kind::Records => records(&mut c, world, day).await,
        Kind::BillIdCard => invoice(&mut c, world).await,
        Kind::Technician => super::technician::visit(&mut c, world).await,
    };
    // The card goes back to its owner, whatever happened.
    super::card_taken_back(&world.id_reader).await;
    papers(world).await;
    outcome
}

/// The papers the printer simulator put out, as printed.
async fn papers(w: &mut World) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok((_, text)) = w.printed.try_recv() {
        println!("  [paper]\n{}", indent(&text));
    }
}

/// How the customer proves the number is theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    /// The service password (and the SMS code, where the service asks for it).
    Password,
    /// The owner's ID card on the reader.
    IdCard,
}

/// From the choice of method to the operator's answer.
pub(super) async fn authenticate(
    c: &mut Customer<'_>,
    w: &World,
    number: &str,
    by: By,
) -> anyhow::Result<()> {
    let (sms, id_card) = c
        .until("the choice of how to prove the number", |s| match s {
            Screen::AuthChoose { sms, id_card, .. } => Ok(Some((*sms, *id_card))),
            Screen::Refused { notice, .. } => bail!("refused before authentication: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    match by {
        By::IdCard => {
            ensure!(
                id_card,
                "authentication by ID card is not offered (reader down?)"
            );
            c.tap("chooses 身份证 (ID card)", Ui::Select("id_card".into()))
                .await?;
            c.until("the request to place the card", |s| {
                Ok(matches!(s, Screen::PlaceIdCard { notice: None }).then_some(()))
            })
            .await?;
            place_card(c, w).await?;
            let read = c
                .until("the card read", |s| match s {
                    Screen::Working { .. } => Ok(Some(true)),
                    Screen::PlaceIdCard {
                        notice: Some(Notice::NoCard),
                    } => Ok(Some(false)),
                    Screen::PlaceIdCard { notice: Some(n) } => {
                        bail!("the card was not read: {n:?}")
                    }
                    _ => Ok(None),
                })
                .await?;
            if !read {
                // The reader took the card for the one it read before (it never saw the
                // field empty in between): lift it, try again, put it down.
                w.id_reader.with(|r| r.remove());
                c.tap(
                    "lifts the card and taps 再试一次 (try again)",
                    Ui::Select("retry".into()),
                )
                .await?;
                c.until("the request to place the card", |s| {
                    Ok(matches!(s, Screen::PlaceIdCard { notice: None }).then_some(()))
                })
                .await?;
                place_card(c, w).await?;
            }
        }
        By::Password => {
            c.tap(
                "chooses 服务密码 (service password)",
                Ui::Select("password".into()),
            )
            .await?;
            c.until("the password keypad", |s| {
                Ok(matches!(s, Screen::Password { notice: None, .. }).then_some(()))
            })
            .await?;
            c.tap(
                "types the 6-digit service password on the shuffled keypad",
                Ui::Secret(Secret::new(PASSWORD)),
            )
            .await?;
            if sms {
                c.until("the SMS code screen", |s| match s {
                    Screen::SmsCode { notice: None, .. } => Ok(Some(())),
                    Screen::Password {
                        notice: Some(n), ..
                    } => bail!("the password was refused: {n:?}"),
                    Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
                    _ => Ok(None),
                })
                .await?;
                let code = w
                    .sms_code(number)?
                    .context("no SMS code in the operator's outbox")?;
                c.tap(
                    "reads the SMS on the phone (【中国移动】您的验证码为……) and types the code",
                    Ui::Secret(Secret::new(code)),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// The customer takes the card out and puts it on the reader: a moment passes first, as
/// with a person (the reader sees the field empty before the card arrives).
async fn place_card(c: &mut Customer<'_>, w: &World) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.says("places the owner's ID card on the reader (fixture `resident`)");
    ensure!(
        w.id_reader.with(|r| r.place(OWNER_CARD)),
        "the reader simulator has no card `{OWNER_CARD}`"
    );
    Ok(())
}

/// The plan change tile is greyed with the 出账期 reason; touching it starts nothing; the
/// other services stay open.
async fn plan_tile_greyed(c: &mut Customer<'_>) -> anyhow::Result<()> {
    c.wait_offered(ServiceId::BillPrint).await?;
    let (zh, _) = c
        .touch_greyed(ServiceId::PlanChange, "套餐变更 (change plan)")
        .await?;
    ensure!(
        zh.contains("出账期"),
        "the greyed tile does not say why: {zh}"
    );
    let open: Vec<&str> = [ServiceId::TopUp, ServiceId::BillPrint]
        .into_iter()
        .filter(|s| c.state.offers(*s))
        .map(ServiceId::id)
        .collect();
    ensure!(
        open.contains(&ServiceId::BillPrint.id()),
        "bills are not offered during the 出账期"
    );
    println!(
        "  [kiosk] no session started; still offered: {}",
        open.join(", ")
    );
    Ok(())
}

async fn plan_frozen(c: &mut Customer<'_>, day: Day, in_all: bool) -> anyhow::Result<()> {
    let date = day_text(day);
    if frozen(day) {
        return plan_tile_greyed(c).await;
    }
    if in_all {
        c.wait_offered(ServiceId::PlanChange).await?;
        println!(
            "  [kiosk] {date} is not in the 出账期 (days 1–5): the plan change tile is offered. \
             `telekiosk demo --headless --today {}-{:02}-03 --scenario plan-frozen` shows it greyed",
            day.0, day.1
        );
        return Ok(());
    }
    bail!(
        "{date} is not in the 出账期 (days 1–5 of a month), so the plan change tile is offered \
         today and there is nothing greyed to show. Pin the business date: \
         `telekiosk demo --headless --today {}-{:02}-03 --scenario plan-frozen`",
        day.0,
        day.1
    )
}

async fn plan_change(c: &mut Customer<'_>, w: &World, by: By, target: &str) -> anyhow::Result<()> {
    c.start(ServiceId::PlanChange, "套餐变更 (change plan)")
        .await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(OWNER)),
        Ui::Number(OWNER.into()),
    )
    .await?;
    authenticate(c, w, OWNER, by).await?;
    let (current, options) = c
        .until("the plans", |s| match s {
            Screen::Plans {
                current, options, ..
            } => Ok(Some((current.clone(), options.clone()))),
            Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
            Screen::Password {
                notice: Some(n), ..
            } => bail!("the password was refused: {n:?}"),
            Screen::PlaceIdCard { notice: Some(n) } => bail!("the card was not read: {n:?}"),
            Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    let chosen = options
        .iter()
        .find(|o| o.plan.id == target)
        .with_context(|| format!("{target} is not among the plans offered"))?
        .clone();
    c.tap(
        &format!(
            "compares with {} and picks {} ({}/月, {} MB data {:+}, {} min {:+})",
            current.name,
            chosen.plan.name,
            yuan(chosen.plan.monthly_fee_fen),
            chosen.plan.data_mb,
            chosen.data_delta_mb,
            chosen.plan.voice_min,
            chosen.voice_delta_min
        ),
        Ui::Select(target.into()),
    )
    .await?;
    c.until("the confirmation", |s| {
        Ok(matches!(s, Screen::PlanConfirm { .. }).then_some(()))
    })
    .await?;
    c.tap("yes, that is it (是)", Ui::Confirm).await?;
    let (outcome, effective, receipt) = c
        .until("the result with its receipt", |s| match s {
            Screen::PlanDone {
                outcome,
                effective_month,
                receipt,
                ..
            } if *receipt != ReceiptState::Printing => Ok(Some((
                outcome.clone(),
                effective_month.clone(),
                receipt.clone(),
            ))),
            Screen::Refused { notice, .. } => bail!("the operator refused: {notice:?}"),
            Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    if by == By::IdCard {
        c.says("takes the ID card back");
        w.id_reader.with(|r| r.remove());
    }
    c.tap("no, nothing else", Ui::Confirm).await?;
    let txn = c
        .session_ends()
        .await?
        .context("no transaction was opened")?;

    let PlanOutcome::Changed { operator_ref } = outcome else {
        bail!("the change was not confirmed: {outcome:?}");
    };
    ensure!(
        receipt == ReceiptState::Printed,
        "the receipt did not come out: {receipt:?}"
    );
    // The kiosk's journal.
    let id = txn.clone();
    let rec = c.kiosk.journal.run(move |j| j.get(&id)).await??;
    ensure!(
        rec.kind == "plan_change"
            && rec.state == TxnState::Settled
            && rec.boss_ref.as_deref() == Some(operator_ref.as_str())
            && rec.receipt.as_deref() == Some("printed"),
        "the journal has {rec:?}"
    );
    println!(
        "  [kiosk] journal: {txn} plan_change settled, operator's reference {operator_ref}, receipt printed"
    );
    // The operator's side.
    operator_booked(w, &txn, &chosen.plan.id, &chosen.plan.name, &effective)?;
    uploaded(c.kiosk, w, &txn).await
}

/// The operator has the change booked for next month, once, and sent the SMS.
fn operator_booked(
    w: &World,
    txn: &str,
    plan: &str,
    plan_name: &str,
    effective: &str,
) -> anyhow::Result<()> {
    let sub = w.subscriber(OWNER)?;
    ensure!(
        sub.next_plan_code.as_deref() == Some(plan),
        "the operator has {:?} booked, not {plan}",
        sub.next_plan_code
    );
    let row = w
        .operator()
        .txn(KIOSK_ID, txn)?
        .with_context(|| format!("the operator's ledger has no {txn}"))?;
    ensure!(
        row.op == "plan_change" && row.state == "done",
        "the operator's ledger has {} {}",
        row.op,
        row.state
    );
    let sms = w.operator().sms_for(OWNER)?;
    let notice = sms
        .iter()
        .rev()
        .find(|m| m.body.contains("套餐变更"))
        .context("no plan change SMS")?;
    ensure!(
        notice.body.contains(plan_name),
        "the last plan change SMS is another: {}",
        notice.body
    );
    println!(
        "  [operator] {}: plan {} now, {plan} booked from {effective}; ledger {txn} {} {}; SMS: {}",
        mask_phone(OWNER),
        sub.plan_code,
        row.op,
        row.state,
        notice.body
    );
    Ok(())
}

/// The settled transaction reached the server (流水上传).
async fn uploaded(kiosk: &mut DemoKiosk, w: &World, txn: &str) -> anyhow::Result<()> {
    let id = txn.to_owned();
    let seq = kiosk
        .journal
        .run(|j| j.uploads_after(0, 100_000))
        .await??
        .iter()
        .filter(|u| u.txn_id == id)
        .map(|u| u.seq)
        .max()
        .with_context(|| format!("{txn} is not in the kiosk's upload outbox"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let held = w
            .head_office()
            .run(|s| s.journal_acked_seq(KIOSK_ID))
            .await?
            .and_then(|h| i64::try_from(h).ok())
            .unwrap_or(0);
        if held >= seq {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the server holds the kiosk's journal up to seq {held}, not {seq}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (op, state) = w
        .head_office()
        .run(move |s| {
            s.db()
                .read(|q| -> Result<_, telekiosk_hq::store::StoreError> {
                    let row = q.one(
                        "SELECT op, state FROM journal WHERE kiosk_id=$1 AND txn_id=$2 \
                         ORDER BY seq DESC LIMIT 1",
                        &[KIOSK_ID.into(), id.into()],
                    )?;
                    Ok(match row {
                        Some(r) => Some((r.str(0)?, r.str(1)?)),
                        None => None,
                    })
                })
        })
        .await?
        .with_context(|| format!("the server has no journal entry of {txn}"))?;
    println!("  [head office] uploaded: {txn} {op} {state} (seq {seq})");
    Ok(())
}

async fn plan_arrears(c: &mut Customer<'_>, w: &mut World) -> anyhow::Result<()> {
    let before = w.subscriber(IN_ARREARS)?;
    let owed = u64::try_from(before.owed_fen()).unwrap_or(0);
    ensure!(
        owed > 0,
        "{} owes nothing now (an earlier run paid it): run the demo with --fresh",
        mask_phone(IN_ARREARS)
    );
    c.start(ServiceId::PlanChange, "套餐变更 (change plan)")
        .await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(IN_ARREARS)),
        Ui::Number(IN_ARREARS.into()),
    )
    .await?;
    let (fen, offer) = c
        .until("the refusal", |s| match s {
            Screen::Refused {
                notice: Notice::Arrears { fen },
                offer,
                ..
            } => Ok(Some((*fen, *offer))),
            Screen::AuthChoose { .. } | Screen::Password { .. } => {
                bail!("asked for a password before telling of the arrears")
            }
            Screen::Refused { notice, .. } => bail!("refused for another reason: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    ensure!(
        fen == owed,
        "the screen says {} owed, the operator {}",
        yuan(fen),
        yuan(owed)
    );
    ensure!(
        offer == Some(ServiceId::TopUp),
        "no top-up offered: {offer:?}"
    );
    c.tap("takes the offer: 充值 (top up)", Ui::Select("topup".into()))
        .await?;
    let refused_txn = c.session_ends().await?;
    ensure!(
        refused_txn.is_none(),
        "the refused plan change opened a transaction"
    );
    // The top-up starts for the same customer, the number already entered.
    let masked = c
        .until("the top-up's confirmation", |s| match s {
            Screen::Confirm { number_masked, .. } => Ok(Some(number_masked.clone())),
            Screen::EnterNumber { .. } => bail!("the top-up asks for the number again"),
            _ => Ok(None),
        })
        .await?;
    ensure!(
        masked == mask_phone(IN_ARREARS),
        "the top-up is for {masked}"
    );
    c.tap("yes, that is my number", Ui::Confirm).await?;
    let paid = pay(c, &w.bill, &[20, 10]).await?;
    c.until("the result with its receipt", |s| match s {
        Screen::Result {
            outcome: Outcome::Credited { .. },
            receipt,
            ..
        } if *receipt != ReceiptState::Printing => Ok(Some(())),
        Screen::Result { outcome, .. } if !matches!(outcome, Outcome::Credited { .. }) => {
            bail!("not credited: {outcome:?}")
        }
        _ => Ok(None),
    })
    .await?;
    c.tap("no, nothing else", Ui::Confirm).await?;
    let txn = c
        .session_ends()
        .await?
        .context("the top-up opened no transaction")?;
    let id = txn.clone();
    let rec = c.kiosk.journal.run(move |j| j.get(&id)).await??;
    ensure!(
        rec.kind == "topup"
            && rec.state == TxnState::Settled
            && u64::try_from(rec.credited_fen).ok() == Some(paid),
        "the journal has {rec:?}"
    );
    println!(
        "  [kiosk] journal: {txn} topup settled, {} credited",
        yuan(paid)
    );
    let after = w.subscriber(IN_ARREARS)?;
    ensure!(
        after.balance_fen == before.balance_fen + i64::try_from(paid).unwrap_or(0)
            && after.owed_fen() == 0
            && after.status == boss_sim::store::SubscriberStatus::Active,
        "the operator has {} {:?} after {} paid",
        after.balance_fen,
        after.status,
        yuan(paid)
    );
    let sms = w.operator().sms_for(IN_ARREARS)?;
    let last = sms.last().context("no SMS")?;
    ensure!(last.body.contains("恢复"), "the SMS says: {}", last.body);
    println!(
        "  [operator] {}: owed {}, paid {}, balance now {}, service {} — SMS: {}",
        mask_phone(IN_ARREARS),
        yuan(owed),
        yuan(paid),
        yuan(u64::try_from(after.balance_fen).unwrap_or(0)),
        after.status.as_str(),
        last.body
    );
    Ok(())
}

/// Inserts the notes (yuan) one after the other, each once the screen shows the last one
/// credited, then presses finish. Returns what went in, fen.
pub(super) async fn pay(
    c: &mut Customer<'_>,
    bill: &tokio::sync::mpsc::Sender<Action>,
    notes: &[u64],
) -> anyhow::Result<u64> {
    c.until("the note screen", |s| {
        Ok(matches!(s, Screen::Insert(v) if !v.busy && v.total_fen == 0).then_some(()))
    })
    .await?;
    let mut total = 0;
    for y in notes {
        c.says(&format!("inserts a {y} yuan note"));
        bill.send(Action::Insert { fen: y * 100 }).await?;
        total += y * 100;
        c.until(&format!("{} credited", yuan(total)), |s| match s {
            Screen::Insert(v) if v.total_fen == total && !v.busy => Ok(Some(())),
            Screen::Insert(v) if v.notice.is_some() && !v.busy => {
                bail!("the note was not taken: {:?}", v.notice)
            }
            _ => Ok(None),
        })
        .await?;
    }
    c.tap("presses 完成 (finish)", Ui::Finish).await?;
    Ok(total)
}

async fn wrong_password(c: &mut Customer<'_>) -> anyhow::Result<()> {
    c.start(ServiceId::BillPrint, "账单打印 (bills)").await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(FORGETFUL)),
        Ui::Number(FORGETFUL.into()),
    )
    .await?;
    c.until("the choice of how to prove the number", |s| {
        Ok(matches!(s, Screen::AuthChoose { .. }).then_some(()))
    })
    .await?;
    c.tap(
        "chooses 服务密码 (service password)",
        Ui::Select("password".into()),
    )
    .await?;
    c.until("the password keypad", |s| {
        Ok(matches!(s, Screen::Password { notice: None, .. }).then_some(()))
    })
    .await?;
    #[derive(Debug)]
    enum Answer {
        Wrong(Option<u32>),
        Locked(Option<i64>),
    }
    let mut tries_left = Vec::new();
    let until = loop {
        ensure!(tries_left.len() < 6, "never locked: {tries_left:?}");
        c.tap(
            "types a password she thinks is hers (wrong)",
            Ui::Secret(Secret::new("000000")),
        )
        .await?;
        match c
            .until("the operator's answer", |s| match s {
                Screen::Password {
                    notice: Some(Notice::WrongPassword { tries_left }),
                    ..
                } => Ok(Some(Answer::Wrong(*tries_left))),
                Screen::Refused {
                    notice: Notice::AuthLocked { until_ms },
                    ..
                } => Ok(Some(Answer::Locked(*until_ms))),
                Screen::SmsCode { .. } => bail!("a wrong password was accepted"),
                Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
                _ => Ok(None),
            })
            .await?
        {
            Answer::Wrong(left) => {
                println!(
                    "  [kiosk] wrong password: {}",
                    match left {
                        None => "tries left not said".to_owned(),
                        Some(1) => "1 try left".to_owned(),
                        Some(n) => format!("{n} tries left"),
                    }
                );
                tries_left.push(left);
            }
            Answer::Locked(until) => break until,
        }
    };
    ensure!(
        tries_left == [Some(4), Some(3), Some(2), Some(1)],
        "tries left shown: {tries_left:?}"
    );
    let until = until.context("the lock does not say until when")?;
    let (zh, en) = crate::ui::notice_words(&Notice::AuthLocked {
        until_ms: Some(until),
    });
    println!(
        "  [kiosk] password locked until {} (Beijing time, the end of the day); the screen says: {zh} / {en}",
        crate::receipts::shop_time(until)
    );
    c.tap("reads it and leaves", Ui::Confirm).await?;
    let txn = c.session_ends().await?;
    ensure!(txn.is_none(), "a failed authentication opened {txn:?}");
    Ok(())
}

/// Number, authentication, and the bill menu; returns the months offered and the one chosen.
async fn to_menu(c: &mut Customer<'_>, w: &World, by: By) -> anyhow::Result<(Vec<String>, String)> {
    c.start(ServiceId::BillPrint, "账单打印 (bills)").await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(OWNER)),
        Ui::Number(OWNER.into()),
    )
    .await?;
    authenticate(c, w, OWNER, by).await?;
    c.until("the bill menu", |s| match s {
        Screen::BillMenu { months, month, .. } => Ok(Some((months.clone(), month.clone()))),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        Screen::SmsCode {
            notice: Some(n), ..
        } => bail!("the SMS code was refused: {n:?}"),
        Screen::PlaceIdCard { notice: Some(n) } => bail!("the card was not read: {n:?}"),
        _ => Ok(None),
    })
    .await
}

/// The session's journal: a bill_print transaction, settled, with these papers.
async fn printed_papers(
    kiosk: &mut DemoKiosk,
    txn: &str,
) -> anyhow::Result<Vec<crate::journal::PaperRecord>> {
    let id = txn.to_owned();
    let rec = kiosk.journal.run(move |j| j.get(&id)).await??;
    ensure!(
        rec.kind == "bill_print" && rec.state == TxnState::Settled,
        "the journal has {rec:?}"
    );
    let id = txn.to_owned();
    Ok(kiosk.journal.run(move |j| j.papers(&id)).await??)
}

async fn bill(c: &mut Customer<'_>, w: &World, day: Day) -> anyhow::Result<()> {
    let (months, month) = to_menu(c, w, By::Password).await?;
    ensure!(
        months == last_six_months(day) && month == months[0],
        "months offered {months:?}, chosen {month}"
    );
    c.tap(
        &format!("picks 账单 (bill) of {month}"),
        Ui::Select("bill".into()),
    )
    .await?;
    let total = c
        .until("the bill", |s| match s {
            Screen::Bill { total_fen, .. } => Ok(Some(*total_fen)),
            Screen::BillMenu {
                notice: Some(n), ..
            } => bail!("no bill: {n:?}"),
            _ => Ok(None),
        })
        .await?;
    let at_operator = w
        .operator()
        .bills(OWNER, 6)?
        .into_iter()
        .find(|b| b.month == month)
        .with_context(|| format!("the operator has no bill for {month}"))?;
    ensure!(
        at_operator.total_fen == total,
        "the screen says {total} fen, the operator's bill {}",
        at_operator.total_fen
    );
    c.tap("taps 打印 (print)", Ui::Select("print".into()))
        .await?;
    let (printed, pages, txn) = print_done(c).await?;
    ensure!(
        (printed, pages) == (1, 1),
        "{printed} of {pages} pages printed"
    );
    c.tap("takes the paper: nothing else", Ui::Confirm).await?;
    c.session_ends().await?;
    let papers = printed_papers(c.kiosk, &txn).await?;
    ensure!(
        papers.len() == 1 && papers[0].kind == "bill" && papers[0].state == "printed",
        "papers: {papers:?}"
    );
    println!(
        "  [kiosk] journal: {txn} bill_print settled, the bill of {month} printed (its content not kept)"
    );
    println!(
        "  [operator] the bill of {month}: {} (plan {}), as on the screen",
        yuan(u64::try_from(at_operator.total_fen).unwrap_or(0)),
        yuan(u64::try_from(at_operator.plan_fee_fen).unwrap_or(0))
    );
    Ok(())
}

/// Waits for the end of a print; returns (printed, pages, the transaction).
async fn print_done(c: &mut Customer<'_>) -> anyhow::Result<(u32, u32, String)> {
    c.until("the print", |s| match s {
        Screen::PrintDone {
            printed,
            pages,
            reference,
            ..
        } => Ok(Some((*printed, *pages, reference.clone()))),
        Screen::PrintPreview {
            can_print: false,
            notice,
            ..
        } => bail!("cannot print: {notice:?}"),
        _ => Ok(None),
    })
    .await
}

async fn records(c: &mut Customer<'_>, w: &World, day: Day) -> anyhow::Result<()> {
    let month = last_six_months(day).get(1).cloned().context("no months")?;
    let calls = w.busy_month(OWNER, &month, BUSY_MONTH_CALLS)?;
    println!(
        "  [operator] {} had a busy {month}: {calls} calls on record (the demo world adds incoming calls to the seeded data; they cost nothing, the bill is unchanged)",
        mask_phone(OWNER)
    );
    let (_, latest) = to_menu(c, w, By::Password).await?;
    ensure!(latest != month, "the menu starts on {latest}");
    c.tap(
        &format!("chooses the month {month}"),
        Ui::Select(format!("month:{month}")),
    )
    .await?;
    c.until("the menu on that month", |s| {
        Ok(matches!(s, Screen::BillMenu { month: m, .. } if *m == month).then_some(()))
    })
    .await?;
    c.tap(
        "picks 详单 (itemised records): calls",
        Ui::Select("records:call".into()),
    )
    .await?;
    let (pages, total) = c
        .until("the first page of records", |s| match s {
            Screen::Records {
                page: 1,
                pages,
                total,
                ..
            } => Ok(Some((*pages, *total))),
            Screen::BillMenu {
                notice: Some(n), ..
            } => bail!("no records: {n:?}"),
            _ => Ok(None),
        })
        .await?;
    ensure!(
        total >= BUSY_MONTH_CALLS && pages >= 2,
        "{total} calls on {pages} screen pages"
    );
    c.tap("pages on: 下一页 (next)", Ui::Select("next".into()))
        .await?;
    c.until("the second page", |s| {
        Ok(matches!(s, Screen::Records { page: 2, .. }).then_some(()))
    })
    .await?;
    c.tap("taps 打印 (print)", Ui::Select("print".into()))
        .await?;
    let papers = c
        .until("the print preview", |s| match s {
            Screen::PrintPreview {
                pages,
                can_print: true,
                ..
            } => Ok(Some(*pages)),
            Screen::PrintPreview { notice, .. } => bail!("cannot print: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    ensure!(papers >= 3, "{total} calls on {papers} papers");
    c.tap(&format!("prints all {papers} papers (是)"), Ui::Confirm)
        .await?;
    // The roll ends once the first paper is out: a few lines into the second.
    let mut roll_ended = false;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (printed, pages, txn) = loop {
        match c.next_event(deadline, "where the print stopped").await? {
            Event::Note(Note::Printed {
                result: PrintResult::Printed,
                ..
            }) if !roll_ended => {
                roll_ended = true;
                println!("  [world] the paper roll ends a few lines into the second paper");
                w.printer.send(SimControl::PaperOutAfter(12)).await?;
            }
            Event::Screen(ScreenUpdate::Show(Screen::PrintDone {
                printed,
                pages,
                reference,
                ..
            })) => break (printed, pages, reference),
            Event::Screen(ScreenUpdate::End) => bail!("the session ended while printing"),
            _ => {}
        }
    };
    ensure!(
        printed == 1 && pages == papers,
        "{printed} of {pages} printed when the paper ran out"
    );
    println!("  [kiosk] the screen says where it stopped: paper 1 of {pages} out, paper 2 not");
    let id = txn.clone();
    let stop = c.kiosk.journal.run(move |j| j.papers(&id)).await??;
    let stopped = stop
        .iter()
        .find(|p| p.state == "not_printed")
        .context("the journal does not record the stop")?;
    println!(
        "  [kiosk] journal: {txn} paper 1 printed, paper 2 not printed ({})",
        stopped.reason.as_deref().unwrap_or("no reason")
    );
    println!("  [technician] opens the printer, loads a new roll");
    w.printer.send(SimControl::Paper(PaperLevel::Ok)).await?;
    c.wait_offered(ServiceId::TopUp).await?;
    c.tap(
        "taps 继续打印 (continue printing)",
        Ui::Select("resume".into()),
    )
    .await?;
    let (printed, pages, _) = print_done(c).await?;
    ensure!(
        printed == pages,
        "{printed} of {pages} printed after resuming"
    );
    c.tap("takes the papers: nothing else", Ui::Confirm).await?;
    c.session_ends().await?;
    let all = printed_papers(c.kiosk, &txn).await?;
    let out: Vec<_> = all.iter().map(|p| p.state.as_str()).collect();
    ensure!(
        out.iter().filter(|s| **s == "printed").count() == usize::try_from(pages)?
            && out.iter().filter(|s| **s == "not_printed").count() == 1,
        "papers in the journal: {out:?}"
    );
    println!(
        "  [kiosk] journal: {txn} bill_print settled; papers {}",
        out.join(", ")
    );
    Ok(())
}

async fn invoice(c: &mut Customer<'_>, w: &World) -> anyhow::Result<()> {
    let (_, month) = to_menu(c, w, By::IdCard).await?;
    c.tap(
        &format!("picks 发票 (invoice data) of {month}"),
        Ui::Select("invoice".into()),
    )
    .await?;
    let (number, total) = c
        .until("the invoice data", |s| match s {
            Screen::Invoice {
                invoice_no,
                total_fen,
                ..
            } => Ok(Some((invoice_no.clone(), *total_fen))),
            Screen::BillMenu {
                notice: Some(n), ..
            } => bail!("no invoice: {n:?}"),
            _ => Ok(None),
        })
        .await?;
    c.tap("taps 打印 (print)", Ui::Select("print".into()))
        .await?;
    let (printed, pages, txn) = print_done(c).await?;
    ensure!(
        (printed, pages) == (1, 1),
        "{printed} of {pages} pages printed"
    );
    c.says("takes the ID card back");
    w.id_reader.with(|r| r.remove());
    c.tap("takes the paper: nothing else", Ui::Confirm).await?;
    c.session_ends().await?;
    let papers = printed_papers(c.kiosk, &txn).await?;
    ensure!(
        papers.len() == 1 && papers[0].kind == "invoice" && papers[0].state == "printed",
        "papers: {papers:?}"
    );
    println!(
        "  [kiosk] journal: {txn} bill_print settled, invoice {number} of {month} ({}) printed",
        yuan(u64::try_from(total).unwrap_or(0))
    );
    Ok(())
}
