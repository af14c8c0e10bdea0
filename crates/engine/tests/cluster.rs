//! A distributed store underneath: a three-node Garage cluster on loopback
//! with every object on all three nodes (replication factor 3, quorum 2).
//! A node is killed with SIGKILL in the middle of a sync: the pass carries
//! on or retries, converges, and nothing is lost. Then the node the client
//! talks to dies mid-sync: the pair goes offline without losing anything and
//! converges once the node is back.

mod support;

use bucketsync_engine::event::{FaultKind, PairStatus};
use bucketsync_remote::{ErrorKind, Timeouts};
use bucketsync_testserver::{FaultProxy, GarageCluster};
use std::time::{Duration, Instant};
use support::device::{device, noise, s3, sha, Device, Other, MIB};

/// A pass, then more passes while the last one failed, at most `tries`.
async fn converge(dev: &Device, tries: usize, cluster: &GarageCluster) -> usize {
    for n in 1..=tries {
        match dev.pass().await {
            Ok(r) if r.converged() => return n,
            Ok(r) => eprintln!("pass {n} not converged: {:?}", r.errors),
            Err(e) => eprintln!("pass {n} failed: {e}"),
        }
    }
    panic!(
        "no convergence in {tries} passes; node 0 sees:\n{}\nnode 0 log:\n{}\nnode 1 log:\n{}",
        cluster.node(0).status(),
        cluster.node(0).log_tail(15),
        cluster.node(1).log_tail(15),
    );
}

async fn wait_for_acknowledged_parts(proxy: &FaultProxy, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.count(|s| s.query.contains("partNumber") && s.status == Some(200)) < n {
        assert!(Instant::now() < deadline, "the upload never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_sync_loses_nothing() {
    let cluster = GarageCluster::start(3, 3);
    let bucket = cluster.create_bucket("cluster");
    let (id, secret) = (cluster.access_key_id(), cluster.secret_access_key());
    // The pair talks to node 0 through a slow link, so the kills land mid-sync.
    let proxy = FaultProxy::start(&cluster.endpoint(0));
    let timeouts = Timeouts { connect: Duration::from_secs(2), idle: Duration::from_secs(10) };
    let dev = device(s3(&proxy.endpoint(), "garage", id, secret, &bucket, &timeouts), &bucket, None);
    let other = Other(s3(&cluster.endpoint(1), "garage", id, secret, &bucket, &Timeouts::default()));

    let mut expected = Vec::new();
    for n in 0..6u64 {
        let body = noise(MIB, n);
        dev.write(&format!("up-{n}.bin"), &body);
        expected.push((format!("up-{n}.bin"), sha(&body)));
    }
    let big = noise(16 * MIB, 99); // four parts
    dev.write("big-up.bin", &big);
    expected.push(("big-up.bin".into(), sha(&big)));
    let down = noise(10 * MIB, 98);
    other.put("down.bin", down.clone()).await;
    expected.push(("down.bin".into(), sha(&down)));
    expected.sort();

    // Node 2 dies while the big upload is half-way.
    proxy.set_rate(Some(8 * MIB as u64));
    let killer = async {
        wait_for_acknowledged_parts(&proxy, 1).await;
        cluster.node(2).kill();
    };
    let (first, ()) = tokio::join!(dev.pass(), killer);
    eprintln!("the pass during the kill: {:?}", first.as_ref().map(|r| &r.errors));
    proxy.set_rate(None);
    converge(&dev, 3, &cluster).await;
    assert_eq!(dev.contents(), expected, "local side");
    assert_eq!(other.contents().await, expected, "the bucket, read from another node");
    dev.assert_quiet().await;

    // The node comes back; then the node the pair talks to dies mid-sync.
    cluster.node(2).restart();
    let big2 = noise(16 * MIB, 97);
    dev.write("big-up-2.bin", &big2);
    proxy.forget_seen();
    proxy.set_rate(Some(8 * MIB as u64));
    let killer = async {
        wait_for_acknowledged_parts(&proxy, 1).await;
        cluster.node(0).kill();
    };
    let (during, ()) = tokio::join!(dev.pass(), killer);
    let offline = match during {
        Ok(r) => r.errors.iter().any(|e| e.kind == FaultKind::Remote(ErrorKind::Offline)),
        Err(e) => e.kind() == Some(FaultKind::Remote(ErrorKind::Offline)),
    };
    assert!(offline, "the node the pair talks to is gone: offline");
    assert!(
        matches!(
            dev.last_status(),
            Some(PairStatus::Error { kind: FaultKind::Remote(ErrorKind::Offline), .. })
        ),
        "{:?}",
        dev.last_status()
    );
    assert_eq!(dev.read("big-up-2.bin").map(|b| sha(&b)), Some(sha(&big2)), "the local file is untouched");
    cluster.node(0).restart();
    proxy.set_rate(None);
    converge(&dev, 3, &cluster).await;
    expected.push(("big-up-2.bin".into(), sha(&big2)));
    expected.sort();
    assert_eq!(dev.contents(), expected);
    assert_eq!(other.contents().await, expected);
    dev.assert_quiet().await;
}
