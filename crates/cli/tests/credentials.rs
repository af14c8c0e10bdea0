//! The pair's key is revoked in the middle of a sync (Garage: `key
//! delete`): the pass stops with "credentials rejected", nothing is deleted
//! on either side, and after `policy update` with a new key the next sync
//! finishes without sending again what had already arrived.

mod support;

use bucketsync_testserver::{FaultProxy, S3Server};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{files_below, local_contents, noise, sha, Bucket, Cli, MIB};

/// (path, part number or "") of every PUT the server acknowledged.
fn acknowledged_puts(proxy: &FaultProxy) -> BTreeSet<(String, String)> {
    proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" && s.status == Some(200))
        .map(|s| {
            let part =
                s.query.split('&').find_map(|p| p.strip_prefix("partNumber=")).unwrap_or("").to_string();
            (s.path, part)
        })
        .collect()
}

#[test]
fn a_key_revoked_mid_sync_stops_the_pair_and_a_new_key_resumes_it() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("revoked");
    let (id1, secret1) = server.create_key(&bucket, true, true).unwrap();
    let (id2, secret2) = server.create_key(&bucket, true, true).unwrap();
    let proxy = FaultProxy::start(&server.endpoint);
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let cli = Cli::new(&tmp.path().join("home")).with_env("KEY1", &secret1).with_env("KEY2", &secret2);
    cli.add_policy("garage", &proxy.endpoint(), &bucket, &id1, "KEY1");
    cli.add_pair(&folder, "garage", "docs");
    std::fs::write(folder.join("a.txt"), "alpha").unwrap();
    std::fs::write(folder.join("b.txt"), "bravo").unwrap();
    cli.ok(&["sync"]);
    let other = Bucket::new(&server.endpoint, &server.access_key_id, &server.secret_access_key, &bucket);

    // Changes on both sides, then a sync slow enough to revoke the key in the middle.
    let big = noise(24 * MIB, 7); // multipart: five parts
    std::fs::write(folder.join("big.bin"), &big).unwrap();
    std::fs::write(folder.join("c.txt"), "charlie").unwrap();
    other.put("docs/d.txt", "delta");
    let bucket_before = other.listing("docs/");
    let local_before = local_contents(&folder);
    proxy.set_rate(Some(4 * MIB as u64));
    // Four requests at once (the limit this test was written for): with the
    // default 16 all five parts run side by side and finish together, before
    // the key can be revoked between them; with fewer, a part starts after
    // the revocation and Garage resets its connection mid-body (seen as
    // offline, not as the rejected key this test is about).
    let child = cli
        .cmd(&["sync", "--json", "--transfers", "4"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.count(|s| s.query.contains("partNumber") && s.status == Some(200)) < 2 {
        assert!(Instant::now() < deadline, "the big upload never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.delete_key(&id1);
    let run = support::Run::of(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "a sync with a revoked key fails:\n{}\n{}", run.stdout, run.stderr);
    let report = &run.json()[0];
    let errors = report["errors"].as_array().unwrap();
    assert!(!errors.is_empty(), "{report}");
    assert!(
        errors.len() <= 4,
        "the pass stops at the revoked key instead of failing file by file: {errors:?}"
    );
    for e in errors {
        assert_eq!(e["kind"]["remote"], "bad-credentials", "{e}");
    }
    assert!(run.stderr.contains("error: credentials rejected"), "the status says why:\n{}", run.stderr);

    // Nothing deleted, nothing half-written, nothing duplicated.
    let bucket_during = other.listing("docs/");
    for object in &bucket_before {
        assert!(bucket_during.contains(object), "{object:?} changed or vanished in the bucket");
    }
    let local_during = local_contents(&folder);
    for file in &local_before {
        assert!(local_during.contains(file), "{file:?} changed or vanished locally");
    }
    let names = files_below(&folder);
    assert!(names.iter().all(|n| !n.contains(".bucketsync-tmp") && !n.contains("(conflict")), "{names:?}");

    // A new key through `policy update`: the sync finishes, sending only what had not arrived.
    let acknowledged = acknowledged_puts(&proxy);
    proxy.forget_seen();
    proxy.set_rate(None);
    cli.ok(&["policy", "update", "garage", "--access-key-id", &id2, "--secret-source", "env:KEY2"]);
    let run = cli.ok(&["sync", "--json"]);
    assert_eq!(run.json()[0]["converged"], true, "{}", run.stdout);
    let resent: Vec<_> = acknowledged_puts(&proxy).intersection(&acknowledged).cloned().collect();
    assert!(resent.is_empty(), "sent again although the server had them: {resent:?}");
    assert_eq!(sha(&other.get("docs/big.bin").unwrap()), sha(&big));
    assert_eq!(other.get("docs/c.txt").unwrap(), b"charlie");
    assert_eq!(std::fs::read(folder.join("d.txt")).unwrap(), b"delta");
    let quiet = cli.ok(&["sync", "--json"]).json();
    assert_eq!(
        quiet[0]["uploaded"].as_array().unwrap().len() + quiet[0]["downloaded"].as_array().unwrap().len(),
        0
    );
}
