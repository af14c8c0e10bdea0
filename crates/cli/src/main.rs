//! `bucketsync`: the headless front end over bucketsync-api, for servers,
//! scripts, tests and benchmarks. Like the desktop app it holds no sync logic:
//! each subcommand parses, calls the api once, and prints.
//!
//! Output: `--json` prints one JSON document on stdout; otherwise tables and
//! plain lines. Exit codes: 0 success, 1 the operation failed (the message
//! says why and what to do), 2 usage error (clap's own).

mod daemon;
mod ls;
mod output;
mod pair;
mod policy;
mod status;
mod sync;

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
    /// Pairs: a local folder synced with a key prefix of a policy's bucket
    #[command(subcommand)]
    Pair(pair::PairCommand),
    /// One full sync pass; exit 0 iff every pair converged without errors
    Sync(sync::SyncArgs),
    /// Watch and sync every pair until SIGINT/SIGTERM
    Daemon,
    /// Each pair's state and recent activity
    Status {
        #[arg(long)]
        json: bool,
    },
    /// List a policy's bucket: POLICY or POLICY:PREFIX
    Ls {
        #[arg(value_name = "POLICY[:PREFIX]")]
        target: String,
        #[arg(long)]
        json: bool,
    },
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
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e);
            ExitCode::from(1)
        }
    };
    write_request_counts();
    code
}

/// The S3 requests this process sent, for the benchmark (see
/// `s3_requests::STATS_ENV`); nothing happens unless the variable is set.
fn write_request_counts() {
    use bucketsync_api::s3_requests;
    if let Some(path) = std::env::var_os(s3_requests::STATS_ENV) {
        let doc = serde_json::json!({ "requests": s3_requests::counts() });
        if let Err(e) = std::fs::write(&path, doc.to_string()) {
            eprintln!(
                "warning: cannot write request counts to {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, ApiError> {
    let home = bucketsync_api::home::resolve(cli.home);
    let api = Api::open(&home)?;
    match cli.command {
        Command::Policy(cmd) => policy::run(&api, cmd).await,
        Command::Pair(cmd) => pair::run(&api, cmd).await,
        Command::Sync(args) => sync::run(&api, args).await,
        Command::Daemon => daemon::run(&api).await,
        Command::Status { json } => status::run(&api, json),
        Command::Ls { target, json } => ls::run(&api, &target, json).await,
    }
}
