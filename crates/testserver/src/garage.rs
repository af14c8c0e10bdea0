//! A single-node Garage (a real distributed object store) in a temp dir.

use crate::process::{free_port, run, spawn_bound, wait_for_port};
use crate::{tool, Flavor, Inner, S3Server};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Garage's own key format: "GK" + 24 hex digits, secret of 64 hex digits.
const MAIN_KEY_ID: &str = "GK0123456789abcdef01234567";
const MAIN_SECRET: &str = "3f1e2d4c5b6a79880123456789abcdef0123456789abcdef0123456789abcdef";

pub struct Garage {
    dir: Dir,
    s3_port: u16,
    /// The website endpoint (public reads by Host name); none in kept dirs
    /// configured before it existed.
    web_port: Option<u16>,
    child: Mutex<Option<Child>>,
}

/// A throwaway directory for tests, or a kept one for the dev app.
enum Dir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Dir {
    fn path(&self) -> &std::path::Path {
        match self {
            Dir::Temp(t) => t.path(),
            Dir::Kept(p) => p,
        }
    }
}

/// A Garage's temp dir, marked with the pid of the process that owns it.
///
/// Servers shared by a test binary live in statics, which are never
/// dropped, and killed runs drop nothing: their dirs (hundreds of MiB each
/// once used) stayed in /tmp until the disk filled. So each new dir first
/// sweeps the ones whose owner is gone.
fn temp_dir(prefix: &str) -> tempfile::TempDir {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(sweep_abandoned_dirs);
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir");
    std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string()).expect("owner file");
    dir
}

const OWNER_FILE: &str = "owner.pid";

/// Removes Garage temp dirs whose owning process has exited (and unmarked
/// ones a day old, left by versions that did not mark them).
fn sweep_abandoned_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("bucketsync-garage-") {
            continue;
        }
        let path = entry.path();
        let abandoned = match std::fs::read_to_string(path.join(OWNER_FILE)) {
            Ok(pid) => pid.trim().parse::<i32>().is_ok_and(|pid| !alive(pid)),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > Duration::from_secs(24 * 3600))),
        };
        if abandoned {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether process `pid` exists (EPERM: it does, owned by someone else).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH) }
}

impl Garage {
    pub fn start() -> Garage {
        Garage::start_compressed(true)
    }

    /// `compressed: false` stores blocks as sent (zstd off), as the
    /// benchmark wants: compression would make the server, not the client,
    /// the bottleneck on a 2-core machine.
    pub fn start_compressed(compressed: bool) -> Garage {
        Garage::start_in(Dir::Temp(temp_dir("bucketsync-garage-")), free_port(), compressed)
    }

    /// A Garage whose data stays in `dir` across runs (the dev app's local
    /// bucket). The first run configures it; later runs reuse everything.
    pub fn start_kept(dir: PathBuf, s3_port: u16) -> Garage {
        std::fs::create_dir_all(&dir).expect("garage dir");
        Garage::start_in(Dir::Kept(dir), s3_port, true)
    }

    fn start_in(dir: Dir, s3_port: u16, compressed: bool) -> Garage {
        let configured = dir.path().join("configured");
        if configured.exists() {
            let web_port =
                std::fs::read_to_string(dir.path().join("web_port")).ok().and_then(|t| t.trim().parse().ok());
            let garage = Garage { dir, s3_port, web_port, child: Mutex::new(None) };
            garage.restart();
            return garage;
        }
        let garage = Garage::write_config(dir, s3_port, 1, compressed);
        garage.restart();
        garage.configure();
        std::fs::write(configured, "").unwrap();
        garage
    }

    /// A node's garage.toml; `replication` copies of every object.
    fn write_config(dir: Dir, s3_port: u16, replication: u32, compressed: bool) -> Garage {
        let rpc_port = free_port();
        let web_port = free_port();
        let config = format!(
            r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = {replication}
compression_level = {compression}
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[s3_web]
bind_addr = "127.0.0.1:{web_port}"
root_domain = ".web.garage.localhost"
index = "index.html"
"#,
            meta = dir.path().join("meta").display(),
            data = dir.path().join("data").display(),
            rpc_secret = "a".repeat(64),
            compression = if compressed { "1" } else { "\"none\"" },
        );
        std::fs::write(dir.path().join("garage.toml"), config).unwrap();
        std::fs::write(dir.path().join("web_port"), web_port.to_string()).unwrap();
        Garage { dir, s3_port, web_port: Some(web_port), child: Mutex::new(None) }
    }

    pub fn into_server(self) -> S3Server {
        S3Server {
            flavor: Flavor::Garage,
            endpoint: format!("http://127.0.0.1:{}", self.s3_port),
            region: "garage".into(),
            access_key_id: MAIN_KEY_ID.into(),
            secret_access_key: MAIN_SECRET.into(),
            inner: Inner::Garage(self),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("garage.toml")
    }

    fn cli(&self) -> Command {
        let mut cmd = Command::new(tool("bin/garage"));
        cmd.arg("-c").arg(self.config());
        cmd.env("RUST_LOG", "error");
        cmd
    }

    pub fn restart(&self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let mut cmd = self.cli();
        cmd.arg("server").stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        *self.child.lock().unwrap() = Some(spawn_bound(cmd));
        wait_for_port(self.s3_port, "garage");
    }

    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One-node layout and the main key; retried while the RPC layer comes up.
    fn configure(&self) {
        let node_id = self.node_id();
        let node_id = node_id.split('@').next().unwrap();
        run(self.cli().args(["layout", "assign", "-z", "dc1", "-c", "1G", node_id]));
        run(self.cli().args(["layout", "apply", "--version", "1"]));
        self.import_main_key();
    }

    /// `ID@ADDR` of this node, once its RPC layer answers.
    fn node_id(&self) -> String {
        retry("garage node id", || {
            let out = self.cli().args(["node", "id", "-q"]).output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        })
    }

    fn import_main_key(&self) {
        run(self.cli().args(["key", "import", "--yes", "-n", "main", MAIN_KEY_ID, MAIN_SECRET]));
        run(self.cli().args(["key", "allow", "--create-bucket", "main"]));
    }

    /// `garage status` as this node sees the cluster (for test diagnostics).
    pub fn status(&self) -> String {
        match self.cli().arg("status").output() {
            Ok(out) => {
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
            }
            Err(e) => format!("cannot run garage status: {e}"),
        }
    }

    /// How many nodes this one sees as healthy and knows the status of.
    pub fn healthy_nodes(&self) -> usize {
        let status = self.status();
        let healthy = status.split("==== FAILED NODES ====").next().unwrap_or("");
        healthy
            .lines()
            .filter(|l| l.contains("127.0.0.1:") && l.split_whitespace().nth(1).is_none_or(|h| h != "?"))
            .count()
    }

    /// The end of the server's log (for test diagnostics).
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Kills the server with SIGKILL (no chance to flush anything).
    pub fn kill(&self) {
        self.stop();
    }

    /// Removes a key from the server: requests signed with it are refused
    /// from now on (a revoked or deleted access key).
    pub fn delete_key(&self, id: &str) {
        run(self.cli().args(["key", "delete", "--yes", id]));
    }

    /// Gives a key read and write rights on `bucket` (again).
    pub fn allow_key(&self, bucket: &str, id: &str) {
        run(self.cli().args(["bucket", "allow", "--read", "--write", bucket, "--key", id]));
    }

    /// Takes a key's rights on `bucket` away (the key still exists).
    pub fn deny_key(&self, bucket: &str, id: &str) {
        run(self.cli().args(["bucket", "deny", "--read", "--write", "--owner", bucket, "--key", id]));
    }

    pub fn create_bucket(&self, name: &str) {
        if self.bucket_exists(name) {
            return;
        }
        retry("garage bucket create", || {
            self.cli().args(["bucket", "create", name]).output().ok()?.status.success().then_some(())
        });
        run(self.cli().args(["bucket", "allow", "--read", "--write", "--owner", name, "--key", "main"]));
    }

    /// Serves `name` publicly on the website endpoint; returns its base URL
    /// (`http://NAME.web.garage.localhost:PORT`, `*.localhost` being loopback).
    pub fn website(&self, name: &str) -> Option<String> {
        let port = self.web_port?;
        run(self.cli().args(["bucket", "website", "--allow", name]));
        Some(format!("http://{name}.web.garage.localhost:{port}"))
    }

    fn bucket_exists(&self, name: &str) -> bool {
        self.cli().args(["bucket", "info", name]).output().map(|o| o.status.success()).unwrap_or(false)
    }

    pub fn create_key(&self, bucket: &str, read: bool, write: bool) -> (String, String) {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("GK{:024x}", (std::process::id() as u128) << 32 | n as u128 | 1 << 90);
        // Random-looking (no long runs of zeros), so a test searching logs
        // for the secret cannot miss a leaked piece of it.
        let secret: String = (0..4)
            .map(|i| {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u32(n);
                h.write_u32(i);
                format!("{:016x}", h.finish())
            })
            .collect();
        let name = format!("k{n}");
        run(self.cli().args(["key", "import", "--yes", "-n", &name, &id, &secret]));
        let mut allow = self.cli();
        allow.args(["bucket", "allow"]);
        if read {
            allow.arg("--read");
        }
        if write {
            allow.arg("--write");
        }
        if read || write {
            run(allow.args([bucket, "--key", &name]));
        }
        (id, secret)
    }
}

fn retry<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} kept failing for 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Several Garage nodes on loopback forming one cluster, every object kept
/// on `replication` of them. Each node serves S3 on its own port.
pub struct GarageCluster {
    nodes: Vec<Garage>,
}

impl GarageCluster {
    pub fn start(nodes: usize, replication: u32) -> GarageCluster {
        assert!(nodes >= replication as usize, "a cluster needs at least `replication` nodes");
        let nodes: Vec<Garage> = (0..nodes)
            .map(|_| {
                Garage::write_config(
                    Dir::Temp(temp_dir("bucketsync-garage-node-")),
                    free_port(),
                    replication,
                    true,
                )
            })
            .collect();
        for node in &nodes {
            node.restart();
        }
        // Every node gets every other as a bootstrap peer, so any two of
        // them find each other again after a third dies or restarts (peers
        // met only through `node connect` from one node lost each other
        // when a node was killed under load).
        let ids: Vec<String> = nodes.iter().map(Garage::node_id).collect();
        let peers = ids.iter().map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(", ");
        for node in &nodes {
            node.stop();
            let config = std::fs::read_to_string(node.config()).unwrap();
            let config =
                config.replacen("\n[s3_api]", &format!("bootstrap_peers = [{peers}]\n\n[s3_api]"), 1);
            std::fs::write(node.config(), config).unwrap();
        }
        for node in &nodes {
            node.restart();
        }
        retry("a cluster whose nodes all see each other", || {
            nodes.iter().all(|n| n.healthy_nodes() == nodes.len()).then_some(())
        });
        for (n, id) in ids.iter().enumerate() {
            let id = id.split('@').next().unwrap();
            // One zone per node, so every copy lands on another node.
            run(nodes[0].cli().args(["layout", "assign", "-z", &format!("dc{n}"), "-c", "1G", id]));
        }
        run(nodes[0].cli().args(["layout", "apply", "--version", "1"]));
        retry("garage cluster key import", || {
            let out = nodes[0]
                .cli()
                .args(["key", "import", "--yes", "-n", "main", MAIN_KEY_ID, MAIN_SECRET])
                .output()
                .ok()?;
            out.status.success().then_some(())
        });
        run(nodes[0].cli().args(["key", "allow", "--create-bucket", "main"]));
        GarageCluster { nodes }
    }

    pub fn node(&self, n: usize) -> &Garage {
        &self.nodes[n]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn endpoint(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[n].s3_port)
    }

    pub fn access_key_id(&self) -> &'static str {
        MAIN_KEY_ID
    }

    pub fn secret_access_key(&self) -> &'static str {
        MAIN_SECRET
    }
}
