//! `bucketsync daemon`: watch and sync every pair until SIGINT/SIGTERM.

use bucketsync_api::sync::RunnerConfig;
use bucketsync_api::{Api, ApiError};
use std::process::ExitCode;
use std::time::Duration;

pub async fn run(api: &Api) -> Result<ExitCode, ApiError> {
    let mut config = RunnerConfig::default();
    // For tests and tuning; not part of the CLI contract.
    if let Some(secs) = std::env::var("BUCKETSYNC_POLL_SECONDS").ok().and_then(|v| v.parse::<f64>().ok()) {
        config.poll_interval = Duration::from_secs_f64(secs);
    }
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        eprintln!("stopping...");
    };
    eprintln!("bucketsync daemon: syncing {} pair(s); Ctrl-C stops", api.list_pairs()?.len());
    api.daemon(config, crate::sync::event_printer(false), shutdown).await?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}
