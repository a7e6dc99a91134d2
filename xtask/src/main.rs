//! Project automation for reel (`cargo xtask <command>`).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("no xtask commands yet")
}
