//! Results: one row per case, every tool's runs in it, rendered as markdown
//! tables (a summary against the best peer, and every tool in detail) and an
//! SVG bar chart.

use crate::sample::Sample;
use crate::tool::requests_brief;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The name ours goes by in tables.
pub const OURS: &str = "bucketsync";

/// What was measured for one tool in one case.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Measured {
    /// Timed runs of one command; `requests` per run (ours only).
    Runs {
        samples: Vec<Sample>,
        requests: Vec<BTreeMap<String, u64>>,
    },
    /// Latencies in seconds (the daemon's), with the peak RSS and CPU of the
    /// daemon over the whole case.
    Latencies {
        seconds: Vec<f64>,
        failures: usize,
    },
    /// One figure with its unit (e.g. idle CPU in % of a core).
    Value {
        value: f64,
        unit: String,
    },
    Failed {
        error: String,
    },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ToolResult {
    pub tool: String,
    pub measured: Measured,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// The issue's scenario number ("1", "2", ...) or a name.
    pub scenario: String,
    pub case: String,
    /// Payload bytes per run, for throughput.
    pub bytes: Option<u64>,
    /// Ours first.
    pub results: Vec<ToolResult>,
    pub note: Option<String>,
    /// A peer whose ratio is shown too, when it is not the fastest (the
    /// no-op target is stated against rclone bisync).
    pub versus: Option<String>,
}

impl Row {
    pub fn new(scenario: &str, case: impl Into<String>) -> Row {
        Row {
            scenario: scenario.into(),
            case: case.into(),
            bytes: None,
            results: Vec::new(),
            note: None,
            versus: None,
        }
    }

    pub fn push(&mut self, tool: &str, measured: Measured) {
        self.results.push(ToolResult { tool: tool.into(), measured });
    }

    fn ours(&self) -> Option<&ToolResult> {
        self.results.iter().find(|r| r.tool == OURS)
    }

    /// The peer with the lowest median wall time.
    fn best_peer(&self) -> Option<(&ToolResult, Stats)> {
        self.results
            .iter()
            .filter(|r| r.tool != OURS)
            .filter_map(|r| Some((r, wall_stats(&r.measured)?)))
            .min_by(|a, b| a.1.median.total_cmp(&b.1.median))
    }
}

/// Median, min and max of some figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Stats { median, min: v[0], max: v[n - 1] })
    }
}

/// The `p`-th percentile (0..=100), nearest rank.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

fn wall_stats(m: &Measured) -> Option<Stats> {
    match m {
        Measured::Runs { samples, .. } => {
            Stats::of(&samples.iter().map(|s| s.wall.as_secs_f64()).collect::<Vec<_>>())
        }
        _ => None,
    }
}

fn cpu_median(samples: &[Sample]) -> f64 {
    Stats::of(&samples.iter().map(|s| s.cpu.as_secs_f64()).collect::<Vec<_>>()).map_or(0.0, |s| s.median)
}

fn rss_max_mib(samples: &[Sample]) -> f64 {
    samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0
}

fn secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0} s")
    } else if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.3} s")
    }
}

fn rate(bytes: Option<u64>, seconds: f64) -> String {
    match bytes {
        Some(b) if seconds > 0.0 => format!("{:.0} MB/s", b as f64 / seconds / 1e6),
        _ => String::new(),
    }
}

/// Requests of ours in a run-stable form: the median run's, or a range.
fn requests_cell(requests: &[BTreeMap<String, u64>]) -> String {
    let Some(first) = requests.first() else { return String::new() };
    if requests.iter().all(|r| r == first) {
        requests_brief(first)
    } else {
        let totals: Vec<u64> = requests.iter().map(|r| r.values().sum()).collect();
        format!(
            "{} ({}–{} in all)",
            requests_brief(&requests[requests.len() / 2]),
            totals.iter().min().unwrap_or(&0),
            totals.iter().max().unwrap_or(&0)
        )
    }
}

fn cell(row: &Row, r: &ToolResult) -> String {
    match &r.measured {
        Measured::Runs { samples, .. } => match wall_stats(&r.measured) {
            Some(s) => {
                let mut text = format!("{} ({}–{})", secs(s.median), secs(s.min), secs(s.max));
                let speed = rate(row.bytes, s.median);
                if !speed.is_empty() {
                    write!(text, ", {speed}").ok();
                }
                let _ = samples;
                text
            }
            None => "no runs".into(),
        },
        Measured::Latencies { seconds, failures } => {
            let p50 = percentile(seconds, 50.0).map_or("-".into(), secs);
            let p95 = percentile(seconds, 95.0).map_or("-".into(), secs);
            let failed = if *failures > 0 { format!(", {failures} never arrived") } else { String::new() };
            format!("p50 {p50} · p95 {p95} (n={}{failed})", seconds.len())
        }
        Measured::Value { value, unit } => format!("{value:.2} {unit}"),
        Measured::Failed { error } => format!("failed: {}", error.lines().next().unwrap_or("")),
    }
}

/// The summary: ours against the fastest peer, one line per case.
pub fn summary_table(rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str(
        "| # | case | bucketsync | best peer | speed-up (peer time / ours) | CPU s ours / peer | \
         peak RSS MiB ours / peer | S3 requests (ours, per run) |\n",
    );
    t.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for row in rows {
        let Some(ours) = row.ours() else { continue };
        let ours_cell = cell(row, ours);
        let (peer_cell, ratio, cpu, rss) = match (row.best_peer(), &ours.measured) {
            (Some((peer, ps)), Measured::Runs { samples, .. }) => {
                let Measured::Runs { samples: peer_samples, .. } = &peer.measured else { unreachable!() };
                let ratio = wall_stats(&ours.measured).map_or(String::new(), |o| {
                    let r = ps.median / o.median;
                    let mut text = if r >= 1.0 { format!("**{r:.2}**") } else { format!("{r:.2}") };
                    let other = row.versus.as_ref().filter(|v| **v != peer.tool);
                    if let Some((v, vs)) = other.and_then(|v| {
                        let r = row.results.iter().find(|t| t.tool == *v)?;
                        Some((v, wall_stats(&r.measured)?))
                    }) {
                        write!(text, " ({:.1} vs {v})", vs.median / o.median).ok();
                    }
                    text
                });
                (
                    format!("{} {}", peer.tool, cell(row, peer)),
                    ratio,
                    format!("{:.2} / {:.2}", cpu_median(samples), cpu_median(peer_samples)),
                    format!("{:.0} / {:.0}", rss_max_mib(samples), rss_max_mib(peer_samples)),
                )
            }
            (None, Measured::Runs { samples, .. }) => (
                "—".into(),
                String::new(),
                format!("{:.2}", cpu_median(samples)),
                format!("{:.0}", rss_max_mib(samples)),
            ),
            _ => ("—".into(), String::new(), String::new(), String::new()),
        };
        let requests = match &ours.measured {
            Measured::Runs { requests, .. } => requests_cell(requests),
            _ => String::new(),
        };
        let case = match &row.note {
            Some(n) => format!("{} ({n})", row.case),
            None => row.case.clone(),
        };
        writeln!(
            t,
            "| {} | {} | {ours_cell} | {peer_cell} | {ratio} | {cpu} | {rss} | {requests} |",
            row.scenario, case
        )
        .ok();
    }
    t
}

/// Every tool of every case.
pub fn detail_table(rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str(
        "| # | case | tool | wall: median (min–max) | CPU s (median) | peak RSS MiB (max) | S3 requests |\n",
    );
    t.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for row in rows {
        for r in &row.results {
            let (cpu, rss, requests) = match &r.measured {
                Measured::Runs { samples, requests } => (
                    format!("{:.2}", cpu_median(samples)),
                    format!("{:.1}", rss_max_mib(samples)),
                    requests_cell(requests),
                ),
                _ => Default::default(),
            };
            writeln!(
                t,
                "| {} | {} | {} | {} | {cpu} | {rss} | {requests} |",
                row.scenario,
                row.case,
                r.tool,
                cell(row, r)
            )
            .ok();
        }
    }
    t
}

/// A horizontal bar chart of median wall times (whiskers: min–max), each
/// case scaled to its slowest tool.
pub fn svg_chart(rows: &[Row], title: &str) -> String {
    const WIDTH: f64 = 960.0;
    const LABEL: f64 = 330.0;
    const BAR_AREA: f64 = 500.0;
    const BAR: f64 = 14.0;
    let charted: Vec<&Row> = rows
        .iter()
        .filter(|r| r.results.iter().filter(|t| wall_stats(&t.measured).is_some()).count() >= 1)
        .collect();
    let bars: usize =
        charted.iter().map(|r| r.results.iter().filter(|t| wall_stats(&t.measured).is_some()).count()).sum();
    let height = 50.0 + charted.len() as f64 * 26.0 + bars as f64 * (BAR + 4.0) + 20.0;
    let mut s = String::new();
    writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    )
    .ok();
    writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#).ok();
    writeln!(s, r#"<text x="10" y="24" font-size="15" font-weight="bold">{}</text>"#, escape(title)).ok();
    let mut y = 50.0;
    for row in charted {
        writeln!(
            s,
            r#"<text x="10" y="{:.0}" font-weight="bold">{}. {}</text>"#,
            y + 12.0,
            escape(&row.scenario),
            escape(&row.case)
        )
        .ok();
        y += 22.0;
        let timed: Vec<(&ToolResult, Stats)> =
            row.results.iter().filter_map(|t| Some((t, wall_stats(&t.measured)?))).collect();
        let scale = timed.iter().map(|(_, st)| st.max).fold(0.0, f64::max).max(1e-9);
        for (tool, st) in timed {
            let color = if tool.tool == OURS { "#2b6cb0" } else { "#a0aec0" };
            let w = st.median / scale * BAR_AREA;
            writeln!(
                s,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
                LABEL - 8.0,
                y + BAR - 3.0,
                escape(&tool.tool)
            )
            .ok();
            writeln!(s, r#"<rect x="{LABEL}" y="{y:.0}" width="{w:.1}" height="{BAR}" fill="{color}"/>"#)
                .ok();
            let (x0, x1) = (LABEL + st.min / scale * BAR_AREA, LABEL + st.max / scale * BAR_AREA);
            let mid = y + BAR / 2.0;
            writeln!(s, r#"<line x1="{x0:.1}" y1="{mid:.1}" x2="{x1:.1}" y2="{mid:.1}" stroke="black"/>"#)
                .ok();
            writeln!(
                s,
                r#"<text x="{:.0}" y="{:.0}">{}</text>"#,
                x1.max(LABEL + w) + 6.0,
                y + BAR - 3.0,
                secs(st.median)
            )
            .ok();
            y += BAR + 4.0;
        }
        y += 4.0;
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runs(secs: &[f64]) -> Measured {
        Measured::Runs {
            samples: secs
                .iter()
                .map(|s| Sample {
                    wall: Duration::from_secs_f64(*s),
                    cpu: Duration::from_secs(1),
                    max_rss_kib: 2048,
                })
                .collect(),
            requests: vec![[("ListObjectsV2".to_string(), 1)].into(); secs.len()],
        }
    }

    #[test]
    fn stats_and_percentiles() {
        assert_eq!(Stats::of(&[3.0, 1.0, 2.0]), Some(Stats { median: 2.0, min: 1.0, max: 3.0 }));
        assert_eq!(Stats::of(&[4.0, 1.0]).unwrap().median, 2.5);
        assert_eq!(Stats::of(&[]), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
    }

    #[test]
    fn summary_compares_ours_with_the_fastest_peer() {
        let mut row = Row::new("1", "1 GiB up");
        row.bytes = Some(1_000_000_000);
        row.push(OURS, runs(&[2.0, 1.0, 3.0]));
        row.push("s5cmd cp", runs(&[4.0, 4.0, 4.0]));
        row.push("rclone copy", runs(&[8.0, 8.0, 8.0]));
        let t = summary_table(&[row.clone()]);
        assert!(t.contains("2.00 s (1.00 s–3.00 s), 500 MB/s"), "{t}");
        assert!(t.contains("s5cmd cp 4.00 s"), "{t}");
        assert!(t.contains("**2.00**"), "{t}");
        assert!(t.contains("LIST 1"), "{t}");
        let d = detail_table(&[row.clone()]);
        assert_eq!(d.lines().count(), 2 + 3);
        let svg = svg_chart(&[row], "t");
        assert!(svg.starts_with("<svg") && svg.contains("rclone copy"));
    }
}
