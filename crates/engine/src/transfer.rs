//! Moving file contents between the local folder and the bucket.
//!
//! - Uploads: files under the multipart threshold (and at most
//!   [`MAX_IN_MEMORY_PUT`]) are read once into memory, hashed while read, and
//!   sent as one PUT. Larger files are hashed in one sequential pass (the hash
//!   goes into the object's metadata, which multipart sets at creation), then
//!   sent as equal-sized parts streamed from disk, each part recorded in the
//!   store as soon as the server acknowledged it, so a restart resumes.
//! - Downloads: parallel ranged GETs into a temp file beside the target
//!   (named [`TEMP_PREFIX`]`*`, which the scanner ignores), hashed in order
//!   while streaming, verified, fsynced, given the object's mtime, renamed.
//! - One semaphore, shared by every pair, bounds the requests with a body in
//!   flight (parts, ranges, single PUTs). No task holds a permit while it
//!   waits for another, and none while it sleeps before a retry.
//! - Failed parts and ranges are retried with backoff when the error is
//!   transient ([`RemoteError::retryable`]); the SDK does not retry a body
//!   that breaks off mid-stream.

mod download;
pub mod part;
mod upload;

use backon::{ExponentialBuilder, Retryable};
use bucketsync_remote::{ErrorKind, ObjectMeta, Remote, RemoteError};
use bucketsync_store::{Store, StoreError};
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Temp files of downloads in progress start with this; the scanner must
/// ignore such names (and may delete stale ones).
pub const TEMP_PREFIX: &str = ".bucketsync-tmp-";

/// Files at most this big (and under the multipart threshold) are read into
/// memory and sent in one PUT; anything bigger goes multipart, so memory per
/// transfer stays bounded whatever the threshold.
pub const MAX_IN_MEMORY_PUT: u64 = 16 * 1024 * 1024;

/// Size of one ranged GET. At most `max_concurrent_parts` of them are held in
/// memory per download.
pub const DOWNLOAD_RANGE_SIZE: u64 = 8 * 1024 * 1024;

/// Recorded multipart uploads older than this are aborted rather than
/// resumed (R2 and lifecycle rules drop incomplete uploads after about a week).
pub const DEFAULT_STALE_UPLOAD_AFTER: Duration = Duration::from_secs(6 * 24 * 3600);

/// User metadata names the engine writes on every object.
pub const MTIME_METADATA: &str = "mtime";
pub const SHA256_METADATA: &str = "sha256";

/// Provider limits and the global concurrency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferLimits {
    /// Requests with a body in flight, across all pairs (the size the shared
    /// semaphore should have).
    pub max_concurrent_parts: usize,
    /// The provider's smallest part (5 MiB on S3, 5,000,000 bytes on B2, 64 MiB on Storj).
    pub min_part_size: u64,
    /// The provider's largest part count (10,000 on S3, 1,000 on Scaleway).
    pub max_parts: u32,
    /// Files of at least this size go multipart.
    pub multipart_threshold: u64,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            max_concurrent_parts: 4,
            min_part_size: 5 * 1024 * 1024,
            max_parts: 10_000,
            multipart_threshold: MAX_IN_MEMORY_PUT,
        }
    }
}

/// What the scan saw of a local file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalState {
    pub size: u64,
    pub mtime_ms: i64,
    /// 0 when unknown (then it is not compared).
    pub inode: u64,
}

impl LocalState {
    pub fn of(meta: &std::fs::Metadata) -> LocalState {
        LocalState { size: meta.len(), mtime_ms: mtime_ms(meta), inode: meta.ino() }
    }
}

/// A finished upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    /// `etag` and `size` as the server reported them; `mtime_ms` as sent.
    pub remote: ObjectMeta,
    /// The file as it was read (equal to `expected`).
    pub local: LocalState,
    /// Hex SHA-256 of the content sent.
    pub sha256: String,
}

/// A finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    /// The renamed file: size, the mtime it was given, its inode.
    pub local: LocalState,
    /// Hex SHA-256 of the content written.
    pub sha256: String,
}

/// Receives byte counts as data moves (after each part, range or PUT).
pub trait Progress: Send + Sync {
    fn advance(&self, bytes: u64);
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _bytes: u64) {}
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("cannot read or write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} changed while it was being uploaded; it will be sent once it is stable", path.display())]
    ChangedDuringUpload { path: PathBuf },
    #[error("the download of {key} failed verification: {reason}")]
    Verify { key: String, reason: String },
    #[error("the disk is full (writing {})", path.display())]
    DiskFull { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TransferError {
    /// Whether the same transfer may succeed later without anyone changing
    /// anything (the runner schedules a retry rather than reporting a fault).
    pub fn retryable(&self) -> bool {
        match self {
            TransferError::Remote(e) => e.retryable(),
            TransferError::ChangedDuringUpload { .. } | TransferError::Verify { .. } => true,
            TransferError::Io { .. } | TransferError::DiskFull { .. } | TransferError::Store(_) => false,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> TransferError {
        use std::io::ErrorKind as K;
        if matches!(source.kind(), K::StorageFull | K::QuotaExceeded)
            || source.raw_os_error() == Some(28 /* ENOSPC */)
        {
            TransferError::DiskFull { path: path.to_path_buf() }
        } else {
            TransferError::Io { path: path.to_path_buf(), source }
        }
    }
}

/// Uploads and downloads for any number of pairs, under one concurrency limit.
#[derive(Clone)]
pub struct Transfers {
    remote: Arc<dyn Remote>,
    store: Arc<Mutex<Store>>,
    limits: TransferLimits,
    semaphore: Arc<Semaphore>,
    stale_after: Duration,
    retry: ExponentialBuilder,
}

impl Transfers {
    pub fn new(
        remote: Arc<dyn Remote>,
        store: Arc<Mutex<Store>>,
        limits: TransferLimits,
        semaphore: Arc<Semaphore>,
    ) -> Self {
        Transfers {
            remote,
            store,
            limits,
            semaphore,
            stale_after: DEFAULT_STALE_UPLOAD_AFTER,
            retry: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(5)
                .with_jitter(),
        }
    }

    /// Recorded uploads older than `after` are aborted by [`Transfers::recover`].
    pub fn with_stale_after(mut self, after: Duration) -> Self {
        self.stale_after = after;
        self
    }

    /// Retry schedule for transient failures (tests shorten it).
    pub fn with_retry_delays(mut self, min: Duration, max: Duration, times: usize) -> Self {
        self.retry =
            ExponentialBuilder::default().with_min_delay(min).with_max_delay(max).with_max_times(times);
        self
    }

    pub fn limits(&self) -> &TransferLimits {
        &self.limits
    }

    /// Uploads `path` to `key` (single PUT or resumable multipart), with the
    /// mtime in `mtime` user metadata (rclone's format) and the content hash
    /// in `sha256`. Fails with [`TransferError::ChangedDuringUpload`] if the
    /// file is not as `expected` or changed while it was read; a torn upload
    /// is never completed and never recorded.
    pub async fn upload(
        &self,
        pair_id: i64,
        path: &Path,
        key: &str,
        expected: &LocalState,
        progress: &dyn Progress,
    ) -> Result<Uploaded, TransferError> {
        upload::upload(self, pair_id, path, key, expected, progress).await
    }

    /// Downloads `object` into a temp file in `dest`'s folder (parallel
    /// ranged GETs), verifies it (size; ETag and `sha256` metadata when they
    /// can be checked), fsyncs it, sets its mtime and renames it onto `dest`.
    /// `dest`'s parent folder must exist. On failure nothing is left behind.
    pub async fn download(
        &self,
        object: &ObjectMeta,
        dest: &Path,
        progress: &dyn Progress,
    ) -> Result<Downloaded, TransferError> {
        download::download(self, object, dest, progress).await
    }

    /// At pair start: resumes the pair's recorded multipart uploads whose
    /// file is unchanged (without resending acknowledged parts), aborts the
    /// others (file changed or gone, or older than the stale threshold).
    /// Tries every recorded upload; returns the first error met.
    pub async fn recover(&self, pair_id: i64) -> Result<(), TransferError> {
        upload::recover(self, pair_id).await
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A permit for one request with a body. A closed semaphore means no limit.
    async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        self.semaphore.acquire().await.ok()
    }

    /// Runs `op` under a permit, retrying transient failures with backoff
    /// (the permit is released while waiting).
    async fn with_retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        let mut op = op;
        let attempt = || {
            let fut = op();
            async move {
                let _permit = self.permit().await;
                fut.await
            }
        };
        attempt
            .retry(self.retry)
            .when(|e: &RemoteError| e.retryable())
            .notify(|e: &RemoteError, wait: Duration| {
                tracing::debug!("{what} failed ({e}); retrying in {wait:?}");
            })
            .await
    }
}

/// What identifies one version of a local file, more finely than
/// [`LocalState`]: ctime changes with every write and cannot be set back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    inode: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            inode: meta.ino(),
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }

    fn mtime_ms(&self) -> i64 {
        self.mtime_ns.div_euclid(1_000_000) as i64
    }

    fn local(&self) -> LocalState {
        LocalState { size: self.size, mtime_ms: self.mtime_ms(), inode: self.inode }
    }

    fn matches(&self, expected: &LocalState) -> bool {
        self.size == expected.size
            && self.mtime_ms() == expected.mtime_ms
            && (expected.inode == 0 || expected.inode == self.inode)
    }
}

/// Milliseconds since the epoch, rounded down (as the scanner records them).
pub fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    (i128::from(meta.mtime()) * 1000 + i128::from(meta.mtime_nsec()) / 1_000_000) as i64
}

fn stamp(path: &Path) -> Result<Stamp, TransferError> {
    std::fs::metadata(path).map(|m| Stamp::of(&m)).map_err(|e| TransferError::io(path, e))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn not_found(e: &RemoteError) -> bool {
    e.kind == ErrorKind::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ENOSPC surfaces as DiskFull so the user is told to free space, not shown an errno.
    #[test]
    fn enospc_maps_to_disk_full() {
        let p = Path::new("/x");
        let full = TransferError::io(p, std::io::Error::from_raw_os_error(28));
        assert!(matches!(full, TransferError::DiskFull { .. }), "{full:?}");
        let other = TransferError::io(p, std::io::Error::from_raw_os_error(13));
        assert!(matches!(other, TransferError::Io { .. }), "{other:?}");
    }

    /// The hash is lower-case hex, as written to and compared with metadata.
    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }

    /// The stamp agrees with the scan-level state, and a differing size or inode does not.
    #[test]
    fn stamp_matches_what_the_scan_saw() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        let s = Stamp::of(&meta);
        assert!(s.matches(&LocalState::of(&meta)));
        assert!(s.matches(&LocalState { inode: 0, ..LocalState::of(&meta) }), "inode 0 is not compared");
        assert!(!s.matches(&LocalState { size: 4, ..LocalState::of(&meta) }));
        assert!(!s.matches(&LocalState { inode: meta.ino() + 1, ..LocalState::of(&meta) }));
    }
}
