//! `bucketsync status [--json]`

use crate::output::print_json;
use bucketsync_api::{Api, ApiError};
use std::process::ExitCode;

pub fn run(api: &Api, json: bool) -> Result<ExitCode, ApiError> {
    let pairs = api.status()?;
    if json {
        print_json(&pairs);
        return Ok(ExitCode::SUCCESS);
    }
    if pairs.is_empty() {
        println!("No pairs yet. Add one with `bucketsync pair add DIR --policy NAME`.");
    }
    for p in &pairs {
        println!("{}  {}  <->  {}  [{}]  {}", p.name, p.local_root, p.remote, p.mode, p.state);
        for a in &p.recent {
            let detail = a.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
            println!("  {} {}{detail}", a.action, a.path);
        }
    }
    Ok(ExitCode::SUCCESS)
}
