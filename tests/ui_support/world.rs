//! What the end-to-end UI tests of the services share: the simulated world with a kiosk in
//! it on a pinned business day, the kiosk's offer of a service, the journal's restock of
//! blank cards, and the transaction of the session that just ended.

use std::path::Path;
use std::time::Duration;

use bill_acceptor::Protocol;
use slint::{ComponentHandle, Model};
use telekiosk::demo::{Day, DemoKiosk, World, WorldOptions};
use telekiosk::runtime::kiosk::Note;
use telekiosk::ui::{HomeAdapter, Page};

use super::{UiDriver, wait_until};

/// How long a step may take against the simulators and the operator.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// The world, and a kiosk in it, with the business date pinned to `today`.
pub fn start(dir: &Path, today: Day) -> (tokio::runtime::Runtime, World, DemoKiosk) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (world, kiosk) = runtime.block_on(async {
        let w = World::start_with(
            dir,
            Protocol::Ssp,
            true,
            WorldOptions { today: Some(today) },
        )
        .await
        .expect("the simulated world starts");
        let k = DemoKiosk::start(&w.config(dir, Default::default()), w.options())
            .expect("the kiosk starts");
        (w, k)
    });
    (runtime, world, kiosk)
}

/// Waits on the idle screen until `service` is offered.
pub fn offered(screen: &mut UiDriver, service: &str) {
    assert!(
        wait_until(screen, PATIENCE, |s| {
            s.page() == Page::Idle
                && s.window
                    .global::<HomeAdapter>()
                    .get_services()
                    .iter()
                    .any(|t| t.id == service && t.enabled)
        }),
        "{service} never offered"
    );
}

/// The technician's restock of every card in the dispenser, in the journal.
pub fn restock(
    runtime: &tokio::runtime::Runtime,
    world: &World,
    journal: &telekiosk::runtime::journal::JournalHandle,
) {
    let n = u32::try_from(world.dispenser.device().stacker_count()).unwrap();
    runtime
        .block_on(journal.run(move |j| {
            j.card_movement(
                telekiosk::journal::CardMovement::Restock(n),
                None,
                Some("test:technician"),
                0,
            )
        }))
        .unwrap()
        .unwrap();
}

/// The transaction of the session that ends next.
pub fn session_txn(
    runtime: &tokio::runtime::Runtime,
    notes: &mut tokio::sync::mpsc::UnboundedReceiver<Note>,
) -> String {
    runtime.block_on(async {
        loop {
            match tokio::time::timeout(PATIENCE, notes.recv()).await {
                Ok(Some(Note::SessionEnded { txn, .. })) => break txn.expect("a transaction"),
                Ok(Some(_)) => {}
                other => panic!("no session end: {other:?}"),
            }
        }
    })
}
