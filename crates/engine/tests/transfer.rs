//! Transfers against real S3 servers (Garage and moto on 127.0.0.1), with a
//! wrapping `Remote` that counts calls and injects faults on top of the real
//! server (never instead of it).

mod support;

use bucketsync_engine::clock::SystemClock;
use bucketsync_engine::snapshot::{self, LocalFile};
use bucketsync_engine::transfer::{
    LocalExpect, Progress, RemoteExpect, TransferError, TransferLimits, Transfers, DOWNLOAD_RANGE_SIZE,
    TEMP_PREFIX,
};
use bucketsync_remote::{Addressing, Connection, ErrorKind, Remote, RemoteError, S3Remote, Secret};
use bucketsync_store::{PairRow, PolicyRow, Store};
use bucketsync_testserver::S3Server;
use bytes::Bytes;
use rand::RngCore;
use sha2::{Digest, Sha256};
use support::{offline, Hook, Hooked};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// Transfer-layer tests replace whatever the key holds; the pass's checks
/// of what it listed are tested in tests/inflight.rs.
const ANY: RemoteExpect = RemoteExpect::Anything;

// ---------------------------------------------------------------- helpers

fn s3(endpoint: &str, region: &str, key_id: &str, secret: &str, bucket: &str) -> S3Remote {
    S3Remote::new(&Connection {
        endpoint: Some(endpoint.to_string()),
        region: region.to_string(),
        bucket: bucket.to_string(),
        addressing: Addressing::PathStyle,
        access_key_id: key_id.to_string(),
        secret: Secret::new(secret.to_string()),
        sdk_checksums: false,
    })
}

/// Test limits: multipart from 6 MiB, 5 MiB parts.
fn small_limits() -> TransferLimits {
    TransferLimits {
        max_concurrent_parts: 3,
        min_part_size: 5 * MIB,
        max_parts: 10_000,
        multipart_threshold: 6 * MIB,
    }
}

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    files: PathBuf,
    bucket: String,
    s3: Arc<S3Remote>,
    store: Arc<Mutex<Store>>,
    pair_id: i64,
}

fn env(server: &S3Server, hint: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let bucket = server.create_bucket(hint);
    let s3 = Arc::new(s3(
        &server.endpoint,
        &server.region,
        &server.access_key_id,
        &server.secret_access_key,
        &bucket,
    ));
    let mut store = Store::open(&home).unwrap();
    let policy_id = store
        .insert_policy(&PolicyRow {
            id: 0,
            name: "p".into(),
            provider: "garage".into(),
            endpoint: Some(server.endpoint.clone()),
            region: server.region.clone(),
            bucket: bucket.clone(),
            addressing: "path-style".into(),
            public: false,
            cdn_url: None,
            account_id: None,
            access_key_id: server.access_key_id.clone(),
            secret_source: "env:X".into(),
            created_ms: 0,
            updated_ms: 0,
            conditional_writes: "unknown".into(),
        })
        .unwrap();
    let pair_id = store
        .insert_pair(&PairRow {
            id: 0,
            name: "pair".into(),
            policy_id,
            local_root: files.to_string_lossy().into_owned(),
            prefix: String::new(),
            mode: "two-way".into(),
            paused: false,
            max_delete_percent: 50,
            bucket: bucket.clone(),
            created_ms: 0,
        })
        .unwrap();
    Env { _tmp: tmp, home, files, bucket, s3, store: Arc::new(Mutex::new(store)), pair_id }
}

fn transfers(remote: Arc<dyn Remote>, store: Arc<Mutex<Store>>, limits: TransferLimits) -> Transfers {
    let sem = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_parts));
    Transfers::new(remote, store, limits, sem, Arc::new(SystemClock)).with_retry_delays(
        Duration::from_millis(10),
        Duration::from_millis(50),
        4,
    )
}

fn random_file(path: &Path, len: u64) -> Vec<u8> {
    let mut data = vec![0u8; len as usize];
    rand::rng().fill_bytes(&mut data);
    std::fs::write(path, &data).unwrap();
    data
}

fn state(path: &Path) -> LocalFile {
    snapshot::stat(&std::fs::metadata(path).unwrap())
}

/// What a transfer reports for a file whose content hashes to `sha256`.
fn hashed(stat: &LocalFile, sha256: String) -> LocalFile {
    LocalFile { hash: Some(sha256), ..stat.clone() }
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn temp_files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect()
}

async fn object_bytes(r: &dyn Remote, key: &str) -> Vec<u8> {
    let size = r.head(key).await.unwrap().size;
    r.get_range(key, 0..size).await.unwrap().to_vec()
}

#[derive(Default)]
struct Counted(AtomicU64);

impl Progress for Counted {
    fn advance(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------- round trips

async fn small_and_empty_files_round_trip(server: &S3Server) {
    let e = env(server, "small");
    let hooked = Arc::new(Hooked::new(e.s3.clone()));
    let t = transfers(hooked.clone(), e.store.clone(), small_limits());
    let down = e.files.join("down");
    std::fs::create_dir(&down).unwrap();
    // The 5 MiB one is read into pages of its own (not the heap) for its PUT.
    for (name, len) in [("empty", 0u64), ("small.txt", 100 * 1024 + 7), ("mid.bin", 5 * MIB + 3)] {
        let path = e.files.join(name);
        let data = random_file(&path, len);
        let st = state(&path);
        let progress = Counted::default();
        let up = t.upload(e.pair_id, &path, name, &st, &ANY, &progress).await.unwrap();
        assert_eq!(up.local, hashed(&st, sha(&data)));
        assert_eq!(up.remote.size, len);
        assert_eq!(progress.0.load(Ordering::Relaxed), len);

        let (head, user) = e.s3.head_with_metadata(name).await.unwrap();
        assert_eq!(head.etag, up.remote.etag, "Uploaded carries the server's ETag");
        assert_eq!(head.mtime_ms, Some(st.mtime_ms), "mtime metadata as rclone reads it");
        assert!(user.contains(&("sha256".to_string(), sha(&data))), "{user:?}");

        let dest = down.join(name);
        if len > 0 {
            // An older private copy is replaced, and stays private.
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&dest, b"older copy").unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let got = t.download(&head, &dest, &LocalExpect::Anything, &Counted::default()).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(got.local, hashed(&state(&dest), sha(&data)));
        assert_eq!(state(&dest).mtime_ms, st.mtime_ms, "the download gets the object's mtime");
        if len > 0 {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
    assert_eq!(hooked.puts.load(Ordering::SeqCst), 3, "one PUT per small file");
    assert_eq!(hooked.creates.load(Ordering::SeqCst), 0, "no multipart below the threshold");
    assert!(temp_files_in(&down).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_empty_files_round_trip_garage() {
    small_and_empty_files_round_trip(S3Server::garage()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_empty_files_round_trip_moto() {
    small_and_empty_files_round_trip(S3Server::moto()).await;
}

async fn multipart_round_trip(server: &S3Server) {
    let e = env(server, "multipart");
    let hooked = Arc::new(Hooked::new(e.s3.clone()));
    let t = transfers(hooked.clone(), e.store.clone(), small_limits());
    let path = e.files.join("big.bin");
    let size = 16 * MIB + 12_345;
    let data = random_file(&path, size);
    let st = state(&path);
    let progress = Counted::default();
    let up = t.upload(e.pair_id, &path, "dir/big.bin", &st, &ANY, &progress).await.unwrap();
    assert_eq!(up.local.hash, Some(sha(&data)));
    assert_eq!(up.remote.size, size);
    assert_eq!(progress.0.load(Ordering::Relaxed), size);
    assert_eq!(hooked.parts_sent(), vec![1, 2, 3, 4], "4 parts of 5 MiB (last shorter), each once");
    assert_eq!(hooked.completes.load(Ordering::SeqCst), 1);
    assert!(e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().is_empty(), "record dropped");

    let (head, user) = e.s3.head_with_metadata("dir/big.bin").await.unwrap();
    assert_eq!(head.size, size);
    assert!(user.contains(&("sha256".to_string(), sha(&data))), "{user:?}");
    assert_eq!(head.mtime_ms, Some(st.mtime_ms));

    let down = e.files.join("down");
    std::fs::create_dir(&down).unwrap();
    let dest = down.join("big.bin");
    let progress = Counted::default();
    let got = t.download(&head, &dest, &LocalExpect::Anything, &progress).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == data, "byte-for-byte equal");
    assert_eq!(got.local.hash, Some(sha(&data)));
    assert_eq!(state(&dest).mtime_ms, st.mtime_ms);
    assert_eq!(progress.0.load(Ordering::Relaxed), size);
    let mut ranges = hooked.ranges.lock().unwrap().clone();
    ranges.sort();
    let expected: Vec<u64> =
        (0..size.div_ceil(DOWNLOAD_RANGE_SIZE)).map(|i| i * DOWNLOAD_RANGE_SIZE).collect();
    assert!(expected.len() > 1, "the file spans several ranges");
    assert_eq!(ranges, expected, "one ranged GET per range");
    assert!(temp_files_in(&down).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_round_trip_garage() {
    multipart_round_trip(S3Server::garage()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_round_trip_moto() {
    multipart_round_trip(S3Server::moto()).await;
}

// ---------------------------------------------------------------- changes while uploading

async fn file_changed_during_multipart_upload(server: &S3Server) {
    let e = env(server, "torn");
    let path = e.files.join("torn.bin");
    let size = 16 * MIB;
    random_file(&path, size);
    let st = state(&path);
    let p = path.clone();
    // While part 3 is about to be sent, someone rewrites the start of the file
    // in place (same size): parts 1-2 may already carry old bytes.
    let hooked = Arc::new(Hooked::new(e.s3.clone()).on_part(move |n, tries| {
        if n == 3 && tries == 0 {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.write_all_at(b"edited by someone else", 0).unwrap();
        }
        Hook::Pass
    }));
    let limits = TransferLimits { max_concurrent_parts: 1, ..small_limits() };
    let t = transfers(hooked.clone(), e.store.clone(), limits);
    let err = t.upload(e.pair_id, &path, "torn.bin", &st, &ANY, &Counted::default()).await.unwrap_err();
    assert!(matches!(err, TransferError::ChangedDuringUpload { .. }), "{err:?}");
    assert_eq!(hooked.completes.load(Ordering::SeqCst), 0, "a torn upload is never completed");
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 1, "and it is aborted");
    let head = e.s3.head("torn.bin").await.unwrap_err();
    assert_eq!(head.kind, ErrorKind::NotFound, "no object claims the torn content");
    assert!(e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().is_empty(), "nothing recorded");

    // Once the file is stable again, it goes up whole.
    let data = std::fs::read(&path).unwrap();
    let up = t.upload(e.pair_id, &path, "torn.bin", &state(&path), &ANY, &Counted::default()).await.unwrap();
    assert_eq!(up.local.hash, Some(sha(&data)));
    assert!(object_bytes(e.s3.as_ref(), "torn.bin").await == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changed_during_multipart_upload_garage() {
    file_changed_during_multipart_upload(S3Server::garage()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changed_during_multipart_upload_moto() {
    file_changed_during_multipart_upload(S3Server::moto()).await;
}

/// A file that is no longer what the scan saw is not sent at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changed_since_the_scan_is_not_sent() {
    let e = env(S3Server::garage(), "since-scan");
    let hooked = Arc::new(Hooked::new(e.s3.clone()));
    let t = transfers(hooked.clone(), e.store.clone(), small_limits());
    let path = e.files.join("a.txt");
    std::fs::write(&path, b"first").unwrap();
    let st = state(&path);
    std::fs::write(&path, b"second, longer").unwrap();
    let err = t.upload(e.pair_id, &path, "a.txt", &st, &ANY, &Counted::default()).await.unwrap_err();
    assert!(matches!(err, TransferError::ChangedDuringUpload { .. }), "{err:?}");
    assert_eq!(hooked.puts.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------- download verification

async fn download_of_a_changed_or_mismatching_object_fails(server: &S3Server) {
    let e = env(server, "verify");
    let t = transfers(e.s3.clone(), e.store.clone(), small_limits());
    let down = e.files.join("down");
    std::fs::create_dir(&down).unwrap();

    // The object was replaced after it was listed.
    let listed = e.s3.put_bytes("doc.txt", Bytes::from_static(b"version one"), &[]).await.unwrap();
    e.s3.put_bytes("doc.txt", Bytes::from_static(b"version two!"), &[]).await.unwrap();
    let dest = down.join("doc.txt");
    let err = t.download(&listed, &dest, &LocalExpect::Anything, &Counted::default()).await.unwrap_err();
    assert!(matches!(err, TransferError::Verify { .. }), "{err:?}");
    assert!(!dest.exists(), "no file at dest");

    // The content does not match its sha256 metadata; an older local file stays.
    let wrong = vec![("sha256".to_string(), "0".repeat(64))];
    e.s3.put_bytes("bad.txt", Bytes::from_static(b"content"), &wrong).await.unwrap();
    let head = e.s3.head("bad.txt").await.unwrap();
    let dest = down.join("bad.txt");
    std::fs::write(&dest, b"local copy").unwrap();
    let err = t.download(&head, &dest, &LocalExpect::Anything, &Counted::default()).await.unwrap_err();
    assert!(matches!(err, TransferError::Verify { .. }), "{err:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"local copy");
    assert!(temp_files_in(&down).is_empty(), "temp files are removed on failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_of_a_changed_or_mismatching_object_fails_garage() {
    download_of_a_changed_or_mismatching_object_fails(S3Server::garage()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_of_a_changed_or_mismatching_object_fails_moto() {
    download_of_a_changed_or_mismatching_object_fails(S3Server::moto()).await;
}

// ---------------------------------------------------------------- faults and retries

/// Transient failures of a part and a range are retried; permanent ones are
/// not; bytes corrupted in flight fail verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_permanent_ones_are_not() {
    let e = env(S3Server::garage(), "faults");
    let path = e.files.join("f.bin");
    // Two ranges, the second failing once; parts of 5 MiB.
    let size = DOWNLOAD_RANGE_SIZE + 4 * MIB;
    let data = random_file(&path, size);
    let hooked = Arc::new(
        Hooked::new(e.s3.clone())
            .on_part(|n, tries| if n == 2 && tries < 2 { Hook::Fail(offline()) } else { Hook::Pass })
            .on_range(|start, tries| {
                if start == DOWNLOAD_RANGE_SIZE && tries == 0 {
                    Hook::Fail(RemoteError::new(ErrorKind::Server, "injected: 500"))
                } else {
                    Hook::Pass
                }
            }),
    );
    hooked.lose_first_complete_answer.store(true, Ordering::SeqCst);
    let t = transfers(hooked.clone(), e.store.clone(), small_limits());
    t.upload(e.pair_id, &path, "f.bin", &state(&path), &ANY, &Counted::default()).await.unwrap();
    let mut parts: Vec<i32> = (1..=size.div_ceil(5 * MIB) as i32).collect();
    parts.splice(1..1, [2, 2]);
    assert_eq!(hooked.parts_sent(), parts, "part 2 tried three times, others once");
    // The retried Complete found the upload gone, and the object in place.
    assert_eq!(hooked.completes.load(Ordering::SeqCst), 2);
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 0);
    assert!(e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().is_empty());
    let head = e.s3.head("f.bin").await.unwrap();
    let dest = e.files.join("f.copy");
    t.download(&head, &dest, &LocalExpect::Anything, &Counted::default()).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == data);

    // Permission denied is not retried; the upload stays recorded for later.
    let denied =
        Arc::new(Hooked::new(e.s3.clone()).on_part(|_, _| {
            Hook::Fail(RemoteError::new(ErrorKind::PermissionDenied, "injected: AccessDenied"))
        }));
    let t = transfers(
        denied.clone(),
        e.store.clone(),
        TransferLimits { max_concurrent_parts: 1, ..small_limits() },
    );
    let err =
        t.upload(e.pair_id, &path, "g.bin", &state(&path), &ANY, &Counted::default()).await.unwrap_err();
    assert!(matches!(&err, TransferError::Remote(r) if r.kind == ErrorKind::PermissionDenied), "{err:?}");
    assert_eq!(denied.parts_sent(), vec![1], "tried once, then given up");
    assert_eq!(e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().len(), 1);

    // A byte flipped in transit is caught by the sha256 check.
    let corrupt =
        Arc::new(
            Hooked::new(e.s3.clone())
                .on_range(|start, _| if start == 0 { Hook::Corrupt } else { Hook::Pass }),
        );
    let t = transfers(corrupt, e.store.clone(), small_limits());
    let dest = e.files.join("f.corrupt");
    let err = t.download(&head, &dest, &LocalExpect::Anything, &Counted::default()).await.unwrap_err();
    assert!(matches!(err, TransferError::Verify { .. }), "{err:?}");
    assert!(!dest.exists());
    assert!(temp_files_in(&e.files).is_empty());
}

// ---------------------------------------------------------------- recovery

/// Starts a multipart upload that stalls from part 2 on, drops it once part 1
/// is recorded, and returns the recorded upload id.
async fn interrupted_upload(e: &Env, path: &Path, key: &str) -> String {
    let hooked =
        Arc::new(Hooked::new(e.s3.clone()).on_part(|n, _| if n >= 2 { Hook::Stall } else { Hook::Pass }));
    let t = transfers(hooked, e.store.clone(), TransferLimits { max_concurrent_parts: 1, ..small_limits() });
    let st = state(path);
    let progress = Counted::default();
    let upload = t.upload(e.pair_id, path, key, &st, &ANY, &progress);
    let recorded = async {
        loop {
            let parts = e.store.lock().unwrap().upload_parts(e.pair_id, key).unwrap();
            if !parts.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        r = upload => panic!("the upload should stall, got {r:?}"),
        _ = recorded => {}
    }
    e.store.lock().unwrap().get_upload(e.pair_id, key).unwrap().unwrap().upload_id
}

/// A recorded upload is resumed only by an upload of the very content it
/// started with: an upload of a changed file aborts it and starts afresh,
/// so does one past the stale threshold; `abort_unplanned` aborts those of
/// keys the pass does not upload, and keeps the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_uploads_resume_only_from_the_same_content_and_a_plan() {
    let e = env(S3Server::garage(), "stale");
    let [changed, old, gone, kept] =
        ["changed.bin", "old.bin", "gone.bin", "kept.bin"].map(|n| e.files.join(n));
    for f in [&changed, &old, &gone, &kept] {
        random_file(f, 12 * MIB);
    }
    let changed_id = interrupted_upload(&e, &changed, "changed.bin").await;
    let data = random_file(&changed, 12 * MIB + 1);

    let hooked = Arc::new(Hooked::new(e.s3.clone()));
    let t = transfers(hooked.clone(), e.store.clone(), small_limits());
    t.upload(e.pair_id, &changed, "changed.bin", &state(&changed), &ANY, &Counted::default()).await.unwrap();
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 1);
    assert_eq!(hooked.creates.load(Ordering::SeqCst), 1, "started afresh");
    assert_eq!(hooked.parts_sent(), vec![1, 2, 3], "every part from the new content");
    let err = e.s3.list_parts("changed.bin", &changed_id).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "the old upload is gone from the server: {err}");
    assert!(object_bytes(e.s3.as_ref(), "changed.bin").await == data);
    assert!(e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().is_empty());

    // An unchanged file whose upload is older than the threshold: aborted too.
    interrupted_upload(&e, &old, "old.bin").await;
    let t = transfers(hooked.clone(), e.store.clone(), small_limits()).with_stale_after(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(5)).await;
    t.upload(e.pair_id, &old, "old.bin", &state(&old), &ANY, &Counted::default()).await.unwrap();
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 2);
    assert_eq!(hooked.creates.load(Ordering::SeqCst), 2);
    assert!(e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().is_empty());

    // Not uploaded by the pass: aborted; uploaded by it: left to that upload.
    let gone_id = interrupted_upload(&e, &gone, "gone.bin").await;
    let kept_id = interrupted_upload(&e, &kept, "kept.bin").await;
    let t = transfers(hooked.clone(), e.store.clone(), small_limits());
    let uploading = std::collections::HashSet::from(["kept.bin".to_string()]);
    assert_eq!(t.abort_unplanned(e.pair_id, &uploading).await.unwrap(), 1);
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 3);
    let err = e.s3.list_parts("gone.bin", &gone_id).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    let rows: Vec<String> =
        e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().into_iter().map(|r| r.upload_id).collect();
    assert_eq!(rows, [kept_id]);
    assert_eq!(hooked.completes.load(Ordering::SeqCst), 2, "nothing completed but the two uploads");
}

/// Point 8: an abort that fails (offline) keeps the upload's row, so a
/// later pass tries the abort again instead of leaving parts on the server
/// that nothing knows of; once the server answers, the upload is aborted
/// and forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_abort_keeps_the_upload_for_a_later_try() {
    let e = env(S3Server::garage(), "abort-fails");
    let path = e.files.join("gone.bin");
    random_file(&path, 12 * MIB);
    let upload_id = interrupted_upload(&e, &path, "gone.bin").await;
    std::fs::remove_file(&path).unwrap();

    let offline_aborts = Arc::new(Hooked::new(e.s3.clone()));
    offline_aborts.fail_aborts.store(true, Ordering::SeqCst);
    let t = transfers(offline_aborts.clone(), e.store.clone(), small_limits());
    let nothing = std::collections::HashSet::new();
    t.abort_unplanned(e.pair_id, &nothing).await.unwrap();
    assert!(offline_aborts.aborts.load(Ordering::SeqCst) >= 1, "the abort was tried");
    let rows: Vec<String> =
        e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().into_iter().map(|r| r.upload_id).collect();
    assert_eq!(rows, [upload_id.as_str()], "the row stays while the upload is still open");
    e.s3.list_parts("gone.bin", &upload_id).await.expect("still open on the server");

    let hooked = Arc::new(Hooked::new(e.s3.clone()));
    let t = transfers(hooked.clone(), e.store.clone(), small_limits());
    t.abort_unplanned(e.pair_id, &nothing).await.unwrap();
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 1);
    assert!(e.store.lock().unwrap().list_uploads(e.pair_id).unwrap().is_empty());
    let err = e.s3.list_parts("gone.bin", &upload_id).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "aborted on the server: {err}");
}

const CHILD_ENV: &str = "BUCKETSYNC_TRANSFER_CRASH_CHILD";

/// Not a test of its own: the child process of `crash_*` below, started
/// by re-running this test binary with `--ignored --exact`. It uploads a
/// multipart file whose parts from 3 on never get an answer, and waits to
/// be killed with SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of the crash tests"]
async fn crash_child() {
    let var = |k: &str| std::env::var(format!("{CHILD_ENV}_{k}")).unwrap();
    let remote =
        Arc::new(s3(&var("ENDPOINT"), &var("REGION"), &var("KEY_ID"), &var("SECRET"), &var("BUCKET")));
    let hooked = Arc::new(Hooked::new(remote).on_part(|n, _| if n >= 3 { Hook::Stall } else { Hook::Pass }));
    let store = Arc::new(Mutex::new(Store::open(Path::new(&var("HOME"))).unwrap()));
    let t = transfers(hooked, store, TransferLimits { max_concurrent_parts: 2, ..small_limits() });
    let path = PathBuf::from(var("FILE"));
    let pair_id: i64 = var("PAIR").parse().unwrap();
    let r = t.upload(pair_id, &path, &var("OBJECT"), &state(&path), &ANY, &Counted::default()).await;
    panic!("the upload should have stalled until the kill: {r:?}");
}

async fn crash_mid_multipart_then_recover(server: &S3Server) {
    use std::os::unix::process::ExitStatusExt;
    let e = env(server, "crash");
    let path = e.files.join("crash.bin");
    let size = 4 * 5 * MIB + 1234 * 1024; // five parts
    let data = random_file(&path, size);
    let key = "deep/crash.bin";

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(format!("{CHILD_ENV}_ENDPOINT"), &server.endpoint)
        .env(format!("{CHILD_ENV}_REGION"), &server.region)
        .env(format!("{CHILD_ENV}_KEY_ID"), &server.access_key_id)
        .env(format!("{CHILD_ENV}_SECRET"), &server.secret_access_key)
        .env(format!("{CHILD_ENV}_BUCKET"), &e.bucket)
        .env(format!("{CHILD_ENV}_HOME"), &e.home)
        .env(format!("{CHILD_ENV}_PAIR"), e.pair_id.to_string())
        .env(format!("{CHILD_ENV}_FILE"), &path)
        .env(format!("{CHILD_ENV}_OBJECT"), key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // Wait (on the child's own database writes) until parts 1 and 2 are
    // recorded, then kill -9 it while parts 3 and 4 are in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let recorded = e.store.lock().unwrap().upload_parts(e.pair_id, key).unwrap().len();
        if recorded >= 2 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited early: {status}");
        }
        assert!(std::time::Instant::now() < deadline, "the child never recorded two parts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");

    // A fresh process state: new store connection, new Transfers.
    let store = Arc::new(Mutex::new(Store::open(&e.home).unwrap()));
    let recorded: Vec<i32> =
        store.lock().unwrap().upload_parts(e.pair_id, key).unwrap().iter().map(|p| p.number).collect();
    assert_eq!(recorded, vec![1, 2]);
    let hooked = Arc::new(Hooked::new(e.s3.clone()));
    let t = transfers(hooked.clone(), store.clone(), small_limits());
    t.upload(e.pair_id, &path, key, &state(&path), &RemoteExpect::Absent, &Counted::default()).await.unwrap();

    assert_eq!(hooked.parts_sent(), vec![3, 4, 5], "recorded parts are not sent again");
    assert_eq!(hooked.creates.load(Ordering::SeqCst), 0, "the same upload was continued");
    assert_eq!(hooked.completes.load(Ordering::SeqCst), 1);
    assert!(store.lock().unwrap().list_uploads(e.pair_id).unwrap().is_empty());
    let (head, user) = e.s3.head_with_metadata(key).await.unwrap();
    assert_eq!(head.size, size);
    assert!(user.contains(&("sha256".to_string(), sha(&data))), "{user:?}");
    assert!(object_bytes(e.s3.as_ref(), key).await == data, "the object is exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_multipart_then_recover_garage() {
    crash_mid_multipart_then_recover(S3Server::garage()).await;
}

/// moto's ListParts is unreadable by the SDK: resume relies on SQLite alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_multipart_then_recover_moto() {
    crash_mid_multipart_then_recover(S3Server::moto()).await;
}

/// A tmpfs of a few MiB, unmounted when dropped (the test runs as root, as
/// CI does; ENVIRONMENT.md lists this as the way to fake a full disk).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs needs root (CI runs as root)");
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A download that does not fit reports DiskFull and leaves no temp file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_onto_a_full_disk_is_disk_full() {
    let e = env(S3Server::garage(), "full");
    let t = transfers(e.s3.clone(), e.store.clone(), small_limits());
    let mut data = vec![0u8; 3 * MIB as usize];
    rand::rng().fill_bytes(&mut data);
    let meta = e.s3.put_bytes("big", Bytes::from(data), &[]).await.unwrap();
    let disk = SmallDisk::mount("1m");
    let dest = disk.dir.path().join("big");
    let err = t.download(&meta, &dest, &LocalExpect::Anything, &Counted::default()).await.unwrap_err();
    assert!(matches!(err, TransferError::DiskFull { .. }), "{err:?}");
    assert!(!dest.exists());
    assert!(temp_files_in(disk.dir.path()).is_empty(), "the temp file is removed");
}

/// Open multipart uploads that no row knows (a crash before the row was
/// written, a failed abort, a rebuilt database) are aborted once a day old;
/// the pair's recorded ones, young ones and ones outside its prefix stay,
/// and a second sweep within the day sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_uploads_are_aborted_once_a_day_old() {
    use bucketsync_engine::clock::{Clock, FixedClock};
    let server = S3Server::garage();
    let e = env(server, "orphans");
    let path = e.files.join("big.bin");
    random_file(&path, 7 * MIB);
    let known = interrupted_upload(&e, &path, "docs/big.bin").await;
    let orphan = e.s3.create_multipart("docs/orphan.bin", &[]).await.unwrap();
    let outside = e.s3.create_multipart("elsewhere/x.bin", &[]).await.unwrap();
    let open = |prefix: &'static str| {
        let s3 = e.s3.clone();
        async move {
            let mut ids: Vec<String> =
                s3.list_open_uploads(prefix).await.unwrap().into_iter().map(|u| u.upload_id).collect();
            ids.sort();
            ids
        }
    };
    let mut both = vec![known.clone(), orphan.clone()];
    both.sort();
    assert_eq!(open("docs/").await, both, "the server lists what is open under the prefix");

    let now = SystemClock.now_ms();
    let clock = Arc::new(FixedClock::at(now));
    let sem = Arc::new(tokio::sync::Semaphore::new(2));
    let t = Transfers::new(e.s3.clone(), e.store.clone(), small_limits(), sem, clock.clone())
        .with_retry_delays(Duration::from_millis(10), Duration::from_millis(50), 4);
    assert_eq!(t.sweep_orphans(e.pair_id, "docs/").await.unwrap(), None, "the first pass starts the clock");
    clock.set(now + 25 * 3_600_000);
    assert_eq!(t.sweep_orphans(e.pair_id, "docs/").await.unwrap(), Some(1));
    clock.set(now + 26 * 3_600_000);
    assert_eq!(t.sweep_orphans(e.pair_id, "docs/").await.unwrap(), None, "swept less than a day ago");
    assert_eq!(open("docs/").await, vec![known], "the recorded upload stays resumable");
    assert_eq!(open("elsewhere/").await, vec![outside], "outside the pair's prefix: not ours");
}
