//! A canary secret (a real, working secret of a fresh Garage key, random
//! hex) and a wrong one are run through everything the CLI does with logs
//! at debug level (`BUCKETSYNC_LOG=debug`): probe, syncs that upload,
//! download and go multipart, the daemon with its status file, presigned
//! links, and the error paths a user meets (wrong secret, server gone, no
//! such bucket, a secret file others can read, a key revoked). Neither
//! secret may appear in any output, log line, log file, database file or
//! event; the database files are 0600 in a 0700 home; a presigned link's
//! signature is printed to the user only, never logged.
//!
//! `BUCKETSYNC_SECRETS_LOG=trace` runs it with every log line there is.

mod support;

use bucketsync_testserver::S3Server;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{noise, Bucket, Cli, Run, MIB};

/// Every file below `dir`.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn canary_secrets_never_leak_anywhere() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("canary");
    let (id, canary) = server.create_key(&bucket, true, true).unwrap();
    let (_, wrong) = server.create_key(&bucket, true, true).unwrap(); // a valid-looking secret of another key
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let cli = Cli::new(&home)
        .with_env("CANARY", &canary)
        .with_env("WRONG", &wrong)
        .with_env(
            "BUCKETSYNC_LOG",
            &std::env::var("BUCKETSYNC_SECRETS_LOG").unwrap_or_else(|_| "debug".into()),
        )
        .with_env("BUCKETSYNC_POLL_SECONDS", "1");
    let mut seen: Vec<(String, Run)> = Vec::new();
    let mut record = |what: &str, run: Run| seen.push((what.to_string(), run));

    // The happy path.
    cli.add_policy("good", &server.endpoint, &bucket, &id, "CANARY");
    cli.add_pair(&folder, "good", "docs");
    record("probe", cli.run(&["policy", "probe", "good", "--json"]));
    std::fs::write(folder.join("small.txt"), "hello").unwrap();
    std::fs::write(folder.join("big.bin"), noise(18 * MIB, 5)).unwrap(); // multipart
    let other = Bucket::new(&server.endpoint, &server.access_key_id, &server.secret_access_key, &bucket);
    other.put("docs/remote.bin", noise(17 * MIB, 6)); // two ranges (of 16 MiB)
    let synced = cli.run(&["sync", "--json"]);
    assert_eq!(synced.code, 0, "{}\n{}", synced.stdout, synced.stderr);
    record("sync", synced);
    record("sync again", cli.run(&["sync"]));
    record("status", cli.run(&["status", "--json"]));
    record("ls", cli.run(&["ls", "good:docs/", "--json"]));
    let link = cli.run(&["url", "good:docs/small.txt"]);
    assert_eq!(link.code, 0, "{}\n{}", link.stdout, link.stderr);
    let signature = link
        .stdout
        .split(['?', '&'])
        .find_map(|p| p.trim().strip_prefix("X-Amz-Signature="))
        .unwrap_or_else(|| panic!("no presigned link: {}", link.stdout))
        .to_string();
    record("url", Run { stdout: String::new(), ..link }); // the link itself is the output

    // The daemon: a change while it runs, its status file read meanwhile.
    let mut daemon = cli
        .cmd(&["daemon"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Debug logs fill a pipe quickly: drain it while the daemon runs.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let daemon_out = drain(Box::new(daemon.stdout.take().unwrap()));
    let daemon_err = drain(Box::new(daemon.stderr.take().unwrap()));
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(folder.join("while-running.txt"), "daemon").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while other.get("docs/while-running.txt").is_none() {
        assert!(Instant::now() < deadline, "the daemon never uploaded the change");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status_file =
        std::fs::read(home.join("engine-status.json")).expect("the daemon writes its status file");
    assert!(!contains(&status_file, &canary), "the secret is in the daemon's status file");
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let status = daemon.wait().unwrap();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: daemon_out.join().unwrap(),
        stderr: daemon_err.join().unwrap(),
    };
    assert!(run.stderr.contains("DEBUG"), "the daemon logged at debug level");
    record("daemon", run);

    // Error paths.
    cli.add_policy("wrong", &server.endpoint, &bucket, &id, "WRONG");
    std::fs::create_dir_all(tmp.path().join("w")).unwrap();
    cli.ok(&[
        "pair",
        "add",
        tmp.path().join("w").to_str().unwrap(),
        "--policy",
        "wrong",
        "--name",
        "w",
        "--prefix",
        "w/",
    ]);
    // (its own prefix: the same bucket as 'docs', and pairs there must not overlap)
    std::fs::write(tmp.path().join("w/x.txt"), "x").unwrap();
    for args in [&["policy", "probe", "wrong"][..], &["sync", "w", "--json"], &["ls", "wrong:"]] {
        let run = cli.run(args);
        assert_eq!(run.code, 1, "{args:?} with a wrong secret must fail:\n{}{}", run.stdout, run.stderr);
        record(&format!("{args:?}"), run);
    }
    cli.add_policy("gone", "http://127.0.0.1:1", &bucket, &id, "CANARY");
    cli.add_policy("nobucket", &server.endpoint, "no-such-bucket-here", &id, "CANARY");
    for args in [
        &["policy", "probe", "gone"][..],
        &["ls", "gone:"],
        &["policy", "probe", "nobucket"],
        &["ls", "nobucket:"],
    ] {
        let run = cli.run(args);
        assert_ne!(run.code, 0, "{args:?} must fail");
        record(&format!("{args:?}"), run);
    }
    let secret_file = tmp.path().join("readable.secret");
    std::fs::write(&secret_file, &canary).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let source = format!("file:{}", secret_file.display());
    let mut add = vec!["policy", "add", "filed", "--provider", "garage", "--endpoint", &server.endpoint];
    add.extend([
        "--region",
        "garage",
        "--bucket",
        &bucket,
        "--access-key-id",
        &id,
        "--secret-source",
        &source,
    ]);
    let run = cli.run(&add);
    assert_eq!(run.code, 1, "a secret file others can read is refused:\n{}{}", run.stdout, run.stderr);
    record("a secret file others can read", run);
    // The key revoked: every call now fails with the canary signing it.
    server.delete_key(&id);
    std::fs::write(folder.join("after-revoke.txt"), "late").unwrap();
    for args in
        [&["sync", "docs", "--json"][..], &["policy", "probe", "good"], &["url", "good:docs/small.txt"]]
    {
        let run = cli.run(args);
        if args[0] != "url" {
            // (a link is signed locally: it is made, and fails only when used)
            assert_eq!(run.code, 1, "{args:?} with a revoked key must fail:\n{}{}", run.stdout, run.stderr);
        }
        record(&format!("revoked {args:?}"), run);
    }

    // Nothing anywhere holds either secret; the links' signature is never logged.
    assert!(seen.iter().any(|(_, r)| r.stderr.contains("DEBUG")), "the runs logged at debug level");
    eprintln!(
        "{} bytes of output and logs searched",
        seen.iter().map(|(_, r)| r.stdout.len() + r.stderr.len()).sum::<usize>()
    );
    for (what, run) in &seen {
        for (name, secret) in [("canary", &canary), ("wrong", &wrong)] {
            assert!(!run.stdout.contains(secret.as_str()), "the {name} secret is in the output of {what}");
            assert!(!run.stderr.contains(secret.as_str()), "the {name} secret is in the log of {what}");
        }
        assert!(!run.stderr.contains(&signature), "a presigned link's signature is in the log of {what}");
    }
    let files = all_files(&home);
    assert!(files.iter().any(|f| f.starts_with(home.join("logs"))), "no log file was written");
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        for (name, secret) in [("canary", &canary), ("wrong", &wrong)] {
            assert!(!contains(&bytes, secret), "the {name} secret is in {}", path.display());
        }
        assert!(!contains(&bytes, &signature), "a presigned link's signature is in {}", path.display());
    }

    // The database and its journal files are the user's alone.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700);
    let db_files: Vec<_> = files
        .iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with("bucketsync.db"))
        .collect();
    assert!(!db_files.is_empty());
    for f in db_files {
        assert_eq!(mode(f), 0o600, "{} is readable by others", f.display());
    }
    assert_eq!(mode(&home.join("logs")), 0o700);
}
