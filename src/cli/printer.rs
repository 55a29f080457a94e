//! Placeholder until this device's driver lands; replaced by the device's owner.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SimArgs {}

#[derive(Debug, clap::Args)]
pub struct DiagArgs {}

pub async fn sim(_args: SimArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this simulator is not built yet")
}

pub async fn diag(_args: DiagArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this diagnostic is not built yet")
}
