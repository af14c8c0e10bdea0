//! `bucketsync-bench`: bucketsync against s5cmd and rclone on one local
//! Garage (compression off), in one run, alternating, N repetitions each.
//!
//! It starts the server through bucketsync-testserver, prepares the data,
//! runs every scenario with every tool, and writes a markdown table, an SVG
//! chart and the raw figures (JSON) to `bench/results/` (git-ignored).
//! Ours runs as the `bucketsync` CLI, as a user runs it; its S3 requests are
//! counted inside it (`BUCKETSYNC_REQUEST_STATS`). `bench/run` builds
//! everything in release mode and runs this; `--preset smoke` is CI's check
//! that the harness still works (seconds, nothing measured seriously).

mod fixture;
mod machine;
mod report;
mod sample;
mod scenario;
mod tool;

use anyhow::{bail, Context, Result};
use bucketsync_remote::{Addressing, Connection, S3Remote, Secret};
use bucketsync_testserver::S3Server;
use clap::Parser;
use scenario::{Bench, Scale};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "bucketsync-bench",
    about = "Benchmarks bucketsync against s5cmd and rclone on one local Garage"
)]
struct Args {
    /// Sizes: smoke (CI, seconds), quick, standard (the issue's, without
    /// the 100,000-file and 4 GiB cases), full (everything)
    #[arg(long, default_value = "standard")]
    preset: String,
    /// Only these scenarios (comma-separated): large, small, medium, noop, daemon, bwlimit
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Repetitions per tool and case [default: the preset's]
    #[arg(long)]
    reps: Option<usize>,
    /// Scenario 1's file size in MiB [default: the preset's]
    #[arg(long)]
    large_mib: Option<u64>,
    /// Scenario 3's file counts, comma-separated [default: the preset's]
    #[arg(long, value_delimiter = ',')]
    noop_files: Vec<usize>,
    /// Scenario 4's file counts, comma-separated [default: the preset's]
    #[arg(long, value_delimiter = ',')]
    daemon_files: Vec<usize>,
    /// Scenario 4's changes per direction [default: the preset's]
    #[arg(long)]
    changes: Option<usize>,
    /// How long the idle daemon is watched, seconds [default: the preset's]
    /// (the default poll is 60 s: watch 120 s or more to see its passes)
    #[arg(long)]
    idle_seconds: Option<u64>,
    /// Run ours only
    #[arg(long)]
    no_peers: bool,
    /// The `bucketsync` binary [default: the one beside this program]
    #[arg(long)]
    bucketsync: Option<PathBuf>,
    /// Where results go
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    /// Where data and scratch files go [default: a temp dir, removed after]
    #[arg(long)]
    work: Option<PathBuf>,
    /// Also put the table into bench/README.md
    #[arg(long)]
    readme: bool,
    /// Run ours' timed runs under this command, e.g. a profiler:
    /// 'perf record -F 999 -g -o /tmp/perf-{n}.data --' ({n}: the run's number).
    /// Its figures then include the profiler's cost.
    #[arg(long)]
    profile_with: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut scale =
        Scale::preset(&args.preset).with_context(|| format!("unknown preset '{}'", args.preset))?;
    if let Some(r) = args.reps {
        scale.reps = r.max(1);
    }
    if let Some(m) = args.large_mib {
        scale.large = m * 1024 * 1024;
    }
    if !args.noop_files.is_empty() {
        scale.noop_counts = args.noop_files.clone();
    }
    if !args.daemon_files.is_empty() {
        scale.daemon_counts = args.daemon_files.clone();
    }
    if let Some(c) = args.changes {
        scale.daemon_changes = c.max(1);
    }
    if let Some(s) = args.idle_seconds {
        scale.idle_seconds = s.max(1);
    }
    let scenarios: Vec<_> = scenario::all()
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.name()))
        .collect();
    if scenarios.is_empty() {
        bail!("no scenario matches --only {:?}", args.only);
    }
    let bucketsync = match &args.bucketsync {
        Some(p) => p.clone(),
        None => {
            let p = std::env::current_exe()?.with_file_name("bucketsync");
            anyhow::ensure!(
                p.exists(),
                "{} is missing: build it first (bench/run does: cargo build --release -p bucketsync-cli)",
                p.display()
            );
            p
        }
    };

    let temp;
    let work = match &args.work {
        Some(w) => {
            std::fs::create_dir_all(w)?;
            w.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("bucketsync-bench-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let load_start = machine::load();
    eprintln!("[bench] starting Garage (compression off)");
    let server = S3Server::start_uncompressed_garage();
    let bucket = "bench";
    server.ensure_bucket(bucket);
    let endpoint = tool::Endpoint {
        url: server.endpoint.clone(),
        region: server.region.clone(),
        bucket: bucket.into(),
        access_key_id: server.access_key_id.clone(),
        secret: server.secret_access_key.clone(),
    };
    let remote = S3Remote::new(&Connection {
        endpoint: Some(endpoint.url.clone()),
        region: endpoint.region.clone(),
        bucket: bucket.into(),
        addressing: Addressing::PathStyle,
        access_key_id: endpoint.access_key_id.clone(),
        secret: Secret::new(endpoint.secret.clone()),
        sdk_checksums: false,
    });
    let mut tools = tool::Tools::new(endpoint, bucketsync, work.join("scratch"), !args.no_peers)?;
    tools.wrapper = args.profile_with.clone();
    let versions = versions(&tools);
    let bench = Bench {
        tools,
        remote,
        rt: tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?,
        scale: scale.clone(),
        data: work.join("data"),
    };

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for s in &scenarios {
        bench.say(format!("scenario {}", s.name()));
        match s.run(&bench) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                bench.say(format!("scenario {} FAILED: {e:#}", s.name()));
                failures.push(format!("{}: {e:#}", s.name()));
            }
        }
    }
    let load_end = machine::load();

    let date = machine::now_utc();
    let title = format!("Bucketsync benchmark, {date}");
    let header = format!(
        "{title}\n\nMachine: {}. Load average (1 min): {load_start:.1} at the start, {load_end:.1} at the end \
         (other work on the machine shares its cores with the server and the clients).\n\
         Preset `{}`, {} repetitions per tool and case, tools alternating. Server: Garage on 127.0.0.1, \
         single node, compression off. Tools: {versions}.\n",
        machine::describe(),
        args.preset,
        scale.reps,
    );
    let mut md = format!(
        "# {header}\n## Summary\n\n{}\n## Every tool\n\n{}",
        report::summary_table(&rows),
        report::detail_table(&rows)
    );
    if !failures.is_empty() {
        md.push_str("\n## Failed scenarios\n\n");
        for f in &failures {
            md.push_str(&format!("- {}\n", f.lines().next().unwrap_or_default()));
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let stamp = format!("{}-{}", machine::stamp_utc(), args.preset);
    let svg = report::svg_chart(&rows, &title);
    for (name, text) in [
        (format!("{stamp}.md"), &md),
        (format!("{stamp}.svg"), &svg),
        ("latest.md".into(), &md),
        ("latest.svg".into(), &svg),
    ] {
        std::fs::write(args.out.join(name), text)?;
    }
    std::fs::write(args.out.join(format!("{stamp}.json")), serde_json::to_string_pretty(&rows)?)?;
    println!("{md}");
    eprintln!("[bench] results in {}", args.out.display());
    if args.readme {
        update_readme(&header, &report::summary_table(&rows))?;
    }
    if !failures.is_empty() {
        bail!("{} scenario(s) failed", failures.len());
    }
    let failed_cells: Vec<String> = rows
        .iter()
        .flat_map(|r| r.results.iter().map(move |t| (r, t)))
        .filter(|(_, t)| matches!(t.measured, report::Measured::Failed { .. }))
        .map(|(r, t)| format!("{} / {}", r.case, t.tool))
        .collect();
    if !failed_cells.is_empty() {
        bail!("some runs failed: {}", failed_cells.join(", "));
    }
    Ok(())
}

fn versions(tools: &tool::Tools) -> String {
    let first_line = |cmd: Option<std::process::Command>| -> Option<String> {
        let out = cmd?.output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        Some(text.lines().next()?.trim().to_string())
    };
    let mut v =
        vec![first_line(Some(tools.ours(&tools.scratch, &["--version"])))
            .unwrap_or_else(|| "bucketsync ?".into())];
    if let Some(s) = first_line(tools.s5cmd(&["version"])) {
        v.push(format!("s5cmd {s}"));
    }
    if let Some(r) = first_line(tools.rclone(&["version"])) {
        v.push(r);
    }
    v.join(", ")
}

/// Replaces the part of bench/README.md between the result markers.
fn update_readme(header: &str, table: &str) -> Result<()> {
    const BEGIN: &str = "<!-- latest results: begin -->";
    const END: &str = "<!-- latest results: end -->";
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let text = std::fs::read_to_string(&path)?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{} has no result markers", path.display());
    };
    let new = format!("{}{BEGIN}\n\n{header}\n{table}\n{}", &text[..b], &text[e..]);
    std::fs::write(&path, new)?;
    Ok(())
}
