//! A flow's card commands through the dispenser's actor (CRT-591): what each physical step
//! came to, in the words flows understand. The journal is written by the flow before and
//! after each step ([`crate::flow::JournalOp::Card`]); this module only moves the card.

use std::time::Duration;

use card_dispenser::{
    CardEvent, CardPosition, DispenserHandle, Error, ErrorCode, PersoScript, PersoStep,
    StackerLevel,
};

use crate::flow::devices::{CardAnswer, CardCmd, CardProblem};

/// Carries out `cmd` on the dispenser (`None`: not fitted or not answering).
pub async fn run(
    dispenser: Option<DispenserHandle>,
    cmd: CardCmd,
) -> Result<CardAnswer, CardProblem> {
    let Some(d) = dispenser else {
        return Err(CardProblem::Down("no card dispenser is working".into()));
    };
    match cmd {
        CardCmd::ToIc => {
            let status = d.dispense_to_ic().await.map_err(problem)?;
            match (status.card_position, status.stacker) {
                (CardPosition::Ic, _) => Ok(CardAnswer::AtIc),
                (CardPosition::None, StackerLevel::Empty) => Err(CardProblem::Empty),
                (pos, _) => Err(CardProblem::Jam(format!(
                    "no card reached the IC contacts (card at {pos:?})"
                ))),
            }
        }
        CardCmd::ReadIccid => {
            // The card at the contacts is powered (cold reset, its ATR) before any APDU.
            if let Err(e) = d.cold_reset().await {
                return Err(match e {
                    Error::Device { .. } => CardProblem::CardUnreadable(format!("no ATR: {e}")),
                    other => problem(other),
                });
            }
            match d.read_iccid().await {
                Ok((_, iccid)) => Ok(CardAnswer::Iccid(iccid.as_str().to_owned())),
                Err(card_dispenser::simcard::SimError::Exchange(
                    card_dispenser::apdu::ExchangeError::Transport(e),
                )) => Err(problem(e)),
                Err(e) => Err(CardProblem::CardUnreadable(e.to_string())),
            }
        }
        CardCmd::Write { steps } => {
            let script = PersoScript {
                steps: steps
                    .into_iter()
                    .map(|s| PersoStep {
                        apdu: s.apdu,
                        expected_sw: s.expect_sw,
                    })
                    .collect(),
            };
            match d.run_script(script).await {
                Ok(report) => Ok(CardAnswer::Written {
                    completed: report.failure.is_none(),
                    steps_run: u32::try_from(report.status_words.len()).unwrap_or(u32::MAX),
                    last_sw: report
                        .status_words
                        .last()
                        .map(|sw| format!("{:02X}{:02X}", sw[0], sw[1]))
                        .unwrap_or_default(),
                }),
                Err(card_dispenser::simcard::SimError::Exchange(
                    card_dispenser::apdu::ExchangeError::Transport(e),
                )) => Err(problem(e)),
                Err(e) => Err(CardProblem::CardUnreadable(e.to_string())),
            }
        }
        CardCmd::Present { timeout_ms } => {
            let status = d.issue_to_gate().await.map_err(problem)?;
            if status.card_position != CardPosition::Gate {
                return Err(CardProblem::Jam(format!(
                    "the card did not reach the gate (card at {:?})",
                    status.card_position
                )));
            }
            match d
                .wait_taken(Duration::from_millis(timeout_ms))
                .await
                .map_err(problem)?
            {
                CardEvent::Taken => Ok(CardAnswer::Taken),
                CardEvent::Captured { .. } => Ok(CardAnswer::Captured { not_taken: true }),
            }
        }
        CardCmd::Capture => {
            let status = d.capture().await.map_err(problem)?;
            if status.card_position == CardPosition::None {
                Ok(CardAnswer::Captured { not_taken: false })
            } else {
                Err(CardProblem::Jam(format!(
                    "the card did not go into the reject bin (card at {:?})",
                    status.card_position
                )))
            }
        }
    }
}

/// Where the dispenser's card is now (for start-up recovery); `None` when it cannot say.
pub async fn position(dispenser: &DispenserHandle) -> Option<CardPosition> {
    d_status(dispenser).await.map(|s| s.card_position)
}

async fn d_status(d: &DispenserHandle) -> Option<card_dispenser::Status> {
    d.status().await.ok()
}

fn problem(e: Error) -> CardProblem {
    match e {
        Error::Device { code, .. } => match code {
            ErrorCode::CardJam
            | ErrorCode::CannotMoveToIc
            | ErrorCode::CardTooLong
            | ErrorCode::CardTooShort
            | ErrorCode::ManuallyMoved
            | ErrorCode::MotorError
            | ErrorCode::SensorError => CardProblem::Jam(format!("{code}")),
            other => CardProblem::Down(format!("dispenser refused: {other}")),
        },
        other => CardProblem::Down(other.to_string()),
    }
}
