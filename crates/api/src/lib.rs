//! `bucketsync-api` is the one facade the desktop app and the CLI call.
//!
//! It knows: the request and response types both front ends share (serde +
//! ts-rs, generated into `ui/src/lib/bindings`), [`ApiError`] with a kind the
//! UI can act on, where the home directory is, and where secrets live (the OS
//! keyring, or a source the user chose explicitly).
//!
//! It must not know: Tauri, terminals, or any presentation. Front ends hold
//! no logic of their own: every Tauri command and CLI subcommand is one call
//! into [`Api`].

pub mod browse;
pub mod command;
pub mod dashboard;
pub mod draft;
pub mod engine;
pub mod error;
pub mod event;
pub mod home;
pub mod lock;
pub mod log;
pub mod pair;
pub mod policy;
pub mod provider;
pub mod secret;
pub mod settings;
pub mod status_file;
pub mod sync;

pub use bucketsync_engine::crash::POINTS as CRASH_POINTS;
pub use bucketsync_remote::bandwidth::parse_rate;
pub use bucketsync_remote::request as s3_requests;
pub use error::{ApiError, ErrorKind};

use bucketsync_store::Store;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One open home: its database and everything reached from it.
pub struct Api {
    home: PathBuf,
    store: Arc<Mutex<Store>>,
    /// Bounds transfer requests across every pair (the engine's shared
    /// semaphore, and its size); replaced when the setting changes (runners
    /// restart then).
    transfer_slots: Mutex<(Arc<tokio::sync::Semaphore>, usize)>,
    /// One shared S3 client per policy ([`Api::remote`]).
    remotes: policy::RemoteCache,
    /// Cancel switches of the browser's transfers.
    cancels: browse::transfer::Cancels,
    /// The app's bandwidth limits, shared by every policy's remote.
    bandwidth: Arc<bucketsync_remote::bandwidth::Bandwidth>,
    /// The pairs' runners, when this process runs the home's engine (browser
    /// operations under a synced prefix tell them to sync).
    engine: engine::EngineHost,
    /// Wizard drafts in flight, with the secrets typed for them.
    drafts: draft::Drafts,
}

impl Api {
    /// Opens the home at `home` (see [`home::resolve`]), creating it if needed.
    pub fn open(home: &Path) -> Result<Api, ApiError> {
        let store = Store::open(home)?;
        if let Some(aside) = store.set_aside() {
            tracing::warn!(
                "the database in {} was damaged and has been set aside as {}; add the policies and pairs \
                 again (nothing in the folders or the bucket was deleted, the first sync adopts what both sides hold)",
                home.display(),
                aside.display()
            );
        }
        let api = Api {
            home: home.to_path_buf(),
            store: Arc::new(Mutex::new(store)),
            transfer_slots: Mutex::new({
                let slots = bucketsync_engine::transfer::DEFAULT_CONCURRENCY;
                (Arc::new(tokio::sync::Semaphore::new(slots)), slots)
            }),
            remotes: Default::default(),
            cancels: Default::default(),
            bandwidth: Default::default(),
            engine: engine::EngineHost::new(home.to_path_buf()),
            drafts: Default::default(),
        };
        let settings = api.settings()?;
        api.set_transfer_concurrency(settings.transfer_concurrency as usize);
        let (up, down) = settings.bandwidth();
        api.set_bandwidth(up, down);
        Ok(api)
    }

    /// A new limit on transfer requests in flight, for runners and passes
    /// started from now on, in this process (the stored setting is
    /// [`Api::save_settings`]'s).
    pub fn set_transfer_concurrency(&self, slots: usize) {
        let slots = slots.max(1);
        *self.transfer_slots.lock().unwrap_or_else(|p| p.into_inner()) =
            (Arc::new(tokio::sync::Semaphore::new(slots)), slots);
    }

    pub(crate) fn transfer_slots(&self) -> Arc<tokio::sync::Semaphore> {
        self.transfer_slots.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// The transfer limits before a provider's part rules: as many requests,
    /// files and parts of a file in flight as the shared semaphore allows.
    pub(crate) fn transfer_limits(&self) -> bucketsync_engine::transfer::TransferLimits {
        let slots = self.transfer_slots.lock().unwrap_or_else(|p| p.into_inner()).1;
        bucketsync_engine::transfer::TransferLimits { max_concurrent_parts: slots, ..Default::default() }
    }

    /// Where a damaged database was set aside when this home was opened (a
    /// fresh one replaced it; the policies and pairs must be added again).
    pub fn damaged_database(&self) -> Option<PathBuf> {
        self.store().set_aside().map(Path::to_path_buf)
    }

    /// Limits transfers of this process to `up_bps` and `down_bps` bytes
    /// per second (0: no limit), across every pair and policy, from now on.
    pub fn set_bandwidth(&self, up_bps: u64, down_bps: u64) {
        self.bandwidth.set(up_bps, down_bps);
    }

    /// The bandwidth limits in force: (up, down) bytes per second, 0 for none.
    pub fn bandwidth(&self) -> (u64, u64) {
        self.bandwidth.get()
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Short exclusive access to the database. SQLite calls are quick; never
    /// hold this across an await.
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The providers the setup wizard offers, in display order.
    pub fn providers(&self) -> Vec<provider::ProviderInfo> {
        provider::all()
    }

    /// What the first screen needs: the configured policies by name.
    pub fn overview(&self) -> Result<Overview, ApiError> {
        let policies = self.store().list_policies()?.into_iter().map(|p| p.name).collect();
        Ok(Overview { home: self.home.display().to_string(), policies })
    }
}

/// The app's state at a glance.
#[derive(Clone, Debug, serde::Serialize, ts_rs::TS)]
pub struct Overview {
    /// Where settings and the database live.
    pub home: String,
    pub policies: Vec<String>,
}

/// Arms the crash point `BUCKETSYNC_TEST_CRASH_AT` names (test builds only:
/// see `bucketsync_engine::crash`).
#[cfg(feature = "fail-points")]
pub fn arm_crash_point() -> Option<String> {
    bucketsync_engine::crash::arm_from_env()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_home_has_no_policies_and_offers_every_provider() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        assert!(api.overview().unwrap().policies.is_empty());
        let ids: Vec<_> = api.providers().into_iter().map(|p| p.id).collect();
        assert!(ids.contains(&"b2".to_string()) && ids.contains(&"r2".to_string()));
    }
}
