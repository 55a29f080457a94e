//! Head office's view at the end of the demo.

use std::time::Duration;

use anyhow::Context;

use super::{DemoKiosk, HEAD_OFFICE, KIOSK_ID, World};
use crate::flow::yuan;
use crate::runtime::kiosk::Note;

/// Head office's view at the end of the demo, through the server's library API: the kiosk
/// in the fleet, its journal uploaded, and the day reconciled (对账) against the operator's
/// ledger. Returns whether the day balances.
pub(super) async fn head_office_view(kiosk: &mut DemoKiosk, w: &World) -> anyhow::Result<bool> {
    let last = kiosk.journal.run(|j| j.upload_last()).await??;
    let acked = kiosk
        .wait_note(Duration::from_secs(60), |n| match n {
            Note::Uploaded { acked_seq } if *acked_seq >= last => Some(*acked_seq),
            _ => None,
        })
        .await
        .context("the kiosk's settled transactions never reached the server")?;
    let store = w.head_office().clone();
    let held = store.run(|s| s.journal_acked_seq(KIOSK_ID)).await?;
    let view = store.run(|s| s.kiosk(KIOSK_ID)).await?;
    println!("\n=== head office, at the self-service system server");
    println!(
        "  [fleet] {KIOSK_ID}: {}, {}, configuration v{} (rolled out: v{}), cash box {}, {}",
        if view.online { "online" } else { "offline" },
        view.kiosk_state.as_deref().unwrap_or("no heartbeat yet"),
        view.config_version.map_or("-".into(), |v| v.to_string()),
        view.config_target.map_or("-".into(), |v| v.to_string()),
        view.cash_box
            .as_ref()
            .map_or("-".into(), |c| yuan(c.total_fen)),
        match view.last_heartbeat_ms {
            Some(at) => format!(
                "last heartbeat {} s ago",
                (telekiosk_hq::store::now_ms() - at).max(0) / 1000
            ),
            None => "no heartbeat yet".into(),
        }
    );
    println!(
        "  [uploads] settled transactions held up to seq {} (the kiosk's cursor: {acked})",
        held.unwrap_or(0)
    );
    let day = telekiosk_hq::store::today();
    if let Some(pinned) = w.today.map(super::day_text)
        && pinned != day
    {
        // The kiosk's journal is dated by its clock, the operator's ledger by the pinned
        // business date: the two days cannot be compared.
        println!(
            "  [reconciliation] skipped: the operator's business date is pinned to {pinned}, the kiosk's day is {day}"
        );
        return Ok(true);
    }
    let run = telekiosk_hq::recon::reconcile_kiosk(
        &store,
        w.hq.shared.boss.as_ref(),
        HEAD_OFFICE,
        KIOSK_ID,
        &day,
    )
    .await
    .context("reconciling the day with the operator")?;
    let money = |n: i64, fen: i64| {
        format!(
            "{n} transactions, {}",
            yuan(u64::try_from(fen).unwrap_or(0))
        )
    };
    println!(
        "  [reconciliation] {day}: kiosk {} / operator {}: {}",
        money(run.kiosk_count, run.kiosk_amount_fen),
        money(run.operator_count, run.operator_amount_fen),
        if run.balanced {
            "balanced".to_string()
        } else {
            format!("{} mismatches", run.mismatches.len())
        }
    );
    for m in &run.mismatches {
        println!(
            "    {} {} {}: kiosk {:?} {:?}, operator {:?} {:?}",
            m.txn_id,
            m.op,
            m.kind,
            m.kiosk_amount_fen,
            m.kiosk_state,
            m.operator_amount_fen,
            m.operator_state
        );
    }
    Ok(run.balanced)
}
