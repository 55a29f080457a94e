//! The customers of 挂失/解挂, 名下号码查询 and 充值卡销售. The owner of 138****0000 reports
//! the SIM lost with the ID card and a live photo, then, the SIM found, lifts the report
//! with the service password and an SMS code; the same owner looks up the numbers under
//! the ID card and says one is not theirs (the slip is printed); a customer buys a ¥50
//! recharge card in notes, and the PIN read off the printed card credits a number once.
//! Each scenario checks the journal and the operator.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bill_acceptor::sim::Action;

use super::customer::Customer;
use super::services::{By, authenticate};
use super::{World, indent};
use crate::flow::screen::{HeldStatus, LossAction, ReceiptState, SimOutcome};
use crate::flow::{Screen, ServiceId, Ui, mask_phone, yuan};
use crate::journal::TxnState;

/// 王小明's number and ID card (the reader's `resident`).
const OWNER: &str = "13800000000";
const OWNER_CARD: &str = "resident";
/// The number a recharge card is redeemed on.
const REDEEM_ON: &str = "13900000001";

/// The result screen once its paper is out: the outcome.
async fn result(c: &mut Customer<'_>) -> anyhow::Result<SimOutcome> {
    c.until("the result with its receipt", |s| match s {
        Screen::SimDone {
            outcome, receipt, ..
        } if *receipt != ReceiptState::Printing => Ok(Some(outcome.clone())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
        _ => Ok(None),
    })
    .await
}

/// The papers the printer simulator put out since the last look.
async fn papers(w: &mut World) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut out = Vec::new();
    while let Ok((_, text)) = w.printed.try_recv() {
        out.push(text);
    }
    out
}

/// 挂失 by ID card and face, then 解挂 by password and SMS code.
pub(super) async fn loss(c: &mut Customer<'_>, w: &mut World) -> anyhow::Result<()> {
    papers(w).await;
    c.start(ServiceId::Loss, "挂失/解挂 (report a lost SIM)")
        .await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(OWNER)),
        Ui::Number(OWNER.into()),
    )
    .await?;
    authenticate_by_face(c, w).await?;
    c.until("the confirmation of the report", |s| match s {
        Screen::LossConfirm {
            action: LossAction::Report,
            ..
        } => Ok(Some(())),
        Screen::LossConfirm { action, .. } => bail!("offered {action:?} instead"),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap("confirms: 是的，立即挂失", Ui::Confirm).await?;
    let outcome = result(c).await?;
    ensure!(
        matches!(outcome, SimOutcome::LossReported { replace: true, .. }),
        "not reported lost (or no new card offered): {outcome:?}"
    );
    let sub = w.subscriber(OWNER)?;
    ensure!(
        sub.status == boss_sim::store::SubscriberStatus::ReportedLost,
        "the operator has {OWNER} {:?}",
        sub.status
    );
    println!(
        "  [operator] {} is reported lost (挂失停机)",
        mask_phone(OWNER)
    );
    let paper = papers(w).await.join("\n");
    ensure!(
        paper.contains("挂失") && paper.contains("补卡") && !paper.contains(OWNER),
        "the receipt does not say how to get a new card, or shows the number:\n{paper}"
    );
    println!("  [paper]\n{}", indent(&paper));
    c.tap("does not need a new card now: 不用了，谢谢", Ui::Cancel)
        .await?;
    let txn = c.session_ends().await?.context("no transaction")?;
    settled(c, &txn, "loss_report").await?;
    super::card_taken_back(&w.id_reader).await;

    c.says("finds the SIM in a coat pocket the next day");
    c.start(ServiceId::Loss, "挂失/解挂 (lift the report)")
        .await?;
    c.tap(
        &format!("types {} and confirms", mask_phone(OWNER)),
        Ui::Number(OWNER.into()),
    )
    .await?;
    authenticate(c, w, OWNER, By::Password).await?;
    c.until("the confirmation of the lift", |s| match s {
        Screen::LossConfirm {
            action: LossAction::Lift,
            ..
        } => Ok(Some(())),
        Screen::LossConfirm { action, .. } => bail!("offered {action:?} instead"),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap("confirms: 是的，解除挂失", Ui::Confirm).await?;
    let outcome = result(c).await?;
    ensure!(
        matches!(outcome, SimOutcome::LossLifted { .. }),
        "not lifted: {outcome:?}"
    );
    c.tap("done", Ui::Cancel).await?;
    let txn = c.session_ends().await?.context("no transaction")?;
    settled(c, &txn, "loss_lift").await?;
    let sub = w.subscriber(OWNER)?;
    ensure!(
        sub.status == boss_sim::store::SubscriberStatus::Active,
        "the operator has {OWNER} {:?} after the lift",
        sub.status
    );
    println!("  [operator] {} is in service again", mask_phone(OWNER));
    papers(w).await;
    Ok(())
}

/// The owner's card and a live photo as the proof.
async fn authenticate_by_face(c: &mut Customer<'_>, w: &World) -> anyhow::Result<()> {
    c.until("the choice of how to prove the number", |s| match s {
        Screen::AuthChoose { id_card: true, .. } => Ok(Some(())),
        Screen::AuthChoose { .. } => bail!("the ID card is not offered"),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap(
        "chooses 身份证+人脸 (ID card and face)",
        Ui::Select("id_card".into()),
    )
    .await?;
    super::sim::place(c, &w.id_reader, OWNER_CARD).await?;
    super::sim::face(c).await
}

/// The transaction `txn` is journaled as `kind`, done.
async fn settled(c: &mut Customer<'_>, txn: &str, kind: &str) -> anyhow::Result<()> {
    let id = txn.to_owned();
    let rec = c.kiosk.journal.run(move |j| j.get(&id)).await??;
    ensure!(
        rec.kind == kind && rec.state == TxnState::Settled,
        "the journal has {rec:?}"
    );
    Ok(())
}

/// 名下号码查询: three numbers, one closed; "one is not mine" prints the slip.
pub(super) async fn number_query(c: &mut Customer<'_>, w: &mut World) -> anyhow::Result<()> {
    papers(w).await;
    c.begin(ServiceId::NumberQuery, "名下号码查询 (numbers under my ID)")
        .await?;
    super::sim::place(c, &w.id_reader, OWNER_CARD).await?;
    super::sim::face(c).await?;
    let numbers = c
        .until("the numbers under the ID", |s| match s {
            Screen::HeldNumbers { numbers, .. } => Ok(Some(numbers.clone())),
            Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
            Screen::Sorry { notice, .. } => bail!("sorry: {notice:?}"),
            _ => Ok(None),
        })
        .await?;
    for n in &numbers {
        let (zh, _) = n.status.words();
        c.says(&format!("reads {} {zh} {}", n.number_masked, n.opened_on));
    }
    let held = w.operator().numbers_by_id("110101199003071233")?;
    ensure!(
        numbers.len() == held.len()
            && numbers.iter().any(|n| n.status == HeldStatus::Closed)
            && numbers.iter().all(|n| n.number_masked.contains("****")),
        "the screen lists {numbers:?}, the operator holds {} numbers",
        held.len()
    );
    c.tap(
        "does not know one of them: 不是我办的",
        Ui::Select("not_mine".into()),
    )
    .await?;
    c.until("the advice and the slip", |s| match s {
        Screen::HeldNumbers {
            advice: true,
            receipt: Some(r),
            ..
        } if *r != ReceiptState::Printing => Ok(Some(())),
        _ => Ok(None),
    })
    .await?;
    let paper = papers(w).await.join("\n");
    ensure!(
        paper.contains("名下号码清单")
            && paper.contains("柜台")
            && held.iter().all(|h| !paper.contains(h.number.as_str())),
        "the slip is not the masked list with the way forward:\n{paper}"
    );
    println!("  [paper]\n{}", indent(&paper));
    c.tap("done: 完成", Ui::Cancel).await?;
    let txn = c.session_ends().await?.context("no transaction")?;
    settled(c, &txn, "number_query").await?;
    Ok(())
}

/// 充值卡销售: ¥50 in notes, the card printed; its PIN credits a number once.
pub(super) async fn pin_sale(c: &mut Customer<'_>, w: &mut World) -> anyhow::Result<()> {
    papers(w).await;
    c.begin(ServiceId::PinSale, "充值卡 (buy a recharge card)")
        .await?;
    c.until("the face values", |s| match s {
        Screen::PinFaces { faces_fen, .. } if faces_fen.contains(&5000) => Ok(Some(())),
        Screen::PinFaces { faces_fen, .. } => bail!("no ¥50 card in {faces_fen:?}"),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap("chooses ¥50.00", Ui::Select("face:5000".into()))
        .await?;
    pay_exactly(c, &w.bill, &[20, 20, 10]).await?;
    let outcome = result(c).await?;
    let SimOutcome::PinSold { serial_tail, .. } = &outcome else {
        bail!("no card sold: {outcome:?}");
    };
    c.says(&format!("takes the printed card (serial …{serial_tail})"));
    let paper = papers(w).await.join("\n");
    let pin = read_pin(&paper).context("no PIN on the printed card")?;
    println!(
        "  [paper] the card shows a PIN of {} digits (not repeated here)",
        pin.len()
    );
    c.tap("done", Ui::Cancel).await?;
    let txn = c.session_ends().await?.context("no transaction")?;
    settled(c, &txn, "pin_sale").await?;
    // The PIN is on paper only: not in the journal's file, whatever the table.
    let db = std::fs::read(&c.kiosk.journal_path)?;
    ensure!(
        !db.windows(pin.len()).any(|w| w == pin.as_bytes()),
        "the journal's file holds the PIN"
    );
    // Redeemed by phone (the operator's line): credited once.
    let before = w.subscriber(REDEEM_ON)?.balance_fen;
    let today = super::world::day_text(w.business_day());
    let now = chrono_now();
    let first = w
        .operator()
        .redeem_pin(REDEEM_ON, &pin, "ivr", &today, now)?;
    let second = w
        .operator()
        .redeem_pin(REDEEM_ON, &pin, "ivr", &today, now)?;
    let after = w.subscriber(REDEEM_ON)?.balance_fen;
    ensure!(
        first.is_ok() && second.is_err() && after - before == 5000,
        "redeeming twice: {first:?} then {second:?}, balance {before} → {after}"
    );
    println!(
        "  [operator] the PIN credited {} to {} once; a second try: {}",
        yuan(5000),
        mask_phone(REDEEM_ON),
        second.err().map(|e| e.message_zh()).unwrap_or_default()
    );
    Ok(())
}

/// Unix seconds now.
fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// The exact price in notes: the payment closes by itself when it is reached.
async fn pay_exactly(
    c: &mut Customer<'_>,
    bill: &tokio::sync::mpsc::Sender<Action>,
    notes: &[u64],
) -> anyhow::Result<()> {
    c.until("the note screen", |s| {
        Ok(matches!(s, Screen::Insert(v) if !v.busy && v.total_fen == 0).then_some(()))
    })
    .await?;
    for y in notes {
        c.says(&format!("inserts a {y} yuan note"));
        bill.send(Action::Insert { fen: y * 100 }).await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    Ok(())
}

/// The PIN printed on a recharge card: the line after 充值密码, digits only.
fn read_pin(paper: &str) -> Option<String> {
    let mut lines = paper.lines();
    lines.find(|l| l.contains("充值密码"))?;
    let pin: String = lines.next()?.chars().filter(char::is_ascii_digit).collect();
    (pin.len() >= 12).then_some(pin)
}

/// The harness's kiosk (someone else's world, the crash tests): the ¥50 card bought with
/// whatever notes the harness inserts; the result read.
pub(super) async fn pin_sale_on(c: &mut Customer<'_>) -> anyhow::Result<()> {
    c.begin(ServiceId::PinSale, "充值卡 (buy a recharge card)")
        .await?;
    c.until("the face values", |s| match s {
        Screen::PinFaces { faces_fen, .. } if faces_fen.contains(&5000) => Ok(Some(())),
        Screen::Refused { notice, .. } => bail!("refused: {notice:?}"),
        _ => Ok(None),
    })
    .await?;
    c.tap("chooses ¥50.00", Ui::Select("face:5000".into()))
        .await?;
    c.says("inserts a 50 yuan note (the harness's acceptor)");
    let outcome = result(c).await?;
    c.tap("done", Ui::Cancel).await?;
    c.session_ends().await?;
    ensure!(
        matches!(outcome, SimOutcome::PinSold { .. }),
        "no card sold: {outcome:?}"
    );
    Ok(())
}
