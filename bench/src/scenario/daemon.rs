//! Scenarios 4 and 5 (daemon part): `bucketsync daemon` on a two-way pair of
//! N files. Latency from a local file's close to its object being visible,
//! and from an object written by another client (this process, over S3) to
//! the local file; then the daemon's peak RSS, and its CPU while idle with
//! the default 60 s poll.

use super::{count_name, ours_sync, run_id, Bench, Scenario};
use crate::fixture;
use crate::report::{Measured, Row, OURS};
use crate::sample::{cpu_so_far, wait, Exit};
use anyhow::{bail, Context, Result};
use bucketsync_remote::Remote;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon;

const PAIR: &str = "live";
/// How often the bench looks for the change to arrive.
const LOOK_EVERY: Duration = Duration::from_millis(20);
/// Content of every changed file.
const BODY: &[u8] = b"a change made by the benchmark, 64 bytes long, to be synced....\n";

impl Scenario for Daemon {
    fn name(&self) -> &'static str {
        "daemon"
    }

    fn run(&self, b: &Bench) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for n in b.scale.daemon_counts.clone() {
            rows.extend(one_count(b, n)?);
        }
        Ok(rows)
    }
}

fn one_count(b: &Bench, n: usize) -> Result<Vec<Row>> {
    let t = &b.tools;
    let case = run_id();
    let tag = format!("daemon-{case}");
    let dir = b.data.join(&tag);
    fixture::fresh_dir(&dir)?;
    b.say(format!("daemon {n}: writing {n} files and syncing them"));
    fixture::tree(&dir, n, 1024, case)?;
    std::fs::create_dir_all(dir.join("changes"))?;
    let home = t.ours_home(&tag)?;
    let prefix = format!("{tag}/");
    t.ours_pair(&home, PAIR, &dir, &prefix, "two-way")?;
    ours_sync(b, &home, PAIR, n, &[])?;

    let poll = b.scale.poll_seconds;
    let changes = b.scale.daemon_changes;
    let load = format!("load {:.1}", crate::machine::load());
    let daemon = start(b, &home, Some(poll))?;
    wait_idle(&home, Duration::from_secs(1800))?;

    b.say(format!("daemon {n}: {changes} local changes"));
    let mut local = (Vec::new(), 0);
    for k in 0..changes {
        let rel = format!("changes/local-{k}.txt");
        std::fs::write(dir.join(&rel), BODY)?; // written and closed
        let t0 = Instant::now();
        let key = format!("{prefix}{rel}");
        match arrive(Duration::from_secs(120), || Ok(b.rt.block_on(b.remote.head(&key)).is_ok()))? {
            true => local.0.push(t0.elapsed().as_secs_f64()),
            false => local.1 += 1,
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    b.say(format!("daemon {n}: {changes} remote changes"));
    let mut remote = (Vec::new(), 0);
    for k in 0..changes {
        let rel = format!("changes/remote-{k}.txt");
        let key = format!("{prefix}{rel}");
        b.rt.block_on(b.remote.put_bytes(&key, bytes::Bytes::from_static(BODY), &[]))?;
        let t0 = Instant::now();
        let path = dir.join(&rel);
        let deadline = Duration::from_secs_f64(poll * 2.0 + 60.0);
        match arrive(deadline, || Ok(std::fs::metadata(&path).is_ok_and(|m| m.len() == BODY.len() as u64)))? {
            true => remote.0.push(t0.elapsed().as_secs_f64()),
            false => remote.1 += 1,
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let busy = stop(daemon)?;

    let mut rows = Vec::new();
    let mut row = Row::new("4", format!("daemon: local change → in the bucket, {} files", count_name(n)));
    row.note = Some(load.clone());
    row.push(OURS, Measured::Latencies { seconds: local.0, failures: local.1 });
    rows.push(row);
    let mut row = Row::new(
        "4",
        format!("daemon: another tool's upload → local file, {} files, {poll} s poll", count_name(n)),
    );
    row.note = Some(load.clone());
    row.push(OURS, Measured::Latencies { seconds: remote.0, failures: remote.1 });
    rows.push(row);
    let mut row = Row::new("5", format!("daemon peak RSS, {} files (whole run)", count_name(n)));
    row.push(OURS, Measured::Value { value: busy.max_rss_kib as f64 / 1024.0, unit: "MiB".into() });
    rows.push(row);

    b.say(format!("daemon {n}: idle CPU over {} s", b.scale.idle_seconds));
    let idle = start(b, &home, None)?;
    wait_idle(&home, Duration::from_secs(1800))?;
    let before = cpu_so_far(idle.id())?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(b.scale.idle_seconds));
    let used = cpu_so_far(idle.id())? - before;
    let share = used.as_secs_f64() / started.elapsed().as_secs_f64() * 100.0;
    stop(idle)?;
    let mut row = Row::new(
        "5",
        format!("daemon idle CPU, {} files, 60 s poll, {} s watched", count_name(n), b.scale.idle_seconds),
    );
    row.note = Some(format!("load {:.1}", crate::machine::load()));
    row.push(OURS, Measured::Value { value: share, unit: "% of a core".into() });
    rows.push(row);

    b.delete_remote(&prefix)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(rows)
}

/// Starts `bucketsync daemon`; `poll` overrides its poll interval.
fn start(b: &Bench, home: &Path, poll: Option<f64>) -> Result<Child> {
    let _ = std::fs::remove_file(status_file(home));
    let log = std::fs::File::create(b.tools.log("daemon"))?;
    let mut cmd = b.tools.ours(home, &["daemon"]);
    if let Some(p) = poll {
        cmd.env("BUCKETSYNC_POLL_SECONDS", p.to_string());
    }
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    cmd.spawn().context("cannot start the daemon")
}

/// SIGTERM, and SIGKILL if it does not end within 60 s.
fn stop(child: Child) -> Result<Exit> {
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our live child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: the child is not reaped yet (wait4 below has not returned).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let exit = wait(child);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = killer.join();
    let exit = exit?;
    if !exit.success() {
        bail!("the daemon did not stop cleanly (status {})", exit.status);
    }
    Ok(exit)
}

fn status_file(home: &Path) -> PathBuf {
    home.join("engine-status.json")
}

/// Waits until the daemon reports the pair idle after a converged pass.
fn wait_idle(home: &Path, timeout: Duration) -> Result<()> {
    let ok = arrive(timeout, || {
        let Ok(text) = std::fs::read_to_string(status_file(home)) else { return Ok(false) };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else { return Ok(false) };
        let s = &doc["pairs"][PAIR];
        Ok(s["state"] == "idle" && s["last_sync_ms"].is_i64())
    })?;
    anyhow::ensure!(ok, "the daemon did not finish its first pass within {timeout:?}");
    Ok(())
}

/// Looks every [`LOOK_EVERY`] until `seen` says yes (true) or `timeout` passes (false).
fn arrive(timeout: Duration, mut seen: impl FnMut() -> Result<bool>) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if seen()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(LOOK_EVERY);
    }
}
