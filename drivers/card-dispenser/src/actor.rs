//! The dispenser as an actor: one task owns the port, cloneable [`DispenserHandle`]s send it
//! requests over a bounded channel and get answers on a oneshot. The task ends when the
//! last handle is dropped.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::apdu::{ExchangeError, Response};
use crate::driver::{Atr, CardDispenser, CardEvent, Destination, Error, InitInfo, InitMode};
use crate::simcard::{self, Iccid, PersoReport, PersoScript, SimError, SimKind};
use crate::status::{Sensors, Status};

type Reply<T> = oneshot::Sender<Result<T, Error>>;
type SimReply<T> = oneshot::Sender<Result<T, SimError<Error>>>;

#[derive(Debug)]
enum Request {
    Initialize(InitMode, Reply<InitInfo>),
    Status(Reply<Status>),
    Sensors(Reply<(Status, Sensors)>),
    Move(Destination, Reply<Status>),
    GateEntry(bool, Reply<Status>),
    RejectCounter(Reply<u16>),
    SetRejectCounter(u16, Reply<()>),
    ColdReset(Reply<Atr>),
    PowerOff(Reply<Status>),
    Exchange(
        Vec<u8>,
        oneshot::Sender<Result<Response, ExchangeError<Error>>>,
    ),
    ReadIccid(SimReply<(SimKind, Iccid)>),
    RunScript(PersoScript, SimReply<PersoReport>),
    WaitTaken(Duration, Reply<CardEvent>),
}

/// A cloneable handle to a dispenser task.
#[derive(Debug, Clone)]
pub struct DispenserHandle {
    tx: mpsc::Sender<Request>,
}

/// Starts the task that owns `dispenser`.
pub fn spawn<T: devio::Transport>(dispenser: CardDispenser<T>) -> DispenserHandle {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(run(dispenser, rx));
    DispenserHandle { tx }
}

async fn run<T: devio::Transport>(mut d: CardDispenser<T>, mut rx: mpsc::Receiver<Request>) {
    while let Some(req) = rx.recv().await {
        // A caller that gave up (dropped its receiver) is not an error of the task.
        match req {
            Request::Initialize(m, r) => drop(r.send(d.initialize(m).await)),
            Request::Status(r) => drop(r.send(d.status().await)),
            Request::Sensors(r) => drop(r.send(d.sensors().await)),
            Request::Move(to, r) => drop(r.send(d.move_card(to).await)),
            Request::GateEntry(on, r) => drop(r.send(d.set_gate_entry(on).await)),
            Request::RejectCounter(r) => drop(r.send(d.reject_counter().await)),
            Request::SetRejectCounter(n, r) => drop(r.send(d.set_reject_counter(n).await)),
            Request::ColdReset(r) => drop(r.send(d.cold_reset().await)),
            Request::PowerOff(r) => drop(r.send(d.power_off().await)),
            Request::Exchange(apdu, r) => drop(r.send(d.exchange(&apdu).await)),
            Request::ReadIccid(r) => drop(r.send(simcard::read_iccid(&mut d).await)),
            Request::RunScript(s, r) => drop(r.send(simcard::run_script(&mut d, &s).await)),
            Request::WaitTaken(t, r) => drop(r.send(d.wait_taken(t).await)),
        }
    }
}

fn gone_sim<T>() -> Result<T, SimError<Error>> {
    Err(SimError::Exchange(ExchangeError::Transport(
        Error::TaskGone,
    )))
}

impl DispenserHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| Error::TaskGone)?;
        rx.await.map_err(|_| Error::TaskGone)?
    }

    async fn ask_sim<T>(
        &self,
        make: impl FnOnce(SimReply<T>) -> Request,
    ) -> Result<T, SimError<Error>> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(make(tx)).await.is_err() {
            return gone_sim();
        }
        rx.await.unwrap_or_else(|_| gone_sim())
    }

    /// See [`CardDispenser::initialize`].
    pub async fn initialize(&self, mode: InitMode) -> Result<InitInfo, Error> {
        self.ask(|r| Request::Initialize(mode, r)).await
    }
    /// See [`CardDispenser::status`].
    pub async fn status(&self) -> Result<Status, Error> {
        self.ask(Request::Status).await
    }
    /// See [`CardDispenser::sensors`].
    pub async fn sensors(&self) -> Result<(Status, Sensors), Error> {
        self.ask(Request::Sensors).await
    }
    /// See [`CardDispenser::move_card`].
    pub async fn move_card(&self, to: Destination) -> Result<Status, Error> {
        self.ask(|r| Request::Move(to, r)).await
    }
    /// See [`CardDispenser::dispense_to_ic`].
    pub async fn dispense_to_ic(&self) -> Result<Status, Error> {
        self.move_card(Destination::Ic).await
    }
    /// See [`CardDispenser::issue_to_gate`].
    pub async fn issue_to_gate(&self) -> Result<Status, Error> {
        self.move_card(Destination::Gate).await
    }
    /// See [`CardDispenser::capture`].
    pub async fn capture(&self) -> Result<Status, Error> {
        self.move_card(Destination::RejectBin).await
    }
    /// See [`CardDispenser::set_gate_entry`].
    pub async fn set_gate_entry(&self, enabled: bool) -> Result<Status, Error> {
        self.ask(|r| Request::GateEntry(enabled, r)).await
    }
    /// See [`CardDispenser::reject_counter`].
    pub async fn reject_counter(&self) -> Result<u16, Error> {
        self.ask(Request::RejectCounter).await
    }
    /// See [`CardDispenser::set_reject_counter`].
    pub async fn set_reject_counter(&self, count: u16) -> Result<(), Error> {
        self.ask(|r| Request::SetRejectCounter(count, r)).await
    }
    /// See [`CardDispenser::cold_reset`].
    pub async fn cold_reset(&self) -> Result<Atr, Error> {
        self.ask(Request::ColdReset).await
    }
    /// See [`CardDispenser::power_off`].
    pub async fn power_off(&self) -> Result<Status, Error> {
        self.ask(Request::PowerOff).await
    }
    /// See [`CardDispenser::exchange`].
    pub async fn exchange(&self, apdu: &[u8]) -> Result<Response, ExchangeError<Error>> {
        let (tx, rx) = oneshot::channel();
        let gone = || ExchangeError::Transport(Error::TaskGone);
        self.tx
            .send(Request::Exchange(apdu.to_vec(), tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
    /// See [`simcard::read_iccid`].
    pub async fn read_iccid(&self) -> Result<(SimKind, Iccid), SimError<Error>> {
        self.ask_sim(Request::ReadIccid).await
    }
    /// See [`simcard::run_script`].
    pub async fn run_script(&self, script: PersoScript) -> Result<PersoReport, SimError<Error>> {
        self.ask_sim(|r| Request::RunScript(script, r)).await
    }
    /// See [`CardDispenser::wait_taken`].
    pub async fn wait_taken(&self, timeout: Duration) -> Result<CardEvent, Error> {
        self.ask(|r| Request::WaitTaken(timeout, r)).await
    }
}
