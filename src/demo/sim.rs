//! The customers of the real-name services: 新开户 (a new number on a new SIM), 补卡 (a
//! new SIM for a number) and 实名补登记 (registering a name on a number that has none).
//! Each places an ID card on the simulated reader (the reader's built-in fixtures), agrees
//! to face recognition and stands before the simulated camera (a live customer who turns
//! the head when asked), pays with notes where money is due and takes the card from the
//! simulated dispenser's gate; the scenario then checks the journal (the transaction, every
//! card and where it ended), the dispenser (cards out of the stacker, the reject bin) and
//! the operator (the number active, owned by the applicant).

use anyhow::{Context, bail, ensure};
use card_dispenser::simulator::Action as CardAction;

use super::customer::Customer;
use super::customer::Observed;
use super::services::pay;
use super::{DemoKiosk, KIOSK_ID, ScreenRecorder, World};
use crate::flow::parts::identity::FACE_ATTEMPTS;
use crate::flow::screen::{Notice, ReceiptState, SimOutcome};
use crate::flow::{Screen, ServiceId, Ui, mask_phone, yuan};
use crate::journal::{CardStage, TxnState};

/// 李长青: the reader's long-term card (`resident_long_term`), a clean applicant at the
/// operator (no numbers yet).
const APPLICANT_CARD: &str = "resident_long_term";
/// 王小明's number and card: the owner replaces his SIM.
const OWNER: &str = "13800000000";
const OWNER_CARD: &str = "resident";
/// A number never registered under a real name (未登记用户).
const UNREGISTERED: &str = "13900000005";

/// Which customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    NewSim,
    /// An applicant refused on their card or face.
    Refused(Refusal),
    Declines,
    Replace,
    Reregister,
    /// 挂失 then 解挂 (`more.rs`).
    Loss,
    /// 名下号码查询.
    NumberQuery,
    /// 充值卡销售.
    PinSale,
}

/// Why an applicant for a new number is refused, and who decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// 孙小童, 14: under 16, refused by the kiosk itself.
    Minor,
    /// 张*'s card ran out in 2024: refused by the kiosk itself.
    Expired,
    /// 孙建华 holds five numbers already (一证五号): refused by the operator.
    Limit,
    /// 罗刚 is on the operator's blacklist.
    Blacklisted,
    /// 黄海燕's card in someone else's hands: the operator's face comparison fails three times.
    FaceMismatch,
}

impl Refusal {
    /// The ID-reader simulator's card (docs/technician.md, docs/boss-sim.md).
    fn card(self) -> &'static str {
        match self {
            Refusal::Minor => "resident_minor",
            Refusal::Expired => "resident_expired",
            Refusal::Limit => "applicant_limit",
            Refusal::Blacklisted => "applicant_blacklisted",
            Refusal::FaceMismatch => "applicant_lent",
        }
    }

    fn expected(self, notice: &Notice) -> bool {
        match self {
            Refusal::Minor => *notice == Notice::UnderAge,
            Refusal::Expired => *notice == Notice::IdExpired,
            Refusal::Limit => matches!(notice, Notice::IdLimitReached { .. }),
            Refusal::Blacklisted => *notice == Notice::Blacklisted,
            Refusal::FaceMismatch => *notice == Notice::FaceMismatch,
        }
    }
}

/// A scripted customer of a real-name service.
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
            "new-sim",
            "李** (the reader's long-term card) opens a new number: ID card, consent, live photo with a head turn, a number from the pool, a plan, the agreement, card fee + first month paid in notes (the rest to the balance), a written SIM taken from the gate, receipt printed",
            Kind::NewSim,
        ),
        s(
            "new-sim-minor",
            "a 14-year-old's ID card: refused on the kiosk (under 16) before the operator is asked",
            Kind::Refused(Refusal::Minor),
        ),
        s(
            "new-sim-expired",
            "an ID card that ran out: refused on the kiosk before the operator is asked",
            Kind::Refused(Refusal::Expired),
        ),
        s(
            "new-sim-limit",
            "孙** already holds five numbers (一证五号): the operator refuses before the camera starts",
            Kind::Refused(Refusal::Limit),
        ),
        s(
            "new-sim-blacklisted",
            "罗*'s ID is on the operator's blacklist: refused with the way forward (the counter)",
            Kind::Refused(Refusal::Blacklisted),
        ),
        s(
            "new-sim-face-mismatch",
            "黄**'s card in someone else's hands: the face comparison fails three times, then the counter",
            Kind::Refused(Refusal::FaceMismatch),
        ),
        s(
            "new-sim-declines",
            "the applicant declines face recognition: sent to the counter, the camera never starts",
            Kind::Declines,
        ),
        s(
            "replace-sim",
            "王** replaces the SIM of 138****0000: his ID card and face, the exact ¥10 fee, the new card written and taken, the old one stops working",
            Kind::Replace,
        ),
        s(
            "reregister",
            "139****0005 has no name registered: an SMS code to the number, then 李**'s ID card and face register it",
            Kind::Reregister,
        ),
        s(
            "loss",
            "王** reports 138****0000 lost with his ID card and face (a new SIM offered on the spot), then finds the SIM and lifts the report with the service password and an SMS code",
            Kind::Loss,
        ),
        s(
            "number-query",
            "王** looks up the numbers under his ID card (three, one closed), says one is not his: the counter, with the printed slip",
            Kind::NumberQuery,
        ),
        s(
            "pin-sale",
            "a customer buys a ¥50 recharge card with 20+20+10 yuan; the PIN read off the paper credits 139****0001 once, a second try is refused",
            Kind::PinSale,
        ),
    ]
}

/// What a scenario works with.
#[derive(Debug)]
pub(super) struct Cx<'a> {
    pub(super) kiosk: &'a mut DemoKiosk,
    pub(super) world: &'a mut World,
    pub(super) recorder: &'a ScreenRecorder,
    pub(super) state: &'a mut Observed,
}

/// Runs one customer.
pub(super) async fn run(s: &Scenario, cx: Cx<'_>) -> anyhow::Result<()> {
    let Cx {
        kiosk,
        world,
        recorder,
        state,
    } = cx;
    let mut c = Customer::new(kiosk, state, recorder, s.name);
    let outcome = match s.kind {
        Kind::NewSim => new_sim(&mut c, world).await,
        Kind::Refused(r) => refused(&mut c, world, r).await,
        Kind::Declines => declines(&mut c, world).await,
        Kind::Replace => replace(&mut c, world).await,
        Kind::Reregister => reregister(&mut c, world).await,
        Kind::Loss => super::more::loss(&mut c, world).await,
        Kind::NumberQuery => super::more::number_query(&mut c, world).await,
        Kind::PinSale => super::more::pin_sale(&mut c, world).await,
    };
    super::card_taken_back(&world.id_reader).await;
    outcome
}

/// Places `card` once the kiosk asks for it.
pub(super) async fn place(
    c: &mut Customer<'_>,
    reader: &idcard_reader::sim::Simulator,
    card: &str,
) -> anyhow::Result<()> {
    c.until("the ID card request", |s| match s {
        Screen::PlaceIdCard { .. } => Ok(Some(())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.says(&format!(
        "places the ID card on the reader (fixture `{card}`)"
    ));
    ensure!(
        reader.with(|r| r.place(card)),
        "the reader simulator has no card `{card}`"
    );
    Ok(())
}

/// Consents to face recognition and stands before the camera until the face is compared:
/// returns the first screen after the photo.
pub(super) async fn face(c: &mut Customer<'_>) -> anyhow::Result<()> {
    c.until("the consent to face recognition", |s| match s {
        Screen::FaceConsent { .. } => Ok(Some(())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap(
        "reads the notice and agrees to face recognition (同意)",
        Ui::Select("consent".into()),
    )
    .await?;
    c.says("looks at the camera, turns the head when asked and back");
    Ok(())
}

/// Takes the card when the kiosk presents it, then reads the result: the outcome.
async fn take_card(
    c: &mut Customer<'_>,
    dispenser: Option<&card_dispenser::simulator::Simulator>,
) -> anyhow::Result<(SimOutcome, String)> {
    c.until("the card at the gate", |s| match s {
        Screen::TakeCard { .. } => Ok(Some(())),
        Screen::SimDone { outcome, .. } => bail!("no card presented: {outcome:?}"),
        Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    if let Some(dispenser) = dispenser {
        // The card reaches the gate a moment after the screen says so.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while dispenser.device().status().card_position != card_dispenser::CardPosition::Gate {
            ensure!(
                tokio::time::Instant::now() < deadline,
                "no card came to the gate"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        c.says("takes the SIM card from the gate");
        dispenser.apply(CardAction::Take);
    } else {
        c.says("takes the SIM card from the gate (the harness's dispenser)");
    }
    c.until("the result with its receipt", |s| match s {
        Screen::SimDone {
            outcome,
            reference,
            receipt,
            ..
        } if *receipt != ReceiptState::Printing => Ok(Some((outcome.clone(), reference.clone()))),
        _ => Ok(None),
    })
    .await
}

/// Where the transaction's cards ended, said and checked: exactly one card, activated,
/// taken; nothing left in the machine.
async fn cards_of(c: &mut Customer<'_>, txn: &str) -> anyhow::Result<String> {
    let id = txn.to_owned();
    let cards = c.kiosk.journal.run(move |j| j.cards(&id)).await??;
    let taken: Vec<_> = cards
        .iter()
        .filter(|k| k.stage == CardStage::Taken)
        .collect();
    ensure!(
        taken.len() == 1 && taken[0].activated,
        "the journal's cards: {cards:?}"
    );
    let in_machine = c.kiosk.journal.run(|j| j.cards_in_flight()).await??;
    ensure!(
        in_machine.is_empty(),
        "cards left in the machine: {in_machine:?}"
    );
    let iccid = taken[0].iccid.clone().unwrap_or_default();
    println!(
        "  [kiosk] journal: card {} (ICCID …{}) written, activated, taken",
        taken[0].id,
        &iccid[iccid.len().saturating_sub(4)..]
    );
    Ok(iccid)
}

/// What a new number's customer did.
struct Opened {
    txn: String,
    paid: u64,
    fee: u64,
    first_month: u64,
    number: String,
    outcome: SimOutcome,
    reference: String,
}

async fn new_sim(c: &mut Customer<'_>, w: &World) -> anyhow::Result<()> {
    let stock_before = w.dispenser.device().stacker_count();
    let Opened {
        txn,
        paid,
        fee,
        first_month,
        number,
        outcome,
        reference,
    } = open_number(c, &w.id_reader, Some(&w.bill), Some(&w.dispenser)).await?;
    let SimOutcome::Issued { taken: true, .. } = outcome else {
        bail!("the card was not issued: {outcome:?}");
    };
    let id = txn.clone();
    let rec = c.kiosk.journal.run(move |j| j.get(&id)).await??;
    ensure!(
        rec.kind == "new_sim"
            && rec.state == TxnState::Settled
            && rec.inserted_fen == i64::try_from(paid)?
            && rec.receipt.as_deref() == Some("printed"),
        "the journal has {rec:?}"
    );
    println!(
        "  [kiosk] journal: {txn} new_sim settled, {} paid, order {reference}, receipt printed",
        yuan(paid)
    );
    let iccid = cards_of(c, &txn).await?;
    let stock_after = w.dispenser.device().stacker_count();
    ensure!(
        stock_before - stock_after == 1,
        "the stacker went from {stock_before} to {stock_after}"
    );
    println!("  [dispenser] stacker {stock_before} → {stock_after} blank cards");
    let sub = w.subscriber(&number)?;
    ensure!(
        sub.real_name
            && sub
                .id_number
                .as_deref()
                .is_some_and(|i| i.starts_with("533102"))
            && sub.balance_fen == i64::try_from(paid - fee - first_month)?,
        "the operator has {} with {:?} real name {} balance {}",
        mask_phone(&number),
        sub.status,
        sub.real_name,
        sub.balance_fen
    );
    println!(
        "  [operator] {} {:?}, registered to 李** (533102********0022), balance {}, on SIM …{}",
        mask_phone(&number),
        sub.status,
        yuan(u64::try_from(sub.balance_fen).unwrap_or(0)),
        &iccid[iccid.len().saturating_sub(4)..]
    );
    let row = w
        .operator()
        .txn(KIOSK_ID, &txn)?
        .with_context(|| format!("the operator's ledger has no {txn}"))?;
    ensure!(
        row.state == "done",
        "the operator's ledger has {}",
        row.state
    );
    Ok(())
}

/// The new number's customer at the screen: from the tile to the end of the session.
/// `bill` and `dispenser`: the simulators the customer uses (with none, whoever runs the
/// devices inserts the notes and takes the card).
async fn open_number(
    c: &mut Customer<'_>,
    reader: &idcard_reader::sim::Simulator,
    bill: Option<&tokio::sync::mpsc::Sender<bill_acceptor::sim::Action>>,
    dispenser: Option<&card_dispenser::simulator::Simulator>,
) -> anyhow::Result<Opened> {
    c.begin(ServiceId::NewSim, "新开户 (new number)").await?;
    let fee = c
        .until("what the service needs", |s| match s {
            Screen::SimIntro { fee_fen, .. } => Ok(Some(*fee_fen)),
            _ => Ok(None),
        })
        .await?;
    c.tap(
        &format!("reads what it needs (card fee {}) and goes on", yuan(fee)),
        Ui::Confirm,
    )
    .await?;
    place(c, reader, APPLICANT_CARD).await?;
    face(c).await?;
    let numbers = c
        .until("the numbers of the pool", |s| match s {
            Screen::Numbers { numbers, .. } if !numbers.is_empty() => Ok(Some(numbers.clone())),
            Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
            Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    let number = numbers
        .iter()
        .find(|n| !n.premium)
        .context("no ordinary number offered")?
        .msisdn
        .clone();
    c.tap(
        &format!("picks {number} of {} numbers shown", numbers.len()),
        Ui::Select(format!("number:{number}")),
    )
    .await?;
    let (plans, hold_s) = c
        .until("the plans", |s| match s {
            Screen::JoinPlans { plans, hold_s, .. } => Ok(Some((plans.clone(), *hold_s))),
            Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
            Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    let plan = plans
        .iter()
        .min_by_key(|p| p.first_month_fee_fen)
        .context("no plan offered")?
        .clone();
    c.tap(
        &format!(
            "sees the number held for {} min, picks {} (first month {})",
            hold_s / 60,
            plan.plan.name,
            yuan(plan.first_month_fee_fen)
        ),
        Ui::Select(plan.plan.id.clone()),
    )
    .await?;
    c.until("the agreement", |s| {
        Ok(matches!(s, Screen::Agreement { .. }).then_some(()))
    })
    .await?;
    c.tap(
        "reads the agreement to the end and accepts (同意)",
        Ui::Confirm,
    )
    .await?;
    let due = c
        .until("the price", |s| match s {
            Screen::SimConfirm { due_fen, .. } => Ok(Some(*due_fen)),
            _ => Ok(None),
        })
        .await?;
    c.tap(
        &format!("sees {} to pay and confirms", yuan(due)),
        Ui::Confirm,
    )
    .await?;
    // Notes that cover the price, the rest to the new number's balance.
    let mut notes = Vec::new();
    let mut left = due;
    for y in [100, 50, 20, 10] {
        while left >= y * 100 {
            notes.push(y);
            left -= y * 100;
        }
    }
    if left > 0 {
        notes.push(10);
    }
    let paid = match bill {
        Some(bill) => pay(c, bill, &notes).await?,
        None => {
            // The harness inserts the notes: finish once they cover the price.
            let paid = c
                .until("notes that cover the price", |s| match s {
                    Screen::Insert(v) if v.total_fen >= due && !v.busy => Ok(Some(v.total_fen)),
                    _ => Ok(None),
                })
                .await?;
            c.tap("presses 完成 (finish)", Ui::Finish).await?;
            paid
        }
    };
    let (outcome, reference) = take_card(c, dispenser).await?;
    c.tap("reads the result, nothing else", Ui::Confirm).await?;
    let txn = c
        .session_ends()
        .await?
        .context("no transaction was opened")?;
    reader.with(|r| r.remove());
    Ok(Opened {
        txn,
        paid,
        fee,
        first_month: plan.first_month_fee_fen,
        number,
        outcome,
        reference,
    })
}

/// The new number's customer on devices someone else runs (the crash tests): the journal and
/// the operator are the harness's to check.
pub(super) async fn new_sim_on(
    c: &mut Customer<'_>,
    reader: &idcard_reader::sim::Simulator,
) -> anyhow::Result<()> {
    let o = open_number(c, reader, None, None).await?;
    println!(
        "  [kiosk] {} ended {:?}, {} paid",
        o.txn,
        o.outcome,
        yuan(o.paid)
    );
    Ok(())
}

async fn refused(c: &mut Customer<'_>, w: &World, why: Refusal) -> anyhow::Result<()> {
    c.begin(ServiceId::NewSim, "新开户 (new number)").await?;
    c.until("what the service needs", |s| {
        Ok(matches!(s, Screen::SimIntro { .. }).then_some(()))
    })
    .await?;
    c.tap("goes on", Ui::Confirm).await?;
    place(c, &w.id_reader, why.card()).await?;
    if why == Refusal::FaceMismatch {
        face(c).await?;
    }
    let mut photos = 0;
    let notice = c
        .until("the answer", |s| match s {
            Screen::Refused { notice, .. } => Ok(Some(notice.clone())),
            Screen::FaceConsent { .. } if why != Refusal::FaceMismatch => {
                bail!("let through to the camera")
            }
            Screen::FaceCapture { attempt, .. } => {
                photos = photos.max(*attempt);
                Ok(None)
            }
            Screen::Numbers { .. } => bail!("let through to the numbers"),
            _ => Ok(None),
        })
        .await?;
    ensure!(why.expected(&notice), "refused with {notice:?}");
    if why == Refusal::FaceMismatch {
        ensure!(
            photos == FACE_ATTEMPTS,
            "{photos} live photos before the counter"
        );
        println!("  [operator] {photos} face comparisons, each `no_match`");
    }
    c.tap("takes the card back and leaves", Ui::Confirm).await?;
    let txn = c.session_ends().await?;
    ensure!(txn.is_none(), "a transaction was opened: {txn:?}");
    Ok(())
}

async fn declines(c: &mut Customer<'_>, w: &World) -> anyhow::Result<()> {
    c.begin(ServiceId::NewSim, "新开户 (new number)").await?;
    c.until("what the service needs", |s| {
        Ok(matches!(s, Screen::SimIntro { .. }).then_some(()))
    })
    .await?;
    c.tap("goes on", Ui::Confirm).await?;
    place(c, &w.id_reader, APPLICANT_CARD).await?;
    c.until("the consent to face recognition", |s| match s {
        Screen::FaceConsent { .. } => Ok(Some(())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap(
        "declines face recognition (不同意)",
        Ui::Select("decline".into()),
    )
    .await?;
    let notice = c
        .until("the answer", |s| match s {
            Screen::Refused { notice, .. } => Ok(Some(notice.clone())),
            Screen::FaceCapture { .. } => bail!("the camera started without consent"),
            _ => Ok(None),
        })
        .await?;
    ensure!(notice == Notice::ConsentDeclined, "answered {notice:?}");
    c.tap("goes to the counter", Ui::Confirm).await?;
    let txn = c.session_ends().await?;
    ensure!(txn.is_none(), "a transaction was opened: {txn:?}");
    Ok(())
}

async fn replace(c: &mut Customer<'_>, w: &World) -> anyhow::Result<()> {
    c.start(ServiceId::ReplaceSim, "补卡 (replacement SIM)")
        .await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(OWNER)),
        Ui::Number(OWNER.into()),
    )
    .await?;
    c.until("what the service needs", |s| match s {
        Screen::SimIntro { .. } => Ok(Some(())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap("goes on", Ui::Confirm).await?;
    place(c, &w.id_reader, OWNER_CARD).await?;
    face(c).await?;
    let due = c
        .until("the price", |s| match s {
            Screen::SimConfirm { due_fen, .. } => Ok(Some(*due_fen)),
            Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
            Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    c.tap(
        &format!("sees {} to pay and confirms", yuan(due)),
        Ui::Confirm,
    )
    .await?;
    let notes: Vec<u64> = std::iter::repeat_n(10, usize::try_from(due / 1000)?).collect();
    c.until("the note screen", |s| {
        Ok(matches!(s, Screen::Insert(v) if !v.busy && v.total_fen == 0).then_some(()))
    })
    .await?;
    for y in &notes {
        c.says(&format!("inserts a {y} yuan note"));
        w.bill
            .send(bill_acceptor::sim::Action::Insert { fen: y * 100 })
            .await?;
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    }
    let (outcome, _) = take_card(c, Some(&w.dispenser)).await?;
    c.tap("reads the result, nothing else", Ui::Confirm).await?;
    let txn = c
        .session_ends()
        .await?
        .context("no transaction was opened")?;
    ensure!(
        matches!(outcome, SimOutcome::Issued { taken: true, .. }),
        "the card was not issued: {outcome:?}"
    );
    let id = txn.clone();
    let rec = c.kiosk.journal.run(move |j| j.get(&id)).await??;
    ensure!(
        rec.kind == "replace_sim"
            && rec.state == TxnState::Settled
            && rec.inserted_fen == i64::try_from(due)?,
        "the journal has {rec:?}"
    );
    println!(
        "  [kiosk] journal: {txn} replace_sim settled, {} paid",
        yuan(due)
    );
    let iccid = cards_of(c, &txn).await?;
    let sim = w.operator().sim_of(OWNER)?;
    ensure!(
        sim.as_deref() == Some(iccid.as_str()),
        "the operator has {} on {sim:?}, the card given out is {iccid}",
        mask_phone(OWNER)
    );
    println!(
        "  [operator] {} now on SIM …{} (the old card no longer works)",
        mask_phone(OWNER),
        &iccid[iccid.len().saturating_sub(4)..]
    );
    Ok(())
}

async fn reregister(c: &mut Customer<'_>, w: &World) -> anyhow::Result<()> {
    c.start(ServiceId::Registration, "实名补登记 (register a name)")
        .await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(UNREGISTERED)),
        Ui::Number(UNREGISTERED.into()),
    )
    .await?;
    c.until("the ways to prove the number", |s| match s {
        Screen::AuthChoose { .. } => Ok(Some(())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap(
        "asks for an SMS code (短信验证码)",
        Ui::Select("sms".into()),
    )
    .await?;
    c.until("the code entry", |s| {
        Ok(matches!(s, Screen::SmsCode { .. }).then_some(()))
    })
    .await?;
    let code = w
        .sms_code(UNREGISTERED)?
        .context("no SMS code was sent to the number")?;
    c.tap(
        "reads the code on the phone and types it",
        Ui::Secret(boss_protocol::Secret::new(code)),
    )
    .await?;
    place(c, &w.id_reader, APPLICANT_CARD).await?;
    face(c).await?;
    c.until("the confirmation", |s| match s {
        Screen::ReregisterConfirm { .. } => Ok(Some(())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap("confirms the name and ID shown (masked)", Ui::Confirm)
        .await?;
    let outcome = c
        .until("the result with its receipt", |s| match s {
            Screen::SimDone {
                outcome, receipt, ..
            } if *receipt != ReceiptState::Printing => Ok(Some(outcome.clone())),
            Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    c.tap("done", Ui::Confirm).await?;
    let txn = c
        .session_ends()
        .await?
        .context("no transaction was opened")?;
    ensure!(
        matches!(outcome, SimOutcome::Registered { .. }),
        "not registered: {outcome:?}"
    );
    let id = txn.clone();
    let rec = c.kiosk.journal.run(move |j| j.get(&id)).await??;
    ensure!(
        rec.kind == "reregister" && rec.state == TxnState::Settled,
        "the journal has {rec:?}"
    );
    let sub = w.subscriber(UNREGISTERED)?;
    ensure!(
        sub.real_name
            && sub
                .id_number
                .as_deref()
                .is_some_and(|i| i.starts_with("533102")),
        "the operator has real name {} for {}",
        sub.real_name,
        mask_phone(UNREGISTERED)
    );
    println!(
        "  [operator] {} registered to 李** (533102********0022)",
        mask_phone(UNREGISTERED)
    );
    Ok(())
}
