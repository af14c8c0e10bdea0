//! The bucket browser's verbs as a user runs them: the built binary, a temp
//! home, the local Garage, the secret in an env var. `ls`, `cp`, `mv`, `rm`,
//! `url`, `stat`, completions, and usage errors (exit 2) for typos.

use bucketsync_testserver::S3Server;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn bucketsync(home: &Path, args: &[&str]) -> Run {
    let server = S3Server::garage();
    let out = Command::new(env!("CARGO_BIN_EXE_bucketsync"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env("TEST_SECRET", &server.secret_access_key)
        .stdin(Stdio::null())
        .output()
        .expect("run bucketsync");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(home: &Path, args: &[&str]) -> Run {
    let r = bucketsync(home, args);
    assert_eq!(r.code, 0, "{args:?} failed:\n{}\n{}", r.stdout, r.stderr);
    r
}

fn fails(home: &Path, args: &[&str], code: i32) -> Run {
    let r = bucketsync(home, args);
    assert_eq!(r.code, code, "{args:?}:\n{}\n{}", r.stdout, r.stderr);
    r
}

/// A home with policy `g` on a fresh Garage bucket.
fn setup(tmp: &Path) -> (PathBuf, String) {
    let server = S3Server::garage();
    let bucket = server.create_bucket("cli-browse");
    let home = tmp.join("home");
    ok(
        &home,
        &[
            "policy",
            "add",
            "g",
            "--provider",
            "garage",
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
    (home, bucket)
}

fn http_get(url: &str) -> u16 {
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap();
    let target = format!("{}?{}", u.path(), u.query().unwrap_or(""));
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
        u.host_str().unwrap(),
        u.port().unwrap()
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn cp_ls_stat_mv_url_rm_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, _) = setup(tmp.path());
    let src = tmp.path().join("album");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha").unwrap();
    std::fs::write(src.join("sub/b.txt"), "bravo").unwrap();
    let one = tmp.path().join("one.txt");
    std::fs::write(&one, "single").unwrap();

    // A folder needs --recursive (usage error otherwise).
    let r = fails(&home, &["cp", src.to_str().unwrap(), "g:pics/"], 2);
    assert!(r.stderr.contains("--recursive"), "{}", r.stderr);
    let r = ok(&home, &["cp", "--recursive", src.to_str().unwrap(), "g:pics/"]);
    assert!(
        r.stderr.contains("uploaded pics/album/a.txt") && r.stderr.contains("uploaded pics/album/sub/b.txt"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("2 files"), "{}", r.stdout);
    ok(&home, &["cp", one.to_str().unwrap(), "g:pics/renamed-on-upload.txt"]);
    ok(&home, &["cp", one.to_str().unwrap(), "g:"]);

    // Folder view by default, everything below with --recursive.
    let top = ok(&home, &["ls", "g"]).stdout;
    let names: Vec<&str> = top.lines().map(|l| l.split_whitespace().last().unwrap()).collect();
    assert_eq!(names, ["pics/", "one.txt"], "{top}");
    assert!(top.lines().next().unwrap().contains("DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&ok(&home, &["ls", "g:pics/album/", "--json"]).stdout).unwrap();
    let entries: Vec<(String, bool)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["folder"].as_bool().unwrap()))
        .collect();
    assert_eq!(entries, [("sub/".to_string(), true), ("a.txt".to_string(), false)]);
    let rec = ok(&home, &["ls", "g:pics/", "--recursive"]).stdout;
    assert_eq!(rec.lines().count(), 3, "{rec}");
    assert!(rec.contains("pics/album/sub/b.txt"));
    let empty: serde_json::Value =
        serde_json::from_str(&ok(&home, &["ls", "g:nothing/", "--json"]).stdout).unwrap();
    assert_eq!(empty, serde_json::json!([]));

    // stat, human and JSON.
    let st = ok(&home, &["stat", "g:pics/album/a.txt"]).stdout;
    assert!(
        st.contains("size:") && st.contains("5 bytes") && st.contains("metadata:       sha256 = "),
        "{st}"
    );
    let st: serde_json::Value =
        serde_json::from_str(&ok(&home, &["stat", "g:pics/album/a.txt", "--json"]).stdout).unwrap();
    assert_eq!(st["size"], 5);
    let r = fails(&home, &["stat", "g:pics/none"], 1);
    assert!(r.stderr.contains("there is no object"), "{}", r.stderr);

    // mv an object and a prefix.
    let r = ok(&home, &["mv", "g:pics/album/a.txt", "g:pics/a-moved.txt"]);
    assert!(r.stdout.contains("moved 1 object"), "{}", r.stdout);
    ok(&home, &["mv", "g:pics/album/", "g:archive/"]);
    let rec = ok(&home, &["ls", "g", "--recursive"]).stdout;
    let keys: Vec<&str> = rec.lines().map(|l| l.split_whitespace().last().unwrap()).collect();
    assert_eq!(
        keys,
        ["archive/sub/b.txt", "one.txt", "pics/a-moved.txt", "pics/renamed-on-upload.txt"],
        "{rec}"
    );

    // cp back down: one object to a file name, a prefix into a folder.
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    ok(&home, &["cp", "g:pics/a-moved.txt", out.join("local-a.txt").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("local-a.txt")).unwrap(), "alpha");
    fails(&home, &["cp", "g:archive/", out.to_str().unwrap()], 2);
    ok(&home, &["cp", "-r", "g:archive/", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("archive/sub/b.txt")).unwrap(), "bravo");
    fails(&home, &["cp", "g:one.txt", "g:two.txt"], 2);

    // url: presigned by default, fetchable; more than 7 days is refused.
    let link = ok(&home, &["url", "g:one.txt", "--expires", "30s"]).stdout;
    assert!(link.trim().contains("X-Amz-Signature="), "{link}");
    assert_eq!(http_get(link.trim()), 200);
    let r = fails(&home, &["url", "g:one.txt", "--expires", "8d"], 1);
    assert!(r.stderr.contains("7 days"), "{}", r.stderr);
    let r = fails(&home, &["url", "g:one.txt", "--expires", "soon"], 1);
    assert!(r.stderr.contains("not a duration"), "{}", r.stderr);
    let log = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"));
    for f in log {
        assert!(
            !std::fs::read_to_string(f.path()).unwrap().contains("X-Amz-Signature"),
            "a presigned URL was logged"
        );
    }

    // rm: counts first; without a terminal it needs --yes; folders need -r.
    let r = fails(&home, &["rm", "g:pics/a-moved.txt"], 1);
    assert!(r.stdout.contains("1 object") && r.stderr.contains("--yes"), "{}{}", r.stdout, r.stderr);
    assert!(ok(&home, &["ls", "g:pics/"]).stdout.contains("a-moved.txt"), "nothing was deleted");
    fails(&home, &["rm", "g:archive/", "--yes"], 2);
    let r = ok(&home, &["rm", "g:pics/a-moved.txt", "g:archive/", "--recursive", "--yes"]);
    assert!(r.stdout.contains("2 objects") && r.stdout.contains("deleted 2 objects"), "{}", r.stdout);
    let rec = ok(&home, &["ls", "g", "--recursive"]).stdout;
    assert!(!rec.contains("archive/") && !rec.contains("a-moved"), "{rec}");
}

#[test]
fn rm_under_a_synced_prefix_warns_and_the_pair_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, _) = setup(tmp.path());
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    ok(
        &home,
        &[
            "pair",
            "add",
            folder.to_str().unwrap(),
            "--policy",
            "g",
            "--prefix",
            "docs",
            "--name",
            "docs",
            "--max-delete",
            "100",
        ],
    );
    let one = tmp.path().join("report.txt");
    std::fs::write(&one, "synced via cp").unwrap();
    let r = ok(&home, &["cp", one.to_str().unwrap(), "g:docs/"]);
    assert!(r.stdout.contains("pair docs: synced"), "{}", r.stdout);
    assert_eq!(std::fs::read_to_string(folder.join("report.txt")).unwrap(), "synced via cp");
    let r = ok(&home, &["rm", "g:docs/report.txt", "--yes"]);
    assert!(r.stdout.contains("local copies in") && r.stdout.contains("will be deleted too"), "{}", r.stdout);
    assert!(!folder.join("report.txt").exists());
}

#[test]
fn typos_are_usage_errors_listing_the_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let r = fails(
        &home,
        &["policy", "add", "x", "--provider", "garag", "--bucket", "b", "--access-key-id", "k"],
        2,
    );
    assert!(
        r.stderr.contains("garage") && r.stderr.contains("b2") && r.stderr.contains("possible values"),
        "{}",
        r.stderr
    );
    let r = fails(&home, &["pair", "add", ".", "--policy", "x", "--mode", "twoway"], 2);
    assert!(r.stderr.contains("two-way") && r.stderr.contains("download"), "{}", r.stderr);
    let r = fails(&home, &["ls", "nopolicy:x/"], 1);
    assert!(r.stderr.contains("not a storage policy"), "{}", r.stderr);
}

#[test]
fn completions_cover_every_verb() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    for shell in ["bash", "zsh", "fish"] {
        let out = ok(&home, &["completions", shell]).stdout;
        for verb in ["policy", "pair", "sync", "daemon", "status", "ls", "cp", "mv", "rm", "url", "stat"] {
            assert!(out.contains(verb), "{shell} completion lacks {verb}");
        }
    }
    let bash = ok(&home, &["completions", "bash"]).stdout;
    assert!(bash.contains("--recursive") && bash.contains("--expires") && bash.contains("two-way"));
}

#[test]
fn a_failing_sync_prints_words_not_json() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a"), "a").unwrap();
    // Nothing listens on port 9: the pass fails before planning.
    let server = S3Server::garage();
    ok(
        &home,
        &[
            "policy",
            "add",
            "dead",
            "--provider",
            "garage",
            "--endpoint",
            "http://127.0.0.1:9",
            "--region",
            &server.region,
            "--bucket",
            "dead-bucket",
            "--access-key-id",
            &server.access_key_id,
            "--secret-source",
            "env:TEST_SECRET",
        ],
    );
    ok(&home, &["pair", "add", folder.to_str().unwrap(), "--policy", "dead", "--name", "d"]);
    let r = fails(&home, &["sync"], 1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("error"), "{all}");
    assert!(!all.contains('{') && !all.contains("\"state\""), "raw JSON in human output:\n{all}");
}
