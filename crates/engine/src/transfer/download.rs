//! Downloads: parallel ranged GETs into a temp file beside the target, then
//! verify, fsync, set mtime, rename.

use super::{
    rename_noreplace, Downloaded, LocalExpect, Progress, TransferError, Transfers, DOWNLOAD_RANGE_SIZE,
    SHA256_METADATA, TEMP_PREFIX,
};
use crate::snapshot::{self, hex, LocalFile};
use bucketsync_remote::ObjectMeta;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Removes the temp file unless the download got as far as renaming it
/// (also when the download future is dropped half-way).
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn temp_name(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{TEMP_PREFIX}{:x}-{nanos:x}-{n}", std::process::id()))
}

/// A download's temp file left behind (its process was killed before it
/// could remove it): named by a process that no longer runs, or older than
/// a day (the pid may have been reused). Never one of this process's own.
pub(super) fn stale_temp(path: &Path) -> bool {
    let Some(rest) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(TEMP_PREFIX))
    else {
        return false;
    };
    let Some(pid) = rest.split('-').next().and_then(|p| u32::from_str_radix(p, 16).ok()) else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    let gone = !Path::new(&format!("/proc/{pid}")).exists();
    let old = std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(24 * 3600));
    gone || old
}

fn verify(object: &ObjectMeta, reason: impl Into<String>) -> TransferError {
    TransferError::Verify { key: object.key.clone(), reason: reason.into() }
}

async fn blocking<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T, TransferError> + Send + 'static,
) -> Result<T, TransferError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| TransferError::io(path, std::io::Error::other(e)))?
}

pub(super) async fn download(
    t: &Transfers,
    object: &ObjectMeta,
    dest: &Path,
    expect: &LocalExpect,
    progress: &dyn Progress,
) -> Result<Downloaded, TransferError> {
    let key = object.key.as_str();
    // The listing gave size and ETag; HEAD confirms them and reads the
    // metadata (sha256, mtime) a listing does not carry.
    let (head, user) = t.with_retry("HEAD", || t.remote().head_with_metadata(key)).await?;
    check_same(object, &head, "since it was listed")?;
    let expected_sha256 = user
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(SHA256_METADATA))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let size = head.size;

    let tmp_path = temp_name(dest);
    let file = {
        let p = tmp_path.clone();
        blocking(&tmp_path, move || {
            std::fs::OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .open(&p)
                .map_err(|e| TransferError::io(&p, e))
        })
        .await?
    };
    let mut guard = TempFile { path: tmp_path.clone(), armed: true };
    let file = Arc::new(file);

    // Ranges are fetched concurrently and each piece of a body is written
    // at its offset as it arrives (no buffer per range); one writer thread
    // writes and hashes, in order, off the async workers.
    let width = t.limits().max_concurrent_parts.max(1);
    let count = size.div_ceil(DOWNLOAD_RANGE_SIZE);
    let (pieces, received) = tokio::sync::mpsc::channel(PIECES_QUEUED);
    let writer = Writer::start(file.clone(), tmp_path.clone(), received, size, DOWNLOAD_RANGE_SIZE);
    let gets = AtomicU64::new(0);
    let fetched = stream::iter(0..count)
        .map(|i| {
            let range = i * DOWNLOAD_RANGE_SIZE..((i + 1) * DOWNLOAD_RANGE_SIZE).min(size);
            fetch_range(t, object, range, &pieces, progress, &gets)
        })
        .buffer_unordered(width)
        .try_for_each(|()| async { Ok(()) })
        .await;
    if fetched.is_err() {
        writer.stop();
    }
    drop(pieces);
    let (hashed, sha256) = match (fetched, writer.finish(&tmp_path).await) {
        // A writer that failed (a full disk) makes the fetches fail too:
        // its error is the one that says why.
        (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
        (Ok(()), Ok(done)) => done,
    };
    if hashed != size {
        return Err(verify(object, format!("expected {size} bytes, got {hashed}")));
    }
    if let Some(expected) = &expected_sha256 {
        if *expected != sha256 {
            return Err(verify(
                object,
                format!("content hash {sha256} differs from the object's sha256 metadata {expected}"),
            ));
        }
    }
    if gets.load(Ordering::Relaxed) > 1 {
        // Several GETs (ranges, or a range resumed after it broke off)
        // could have seen several versions of the object.
        let (after, _) = t.with_retry("HEAD", || t.remote().head_with_metadata(key)).await?;
        check_same(&head, &after, "during the download")?;
    }

    let mtime_ms = head.mtime_ms.or(object.mtime_ms).or(head.last_modified_ms).or(object.last_modified_ms);
    let local = {
        let file = file.clone();
        let tmp = tmp_path.clone();
        let dest = dest.to_path_buf();
        let expect = expect.clone();
        blocking(&tmp_path.clone(), move || finish_file(&file, &tmp, &dest, &expect, size, mtime_ms)).await?
    };
    guard.armed = false;
    Ok(Downloaded { local: LocalFile { hash: Some(sha256), ..local } })
}

/// Body pieces waiting for the writer; with pieces of at most a few hundred
/// KiB this bounds a download's memory to a few MiB whatever its ranges.
const PIECES_QUEUED: usize = 32;

/// How much the writer reads back at a time to hash what was written out
/// of order (small enough to stay in the CPU's cache between read and hash).
const HASH_READ_BACK: usize = 256 * 1024;

/// One body piece and where it goes.
struct Piece {
    offset: u64,
    bytes: Bytes,
}

/// Fetches `range` of the object and hands each piece to the writer. A body
/// that breaks off is retried from where it stopped, not from its start.
/// Local failures (the writer gone) are not retried.
async fn fetch_range(
    t: &Transfers,
    object: &ObjectMeta,
    range: Range<u64>,
    pieces: &mpsc::Sender<Piece>,
    progress: &dyn Progress,
    gets: &AtomicU64,
) -> Result<(), TransferError> {
    let key = object.key.as_str();
    let at = AtomicU64::new(range.start);
    let at = &at;
    let (start, end) = (range.start, range.end);
    let outcome = t
        .with_retry("ranged GET", || async move {
            gets.fetch_add(1, Ordering::Relaxed);
            let mut body = t.remote().get_range_stream(key, at.load(Ordering::Relaxed)..end).await?;
            while let Some(bytes) = body.try_next().await? {
                let offset = at.load(Ordering::Relaxed);
                let len = bytes.len() as u64;
                if offset + len > end {
                    let more = offset + len - start;
                    let asked = end - start;
                    return Ok(Err(verify(
                        object,
                        format!("asked for {asked} bytes at {start}, got {more}"),
                    )));
                }
                if pieces.send(Piece { offset, bytes }).await.is_err() {
                    let stopped = std::io::Error::other("the download's writer stopped");
                    return Ok(Err(TransferError::io(Path::new(key), stopped)));
                }
                at.store(offset + len, Ordering::Relaxed);
                progress.advance(len);
            }
            Ok(Ok(()))
        })
        .await?;
    outcome?;
    let got = at.load(Ordering::Relaxed);
    if got != end {
        return Err(verify(
            object,
            format!("asked for {} bytes at {}, got {}", end - range.start, range.start, got - range.start),
        ));
    }
    Ok(())
}

/// Writes the pieces of a download where they belong and hashes the file
/// in order: a piece that continues the hashed prefix is hashed as it is
/// written (still in the cache), pieces ahead of it are read back from the
/// page cache once everything before them is there. Runs on a blocking
/// thread, so neither writing nor hashing holds up receiving.
struct Writer {
    handle: tokio::task::JoinHandle<Result<(u64, String), TransferError>>,
    stop: Arc<AtomicBool>,
}

impl Writer {
    fn start(file: Arc<File>, path: PathBuf, pieces: mpsc::Receiver<Piece>, size: u64, range: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle =
            tokio::task::spawn_blocking(move || write_and_hash(&file, &path, pieces, size, range, &stopped));
        Writer { handle, stop }
    }

    /// The download failed: what is left need not be hashed.
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Once every sender is gone: the bytes hashed and their SHA-256 (hex).
    async fn finish(mut self, path: &Path) -> Result<(u64, String), TransferError> {
        (&mut self.handle).await.map_err(|e| TransferError::io(path, std::io::Error::other(e)))?
    }
}

impl Drop for Writer {
    /// A download given up on (failed or dropped) does not hash the rest.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn write_and_hash(
    file: &File,
    path: &Path,
    mut pieces: mpsc::Receiver<Piece>,
    size: u64,
    range: u64,
    stop: &AtomicBool,
) -> Result<(u64, String), TransferError> {
    let io = |e| TransferError::io(path, e);
    // How far each range (of `range` bytes, the last one shorter) is
    // written; the range holding offset x is x / range.
    let mut written: Vec<u64> = (0..size.div_ceil(range)).map(|i| i * range).collect();
    let mut hasher = Sha256::new();
    let mut hashed = 0u64;
    let mut back: Vec<u8> = Vec::new();
    // Bytes after `hashed` that are on disk and not yet hashed.
    let ready = |hashed: u64, written: &[u64]| -> u64 {
        written.get((hashed / range) as usize).map_or(0, |w| w - hashed)
    };
    let mut read_back = |hashed: &mut u64, hasher: &mut Sha256, n: u64| -> Result<(), TransferError> {
        let n = n.min(HASH_READ_BACK as u64) as usize;
        back.resize(n, 0);
        file.read_exact_at(&mut back[..n], *hashed).map_err(io)?;
        hasher.update(&back[..n]);
        *hashed += n as u64;
        Ok(())
    };
    loop {
        let waiting = ready(hashed, &written);
        let piece = if waiting > 0 {
            match pieces.try_recv() {
                Ok(piece) => Some(piece),
                // Nothing to write: catch up on hashing meanwhile.
                Err(mpsc::error::TryRecvError::Empty) => {
                    read_back(&mut hashed, &mut hasher, waiting)?;
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            }
        } else {
            pieces.blocking_recv()
        };
        let Some(Piece { offset, bytes }) = piece else { break };
        file.write_all_at(&bytes, offset).map_err(io)?;
        let len = bytes.len() as u64;
        written[(offset / range) as usize] = offset + len;
        if offset == hashed {
            hasher.update(&bytes);
            hashed += len;
        }
    }
    if stop.load(Ordering::Relaxed) {
        return Ok((hashed, String::new()));
    }
    loop {
        let waiting = ready(hashed, &written);
        if waiting == 0 {
            break;
        }
        read_back(&mut hashed, &mut hasher, waiting)?;
    }
    Ok((hashed, hex(&hasher.finalize())))
}

/// Size and ETag of `now` must be those of `then`. An empty ETag (a store
/// that gives none) cannot be compared.
fn check_same(then: &ObjectMeta, now: &ObjectMeta, when: &str) -> Result<(), TransferError> {
    if then.size != now.size {
        return Err(verify(then, format!("the object changed {when} (size {} -> {})", then.size, now.size)));
    }
    if !then.etag.is_empty() && !now.etag.is_empty() && then.etag != now.etag {
        return Err(verify(then, format!("the object changed {when} (ETag {} -> {})", then.etag, now.etag)));
    }
    Ok(())
}

/// Checks the length on disk, sets the mtime, fsyncs the file, renames it
/// onto `dest` and fsyncs the folder, so a crash leaves either the old file
/// or the complete new one. The rename happens only if `dest` is still as
/// the plan saw it (`expect`): a file saved or created there while the
/// download ran is someone's newer version and is never replaced.
fn finish_file(
    file: &File,
    tmp: &Path,
    dest: &Path,
    expect: &LocalExpect,
    size: u64,
    mtime_ms: Option<i64>,
) -> Result<LocalFile, TransferError> {
    let io = |e| TransferError::io(tmp, e);
    let len = file.metadata().map_err(io)?.len();
    if len != size {
        return Err(TransferError::Verify {
            key: dest.display().to_string(),
            reason: format!("{len} bytes on disk, expected {size}"),
        });
    }
    if let Some(ms) = mtime_ms {
        let mtime =
            filetime::FileTime::from_unix_time(ms.div_euclid(1000), (ms.rem_euclid(1000) * 1_000_000) as u32);
        filetime::set_file_handle_times(file, None, Some(mtime)).map_err(io)?;
    }
    // Replacing a file keeps its permissions (a private file stays private).
    if let Ok(existing) = std::fs::metadata(dest) {
        if existing.is_file() {
            file.set_permissions(existing.permissions()).map_err(io)?;
        }
    }
    crate::crash_point!("download.written");
    file.sync_all().map_err(io)?;
    crate::crash_point!("download.synced");
    let local = snapshot::stat(&file.metadata().map_err(io)?);
    let changed = || TransferError::LocalChanged { path: dest.to_path_buf() };
    match expect {
        // Atomic: nothing that appears at `dest` can be replaced.
        LocalExpect::Absent => rename_noreplace(tmp, dest).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => changed(),
            _ => TransferError::io(dest, e),
        })?,
        // The last look, right before the rename (there is no atomic
        // "replace if unchanged"; the window is this stat to the rename).
        LocalExpect::File(seen) => {
            match dest.symlink_metadata() {
                Ok(m) if m.is_file() && snapshot::stat(&m).same_stat(seen) => {}
                Ok(_) => return Err(changed()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(changed()),
                Err(e) => return Err(TransferError::io(dest, e)),
            }
            std::fs::rename(tmp, dest).map_err(|e| TransferError::io(dest, e))?
        }
        LocalExpect::Anything => std::fs::rename(tmp, dest).map_err(|e| TransferError::io(dest, e))?,
    }
    crate::crash_point!("download.renamed");
    if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| TransferError::io(dir, e))?;
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces of several ranges arriving interleaved, each range in order,
    /// land where they belong and hash as the file in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pieces_out_of_order_are_written_and_hashed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = Arc::new(
            std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(&path).unwrap(),
        );
        let (range, size) = (1000u64, 3500u64);
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        let (tx, rx) = mpsc::channel(2);
        let writer = Writer::start(file, path.clone(), rx, size, range);
        // Ranges 3, 1, 0, 2 take turns, in pieces of 300 bytes.
        let mut ranges: Vec<(u64, u64)> =
            [3u64, 1, 0, 2].iter().map(|i| (i * range, ((i + 1) * range).min(size))).collect();
        while ranges.iter().any(|(at, end)| at < end) {
            for (at, end) in ranges.iter_mut().filter(|(at, end)| at < end) {
                let upto = (*at + 300).min(*end);
                let bytes = Bytes::copy_from_slice(&data[*at as usize..upto as usize]);
                tx.send(Piece { offset: *at, bytes }).await.unwrap();
                *at = upto;
            }
        }
        drop(tx);
        let (hashed, sha) = writer.finish(&path).await.unwrap();
        assert_eq!(hashed, size);
        assert_eq!(sha, hex(&Sha256::digest(&data)));
        assert!(std::fs::read(&path).unwrap() == data);
    }
}
