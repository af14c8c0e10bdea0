//! A key that loses its rights on the bucket while the pair's runner runs
//! (Garage: `bucket deny`): the status says "credentials rejected", the
//! runner stops trying on its own (every pass would fail alike), and once
//! the rights are back a "sync now" converges. The CLI's test of a key
//! deleted mid-transfer is crates/cli/tests/credentials.rs.

mod support;

use bucketsync_engine::event::{FaultKind, PairStatus};
use bucketsync_engine::runner::Command;
use bucketsync_remote::{ErrorKind, Remote, Timeouts};
use bucketsync_testserver::{FaultProxy, S3Server};
use std::time::Duration;
use support::device::{device, s3, wait_for_status, Other, SHORT};

fn rejected(s: &PairStatus) -> bool {
    matches!(
        s,
        PairStatus::Error {
            kind: FaultKind::Remote(ErrorKind::PermissionDenied | ErrorKind::BadCredentials),
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_key_stops_the_runner_until_it_is_told_to_sync() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("denied");
    let (id, secret) = server.create_key(&bucket, true, true).unwrap();
    let proxy = FaultProxy::start(&server.endpoint);
    let remote = s3(&proxy.endpoint(), &server.region, &id, &secret, &bucket, &SHORT);
    let dev = device(remote, &bucket, None);
    let (region, main_id, main_secret) = (&server.region, &server.access_key_id, &server.secret_access_key);
    let other = Other(s3(&server.endpoint, region, main_id, main_secret, &bucket, &Timeouts::default()));
    dev.write("a.txt", "alpha");
    dev.sync().await;

    server.deny_key(&bucket, &id);
    dev.write("b.txt", "bravo");
    other.put("c.txt", "charlie").await;
    let before = other.listing().await;
    let pair = dev.spawn(Duration::from_millis(200));
    let status = wait_for_status(&pair, Duration::from_secs(60), "credentials rejected", rejected).await;
    let PairStatus::Error { message, retry_at_ms, .. } = status else { unreachable!() };
    assert!(message.starts_with("credentials rejected: "), "{message}");
    assert_eq!(retry_at_ms, None, "a refused key is not retried by itself");
    // Many retry periods later, the runner has sent nothing more.
    let sent = proxy.seen().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(proxy.seen().len(), sent, "the runner kept knocking with a refused key");
    assert!(rejected(&pair.status()), "{:?}", pair.status());
    assert_eq!(other.listing().await, before, "nothing changed in the bucket");
    assert!(!dev.root.join("c.txt").exists() && dev.root.join("a.txt").exists());

    // The rights come back (Garage may take a moment to see it), then the user says "sync now".
    server.allow_key(&bucket, &id);
    let probe = s3(&server.endpoint, region, &id, &secret, &bucket, &SHORT);
    for _ in 0..100 {
        if probe.list_page("", None).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pair.send(Command::SyncNow);
    wait_for_status(&pair, Duration::from_secs(60), "synced", |s| {
        matches!(s, PairStatus::Idle { last_sync_ms: Some(_) })
    })
    .await;
    assert_eq!(other.get("b.txt").await.unwrap(), b"bravo");
    assert_eq!(dev.read("c.txt").unwrap(), b"charlie");
    pair.stop().await;
}

/// The server starts refusing the key in the middle of a pass of many
/// uploads (injected: every PUT after the first answers
/// `InvalidAccessKeyId`): the pass stops there instead of failing file by
/// file, and the next pass, with the key accepted again, sends the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_refused_mid_pass_stops_the_pass_early() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("refused");
    let proxy = FaultProxy::start(&server.endpoint);
    let (region, id, secret) = (&server.region, &server.access_key_id, &server.secret_access_key);
    let dev = device(s3(&proxy.endpoint(), region, id, secret, &bucket, &SHORT), &bucket, None);
    for n in 0..30 {
        dev.write(&format!("{n:02}.txt"), format!("file {n}"));
    }
    let first_put = std::sync::atomic::AtomicBool::new(true);
    proxy.on(
        move |r| r.is_put_object() && !first_put.swap(false, std::sync::atomic::Ordering::SeqCst),
        bucketsync_testserver::Fault::Status(403, "InvalidAccessKeyId"),
        None,
    );
    let r = dev.pass().await.unwrap();
    // Files move as wide as the transfer limit.
    let in_flight = dev.ctx.transfers.limits().max_concurrent_parts;
    assert_eq!(r.uploaded.len(), 1, "{r:?}");
    assert!(
        (1..=in_flight).contains(&r.errors.len()),
        "only the uploads already under way fail; the rest are not tried: {} errors",
        r.errors.len()
    );
    assert!(
        r.errors.iter().all(|e| e.kind == FaultKind::Remote(ErrorKind::BadCredentials)),
        "{:?}",
        r.errors
    );
    let puts = proxy.count(|s| s.method == "PUT");
    assert!(puts <= 1 + in_flight, "{puts} PUTs sent with a refused key");
    match dev.last_status() {
        Some(PairStatus::Error {
            kind: FaultKind::Remote(ErrorKind::BadCredentials),
            message,
            retry_at_ms: None,
        }) => {
            assert!(message.starts_with("credentials rejected: "), "{message}")
        }
        s => panic!("status after the refusal: {s:?}"),
    }
    proxy.clear_rules();
    let r = dev.sync().await;
    assert_eq!(r.uploaded.len(), 29);
    dev.assert_quiet().await;
}
