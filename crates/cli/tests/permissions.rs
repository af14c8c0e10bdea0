//! An unreadable file and an unreadable folder, as a user meets them: the
//! `bucketsync` binary runs as an unprivileged user (`setpriv` to uid
//! 65534; root ignores permissions, so the test would prove nothing as
//! root) with a home and a folder it owns. What cannot be read is reported
//! and left alone on both sides: nothing below an unreadable folder is
//! downloaded or deleted, an unreadable file's last good copy stays in the
//! bucket. Readable again, everything syncs.

mod support;

use bucketsync_testserver::S3Server;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Bucket, Run};

const NOBODY: u32 = 65534;

/// Runs the binary (copied where that user can reach it) as uid 65534.
struct Unprivileged {
    binary: PathBuf,
    home: PathBuf,
    secret: String,
}

impl Unprivileged {
    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new("setpriv")
            .args([format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"), "--clear-groups".into()])
            .arg("--")
            .arg(&self.binary)
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .env("HOME", &self.home)
            .env("SECRET", &self.secret)
            .env_remove("BUCKETSYNC_HOME")
            .output()
            .expect("setpriv (util-linux) runs");
        Run::of(out)
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "{args:?} as uid {NOBODY} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }
}

fn chown(path: &Path) {
    let status =
        Command::new("chown").arg("-R").arg(format!("{NOBODY}:{NOBODY}")).arg(path).status().unwrap();
    assert!(status.success());
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn what_cannot_be_read_is_reported_and_left_alone() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test switches to an unprivileged user and needs root for that (CI runs as root)"
    );
    let server = S3Server::garage();
    let bucket = server.create_bucket("perms");
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let binary = tmp.path().join("bucketsync");
    std::fs::copy(env!("CARGO_BIN_EXE_bucketsync"), &binary).unwrap();
    chmod(&binary, 0o755);
    let home = tmp.path().join("home");
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(folder.join("locked/deeper")).unwrap();
    std::fs::write(folder.join("ok.txt"), "ok").unwrap();
    std::fs::write(folder.join("private.txt"), "v1").unwrap();
    std::fs::write(folder.join("locked/inner.txt"), "inner v1").unwrap();
    std::fs::write(folder.join("locked/deeper/x.txt"), "x").unwrap();
    chown(&home);
    chown(&folder);
    let user = Unprivileged { binary, home, secret: server.secret_access_key.clone() };
    let mut add = vec!["policy", "add", "g", "--provider", "garage", "--endpoint", &server.endpoint];
    add.extend(["--region", "garage", "--bucket", &bucket, "--access-key-id", &server.access_key_id]);
    add.extend(["--secret-source", "env:SECRET"]);
    user.ok(&add);
    user.ok(&[
        "pair",
        "add",
        folder.to_str().unwrap(),
        "--policy",
        "g",
        "--prefix",
        "docs",
        "--name",
        "docs",
    ]);
    user.ok(&["sync"]);
    let other = Bucket::new(&server.endpoint, &server.access_key_id, &server.secret_access_key, &bucket);
    assert_eq!(other.listing("docs/").len(), 4);

    // A file edited then made unreadable, a folder made unreadable while
    // another client changes and adds objects below it, and a new file.
    std::fs::write(folder.join("private.txt"), "v2, not readable").unwrap();
    chmod(&folder.join("private.txt"), 0o000);
    chmod(&folder.join("locked"), 0o000);
    other.put("docs/locked/inner.txt", "inner v2 from elsewhere");
    other.put("docs/locked/new.txt", "new from elsewhere");
    std::fs::write(folder.join("fresh.txt"), "fresh").unwrap();
    chown(&folder.join("fresh.txt"));
    let before = other.listing("docs/");

    let run = user.run(&["sync", "--json"]);
    assert_eq!(run.code, 1, "not converged while things are unreadable:\n{}\n{}", run.stdout, run.stderr);
    let report = &run.json()[0];
    assert_eq!(report["uploaded"], serde_json::json!(["fresh.txt"]), "{report}");
    assert_eq!(report["downloaded"], serde_json::json!([]), "nothing is written into an unreadable folder");
    assert_eq!(report["deleted_remote"], serde_json::json!([]), "{report}");
    assert_eq!(report["deleted_local"], serde_json::json!([]), "{report}");
    assert_eq!(report["unreadable"], serde_json::json!(["locked"]), "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(
        (errors[0]["path"].as_str(), errors[0]["kind"].as_str()),
        (Some("private.txt"), Some("unreadable"))
    );
    let after: Vec<_> = other.listing("docs/").into_iter().filter(|(k, _)| k != "docs/fresh.txt").collect();
    assert_eq!(after, before, "nothing in the bucket changed but the new file");
    assert_eq!(other.get("docs/private.txt").unwrap(), b"v1", "the last good copy stays");

    // Readable again: everything syncs.
    chmod(&folder.join("private.txt"), 0o644);
    chmod(&folder.join("locked"), 0o755);
    let run = user.ok(&["sync", "--json"]);
    let report = &run.json()[0];
    assert_eq!(report["uploaded"], serde_json::json!(["private.txt"]), "{report}");
    assert_eq!(report["downloaded"], serde_json::json!(["locked/inner.txt", "locked/new.txt"]), "{report}");
    assert_eq!(std::fs::read(folder.join("locked/inner.txt")).unwrap(), b"inner v2 from elsewhere");
    assert_eq!(other.get("docs/private.txt").unwrap(), b"v2, not readable");

    // The whole folder unreadable: the pass stops, nothing is deleted.
    chmod(&folder, 0o000);
    let before = other.listing("docs/");
    let run = user.run(&["sync", "--json"]);
    chmod(&folder, 0o755);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.json()[0]["error"]["message"].as_str().unwrap_or("").contains("cannot read"),
        "{}",
        run.stdout
    );
    assert_eq!(other.listing("docs/"), before);
    user.ok(&["sync"]);
}
