//! Network faults between the engine and a real Garage, injected by the
//! fault proxy (crates/testserver): connections reset mid-body, server
//! errors and throttling, a listing that fails on a later page, a black hole
//! mid-transfer, a slow link. The real S3 client talks through the proxy;
//! "another client" reaches Garage directly to check what the bucket holds.

mod support;

use bucketsync_engine::event::{FaultKind, PairStatus};
use bucketsync_engine::pass::PassError;
use bucketsync_engine::transfer::DOWNLOAD_RANGE_SIZE;
use bucketsync_remote::{ErrorKind, Timeouts};
use bucketsync_testserver::{Down, Fault, FaultProxy, S3Server};
use std::time::Duration;
use support::device::{device, noise, s3, sha, wait_for_status, Device, Other, MIB, SHORT};

struct Net {
    proxy: FaultProxy,
    dev: Device,
    other: Other,
}

/// A device reaching a fresh Garage bucket through a fault proxy.
fn net(hint: &str) -> Net {
    let server = S3Server::garage();
    let bucket = server.create_bucket(hint);
    let proxy = FaultProxy::start(&server.endpoint);
    let (region, key, secret) = (&server.region, &server.access_key_id, &server.secret_access_key);
    let dev = device(s3(&proxy.endpoint(), region, key, secret, &bucket, &SHORT), &bucket, None);
    let other = Other(s3(&server.endpoint, region, key, secret, &bucket, &Timeouts::default()));
    Net { proxy, dev, other }
}

fn offline(s: &PairStatus) -> bool {
    matches!(s, PairStatus::Error { kind: FaultKind::Remote(ErrorKind::Offline), .. })
}

fn synced(s: &PairStatus) -> bool {
    matches!(s, PairStatus::Idle { last_sync_ms: Some(_) })
}

/// Waits (bounded) until the proxy has seen a request `f` accepts.
async fn until_seen(proxy: &FaultProxy, what: &str, f: impl Fn(&bucketsync_testserver::proxy::Seen) -> bool) {
    for _ in 0..600 {
        if proxy.count(&f) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy never saw {what}");
}

fn no_temp_files(dev: &Device) {
    let temps: Vec<_> = dev.files().into_iter().filter(|f| f.contains(".bucketsync-tmp-")).collect();
    assert!(temps.is_empty(), "temp files left behind: {temps:?}");
}

/// Connections reset in the middle of a download range, of an upload part
/// and of a single PUT: each is retried and both sides end up whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_mid_body_are_retried_and_nothing_arrives_torn() {
    let Net { proxy, dev, other } = net("net-reset");
    let down = noise(DOWNLOAD_RANGE_SIZE as usize + 6 * MIB, 1); // two ranges
    let up = noise(13 * MIB, 2); // three parts
    let small = noise(100 * 1024, 3); // one PUT
    other.put("down.bin", down.clone()).await;
    dev.write("up.bin", &up);
    dev.write("small.bin", &small);
    proxy.on(
        |r| r.is_get_object() && r.header("range").is_some(),
        Fault::ResetResponseAfter(512 * 1024),
        Some(2),
    );
    proxy.on(|r| r.is_upload_part(), Fault::ResetRequestAfter(256 * 1024), Some(2));
    proxy.on(
        |r| r.is_put_object() && r.key_ends_with("small.bin"),
        Fault::ResetRequestAfter(10_000),
        Some(1),
    );

    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["small.bin", "up.bin"]);
    assert_eq!(r.downloaded, ["down.bin"]);
    assert_eq!(proxy.count(|s| s.fault.is_some()), 5, "every injected reset happened");
    assert_eq!(sha(&dev.read("down.bin").unwrap()), sha(&down));
    assert_eq!(sha(&other.get("up.bin").await.unwrap()), sha(&up));
    assert_eq!(sha(&other.get("small.bin").await.unwrap()), sha(&small));
    no_temp_files(&dev);
    dev.assert_quiet().await;
}

/// 500 and 503 SlowDown answers are retried (the SDK's and the engine's
/// backoff); throttling that does not stop ends the pass with a status that
/// says so, and the next pass after it stops moves the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_throttling_are_retried_then_reported() {
    let Net { proxy, dev, other } = net("net-5xx");
    dev.write("a.txt", "alpha");
    dev.write("b.txt", "bravo");
    other.put("c.txt", "charlie").await;
    proxy.on(|r| r.is_list(), Fault::Status(503, "SlowDown"), Some(1));
    proxy.on(|r| r.is_put_object(), Fault::Status(503, "SlowDown"), Some(2));
    proxy.on(|r| r.is_get_object(), Fault::Status(500, "InternalError"), Some(2));
    let r = dev.sync().await;
    assert_eq!((r.uploaded.len(), r.downloaded.len()), (2, 1), "{r:?}");
    let seen = proxy.seen();
    for (i, s) in seen.iter().enumerate().filter(|(_, s)| s.fault.is_some()) {
        assert!(
            seen[i + 1..].iter().any(|l| l.fault.is_none() && l.method == s.method && l.path == s.path),
            "{} {} was refused and never tried again",
            s.method,
            s.path
        );
    }

    // The server keeps throttling every upload.
    proxy.on(|r| r.is_put_object(), Fault::Status(503, "SlowDown"), None);
    dev.write("d.txt", "delta");
    other.put("e.txt", "echo").await;
    let r = dev.pass().await.unwrap();
    assert_eq!(r.downloaded, ["e.txt"], "what does not need a PUT still moves");
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert_eq!(r.errors[0].kind, FaultKind::Remote(ErrorKind::Throttled));
    assert!(r.errors[0].retryable);
    match dev.last_status() {
        Some(PairStatus::Error { kind: FaultKind::Remote(ErrorKind::Throttled), .. }) => {}
        other => panic!("the pair's status must say it is throttled, not {other:?}"),
    }
    assert!(other.get("d.txt").await.is_none());
    proxy.clear_rules();
    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["d.txt"]);
    dev.assert_quiet().await;
}

/// A listing that breaks on its second page (an error answer, then an
/// answer cut mid-body) abandons the pass: nothing is decided from the
/// first page alone, although it lacks a file that is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_fails_on_a_later_page_decides_nothing() {
    let Net { proxy, dev, other } = net("net-page");
    // 1,001 objects: ListObjectsV2 pages hold 1,000, so 1000.txt is on page 2.
    for n in 0..=1000 {
        dev.write(&format!("{n:04}.txt"), format!("file {n}"));
    }
    let r = dev.sync().await;
    assert_eq!(r.uploaded.len(), 1001);
    let listing_before = other.listing().await;
    std::fs::remove_file(dev.root.join("0000.txt")).unwrap(); // would delete in the bucket
    for fault in [Fault::Status(500, "InternalError"), Fault::ResetResponseAfter(300)] {
        proxy.clear_rules();
        proxy.forget_seen();
        proxy.on(|r| r.is_later_list_page(), fault.clone(), None);
        let err = dev.pass().await.expect_err("a broken listing fails the pass");
        assert!(matches!(err, PassError::Listing(_)), "{err}");
        assert!(proxy.count(|s| s.fault.is_none() && s.query.contains("list-type")) > 0, "page 1 was read");
        assert!(
            dev.root.join("1000.txt").exists(),
            "{fault:?}: a file on the unread page was deleted locally"
        );
        assert_eq!(other.listing().await, listing_before, "{fault:?}: the bucket changed");
        match dev.last_status() {
            Some(PairStatus::Error { kind: FaultKind::Remote(_), .. }) => {}
            s => panic!("status after a failed listing: {s:?}"),
        }
    }
    proxy.clear_rules();
    let r = dev.sync().await;
    assert_eq!(r.deleted_remote, ["0000.txt"]);
    assert!(r.deleted_local.is_empty() && r.downloaded.is_empty(), "{r:?}");
}

/// The link turns into a black hole in the middle of a download: timeouts
/// fire, the pair says it is offline, no partial file appears and nothing
/// in the bucket changes; when the link returns the runner picks up and
/// converges. Then the same with the link down before a pass starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_hole_makes_the_pair_offline_and_it_resumes() {
    let Net { proxy, dev, other } = net("net-hole");
    dev.write("a.txt", "alpha");
    dev.sync().await;
    let big = noise(20 * MIB, 4);
    other.put("big.bin", big.clone()).await;
    dev.write("new.txt", "created while the network was flaky");
    let before = other.listing().await;
    proxy.set_rate(Some(4 * MIB as u64));
    let pair = dev.spawn(Duration::from_millis(500));
    until_seen(&proxy, "the download start", |s| s.method == "GET" && s.path.ends_with("big.bin")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.link_down(Down::BlackHole);
    // An offline pair says when it tries again.
    let retrying = |s: &PairStatus| offline(s) && matches!(s, PairStatus::Error { retry_at_ms: Some(_), .. });
    let status = wait_for_status(&pair, Duration::from_secs(90), "offline, retrying", retrying).await;
    let PairStatus::Error { message, .. } = status else { unreachable!() };
    assert!(message.starts_with("offline: "), "{message}");
    assert!(!dev.root.join("big.bin").exists(), "no partial file at the final path");
    no_temp_files(&dev);
    assert_eq!(dev.read("a.txt").unwrap(), b"alpha");
    let during: Vec<_> = other.listing().await.into_iter().filter(|(k, _)| k != "new.txt").collect();
    assert_eq!(during, before, "the bucket's other objects are untouched");

    proxy.link_up();
    proxy.set_rate(None);
    wait_for_status(&pair, Duration::from_secs(90), "synced again", synced).await;
    assert_eq!(sha(&dev.read("big.bin").unwrap()), sha(&big));
    assert_eq!(other.get("new.txt").await.unwrap(), b"created while the network was flaky");

    // Down before the pass: the listing times out.
    proxy.link_down(Down::BlackHole);
    other.put("later.txt", "later").await;
    pair.send(bucketsync_engine::runner::Command::SyncNow);
    wait_for_status(&pair, Duration::from_secs(90), "offline again", offline).await;
    assert!(!dev.root.join("later.txt").exists());
    proxy.link_up();
    wait_for_status(&pair, Duration::from_secs(90), "synced at last", synced).await;
    assert_eq!(dev.read("later.txt").unwrap(), b"later");
    pair.stop().await;
    no_temp_files(&dev);
}

/// A link so slow that one part takes longer than the read timeout still
/// moves everything: the timeouts notice a link that stalls, not one that
/// is slow. Progress is reported as the bytes go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_is_slow_not_broken() {
    let Net { proxy, dev, other } = net("net-slow");
    let up = noise(11 * MIB, 5); // parts of 5, 5 and 1 MiB, sent at once
    let down = noise(9 * MIB, 6);
    dev.write("up.bin", &up);
    other.put("down.bin", down.clone()).await;
    // 5 MiB parts sharing 3 MiB/s take about 4 s each: more than SHORT.idle.
    proxy.set_rate(Some(3 * MIB as u64));
    let r = dev.sync().await;
    assert_eq!(
        (r.uploaded.as_slice(), r.downloaded.as_slice()),
        (&["up.bin".to_string()][..], &["down.bin".to_string()][..])
    );
    assert_eq!(sha(&other.get("up.bin").await.unwrap()), sha(&up));
    assert_eq!(sha(&dev.read("down.bin").unwrap()), sha(&down));
    let progress: Vec<u64> = dev
        .statuses
        .lock()
        .unwrap()
        .iter()
        .filter_map(|s| match s {
            PairStatus::Transferring { bytes_done, .. } => Some(*bytes_done),
            _ => None,
        })
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress never goes back: {progress:?}");
    assert_eq!(progress.last(), Some(&(20 * MIB as u64)));
    assert!(progress.len() > 3, "progress is reported along the way: {progress:?}");
    let parts = proxy.count(|s| s.method == "PUT" && s.query.contains("partNumber"));
    let ranges = proxy.count(|s| s.method == "GET" && s.path.ends_with("down.bin"));
    let expected_ranges = (down.len() as u64).div_ceil(DOWNLOAD_RANGE_SIZE) as usize;
    assert_eq!((parts, ranges), (3, expected_ranges), "no request was given up on and sent again");
    proxy.set_rate(None);
    dev.assert_quiet().await;
}
