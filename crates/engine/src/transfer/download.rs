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
    if object.size <= SMALL_DOWNLOAD {
        let local = download_small(t, object, dest, expect, progress).await?;
        return Ok(Downloaded { local });
    }
    let key = object.key.as_str();
    // The listing gave size and ETag; HEAD confirms them and reads the
    // metadata (sha256, mtime) a listing does not carry.
    let (head, user) = t.with_retry("HEAD", || t.remote().head_with_metadata(key)).await?;
    check_same(object, &head, "since it was listed")?;
    let landing = Landing::new(object, head, &user, dest, expect);
    let gets = AtomicU64::new(0);
    let local = download_ranges(t, landing, progress, &gets).await?;
    Ok(Downloaded { local })
}

/// Several GETs (ranges, or a range resumed after it broke off) could have
/// seen several versions of the object: a HEAD after the last one, before
/// anything lands, says whether it is still the one the first HEAD saw.
async fn recheck(t: &Transfers, landing: &Landing, gets: &AtomicU64) -> Result<(), TransferError> {
    if gets.load(Ordering::Relaxed) > 1 {
        let key = landing.object.key.as_str();
        let (after, _) = t.with_retry("HEAD", || t.remote().head_with_metadata(key)).await?;
        check_same(&landing.head, &after, "during the download")?;
    }
    Ok(())
}

/// What a download must land, and where.
struct Landing {
    object: ObjectMeta,
    /// What the HEAD before the first GET saw.
    head: ObjectMeta,
    dest: PathBuf,
    expect: LocalExpect,
    /// As the HEAD reported it.
    size: u64,
    mtime_ms: Option<i64>,
    /// The object's `sha256` metadata, when it has one.
    expected_sha256: Option<String>,
}

impl Landing {
    /// `head`: what the HEAD (or the GET's answer) said of the object, with
    /// its user metadata `user`.
    fn new(
        object: &ObjectMeta,
        head: ObjectMeta,
        user: &[(String, String)],
        dest: &Path,
        expect: &LocalExpect,
    ) -> Landing {
        let expected_sha256 = user
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(SHA256_METADATA))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
            .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let mtime_ms =
            head.mtime_ms.or(object.mtime_ms).or(head.last_modified_ms).or(object.last_modified_ms);
        Landing {
            object: object.clone(),
            size: head.size,
            head,
            dest: dest.to_path_buf(),
            expect: expect.clone(),
            mtime_ms,
            expected_sha256,
        }
    }

    /// The checks of the bytes received: as many as the object holds, and
    /// the content hash the object's metadata gives.
    fn verify(&self, hashed: u64, sha256: &str) -> Result<(), TransferError> {
        if hashed != self.size {
            return Err(verify(&self.object, format!("expected {} bytes, got {hashed}", self.size)));
        }
        if let Some(expected) = &self.expected_sha256 {
            if expected != sha256 {
                return Err(verify(
                    &self.object,
                    format!("content hash {sha256} differs from the object's sha256 metadata {expected}"),
                ));
            }
        }
        Ok(())
    }
}

/// Objects listed at most this big are fetched whole into memory by one
/// GET (no HEAD) and written, hashed, synced and renamed in one go (one hop
/// to a blocking thread): the many-small-files case. Memory: this much per
/// file in flight.
const SMALL_DOWNLOAD: u64 = 1024 * 1024;

async fn download_small(
    t: &Transfers,
    object: &ObjectMeta,
    dest: &Path,
    expect: &LocalExpect,
    progress: &dyn Progress,
) -> Result<LocalFile, TransferError> {
    let key = object.key.as_str();
    // One GET: its answer's headers are the version of these very bytes,
    // checked against the listing as a HEAD's would be (no HEAD needed,
    // and none after: a retry is a whole new GET with its own headers).
    let (meta, user, body) = t.with_retry("GET", || t.remote().get_whole(key, object.size)).await?;
    check_same(object, &meta, "since it was listed")?;
    let landing = Landing::new(object, meta, &user, dest, expect);
    if body.len() as u64 != landing.size {
        return Err(verify(object, format!("expected {} bytes, got {}", landing.size, body.len())));
    }
    progress.advance(landing.size);
    let dest = landing.dest.clone();
    blocking(&dest, move || {
        let sha256 = hex(&Sha256::digest(&body));
        landing.verify(body.len() as u64, &sha256)?;
        let tmp_path = temp_name(&landing.dest);
        let file = create_temp(&tmp_path)?;
        let mut guard = TempFile { path: tmp_path.clone(), armed: true };
        file.write_all_at(&body, 0).map_err(|e| TransferError::io(&tmp_path, e))?;
        let local = finish_file(&file, &tmp_path, &landing)?;
        guard.armed = false;
        Ok(LocalFile { hash: Some(sha256), ..local })
    })
    .await
}

fn create_temp(path: &Path) -> Result<File, TransferError> {
    std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .open(path)
        .map_err(|e| TransferError::io(path, e))
}

/// Ranges are fetched concurrently and each piece of a body is written at
/// its offset as it arrives (no buffer per range) by a writer thread; a
/// hasher thread hashes the file in order beside it, off the async workers.
async fn download_ranges(
    t: &Transfers,
    landing: Landing,
    progress: &dyn Progress,
    gets: &AtomicU64,
) -> Result<LocalFile, TransferError> {
    let size = landing.size;
    let tmp_path = temp_name(&landing.dest);
    let file = {
        let p = tmp_path.clone();
        blocking(&tmp_path, move || create_temp(&p)).await?
    };
    let mut guard = TempFile { path: tmp_path.clone(), armed: true };
    let file = Arc::new(file);

    let width = t.limits().max_concurrent_parts.max(1);
    let count = size.div_ceil(DOWNLOAD_RANGE_SIZE);
    let (pieces, received) = tokio::sync::mpsc::channel(PIECES_QUEUED);
    let pipeline =
        Pipeline::start(file.clone(), tmp_path.clone(), received, size, DOWNLOAD_RANGE_SIZE, DROP_BEHIND);
    let object = &landing.object;
    let fetched = stream::iter(0..count)
        .map(|i| {
            let range = i * DOWNLOAD_RANGE_SIZE..((i + 1) * DOWNLOAD_RANGE_SIZE).min(size);
            fetch_range(t, object, range, &pieces, progress, gets)
        })
        .buffer_unordered(width)
        .try_for_each(|()| async { Ok(()) })
        .await;
    if fetched.is_err() {
        pipeline.stop();
    }
    drop(pieces);
    let (hashed, sha256) = match (fetched, pipeline.finish(&tmp_path).await) {
        // A writer that failed (a full disk) makes the fetches fail too:
        // its error is the one that says why.
        (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
        (Ok(()), Ok(done)) => done,
    };
    landing.verify(hashed, &sha256)?;
    recheck(t, &landing, gets).await?;
    let local = blocking(&tmp_path.clone(), move || finish_file(&file, &tmp_path, &landing)).await?;
    guard.armed = false;
    Ok(LocalFile { hash: Some(sha256), ..local })
}

/// Body pieces waiting for the writer; with pieces of at most a few hundred
/// KiB this bounds a download's memory to a few MiB whatever its ranges.
const PIECES_QUEUED: usize = 16;

/// Pieces (and prefix advances) waiting for the hasher.
const HASH_QUEUED: usize = 8;

/// How much the hasher reads back at a time of what was written out of
/// order (small enough to stay in the CPU's cache between read and hash).
const HASH_READ_BACK: usize = 256 * 1024;

/// Every time the hasher is this far past where it last started writeback,
/// it starts it for what it hashed since, then waits for the stretch
/// before (started a step earlier, so mostly on disk already: a wait here
/// holds up every range behind the hasher's queue) and drops it from the
/// page cache. Those pages are never needed again, and the next pieces
/// reuse them instead of taking fresh memory (on a VM that returns free
/// memory to its host a fresh page costs a host fault: 1 GiB written into
/// fresh pages took 2.2-2.4 s of system time here, into recycled ones 0.34 s).
const DROP_BEHIND: u64 = 16 * 1024 * 1024;

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

/// What the writer tells the hasher: a piece that continues the written
/// prefix (hashed from memory, never read back), or how far the prefix
/// reaches now that a gap was filled (what lies before is read back).
enum ToHash {
    Piece(Piece),
    Upto(u64),
}

/// The writer and hasher threads of one download. The writer pwrites the
/// pieces where they belong, starts their writeback as each range
/// completes (so the fsync before the rename has little left to do), and
/// hands the hasher every piece that continues the written prefix; the
/// hasher hashes those as they are and reads back from the page cache only
/// what arrived ahead of the prefix. Neither holds up receiving, nor the other.
struct Pipeline {
    writer: tokio::task::JoinHandle<Result<(), TransferError>>,
    hasher: tokio::task::JoinHandle<Result<(u64, String), TransferError>>,
    stop: Arc<AtomicBool>,
}

impl Pipeline {
    fn start(
        file: Arc<File>,
        path: PathBuf,
        pieces: mpsc::Receiver<Piece>,
        size: u64,
        range: u64,
        drop_behind: u64,
    ) -> Pipeline {
        let stop = Arc::new(AtomicBool::new(false));
        let (to_hash, for_hasher) = std::sync::mpsc::sync_channel(HASH_QUEUED);
        let writer = {
            let (file, path) = (file.clone(), path.clone());
            tokio::task::spawn_blocking(move || write_pieces(&file, &path, pieces, &to_hash, size, range))
        };
        let stopped = stop.clone();
        let hasher = tokio::task::spawn_blocking(move || {
            hash_in_order(&file, &path, for_hasher, &stopped, drop_behind)
        });
        Pipeline { writer, hasher, stop }
    }

    /// The download failed: what is left need not be hashed.
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Once every sender is gone: the bytes hashed and their SHA-256 (hex).
    /// The writer's failure (a full disk) is the one reported first.
    async fn finish(mut self, path: &Path) -> Result<(u64, String), TransferError> {
        let joined = |e: tokio::task::JoinError| TransferError::io(path, std::io::Error::other(e));
        let written = (&mut self.writer).await.map_err(joined)?;
        let hashed = (&mut self.hasher).await.map_err(joined)?;
        written?;
        hashed
    }
}

impl Drop for Pipeline {
    /// A download given up on (failed or dropped) does not hash the rest.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn write_pieces(
    file: &File,
    path: &Path,
    mut pieces: mpsc::Receiver<Piece>,
    to_hash: &std::sync::mpsc::SyncSender<ToHash>,
    size: u64,
    range: u64,
) -> Result<(), TransferError> {
    let io = |e| TransferError::io(path, e);
    let count = size.div_ceil(range);
    // How far each range (of `range` bytes, the last one shorter) is
    // written; the range holding offset x is x / range.
    let mut written: Vec<u64> = (0..count).map(|i| i * range).collect();
    // Every byte before this is written.
    let mut prefix = 0u64;
    while let Some(Piece { offset, bytes }) = pieces.blocking_recv() {
        file.write_all_at(&bytes, offset).map_err(io)?;
        let len = bytes.len() as u64;
        let i = (offset / range) as usize;
        written[i] = offset + len;
        let range_start = i as u64 * range;
        let range_end = (range_start + range).min(size);
        if written[i] == range_end {
            start_writeback(file, range_start, range_end - range_start);
        }
        if offset != prefix {
            continue;
        }
        // The prefix grows by this piece, and on through ranges written
        // ahead of it that it now reaches.
        prefix = offset + len;
        loop {
            let j = (prefix / range) as usize;
            match written.get(j) {
                Some(&w) if w > prefix => prefix = w,
                _ => break,
            }
        }
        // A hasher that failed has its error waiting at the finish.
        let _ = to_hash.send(ToHash::Piece(Piece { offset, bytes }));
        if prefix > offset + len {
            let _ = to_hash.send(ToHash::Upto(prefix));
        }
    }
    Ok(())
}

/// Asks the kernel to start writing `len` bytes at `offset` to disk now,
/// without waiting: a hint, its failure changes nothing (the fsync before
/// the rename is what makes the file durable).
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open file descriptor; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Waits until `len` bytes at `offset` are on disk and drops them from the
/// page cache. Unlike the writeback hint, its failure is the download's: a
/// write error seen here is not reported again by the fsync that follows.
fn drop_written(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let flags =
        libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: a valid open file descriptor; the calls take no pointers.
    if unsafe { libc::sync_file_range(fd, offset as i64, len as i64, flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // A hint: pages still dirty or mapped stay, and nothing is lost either way.
    // SAFETY: as above.
    unsafe { libc::posix_fadvise(fd, offset as i64, len as i64, libc::POSIX_FADV_DONTNEED) };
    Ok(())
}

/// `drop_behind`: how far past what it last dropped the hasher gets before
/// it drops what it hashed (see [`DROP_BEHIND`]).
fn hash_in_order(
    file: &File,
    path: &Path,
    pieces: std::sync::mpsc::Receiver<ToHash>,
    stop: &AtomicBool,
    drop_behind: u64,
) -> Result<(u64, String), TransferError> {
    let mut hasher = Sha256::new();
    let mut hashed = 0u64;
    // Writeback has been started for everything hashed before `started`;
    // everything before `dropped` is on disk and out of the page cache.
    let (mut started, mut dropped) = (0u64, 0u64);
    let mut back = vec![0u8; HASH_READ_BACK];
    // Reads back and hashes what lies between `hashed` and `upto`.
    let mut catch_up = |hashed: &mut u64, hasher: &mut Sha256, upto: u64| -> Result<(), TransferError> {
        while *hashed < upto && !stop.load(Ordering::Relaxed) {
            let n = (upto - *hashed).min(HASH_READ_BACK as u64) as usize;
            file.read_exact_at(&mut back[..n], *hashed).map_err(|e| TransferError::io(path, e))?;
            hasher.update(&back[..n]);
            *hashed += n as u64;
        }
        Ok(())
    };
    for message in pieces {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match message {
            ToHash::Piece(Piece { offset, bytes }) => {
                catch_up(&mut hashed, &mut hasher, offset)?;
                hasher.update(&bytes);
                hashed += bytes.len() as u64;
            }
            ToHash::Upto(upto) => catch_up(&mut hashed, &mut hasher, upto)?,
        }
        if hashed - started >= drop_behind {
            start_writeback(file, started, hashed - started);
            if started > dropped {
                drop_written(file, dropped, started - dropped).map_err(|e| TransferError::io(path, e))?;
                dropped = started;
            }
            started = hashed;
        }
    }
    if stop.load(Ordering::Relaxed) {
        return Ok((hashed, String::new()));
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
fn finish_file(file: &File, tmp: &Path, landing: &Landing) -> Result<LocalFile, TransferError> {
    let Landing { dest, expect, size, mtime_ms, .. } = landing;
    let (dest, size) = (dest.as_path(), *size);
    let io = |e| TransferError::io(tmp, e);
    let len = file.metadata().map_err(io)?.len();
    if len != size {
        return Err(TransferError::Verify {
            key: dest.display().to_string(),
            reason: format!("{len} bytes on disk, expected {size}"),
        });
    }
    if let Some(ms) = *mtime_ms {
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
    // Clean now: its pages can go back to be reused by the next download
    // (see `DROP_BEHIND`). A hint; what is on disk is what counts.
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open file descriptor; the call takes no pointers.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
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
    /// land where they belong and hash as the file in order, whichever
    /// range comes first (in order: all hashed from memory; otherwise
    /// partly read back), also when what was hashed is dropped from the
    /// page cache as they go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pieces_out_of_order_are_written_and_hashed_in_order() {
        let orders = [[3u64, 1, 0, 2], [0, 1, 2, 3], [1, 2, 3, 0]];
        for (order, drop_behind) in orders.iter().flat_map(|o| [(o, DROP_BEHIND), (o, 700)]) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            let file = Arc::new(create_temp(&path).unwrap());
            let (range, size) = (1000u64, 3500u64);
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let (tx, rx) = mpsc::channel(2);
            let pipeline = Pipeline::start(file, path.clone(), rx, size, range, drop_behind);
            // The ranges take turns, in pieces of 300 bytes.
            let mut ranges: Vec<(u64, u64)> =
                order.iter().map(|i| (i * range, ((i + 1) * range).min(size))).collect();
            while ranges.iter().any(|(at, end)| at < end) {
                for (at, end) in ranges.iter_mut().filter(|(at, end)| at < end) {
                    let upto = (*at + 300).min(*end);
                    let bytes = Bytes::copy_from_slice(&data[*at as usize..upto as usize]);
                    tx.send(Piece { offset: *at, bytes }).await.unwrap();
                    *at = upto;
                }
            }
            drop(tx);
            let (hashed, sha) = pipeline.finish(&path).await.unwrap();
            assert_eq!(hashed, size, "{order:?}");
            assert_eq!(sha, hex(&Sha256::digest(&data)), "{order:?}");
            assert!(std::fs::read(&path).unwrap() == data, "{order:?}");
        }
    }
}
