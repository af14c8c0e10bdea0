//! `bucketsync policy ...`

use crate::output::print_json;
use bucketsync_api::{Api, ApiError};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// List storage policies
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(api: &Api, cmd: PolicyCommand) -> Result<ExitCode, ApiError> {
    match cmd {
        PolicyCommand::List { json } => {
            let overview = api.overview()?;
            if json {
                print_json(&overview.policies);
            } else if overview.policies.is_empty() {
                println!("No storage policies yet. Add one with `bucketsync policy add`.");
            } else {
                for name in overview.policies {
                    println!("{name}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
