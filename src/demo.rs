//! The demo: simulated devices driven the way the kiosk drives them.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the demo is not built yet")
}
