//! `bucketsync pair ...`

use crate::output::print_json;
use bucketsync_api::pair::{AddPairRequest, PairView};
use bucketsync_api::{Api, ApiError};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PairCommand {
    /// Bind a local folder to a policy's bucket
    Add {
        /// The local folder
        dir: String,
        /// The storage policy to sync with
        #[arg(long)]
        policy: String,
        /// Key prefix in the bucket [default: the whole bucket]
        #[arg(long)]
        prefix: Option<String>,
        /// two-way, upload (local -> bucket) or download (bucket -> local)
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// The pair's name [default: the folder's name]
        #[arg(long)]
        name: Option<String>,
        /// Ask before a pass deletes more than this share of the pair's files [default: 50]
        #[arg(long, value_name = "PERCENT")]
        max_delete: Option<u32>,
    },
    /// List pairs
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a pair (files on both sides stay)
    Remove { name: String },
    /// Stop syncing a pair until resumed
    Pause { name: String },
    /// Sync a paused pair again
    Resume { name: String },
}

/// `--mode`: a value enum, so a typo is a usage error listing the choices.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    TwoWay,
    Upload,
    Download,
}

impl ModeArg {
    fn as_str(self) -> &'static str {
        match self {
            ModeArg::TwoWay => "two-way",
            ModeArg::Upload => "upload",
            ModeArg::Download => "download",
        }
    }
}

fn describe(p: &PairView) -> String {
    let paused = if p.paused { "  (paused)" } else { "" };
    format!("{}  {}  <->  {}:{}/{}  [{}]{paused}", p.name, p.local_root, p.policy, p.bucket, p.prefix, p.mode)
}

pub async fn run(api: &Api, cmd: PairCommand) -> Result<ExitCode, ApiError> {
    match cmd {
        PairCommand::Add { dir, policy, prefix, mode, name, max_delete } => {
            let p = api
                .add_pair(AddPairRequest {
                    dir,
                    policy,
                    prefix,
                    mode: mode.map(|m| m.as_str().to_string()),
                    name,
                    max_delete_percent: max_delete,
                    paused: false,
                })
                .await?;
            println!("Added pair {}", describe(&p));
        }
        PairCommand::List { json } => {
            let pairs = api.list_pairs()?;
            if json {
                print_json(&pairs.iter().map(|p| serde_json::json!({
                    "name": p.name, "policy": p.policy, "local_root": p.local_root, "bucket": p.bucket,
                    "prefix": p.prefix, "mode": p.mode, "paused": p.paused, "max_delete_percent": p.max_delete_percent,
                })).collect::<Vec<_>>());
            } else if pairs.is_empty() {
                println!("No pairs yet. Add one with `bucketsync pair add DIR --policy NAME`.");
            } else {
                for p in &pairs {
                    println!("{}", describe(p));
                }
            }
        }
        PairCommand::Remove { name } => {
            api.remove_pair(&name).await?;
            println!("Removed pair {name} (its files stay on both sides)");
        }
        PairCommand::Pause { name } => {
            api.set_pair_paused(&name, true).await?;
            println!("Paused {name}");
        }
        PairCommand::Resume { name } => {
            api.set_pair_paused(&name, false).await?;
            println!("Resumed {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
