//! Uploads and downloads the browser starts: files and folders to a
//! prefix, objects and prefixes to a local folder. The bytes go through the
//! sync engine's transfer code (multipart, retries, parallel ranged GETs
//! into a verified temp file, atomic rename), under the same concurrency
//! limit as sync. Each file reports progress; a transfer can be cancelled
//! by its id.
//!
//! Multipart progress of browser uploads is kept in a private in-memory
//! store (the engine records parts per pair so a restart resumes them; a
//! browser upload belongs to no pair): retries within the transfer reuse
//! acknowledged parts, a cancel aborts what is in flight, a restart of the
//! app starts over.

use super::{key, FailureView, FollowUpView};
use crate::policy::ConditionalWrites;
use crate::{Api, ApiError};
use bucketsync_engine::transfer::{Progress, RemoteExpect, TransferError, TransferLimits, Transfers};
use bucketsync_remote::{ObjectMeta, Remote, S3Remote};
use bucketsync_store::{PairRow, PolicyRow, Store};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use ts_rs::TS;

/// Files moved at once by one transfer (parts and ranges inside each are
/// bounded by the shared semaphore).
const FILES_AT_ONCE: usize = 4;

/// At most this often per file a `running` event goes out.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct UploadRequest {
    /// Chosen by the caller, so it can cancel and match events.
    pub id: String,
    pub policy: String,
    /// The folder in the bucket (`""` or ending with `/`).
    #[serde(default)]
    pub prefix: String,
    /// Local files and folders; a folder goes up with everything in it.
    pub paths: Vec<String>,
    /// Replace objects that exist; otherwise they are skipped and reported.
    #[serde(default)]
    pub overwrite: bool,
    /// With exactly one file in `paths`: its key, instead of `prefix` + its name.
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct DownloadRequest {
    pub id: String,
    pub policy: String,
    /// Objects, each saved under its own name in `dest_dir`.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Folders (ending with `/`), each saved as a folder in `dest_dir`.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// An existing local folder.
    pub dest_dir: String,
    /// Replace local files that exist; otherwise they are skipped and reported.
    #[serde(default)]
    pub overwrite: bool,
    /// With exactly one entry in `keys`: the file's name in `dest_dir`
    /// instead of the key's last segment.
    #[serde(default)]
    pub dest_name: Option<String>,
}

/// Progress of one file of a transfer.
#[derive(Clone, Debug, Serialize, TS)]
pub struct TransferEvent {
    /// The transfer's id.
    pub id: String,
    /// `upload` or `download`.
    pub direction: String,
    pub key: String,
    pub path: String,
    /// `running`, `done`, `failed`, `skipped` or `cancelled`.
    pub state: String,
    #[ts(type = "number")]
    pub bytes_done: u64,
    #[ts(type = "number")]
    pub bytes_total: u64,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct TransferReport {
    pub id: String,
    /// Keys uploaded or downloaded.
    pub done: Vec<String>,
    pub failed: Vec<FailureView>,
    /// Left alone, with why (exists, cannot be a file here, a symlink, ...).
    pub skipped: Vec<FailureView>,
    #[ts(type = "number")]
    pub bytes: u64,
    pub cancelled: bool,
    pub follow_up: Vec<FollowUpView>,
}

/// Where transfer events go (a progress bar, the desktop's event channel).
#[derive(Clone, Default)]
pub struct TransferSink(Option<Listener>);

type Listener = Arc<dyn Fn(&TransferEvent) + Send + Sync>;

impl TransferSink {
    pub fn new(f: impl Fn(&TransferEvent) + Send + Sync + 'static) -> Self {
        TransferSink(Some(Arc::new(f)))
    }
    fn emit(&self, e: TransferEvent) {
        if let Some(f) = &self.0 {
            f(&e);
        }
    }
}

/// Cancel switches of the transfers running in this process, by id.
#[derive(Default)]
pub(crate) struct Cancels {
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Cancels {
    fn register(&self, id: &str) -> Result<watch::Receiver<bool>, ApiError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.contains_key(id) {
            return Err(ApiError::invalid(
                "id",
                format!("a transfer '{id}' is running already"),
                "give each transfer its own id",
            ));
        }
        let (tx, rx) = watch::channel(false);
        running.insert(id.to_string(), tx);
        Ok(rx)
    }
    fn done(&self, id: &str) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
    fn cancel(&self, id: &str) -> bool {
        match self.running.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            Some(tx) => {
                let _ = tx.send(true);
                true
            }
            None => false,
        }
    }
}

/// The engine's transfer code for one browser transfer: the shared
/// semaphore and provider limits, with a private store for multipart state.
pub(crate) struct Scratch {
    pub(crate) transfers: Transfers,
    pub(crate) pair_id: i64,
    store: Arc<Mutex<Store>>,
    remote: Arc<S3Remote>,
}

impl Scratch {
    pub(crate) fn new(api: &Api, policy: &PolicyRow, remote: Arc<S3Remote>) -> Result<Scratch, ApiError> {
        let mut store = Store::open_in_memory()?;
        let policy_id = store.insert_policy(&PolicyRow { id: 0, ..policy.clone() })?;
        let pair_id = store.insert_pair(&PairRow {
            id: 0,
            name: "browser".into(),
            policy_id,
            local_root: String::new(),
            prefix: String::new(),
            mode: "upload".into(),
            paused: false,
            max_delete_percent: 0,
            bucket: policy.bucket.clone(),
            created_ms: 0,
        })?;
        let store = Arc::new(Mutex::new(store));
        let quirks = bucketsync_remote::provider::preset(&policy.provider).map(|p| p.quirks);
        let defaults = api.transfer_limits();
        let limits = TransferLimits {
            min_part_size: quirks
                .map_or(defaults.min_part_size, |q| q.min_part_size.max(defaults.min_part_size)),
            max_parts: quirks.map_or(defaults.max_parts, |q| q.max_parts),
            ..defaults
        };
        let dyn_remote: Arc<dyn Remote> = remote.clone();
        let transfers = Transfers::new(
            dyn_remote,
            store.clone(),
            limits,
            api.transfer_slots(),
            Arc::new(bucketsync_engine::clock::SystemClock),
        )
        .with_conditional_writes(ConditionalWrites::of(policy) == ConditionalWrites::Honoured);
        Ok(Scratch { transfers, pair_id, store, remote })
    }

    /// Aborts the multipart uploads a cancelled transfer left open.
    async fn abort_open_uploads(&self) {
        let open = self
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .list_uploads(self.pair_id)
            .unwrap_or_default();
        for row in open {
            if let Err(e) = self.remote.abort_multipart(&row.key, &row.upload_id).await {
                tracing::warn!("could not abort the cancelled upload of {}: {e}", row.key);
            }
        }
    }
}

/// Reports one file's bytes, at most every [`PROGRESS_EVERY`].
struct FileProgress<'a> {
    sink: &'a TransferSink,
    template: TransferEvent,
    done: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl<'a> FileProgress<'a> {
    fn new(sink: &'a TransferSink, template: TransferEvent) -> Self {
        FileProgress { sink, template, done: AtomicU64::new(0), last: Mutex::new(None) }
    }
    fn emit(&self, state: &str, message: Option<String>) {
        let mut e = self.template.clone();
        e.state = state.into();
        e.bytes_done = self.done.load(Ordering::Relaxed).min(e.bytes_total);
        if state == "done" {
            e.bytes_done = e.bytes_total;
        }
        e.message = message;
        self.sink.emit(e);
    }
}

impl Progress for FileProgress<'_> {
    fn advance(&self, bytes: u64) {
        // Resumed uploads report their acknowledged parts first, often none:
        // an event for nothing would use up the first slot and hide the
        // first real progress.
        if bytes == 0 {
            return;
        }
        // Counted and sent under the lock, so the first event carries the
        // first part alone, whatever order the parts finish in.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        self.done.fetch_add(bytes, Ordering::Relaxed);
        if last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        self.emit("running", None);
    }
}

/// What one transfer has done so far (shared by its file tasks).
#[derive(Default)]
struct Tally {
    done: Vec<String>,
    failed: Vec<FailureView>,
    skipped: Vec<FailureView>,
    bytes: u64,
}

type SharedTally = Mutex<Tally>;

fn lock(t: &SharedTally) -> std::sync::MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// One local file to send.
struct LocalFile {
    path: PathBuf,
    key: String,
}

/// Files below `path` (or `path` itself), with keys under `prefix`.
/// Symlinks and special files are never followed, only reported.
fn collect(path: &Path, prefix: &str, out: &mut Vec<LocalFile>, skipped: &mut Vec<FailureView>) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        skipped.push(FailureView {
            key: path.display().to_string(),
            message: "the name is not valid UTF-8".into(),
        });
        return;
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            skipped.push(FailureView {
                key: path.display().to_string(),
                message: format!("cannot read it: {e}"),
            });
            return;
        }
    };
    let key = format!("{prefix}{name}");
    if meta.is_file() {
        out.push(LocalFile { path: path.to_path_buf(), key });
    } else if meta.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(rd) => {
                let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                v
            }
            Err(e) => {
                skipped.push(FailureView {
                    key: path.display().to_string(),
                    message: format!("cannot read the folder: {e}"),
                });
                return;
            }
        };
        for entry in entries {
            collect(&entry, &format!("{key}/"), out, skipped);
        }
    } else {
        let why = if meta.file_type().is_symlink() {
            "symbolic links are not followed"
        } else {
            "not a regular file"
        };
        skipped.push(FailureView { key: path.display().to_string(), message: why.into() });
    }
}

fn transfer_error(e: bucketsync_engine::transfer::TransferError) -> String {
    e.to_string()
}

impl Api {
    /// Cancels a running transfer; false when none has this id.
    pub fn cancel_transfer(&self, id: &str) -> bool {
        self.cancels.cancel(id)
    }

    /// Runs `work` until it ends or the transfer `id` is cancelled.
    async fn cancellable<F: std::future::Future<Output = ()>>(
        &self,
        id: &str,
        work: F,
    ) -> Result<bool, ApiError> {
        let mut cancel = self.cancels.register(id)?;
        let cancelled = tokio::select! {
            _ = work => false,
            _ = cancel.wait_for(|c| *c) => true,
        };
        self.cancels.done(id);
        Ok(cancelled)
    }

    /// Uploads local files and folders under `prefix`, then brings the
    /// synced pairs there up to date.
    pub async fn browse_upload(
        &self,
        req: UploadRequest,
        sink: TransferSink,
    ) -> Result<TransferReport, ApiError> {
        super::check_prefix(&req.prefix)?;
        if req.paths.is_empty() {
            return Err(ApiError::invalid(
                "paths",
                "nothing to upload",
                "choose at least one file or folder",
            ));
        }
        let (row, remote) = self.browse_remote(&req.policy).await?;
        let scratch = Scratch::new(self, &row, remote.clone())?;
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for p in &req.paths {
            collect(Path::new(p), &req.prefix, &mut files, &mut skipped);
        }
        if let Some(key) = &req.key {
            let single = req.paths.len() == 1 && files.len() == 1 && Path::new(&req.paths[0]).is_file();
            if !single {
                return Err(ApiError::invalid(
                    "key",
                    "a key can only be given for one file",
                    "upload folders to a prefix",
                ));
            }
            super::check_key("key", key)?;
            files[0].key = key.clone();
        }
        let tally: SharedTally = Mutex::new(Tally { skipped, ..Default::default() });
        let work = stream::iter(files.iter()).for_each_concurrent(FILES_AT_ONCE, |f| {
            self.upload_one(&req, &scratch, &remote, f, &sink, &tally)
        });
        let cancelled = self.cancellable(&req.id, work).await?;
        if cancelled {
            scratch.abort_open_uploads().await;
            let t = lock(&tally);
            for f in &files {
                if !t.done.contains(&f.key) && !t.failed.iter().chain(&t.skipped).any(|x| x.key == f.key) {
                    sink.emit(TransferEvent {
                        id: req.id.clone(),
                        direction: "upload".into(),
                        key: f.key.clone(),
                        path: f.path.display().to_string(),
                        state: "cancelled".into(),
                        bytes_done: 0,
                        bytes_total: 0,
                        message: None,
                    });
                }
            }
        }
        let tally = tally.into_inner().unwrap_or_else(|p| p.into_inner());
        let follow_up = if tally.done.is_empty() {
            Vec::new()
        } else {
            let pairs = self.pairs_touching(&row, &req.prefix)?;
            // Only pairs under which something was uploaded.
            let pairs =
                pairs.into_iter().filter(|p| tally.done.iter().any(|k| k.starts_with(&p.prefix))).collect();
            self.follow_up(pairs).await
        };
        Ok(TransferReport {
            id: req.id,
            done: tally.done,
            failed: tally.failed,
            skipped: tally.skipped,
            bytes: tally.bytes,
            cancelled,
            follow_up,
        })
    }

    async fn upload_one(
        &self,
        req: &UploadRequest,
        scratch: &Scratch,
        remote: &S3Remote,
        f: &LocalFile,
        sink: &TransferSink,
        tally: &SharedTally,
    ) {
        let meta = match std::fs::metadata(&f.path) {
            Ok(m) => m,
            Err(e) => {
                lock(tally).failed.push(FailureView {
                    key: f.key.clone(),
                    message: format!("cannot read {}: {e}", f.path.display()),
                });
                return;
            }
        };
        let progress = FileProgress::new(
            sink,
            TransferEvent {
                id: req.id.clone(),
                direction: "upload".into(),
                key: f.key.clone(),
                path: f.path.display().to_string(),
                state: "running".into(),
                bytes_done: 0,
                bytes_total: meta.len(),
                message: None,
            },
        );
        if !req.overwrite {
            match remote.head(&f.key).await {
                Ok(_) => {
                    let message = "exists in the bucket (not replaced)".to_string();
                    progress.emit("skipped", Some(message.clone()));
                    lock(tally).skipped.push(FailureView { key: f.key.clone(), message });
                    return;
                }
                Err(e) if e.kind == bucketsync_remote::ErrorKind::NotFound => {}
                Err(e) => {
                    progress.emit("failed", Some(e.to_string()));
                    lock(tally).failed.push(FailureView { key: f.key.clone(), message: e.to_string() });
                    return;
                }
            }
        }
        progress.emit("running", None);
        let state = bucketsync_engine::snapshot::stat(&meta);
        // Without overwrite, an object that appears at the key while the
        // file uploads is not replaced either: the write expects no object
        // (a conditional write where the server honours it, else a HEAD
        // right before it).
        let expect = if req.overwrite { RemoteExpect::Anything } else { RemoteExpect::Absent };
        match scratch.transfers.upload(scratch.pair_id, &f.path, &f.key, &state, &expect, &progress).await {
            Ok(up) => {
                progress.emit("done", None);
                let mut t = lock(tally);
                t.done.push(f.key.clone());
                t.bytes += up.local.size;
            }
            Err(TransferError::RemoteChanged { .. }) => {
                let message = "appeared in the bucket while it uploaded (not replaced)".to_string();
                progress.emit("skipped", Some(message.clone()));
                lock(tally).skipped.push(FailureView { key: f.key.clone(), message });
            }
            Err(e) => {
                let message = transfer_error(e);
                progress.emit("failed", Some(message.clone()));
                lock(tally).failed.push(FailureView { key: f.key.clone(), message });
            }
        }
    }

    /// Downloads objects and whole prefixes into `dest_dir`: each file into
    /// a temp file beside its target, verified, fsynced and renamed. Keys
    /// that cannot be files here are skipped and reported; nothing is
    /// written outside `dest_dir`.
    pub async fn browse_download(
        &self,
        req: DownloadRequest,
        sink: TransferSink,
    ) -> Result<TransferReport, ApiError> {
        let dest = PathBuf::from(&req.dest_dir);
        if !dest.is_dir() {
            return Err(ApiError::invalid(
                "dest-dir",
                format!("{} is not an existing folder", dest.display()),
                "choose an existing folder to download into",
            ));
        }
        for p in &req.prefixes {
            super::check_prefix(p)?;
        }
        let (row, remote) = self.browse_remote(&req.policy).await?;
        let scratch = Scratch::new(self, &row, remote.clone())?;
        let tally: SharedTally = Mutex::new(Tally::default());
        let work = async {
            let singles: Vec<(ObjectMeta, String)> = stream::iter(req.keys.iter())
                .filter_map(|k| async {
                    let name = match &req.dest_name {
                        Some(n) if req.keys.len() == 1 => n.clone(),
                        _ => k.rsplit('/').next().unwrap_or(k).to_string(),
                    };
                    match remote.head(k).await {
                        Ok(meta) => Some((meta, name)),
                        Err(e) => {
                            lock(&tally).failed.push(FailureView { key: k.clone(), message: e.to_string() });
                            None
                        }
                    }
                })
                .collect()
                .await;
            stream::iter(singles.iter())
                .for_each_concurrent(FILES_AT_ONCE, |(o, rel)| {
                    self.download_one(&req, &scratch, &dest, o, rel, &sink, &tally)
                })
                .await;
            for prefix in &req.prefixes {
                // The folder itself is created in dest: `a/b/` lands as `b/...`.
                let parent = match prefix.trim_end_matches('/').rfind('/') {
                    Some(i) => &prefix[..=i],
                    None => "",
                };
                let mut token = None;
                loop {
                    let page = match remote.list_folder(prefix, None, token.clone(), None).await {
                        Ok(p) => p,
                        Err(e) => {
                            lock(&tally).failed.push(FailureView {
                                key: prefix.clone(),
                                message: format!("listing failed: {e}"),
                            });
                            break;
                        }
                    };
                    let objects: Vec<(ObjectMeta, String)> = page
                        .objects
                        .into_iter()
                        .map(|o| {
                            let rel = o.key[parent.len()..].to_string();
                            (
                                ObjectMeta {
                                    key: o.key,
                                    size: o.size,
                                    etag: o.etag,
                                    last_modified_ms: o.last_modified_ms,
                                    mtime_ms: None,
                                },
                                rel,
                            )
                        })
                        .collect();
                    stream::iter(objects.iter())
                        .for_each_concurrent(FILES_AT_ONCE, |(o, rel)| {
                            self.download_one(&req, &scratch, &dest, o, rel, &sink, &tally)
                        })
                        .await;
                    match page.continuation {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
            }
        };
        let cancelled = self.cancellable(&req.id, work).await?;
        let tally = tally.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(TransferReport {
            id: req.id,
            done: tally.done,
            failed: tally.failed,
            skipped: tally.skipped,
            bytes: tally.bytes,
            cancelled,
            follow_up: Vec::new(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn download_one(
        &self,
        req: &DownloadRequest,
        scratch: &Scratch,
        dest_dir: &Path,
        object: &ObjectMeta,
        rel: &str,
        sink: &TransferSink,
        tally: &SharedTally,
    ) {
        let skip =
            |message: String| lock(tally).skipped.push(FailureView { key: object.key.clone(), message });
        // A folder marker becomes a folder.
        if object.size == 0 && rel.ends_with('/') {
            let trimmed = rel.trim_end_matches('/');
            if key::judge(rel).0.is_none() && !trimmed.is_empty() {
                let _ = std::fs::create_dir_all(dest_dir.join(trimmed));
            }
            return;
        }
        if let (Some(reason), _) = key::judge(rel) {
            skip(format!("cannot be a file here: {reason}"));
            return;
        }
        let target = dest_dir.join(rel);
        let progress = FileProgress::new(
            sink,
            TransferEvent {
                id: req.id.clone(),
                direction: "download".into(),
                key: object.key.clone(),
                path: target.display().to_string(),
                state: "running".into(),
                bytes_done: 0,
                bytes_total: object.size,
                message: None,
            },
        );
        if !req.overwrite && std::fs::symlink_metadata(&target).is_ok() {
            let message = format!("{} exists (not replaced)", target.display());
            progress.emit("skipped", Some(message.clone()));
            skip(message);
            return;
        }
        if let Some(parent) = target.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                let message = format!("cannot create {}: {e}", parent.display());
                progress.emit("failed", Some(message.clone()));
                lock(tally).failed.push(FailureView { key: object.key.clone(), message });
                return;
            }
        }
        progress.emit("running", None);
        // Without --overwrite, a file that appears at the target while the
        // object downloads is not replaced either.
        let expect = if req.overwrite {
            bucketsync_engine::transfer::LocalExpect::Anything
        } else {
            bucketsync_engine::transfer::LocalExpect::Absent
        };
        match scratch.transfers.download(object, &target, &expect, &progress).await {
            Ok(d) => {
                progress.emit("done", None);
                let mut t = lock(tally);
                t.done.push(object.key.clone());
                t.bytes += d.local.size;
            }
            Err(e) => {
                let message = transfer_error(e);
                progress.emit("failed", Some(message.clone()));
                lock(tally).failed.push(FailureView { key: object.key.clone(), message });
            }
        }
    }
}
