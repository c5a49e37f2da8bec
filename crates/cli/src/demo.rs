//! `flotilla demo ...`: the demo workload (being written).

use clap::Args;

#[derive(Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("flotilla demo is not built yet")
}
