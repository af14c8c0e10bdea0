//! One measured run of one command: wall time, client CPU and peak RSS of the
//! child (and whatever it waited for), read from `wait4`'s rusage.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one run cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Sample {
    pub wall: Duration,
    /// User + system CPU time of the child process tree.
    pub cpu: Duration,
    pub max_rss_kib: u64,
}

/// What `wait4` said about a child.
pub struct Exit {
    pub status: i32,
    pub cpu: Duration,
    pub max_rss_kib: u64,
}

impl Exit {
    pub fn success(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }
}

/// Runs `cmd` to completion with stdout and stderr going to `log`, and fails
/// (quoting the end of the log) unless it exits with 0.
pub fn measure(cmd: &mut Command, log: &Path) -> Result<Sample> {
    let out = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let started = Instant::now();
    let child = cmd.spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    let exit = wait(child)?;
    let wall = started.elapsed();
    if !exit.success() {
        bail!("{cmd:?} failed ({}):\n{}", describe(exit.status), tail(log, 30));
    }
    Ok(Sample { wall, cpu: exit.cpu, max_rss_kib: exit.max_rss_kib })
}

/// Reaps `child` with `wait4`, which reports its resource usage (std's
/// `wait` does not). The `Child` must not be waited for elsewhere.
pub fn wait(child: Child) -> Result<Exit> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data, filled in by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child; status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait4");
        }
    }
    // The child is reaped: dropping the handle must not touch it again.
    std::mem::forget(child);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Exit { status, cpu: tv(usage.ru_utime) + tv(usage.ru_stime), max_rss_kib: usage.ru_maxrss as u64 })
}

fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    }
}

/// The last `lines` lines of a log, for error messages.
pub fn tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// CPU time a running process has used so far (`/proc/PID/stat`).
pub fn cpu_so_far(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("unreadable /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let ticks: u64 =
        fields.get(11).context("utime")?.parse::<u64>()? + fields.get(12).context("stime")?.parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_measured_and_a_failure_quotes_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let s = measure(
            Command::new("sh").args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]),
            &log,
        )
        .unwrap();
        assert!(s.cpu > Duration::ZERO && s.max_rss_kib > 0, "{s:?}");
        let e =
            measure(Command::new("sh").args(["-c", "echo broken; exit 3"]), &log).unwrap_err().to_string();
        assert!(e.contains("exit code 3") && e.contains("broken"), "{e}");
    }

    #[test]
    fn cpu_of_a_running_process_is_readable() {
        assert!(cpu_so_far(std::process::id()).is_ok());
    }
}
