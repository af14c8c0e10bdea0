//! What machine a run was on and how busy it was: ratios from a loaded
//! 2-core machine mean something only next to its load.

/// e.g. "AMD EPYC, 2 cores, 23.4 GiB, Linux 6.1.0"
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, {:.1} GiB, Linux {}", mem_kib as f64 / 1048576.0, kernel.trim())
}

/// The 1-minute load average.
pub fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Now, UTC, as `2025-01-31 23:59 UTC`.
pub fn now_utc() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}

/// Now, UTC, for file names: `20250131-2359`.
pub fn stamp_utc() -> String {
    let f = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn describes_this_machine() {
        let d = super::describe();
        assert!(d.contains("cores") && d.contains("Linux"), "{d}");
        assert!(super::load() >= 0.0);
        assert!(super::now_utc().ends_with("UTC"));
    }
}
