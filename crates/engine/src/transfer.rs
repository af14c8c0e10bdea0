//! Moving file contents between the local folder and the bucket.
//!
//! - Uploads: files under the multipart threshold (and at most
//!   [`MAX_IN_MEMORY_PUT`]) are read once into memory, hashed while read, and
//!   sent as one PUT (signed with that hash); at most
//!   [`IN_MEMORY_PUT_BUDGET`] bytes of such bodies are alive at once. Larger files are hashed in one sequential pass (the hash
//!   goes into the object's metadata, which multipart sets at creation), then
//!   sent as equal-sized parts streamed from disk, each part recorded in the
//!   store as soon as the server acknowledged it, so a later upload of the
//!   same content (the next pass that uploads the path, also after a
//!   restart) resumes instead of sending them again.
//! - Downloads: parallel ranged GETs into a temp file beside the target
//!   (named [`TEMP_PREFIX`]`*`, which the scanner ignores), each body piece
//!   written at its offset as it arrives by a writer thread, hashed in order
//!   by a hasher thread beside it (from memory for pieces that continue the
//!   written prefix, read back from the page cache for what arrived ahead
//!   of it), verified, fsynced, given the object's mtime, renamed. Memory
//!   per download is two short queues of pieces, whatever the range size.
//!   Objects listed at most a MiB come whole in one GET (its answer's
//!   headers stand in for the HEAD) and land in one go.
//! - One semaphore, shared by every pair, bounds every request in flight
//!   (HEADs, parts, ranges, single PUTs); its size is also how many files a
//!   pass moves at once and how wide one file's parts or ranges fan out, so
//!   one big file, many small ones or a mix all fill it, and its FIFO order
//!   shares it fairly. No task holds a permit while it waits for another,
//!   and none while it sleeps before a retry.
//! - Failed parts and ranges are retried with backoff when the error is
//!   transient ([`RemoteError::retryable`]); the SDK does not retry a body
//!   that breaks off mid-stream.

mod download;
pub mod part;
mod upload;

/// Removes the download temp files among `paths` (relative to `root`, as
/// the scan found them) that a killed process left behind; returns the
/// ones it removed. A download in progress in this process keeps its own.
pub fn sweep_stale_temps(root: &Path, paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .filter(|rel| {
            let path = root.join(rel);
            download::stale_temp(&path) && std::fs::remove_file(&path).is_ok()
        })
        .cloned()
        .collect()
}

use crate::clock::Clock;
use crate::event::FaultKind;
use crate::snapshot::LocalFile;
use backon::{ExponentialBuilder, Retryable};
use bucketsync_remote::{ErrorKind, ObjectMeta, Remote, RemoteError, WriteIf};
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

/// Bytes of file content that single PUTs hold in memory at once, across
/// every pair of the process. Without it, `max_concurrent_parts` PUTs of
/// files just under [`MAX_IN_MEMORY_PUT`] would hold 16 x 16 MiB; with it, at
/// most two such files are in memory together, while small files (a few
/// KiB each) never wait for it.
pub const IN_MEMORY_PUT_BUDGET: u64 = 32 * 1024 * 1024;

/// Size of one ranged GET; at most `max_concurrent_parts` run at once per
/// download (and the shared semaphore bounds them across downloads).
/// Bodies stream to disk piece by piece, so the size costs no memory; big
/// ranges keep the request count low.
pub const DOWNLOAD_RANGE_SIZE: u64 = 16 * 1024 * 1024;

/// The default of the one limit on requests in flight (the app setting
/// `transfer-concurrency`): wide enough to fill a fast link with small
/// files, which cost a round trip or two each.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Recorded multipart uploads older than this are aborted rather than
/// resumed (R2 and lifecycle rules drop incomplete uploads after about a week).
pub const DEFAULT_STALE_UPLOAD_AFTER: Duration = Duration::from_secs(6 * 24 * 3600);
/// Open multipart uploads no row knows are aborted once this old (see
/// [`Transfers::sweep_orphans`]).
pub const ORPHAN_AFTER: Duration = Duration::from_secs(24 * 3600);

/// User metadata names the engine writes on every object.
pub const MTIME_METADATA: &str = "mtime";
pub const SHA256_METADATA: &str = "sha256";

/// Provider limits and the global concurrency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferLimits {
    /// Requests in flight, across all pairs (the size the shared semaphore
    /// should have); also the files a pass moves at once, and the parts or
    /// ranges of one file at once.
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
            max_concurrent_parts: DEFAULT_CONCURRENCY,
            min_part_size: 5 * 1024 * 1024,
            max_parts: 10_000,
            multipart_threshold: MAX_IN_MEMORY_PUT,
        }
    }
}

/// A finished upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    /// `etag` and `size` as the server reported them; `mtime_ms` as sent.
    pub remote: ObjectMeta,
    /// The file as it was read (the expected stat), with the hash of the
    /// content sent.
    pub local: LocalFile,
}

/// What the download's destination must still be when the file lands: what
/// the plan saw there. Anything else is someone's newer version, kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalExpect {
    /// Nothing (a new file): the final rename refuses to replace whatever
    /// appeared meanwhile, atomically.
    Absent,
    /// This version of a file (size, mtime, inode), replaced only if it is
    /// still that right before the rename.
    File(LocalFile),
    /// Whatever is there (the bucket browser's explicit overwrite).
    Anything,
}

/// What the bucket must still hold at the upload's key right before the
/// PUT or the CompleteMultipartUpload: what the plan's listing saw there.
/// Anything else was written by someone after the listing and is not
/// replaced (the next pass plans a conflict).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteExpect {
    /// No object (a new key).
    Absent,
    /// The object with this ETag (as listed, unquoted).
    Etag(String),
    /// Whatever is there (the bucket browser's uploads with "overwrite",
    /// which the person aimed at that key; tests of the transfer layer alone).
    Anything,
}

impl RemoteExpect {
    /// The same expectation as conditional headers.
    pub fn write_if(&self) -> WriteIf {
        match self {
            RemoteExpect::Absent => WriteIf::Absent,
            RemoteExpect::Etag(etag) => WriteIf::Etag(etag.clone()),
            RemoteExpect::Anything => WriteIf::Always,
        }
    }
}

/// A finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    /// The renamed file: size, the mtime it was given, its inode, and the
    /// hash of the content written.
    pub local: LocalFile,
}

/// Receives byte counts as data moves (after each part or PUT, and with
/// each piece of a download's body).
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
    #[error("{} changed while its download ran; it was kept, and the next pass looks again", path.display())]
    LocalChanged { path: PathBuf },
    #[error(
        "{key} changed in the bucket after it was listed; it was not replaced, and the next pass looks again"
    )]
    RemoteChanged { key: String },
    #[error("the download of {key} failed verification: {reason}")]
    Verify { key: String, reason: String },
    #[error("the disk is full (writing {})", path.display())]
    DiskFull { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TransferError {
    /// What kind of trouble this is; `None` when it is no fault at all
    /// (the file moved underneath and the next pass looks again).
    pub fn fault(&self) -> Option<FaultKind> {
        Some(match self {
            TransferError::Remote(e) => FaultKind::Remote(e.kind),
            TransferError::Io { source, .. } => FaultKind::of_io(source),
            TransferError::ChangedDuringUpload { .. }
            | TransferError::LocalChanged { .. }
            | TransferError::RemoteChanged { .. } => return None,
            // Bytes that did not add up: the server (or the wire) failed.
            TransferError::Verify { .. } => FaultKind::Remote(ErrorKind::Server),
            TransferError::DiskFull { .. } => FaultKind::DiskFull,
            TransferError::Store(_) => FaultKind::Store,
        })
    }

    /// Whether the same transfer may succeed later without anyone changing
    /// anything: [`FaultKind::retryable`], the one answer to that question.
    pub fn retryable(&self) -> bool {
        self.fault().is_none_or(FaultKind::retryable)
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> TransferError {
        match FaultKind::of_io(&source) {
            FaultKind::DiskFull => TransferError::DiskFull { path: path.to_path_buf() },
            _ => TransferError::Io { path: path.to_path_buf(), source },
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
    clock: Arc<dyn Clock>,
    stale_after: Duration,
    retry: ExponentialBuilder,
    /// The server honours If-None-Match / If-Match on PutObject and
    /// CompleteMultipartUpload (`policy probe` saw it): uploads send them
    /// instead of a HEAD right before the write.
    conditional_writes: bool,
}

impl Transfers {
    /// `clock` is the executor's: upload records and mtimes are stamped with it.
    pub fn new(
        remote: Arc<dyn Remote>,
        store: Arc<Mutex<Store>>,
        limits: TransferLimits,
        semaphore: Arc<Semaphore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Transfers {
            remote,
            store,
            limits,
            semaphore,
            clock,
            stale_after: DEFAULT_STALE_UPLOAD_AFTER,
            retry: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(5)
                .with_jitter(),
            conditional_writes: false,
        }
    }

    /// Whether the server honours conditional writes, as the policy's probe
    /// observed it (false when unknown: never guessed). When it does, an
    /// upload's expectation travels in the write itself (`If-None-Match: *`
    /// for a new key, `If-Match` with the listed ETag for a replacement),
    /// and the server refuses it atomically if the key changed: no window
    /// between a HEAD and the write.
    pub fn with_conditional_writes(mut self, honoured: bool) -> Self {
        self.conditional_writes = honoured;
        self
    }

    /// See [`Transfers::with_conditional_writes`].
    pub fn conditional_writes(&self) -> bool {
        self.conditional_writes
    }

    /// Recorded uploads older than `after` are aborted rather than resumed.
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

    pub fn remote(&self) -> &dyn Remote {
        self.remote.as_ref()
    }

    /// Now, by the clock the transfers were given.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Aborts the multipart uploads open under `prefix` that no upload row of
    /// this pair knows and that were begun more than [`ORPHAN_AFTER`] ago;
    /// returns how many. A crash between CreateMultipartUpload and the row's
    /// write, a failed abort of an upload whose row a new upload of the same
    /// key then replaced (a failed abort otherwise keeps its row, retried by
    /// later passes), or a database rebuilt after damage leaves such
    /// uploads, and providers bill their parts until they are aborted.
    /// Younger ones may be another device's, still running.
    ///
    /// Runs at most once per [`ORPHAN_AFTER`] per pair (the last sweep is kept
    /// in the store), so a pass where nothing changed sends nothing but its
    /// listing; `None` when it was not due.
    pub async fn sweep_orphans(&self, pair_id: i64, prefix: &str) -> Result<Option<usize>, TransferError> {
        let last_key = format!("orphan-uploads-swept-ms:{pair_id}");
        let last = self.store().setting(&last_key)?.and_then(|v| v.parse::<i64>().ok());
        let Some(last) = last else {
            // A pair's first pass starts the daily clock instead: its own
            // uploads cannot be orphans yet, and its first pass stays lean.
            self.store().set_setting(&last_key, &self.now_ms().to_string())?;
            return Ok(None);
        };
        if self.now_ms().saturating_sub(last) < ORPHAN_AFTER.as_millis() as i64 {
            return Ok(None);
        }
        let known: std::collections::HashSet<String> =
            self.store().list_uploads(pair_id)?.into_iter().map(|row| row.upload_id).collect();
        let open = self.with_retry("ListMultipartUploads", || self.remote.list_open_uploads(prefix)).await?;
        let cutoff = self.now_ms() - ORPHAN_AFTER.as_millis() as i64;
        let mut aborted = 0;
        for upload in open {
            // No start time: nothing says it is old, so it stays.
            let old = upload.initiated_ms.is_some_and(|at| at < cutoff);
            if !old || known.contains(&upload.upload_id) {
                continue;
            }
            match self
                .with_retry("AbortMultipartUpload", || {
                    self.remote.abort_multipart(&upload.key, &upload.upload_id)
                })
                .await
            {
                Ok(()) => aborted += 1,
                Err(e) => tracing::warn!("could not abort an orphaned upload of {}: {e}", upload.key),
            }
        }
        self.store().set_setting(&last_key, &self.now_ms().to_string())?;
        Ok(Some(aborted))
    }

    /// Whether an upload recorded at `started_ms` is too old to resume.
    pub fn is_stale(&self, started_ms: i64) -> bool {
        self.now_ms().saturating_sub(started_ms) > self.stale_after.as_millis() as i64
    }

    /// Uploads `path` to `key` (single PUT or resumable multipart), with the
    /// mtime in `mtime` user metadata (rclone's format) and the content hash
    /// in `sha256`. Fails with [`TransferError::ChangedDuringUpload`] if the
    /// file is not as `expected` or changed while it was read; a torn upload
    /// is never completed and never recorded.
    ///
    /// Writes only if the key still holds what `remote` says right before
    /// the PUT / CompleteMultipartUpload; otherwise fails with
    /// [`TransferError::RemoteChanged`] (a multipart upload is aborted then).
    ///
    /// A multipart upload recorded for `key` (an earlier attempt failed, or
    /// the process was killed) is resumed when it was started from this
    /// very content (hash, inode, size, mtime), and aborted otherwise.
    pub async fn upload(
        &self,
        pair_id: i64,
        path: &Path,
        key: &str,
        expected: &LocalFile,
        remote: &RemoteExpect,
        progress: &dyn Progress,
    ) -> Result<Uploaded, TransferError> {
        upload::upload(self, pair_id, path, key, expected, remote, progress).await
    }

    /// Downloads `object` into a temp file in `dest`'s folder (parallel
    /// ranged GETs), verifies it (size; ETag and `sha256` metadata when they
    /// can be checked), fsyncs it, sets its mtime and renames it onto `dest`
    /// if `dest` is still as `expect` says; otherwise fails with
    /// [`TransferError::LocalChanged`] and leaves `dest` alone. `dest`'s
    /// parent folder must exist. On failure nothing is left behind.
    pub async fn download(
        &self,
        object: &ObjectMeta,
        dest: &Path,
        expect: &LocalExpect,
        progress: &dyn Progress,
    ) -> Result<Downloaded, TransferError> {
        download::download(self, object, dest, expect, progress).await
    }

    /// Before a pass's transfers: aborts the pair's recorded multipart
    /// uploads whose key is not in `uploading` (the keys the pass's plan
    /// uploads) and returns how many. The others are resumed, or aborted,
    /// by [`Transfers::upload`] of their key; none is ever completed
    /// without a plan that uploads it.
    pub async fn abort_unplanned(
        &self,
        pair_id: i64,
        uploading: &std::collections::HashSet<String>,
    ) -> Result<usize, TransferError> {
        upload::abort_unplanned(self, pair_id, uploading).await
    }

    /// The store (upload records); held only for one short query.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A permit for one request with a body. A closed semaphore means no limit.
    async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        self.semaphore.acquire().await.ok()
    }

    /// Runs `op` under a permit, retrying transient failures with backoff
    /// (the permit is released while waiting).
    pub(crate) async fn with_retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, RemoteError>
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

/// Whether two stats of a path show the same version of the file, more
/// finely than [`LocalFile::same_stat`]: the ctime changes with every write
/// (and cannot be set back), so a rewrite that restores the mtime shows too.
pub(crate) fn same_version(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev()
        && a.ino() == b.ino()
        && a.len() == b.len()
        && (a.mtime(), a.mtime_nsec()) == (b.mtime(), b.mtime_nsec())
        && (a.ctime(), a.ctime_nsec()) == (b.ctime(), b.ctime_nsec())
}

/// Renames `from` to `to` unless something exists at `to` (then
/// `AlreadyExists`), atomically: no check-then-rename window in which a
/// file created at `to` would be replaced. File systems without
/// `RENAME_NOREPLACE` get the closest non-atomic equivalent.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte in a path"))
    };
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let r = unsafe {
        libc::renameat2(libc::AT_FDCWD, cfrom.as_ptr(), libc::AT_FDCWD, cto.as_ptr(), libc::RENAME_NOREPLACE)
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => match to.symlink_metadata() {
            Ok(_) => Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
            Err(m) if m.kind() == std::io::ErrorKind::NotFound => std::fs::rename(from, to),
            Err(m) => Err(m),
        },
        _ => Err(e),
    }
}

/// The stat of `path` (following nothing: symbolic links are never synced).
pub(crate) fn version(path: &Path) -> Result<std::fs::Metadata, TransferError> {
    std::fs::symlink_metadata(path).map_err(|e| TransferError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Temp files of a process that is gone are swept; this process's own
    /// (a download in flight) and other names never are.
    #[test]
    fn only_temp_files_of_dead_processes_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join(format!("{TEMP_PREFIX}{:x}-1-0", std::process::id()));
        // pid_max is at most 2^22 on Linux: this pid cannot run.
        let dead = dir.path().join(format!("{TEMP_PREFIX}{:x}-1-0", 0x7fff_fff0u32));
        let user = dir.path().join("notes.txt");
        for p in [&ours, &dead, &user] {
            std::fs::write(p, b"x").unwrap();
        }
        let rel = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        let swept = sweep_stale_temps(dir.path(), &[rel(&ours), rel(&dead), rel(&user)]);
        assert_eq!(swept, [rel(&dead)]);
        assert!(ours.exists() && user.exists() && !dead.exists());
    }

    /// ENOSPC surfaces as DiskFull so the user is told to free space, not shown an errno.
    #[test]
    fn enospc_maps_to_disk_full() {
        let p = Path::new("/x");
        let full = TransferError::io(p, std::io::Error::from_raw_os_error(28));
        assert!(matches!(full, TransferError::DiskFull { .. }), "{full:?}");
        let other = TransferError::io(p, std::io::Error::from_raw_os_error(13));
        assert!(matches!(other, TransferError::Io { .. }), "{other:?}");
    }

    /// The scan's stat agrees with itself, and a differing size or inode does not.
    #[test]
    fn stat_matches_what_the_scan_saw() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        let s = crate::snapshot::stat(&meta);
        assert!(s.same_stat(&crate::snapshot::stat(&meta)));
        assert!(s.same_stat(&LocalFile { inode: 0, ..s.clone() }), "inode 0 is not compared");
        assert!(!s.same_stat(&LocalFile { size: 4, ..s.clone() }));
        assert!(!s.same_stat(&LocalFile { inode: meta.ino() + 1, ..s.clone() }));
        assert!(same_version(&meta, &std::fs::metadata(&p).unwrap()));
        std::fs::write(&p, b"abcd").unwrap();
        assert!(!same_version(&meta, &std::fs::metadata(&p).unwrap()), "a rewrite is another version");
    }
}
