//! The fault suite's crash points: for every point in
//! `bucketsync_engine::crash::POINTS` (between a temp write and its fsync,
//! an fsync and its rename, a transfer and the store's commit, a remote
//! write and the store's commit...) the real `bucketsync sync` process is
//! aborted right there, in a pass that moves files both ways, deletes on
//! both sides and meets a conflict. Restarted, it must converge: every
//! version still somewhere, exactly one conflict copy, no temp file at a
//! final name or left behind, both sides alike, and a quiet pass after.
//!
//! Needs the `fail-points` feature (the test selection in
//! scripts/selection.sh enables it). One point alone:
//!
//! ```sh
//! BUCKETSYNC_CRASH_POINT=download.synced cargo test -p bucketsync-cli --features fail-points --test crash
//! ```
#![cfg(feature = "fail-points")]

mod support;

use bucketsync_testserver::S3Server;
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use support::{files_below, local_contents, noise, sha, Bucket, Cli, MIB};

/// What the folder and the bucket must hold after the crash and the restart.
struct Expected {
    /// (path, SHA-256) of every file but the conflict's two versions.
    files: Contents,
    /// The two versions of `both.txt`; one keeps the name, one is the copy.
    conflict: BTreeSet<String>,
}

/// A synced pair, then one change of every kind waiting for the next pass.
fn prepare(server: &S3Server, root: &Path, n: usize) -> (Cli, Bucket, std::path::PathBuf, Expected) {
    let bucket = server.create_bucket(&format!("crash-{n}"));
    let folder = root.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let cli = Cli::new(&root.join("home")).with_env("SECRET", &server.secret_access_key);
    cli.add_policy("garage", &server.endpoint, &bucket, &server.access_key_id, "SECRET");
    cli.add_pair(&folder, "garage", "p");
    let other = Bucket::new(&server.endpoint, &server.access_key_id, &server.secret_access_key, &bucket);

    // Enough untouched files that two deletes stay under the guard's share.
    let mut files = Vec::new();
    for i in 0..8 {
        let body = format!("kept {i}");
        std::fs::write(folder.join(format!("keep-{i}.txt")), &body).unwrap();
        files.push((format!("keep-{i}.txt"), sha(body.as_bytes())));
    }
    for name in ["gone-here.txt", "gone-there.txt", "both.txt"] {
        std::fs::write(folder.join(name), format!("first {name}")).unwrap();
    }
    cli.ok(&["sync"]);

    // Local side: a delete, an edit, a multipart upload and a small one.
    std::fs::remove_file(folder.join("gone-here.txt")).unwrap();
    std::fs::write(folder.join("both.txt"), "edited here, and longer").unwrap();
    let up = noise(21 * MIB + 7, n as u64 * 2 + 1);
    std::fs::write(folder.join("up.bin"), &up).unwrap();
    std::fs::write(folder.join("up.txt"), "new here").unwrap();
    files.push(("up.bin".into(), sha(&up)));
    files.push(("up.txt".into(), sha(b"new here")));
    // The other side: a delete, the same file edited, a ranged download and a small one.
    other.delete("p/gone-there.txt");
    other.put("p/both.txt", "edited there");
    let down = noise(17 * MIB + 3, n as u64 * 2 + 2);
    other.put("p/down.bin", down.clone());
    other.put("p/down.txt", "new there");
    files.push(("down.bin".into(), sha(&down)));
    files.push(("down.txt".into(), sha(b"new there")));
    files.sort();
    let conflict = [sha(b"edited here, and longer"), sha(b"edited there")].into_iter().collect();
    (cli, other, folder, Expected { files, conflict })
}

/// (path, SHA-256) of files.
type Contents = Vec<(String, String)>;

/// Splits (path, hash) pairs into the conflict's versions and the rest.
fn split(all: Contents) -> (Contents, Contents) {
    all.into_iter().partition(|(p, _)| p == "both.txt" || p.starts_with("both (conflict "))
}

fn check(point: &str, cli: &Cli, other: &Bucket, folder: &Path, want: &Expected) {
    let strays: Vec<_> = files_below(folder).into_iter().filter(|n| n.contains(".bucketsync-")).collect();
    assert!(strays.is_empty(), "{point}: temp files left in the folder: {strays:?}");

    let (conflict, rest) = split(local_contents(folder));
    assert_eq!(rest, want.files, "{point}: the folder");
    assert_eq!(
        conflict.len(),
        2,
        "{point}: both.txt and exactly one conflict copy in the folder: {conflict:?}"
    );
    let versions: BTreeSet<String> = conflict.iter().map(|(_, h)| h.clone()).collect();
    assert_eq!(versions, want.conflict, "{point}: both versions of both.txt in the folder");

    let in_bucket: Vec<_> =
        other.contents("p/").into_iter().map(|(k, h)| (k.trim_start_matches("p/").to_string(), h)).collect();
    assert_eq!(in_bucket, local_contents(folder), "{point}: the bucket holds what the folder holds");

    let quiet = cli.ok(&["sync", "--json"]).json();
    let moved: usize = ["uploaded", "downloaded", "deleted_local", "deleted_remote", "conflicts"]
        .iter()
        .map(|k| quiet[0][k].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(moved, 0, "{point}: a pass after convergence still did something: {quiet}");
}

fn crash_and_recover(server: &S3Server, point: &str, n: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let (cli, other, folder, want) = prepare(server, tmp.path(), n);

    let crashed = cli.cmd(&["sync"]).env("BUCKETSYNC_TEST_CRASH_AT", point).output().unwrap();
    assert_eq!(
        crashed.status.signal(),
        Some(libc::SIGABRT),
        "{point}: the pass never reached the crash point (exit {:?}):\n{}",
        crashed.status,
        String::from_utf8_lossy(&crashed.stderr)
    );

    // A restart may need a second pass (a file the crash left half-done
    // waits one quiet period, say); more than three is no convergence.
    let mut last = cli.run(&["sync", "--json"]);
    for _ in 0..2 {
        if last.code == 0 {
            break;
        }
        last = cli.run(&["sync", "--json"]);
    }
    assert_eq!(last.code, 0, "{point}: no convergence after the crash:\n{}\n{}", last.stdout, last.stderr);
    check(point, &cli, &other, &folder, &want);
}

#[test]
fn crashed_at_every_point_it_converges_without_loss() {
    let server = S3Server::garage();
    let only = std::env::var("BUCKETSYNC_CRASH_POINT").ok();
    let points: Vec<&str> = bucketsync_api::CRASH_POINTS
        .iter()
        .copied()
        .filter(|p| only.as_deref().is_none_or(|o| o == *p))
        .collect();
    assert!(!points.is_empty(), "no crash point named {only:?}");
    for (n, point) in points.iter().enumerate() {
        eprintln!("crash point {point}");
        crash_and_recover(server, point, n);
    }
}

#[test]
fn without_a_crash_the_same_pass_converges_at_once() {
    // The scenario itself, uncrashed: one pass, and every check holds.
    let server = S3Server::garage();
    let tmp = tempfile::tempdir().unwrap();
    let (cli, other, folder, want) = prepare(server, tmp.path(), 99);
    cli.ok(&["sync"]);
    check("no crash", &cli, &other, &folder, &want);
}
