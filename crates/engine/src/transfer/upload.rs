//! Uploads: one PUT from memory for small files, resumable multipart for the rest.
//!
//! Uses only what [`Transfers`] offers the crate (remote, store, limits,
//! clock, retries), nothing private of the parent module.

use super::part::{part_count, part_range, part_size};
use super::{
    same_version, version, Progress, RemoteExpect, TransferError, Transfers, Uploaded, IN_MEMORY_PUT_BUDGET,
    MAX_IN_MEMORY_PUT, MTIME_METADATA, SHA256_METADATA,
};
use crate::event::FaultKind;
use crate::snapshot::{self, hex, LocalFile};
use bucketsync_remote::object::format_mtime_metadata;
use bucketsync_remote::{ErrorKind, ObjectMeta, PartInfo, RemoteError, WriteIf};
use bucketsync_store::{UploadPartRow, UploadRow};
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How often a part's progress is passed on while it uploads.
const PART_PROGRESS_TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// Read buffer of the hash pass.
const HASH_BUFFER: usize = 1024 * 1024;

/// The bytes single PUTs may hold in memory (see [`IN_MEMORY_PUT_BUDGET`]):
/// one semaphore for the process, one permit per byte.
static IN_MEMORY: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(IN_MEMORY_PUT_BUDGET as usize);

fn not_found(e: &RemoteError) -> bool {
    e.kind == ErrorKind::NotFound
}

pub(super) async fn upload(
    t: &Transfers,
    pair_id: i64,
    path: &Path,
    key: &str,
    expected: &LocalFile,
    remote: &RemoteExpect,
    progress: &dyn Progress,
) -> Result<Uploaded, TransferError> {
    let before = version(path)?;
    if !before.is_file() || !snapshot::stat(&before).same_stat(expected) {
        return Err(changed(path));
    }
    let multipart = before.len() > 0 && before.len() >= t.limits().multipart_threshold.min(MAX_IN_MEMORY_PUT);
    if multipart {
        upload_multipart(t, pair_id, path, key, before, remote, progress).await
    } else {
        // A multipart upload recorded for the key was of a bigger file:
        // not this content, never resumed.
        let recorded = t.store().get_upload(pair_id, key)?;
        if let Some(row) = recorded {
            abort_recorded(t, &row).await;
        }
        upload_single(t, path, key, before, remote, progress).await
    }
}

/// A refused HEAD carries no body, so a revoked key and a key without read
/// access both read as "permission denied": a listing of the key says which.
async fn head_error(
    t: &Transfers,
    key: &str,
    e: bucketsync_remote::RemoteError,
) -> bucketsync_remote::RemoteError {
    if e.kind != bucketsync_remote::ErrorKind::PermissionDenied {
        return e;
    }
    match t.remote().list_page(key, None).await {
        Err(listed) => listed,
        Ok(_) => e,
    }
}

/// Fails with [`TransferError::RemoteChanged`] unless `key` holds what
/// `expect` says. A HEAD right before the write: it narrows the window in
/// which another client's object would be replaced unseen to one request.
async fn check_remote(t: &Transfers, key: &str, expect: &RemoteExpect) -> Result<(), TransferError> {
    let now = match expect {
        RemoteExpect::Anything => return Ok(()),
        _ => t.with_retry("HEAD", || t.remote().head(key)).await,
    };
    let same = match (expect, now) {
        (RemoteExpect::Absent, Err(e)) if not_found(&e) => true,
        (RemoteExpect::Etag(listed), Ok(meta)) => meta.etag == *listed,
        (_, Err(e)) if !not_found(&e) => return Err(head_error(t, key, e).await.into()),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(TransferError::RemoteChanged { key: key.to_string() })
    }
}

/// Which write a guard is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Put,
    Complete,
}

/// Guards a write by what `expect` says `key` must hold; returns the
/// condition to send with the write.
///
/// Where the policy's probe saw conditional writes honoured, the
/// expectation travels in the write itself (the server's check is atomic
/// with it), and a PUT gets no HEAD: one would catch nothing the
/// condition misses (at most it spares sending a small body) and costs a
/// request per file. The probe requires PutObject to refuse both failed
/// conditions for "honoured", but of CompleteMultipartUpload only that it
/// lets held ones through: servers differ there (moto 5.2 honours
/// If-None-Match but ignores If-Match on Complete), so a Complete keeps
/// its HEAD as well, one request per multipart upload (files of 16 MiB
/// and more), and the condition closes what it can of the window after
/// it. Providers whose quirks bear on this (B2 refuses the headers,
/// Garage ignores them; PROVIDERS.md) probe as not honoured: a HEAD right
/// before every write, as before (and never probed is the same).
async fn guard(
    t: &Transfers,
    key: &str,
    expect: &RemoteExpect,
    write: Write,
) -> Result<WriteIf, TransferError> {
    let conditional = t.conditional_writes();
    if !conditional || write == Write::Complete {
        check_remote(t, key, expect).await?;
    }
    Ok(if conditional { expect.write_if() } else { WriteIf::Always })
}

/// A write refused because its condition did not hold (412, or 409 for a
/// concurrent conflicting write) is someone else's object at the key:
/// [`TransferError::RemoteChanged`], the same as a HEAD that saw it. (A
/// write that landed but whose answer was lost fails its retry this way
/// too: the next pass finds our own content there and settles it.)
fn refused(key: &str, condition: &WriteIf, e: RemoteError) -> TransferError {
    if condition_failed(condition, &e) {
        TransferError::RemoteChanged { key: key.to_string() }
    } else {
        e.into()
    }
}

fn condition_failed(condition: &WriteIf, e: &RemoteError) -> bool {
    *condition != WriteIf::Always && e.kind == ErrorKind::Precondition
}

fn changed(path: &Path) -> TransferError {
    TransferError::ChangedDuringUpload { path: path.to_path_buf() }
}

fn metadata(mtime_ms: i64, sha256: &str) -> Vec<(String, String)> {
    vec![
        (MTIME_METADATA.to_string(), format_mtime_metadata(mtime_ms)),
        (SHA256_METADATA.to_string(), sha256.to_string()),
    ]
}

/// The file as it was read, with the hash of what was sent.
fn sent(before: &Metadata, sha256: String) -> LocalFile {
    LocalFile { hash: Some(sha256), ..snapshot::stat(before) }
}

/// Reads the whole file once, hashing it, and checks it did not change
/// meanwhile: what is sent is exactly what was hashed.
async fn upload_single(
    t: &Transfers,
    path: &Path,
    key: &str,
    before: Metadata,
    expect: &RemoteExpect,
    progress: &dyn Progress,
) -> Result<Uploaded, TransferError> {
    // Held from the read until the PUT (and its retries) is done: the body
    // lives that long. No request permit is held while waiting for it.
    let bytes = before.len().min(IN_MEMORY_PUT_BUDGET) as u32;
    let _memory = IN_MEMORY.acquire_many(bytes).await.ok();
    let owned = path.to_path_buf();
    let seen = before.clone();
    let (body, sha256) = tokio::task::spawn_blocking(move || read_whole(&owned, &seen))
        .await
        .map_err(|e| TransferError::io(path, std::io::Error::other(e)))??;
    let mtime_ms = snapshot::mtime_ms(&before);
    let meta = metadata(mtime_ms, &sha256);
    let condition = guard(t, key, expect, Write::Put).await?;
    let mut remote = t
        .with_retry("PUT", || t.remote().put_hashed_if(key, body.clone(), &sha256, &meta, &condition))
        .await
        .map_err(|e| refused(key, &condition, e))?;
    progress.advance(before.len());
    remote.mtime_ms = Some(mtime_ms);
    Ok(Uploaded { remote, local: sent(&before, sha256) })
}

fn read_whole(path: &Path, before: &Metadata) -> Result<(Bytes, String), TransferError> {
    let io = |e| TransferError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    if !same_version(&file.metadata().map_err(io)?, before) {
        return Err(changed(path));
    }
    // One byte more than expected shows a file that grew.
    let room = before.len() as usize + 1;
    let (body, read) = if room < PAGES_FROM {
        let mut body = Vec::with_capacity(room);
        (&mut file).take(room as u64).read_to_end(&mut body).map_err(io)?;
        let read = body.len();
        (Bytes::from(body), read)
    } else {
        let mut pages = Pages::new(room).map_err(io)?;
        let read = fill(&mut file, pages.as_mut()).map_err(io)?;
        (Bytes::from_owner(pages).slice(..read), read)
    };
    let after_open = file.metadata().map_err(io)?;
    if read as u64 != before.len()
        || !same_version(&after_open, before)
        || !same_version(&version(path)?, before)
    {
        return Err(changed(path));
    }
    let sha256 = hex(&Sha256::digest(&body));
    Ok((body, sha256))
}

/// Reads until `buf` is full or the file ends; returns how much it read.
fn fill(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read(&mut buf[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

/// Bodies at least this big are read into [`Pages`] instead of the heap.
const PAGES_FROM: usize = 1024 * 1024;

/// A PUT body's memory taken straight from the kernel (an anonymous
/// mapping) and given back when the last clone of its `Bytes` drops.
/// From the heap, glibc raises its mmap threshold after the first big
/// free and then keeps freed bodies of many MiB in its per-thread arenas:
/// 32 files of 15 MiB peaked at 98 MiB RSS with at most 32 MiB of bodies
/// alive (IN_MEMORY_PUT_BUDGET).
struct Pages {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; its bytes are plain memory.
unsafe impl Send for Pages {}
// SAFETY: shared access only reads.
unsafe impl Sync for Pages {}

impl Pages {
    fn new(len: usize) -> std::io::Result<Pages> {
        // SAFETY: a fresh private anonymous mapping, aliasing nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| std::io::Error::other("mmap gave null"))?;
        Ok(Pages { ptr, len })
    }
}

impl AsRef<[u8]> for Pages {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `len` bytes mapped readable (zero-filled until written) for our lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl AsMut<[u8]> for Pages {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no slice of it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Hashes the file in one sequential pass; fails if it changes meanwhile.
fn hash_file(path: &Path, before: &Metadata) -> Result<String, TransferError> {
    let io = |e| TransferError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    if !same_version(&file.metadata().map_err(io)?, before) {
        return Err(changed(path));
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; HASH_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    if total != before.len() || !same_version(&file.metadata().map_err(io)?, before) {
        return Err(changed(path));
    }
    Ok(hex(&hasher.finalize()))
}

/// One multipart upload being driven to completion.
struct Job<'a> {
    t: &'a Transfers,
    pair_id: i64,
    key: &'a str,
    path: PathBuf,
    before: Metadata,
    part_size: u64,
    upload_id: String,
    /// Checked right before the Complete.
    expect: RemoteExpect,
}

async fn upload_multipart(
    t: &Transfers,
    pair_id: i64,
    path: &Path,
    key: &str,
    before: Metadata,
    expect: &RemoteExpect,
    progress: &dyn Progress,
) -> Result<Uploaded, TransferError> {
    let size = before.len();
    let part_size = part_size(size, t.limits())
        .map_err(|why| RemoteError::new(ErrorKind::Rejected, format!("{}: {why}", path.display())))?;
    let owned = path.to_path_buf();
    let seen = before.clone();
    let sha256 = tokio::task::spawn_blocking(move || hash_file(&owned, &seen))
        .await
        .map_err(|e| TransferError::io(path, std::io::Error::other(e)))??;
    let mtime_ms = snapshot::mtime_ms(&before);
    let pinned = sent(&before, sha256.clone());

    // An upload of this very content already in flight (an earlier attempt
    // failed, or a restart) is continued; any other is dropped. The parts
    // on the server are the content hashed when it started: a file with
    // the same size and mtime is not enough (a rewrite keeps both), its
    // hash, inode and device must be the recorded ones too.
    let recorded = t.store().get_upload(pair_id, key)?;
    let mut resumed = None;
    if let Some(row) = recorded {
        let same = row.local_path == path.to_string_lossy()
            && row.local.hash.is_some()
            && row.local.inode != 0
            && row.local == pinned
            && row.device == before.dev()
            && row.part_size == part_size
            && !t.is_stale(row.started_ms);
        if same {
            resumed = Some(row.upload_id);
        } else {
            // If this abort fails, the new upload's row replaces the old
            // one: the orphan sweep aborts it once it is a day old.
            abort_recorded(t, &row).await;
        }
    }
    loop {
        let fresh = resumed.is_none();
        let upload_id = match resumed.take() {
            Some(id) => id,
            None => start(t, pair_id, path, key, &before, part_size, &pinned).await?,
        };
        let job = Job {
            t,
            pair_id,
            key,
            path: path.to_path_buf(),
            before: before.clone(),
            part_size,
            upload_id,
            expect: expect.clone(),
        };
        match job.finish(progress).await? {
            Some(mut remote) => {
                remote.mtime_ms = Some(mtime_ms);
                return Ok(Uploaded { remote, local: sent(&before, sha256) });
            }
            // The server no longer knows the recorded upload: start afresh.
            None if !fresh => continue,
            None => {
                return Err(RemoteError::new(
                    ErrorKind::NotFound,
                    format!("the server lost the multipart upload of {key} just after creating it"),
                )
                .into())
            }
        }
    }
}

async fn start(
    t: &Transfers,
    pair_id: i64,
    path: &Path,
    key: &str,
    before: &Metadata,
    part_size: u64,
    pinned: &LocalFile,
) -> Result<String, TransferError> {
    let sha256 = pinned.hash.as_deref().unwrap_or_default();
    let meta = metadata(pinned.mtime_ms, sha256);
    let upload_id = t.with_retry("CreateMultipartUpload", || t.remote().create_multipart(key, &meta)).await?;
    t.store().insert_upload(&UploadRow {
        pair_id,
        key: key.to_string(),
        upload_id: upload_id.clone(),
        local_path: path.to_string_lossy().into_owned(),
        local: pinned.clone(),
        device: before.dev(),
        part_size,
        started_ms: t.now_ms(),
    })?;
    Ok(upload_id)
}

/// Aborts a recorded upload on the server and forgets it (one the server
/// already forgot is gone too). An abort that fails (offline, refused)
/// keeps the row: it is tried again by the next pass that does not upload
/// the key, instead of leaving parts the bucket bills and no row knows.
async fn abort_recorded(t: &Transfers, row: &UploadRow) {
    abort_upload(t, row.pair_id, &row.key, &row.upload_id).await
}

/// [`abort_recorded`] by the row's key and upload id.
async fn abort_upload(t: &Transfers, pair_id: i64, key: &str, upload_id: &str) {
    match t.with_retry("AbortMultipartUpload", || t.remote().abort_multipart(key, upload_id)).await {
        Ok(()) => {}
        Err(e) if not_found(&e) => {}
        Err(e) => {
            tracing::warn!("could not abort the upload of {key} ({e}); kept to try again later");
            return;
        }
    }
    if let Err(e) = t.store().delete_upload(pair_id, key) {
        tracing::warn!("could not forget the upload of {key}: {e}");
    }
}

impl Job<'_> {
    async fn abort(&self) {
        abort_upload(self.t, self.pair_id, self.key, &self.upload_id).await
    }

    fn forget(&self) -> Result<(), TransferError> {
        self.t.store().delete_upload(self.pair_id, self.key)?;
        Ok(())
    }

    /// Sends the parts not yet acknowledged and completes the upload.
    /// `Ok(None)`: the server does not know this upload id any more (the
    /// record is forgotten).
    async fn finish(&self, progress: &dyn Progress) -> Result<Option<ObjectMeta>, TransferError> {
        let t = self.t;
        let size = self.before.len();
        let count = part_count(size, self.part_size);
        let Some(mut done) = self.acknowledged_parts(count).await? else {
            self.forget()?;
            return Ok(None);
        };
        progress.advance(done.values().map(|p| p.size).sum());

        let pending: Vec<u32> = (1..=count).filter(|n| !done.contains_key(n)).collect();
        let width = t.limits().max_concurrent_parts.max(1);
        let sent: Result<Vec<PartInfo>, TransferError> = stream::iter(pending)
            .map(|number| self.send_part(number, progress))
            .buffer_unordered(width)
            .try_collect()
            .await;
        match sent {
            Ok(parts) => done.extend(parts.into_iter().map(|p| (p.number as u32, p))),
            Err(TransferError::ChangedDuringUpload { path }) => {
                self.abort().await;
                return Err(TransferError::ChangedDuringUpload { path });
            }
            Err(TransferError::Remote(e)) if not_found(&e) => {
                self.forget()?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }

        // Every byte was read while the file was this version, or not at all.
        if !same_version(&version(&self.path)?, &self.before) {
            self.abort().await;
            return Err(changed(&self.path));
        }
        // Someone else's object written since the listing is not replaced:
        // the upload is dropped, the next pass plans a conflict.
        let condition = match guard(t, self.key, &self.expect, Write::Complete).await {
            Ok(condition) => condition,
            Err(e) => {
                if matches!(e, TransferError::RemoteChanged { .. }) {
                    self.abort().await;
                }
                return Err(e);
            }
        };
        let parts: Vec<PartInfo> = done.into_values().collect();
        crate::crash_point!("upload.parts-sent");
        let completed = t
            .with_retry("CompleteMultipartUpload", || {
                t.remote().complete_multipart_if(self.key, &self.upload_id, &parts, &condition)
            })
            .await;
        let mtime_ms = snapshot::mtime_ms(&self.before);
        match completed {
            Ok(meta) => {
                crate::crash_point!("upload.completed");
                self.forget()?;
                Ok(Some(meta))
            }
            // A retried Complete whose first answer was lost finds the
            // upload gone: the object is there if it has this file's size
            // and mtime.
            Err(e) if not_found(&e) => match t.with_retry("HEAD", || t.remote().head(self.key)).await {
                Ok(meta) if meta.size == size && meta.mtime_ms == Some(mtime_ms) => {
                    self.forget()?;
                    Ok(Some(meta))
                }
                _ => {
                    self.forget()?;
                    Err(e.into())
                }
            },
            // Refused by its condition: someone else's object is at the key.
            // Some servers keep the upload open then: it is aborted, like
            // one a HEAD found changed.
            Err(e) if condition_failed(&condition, &e) => {
                self.abort().await;
                Err(TransferError::RemoteChanged { key: self.key.to_string() })
            }
            Err(e) => {
                // The recorded parts do not add up for the server: start
                // over next time rather than fail the same way forever. A
                // revoked key or a missing bucket says nothing about the
                // parts: they are kept for when the pair works again.
                if !e.retryable() && !FaultKind::Remote(e.kind).stops_pair() {
                    self.abort().await;
                }
                Err(e.into())
            }
        }
    }

    /// The parts already acknowledged: those recorded in the store, checked
    /// against ListParts where the server answers it readably. `None` when
    /// the server says the upload does not exist.
    async fn acknowledged_parts(&self, count: u32) -> Result<Option<BTreeMap<u32, PartInfo>>, TransferError> {
        let t = self.t;
        let recorded = t.store().upload_parts(self.pair_id, self.key)?;
        let mut done = BTreeMap::new();
        for p in recorded {
            let number = p.number as u32;
            let fits = number >= 1
                && number <= count
                && p.size == part_range(self.before.len(), self.part_size, number).1;
            if fits {
                done.insert(number, PartInfo { number: p.number, etag: p.etag, size: p.size });
            } else {
                t.store().delete_upload_part(self.pair_id, self.key, p.number)?;
            }
        }
        match t.with_retry("ListParts", || t.remote().list_parts(self.key, &self.upload_id)).await {
            Ok(listed) => {
                let listed: HashMap<i32, String> = listed.into_iter().map(|p| (p.number, p.etag)).collect();
                let missing: Vec<u32> = done
                    .iter()
                    .filter(|(_, p)| listed.get(&p.number) != Some(&p.etag))
                    .map(|(n, _)| *n)
                    .collect();
                for n in missing {
                    tracing::info!("part {n} of {} is not on the server; sending it again", self.key);
                    done.remove(&n);
                    t.store().delete_upload_part(self.pair_id, self.key, n as i32)?;
                }
            }
            Err(e) if not_found(&e) => return Ok(None),
            // Some servers (moto) answer ListParts in a form the SDK cannot
            // read: the store's record is the truth then.
            Err(e) => {
                tracing::debug!("ListParts of {} unusable ({e}); trusting the recorded parts", self.key)
            }
        }
        Ok(Some(done))
    }

    async fn send_part(&self, number: u32, progress: &dyn Progress) -> Result<PartInfo, TransferError> {
        let t = self.t;
        let (offset, length) = part_range(self.before.len(), self.part_size, number);
        // A file that already changed is not worth sending further.
        if !same_version(&version(&self.path)?, &self.before) {
            return Err(changed(&self.path));
        }
        // Progress inside the part: with many parts in flight they all end
        // near the end of the file, and a bar that waits for them stands still.
        let sent = AtomicU64::new(0);
        let send = t.with_retry("UploadPart", || {
            t.remote().upload_part_counted(
                self.key,
                &self.upload_id,
                number as i32,
                &self.path,
                offset,
                length,
                &sent,
            )
        });
        tokio::pin!(send);
        let mut shown = 0u64;
        let show = |shown: &mut u64| {
            let now = sent.load(Ordering::Relaxed).min(length);
            if now > *shown {
                progress.advance(now - *shown);
                *shown = now;
            }
        };
        let mut tick = tokio::time::interval(PART_PROGRESS_TICK);
        let info = loop {
            tokio::select! {
                info = &mut send => break info?,
                _ = tick.tick() => show(&mut shown),
            }
        };
        t.store().record_upload_part(
            self.pair_id,
            self.key,
            &UploadPartRow { number: info.number, etag: info.etag.clone(), size: length },
        )?;
        crate::crash_point!("upload.part-recorded");
        progress.advance(length - shown);
        Ok(PartInfo { size: length, ..info })
    }
}

/// Aborts the pair's recorded uploads whose key is not in `uploading` (the
/// keys this pass's plan uploads); returns how many it tried. Nothing is
/// completed here: an interrupted upload is resumed only by an upload the
/// plan decided, from the very content it started with, and checked
/// against that plan's listing right before its Complete (issue 8,
/// point 3). An upload of a path the plan does not upload (the file is
/// gone, waits, or the other side changed it: a conflict) would finish a
/// version nobody asked for.
pub(super) async fn abort_unplanned(
    t: &Transfers,
    pair_id: i64,
    uploading: &HashSet<String>,
) -> Result<usize, TransferError> {
    let rows = t.store().list_uploads(pair_id)?;
    let mut tried = 0;
    for row in rows.iter().filter(|row| !uploading.contains(&row.key)) {
        tracing::info!("aborting the interrupted upload of {}: this pass does not upload it", row.key);
        abort_recorded(t, row).await;
        tried += 1;
    }
    Ok(tried)
}
