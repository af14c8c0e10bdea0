//! Downloads: parallel ranged GETs into a temp file beside the target, then
//! verify, fsync, set mtime, rename.

use super::{
    rename_noreplace, Downloaded, LocalExpect, Progress, TransferError, Transfers, DOWNLOAD_RANGE_SIZE,
    SHA256_METADATA, TEMP_PREFIX,
};
use crate::snapshot::{self, hex, LocalFile};
use bucketsync_remote::ObjectMeta;
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

    // Ranges are fetched and written concurrently but handed back in
    // order, so the hash is computed while streaming; at most `width`
    // ranges are held in memory.
    let width = t.limits().max_concurrent_parts.max(1);
    let ranges: Vec<(u64, u64)> = (0..size.div_ceil(DOWNLOAD_RANGE_SIZE))
        .map(|i| (i * DOWNLOAD_RANGE_SIZE, ((i + 1) * DOWNLOAD_RANGE_SIZE).min(size)))
        .collect();
    let multi = ranges.len() > 1;
    let mut hasher = Sha256::new();
    let mut fetched = stream::iter(ranges)
        .map(|(start, end)| {
            let file = file.clone();
            let tmp = tmp_path.clone();
            async move {
                let bytes: Bytes =
                    t.with_retry("ranged GET", || t.remote().get_range(key, start..end)).await?;
                if bytes.len() as u64 != end - start {
                    return Err(verify(
                        object,
                        format!("asked for {} bytes at {start}, got {}", end - start, bytes.len()),
                    ));
                }
                let data = bytes.clone();
                let at = tmp.clone();
                blocking(&tmp, move || {
                    file.write_all_at(&data, start).map_err(|e| TransferError::io(&at, e))
                })
                .await?;
                Ok::<Bytes, TransferError>(bytes)
            }
        })
        .buffered(width);
    let mut written = 0u64;
    while let Some(bytes) = fetched.next().await {
        let bytes = bytes?;
        hasher.update(&bytes);
        written += bytes.len() as u64;
        progress.advance(bytes.len() as u64);
    }
    drop(fetched);
    let sha256 = hex(&hasher.finalize());

    if written != size {
        return Err(verify(object, format!("expected {size} bytes, got {written}")));
    }
    if let Some(expected) = &expected_sha256 {
        if *expected != sha256 {
            return Err(verify(
                object,
                format!("content hash {sha256} differs from the object's sha256 metadata {expected}"),
            ));
        }
    }
    if multi {
        // Several GETs could have seen several versions of the object.
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
