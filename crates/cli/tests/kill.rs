//! The real `bucketsync sync` process killed with SIGKILL at random moments
//! while large files move both ways, restarted, again and again; then it
//! must converge with nothing lost, no partial file at a final name, no
//! temp file left behind and no conflict copy (nobody edited anything
//! twice).
//!
//! Each round adds a new large file on each side, so every round has
//! transfers to interrupt. CI runs a few rounds; a long run:
//!
//! ```sh
//! BUCKETSYNC_KILL_ROUNDS=200 cargo test -p bucketsync-cli --test kill -- --nocapture
//! ```
//!
//! `BUCKETSYNC_KILL_SEED=N` replays a run (the seed is printed).

mod support;

use bucketsync_testserver::{FaultProxy, S3Server};
use std::time::Duration;
use support::{files_below, local_contents, noise, sha, Bucket, Cli, MIB};

/// A small seeded generator (xorshift), so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn killed_at_random_moments_it_converges_without_loss() {
    let rounds = env_number("BUCKETSYNC_KILL_ROUNDS").unwrap_or(4);
    let seed = env_number("BUCKETSYNC_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("kill loop: {rounds} rounds, BUCKETSYNC_KILL_SEED={seed}");
    let mut dice = Dice(seed);

    let server = S3Server::garage();
    let bucket = server.create_bucket("killed");
    // A limited link makes a pass last long enough to be killed anywhere in it.
    let proxy = FaultProxy::start(&server.endpoint);
    proxy.set_rate(Some(24 * MIB as u64));
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let cli = Cli::new(&tmp.path().join("home")).with_env("SECRET", &server.secret_access_key);
    cli.add_policy("garage", &proxy.endpoint(), &bucket, &server.access_key_id, "SECRET");
    cli.add_pair(&folder, "garage", "k");
    let other = Bucket::new(&server.endpoint, &server.access_key_id, &server.secret_access_key, &bucket);

    let mut expected = Vec::new();
    for round in 0..rounds {
        // Multipart both ways (5 MiB parts up, 16 MiB ranges down), plus small ones.
        let size = (17 + dice.below(8) as usize) * MIB;
        let up = noise(size, seed ^ (round * 2 + 1));
        let down = noise(size + 12345, seed ^ (round * 2 + 2));
        std::fs::write(folder.join(format!("up-{round}.bin")), &up).unwrap();
        other.put(&format!("k/down-{round}.bin"), down.clone());
        std::fs::write(folder.join(format!("note-{round}.txt")), format!("note {round}")).unwrap();
        expected.push((format!("up-{round}.bin"), sha(&up)));
        expected.push((format!("down-{round}.bin"), sha(&down)));
        expected.push((format!("note-{round}.txt"), sha(format!("note {round}").as_bytes())));

        let mut child = cli
            .cmd(&["sync"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let after = Duration::from_millis(50 + dice.below(1800));
        std::thread::sleep(after);
        let killed = matches!(child.try_wait(), Ok(None));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        eprintln!(
            "round {round}: {}",
            if killed { format!("killed after {after:?}") } else { "finished before the kill".into() }
        );
    }

    proxy.set_rate(None);
    let mut last = cli.run(&["sync", "--json"]);
    for _ in 0..2 {
        if last.code == 0 {
            break;
        }
        eprintln!("a sync after the kills did not converge yet:\n{}", last.stdout);
        last = cli.run(&["sync", "--json"]);
    }
    assert_eq!(
        last.code, 0,
        "no convergence after the kills (seed {seed}):\n{}\n{}",
        last.stdout, last.stderr
    );

    expected.sort();
    let names = files_below(&folder);
    let strays: Vec<_> =
        names.iter().filter(|n| n.contains(".bucketsync-") || n.contains("(conflict")).collect();
    assert!(strays.is_empty(), "left in the folder (seed {seed}): {strays:?}");
    assert_eq!(local_contents(&folder), expected, "the folder (seed {seed})");
    let in_bucket: Vec<_> =
        other.contents("k/").into_iter().map(|(k, h)| (k.trim_start_matches("k/").to_string(), h)).collect();
    assert_eq!(in_bucket, expected, "the bucket (seed {seed})");
    let quiet = cli.ok(&["sync", "--json"]).json();
    let moved =
        quiet[0]["uploaded"].as_array().unwrap().len() + quiet[0]["downloaded"].as_array().unwrap().len();
    assert_eq!(moved, 0, "a last pass still moved things: {quiet}");
}
