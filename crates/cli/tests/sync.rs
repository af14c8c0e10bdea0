//! `bucketsync pair/sync/status/ls/daemon` as a user runs them: the built
//! binary, a temp home, the local Garage server, the secret in an env var.

use bucketsync_testserver::S3Server;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cmd(home: &Path, args: &[&str]) -> Command {
    let server = S3Server::garage();
    let mut c = Command::new(env!("CARGO_BIN_EXE_bucketsync"));
    c.arg("--home").arg(home).args(args).env("TEST_SECRET", &server.secret_access_key);
    c
}

fn bucketsync(home: &Path, args: &[&str]) -> Run {
    let out = cmd(home, args).stdin(Stdio::null()).output().expect("run bucketsync");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(home: &Path, args: &[&str]) -> String {
    let r = bucketsync(home, args);
    assert_eq!(r.code, 0, "{args:?} failed:\n{}\n{}", r.stdout, r.stderr);
    r.stdout
}

/// A home with policy `garage` on a fresh bucket and pair `docs` on `folder`.
fn setup(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    setup_on(tmp, S3Server::garage(), "garage")
}

/// [`setup`] on `server` with `provider` (the policy is still named
/// `garage`; moto takes any secret, so the env var serves both).
fn setup_on(tmp: &Path, server: &S3Server, provider: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let bucket = server.create_bucket("cli-sync");
    let home = tmp.join("home");
    let folder = tmp.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    ok(
        &home,
        &[
            "policy",
            "add",
            "garage",
            "--provider",
            provider,
            "--endpoint",
            &server.endpoint,
            "--region",
            &server.region,
            "--bucket",
            &bucket,
            "--access-key-id",
            &server.access_key_id,
            "--secret-source",
            "env:TEST_SECRET",
        ],
    );
    ok(
        &home,
        &[
            "pair",
            "add",
            folder.to_str().unwrap(),
            "--policy",
            "garage",
            "--prefix",
            "/docs//",
            "--name",
            "docs",
        ],
    );
    (home, folder)
}

#[test]
fn pair_sync_status_ls_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    let list = ok(&home, &["pair", "list"]);
    assert!(list.contains("docs") && list.contains("/docs/"), "{list}");
    std::fs::write(folder.join("a.txt"), "alpha").unwrap();
    std::fs::create_dir(folder.join("sub")).unwrap();
    std::fs::write(folder.join("sub/b.txt"), "bravo").unwrap();
    let out = ok(&home, &["sync"]);
    assert!(out.contains("docs: 2 uploaded, 0 downloaded, 0 deleted, 0 conflicts, 0 unsyncable"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&ok(&home, &["sync", "docs", "--json"])).unwrap();
    assert_eq!(json[0]["converged"], true);
    assert_eq!(json[0]["uploaded"].as_array().unwrap().len(), 0, "the second pass transfers nothing");
    let ls: serde_json::Value =
        serde_json::from_str(&ok(&home, &["ls", "garage:docs/", "--recursive", "--json"])).unwrap();
    let keys: Vec<_> =
        ls.as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys, ["docs/a.txt", "docs/sub/b.txt"]);
    let status: serde_json::Value = serde_json::from_str(&ok(&home, &["status", "--json"])).unwrap();
    assert_eq!(status[0]["name"], "docs");
    assert_eq!(status[0]["state"], "not-running");
    assert!(status[0]["recent"].as_array().unwrap().iter().any(|a| a["action"] == "upload"));
    // Pausing keeps `sync` (all pairs) away from it.
    ok(&home, &["pair", "pause", "docs"]);
    assert!(ok(&home, &["pair", "list"]).contains("(paused)"));
    std::fs::write(folder.join("c.txt"), "charlie").unwrap();
    assert!(ok(&home, &["sync"]).contains("No pairs to sync"));
    ok(&home, &["pair", "resume", "docs"]);
    assert!(ok(&home, &["sync"]).contains("1 uploaded"));
    ok(&home, &["pair", "remove", "docs"]);
    assert!(folder.join("a.txt").exists(), "removing a pair keeps the files");
}

#[test]
fn sync_exits_1_when_deletes_need_confirmation() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    for n in ["1", "2", "3"] {
        std::fs::write(folder.join(n), n).unwrap();
    }
    ok(&home, &["sync"]);
    for n in ["1", "2"] {
        std::fs::remove_file(folder.join(n)).unwrap();
    }
    let r = bucketsync(&home, &["sync"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("needs confirmation") && r.stdout.contains("would delete from bucket: 1"),
        "{}",
        r.stdout
    );
    let out = ok(&home, &["sync", "--confirm-deletes"]);
    assert!(out.contains("2 deleted"), "{out}");
    let ls = ok(&home, &["ls", "garage", "--recursive"]);
    assert!(ls.contains("docs/3") && !ls.contains("docs/1"), "{ls}");
}

/// Issue 8, point 6: `sync --confirm-deletes` confirms the list the
/// previous refused run printed, and only that: a file deleted since is
/// not deleted with it; the run asks again, printing the new list.
#[test]
fn confirm_deletes_applies_only_the_list_that_was_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    for n in ["1", "2", "3", "4", "5", "6"] {
        std::fs::write(folder.join(n), n).unwrap();
    }
    ok(&home, &["sync"]);
    for n in ["1", "2", "3", "4"] {
        std::fs::remove_file(folder.join(n)).unwrap();
    }
    let r = bucketsync(&home, &["sync"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("would delete from bucket: 5"), "{}", r.stdout);
    std::fs::remove_file(folder.join("5")).unwrap();

    let r = bucketsync(&home, &["sync", "--confirm-deletes"]);
    assert_eq!(r.code, 1, "the list changed: asked again\n{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("would delete from bucket: 5"), "the new list is printed: {}", r.stdout);
    let ls = ok(&home, &["ls", "garage", "--recursive"]);
    for n in ["1", "2", "3", "4", "5", "6"] {
        assert!(ls.contains(&format!("docs/{n}")), "nothing deleted: {ls}");
    }
}

#[test]
fn sync_exits_1_and_deletes_nothing_when_the_folder_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    std::fs::write(folder.join("a"), "a").unwrap();
    ok(&home, &["sync"]);
    std::fs::rename(&folder, tmp.path().join("moved")).unwrap();
    let r = bucketsync(&home, &["sync"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("does not exist"), "{}", r.stdout);
    assert!(ok(&home, &["ls", "garage", "--recursive"]).contains("docs/a"));
}

#[test]
fn daemon_syncs_a_change_it_watched_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    // A long poll: only the watcher can pick up the change quickly.
    let mut daemon = cmd(&home, &["daemon"])
        .env("BUCKETSYNC_POLL_SECONDS", "3600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first pass", &|| bucketsync(&home, &["status", "--json"]).stdout.contains("\"idle\""));
    std::fs::write(folder.join("watched.txt"), "seen by the watcher").unwrap();
    wait_for("the upload", &|| ok(&home, &["ls", "garage", "--recursive"]).contains("docs/watched.txt"));
    unsafe_sigterm(daemon.id());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = daemon.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    assert!(!home.join("engine-status.json").exists(), "a clean stop removes the status file");
}

/// Waits (at most a minute, then fails) until `cond` holds.
fn wait_for(what: &str, cond: &dyn Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn unsafe_sigterm(pid: u32) {
    let r = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    assert!(r.success());
}

#[test]
fn max_delete_share_is_set_per_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    ok(&home, &["pair", "remove", "docs"]);
    let dir = folder.to_str().unwrap();
    let r = bucketsync(
        &home,
        &["pair", "add", dir, "--policy", "garage", "--prefix", "docs", "--max-delete", "101"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("max-delete") && r.stderr.contains("between 0"), "{}", r.stderr);
    ok(&home, &["pair", "add", dir, "--policy", "garage", "--prefix", "docs", "--max-delete", "100"]);
    let list: serde_json::Value = serde_json::from_str(&ok(&home, &["pair", "list", "--json"])).unwrap();
    assert_eq!(list[0]["max_delete_percent"], 100);
    for n in ["1", "2", "3"] {
        std::fs::write(folder.join(n), n).unwrap();
    }
    ok(&home, &["sync"]);
    for n in ["1", "2"] {
        std::fs::remove_file(folder.join(n)).unwrap();
    }
    // 2 of 3 is over the default 50 %, but this pair never asks.
    assert!(ok(&home, &["sync"]).contains("2 deleted"));
}

/// The S3 requests a run sent, by operation, as `BUCKETSYNC_REQUEST_STATS` reports them.
fn requests_of(home: &Path, args: &[&str]) -> serde_json::Value {
    let stats = home.with_file_name("requests.json");
    let out = cmd(home, args).env("BUCKETSYNC_REQUEST_STATS", &stats).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    doc["requests"].clone()
}

/// A pass over an unchanged folder lists the prefix (one page for fewer
/// than 1,000 keys) and sends nothing else: no HEAD, no GET, no PUT.
#[test]
fn a_pass_where_nothing_changed_sends_one_list_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    for n in ["1", "2", "3"] {
        std::fs::write(folder.join(n), n).unwrap();
    }
    let first = requests_of(&home, &["sync"]);
    // Each upload looks at its key right before the PUT (nothing was written
    // there since the listing).
    assert_eq!(first, serde_json::json!({ "HeadObject": 3, "ListObjectsV2": 1, "PutObject": 3 }));
    let quiet = requests_of(&home, &["sync"]);
    assert_eq!(quiet, serde_json::json!({ "ListObjectsV2": 1 }));
}

/// Where `policy probe` saw conditional writes honoured (moto), a pass's
/// uploads carry their expectation in the PUT (`If-None-Match: *` here)
/// instead of a HEAD before each; where it saw them ignored (Garage) or
/// never probed, the HEAD stays.
#[test]
fn uploads_skip_the_head_only_where_the_probe_saw_conditional_writes_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup_on(tmp.path(), S3Server::moto(), "custom");
    let probe = ok(&home, &["policy", "probe", "garage", "--json"]);
    let probe: serde_json::Value = serde_json::from_str(&probe).unwrap();
    assert_eq!(probe["conditional_writes"], "honoured", "{probe:#}");
    for n in ["1", "2", "3"] {
        std::fs::write(folder.join(n), n).unwrap();
    }
    assert_eq!(requests_of(&home, &["sync"]), serde_json::json!({ "ListObjectsV2": 1, "PutObject": 3 }));

    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    let probe: serde_json::Value =
        serde_json::from_str(&ok(&home, &["policy", "probe", "garage", "--json"])).unwrap();
    assert_eq!(probe["conditional_writes"], "ignored", "{probe:#}");
    std::fs::write(folder.join("1"), "1").unwrap();
    assert_eq!(
        requests_of(&home, &["sync"]),
        serde_json::json!({ "HeadObject": 1, "ListObjectsV2": 1, "PutObject": 1 })
    );
}

/// Bandwidth limits are global options that read rates as people write
/// them; nonsense is a usage error (exit 2), not a silent "no limit".
#[test]
fn bandwidth_limits_are_parsed_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    ok(&home, &["--limit-up", "10M", "--limit-down", "off", "status"]);
    ok(&home, &["status", "--limit-down", "512KiB"]);
    let r = bucketsync(&home, &["--limit-up", "fast", "status"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not a rate"), "{}", r.stderr);
}

/// One engine per home: while a daemon runs the pairs, `sync` and a second
/// `daemon` exit 1 naming it, reading commands keep working, and once it
/// stops `sync` works again.
#[test]
fn sync_and_daemon_refuse_while_another_engine_holds_the_home() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    std::fs::write(folder.join("a.txt"), "alpha").unwrap();
    let mut daemon = cmd(&home, &["daemon"])
        .env("BUCKETSYNC_POLL_SECONDS", "3600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !bucketsync(&home, &["status", "--json"]).stdout.contains("\"idle\"") {
        assert!(start.elapsed() < Duration::from_secs(60), "the daemon's first pass did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let refusal =
        format!("Bucketsync is already syncing this home (the bucketsync daemon, pid {})", daemon.id());
    for args in [&["sync"][..], &["sync", "docs", "--json"], &["daemon"]] {
        let r = bucketsync(&home, args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(&refusal), "{args:?}: {}", r.stderr);
    }
    // Reading needs no lock.
    let status: serde_json::Value = serde_json::from_str(&ok(&home, &["status", "--json"])).unwrap();
    assert_eq!(status[0]["state"], "idle", "status shows the daemon's live state");
    ok(&home, &["pair", "list"]);
    ok(&home, &["policy", "show", "garage"]);
    unsafe_sigterm(daemon.id());
    assert!(daemon.wait().unwrap().success());
    ok(&home, &["sync"]);
}

/// `sync --dry-run` plans a full pass and changes nothing on either side:
/// no object, no local file, no sync state (a real pass afterwards still
/// does all of it).
#[test]
fn dry_run_shows_the_plan_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    std::fs::write(folder.join("a.txt"), "alpha").unwrap();
    std::fs::create_dir(folder.join("sub")).unwrap();
    std::fs::write(folder.join("sub/b.txt"), "bravo!").unwrap();
    let plan: serde_json::Value =
        serde_json::from_str(&ok(&home, &["sync", "docs", "--dry-run", "--json"])).unwrap();
    let uploads: Vec<_> =
        plan[0]["uploads"].as_array().unwrap().iter().map(|u| u["path"].as_str().unwrap()).collect();
    assert_eq!(uploads, ["a.txt", "sub/b.txt"]);
    assert_eq!(plan[0]["bytes_up"], 11);
    assert!(!ok(&home, &["ls", "garage"]).contains("docs/"), "nothing was uploaded");
    let text = ok(&home, &["sync", "--dry-run"]);
    assert!(text.contains("would upload 2 file(s)") && text.contains("nothing was changed"), "{text}");
    let status: serde_json::Value = serde_json::from_str(&ok(&home, &["status", "--json"])).unwrap();
    assert!(status[0]["recent"].as_array().unwrap().is_empty(), "no journal entries");

    assert!(ok(&home, &["sync"]).contains("2 uploaded"), "the real pass still has everything to do");
    std::fs::remove_file(folder.join("a.txt")).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&ok(&home, &["sync", "--dry-run", "--json"])).unwrap();
    assert_eq!(plan[0]["delete_remote"][0]["path"], "a.txt");
    assert!(plan[0]["needs_confirmation"].is_null(), "1 of 2 files is the 50 % share: no need to ask");
    assert!(ok(&home, &["ls", "garage:docs/"]).contains("a.txt"), "the dry run deleted nothing");
}

/// The list of deletes a pair waits on, as `status --json` shows it.
fn waiting_list(home: &Path) -> Option<String> {
    let status: serde_json::Value = serde_json::from_str(&ok(home, &["status", "--json"])).unwrap();
    let detail = &status[0]["detail"];
    (detail["state"] == "needs-confirmation").then(|| detail["id"].as_str().unwrap().to_string())
}

/// While a daemon runs the pairs (so `sync` is refused), `sync
/// --keep-files=ID` and `--confirm-deletes=ID` record the decision and the
/// daemon applies it: kept files come back, confirmed deletes go, each
/// exactly the list named.
#[test]
fn a_decision_made_beside_a_running_daemon_is_applied_by_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, folder) = setup(tmp.path());
    for n in ["1", "2", "3", "4"] {
        std::fs::write(folder.join(n), n).unwrap();
    }
    ok(&home, &["sync"]);
    for n in ["1", "2", "3"] {
        std::fs::remove_file(folder.join(n)).unwrap();
    }
    let mut daemon = cmd(&home, &["daemon"])
        .env("BUCKETSYNC_POLL_SECONDS", "3600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the daemon to ask", &|| waiting_list(&home).is_some());
    let first = waiting_list(&home).unwrap();

    let stale = bucketsync(&home, &["sync", "--keep-files=0000000000000000"]);
    assert_eq!(stale.code, 1, "a list that is not waiting: {}{}", stale.stdout, stale.stderr);
    let r = ok(&home, &["sync", "--keep-files", &first]);
    assert!(r.contains("recorded") && r.contains("daemon") && r.contains("3 file(s)"), "{r}");
    wait_for("the kept files to come back", &|| ["1", "2", "3"].iter().all(|n| folder.join(n).exists()));
    wait_for("the pair to settle", &|| bucketsync(&home, &["status", "--json"]).stdout.contains("\"idle\""));
    assert!(ok(&home, &["ls", "garage", "--recursive"]).contains("docs/1"), "nothing deleted in the bucket");

    // Asked again, and this time confirmed: exactly those go. (Past the
    // watcher's 2 s debounce first: notify-debouncer-full drops a file
    // created and removed inside one window, so a delete right after the
    // download lands is only seen by the next poll.)
    std::thread::sleep(Duration::from_secs(3));
    for n in ["1", "2", "3"] {
        std::fs::remove_file(folder.join(n)).unwrap();
    }
    wait_for("the daemon to ask again", &|| waiting_list(&home).is_some());
    let second = waiting_list(&home).unwrap();
    let r = ok(&home, &["sync", &format!("--confirm-deletes={second}")]);
    assert!(r.contains("deletes exactly the 3 file(s)"), "{r}");
    wait_for("the confirmed deletes", &|| !ok(&home, &["ls", "garage", "--recursive"]).contains("docs/1"));
    let ls = ok(&home, &["ls", "garage", "--recursive"]);
    assert!(ls.contains("docs/4") && !ls.contains("docs/3"), "{ls}");
    unsafe_sigterm(daemon.id());
    assert!(daemon.wait().unwrap().success());
}
