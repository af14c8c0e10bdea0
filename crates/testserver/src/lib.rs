//! `bucketsync-testserver` starts real S3-compatible servers on 127.0.0.1 for
//! tests (and for the dev app's ready-made local policy).
//!
//! It knows: where `scripts/setup` installs Garage and moto, how to configure
//! a single-node Garage, free ports, and how to make child servers die with
//! the test process. It must not know anything about Bucketsync's own code:
//! it only hands out endpoints, regions, keys and buckets.
//!
//! Servers are shared per test process ([`S3Server::garage`],
//! [`S3Server::moto`]) and every test takes its own bucket, so tests stay
//! independent without paying a server start each. Tests that kill or stop a
//! server start a private one with [`S3Server::start`].

pub mod garage;
mod moto;
mod process;
pub mod proxy;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub use garage::{Garage, GarageCluster};
pub use process::free_port;
pub use proxy::{Down, Fault, FaultProxy};

/// Which server implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// A real distributed object store; checks signatures.
    Garage,
    /// moto's server: broad API coverage, keeps hostile keys faithfully, does
    /// not check signatures.
    Moto,
}

/// A running server and the credentials that reach it.
pub struct S3Server {
    pub flavor: Flavor,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    inner: Inner,
}

enum Inner {
    Garage(garage::Garage),
    Moto(moto::Moto),
}

impl S3Server {
    /// The Garage server shared by this test process.
    pub fn garage() -> &'static S3Server {
        static SERVER: OnceLock<S3Server> = OnceLock::new();
        SERVER.get_or_init(|| S3Server::start(Flavor::Garage))
    }

    /// The moto server shared by this test process.
    pub fn moto() -> &'static S3Server {
        static SERVER: OnceLock<S3Server> = OnceLock::new();
        SERVER.get_or_init(|| S3Server::start(Flavor::Moto))
    }

    /// Both shared servers, for tests that must pass against each.
    pub fn all() -> [&'static S3Server; 2] {
        [S3Server::garage(), S3Server::moto()]
    }

    /// A private server, stopped when dropped.
    pub fn start(flavor: Flavor) -> S3Server {
        match flavor {
            Flavor::Garage => garage::Garage::start().into_server(),
            Flavor::Moto => moto::Moto::start().into_server(),
        }
    }

    /// A private Garage that stores data uncompressed (the benchmark's
    /// server), stopped when dropped.
    pub fn start_uncompressed_garage() -> S3Server {
        garage::Garage::start_compressed(false).into_server()
    }

    /// A Garage that keeps its data in `dir` and listens on `port` across
    /// runs: the dev app's ready-made local bucket. Stopped when dropped.
    pub fn start_kept_garage(dir: PathBuf, port: u16) -> S3Server {
        garage::Garage::start_kept(dir, port).into_server()
    }

    /// Creates `name` if it does not exist yet (Garage only).
    pub fn ensure_bucket(&self, name: &str) {
        match &self.inner {
            Inner::Garage(g) => g.create_bucket(name),
            Inner::Moto(m) => m.create_bucket(name),
        }
    }

    /// Creates a bucket with a unique name starting with `hint` and returns
    /// the name. The server's main key can read and write it.
    pub fn create_bucket(&self, hint: &str) -> String {
        let name = unique_bucket_name(hint);
        match &self.inner {
            Inner::Garage(g) => g.create_bucket(&name),
            Inner::Moto(m) => m.create_bucket(&name),
        }
        name
    }

    /// Makes `bucket` publicly readable without signatures and returns the
    /// base URL its objects are served under (Garage's website endpoint).
    /// `None` where the server has no such endpoint (moto serves every
    /// request unsigned anyway).
    pub fn website(&self, bucket: &str) -> Option<String> {
        match &self.inner {
            Inner::Garage(g) => g.website(bucket),
            Inner::Moto(_) => None,
        }
    }

    /// A second key with only the given rights on `bucket` (Garage only: moto
    /// does not check permissions). Returns (access key id, secret).
    pub fn create_key(&self, bucket: &str, read: bool, write: bool) -> Option<(String, String)> {
        match &self.inner {
            Inner::Garage(g) => Some(g.create_key(bucket, read, write)),
            Inner::Moto(_) => None,
        }
    }

    /// Deletes a key made by [`S3Server::create_key`]: the server refuses
    /// requests signed with it from now on (Garage only).
    pub fn delete_key(&self, access_key_id: &str) {
        match &self.inner {
            Inner::Garage(g) => g.delete_key(access_key_id),
            Inner::Moto(_) => panic!("moto does not check keys"),
        }
    }

    /// Takes a key's rights on `bucket` away; the key itself stays valid
    /// (Garage only).
    pub fn deny_key(&self, bucket: &str, access_key_id: &str) {
        match &self.inner {
            Inner::Garage(g) => g.deny_key(bucket, access_key_id),
            Inner::Moto(_) => panic!("moto does not check keys"),
        }
    }

    /// Gives a key read and write rights on `bucket` (Garage only).
    pub fn allow_key(&self, bucket: &str, access_key_id: &str) {
        match &self.inner {
            Inner::Garage(g) => g.allow_key(bucket, access_key_id),
            Inner::Moto(_) => panic!("moto does not check keys"),
        }
    }

    /// Stops the server process (for offline tests); the data stays.
    pub fn stop(&self) {
        match &self.inner {
            Inner::Garage(g) => g.stop(),
            Inner::Moto(m) => m.stop(),
        }
    }

    /// Starts a stopped server again on the same port with the same data.
    pub fn restart(&self) {
        match &self.inner {
            Inner::Garage(g) => g.restart(),
            Inner::Moto(m) => m.restart(),
        }
    }
}

/// A bucket name no other test of any process uses: `hint`, lower-cased
/// and cut, then the process id and a counter.
fn unique_bucket_name(hint: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hint: String = hint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .take(30)
        .collect();
    if hint.is_empty() {
        hint.push('t');
    }
    format!("{hint}-{}-{n}", std::process::id())
}

impl GarageCluster {
    /// Creates a bucket (unique name from `hint`) the main key can use.
    pub fn create_bucket(&self, hint: &str) -> String {
        let name = unique_bucket_name(hint);
        self.node(0).create_bucket(&name);
        name
    }
}

/// Where `scripts/setup` puts the servers: `$BUCKETSYNC_TOOLS`, else
/// `~/.cache/bucketsync/tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BUCKETSYNC_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/bucketsync/tools")
}

fn tool(relative: &str) -> PathBuf {
    let path = tools_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/setup` first (it installs the local S3 servers)",
        path.display()
    );
    path
}
