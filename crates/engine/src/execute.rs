//! Applies a plan: transfers, conflict copies, deletes, and the base rows and
//! journal entries that record them. I/O lives here, at the edge; every
//! decision was made by the planner.
//!
//! Before touching a local file the executor checks that it is still what
//! the scan saw; if not, the action is skipped and the next pass re-plans it.
//! Folders are created only inside the root, never through a symbolic link.

use crate::event::{FaultKind, PairEvents, PassProgress};
use crate::keypath;
use crate::plan::Action;
use crate::report::{ActionError, PassReport};
use crate::snapshot::{self, LocalFile, RemoteFile};
use crate::transfer::{rename_noreplace, LocalExpect, RemoteExpect, TransferError, Transfers};
use crate::trash::Trash;
use bucketsync_remote::Remote;
use bucketsync_store::{BaselineRow, JournalRow, Store, StoreError};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the executor needs of the pair and the world.
pub struct Executor<'a> {
    pub pair_id: i64,
    pub root: &'a Path,
    pub prefix: &'a str,
    pub remote: &'a dyn Remote,
    pub transfers: &'a Transfers,
    pub store: &'a Arc<Mutex<Store>>,
    pub trash: &'a Trash,
    pub now_ms: &'a (dyn Fn() -> i64 + Send + Sync),
    pub events: &'a PairEvents,
    pub progress: &'a PassProgress,
}

/// Why one action did not complete.
enum Failure {
    /// The file moved underneath: not an error, the next pass sees it.
    Changed,
    /// Not tried: an earlier action met a fault that stops the whole pair.
    Skipped,
    Error(FaultKind, String),
}

impl From<TransferError> for Failure {
    fn from(e: TransferError) -> Self {
        match e.fault() {
            None => Failure::Changed,
            Some(kind) => Failure::Error(kind, e.to_string()),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Error(FaultKind::Store, e.to_string())
    }
}

/// A local read that failed.
fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::Error(FaultKind::of_io(&e), format!("{}: {e}", path.display()))
}

/// A local write that failed.
fn write_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::Error(FaultKind::of_write(&e), format!("{}: {e}", path.display()))
}

/// A failed download wrote locally: a permission error means the folder
/// cannot be written.
fn download_failure(e: TransferError) -> Failure {
    match &e {
        TransferError::Io { source, .. } => Failure::Error(FaultKind::of_write(source), e.to_string()),
        _ => e.into(),
    }
}

/// What one action achieved.
enum Done {
    Uploaded(u64),
    Downloaded(u64),
    DeletedLocal,
    Adopted,
    Conflict { copy: Option<String>, bytes_up: u64, bytes_down: u64 },
    Bookkeeping,
}

impl Executor<'_> {
    /// Runs every action, recording what happened in `out`; failures are
    /// collected, never abort the rest.
    pub async fn run(&self, actions: Vec<Action>, out: &mut PassReport) {
        let mut deletes_remote = Vec::new();
        let mut transfers = Vec::new();
        let mut local_deletes = Vec::new();
        for a in actions {
            match a {
                Action::DeleteRemote { path, remote } => deletes_remote.push((path, remote)),
                Action::DeleteLocal { .. } => local_deletes.push(a),
                a if a.transfers() => transfers.push(a),
                a => {
                    let r = self.bookkeeping(&a);
                    self.settle(out, &a, r);
                }
            }
        }
        self.delete_remote(out, deletes_remote).await;
        // Local deletes first: they may free names the downloads need.
        for a in local_deletes {
            let r = self.delete_local(&a);
            self.settle(out, &a, r);
        }
        // After a fault that stops the pair (revoked key, bucket gone) every
        // further transfer would fail the same way: the rest wait for the
        // next pass instead of each costing a request and an error.
        let stopped = AtomicBool::new(out.errors.iter().any(|e| e.kind.stops_pair()));
        let stopped = &stopped;
        let mut results = futures::stream::iter(transfers)
            .map(|a| async move {
                if stopped.load(Ordering::Relaxed) {
                    return (a, Err(Failure::Skipped));
                }
                let r = self.transfer(&a).await;
                if matches!(&r, Err(Failure::Error(kind, _)) if kind.stops_pair()) {
                    stopped.store(true, Ordering::Relaxed);
                }
                (a, r)
            })
            .buffer_unordered(self.files_in_flight());
        while let Some((a, r)) = results.next().await {
            if !matches!(r, Err(Failure::Skipped)) {
                self.progress.file_done();
            }
            self.settle(out, &a, r);
        }
    }

    /// How many files move at once: as many as the shared limit has
    /// requests in flight, so small files (a round trip or two each) fill it
    /// as well as the parts of one big file do; the limit's semaphore keeps
    /// the requests themselves within it.
    pub fn files_in_flight(&self) -> usize {
        self.transfers.limits().max_concurrent_parts.max(1)
    }

    fn settle(&self, out: &mut PassReport, action: &Action, result: Result<Done, Failure>) {
        let path = action.path().to_string();
        let (name, bytes) = match &result {
            Ok(Done::Uploaded(b)) => {
                out.uploaded.push(path.clone());
                out.bytes_up += b;
                ("upload", *b)
            }
            Ok(Done::Downloaded(b)) => {
                out.downloaded.push(path.clone());
                out.bytes_down += b;
                ("download", *b)
            }
            Ok(Done::DeletedLocal) => {
                out.deleted_local.push(path.clone());
                ("delete-local", 0)
            }
            Ok(Done::Adopted) => {
                out.adopted.push(path.clone());
                ("adopt", 0)
            }
            Ok(Done::Conflict { copy, bytes_up, bytes_down }) => {
                out.bytes_up += bytes_up;
                out.bytes_down += bytes_down;
                match copy {
                    Some(c) => {
                        out.conflicts.push(c.clone());
                        ("conflict", *bytes_down)
                    }
                    None => {
                        out.adopted.push(path.clone());
                        ("adopt", *bytes_down)
                    }
                }
            }
            Ok(Done::Bookkeeping) => return,
            Err(Failure::Changed) => {
                out.waiting.push(path);
                return;
            }
            Err(Failure::Skipped) => return,
            Err(Failure::Error(kind, message)) => {
                let name = action_name(action);
                self.journal(name, &path, Some(format!("failed: {message}")), None);
                self.events.warning(format!("{name} {path} failed: {message}"));
                out.errors.push(ActionError::new(path, name, *kind, message.clone()));
                return;
            }
        };
        let detail = match (action, &result) {
            (Action::Conflict { copy, .. }, Ok(Done::Conflict { copy: Some(_), .. })) => {
                Some(format!("local version kept as {copy}"))
            }
            _ => None,
        };
        self.journal(name, &path, detail, Some(bytes));
        self.events.done(name, &path, bytes);
    }

    fn journal(&self, action: &str, path: &str, detail: Option<String>, bytes: Option<u64>) {
        let row = JournalRow {
            id: 0,
            pair_id: Some(self.pair_id),
            at_ms: (self.now_ms)(),
            action: action.into(),
            path: path.into(),
            detail,
            bytes,
        };
        if let Err(e) = self.store().append_journal(&row) {
            tracing::warn!("cannot write the activity log: {e}");
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn abs(&self, rel: &str) -> PathBuf {
        debug_assert!(keypath::check_relative(rel).is_ok());
        self.root.join(rel)
    }

    fn put_base(&self, row: BaselineRow) -> Result<(), Failure> {
        self.store().put_baseline(self.pair_id, &row)?;
        Ok(())
    }

    fn forget(&self, rel: &str) -> Result<(), Failure> {
        self.store().delete_baseline(self.pair_id, rel)?;
        Ok(())
    }

    /// Base row for a file both sides now hold (`local.hash`: its content's).
    fn base_row(&self, rel: &str, local: LocalFile, remote: &RemoteFile) -> BaselineRow {
        BaselineRow {
            path: rel.into(),
            local,
            remote_etag: remote.etag.clone(),
            remote_size: remote.size,
            remote_mtime_ms: remote.mtime_ms,
            synced_ms: (self.now_ms)(),
        }
    }

    /// Whether the file at `rel` is still what the scan saw.
    fn unchanged(&self, rel: &str, seen: &LocalFile) -> Result<(), Failure> {
        let path = self.abs(rel);
        match path.symlink_metadata() {
            Ok(m) if m.is_file() && snapshot::stat(&m).same_stat(seen) => Ok(()),
            Ok(_) => Err(Failure::Changed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::Changed),
            Err(e) => Err(io_failure(&path, e)),
        }
    }

    /// Nothing is at `rel` (a new file appeared there since the scan otherwise).
    fn still_absent(&self, rel: &str) -> Result<(), Failure> {
        match self.abs(rel).symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(Failure::Changed),
        }
    }

    /// Creates the folders above `rel` inside the root, refusing to pass
    /// through a symbolic link or a file.
    fn make_parents(&self, rel: &str) -> Result<(), Failure> {
        let mut dir = self.root.to_path_buf();
        let segments: Vec<&str> = rel.split('/').collect();
        for seg in &segments[..segments.len() - 1] {
            dir.push(seg);
            match dir.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Failure::Error(
                        FaultKind::Io,
                        format!("{} is not a folder (a file or a link is in the way)", dir.display()),
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir(&dir).map_err(|e| write_failure(&dir, e))?
                }
                Err(e) => return Err(io_failure(&dir, e)),
            }
        }
        Ok(())
    }

    /// Removes folders left empty above `rel`, up to (not including) the root.
    fn prune_parents(&self, rel: &str) {
        let mut parts: Vec<&str> = rel.split('/').collect();
        parts.pop();
        while !parts.is_empty() {
            if std::fs::remove_dir(self.root.join(parts.join("/"))).is_err() {
                break; // not empty (or gone): stop
            }
            parts.pop();
        }
    }

    fn bookkeeping(&self, a: &Action) -> Result<Done, Failure> {
        match a {
            Action::Forget { path } => {
                self.forget(path)?;
                Ok(Done::Bookkeeping)
            }
            Action::Refresh { path, local, remote, hash } => {
                self.unchanged(path, local)?;
                let local = LocalFile { hash: hash.clone(), ..local.clone() };
                self.put_base(self.base_row(path, local, remote))?;
                Ok(Done::Bookkeeping)
            }
            Action::Adopt { path, local, remote } => {
                self.unchanged(path, local)?;
                self.put_base(self.base_row(path, local.clone(), remote))?;
                Ok(Done::Adopted)
            }
            _ => unreachable!("not a bookkeeping action"),
        }
    }

    fn delete_local(&self, a: &Action) -> Result<Done, Failure> {
        let Action::DeleteLocal { path, local } = a else { unreachable!() };
        self.unchanged(path, local)?;
        let abs = self.abs(path);
        self.trash.put(&abs, path, (self.now_ms)()).map_err(|e| write_failure(&abs, e))?;
        crate::crash_point!("trash.moved");
        self.forget(path)?;
        self.prune_parents(path);
        Ok(Done::DeletedLocal)
    }

    /// Drops the deletes whose object changed since it was listed: S3 has no
    /// conditional delete (and B2 no conditional requests at all), so a HEAD
    /// right before narrows the window in which another client's new version
    /// would be deleted unseen. A changed object is left for the next pass,
    /// which restores it locally (delete vs modify: the change wins).
    async fn still_as_listed(
        &self,
        out: &mut PassReport,
        deletes: Vec<(String, RemoteFile)>,
    ) -> Vec<(String, RemoteFile)> {
        let checks = futures::stream::iter(deletes)
            .map(|(path, remote)| async move {
                let now = self.remote.head(&remote.key).await;
                (path, remote, now)
            })
            .buffer_unordered(self.files_in_flight())
            .collect::<Vec<_>>()
            .await;
        let mut keep = Vec::new();
        for (path, remote, now) in checks {
            match now {
                Ok(now) if now.etag == remote.etag && now.size == remote.size => keep.push((path, remote)),
                Ok(_) => self
                    .events
                    .warning(format!("{path} changed in the bucket since it was listed; not deleting it")),
                // Already gone: deleting it again is harmless and settles the base.
                Err(e) if e.kind == bucketsync_remote::ErrorKind::NotFound => keep.push((path, remote)),
                Err(e) => out.errors.push(ActionError::new(
                    path,
                    "delete-remote",
                    FaultKind::Remote(e.kind),
                    e.to_string(),
                )),
            }
        }
        keep.sort_by(|a, b| a.0.cmp(&b.0));
        keep
    }

    /// Drops the deletes whose local path is no longer empty: a file that
    /// came back (restored, saved again, synced by another tool) since the
    /// scan saw it gone. Looked at after the HEADs, right before the
    /// delete; the next pass decides (it uploads the file).
    fn still_gone_locally(
        &self,
        out: &mut PassReport,
        deletes: Vec<(String, RemoteFile)>,
    ) -> Vec<(String, RemoteFile)> {
        deletes
            .into_iter()
            .filter(|(path, _)| match self.abs(path).symlink_metadata() {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Ok(_) => {
                    self.events
                        .warning(format!("{path} is back in the folder; not deleting it in the bucket"));
                    out.waiting.push(path.clone());
                    false
                }
                // Not knowing what is there is no reason to delete.
                Err(e) => {
                    out.errors.push(ActionError::new(
                        path.clone(),
                        "delete-remote",
                        FaultKind::of_io(&e),
                        format!("{}: {e}", self.abs(path).display()),
                    ));
                    false
                }
            })
            .collect()
    }

    async fn delete_remote(&self, out: &mut PassReport, deletes: Vec<(String, RemoteFile)>) {
        let deletes = self.still_as_listed(out, deletes).await;
        let deletes = self.still_gone_locally(out, deletes);
        for chunk in deletes.chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|(_, r)| r.key.clone()).collect();
            let refused = match self.remote.delete_batch(&keys).await {
                Ok(refused) => refused,
                Err(e) => {
                    for (path, _) in chunk {
                        out.errors.push(ActionError::new(
                            path.clone(),
                            "delete-remote",
                            FaultKind::Remote(e.kind),
                            e.to_string(),
                        ));
                    }
                    continue;
                }
            };
            crate::crash_point!("delete-remote.sent");
            for (path, remote) in chunk {
                if let Some((_, e)) = refused.iter().find(|(k, _)| *k == remote.key) {
                    out.errors.push(ActionError::new(
                        path.clone(),
                        "delete-remote",
                        FaultKind::Remote(e.kind),
                        e.to_string(),
                    ));
                    continue;
                }
                if let Err(Failure::Error(kind, message)) = self.forget(path) {
                    out.errors.push(ActionError::new(path.clone(), "delete-remote", kind, message));
                    continue;
                }
                out.deleted_remote.push(path.clone());
                self.journal("delete-remote", path, None, None);
                self.events.done("delete-remote", path, 0);
            }
        }
    }

    async fn transfer(&self, a: &Action) -> Result<Done, Failure> {
        match a {
            Action::Upload { path, local, remote } => {
                let expect = match remote {
                    Some(r) => RemoteExpect::Etag(r.etag.clone()),
                    None => RemoteExpect::Absent,
                };
                let bytes = self.upload(path, local, &expect).await?;
                Ok(Done::Uploaded(bytes))
            }
            Action::Download { path, remote, local } => {
                // Checked now (no transfer for a file that already moved)
                // and again right before the rename (one that moves meanwhile).
                let expect = match local {
                    Some(l) => {
                        self.unchanged(path, l)?;
                        LocalExpect::File(l.clone())
                    }
                    None => {
                        self.still_absent(path)?;
                        LocalExpect::Absent
                    }
                };
                self.download(path, remote, &expect).await?;
                Ok(Done::Downloaded(remote.size))
            }
            Action::Conflict { path, copy, local, remote, upload_copy } => {
                self.conflict(path, copy, local, remote, *upload_copy).await
            }
            _ => unreachable!("not a transfer"),
        }
    }

    /// `expect`: what the listing saw at the key, the only object it may replace.
    async fn upload(&self, rel: &str, local: &LocalFile, expect: &RemoteExpect) -> Result<u64, Failure> {
        let key = keypath::key_for(self.prefix, rel);
        let up =
            self.transfers.upload(self.pair_id, &self.abs(rel), &key, local, expect, self.progress).await?;
        let remote = RemoteFile {
            key,
            size: up.remote.size,
            etag: up.remote.etag.clone(),
            last_modified_ms: up.remote.last_modified_ms,
            mtime_ms: up.remote.mtime_ms.or(Some(up.local.mtime_ms)),
            sha256: up.local.hash.clone(),
        };
        let size = up.local.size;
        crate::crash_point!("upload.landed");
        self.put_base(self.base_row(rel, up.local, &remote))?;
        Ok(size)
    }

    /// Returns the hash of the content written. `expect`: what the plan saw
    /// at `rel`; anything else found there at the end is kept and the
    /// download dropped (the next pass plans again, a conflict then).
    async fn download(
        &self,
        rel: &str,
        remote: &RemoteFile,
        expect: &LocalExpect,
    ) -> Result<String, Failure> {
        self.make_parents(rel)?;
        let down = self
            .transfers
            .download(&remote.meta(), &self.abs(rel), expect, self.progress)
            .await
            .map_err(download_failure)?;
        let hash = down.local.hash.clone().unwrap_or_default();
        crate::crash_point!("download.landed");
        self.put_base(self.base_row(rel, down.local, remote))?;
        Ok(hash)
    }

    /// The local version moves to `copy`; the remote one takes the name. If
    /// the bytes turn out equal after all, the copy is dropped.
    async fn conflict(
        &self,
        rel: &str,
        copy: &str,
        local: &LocalFile,
        remote: &RemoteFile,
        upload_copy: bool,
    ) -> Result<Done, Failure> {
        self.unchanged(rel, local)?;
        self.still_absent(copy)?;
        let (abs, abs_copy) = (self.abs(rel), self.abs(copy));
        // Never onto a file that took the copy's name since the check.
        rename_noreplace(&abs, &abs_copy).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::Changed,
            _ => write_failure(&abs, e),
        })?;
        crate::crash_point!("conflict.set-aside");
        // The name is free now; a file saved under it while the remote
        // version downloads is kept (the download expects nothing there).
        let remote_hash = match self.download(rel, remote, &LocalExpect::Absent).await {
            Ok(h) => h,
            Err(e) => {
                // Put the local version back under its name unless another
                // took it meanwhile; nothing is lost either way.
                let _ = rename_noreplace(&abs_copy, &abs);
                return Err(e);
            }
        };
        let local_hash = match &local.hash {
            Some(h) => h.clone(),
            None => snapshot::hash_file(&abs_copy).map_err(|e| io_failure(&abs_copy, e))?,
        };
        if local_hash == remote_hash {
            std::fs::remove_file(&abs_copy).map_err(|e| write_failure(&abs_copy, e))?;
            return Ok(Done::Conflict { copy: None, bytes_up: 0, bytes_down: remote.size });
        }
        crate::crash_point!("conflict.downloaded");
        let mut bytes_up = 0;
        if upload_copy {
            let m = abs_copy.symlink_metadata().map_err(|e| io_failure(&abs_copy, e))?;
            // The copy's name was free on both sides when planned.
            bytes_up = self.upload(copy, &snapshot::stat(&m), &RemoteExpect::Absent).await?;
        }
        Ok(Done::Conflict { copy: Some(copy.to_string()), bytes_up, bytes_down: remote.size })
    }
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Upload { .. } => "upload",
        Action::Download { .. } => "download",
        Action::DeleteLocal { .. } => "delete-local",
        Action::DeleteRemote { .. } => "delete-remote",
        Action::Adopt { .. } => "adopt",
        Action::Conflict { .. } => "conflict",
        Action::Forget { .. } => "forget",
        Action::Refresh { .. } => "refresh",
    }
}
