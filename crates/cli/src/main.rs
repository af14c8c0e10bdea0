//! `bucketsync`: the headless front end over bucketsync-api, for servers,
//! scripts, tests and benchmarks. Like the desktop app it holds no sync logic:
//! each subcommand parses, calls the api once, and prints.
//!
//! Output: `--json` prints one JSON document on stdout; otherwise tables and
//! plain lines. Exit codes: 0 success, 1 the operation failed (the message
//! says why and what to do), 2 usage error (clap's own).

mod browse;
mod daemon;
mod output;
mod pair;
mod policy;
mod status;
mod sync;

use bucketsync_api::{Api, ApiError};
use clap::{CommandFactory, Parser, Subcommand};
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
    /// Upload at most this fast, all pairs together: e.g. 10M (bytes per second; K, M, G are
    /// powers of 1,000, KiB, MiB, GiB of 1,024; 0 or off: none) [default: the app setting
    /// limit-up, none unless set]
    #[arg(long, global = true, value_name = "RATE", value_parser = bucketsync_api::parse_rate)]
    limit_up: Option<u64>,
    /// Download at most this fast, all pairs together (as --limit-up) [default: the app setting
    /// limit-down]
    #[arg(long, global = true, value_name = "RATE", value_parser = bucketsync_api::parse_rate)]
    limit_down: Option<u64>,
    /// Requests in flight at once, all pairs together (files, parts and ranges share them)
    /// [default: the app setting transfer-concurrency, 16 unless changed]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    transfers: Option<u32>,
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
    /// List a bucket one folder level at a time (all keys below with --recursive)
    Ls {
        #[arg(value_name = "POLICY[:PREFIX]")]
        target: String,
        /// Every key below the prefix, not just one folder level
        #[arg(long, short)]
        recursive: bool,
        #[arg(long)]
        json: bool,
    },
    /// Copy between a local path and POLICY:KEY (either way), with progress
    Cp {
        #[arg(value_name = "SRC")]
        src: String,
        #[arg(value_name = "DST")]
        dst: String,
        /// Copy folders and prefixes with everything in them
        #[arg(long, short)]
        recursive: bool,
    },
    /// Rename or move an object or a prefix (ending in /) inside a bucket
    Mv {
        #[arg(value_name = "POLICY:SRC")]
        src: String,
        #[arg(value_name = "POLICY:DST")]
        dst: String,
    },
    /// Delete objects, or prefixes with --recursive; asks first unless --yes
    Rm {
        #[arg(value_name = "POLICY:KEY", required = true)]
        targets: Vec<String>,
        /// Delete everything below each prefix
        #[arg(long, short)]
        recursive: bool,
        /// Do not ask (needed when not on a terminal)
        #[arg(long, short)]
        yes: bool,
    },
    /// A link to an object: public/CDN URL, or presigned (at most 7 days)
    Url {
        #[arg(value_name = "POLICY:KEY")]
        target: String,
        /// How long a presigned link works: 30s, 15m, 1h, 7d [default: 1h]
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Details of one object: size, ETag, content type, metadata
    Stat {
        #[arg(value_name = "POLICY:KEY")]
        target: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = bucketsync_api::home::resolve(cli.home.clone());
    let _log = bucketsync_api::log::init(&home, "bucketsync");
    #[cfg(feature = "fail-points")]
    if let Some(point) = bucketsync_api::arm_crash_point() {
        tracing::warn!("test build: the process aborts at crash point {point}");
    }
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
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "bucketsync", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    let home = bucketsync_api::home::resolve(cli.home);
    let api = Api::open(&home)?;
    // A flag overrides the app's setting for this run, one direction at a time.
    let (up, down) = api.bandwidth();
    api.set_bandwidth(cli.limit_up.unwrap_or(up), cli.limit_down.unwrap_or(down));
    if let Some(n) = cli.transfers {
        api.set_transfer_concurrency(n as usize);
    }
    match cli.command {
        Command::Policy(cmd) => policy::run(&api, cmd).await,
        Command::Pair(cmd) => pair::run(&api, cmd).await,
        Command::Sync(args) => sync::run(&api, args).await,
        Command::Daemon => daemon::run(&api).await,
        Command::Status { json } => status::run(&api, json),
        Command::Ls { target, recursive, json } => browse::ls(&api, &target, recursive, json).await,
        Command::Cp { src, dst, recursive } => browse::cp(&api, &src, &dst, recursive).await,
        Command::Mv { src, dst } => browse::mv(&api, &src, &dst).await,
        Command::Rm { targets, recursive, yes } => browse::rm(&api, &targets, recursive, yes).await,
        Command::Url { target, expires } => browse::url(&api, &target, expires.as_deref()).await,
        Command::Stat { target, json } => browse::stat(&api, &target, json).await,
        Command::Completions { .. } => unreachable!("handled before the home is opened"),
    }
}
