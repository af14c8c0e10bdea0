//! `bucketsync ls POLICY[:PREFIX] [--json]`

use crate::output::print_json;
use bucketsync_api::{Api, ApiError};
use std::process::ExitCode;

pub async fn run(api: &Api, target: &str, json: bool) -> Result<ExitCode, ApiError> {
    let (policy, prefix) = target.split_once(':').unwrap_or((target, ""));
    let objects = api.ls(policy, prefix).await?;
    if json {
        print_json(&objects);
    } else {
        for o in &objects {
            println!("{:>12}  {}", o.size, o.key);
        }
    }
    Ok(ExitCode::SUCCESS)
}
