//! The scenarios, what they share ([`Bench`]), and how contenders take turns.
//!
//! A scenario is one file under `scenario/` implementing [`Scenario`], listed
//! once in [`all`]. Each produces rows (cases); within a case every tool runs
//! the same work on the same server, alternating, `reps` times each.

mod bandwidth;
mod daemon;
mod large_file;
mod medium_files;
mod noop;
mod small_files;
mod transfer;

use crate::report::{Measured, Row};
use crate::sample::Sample;
use crate::tool::Tools;
use anyhow::{Context, Result};
use bucketsync_remote::{Remote, S3Remote};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// How big the work is. [`Scale::preset`] gives the named sizes; flags
/// override single fields.
#[derive(Clone, Debug)]
pub struct Scale {
    pub reps: usize,
    /// Scenario 1's file size.
    pub large: u64,
    /// Scenario 5's further sizes (peak RSS and CPU of one big file).
    pub large_more: Vec<u64>,
    pub small_count: usize,
    pub small_size: u64,
    /// Scenario 5's files just under the multipart threshold (single PUTs
    /// read into memory): how many, and their size.
    pub medium_count: usize,
    pub medium_size: u64,
    /// Scenario 3: file counts of the no-op passes.
    pub noop_counts: Vec<usize>,
    /// Scenario 4: file counts of the daemon's pair.
    pub daemon_counts: Vec<usize>,
    /// Changes per direction in scenario 4.
    pub daemon_changes: usize,
    /// The daemon's poll interval while latencies are measured.
    pub poll_seconds: f64,
    /// How long the idle daemon (default 60 s poll) is watched.
    pub idle_seconds: u64,
    /// The bandwidth limit's file and the limit (MiB/s) it is sent at.
    pub bwlimit_size: u64,
    pub bwlimit_mib_s: u64,
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

impl Scale {
    pub fn preset(name: &str) -> Option<Scale> {
        Some(match name {
            // Seconds, for CI: every code path once, nothing measured seriously.
            "smoke" => Scale {
                reps: 1,
                large: 20 * MIB,
                large_more: vec![],
                small_count: 20,
                small_size: 64 * 1024,
                medium_count: 4,
                medium_size: 15 * MIB,
                noop_counts: vec![50],
                daemon_counts: vec![50],
                daemon_changes: 1,
                poll_seconds: 1.0,
                idle_seconds: 2,
                bwlimit_size: 8 * MIB,
                bwlimit_mib_s: 4,
            },
            "quick" => Scale {
                reps: 3,
                large: 100 * MIB,
                large_more: vec![],
                small_count: 200,
                small_size: 64 * 1024,
                medium_count: 16,
                medium_size: 15 * MIB,
                noop_counts: vec![1_000],
                daemon_counts: vec![1_000],
                daemon_changes: 10,
                poll_seconds: 5.0,
                idle_seconds: 20,
                bwlimit_size: 100 * MIB,
                bwlimit_mib_s: 20,
            },
            // The sizes, except the 100,000-file and 4 GiB cases.
            "standard" => Scale {
                reps: 3,
                large: GIB,
                large_more: vec![100 * MIB],
                small_count: 1_000,
                small_size: 64 * 1024,
                medium_count: 32,
                medium_size: 15 * MIB,
                noop_counts: vec![1_000, 10_000],
                daemon_counts: vec![10_000],
                daemon_changes: 50,
                poll_seconds: 5.0,
                idle_seconds: 60,
                bwlimit_size: 256 * MIB,
                bwlimit_mib_s: 20,
            },
            "full" => Scale {
                reps: 3,
                large: GIB,
                large_more: vec![100 * MIB, 4 * GIB],
                small_count: 1_000,
                small_size: 64 * 1024,
                medium_count: 32,
                medium_size: 15 * MIB,
                noop_counts: vec![1_000, 10_000, 100_000],
                daemon_counts: vec![10_000, 100_000],
                daemon_changes: 50,
                poll_seconds: 5.0,
                idle_seconds: 120,
                bwlimit_size: GIB,
                bwlimit_mib_s: 40,
            },
            _ => return None,
        })
    }
}

/// What every scenario works with.
pub struct Bench {
    pub tools: Tools,
    /// For checks and for playing "another tool" in the daemon scenario;
    /// its requests are not ours (they are counted in this process, not in
    /// the `bucketsync` child).
    pub remote: S3Remote,
    pub rt: tokio::runtime::Runtime,
    pub scale: Scale,
    /// Where data folders live.
    pub data: PathBuf,
}

impl Bench {
    /// (objects, bytes) under `prefix`.
    pub fn tally_remote(&self, prefix: &str) -> Result<(u64, u64)> {
        self.rt.block_on(async {
            let (mut n, mut bytes, mut token) = (0, 0, None);
            loop {
                let page = self.remote.list_page(prefix, token).await?;
                n += page.objects.len() as u64;
                bytes += page.objects.iter().map(|o| o.size).sum::<u64>();
                match page.continuation {
                    Some(t) => token = Some(t),
                    None => return Ok((n, bytes)),
                }
            }
        })
    }

    /// Deletes everything under `prefix` (untimed clean-up between runs).
    pub fn delete_remote(&self, prefix: &str) -> Result<()> {
        self.rt.block_on(async {
            loop {
                let page = self.remote.list_page(prefix, None).await?;
                let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
                if keys.is_empty() {
                    return Ok(());
                }
                let refused = self.remote.delete_batch(&keys).await?;
                anyhow::ensure!(refused.is_empty(), "the server refused deletes: {refused:?}");
            }
        })
    }

    /// Checks that `prefix` holds exactly `objects` objects of `bytes` in all.
    pub fn expect_remote(&self, prefix: &str, objects: u64, bytes: u64) -> Result<()> {
        let got = self.tally_remote(prefix)?;
        anyhow::ensure!(
            got == (objects, bytes),
            "{prefix}: expected {objects} objects of {bytes} B, found {got:?}"
        );
        Ok(())
    }

    pub fn say(&self, what: impl AsRef<str>) {
        eprintln!("[bench {}] {}", crate::machine::now_utc(), what.as_ref());
    }
}

/// A number no other run of this process used (prefixes, stamps, names).
pub fn run_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// What a timed run returns: its sample and, for ours, the requests it sent.
pub type Timed = (Sample, Option<BTreeMap<String, u64>>);

/// One tool's part in a case: untimed preparation, the timed run, and an
/// untimed check and clean-up, each given the repetition number.
pub struct Contender<'a> {
    pub tool: String,
    pub before: Box<dyn FnMut(usize) -> Result<()> + 'a>,
    pub run: Box<dyn FnMut(usize) -> Result<Timed> + 'a>,
    pub after: Box<dyn FnMut(usize) -> Result<()> + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(
        tool: impl Into<String>,
        before: impl FnMut(usize) -> Result<()> + 'a,
        run: impl FnMut(usize) -> Result<Timed> + 'a,
        after: impl FnMut(usize) -> Result<()> + 'a,
    ) -> Contender<'a> {
        Contender { tool: tool.into(), before: Box::new(before), run: Box::new(run), after: Box::new(after) }
    }
}

/// Runs every contender `reps` times, taking turns (the order rotates each
/// round, so none always runs first on a cold or a warm server), and adds
/// their results to `row`. A contender that fails stops and reports why.
pub fn alternate(b: &Bench, row: &mut Row, mut contenders: Vec<Contender<'_>>) {
    let n = contenders.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); n];
    let mut requests: Vec<Vec<BTreeMap<String, u64>>> = vec![Vec::new(); n];
    let mut failed: Vec<Option<String>> = vec![None; n];
    for rep in 0..b.scale.reps {
        for k in 0..n {
            let i = (k + rep) % n;
            if failed[i].is_some() {
                continue;
            }
            let c = &mut contenders[i];
            let result = (|| -> Result<Timed> {
                (c.before)(rep).context("preparing")?;
                // Dirty pages of the previous run must not be flushed on this one's time.
                // SAFETY: sync(2) has no preconditions.
                unsafe { libc::sync() };
                let timed = (c.run)(rep)?;
                (c.after)(rep).context("checking the result")?;
                Ok(timed)
            })();
            match result {
                Ok((sample, reqs)) => {
                    b.say(format!("{} · {}: {:.3} s", row.case, c.tool, sample.wall.as_secs_f64()));
                    samples[i].push(sample);
                    if let Some(r) = reqs {
                        requests[i].push(r);
                    }
                }
                Err(e) => {
                    b.say(format!("{} · {} FAILED: {e:#}", row.case, c.tool));
                    failed[i] = Some(format!("{e:#}"));
                }
            }
        }
    }
    for (i, c) in contenders.iter().enumerate() {
        let measured = match failed[i].take() {
            Some(error) => Measured::Failed { error },
            None => Measured::Runs {
                samples: std::mem::take(&mut samples[i]),
                requests: std::mem::take(&mut requests[i]),
            },
        };
        row.push(&c.tool, measured);
    }
}

/// Times `bucketsync sync PAIR --json` and checks that the pass converged
/// and moved `expect_files` files (uploaded + downloaded).
pub fn ours_sync(
    b: &Bench,
    home: &std::path::Path,
    pair: &str,
    expect_files: usize,
    extra: &[&str],
) -> Result<Timed> {
    let mut args = vec!["sync", pair, "--json"];
    args.extend_from_slice(extra);
    let run = b.tools.measure_ours(home, &args, &[])?;
    let summary = run.output.as_ref().and_then(|o| o.get(0)).context("sync printed no summary")?;
    anyhow::ensure!(summary["converged"] == true, "the pass did not converge: {summary}");
    let moved = summary["uploaded"].as_array().map_or(0, Vec::len)
        + summary["downloaded"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        moved == expect_files,
        "expected {expect_files} files moved, the pass moved {moved}: {summary}"
    );
    Ok((run.sample, Some(run.requests)))
}

/// A part of the benchmark.
pub trait Scenario {
    /// Short name for `--only` (`large`, `small`, ...).
    fn name(&self) -> &'static str;
    fn run(&self, b: &Bench) -> Result<Vec<Row>>;
}

/// Every scenario, in the order they run. Add a new one here (one file
/// under `scenario/` each).
pub fn all() -> Vec<Box<dyn Scenario>> {
    vec![
        Box::new(large_file::LargeFile),
        Box::new(small_files::SmallFiles),
        Box::new(medium_files::MediumFiles),
        Box::new(noop::Noop),
        Box::new(daemon::Daemon),
        Box::new(bandwidth::BandwidthLimit),
    ]
}

/// "1 GiB", "100 MiB", "64 KiB".
pub fn size_name(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// "1,000"
pub fn count_name(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_sizes_and_counts() {
        assert_eq!(size_name(GIB), "1 GiB");
        assert_eq!(size_name(100 * MIB), "100 MiB");
        assert_eq!(size_name(64 * 1024), "64 KiB");
        assert_eq!(count_name(100_000), "100,000");
        assert_eq!(count_name(50), "50");
    }

    #[test]
    fn every_preset_exists_and_scenarios_have_unique_names() {
        for p in ["smoke", "quick", "standard", "full"] {
            assert!(Scale::preset(p).is_some(), "{p}");
        }
        let names: std::collections::BTreeSet<_> = all().iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), all().len());
    }
}
