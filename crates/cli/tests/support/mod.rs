//! Shared by the CLI's fault suites: running the built `bucketsync` binary
//! in a temp home, and another client that looks straight into the bucket.
// Each test binary uses a different part of this.
#![allow(dead_code)]

use bucketsync_remote::{Addressing, Connection, Remote, S3Remote, Secret};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const MIB: usize = 1024 * 1024;

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The `--json` document on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// The binary with one home and the environment its secrets come from.
pub struct Cli {
    pub home: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Cli {
    pub fn new(home: &Path) -> Cli {
        Cli { home: home.to_path_buf(), env: Vec::new() }
    }

    pub fn with_env(mut self, name: &str, value: &str) -> Cli {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bucketsync"));
        c.arg("--home").arg(&self.home).args(args).stdin(Stdio::null());
        c.env_remove("BUCKETSYNC_HOME");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(self.cmd(args).output().expect("run bucketsync"))
    }

    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "{args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    /// `policy add NAME` for a Garage-like endpoint, the secret read from env `secret_env`.
    pub fn add_policy(&self, name: &str, endpoint: &str, bucket: &str, key_id: &str, secret_env: &str) {
        self.ok(&[
            "policy",
            "add",
            name,
            "--provider",
            "garage",
            "--endpoint",
            endpoint,
            "--region",
            "garage",
            "--bucket",
            bucket,
            "--access-key-id",
            key_id,
            "--secret-source",
            &format!("env:{secret_env}"),
        ]);
    }

    /// `pair add DIR --policy POLICY --prefix PREFIX --name docs`.
    pub fn add_pair(&self, folder: &Path, policy: &str, prefix: &str) {
        self.ok(&[
            "pair",
            "add",
            folder.to_str().unwrap(),
            "--policy",
            policy,
            "--prefix",
            prefix,
            "--name",
            "docs",
        ]);
    }
}

/// Another client with the server's main key, straight to the server.
pub struct Bucket {
    rt: tokio::runtime::Runtime,
    s3: S3Remote,
}

impl Bucket {
    pub fn new(endpoint: &str, key_id: &str, secret: &str, bucket: &str) -> Bucket {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let s3 = S3Remote::new(&Connection {
            endpoint: Some(endpoint.into()),
            region: "garage".into(),
            bucket: bucket.into(),
            addressing: Addressing::PathStyle,
            access_key_id: key_id.into(),
            secret: Secret::new(secret),
            sdk_checksums: false,
        });
        Bucket { rt, s3 }
    }

    pub fn put(&self, key: &str, body: impl Into<Bytes>) {
        self.rt.block_on(self.s3.put_bytes(key, body.into(), &[])).unwrap();
    }

    pub fn delete(&self, key: &str) {
        let refused = self.rt.block_on(self.s3.delete_batch(&[key.to_string()])).unwrap();
        assert!(refused.is_empty(), "delete {key} refused: {refused:?}");
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            let meta = self.s3.head(key).await.ok()?;
            Some(self.s3.get_range(key, 0..meta.size).await.unwrap().to_vec())
        })
    }

    /// (key, ETag) of every object under `prefix`, sorted.
    pub fn listing(&self, prefix: &str) -> Vec<(String, String)> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut token = None;
            loop {
                let page = self.s3.list_page(prefix, token).await.unwrap();
                out.extend(page.objects.into_iter().map(|o| (o.key, o.etag)));
                match page.continuation {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            out.sort();
            out
        })
    }

    /// (key, SHA-256 of the content) of every object under `prefix`.
    pub fn contents(&self, prefix: &str) -> Vec<(String, String)> {
        self.listing(prefix).into_iter().map(|(k, _)| (k.clone(), sha(&self.get(&k).unwrap()))).collect()
    }
}

pub fn sha(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Pseudo-random bytes from a seed.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), base, out);
            } else {
                out.push(e.path().strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// (relative path, SHA-256) of every file below `dir`.
pub fn local_contents(dir: &Path) -> Vec<(String, String)> {
    files_below(dir).into_iter().map(|f| (f.clone(), sha(&std::fs::read(dir.join(&f)).unwrap()))).collect()
}
