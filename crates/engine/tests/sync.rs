//! Sync scenarios against real S3 servers (Garage; moto for hostile keys),
//! each ending with a pass that transfers nothing. "Another client" writes
//! straight into the bucket through its own S3 client.

mod support;

use bucketsync_engine::clock::SystemClock;
use bucketsync_engine::event::EventSink;
use bucketsync_engine::event::PairEvents;
use bucketsync_engine::guard::NeedsConfirmation;
use bucketsync_engine::keypath::Reason;
use bucketsync_engine::pair::Mode;
use bucketsync_engine::pass::{run_pass, Confirm, Pair, PassContext, PassError, PassOptions};
use bucketsync_engine::report::PassReport;
use bucketsync_engine::transfer::{TransferLimits, Transfers};
use bucketsync_remote::{Addressing, Connection, Remote, S3Remote, Secret};
use bucketsync_store::{PairRow, PolicyRow, Store};
use bucketsync_testserver::S3Server;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use support::Hooked;

const MIB: usize = 1024 * 1024;

fn s3(server: &S3Server, bucket: &str) -> Arc<S3Remote> {
    Arc::new(S3Remote::new(&Connection {
        endpoint: Some(server.endpoint.clone()),
        region: server.region.clone(),
        bucket: bucket.to_string(),
        addressing: Addressing::PathStyle,
        access_key_id: server.access_key_id.clone(),
        secret: Secret::new(server.secret_access_key.clone()),
        sdk_checksums: false,
    }))
}

/// One device: its own home (database, trash) and its own folder.
struct Device {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    trash: PathBuf,
    ctx: PassContext,
}

const PREFIX: &str = "team/docs/";

fn device(server: &S3Server, bucket: &str, name: &str, mode: Mode) -> Device {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let root = tmp.path().join("folder");
    std::fs::create_dir_all(&root).unwrap();
    let mut store = Store::open(&home).unwrap();
    let policy_id = store
        .insert_policy(&PolicyRow {
            id: 0,
            name: "p".into(),
            provider: "garage".into(),
            endpoint: Some(server.endpoint.clone()),
            region: server.region.clone(),
            bucket: bucket.into(),
            addressing: "path-style".into(),
            public: false,
            cdn_url: None,
            account_id: None,
            access_key_id: server.access_key_id.clone(),
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
            mode: mode.as_str().into(),
            paused: false,
            max_delete_percent: 50,
            bucket: bucket.into(),
            created_ms: 0,
        })
        .unwrap();
    let store = Arc::new(Mutex::new(store));
    let remote: Arc<dyn Remote> = s3(server, bucket);
    let limits = TransferLimits {
        max_concurrent_parts: 3,
        min_part_size: 5 * MIB as u64,
        max_parts: 10_000,
        multipart_threshold: 6 * MIB as u64,
    };
    let clock: Arc<dyn bucketsync_engine::clock::Clock> = Arc::new(SystemClock);
    let transfers = Transfers::new(
        remote.clone(),
        store.clone(),
        limits,
        Arc::new(tokio::sync::Semaphore::new(3)),
        clock.clone(),
    );
    let trash = home.join("trash/docs");
    let ctx = PassContext {
        pair: Pair {
            id: pair_id,
            name: "docs".into(),
            root: root.clone(),
            prefix: PREFIX.into(),
            mode,
            max_delete_percent: 50,
            bucket: bucket.into(),
        },
        remote,
        bucket_in_use: bucket.into(),
        transfers,
        store,
        trash_dir: trash.clone(),
        trash_keep_days: bucketsync_engine::trash::DEFAULT_KEEP_DAYS,
        clock,
        device: name.into(),
        quiet_ms: 0,
        events: PairEvents { pair_id, pair: "docs".into(), sink: EventSink::none() },
    };
    Device { _tmp: tmp, root, trash, ctx }
}

impl Device {
    async fn sync(&self) -> PassReport {
        let r =
            self.try_sync(PassOptions { sweep_orphan_uploads: true, ..Default::default() }).await.unwrap();
        assert!(r.errors.is_empty(), "errors: {:?}", r.errors);
        r
    }

    async fn try_sync(&self, opts: PassOptions) -> Result<PassReport, PassError> {
        run_pass(&self.ctx, opts).await
    }

    /// A pass after convergence: nothing moves, nothing is deleted.
    async fn assert_quiet(&self) {
        let r = self.sync().await;
        assert!(!r.changed_anything(), "second pass still changed things: {r:?}");
        assert!(r.adopted.is_empty(), "{r:?}");
        assert!(r.converged(), "{r:?}");
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(rel)).ok()
    }

    /// Every file below the root, relative, sorted.
    fn files(&self) -> Vec<String> {
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
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

/// A pass that confirms the list `shown` (as the app or the CLI would, by its id).
fn confirming(shown: &NeedsConfirmation) -> PassOptions {
    PassOptions { confirm: Some(Confirm::Set(shown.id.clone())), sweep_orphan_uploads: false }
}

/// Another client writing straight into the bucket.
struct Other(Arc<S3Remote>);

impl Other {
    async fn put(&self, rel: &str, content: impl Into<Bytes>) {
        self.0.put_bytes(&format!("{PREFIX}{rel}"), content.into(), &[]).await.unwrap();
    }
    /// As a Bucketsync device would: with the content hash in metadata.
    async fn put_hashed(&self, rel: &str, content: &'static [u8]) {
        let sha = hex(&Sha256::digest(content));
        let meta = vec![("sha256".to_string(), sha)];
        self.0.put_bytes(&format!("{PREFIX}{rel}"), Bytes::from_static(content), &meta).await.unwrap();
    }
    async fn delete(&self, rel: &str) {
        let refused = self.0.delete_batch(&[format!("{PREFIX}{rel}")]).await.unwrap();
        assert!(refused.is_empty());
    }
    async fn get(&self, rel: &str) -> Option<Vec<u8>> {
        let key = format!("{PREFIX}{rel}");
        let meta = self.0.head(&key).await.ok()?;
        Some(self.0.get_range(&key, 0..meta.size).await.unwrap().to_vec())
    }
    /// Keys under the pair's prefix, relative, sorted.
    async fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self.0.list_page(PREFIX, token).await.unwrap();
            out.extend(page.objects.into_iter().map(|o| o.key[PREFIX.len()..].to_string()));
            match page.continuation {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort();
        out
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn setup(hint: &str) -> (Device, Other, String) {
    let server = S3Server::garage();
    let bucket = server.create_bucket(hint);
    (device(server, &bucket, "laptop", Mode::TwoWay), Other(s3(server, &bucket)), bucket)
}

/// Sets up four synced files: a.txt, b.txt, d/c.txt, d/e.txt.
async fn synced_four(hint: &str) -> (Device, Other, String) {
    let (dev, other, bucket) = setup(hint);
    for (p, c) in [("a.txt", "alpha"), ("b.txt", "bravo"), ("d/c.txt", "charlie"), ("d/e.txt", "echo")] {
        dev.write(p, c);
    }
    let r = dev.sync().await;
    assert_eq!(r.uploaded.len(), 4);
    (dev, other, bucket)
}

#[tokio::test]
async fn first_sync_is_a_union_and_equal_files_are_adopted() {
    let (dev, other, _) = setup("union");
    dev.write("local-only.txt", "mine");
    dev.write("sub/dir/deep.txt", "deep");
    dev.write("same-hashed.txt", "equal content");
    dev.write("same-plain.txt", "equal too");
    dev.write("differs.txt", "local side");
    other.put("remote-only.txt", "theirs").await;
    other.put_hashed("same-hashed.txt", b"equal content").await;
    other.put("same-plain.txt", "equal too").await;
    other.put("differs.txt", "remote side!").await;
    let r = dev.sync().await;
    for p in ["local-only.txt", "sub/dir/deep.txt"] {
        assert!(r.uploaded.contains(&p.to_string()), "{p} not uploaded: {r:?}");
    }
    assert!(r.adopted.contains(&"same-hashed.txt".to_string()));
    assert!(
        !r.downloaded.contains(&"same-hashed.txt".to_string()),
        "equal content with a hash is adopted without transfer"
    );
    // Equal content without a hash is recognised once fetched: no conflict copy.
    assert!(r.adopted.contains(&"same-plain.txt".to_string()));
    assert!(r.downloaded.contains(&"remote-only.txt".to_string()));
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(r.conflicts[0].starts_with("differs (conflict ") && r.conflicts[0].ends_with(" laptop).txt"));
    assert_eq!(dev.read("differs.txt").unwrap(), b"remote side!", "the remote version keeps the name");
    assert_eq!(dev.read(&r.conflicts[0]).unwrap(), b"local side");
    assert_eq!(other.get(&r.conflicts[0]).await.unwrap(), b"local side", "the conflict copy is uploaded too");
    assert_eq!(dev.read("remote-only.txt").unwrap(), b"theirs");
    assert_eq!(dev.files(), other.keys().await);
    dev.assert_quiet().await;
}

#[tokio::test]
async fn local_create_modify_delete_propagate() {
    let (dev, other, _) = synced_four("local-changes").await;
    dev.write("new.txt", "fresh");
    dev.write("a.txt", "alpha, edited");
    std::fs::remove_file(dev.root.join("b.txt")).unwrap();
    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["a.txt", "new.txt"]);
    assert_eq!(r.deleted_remote, ["b.txt"]);
    assert_eq!(other.keys().await, ["a.txt", "d/c.txt", "d/e.txt", "new.txt"]);
    assert_eq!(other.get("a.txt").await.unwrap(), b"alpha, edited");
    dev.assert_quiet().await;
}

#[tokio::test]
async fn remote_create_modify_delete_propagate_and_deletes_go_to_trash() {
    let (dev, other, _) = synced_four("remote-changes").await;
    other.put("new.txt", "from elsewhere").await;
    other.put("a.txt", "alpha, edited remotely").await;
    other.delete("b.txt").await;
    let r = dev.sync().await;
    assert_eq!(r.downloaded, ["a.txt", "new.txt"]);
    assert_eq!(r.deleted_local, ["b.txt"]);
    assert_eq!(dev.read("a.txt").unwrap(), b"alpha, edited remotely");
    assert_eq!(dev.read("new.txt").unwrap(), b"from elsewhere");
    assert!(dev.read("b.txt").is_none());
    let trashed: Vec<_> =
        std::fs::read_dir(&dev.trash).unwrap().map(|e| e.unwrap().path().join("b.txt")).collect();
    assert_eq!(std::fs::read(&trashed[0]).unwrap(), b"bravo", "the deleted file is in the trash");
    dev.assert_quiet().await;
}

#[tokio::test]
async fn both_modified_keep_both_versions_on_both_sides() {
    let (dev, other, _) = synced_four("both-modified").await;
    dev.write("a.txt", "local edit");
    other.put("a.txt", "remote edit, longer").await;
    let r = dev.sync().await;
    assert_eq!(r.conflicts.len(), 1);
    let copy = &r.conflicts[0];
    assert_eq!(dev.read("a.txt").unwrap(), b"remote edit, longer");
    assert_eq!(dev.read(copy).unwrap(), b"local edit");
    assert_eq!(other.get(copy).await.unwrap(), b"local edit");
    assert_eq!(dev.files(), other.keys().await);
    dev.assert_quiet().await;
}

#[tokio::test]
async fn delete_versus_modify_the_modification_wins() {
    let (dev, other, _) = synced_four("delete-vs-modify").await;
    // Deleted locally, modified remotely: restored locally.
    std::fs::remove_file(dev.root.join("a.txt")).unwrap();
    other.put("a.txt", "remote edit").await;
    // Modified locally, deleted remotely: restored remotely.
    dev.write("b.txt", "local edit");
    other.delete("b.txt").await;
    let r = dev.sync().await;
    assert_eq!(r.downloaded, ["a.txt"]);
    assert_eq!(r.uploaded, ["b.txt"]);
    assert!(r.deleted_local.is_empty() && r.deleted_remote.is_empty());
    assert_eq!(dev.read("a.txt").unwrap(), b"remote edit");
    assert_eq!(other.get("b.txt").await.unwrap(), b"local edit");
    dev.assert_quiet().await;
}

#[tokio::test]
async fn both_deleted_is_forgotten_quietly() {
    let (dev, other, _) = synced_four("both-deleted").await;
    std::fs::remove_file(dev.root.join("a.txt")).unwrap();
    other.delete("a.txt").await;
    let r = dev.sync().await;
    assert!(!r.changed_anything(), "{r:?}");
    assert_eq!(other.keys().await, ["b.txt", "d/c.txt", "d/e.txt"]);
    let base = dev.ctx.store.lock().unwrap().baselines(dev.ctx.pair.id).unwrap();
    assert_eq!(base.len(), 3, "the base row of a.txt is gone");
    dev.assert_quiet().await;
}

#[tokio::test]
async fn a_renamed_directory_moves_on_the_other_side() {
    let (dev, other, _) = synced_four("renamed-dir").await;
    dev.write("x1.txt", "x1");
    dev.write("x2.txt", "x2");
    dev.sync().await;
    std::fs::rename(dev.root.join("d"), dev.root.join("renamed")).unwrap();
    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["renamed/c.txt", "renamed/e.txt"]);
    assert_eq!(r.deleted_remote, ["d/c.txt", "d/e.txt"]);
    assert_eq!(other.keys().await, ["a.txt", "b.txt", "renamed/c.txt", "renamed/e.txt", "x1.txt", "x2.txt"]);
    dev.assert_quiet().await;
}

#[tokio::test]
async fn zero_byte_files_sync_both_ways() {
    let (dev, other, _) = setup("zero-bytes");
    dev.write("empty-local", "");
    other.put("empty-remote", Bytes::new()).await;
    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["empty-local"]);
    assert_eq!(r.downloaded, ["empty-remote"]);
    assert_eq!(other.get("empty-local").await.unwrap(), b"");
    assert_eq!(dev.read("empty-remote").unwrap(), b"");
    dev.assert_quiet().await;
}

#[tokio::test]
async fn files_over_the_multipart_threshold_sync_both_ways() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("multipart");
    let a = device(server, &bucket, "a", Mode::TwoWay);
    let b = device(server, &bucket, "b", Mode::TwoWay);
    let big: Vec<u8> = (0..13 * MIB).map(|i| (i * 7 % 251) as u8).collect();
    a.write("big.bin", &big);
    let r = a.sync().await;
    assert_eq!(r.uploaded, ["big.bin"]);
    assert_eq!(r.bytes_up, big.len() as u64);
    let r = b.sync().await;
    assert_eq!(r.downloaded, ["big.bin"]);
    assert!(b.read("big.bin").unwrap() == big, "the multipart object arrives intact");
    // And back: edited on b, uploaded, downloaded on a.
    let mut edited = big.clone();
    edited.extend_from_slice(b"tail");
    b.write("big.bin", &edited);
    assert_eq!(b.sync().await.uploaded, ["big.bin"]);
    assert_eq!(a.sync().await.downloaded, ["big.bin"]);
    assert!(a.read("big.bin").unwrap() == edited);
    a.assert_quiet().await;
    b.assert_quiet().await;
}

#[tokio::test]
async fn a_missing_root_never_becomes_deletes() {
    let (dev, other, _) = synced_four("root-missing").await;
    std::fs::rename(&dev.root, dev.root.with_extension("unmounted")).unwrap();
    let err = dev.try_sync(PassOptions::default()).await.unwrap_err();
    assert!(matches!(err, PassError::Scan(_)), "{err}");
    assert_eq!(other.keys().await.len(), 4, "nothing was deleted from the bucket");
    // An emptied root (mount point without its drive) asks first, even when confirmed deletes would be allowed by share.
    std::fs::create_dir(&dev.root).unwrap();
    let err = dev.try_sync(PassOptions::default()).await.unwrap_err();
    match err {
        PassError::NeedsConfirmation(n) => assert_eq!(n.deletes.len(), 4),
        other => panic!("{other}"),
    }
    assert_eq!(other.keys().await.len(), 4);
    std::fs::remove_dir(&dev.root).unwrap();
    std::fs::rename(dev.root.with_extension("unmounted"), &dev.root).unwrap();
    dev.assert_quiet().await;
}

#[tokio::test]
async fn more_deletes_than_the_share_need_confirmation() {
    let (dev, other, _) = synced_four("max-delete").await;
    for p in ["a.txt", "b.txt", "d/c.txt"] {
        std::fs::remove_file(dev.root.join(p)).unwrap();
    }
    let err = dev.try_sync(PassOptions::default()).await.unwrap_err();
    let PassError::NeedsConfirmation(n) = err else { panic!("{err}") };
    let listed: Vec<_> = n.deletes.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(listed, ["a.txt", "b.txt", "d/c.txt"]);
    assert!(n.reason.contains("3 of 4"), "{}", n.reason);
    assert_eq!(other.keys().await.len(), 4, "nothing deleted before confirmation");
    let r = dev.try_sync(confirming(&n)).await.unwrap();
    assert_eq!(r.deleted_remote.len(), 3);
    assert_eq!(other.keys().await, ["d/e.txt"]);
    dev.assert_quiet().await;
}

#[tokio::test]
async fn a_policy_pointed_at_another_bucket_stops_the_pair() {
    let (mut dev, _other, _) = setup("mismatch");
    dev.ctx.bucket_in_use = "some-other-bucket".into();
    let err = dev.try_sync(PassOptions::default()).await.unwrap_err();
    assert!(matches!(err, PassError::StateMismatch { .. }), "{err}");
}

#[tokio::test]
async fn hostile_keys_are_never_written_and_never_deleted() {
    let server = S3Server::moto();
    let bucket = server.create_bucket("hostile");
    let dev = device(server, &bucket, "laptop", Mode::TwoWay);
    let other = Other(s3(server, &bucket));
    for key in [
        "../escape.txt",
        "a//b.txt",
        "./dot.txt",
        "ctl\ttab.txt",
        "xml\u{1}.txt",
        "clash",
        "clash/inner.txt",
        "ok.txt",
    ] {
        other.put(key, "x").await;
    }
    let r = dev.sync().await;
    assert_eq!(r.downloaded, ["ok.txt"]);
    let reasons: Vec<(String, Reason)> =
        r.unsyncable.iter().map(|u| (u.name[PREFIX.len()..].to_string(), u.reason.clone())).collect();
    for (key, reason) in [
        ("../escape.txt", Reason::DotSegment),
        ("a//b.txt", Reason::EmptySegment),
        ("./dot.txt", Reason::DotSegment),
        ("ctl\ttab.txt", Reason::ControlCharacter),
        // not even representable in XML: the listing must still be readable
        ("xml\u{1}.txt", Reason::ControlCharacter),
        ("clash", Reason::FileFolderCollision("clash/inner.txt".into())),
        ("clash/inner.txt", Reason::FileFolderCollision("clash".into())),
    ] {
        assert!(
            reasons.contains(&(key.to_string(), reason.clone())),
            "{key}: {reason:?} missing from {reasons:?}"
        );
    }
    assert_eq!(dev.files(), ["ok.txt"]);
    let parent = dev.root.parent().unwrap();
    assert!(
        !parent.join("escape.txt").exists() && !dev.root.join("../team").exists(),
        "nothing outside the root"
    );
    // Deleting the only syncable file locally leaves every hostile key alone.
    std::fs::remove_file(dev.root.join("ok.txt")).unwrap();
    let err = dev.try_sync(PassOptions::default()).await.unwrap_err();
    let PassError::NeedsConfirmation(shown) = err else { panic!("{err}") };
    assert_eq!(shown.deletes.len(), 1, "only the syncable file is on the list: {shown:?}");
    let r = dev.try_sync(confirming(&shown)).await.unwrap();
    assert_eq!(r.deleted_remote, ["ok.txt"]);
    assert_eq!(other.keys().await.len(), 7, "hostile keys stay untouched in the bucket");
    dev.assert_quiet().await;
}

#[tokio::test]
async fn two_devices_editing_offline_converge_with_one_copy_per_divergent_edit() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("two-devices");
    let a = device(server, &bucket, "alice-pc", Mode::TwoWay);
    let b = device(server, &bucket, "bob-pc", Mode::TwoWay);
    let other = Other(s3(server, &bucket));
    for (p, c) in
        [("shared.txt", "v1"), ("notes/a.md", "note a"), ("notes/b.md", "note b"), ("keep.txt", "k")]
    {
        a.write(p, c);
    }
    a.sync().await;
    let r = b.sync().await;
    assert_eq!(r.downloaded.len(), 4);
    // B had an equal file already? No: everything came down. Now both edit offline.
    a.write("shared.txt", "alice's version");
    b.write("shared.txt", "bob's version, different");
    a.write("notes/a.md", "note a, edited by alice");
    b.write("notes/b.md", "note b, edited by bob");
    b.write("bob-new.txt", "new on bob");
    std::fs::remove_file(a.root.join("keep.txt")).unwrap();
    a.sync().await;
    let rb = b.sync().await;
    assert_eq!(rb.conflicts.len(), 1, "exactly one copy for the one divergent edit: {rb:?}");
    let ra = a.sync().await;
    assert!(ra.conflicts.is_empty(), "no second copy on the other device: {ra:?}");
    assert_eq!(a.files(), b.files());
    assert_eq!(a.files(), other.keys().await);
    assert_eq!(a.read("shared.txt").unwrap(), b"alice's version");
    assert_eq!(a.read(&rb.conflicts[0]).unwrap(), b"bob's version, different");
    assert!(rb.conflicts[0].contains("bob-pc"));
    assert_eq!(b.read("notes/a.md").unwrap(), b"note a, edited by alice");
    assert_eq!(a.read("notes/b.md").unwrap(), b"note b, edited by bob");
    assert!(a.read("keep.txt").is_none() && b.read("keep.txt").is_none());
    // No ping-pong: further passes on both devices do nothing.
    for _ in 0..2 {
        a.assert_quiet().await;
        b.assert_quiet().await;
    }
}

#[tokio::test]
async fn an_object_overwritten_after_listing_is_not_deleted_but_restored() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("delete-race");
    let mut dev = device(server, &bucket, "laptop", Mode::TwoWay);
    dev.write("keep.txt", "k");
    dev.write("gone.txt", "mine");
    dev.sync().await;
    std::fs::remove_file(dev.root.join("gone.txt")).unwrap();

    // Another client overwrites the object between our listing and our
    // delete: just before our first HEAD of it.
    let plain = s3(server, &bucket);
    let key = format!("{PREFIX}gone.txt");
    let written = std::sync::atomic::AtomicBool::new(false);
    dev.ctx.remote = Arc::new(Hooked::new(plain.clone()).before_head(move |k| {
        (k == key && !written.swap(true, std::sync::atomic::Ordering::SeqCst))
            .then(|| (k.to_string(), Bytes::from_static(b"their newer version")))
    }));
    // 1 of 2 files is the 50 % share: no confirmation needed.
    let r = dev.try_sync(PassOptions::default()).await.unwrap();
    assert!(r.deleted_remote.is_empty(), "the newer version must survive: {r:?}");

    // The next pass sees delete vs modify: the modification wins locally.
    dev.ctx.remote = plain;
    let r = dev.sync().await;
    assert_eq!(r.downloaded, ["gone.txt"]);
    assert_eq!(dev.read("gone.txt").as_deref(), Some(&b"their newer version"[..]));
    dev.assert_quiet().await;
}

/// A runner that never polls or retries by itself in a test's lifetime:
/// only the watcher (debounced `debounce_ms`) and commands start passes.
fn quiet_runner(debounce_ms: u64) -> bucketsync_engine::runner::RunnerConfig {
    bucketsync_engine::runner::RunnerConfig {
        poll_interval: std::time::Duration::from_secs(3600),
        debounce: std::time::Duration::from_millis(debounce_ms),
        quiet: std::time::Duration::ZERO,
        retry_after: std::time::Duration::from_secs(3600),
        settle_removes: std::time::Duration::from_millis(debounce_ms),
        full_pass_every_polls: 10,
    }
}

/// Waits (bounded, so a bug fails instead of hanging) until the runner's
/// status satisfies `done`, re-checking `done` on every status change.
async fn wait_until(
    rx: &mut tokio::sync::watch::Receiver<bucketsync_engine::event::PairStatus>,
    what: &str,
    mut done: impl AsyncFnMut(&bucketsync_engine::event::PairStatus) -> bool,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = rx.borrow_and_update().clone();
        if done(&now).await {
            return;
        }
        // Poll as well as listen: the bucket side of `done` changes without
        // a status change.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), rx.changed()).await;
        assert!(tokio::time::Instant::now() < deadline, "runner never reached: {what} (last status {now:?})");
    }
}

#[tokio::test]
async fn runner_asks_before_mass_deletes_and_obeys_confirm_pause_and_resume() {
    use bucketsync_engine::event::PairStatus;
    use bucketsync_engine::runner::{self, Command};
    let server = S3Server::garage();
    let bucket = server.create_bucket("runner");
    let dev = device(server, &bucket, "laptop", Mode::TwoWay);
    let other = Other(s3(server, &bucket));
    for f in ["a", "b", "c", "d"] {
        dev.write(f, f);
    }
    dev.sync().await;
    for f in ["a", "b", "c"] {
        std::fs::remove_file(dev.root.join(f)).unwrap();
    }
    let handle = runner::spawn(dev.ctx.clone(), quiet_runner(100), false);
    let mut rx = handle.watch_status();

    // 3 of 4 files gone locally: over the 50 % share, so it asks first.
    wait_until(
        &mut rx,
        "needs confirmation",
        async |s| matches!(s, PairStatus::NeedsConfirmation { deletes, .. } if deletes.len() == 3),
    )
    .await;
    assert_eq!(other.keys().await.len(), 4, "nothing deleted before confirmation");

    let PairStatus::NeedsConfirmation { id, .. } = handle.status() else { panic!("{:?}", handle.status()) };
    handle.send(Command::ConfirmDeletes { set: id });
    wait_until(&mut rx, "deletes done", async |s| {
        matches!(s, PairStatus::Idle { last_sync_ms: Some(_) }) && other.keys().await == ["d"]
    })
    .await;

    handle.send(Command::Pause);
    wait_until(&mut rx, "paused", async |s| matches!(s, PairStatus::Paused)).await;
    dev.write("e", "new while paused");
    handle.send(Command::Resume);
    wait_until(&mut rx, "the file written while paused is uploaded", async |s| {
        matches!(s, PairStatus::Idle { .. }) && other.keys().await.contains(&"e".to_string())
    })
    .await;
    handle.stop().await;
    dev.assert_quiet().await;
}

/// A file deleted right after its download landed (inside the watcher's
/// debounce window, where notify-debouncer-full drops a create followed by
/// a remove) is still noticed without waiting for the poll: a pass that
/// wrote into the folder looks again once the window is over.
#[tokio::test]
async fn a_delete_right_after_a_download_is_seen_before_the_poll() {
    use bucketsync_engine::event::PairStatus;
    use bucketsync_engine::runner;
    let server = S3Server::garage();
    let bucket = server.create_bucket("delete-after-download");
    let dev = device(server, &bucket, "laptop", Mode::TwoWay);
    let other = Other(s3(server, &bucket));
    for f in ["a", "b", "c", "d"] {
        dev.write(f, f);
    }
    dev.sync().await;
    other.put("new.txt", "from elsewhere").await;
    let handle = runner::spawn(dev.ctx.clone(), quiet_runner(500), false);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while dev.read("new.txt").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the runner never downloaded new.txt");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    std::fs::remove_file(dev.root.join("new.txt")).unwrap();
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "the delete reaches the bucket", async |s| {
        matches!(s, PairStatus::Idle { .. }) && !other.keys().await.contains(&"new.txt".to_string())
    })
    .await;
    handle.stop().await;
}

/// A runner over `dev` whose remote counts its listings; returns once
/// its first (full) pass converged, with the listing record cleared.
async fn watched(
    dev: &mut Device,
    config: bucketsync_engine::runner::RunnerConfig,
) -> (bucketsync_engine::runner::PairHandle, Arc<Hooked>) {
    use bucketsync_engine::event::PairStatus;
    let hooked = Arc::new(Hooked::new(dev.ctx.remote.clone()));
    dev.ctx.remote = hooked.clone();
    let handle = bucketsync_engine::runner::spawn(dev.ctx.clone(), config, false);
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "the first pass", async |s| matches!(s, PairStatus::Idle { last_sync_ms: Some(_) }))
        .await;
    assert_eq!(*hooked.lists.lock().unwrap(), [PREFIX], "the first pass lists the whole prefix, once");
    hooked.lists.lock().unwrap().clear();
    (handle, hooked)
}

/// The prefixes listed since the record was last cleared.
fn listed(hooked: &Hooked) -> Vec<String> {
    hooked.lists.lock().unwrap().clone()
}

/// Issue 10: a change the watcher names is synced by a pass over that path
/// alone, a LIST with its key as the prefix: no stat of the whole folder's
/// worth of paths decides anything, no listing of the whole prefix. The
/// quiet period is an hour here: the files go up at once because the
/// watcher saw each closed after its last write.
#[tokio::test]
async fn a_watched_change_is_synced_by_a_pass_over_its_path_alone() {
    use bucketsync_engine::event::PairStatus;
    let (mut dev, other, _) = synced_four("dirty-file").await;
    let config = bucketsync_engine::runner::RunnerConfig {
        quiet: std::time::Duration::from_secs(3600),
        ..quiet_runner(100)
    };
    let (handle, hooked) = watched(&mut dev, config).await;
    dev.write("a.txt", "alpha, edited");
    dev.write("d/new.txt", "new in d");
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "both changes are in the bucket", async |s| {
        matches!(s, PairStatus::Idle { .. })
            && other.get("a.txt").await.as_deref() == Some(&b"alpha, edited"[..])
            && other.get("d/new.txt").await.as_deref() == Some(&b"new in d"[..])
    })
    .await;
    let lists = listed(&hooked);
    assert!(!lists.is_empty());
    for l in &lists {
        assert!(
            [format!("{PREFIX}a.txt"), format!("{PREFIX}d/new.txt")].contains(l),
            "only the changed keys are listed: {lists:?}"
        );
    }
    handle.stop().await;
    dev.assert_quiet().await;
}

/// Issue 10: a folder that appears is one scope: scanned below it, listed
/// with its key as the prefix.
#[tokio::test]
async fn a_new_folder_is_synced_by_a_pass_over_that_folder() {
    use bucketsync_engine::event::PairStatus;
    let (mut dev, other, _) = synced_four("dirty-folder").await;
    let (handle, hooked) = watched(&mut dev, quiet_runner(100)).await;
    dev.write("photos/2024/beach.jpg", "sand");
    dev.write("photos/2024/dunes.jpg", "more sand");
    dev.write("photos/cover.jpg", "a cover");
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "the folder is in the bucket", async |s| {
        let keys = other.keys().await;
        matches!(s, PairStatus::Idle { .. })
            && ["photos/2024/beach.jpg", "photos/2024/dunes.jpg", "photos/cover.jpg"]
                .iter()
                .all(|k| keys.contains(&k.to_string()))
    })
    .await;
    let lists = listed(&hooked);
    assert!(lists.iter().all(|l| l.starts_with(&format!("{PREFIX}photos"))), "{lists:?}");
    handle.stop().await;
    dev.assert_quiet().await;
}

/// Issue 10: a pass over changed paths decides nothing about a path it did
/// not look at. `ghost.txt` has a base row and an object but no local file
/// (deleted where the watcher never saw it): the pass over `d/new.txt`
/// leaves it alone; the full pass of "sync now" sees it and deletes it.
#[tokio::test]
async fn a_dirty_pass_never_deletes_what_it_did_not_look_at() {
    use bucketsync_engine::event::PairStatus;
    use bucketsync_engine::runner::Command;
    use bucketsync_store::{BaselineRow, LocalFile};
    let (mut dev, other, _) = synced_four("dirty-no-delete").await;
    let (handle, hooked) = watched(&mut dev, quiet_runner(100)).await;
    other.put("ghost.txt", "synced once").await;
    let object = other.0.head(&format!("{PREFIX}ghost.txt")).await.unwrap();
    let row = BaselineRow {
        path: "ghost.txt".into(),
        local: LocalFile { size: object.size, mtime_ms: 1_000, inode: 0, hash: None },
        remote_etag: object.etag.clone(),
        remote_size: object.size,
        remote_mtime_ms: None,
        synced_ms: 100_000,
    };
    dev.ctx.store.lock().unwrap().put_baseline(dev.ctx.pair.id, &row).unwrap();

    dev.write("d/new.txt", "new in d");
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "d/new.txt is in the bucket", async |s| {
        matches!(s, PairStatus::Idle { .. }) && other.get("d/new.txt").await.is_some()
    })
    .await;
    assert!(other.keys().await.contains(&"ghost.txt".to_string()), "a path no pass looked at was deleted");
    assert!(!listed(&hooked).contains(&PREFIX.to_string()), "the pass over d/new.txt was a full one");

    handle.send(Command::SyncNow);
    wait_until(&mut rx, "the full pass deletes ghost.txt", async |s| {
        matches!(s, PairStatus::Idle { .. }) && !other.keys().await.contains(&"ghost.txt".to_string())
    })
    .await;
    handle.stop().await;
    dev.assert_quiet().await;
}

/// Issue 10: when the watcher's queue overflows, events were lost, so the
/// next pass is a full one (here it finds an object no event could name).
/// The download it makes comes back as watch events; the pass over them
/// finds the file as downloaded and lists nothing for it.
#[cfg(feature = "fail-points")]
#[tokio::test]
async fn an_overflowed_watch_queue_falls_back_to_a_full_pass() {
    use bucketsync_engine::event::PairStatus;
    let (mut dev, other, _) = synced_four("overflow").await;
    let (handle, hooked) = watched(&mut dev, quiet_runner(100)).await;
    other.put("from-elsewhere.txt", "theirs").await;
    handle.simulate_overflow();
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "the full pass downloads from-elsewhere.txt", async |s| {
        matches!(s, PairStatus::Idle { .. }) && dev.read("from-elsewhere.txt").is_some()
    })
    .await;
    assert_eq!(listed(&hooked), [PREFIX], "one full listing");
    hooked.lists.lock().unwrap().clear();

    dev.write("d/after.txt", "written after the download");
    wait_until(&mut rx, "d/after.txt is in the bucket", async |s| {
        matches!(s, PairStatus::Idle { .. }) && other.get("d/after.txt").await.is_some()
    })
    .await;
    let lists = listed(&hooked);
    assert!(lists.iter().all(|l| *l == format!("{PREFIX}d/after.txt")), "{lists:?}");
    handle.stop().await;
    dev.assert_quiet().await;
}

/// A runner that polls every second and never makes a poll a full pass
/// again by itself in a test's lifetime.
fn polling_runner() -> bucketsync_engine::runner::RunnerConfig {
    bucketsync_engine::runner::RunnerConfig {
        poll_interval: std::time::Duration::from_secs(1),
        full_pass_every_polls: u32::MAX,
        ..quiet_runner(100)
    }
}

/// Issue 10: while the folder is watched, the poll lists the bucket and
/// scans nothing. Objects another client added or changed are looked at
/// one by one (a LIST with the key as its prefix) and downloaded;
/// `ghost.txt` (a base row and an object, the local file deleted where the
/// watcher never saw it) is not decided by the poll: a full pass (sync
/// now) deletes it. Before, every poll was a full pass, which listed only
/// the whole prefix and deleted ghost.txt.
#[tokio::test]
async fn a_poll_of_a_watched_folder_lists_the_bucket_and_looks_at_changed_objects_alone() {
    use bucketsync_engine::event::PairStatus;
    use bucketsync_engine::runner::Command;
    use bucketsync_store::{BaselineRow, LocalFile};
    let (mut dev, other, _) = synced_four("poll-bucket-only").await;
    let (handle, hooked) = watched(&mut dev, polling_runner()).await;
    other.put("ghost.txt", "synced once").await;
    let object = other.0.head(&format!("{PREFIX}ghost.txt")).await.unwrap();
    let row = BaselineRow {
        path: "ghost.txt".into(),
        local: LocalFile { size: object.size, mtime_ms: 1_000, inode: 0, hash: None },
        remote_etag: object.etag.clone(),
        remote_size: object.size,
        remote_mtime_ms: None,
        synced_ms: 100_000,
    };
    dev.ctx.store.lock().unwrap().put_baseline(dev.ctx.pair.id, &row).unwrap();
    other.put("a.txt", "alpha, edited elsewhere").await;
    other.put("d/theirs.txt", "new elsewhere").await;

    let mut rx = handle.watch_status();
    wait_until(&mut rx, "both objects are downloaded", async |s| {
        matches!(s, PairStatus::Idle { .. })
            && dev.read("a.txt").as_deref() == Some(&b"alpha, edited elsewhere"[..])
            && dev.read("d/theirs.txt").as_deref() == Some(&b"new elsewhere"[..])
    })
    .await;
    assert!(
        other.keys().await.contains(&"ghost.txt".to_string()),
        "a poll decided a path it did not look at"
    );
    let lists = listed(&hooked);
    for key in [format!("{PREFIX}a.txt"), format!("{PREFIX}d/theirs.txt")] {
        assert!(lists.contains(&key), "{key} looked at on its own: {lists:?}");
    }
    assert!(
        lists.iter().all(|l| l == PREFIX || l.ends_with("a.txt") || l.ends_with("theirs.txt")),
        "{lists:?}"
    );

    handle.send(Command::SyncNow);
    wait_until(&mut rx, "the full pass deletes ghost.txt", async |s| {
        matches!(s, PairStatus::Idle { .. }) && !other.keys().await.contains(&"ghost.txt".to_string())
    })
    .await;
    handle.stop().await;
    dev.assert_quiet().await;
}

/// Issue 10: objects the last full pass could not sync (two spellings of
/// one name) are no news to the poll: a change elsewhere is still looked at
/// on its own, not turned into a full pass by them on every poll.
#[tokio::test]
async fn a_poll_leaves_names_that_cannot_sync_to_the_full_passes() {
    use bucketsync_engine::event::PairStatus;
    let (mut dev, other, _) = synced_four("poll-unsyncable").await;
    other.put("caf\u{e9}.txt", "composed").await;
    other.put("cafe\u{301}.txt", "decomposed").await;
    let (handle, hooked) = watched(&mut dev, polling_runner()).await;
    other.put("a.txt", "alpha, edited elsewhere").await;
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "a.txt is downloaded", async |s| {
        matches!(s, PairStatus::Idle { .. })
            && dev.read("a.txt").as_deref() == Some(&b"alpha, edited elsewhere"[..])
    })
    .await;
    let lists = listed(&hooked);
    assert!(lists.contains(&format!("{PREFIX}a.txt")), "a.txt looked at on its own: {lists:?}");
    assert!(dev.read("caf\u{e9}.txt").is_none() && dev.read("cafe\u{301}.txt").is_none());
    handle.stop().await;
}

/// Issue 10: an object gone from the bucket is a delete, which only a full
/// pass decides (its guards count the whole pair): the poll that finds it
/// hands over to one, which moves the local file to the trash.
#[tokio::test]
async fn a_poll_that_finds_an_object_gone_hands_over_to_a_full_pass() {
    use bucketsync_engine::event::PairStatus;
    let (mut dev, other, _) = synced_four("poll-gone").await;
    let (handle, _hooked) = watched(&mut dev, polling_runner()).await;
    other.delete("b.txt").await;
    let mut rx = handle.watch_status();
    wait_until(&mut rx, "b.txt is moved to the trash", async |s| {
        matches!(s, PairStatus::Idle { .. }) && dev.read("b.txt").is_none()
    })
    .await;
    assert_eq!(dev.files(), ["a.txt", "d/c.txt", "d/e.txt"]);
    handle.stop().await;
    dev.assert_quiet().await;
}

/// Issue 8, point 6: a confirmation applies to the deletes that were shown,
/// nothing else. A file deleted after the list was shown is not deleted
/// with it: the confirmed pass asks again, with the new list, and deletes
/// nothing until that list is confirmed.
#[tokio::test]
async fn a_confirmation_deletes_only_the_list_that_was_shown() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("confirm-shown");
    let dev = device(server, &bucket, "laptop", Mode::TwoWay);
    let other = Other(s3(server, &bucket));
    for f in ["1", "2", "3", "4", "5", "6"] {
        dev.write(f, f);
    }
    dev.sync().await;
    for f in ["1", "2", "3", "4"] {
        std::fs::remove_file(dev.root.join(f)).unwrap();
    }
    let err = dev.try_sync(PassOptions::default()).await.unwrap_err();
    let PassError::NeedsConfirmation(shown) = err else { panic!("{err}") };
    assert_eq!(shown.deletes.len(), 4);

    // Between showing the list and the confirmed pass, one more goes.
    std::fs::remove_file(dev.root.join("5")).unwrap();
    let err = dev.try_sync(confirming(&shown)).await.unwrap_err();
    let PassError::NeedsConfirmation(asked) = err else { panic!("{err}") };
    assert_eq!(asked.deletes.len(), 5, "the new list, with the file that was never shown");
    assert_ne!(asked.id, shown.id);
    assert_eq!(other.keys().await.len(), 6, "nothing deleted on a confirmation of another list");

    // The old list's id no longer confirms anything; the new one does.
    let err = dev.try_sync(confirming(&shown)).await.unwrap_err();
    assert!(matches!(err, PassError::NeedsConfirmation(ref n) if n.id == asked.id), "{err}");
    let r = dev.try_sync(confirming(&asked)).await.unwrap();
    assert_eq!(r.deleted_remote, ["1", "2", "3", "4", "5"]);
    assert_eq!(other.keys().await, ["6"]);
    dev.assert_quiet().await;
}
