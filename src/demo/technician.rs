//! A technician's visit on the kiosk's own screen (`--scenario technician`): the hidden
//! corner, a wrong PIN, the right one, the service panel; the self-tests of the printer, the
//! note acceptor (a note read and handed back), the dispenser (a card to the reject bin)
//! and the camera; the cash box emptied and cleared (清机) against what the journal expects; blank
//! cards added (放卡); back into service. The demo's technician is `T01`, PIN `246810`
//! (configured by the demo when its settings name no technician).

use anyhow::{bail, ensure};
use bill_acceptor::sim::Action;

use super::customer::Customer;
use super::world::World;
use crate::flow::yuan;
use crate::runtime::screen::{
    KioskStatus, Pin, ScreenUpdate, SignInNotice, TechAction, TechPanel, TechScreen, UiEvent,
};

/// The demo's technician and PIN.
pub(super) const DEMO_TECHNICIAN: &str = "T01";
pub(super) const DEMO_PIN: &str = "246810";

/// `settings` with the demo's technician when they name none.
pub(super) fn with_demo_technician(
    mut settings: telekiosk_settings::Settings,
) -> anyhow::Result<telekiosk_settings::Settings> {
    if settings.technicians.is_empty() {
        settings.technicians.push(telekiosk_settings::Technician {
            id: DEMO_TECHNICIAN.into(),
            pin_hash: crate::runtime::technician::hash_pin(DEMO_PIN).map_err(anyhow::Error::msg)?,
        });
    }
    Ok(settings)
}

/// The panel once `action` has answered.
async fn outcome(c: &mut Customer<'_>, action: &str) -> anyhow::Result<TechPanel> {
    c.until_update(action, |u| match u {
        ScreenUpdate::Technician(TechScreen::Panel(p))
            if p.busy.is_none() && p.last.as_ref().is_some_and(|l| l.action == action) =>
        {
            Ok(Some((**p).clone()))
        }
        _ => Ok(None),
    })
    .await
}

async fn act(c: &mut Customer<'_>, what: &str, action: TechAction) -> anyhow::Result<()> {
    c.send(what, UiEvent::TechnicianAction(action)).await
}

pub(super) async fn visit(c: &mut Customer<'_>, w: &mut World) -> anyhow::Result<()> {
    c.send("taps the top-left corner five times", UiEvent::Technician)
        .await?;
    c.until_update("the sign-in", |u| {
        Ok(matches!(u, ScreenUpdate::Technician(TechScreen::SignIn { .. })).then_some(()))
    })
    .await?;
    let sign_in = |pin: &str| UiEvent::TechnicianSignIn {
        id: DEMO_TECHNICIAN.into(),
        pin: Pin::new(pin),
    };
    c.send("chooses T01 and mistypes the PIN", sign_in("246801"))
        .await?;
    c.until_update("the wrong PIN said", |u| match u {
        ScreenUpdate::Technician(TechScreen::SignIn {
            notice: Some(SignInNotice::WrongPin { left }),
            ..
        }) => Ok(Some(*left)),
        ScreenUpdate::Technician(TechScreen::Panel(_)) => bail!("a wrong PIN let in"),
        _ => Ok(None),
    })
    .await?;
    c.send("types the PIN again, right", sign_in(DEMO_PIN))
        .await?;
    let panel = c
        .until_update("the service panel", |u| match u {
            ScreenUpdate::Technician(TechScreen::Panel(p)) => Ok(Some((**p).clone())),
            _ => Ok(None),
        })
        .await?;
    let expected = panel.cash_total.clone();
    println!(
        "  [panel] {} devices, cash box {expected}, {} blank SIMs",
        panel.devices.len(),
        panel.cards_in_stock
    );

    act(c, "prints a test receipt", TechAction::TestReceipt).await?;
    let p = outcome(c, "test_receipt").await?;
    ensure!(p.last.as_ref().is_some_and(|l| l.ok), "{:?}", p.last);

    act(c, "tests the note acceptor", TechAction::TestNote).await?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    println!("  [technician] inserts a ¥10 note");
    w.bill.send(Action::Insert { fen: 1000 }).await?;
    let p = outcome(c, "test_note").await?;
    ensure!(
        p.last
            .as_ref()
            .is_some_and(|l| l.ok && l.text.contains("¥10.00")),
        "{:?}",
        p.last
    );
    ensure!(
        p.cash_total == expected,
        "the test note was kept: {}",
        p.cash_total
    );

    act(c, "tests the dispenser with one card", TechAction::TestCard).await?;
    let p = outcome(c, "test_card").await?;
    ensure!(p.last.as_ref().is_some_and(|l| l.ok), "{:?}", p.last);

    act(
        c,
        "looks into the camera for its test",
        TechAction::TestCamera,
    )
    .await?;
    let p = outcome(c, "test_camera").await?;
    ensure!(p.last.as_ref().is_some_and(|l| l.ok), "{:?}", p.last);

    // 清机: the box is emptied and counted, then confirmed on the screen.
    let taken = w.cashbox.take_out();
    let counted: u64 = taken.iter().sum();
    println!(
        "  [technician] empties the cash box: {} notes, {}",
        taken.len(),
        yuan(counted)
    );
    ensure!(
        yuan(counted) == expected,
        "the box held {} but the journal expected {expected}",
        yuan(counted)
    );
    act(
        c,
        "confirms the box is emptied (清机)",
        TechAction::Clearance,
    )
    .await?;
    let p = outcome(c, "clearance").await?;
    ensure!(
        p.last.as_ref().is_some_and(|l| l.ok) && p.cash_total == yuan(0),
        "{:?}, box {}",
        p.last,
        p.cash_total
    );

    act(
        c,
        "puts 20 blank cards in and empties the reject bin (放卡)",
        TechAction::Restock {
            added: 20,
            bin_emptied: true,
        },
    )
    .await?;
    let before = p.cards_in_stock;
    let p = outcome(c, "restock").await?;
    ensure!(
        p.cards_in_stock == before + 20 && p.cards_in_bin == 0,
        "stock {} → {}, bin {}",
        before,
        p.cards_in_stock,
        p.cards_in_bin
    );

    act(c, "leaves service mode", TechAction::Exit).await?;
    c.until_update("the screens closed", |u| {
        Ok(matches!(u, ScreenUpdate::Technician(TechScreen::Closed)).then_some(()))
    })
    .await?;
    c.until_update("back in service", |u| {
        Ok(matches!(u, ScreenUpdate::Status(KioskStatus::InService)).then_some(()))
    })
    .await?;
    Ok(())
}
