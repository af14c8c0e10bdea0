//! `bucketsync policy ...` as a user runs it: the built binary, a temp home,
//! the local Garage server.

use bucketsync_testserver::S3Server;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn bucketsync(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketsync"));
    cmd.arg("--home").arg(home).args(args);
    cmd.env_remove("BUCKETSYNC_SECRET_ACCESS_KEY").env("BUCKETSYNC_LOG", "debug");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run bucketsync");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn add_args<'a>(server: &'a S3Server, name: &'a str, bucket: &'a str) -> Vec<&'a str> {
    vec![
        "policy",
        "add",
        name,
        "--provider",
        "garage",
        "--bucket",
        bucket,
        "--endpoint",
        &server.endpoint,
        "--region",
        &server.region,
        "--access-key-id",
        &server.access_key_id,
    ]
}

/// Adds a policy with the secret in the keyring when one is reachable (it
/// must be when BUCKETSYNC_REQUIRE_KEYRING is set), else in a 0600 file,
/// after checking that the keyring error names the other sources.
fn add_with_best_source(home: &Path, server: &S3Server, name: &str, bucket: &str, log: &mut String) {
    let mut args = add_args(server, name, bucket);
    args.push("--json");
    let run = bucketsync(home, &args, &[], Some(&format!("{}\n", server.secret_access_key)));
    log.push_str(&run.stdout);
    log.push_str(&run.stderr);
    if run.code == 0 {
        let saved: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(saved["policy"]["secret_source"], "keyring");
        return;
    }
    assert!(
        std::env::var_os("BUCKETSYNC_REQUIRE_KEYRING").is_none(),
        "keyring required but add failed: {}",
        run.stderr
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("keyring"), "{}", run.stderr);
    assert!(run.stderr.contains("env:VAR") && run.stderr.contains("file:PATH"), "{}", run.stderr);
    let file = home.join(format!("{name}.secret"));
    let source = format!("file:{}", file.display());
    let mut args = add_args(server, name, bucket);
    args.extend(["--secret-source", &source]);
    let run = bucketsync(home, &args, &[], Some(&format!("{}\n", server.secret_access_key)));
    log.push_str(&run.stdout);
    log.push_str(&run.stderr);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn the_secret_never_appears_in_output_logs_or_the_database() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("cli-secret");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let secret = server.secret_access_key.as_str();
    let mut log = String::new();

    add_with_best_source(home, server, "g", &bucket, &mut log);
    let runs: &[&[&str]] = &[
        &["policy", "show", "g"],
        &["policy", "show", "g", "--json"],
        &["policy", "list"],
        &["policy", "list", "--json"],
        &["policy", "probe", "g"],
        &["policy", "probe", "g", "--json"],
        &["policy", "cors", "g", "--origin", "https://my.example"],
        &["policy", "update", "g", "--public", "--cdn-url", "cdn.example.com/"],
        &["policy", "show", "g", "--json"],
    ];
    let mut outputs = Vec::new();
    for args in runs {
        let run = bucketsync(home, args, &[], None);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
        log.push_str(&run.stdout);
        log.push_str(&run.stderr);
        outputs.push(run);
    }
    assert!(log.contains("DEBUG"), "the runs logged at debug level");
    assert!(!log.contains(secret), "the secret leaked into output or logs");

    // --json is one JSON document on stdout.
    let shown: serde_json::Value = serde_json::from_str(&outputs[1].stdout).unwrap();
    assert_eq!(shown["bucket"], bucket.as_str());
    assert_eq!(shown["region"], "garage");
    let listed: serde_json::Value = serde_json::from_str(&outputs[3].stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let probe: serde_json::Value = serde_json::from_str(&outputs[5].stdout).unwrap();
    assert_eq!(probe["ok"], true, "{probe:#}");
    assert_eq!(probe["steps"].as_array().unwrap().len(), 12);
    // Garage ignores If-None-Match / If-Match: informational, the probe
    // still passes, and the policy keeps the observation.
    assert_eq!(probe["conditional_writes"], "ignored", "{probe:#}");
    assert!(
        outputs[4].stdout.contains("Conditional writes: not honoured ("),
        "plain words: {}",
        outputs[4].stdout
    );
    // Piped human output is plain lines: the probe table is tab-separated.
    assert!(
        outputs[4].stdout.lines().any(|l| l.starts_with("PutObject\trequired\tok")),
        "{}",
        outputs[4].stdout
    );
    let updated: serde_json::Value = serde_json::from_str(&outputs[8].stdout).unwrap();
    assert_eq!(updated["cdn_url"], "https://cdn.example.com");
    assert_eq!(updated["public"], true);
    assert_eq!(shown["conditional_writes"], "unknown", "not guessed before a probe");
    assert_eq!(updated["conditional_writes"], "ignored", "what the probe saw, kept by an update");

    // Every file in the home, the log files in logs/ included.
    let mut files = Vec::new();
    let mut dirs = vec![home.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.iter().any(|f| f.starts_with(home.join("logs"))), "the CLI wrote no log file");
    for path in files {
        if path.extension().is_some_and(|e| e == "secret") {
            continue; // the file the user chose for the secret
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
    let removed = bucketsync(home, &["policy", "remove", "g"], &[], None);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert_eq!(bucketsync(home, &["policy", "show", "g"], &[], None).code, 1);
}

#[test]
fn probe_exits_1_with_a_wrong_secret_and_0_after_updating_the_keys() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("cli-probe");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let wrong = "e".repeat(64);
    let env = [("BUCKETSYNC_TEST_CLI_SECRET", wrong.as_str())];
    let mut args = add_args(server, "p", &bucket);
    args.extend(["--secret-source", "env:BUCKETSYNC_TEST_CLI_SECRET"]);
    let run = bucketsync(home, &args, &env, None);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = bucketsync(home, &["policy", "probe", "p", "--json"], &env, None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["steps"][0]["kind"], "bad-credentials");
    assert!(!run.stdout.contains(&wrong) && !run.stderr.contains(&wrong));
    let human = bucketsync(home, &["policy", "probe", "p"], &env, None);
    assert_eq!(human.code, 1);
    assert!(human.stdout.contains("secret"), "the fix says what to check: {}", human.stdout);

    // New keys (as after an expired R2 token): a new key id and its secret.
    let (id, secret) = server.create_key(&bucket, true, true).unwrap();
    let file = home.join("new.secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let source = format!("file:{}", file.display());
    let run = bucketsync(
        home,
        &["policy", "update", "p", "--access-key-id", &id, "--secret-source", &source],
        &[],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = bucketsync(home, &["policy", "probe", "p"], &[], None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));

    // A read-only key: exit 1, PutObject refused for lack of permission.
    let (ro_id, ro_secret) = server.create_key(&bucket, true, false).unwrap();
    let ro_env = [("BUCKETSYNC_TEST_RO_SECRET", ro_secret.as_str())];
    let run = bucketsync(
        home,
        &[
            "policy",
            "update",
            "p",
            "--access-key-id",
            &ro_id,
            "--secret-source",
            "env:BUCKETSYNC_TEST_RO_SECRET",
        ],
        &ro_env,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = bucketsync(home, &["policy", "probe", "p", "--json"], &ro_env, None);
    assert_eq!(run.code, 1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let put = report["steps"].as_array().unwrap().iter().find(|s| s["api"] == "PutObject").unwrap();
    assert_eq!(put["kind"], "permission-denied");
    assert_eq!(put["code"], "AccessDenied");
}

#[test]
fn bad_input_names_the_field_and_usage_errors_exit_2() {
    let server = S3Server::garage();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let env = [("BUCKETSYNC_TEST_UNUSED", "x")];
    let mut args = add_args(server, "bad", "Not_A_Bucket");
    args.extend(["--secret-source", "env:BUCKETSYNC_TEST_UNUSED"]);
    let run = bucketsync(home, &args, &env, None);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("error: bucket:"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);

    let run = bucketsync(
        home,
        &[
            "policy",
            "add",
            "f",
            "--provider",
            "b2",
            "--bucket",
            "data",
            "--endpoint",
            "s3.us-west-004.backblazeb2.com",
            "--access-key-id",
            "k",
            "--secret-source",
            "file:/nonexistent-dir/x",
        ],
        &[],
        Some("s3cr3t\n"),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t"));

    // Missing required options and unknown flags are usage errors.
    assert_eq!(bucketsync(home, &["policy", "add", "x"], &[], None).code, 2);
    assert_eq!(
        bucketsync(home, &["policy", "add", "x", "--path-style", "--virtual-host"], &[], None).code,
        2
    );
    let run = bucketsync(home, &["policy", "show", "nope"], &[], None);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("policy list"), "{}", run.stderr);
}

#[test]
fn the_seed_endpoints_are_normalised_on_add() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let env = [("BUCKETSYNC_TEST_SEED", "x")];
    let id = "0123456789abcdef0123456789abcdef";
    let r2_endpoint = format!("{id}.r2.cloudflarestorage.com/my-bucket");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![
                "b2",
                "--provider",
                "b2",
                "--bucket",
                "my-photos",
                "--endpoint",
                "s3.us-west-004.backblazeb2.com",
            ],
            "https://s3.us-west-004.backblazeb2.com",
            "us-west-004",
        ),
        (vec!["r2", "--provider", "r2", "--bucket", "my-bucket", "--endpoint", &r2_endpoint], "", "auto"),
    ];
    for (mut args, endpoint, region) in cases {
        let name = args[0];
        let mut full = vec!["policy", "add"];
        full.append(&mut args);
        full.extend(["--access-key-id", "k", "--secret-source", "env:BUCKETSYNC_TEST_SEED", "--json"]);
        let run = bucketsync(home, &full, &env, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let saved: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        if !endpoint.is_empty() {
            assert_eq!(saved["policy"]["endpoint"], endpoint, "{name}");
        } else {
            assert_eq!(saved["policy"]["endpoint"], format!("https://{id}.r2.cloudflarestorage.com"));
        }
        assert_eq!(saved["policy"]["region"], region, "{name}");
    }
}
