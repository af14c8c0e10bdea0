//! The home's database deleted, or corrupted, between two runs. The sync
//! state is rebuilt from scratch (policy and pair added again, as a user
//! must after losing them): the first pass is a union that adopts what both
//! sides hold, copies what only one side has, and deletes nothing, moves
//! nothing twice. A corrupted database is set aside (kept for inspection)
//! with a message, instead of locking the user out.

mod support;

use bucketsync_testserver::S3Server;
use std::path::Path;
use support::{local_contents, noise, sha, Bucket, Cli, MIB};

fn setup(cli: &Cli, server: &S3Server, bucket: &str, folder: &Path) {
    cli.add_policy("g", &server.endpoint, bucket, &server.access_key_id, "SECRET");
    cli.add_pair(folder, "g", "docs");
}

fn db_files(home: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(home)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("bucketsync.db"))
        .collect()
}

/// A synced pair, then `damage` to the database, then the state rebuilt:
/// nothing deleted, equal files adopted, the changes meanwhile copied.
fn rebuilds_without_deleting(hint: &str, damage: impl Fn(&Path)) -> String {
    let server = S3Server::garage();
    let bucket = server.create_bucket(hint);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let cli = Cli::new(&home).with_env("SECRET", &server.secret_access_key);
    setup(&cli, server, &bucket, &folder);
    let other = Bucket::new(&server.endpoint, &server.access_key_id, &server.secret_access_key, &bucket);
    std::fs::write(folder.join("a.txt"), "alpha").unwrap();
    std::fs::write(folder.join("big.bin"), noise(17 * MIB, 3)).unwrap();
    other.put("docs/b.txt", "bravo");
    cli.ok(&["sync"]);
    // A synced file deleted locally is still a file to delete later: with
    // the state lost it must come back, not take the bucket's copy with it.
    std::fs::remove_file(folder.join("a.txt")).unwrap();
    std::fs::write(folder.join("new-here.txt"), "made while the state was lost").unwrap();
    other.put("docs/new-there.txt", "made elsewhere meanwhile");
    let bucket_before = other.listing("docs/");

    damage(&home);
    let first = cli.run(&["sync"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("No pairs to sync"), "the state is gone: {}", first.stdout);
    setup(&cli, server, &bucket, &folder);
    let run = cli.ok(&["sync", "--json"]);
    let r = &run.json()[0];
    assert_eq!(r["deleted_remote"], serde_json::json!([]), "{r}");
    assert_eq!(r["deleted_local"], serde_json::json!([]), "{r}");
    assert_eq!(r["conflicts"], serde_json::json!([]), "{r}");
    assert_eq!(r["uploaded"], serde_json::json!(["new-here.txt"]), "{r}");
    assert_eq!(r["downloaded"], serde_json::json!(["a.txt", "new-there.txt"]), "{r}");
    assert_eq!(r["adopted"], serde_json::json!(["b.txt", "big.bin"]), "equal files are not sent again: {r}");
    for object in &bucket_before {
        assert!(other.listing("docs/").contains(object), "{object:?} changed in the bucket");
    }
    let local: Vec<_> = local_contents(&folder).into_iter().map(|(p, _)| p).collect();
    assert_eq!(local, ["a.txt", "b.txt", "big.bin", "new-here.txt", "new-there.txt"]);
    assert_eq!(sha(&std::fs::read(folder.join("big.bin")).unwrap()), sha(&noise(17 * MIB, 3)));
    let quiet = cli.ok(&["sync", "--json"]).json();
    assert_eq!(quiet[0]["converged"], true);
    assert_eq!(quiet[0]["adopted"], serde_json::json!([]));
    first.stderr
}

#[test]
fn a_deleted_database_is_rebuilt_without_deleting_anything() {
    rebuilds_without_deleting("db-deleted", |home| {
        for f in db_files(home) {
            std::fs::remove_file(f).unwrap();
        }
    });
}

#[test]
fn a_corrupted_database_is_set_aside_and_rebuilt_without_deleting_anything() {
    let said = rebuilds_without_deleting("db-garbage", |home| {
        // The header and first pages overwritten, as a bad disk or a stray write leaves them.
        let db = home.join("bucketsync.db");
        let mut bytes = std::fs::read(&db).unwrap();
        let garbage = noise(8192.min(bytes.len()), 9);
        bytes[..garbage.len()].copy_from_slice(&garbage);
        std::fs::write(&db, bytes).unwrap();
    });
    assert!(said.contains("damaged") && said.contains("set aside"), "the user is told: {said}");
}

#[test]
fn a_truncated_database_is_set_aside_and_rebuilt_without_deleting_anything() {
    rebuilds_without_deleting("db-truncated", |home| {
        // Checkpointed into the main file, then cut in half (a torn copy or a full disk).
        let db = home.join("bucketsync.db");
        for f in db_files(home).into_iter().filter(|f| *f != db) {
            std::fs::remove_file(f).unwrap();
        }
        let len = std::fs::metadata(&db).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len / 2).unwrap();
    });
}
