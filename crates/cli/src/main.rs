//! `bucketsync`: the headless front end over bucketsync-api, for servers,
//! scripts, tests and benchmarks. Like the desktop app it holds no sync logic:
//! each subcommand parses, calls the api once, and prints.
//!
//! Output: `--json` prints one JSON document on stdout; otherwise tables and
//! plain lines. Exit codes: 0 success, 1 the operation failed (the message
//! says why and what to do), 2 usage error (clap's own).

mod output;
mod policy;

use bucketsync_api::{Api, ApiError};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bucketsync",
    version,
    about = "Two-way sync between local folders and S3-compatible buckets"
)]
struct Cli {
    /// Where settings and the database live [default: the platform config dir]
    #[arg(long, global = true, env = "BUCKETSYNC_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Storage policies: everything needed to reach one bucket
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BUCKETSYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e);
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, ApiError> {
    let home = bucketsync_api::home::resolve(cli.home);
    let api = Api::open(&home)?;
    match cli.command {
        Command::Policy(cmd) => policy::run(&api, cmd).await,
    }
}
