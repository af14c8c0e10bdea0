//! One device for the fault suites: its own home (database, trash), its own
//! folder, a pair on a fresh bucket, reached through whatever `Remote` the
//! test passes (usually the real S3 client pointed at a fault proxy), and
//! another client writing straight into the bucket.

use bucketsync_engine::clock::SystemClock;
use bucketsync_engine::event::{EventSink, PairEvents, PairStatus};
use bucketsync_engine::pair::Mode;
use bucketsync_engine::pass::{run_pass, Pair, PassContext, PassError, PassOptions};
use bucketsync_engine::report::PassReport;
use bucketsync_engine::runner::{self, PairHandle, RunnerConfig};
use bucketsync_engine::transfer::{TransferLimits, Transfers};
use bucketsync_remote::{Addressing, Connection, Remote, S3Remote, Secret, Timeouts};
use bucketsync_store::{PairRow, PolicyRow, Store};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MIB: usize = 1024 * 1024;
pub const PREFIX: &str = "f/";

/// Short network timeouts, so a black hole is noticed within seconds.
pub const SHORT: Timeouts = Timeouts { connect: Duration::from_secs(2), idle: Duration::from_secs(3) };

/// A fresh bucket on the shared local Garage: the remote a device syncs
/// through (default timeouts), another client on the same bucket, and the
/// bucket's name.
pub fn garage(hint: &str) -> (Arc<dyn Remote>, Other, String) {
    on(bucketsync_testserver::S3Server::garage(), hint)
}

/// [`garage`] on moto: an S3 that, like AWS, keeps a multipart upload open
/// when another client writes its key (Garage drops it then).
pub fn moto(hint: &str) -> (Arc<dyn Remote>, Other, String) {
    on(bucketsync_testserver::S3Server::moto(), hint)
}

fn on(server: &bucketsync_testserver::S3Server, hint: &str) -> (Arc<dyn Remote>, Other, String) {
    let bucket = server.create_bucket(hint);
    let (region, id, secret) = (&server.region, &server.access_key_id, &server.secret_access_key);
    let t = Timeouts::default();
    let remote: Arc<dyn Remote> = s3(&server.endpoint, region, id, secret, &bucket, &t);
    (remote, Other(s3(&server.endpoint, region, id, secret, &bucket, &t)), bucket)
}

/// The real S3 client for `bucket` at `endpoint` with the main key.
pub fn s3(
    endpoint: &str,
    region: &str,
    key: &str,
    secret: &str,
    bucket: &str,
    t: &Timeouts,
) -> Arc<S3Remote> {
    Arc::new(S3Remote::with_timeouts(
        &Connection {
            endpoint: Some(endpoint.to_string()),
            region: region.to_string(),
            bucket: bucket.to_string(),
            addressing: Addressing::PathStyle,
            access_key_id: key.to_string(),
            secret: Secret::new(secret.to_string()),
            sdk_checksums: false,
        },
        t,
    ))
}

/// Multipart from 6 MiB in 5 MiB parts, three requests with a body at once.
pub fn small_limits() -> TransferLimits {
    TransferLimits {
        max_concurrent_parts: 3,
        min_part_size: 5 * MIB as u64,
        max_parts: 10_000,
        multipart_threshold: 6 * MIB as u64,
    }
}

pub struct Device {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub root: PathBuf,
    pub ctx: PassContext,
    /// Every status the pair reported, in order.
    pub statuses: Arc<Mutex<Vec<PairStatus>>>,
}

/// A device whose folder is `root` (made if missing; a temp folder when `None`).
pub fn device(remote: Arc<dyn Remote>, bucket: &str, root: Option<PathBuf>) -> Device {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let root = root.unwrap_or_else(|| tmp.path().join("folder"));
    std::fs::create_dir_all(&root).unwrap();
    let mut store = Store::open(&home).unwrap();
    let policy_id = store
        .insert_policy(&PolicyRow {
            id: 0,
            name: "p".into(),
            provider: "garage".into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "garage".into(),
            bucket: bucket.into(),
            addressing: "path-style".into(),
            public: false,
            cdn_url: None,
            account_id: None,
            access_key_id: "unused".into(),
            secret_source: "env:UNUSED".into(),
            created_ms: 0,
            updated_ms: 0,
            conditional_writes: "unknown".into(),
        })
        .unwrap();
    let pair_id = store
        .insert_pair(&PairRow {
            id: 0,
            name: "docs".into(),
            policy_id,
            local_root: root.display().to_string(),
            prefix: PREFIX.into(),
            mode: Mode::TwoWay.as_str().into(),
            paused: false,
            max_delete_percent: 50,
            bucket: bucket.into(),
            created_ms: 0,
        })
        .unwrap();
    let store = Arc::new(Mutex::new(store));
    let clock: Arc<dyn bucketsync_engine::clock::Clock> = Arc::new(SystemClock);
    let transfers = Transfers::new(
        remote.clone(),
        store.clone(),
        small_limits(),
        Arc::new(tokio::sync::Semaphore::new(3)),
        clock.clone(),
    )
    .with_retry_delays(Duration::from_millis(50), Duration::from_millis(400), 3);
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let seen = statuses.clone();
    let sink = EventSink::new(move |e| {
        if let bucketsync_engine::event::EventKind::Status { status } = &e.kind {
            seen.lock().unwrap().push(status.clone());
        }
    });
    let ctx = PassContext {
        pair: Pair {
            id: pair_id,
            name: "docs".into(),
            root: root.clone(),
            prefix: PREFIX.into(),
            mode: Mode::TwoWay,
            max_delete_percent: 50,
            bucket: bucket.into(),
        },
        remote,
        bucket_in_use: bucket.into(),
        transfers,
        store,
        trash_dir: home.join("trash/docs"),
        trash_keep_days: bucketsync_engine::trash::DEFAULT_KEEP_DAYS,
        clock,
        device: "laptop".into(),
        quiet_ms: 0,
        events: PairEvents { pair_id, pair: "docs".into(), sink },
    };
    Device { tmp, home, root, ctx, statuses }
}

impl Device {
    pub async fn pass(&self) -> Result<PassReport, PassError> {
        run_pass(&self.ctx, PassOptions { sweep_orphan_uploads: true, ..Default::default() }).await
    }

    /// A pass that must succeed without action errors.
    pub async fn sync(&self) -> PassReport {
        let r = self.pass().await.unwrap_or_else(|e| panic!("pass failed: {e}"));
        assert!(r.errors.is_empty(), "errors: {:?}", r.errors);
        r
    }

    /// A pass after convergence moves nothing.
    pub async fn assert_quiet(&self) {
        let r = self.sync().await;
        assert!(!r.changed_anything() && r.adopted.is_empty() && r.converged(), "not quiet: {r:?}");
    }

    /// Starts the pair's runner: no polling of its own during a test, quick retries.
    pub fn spawn(&self, retry_after: Duration) -> PairHandle {
        let config = RunnerConfig {
            poll_interval: Duration::from_secs(3600),
            debounce: Duration::from_millis(200),
            quiet: Duration::ZERO,
            retry_after,
            settle_removes: Duration::from_millis(200),
            full_pass_every_polls: 10,
        };
        runner::spawn(self.ctx.clone(), config, false)
    }

    pub fn last_status(&self) -> Option<PairStatus> {
        self.statuses.lock().unwrap().last().cloned()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(rel)).ok()
    }

    /// Every file below the root (temp files included), relative, sorted.
    pub fn files(&self) -> Vec<String> {
        files_below(&self.root)
    }

    /// (relative path, SHA-256) of every file below the root.
    pub fn contents(&self) -> Vec<(String, String)> {
        self.files()
            .into_iter()
            .map(|f| (f.clone(), sha(&std::fs::read(self.root.join(&f)).unwrap())))
            .collect()
    }
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

pub fn sha(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Pseudo-random bytes from a seed (no two test files alike, reproducible).
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

/// Another client writing straight into the bucket (never through the proxy).
pub struct Other(pub Arc<S3Remote>);

impl Other {
    pub async fn put(&self, rel: &str, content: impl Into<Bytes>) {
        self.0.put_bytes(&format!("{PREFIX}{rel}"), content.into(), &[]).await.unwrap();
    }

    pub async fn get(&self, rel: &str) -> Option<Vec<u8>> {
        let key = format!("{PREFIX}{rel}");
        let meta = self.0.head(&key).await.ok()?;
        Some(self.0.get_range(&key, 0..meta.size).await.unwrap().to_vec())
    }

    /// (relative key, ETag) of every object under the prefix, sorted.
    pub async fn listing(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            // A cluster node that just came back (tests/cluster.rs) may
            // answer "no quorum" for a moment: the check retries, the
            // engine under test gets no such help.
            let mut tries = 0;
            let page = loop {
                match self.0.list_page(PREFIX, token.clone()).await {
                    Ok(page) => break page,
                    Err(e) if tries < 60 && e.kind.retryable() => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                    Err(e) => panic!("listing the bucket to check it: {e:?}"),
                }
            };
            out.extend(page.objects.into_iter().map(|o| (o.key[PREFIX.len()..].to_string(), o.etag)));
            match page.continuation {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort();
        out
    }

    pub async fn keys(&self) -> Vec<String> {
        self.listing().await.into_iter().map(|(k, _)| k).collect()
    }

    /// (relative key, SHA-256 of the content) of every object under the prefix.
    pub async fn contents(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for k in self.keys().await {
            out.push((k.clone(), sha(&self.get(&k).await.unwrap())));
        }
        out
    }
}

/// Waits until `status` satisfies `f`, or panics after `within`.
pub async fn wait_for_status(
    handle: &PairHandle,
    within: Duration,
    what: &str,
    f: impl Fn(&PairStatus) -> bool,
) -> PairStatus {
    let mut rx = handle.watch_status();
    let found = tokio::time::timeout(within, async {
        loop {
            let now = rx.borrow_and_update().clone();
            if f(&now) {
                return now;
            }
            if rx.changed().await.is_err() {
                panic!("the runner stopped while waiting for {what}");
            }
        }
    })
    .await;
    match found {
        Ok(s) => s,
        Err(_) => panic!("no status {what} within {within:?}; last: {:?}", handle.status()),
    }
}
