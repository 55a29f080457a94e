//! What the scripted customers share: what the screen last said about the kiosk as a whole,
//! and a customer at the screen who reads every screen (printing it and keeping its PNG)
//! and touches it.

use std::time::Duration;

use anyhow::{Context, bail};

use super::{DemoKiosk, ScreenRecorder};
use crate::flow::{Screen, ServiceId, Ui};
use crate::runtime::kiosk::Note;
use crate::runtime::screen::{
    Availability, KioskStatus, ScreenUpdate, ServiceState, UiEvent, describe,
};

/// How long a customer waits for the screen before the scenario fails.
pub(super) const PATIENCE: Duration = Duration::from_secs(60);

/// What the screen last said about the kiosk as a whole.
#[derive(Debug, Default)]
pub(super) struct Observed {
    pub(super) status: Option<KioskStatus>,
    pub(super) topup_available: bool,
    /// The home screen's tiles.
    pub(super) services: Vec<ServiceState>,
}

impl Observed {
    pub(super) fn take(&mut self, u: &ScreenUpdate) {
        match u {
            ScreenUpdate::Status(s) => self.status = Some(s.clone()),
            ScreenUpdate::Services(list) => {
                self.topup_available = list.iter().any(|s| {
                    s.service == ServiceId::TopUp && s.availability == Availability::Available
                });
                self.services = list.clone();
            }
            _ => {}
        }
    }

    /// In service, with top-up offered.
    pub(super) fn ready(&self) -> bool {
        self.status == Some(KioskStatus::InService) && self.topup_available
    }

    /// The tile of `service`, as the home screen shows it.
    pub(super) fn availability(&self, service: ServiceId) -> Option<&Availability> {
        self.services
            .iter()
            .find(|s| s.service == service)
            .map(|s| &s.availability)
    }

    pub(super) fn offers(&self, service: ServiceId) -> bool {
        self.status == Some(KioskStatus::InService)
            && self.availability(service) == Some(&Availability::Available)
    }
}

/// What the customer notices next: the screen, or (for the scenario) one of the kiosk's
/// notes.
#[derive(Debug)]
pub(super) enum Event {
    Screen(ScreenUpdate),
    Note(Note),
}

/// A scripted customer at the kiosk's screen.
#[derive(Debug)]
pub(super) struct Customer<'a> {
    pub(super) kiosk: &'a mut DemoKiosk,
    pub(super) state: &'a mut Observed,
    recorder: &'a ScreenRecorder,
    scenario: &'static str,
    last_line: String,
}

impl<'a> Customer<'a> {
    pub(super) fn new(
        kiosk: &'a mut DemoKiosk,
        state: &'a mut Observed,
        recorder: &'a ScreenRecorder,
        scenario: &'static str,
    ) -> Self {
        Self {
            kiosk,
            state,
            recorder,
            scenario,
            last_line: String::new(),
        }
    }

    /// What the customer does, said.
    pub(super) fn says(&self, what: &str) {
        println!("  [customer] {what}");
    }

    /// Touches the screen.
    pub(super) async fn tap(&mut self, what: &str, ui: Ui) -> anyhow::Result<()> {
        self.says(what);
        self.kiosk
            .ui
            .send(UiEvent::Customer(ui))
            .await
            .context("the kiosk stopped")
    }

    /// Takes one update from the screen: the kiosk's state and tiles are kept, a session
    /// screen is printed (once) and its PNG recorded.
    fn see(&mut self, u: &ScreenUpdate) {
        self.state.take(u);
        if matches!(
            u,
            ScreenUpdate::Services(_) | ScreenUpdate::Status(_) | ScreenUpdate::Branding(_)
        ) {
            return;
        }
        let line = describe(u);
        if line != self.last_line {
            println!("  [screen] {line}");
            self.last_line = line;
            self.recorder.record(self.scenario, u.clone());
        }
    }

    /// Reads the screen until `pick` takes an update (any update, not only a session's
    /// screen: the technician's screens come as their own updates).
    pub(super) async fn until_update<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ScreenUpdate) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let u = match tokio::time::timeout_at(deadline, self.kiosk.screen.recv()).await {
                Ok(Some(u)) => u,
                Ok(None) => bail!("the kiosk stopped while waiting for {what}"),
                Err(_) => bail!("{what} never came (last: {})", self.last_line),
            };
            self.see(&u);
            if let Some(t) = pick(&u).with_context(|| format!("waiting for {what}"))? {
                return Ok(t);
            }
        }
    }

    /// Sends anything the screen can send (a technician's sign-in and actions).
    pub(super) async fn send(&mut self, what: &str, ev: UiEvent) -> anyhow::Result<()> {
        println!("  [technician] {what}");
        self.kiosk.ui.send(ev).await.context("the kiosk stopped")
    }

    /// Everything the screen was told meanwhile, without waiting.
    pub(super) fn catch_up(&mut self) {
        while let Ok(u) = self.kiosk.screen.try_recv() {
            self.see(&u);
        }
    }

    /// Reads the screen until `pick` takes a session screen (it may fail the scenario).
    /// The session ending first fails, as does nothing coming within [`PATIENCE`].
    pub(super) async fn until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Screen) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let u = match tokio::time::timeout_at(deadline, self.kiosk.screen.recv()).await {
                Ok(Some(u)) => u,
                Ok(None) => bail!("the kiosk stopped while waiting for {what}"),
                Err(_) => bail!("{what} never came (last: {})", self.last_line),
            };
            self.see(&u);
            match &u {
                ScreenUpdate::Show(screen) => {
                    if let Some(t) = pick(screen).with_context(|| format!("waiting for {what}"))? {
                        return Ok(t);
                    }
                }
                ScreenUpdate::End => bail!("the session ended while waiting for {what}"),
                _ => {}
            }
        }
    }

    /// The next screen update (printed and recorded like every other) or note of the kiosk.
    pub(super) async fn next_event(
        &mut self,
        deadline: tokio::time::Instant,
        what: &str,
    ) -> anyhow::Result<Event> {
        let event = tokio::select! {
            u = self.kiosk.screen.recv() => u.map(Event::Screen),
            n = self.kiosk.notes.recv() => n.map(Event::Note),
            () = tokio::time::sleep_until(deadline) => {
                bail!("{what} never came (last: {})", self.last_line)
            }
        };
        let event = event.context("the kiosk stopped")?;
        if let Event::Screen(u) = &event {
            self.see(u);
        }
        Ok(event)
    }

    /// Waits for the session to end; returns the transaction it opened, if any.
    pub(super) async fn session_ends(&mut self) -> anyhow::Result<Option<String>> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.kiosk.screen.recv()).await {
                Ok(Some(u)) => {
                    self.see(&u);
                    if u == ScreenUpdate::End {
                        break;
                    }
                }
                Ok(None) => bail!("the kiosk stopped"),
                Err(_) => bail!("the session did not end (last: {})", self.last_line),
            }
        }
        self.kiosk
            .wait_note(PATIENCE, |n| match n {
                Note::SessionEnded { txn, .. } => Some(txn.clone()),
                _ => None,
            })
            .await
    }

    /// Waits until the kiosk is in service and offers `service`.
    pub(super) async fn wait_offered(&mut self, service: ServiceId) -> anyhow::Result<()> {
        self.catch_up();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.state.offers(service) {
            match tokio::time::timeout_at(deadline, self.kiosk.screen.recv()).await {
                Ok(Some(u)) => self.see(&u),
                Ok(None) => bail!("the kiosk stopped"),
                Err(_) => bail!(
                    "{} not offered within {PATIENCE:?}: kiosk {:?}, tile {:?}",
                    service.id(),
                    self.state.status.as_ref().map(KioskStatus::name),
                    self.state.availability(service)
                ),
            }
        }
        Ok(())
    }

    /// Touches a service's tile once the kiosk offers it (the service's first screen is the
    /// caller's to wait for).
    pub(super) async fn begin(&mut self, service: ServiceId, what: &str) -> anyhow::Result<()> {
        self.wait_offered(service).await?;
        while self.kiosk.notes.try_recv().is_ok() {}
        self.says(&format!("touches {what}"));
        self.kiosk
            .ui
            .send(UiEvent::Start(service))
            .await
            .context("the kiosk stopped")
    }

    /// Touches a service's tile once the kiosk offers it, and waits for the keypad.
    pub(super) async fn start(&mut self, service: ServiceId, what: &str) -> anyhow::Result<()> {
        self.wait_offered(service).await?;
        while self.kiosk.notes.try_recv().is_ok() {}
        self.says(&format!("touches {what}"));
        self.kiosk
            .ui
            .send(UiEvent::Start(service))
            .await
            .context("the kiosk stopped")?;
        self.until("the number keypad", |s| {
            Ok(matches!(s, Screen::EnterNumber { .. }).then_some(()))
        })
        .await
    }

    /// Touches a greyed tile: nothing starts; returns the reason the tile gives.
    pub(super) async fn touch_greyed(
        &mut self,
        service: ServiceId,
        what: &str,
    ) -> anyhow::Result<(String, String)> {
        self.catch_up();
        let (zh, en) = match self.state.availability(service) {
            Some(Availability::Unavailable { zh, en }) => (zh.clone(), en.clone()),
            other => bail!("the {} tile is not greyed: {other:?}", service.id()),
        };
        self.says(&format!("touches {what}: the tile is greyed"));
        self.kiosk
            .ui
            .send(UiEvent::Start(service))
            .await
            .context("the kiosk stopped")?;
        // Nothing starts: the screen gets the tiles again, no session screen.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(u) = tokio::time::timeout_at(deadline, self.kiosk.screen.recv()).await {
            let Some(u) = u else {
                bail!("the kiosk stopped")
            };
            self.see(&u);
            if let ScreenUpdate::Show(s) = &u {
                bail!("a greyed tile started a session: {}", s.name());
            }
        }
        let png = self.recorder.record_view(
            self.scenario,
            "home-greyed",
            crate::ui::View::Unavailable {
                services: self.state.services.clone(),
                tapped: service,
            },
        );
        println!(
            "  [screen] home: {} greyed — {zh} / {en} (picture: {})",
            service.id(),
            png.display()
        );
        Ok((zh, en))
    }
}
