//! Test data: files of incompressible bytes, made unique per run, with
//! whole-second mtimes.
//!
//! Garage stores blocks by content hash, so uploading the same bytes twice
//! costs it less the second time. [`restamp`] writes a run-unique stamp every
//! 64 KiB (every block of any part size that is a multiple of it), so each
//! run sends content the server has never seen, for every tool alike.
//!
//! Mtimes are whole seconds in the past: rclone compares mtimes at full
//! precision and bucketsync records milliseconds, so sub-millisecond mtimes
//! would make rclone re-copy metadata on every no-op run.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Distance between stamps; divides every part and block size in use.
const STAMP_EVERY: u64 = 64 * 1024;

/// The mtime every generated file gets: a day ago, whole seconds.
pub fn fixed_mtime() -> filetime::FileTime {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    filetime::FileTime::from_unix_time(now.as_secs() as i64 - 86_400, 0)
}

/// xorshift64*: fast, and random enough that nothing compresses or dedups.
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Writes `size` random bytes to `path`.
pub fn random_file(path: &Path, size: u64, seed: u64) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::io::BufWriter::with_capacity(
        1 << 20,
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut noise = Noise::new(seed);
    let mut buf = vec![0u8; (1 << 20).min(size.max(1) as usize)];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        noise.fill(&mut buf[..n]);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.into_inner().map_err(|e| e.into_error())?.sync_all().ok();
    filetime::set_file_mtime(path, fixed_mtime())?;
    Ok(())
}

/// Makes the content of `path` unique to `run` (see the module docs) and
/// puts its mtime back.
pub fn restamp(path: &Path, run: u64) -> Result<()> {
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    let size = f.metadata()?.len();
    let mut offset = 0;
    while offset < size {
        let stamp = (run ^ offset.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes();
        let n = (size - offset).min(stamp.len() as u64) as usize;
        f.write_all_at(&stamp[..n], offset)?;
        offset += STAMP_EVERY;
    }
    drop(f);
    filetime::set_file_mtime(path, fixed_mtime())?;
    Ok(())
}

/// Relative name of file `i` in a tree: at most 1,000 files per folder.
pub fn tree_name(i: usize) -> String {
    format!("d{:03}/f{:05}.bin", i / 1000, i)
}

/// `count` files of `size` random bytes under `dir` (see [`tree_name`]).
pub fn tree(dir: &Path, count: usize, size: u64, seed: u64) -> Result<()> {
    for i in 0..count {
        random_file(&dir.join(tree_name(i)), size, seed.wrapping_add(i as u64 * 7919))?;
    }
    Ok(())
}

/// Restamps every file of a tree made by [`tree`].
pub fn restamp_tree(dir: &Path, count: usize, run: u64) -> Result<()> {
    for i in 0..count {
        restamp(&dir.join(tree_name(i)), run.wrapping_mul(1_000_003).wrapping_add(i as u64))?;
    }
    Ok(())
}

/// (files, bytes) below `dir`, skipping nothing: what a download produced.
pub fn tally(dir: &Path) -> Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files += 1;
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((files, bytes))
}

/// Empties `dir` (creating it if needed).
pub fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_random_restampable_and_tallied() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/f");
        random_file(&p, 200_000, 1).unwrap();
        let before = std::fs::read(&p).unwrap();
        assert_eq!(before.len(), 200_000);
        assert!(before.windows(8).take(1000).any(|w| w != [0; 8]));
        restamp(&p, 2).unwrap();
        let after = std::fs::read(&p).unwrap();
        assert_eq!(after.len(), 200_000);
        // every 64 KiB block differs from the previous run's
        for block in 0..4 {
            let at = block * STAMP_EVERY as usize;
            assert_ne!(before[at..at + 8], after[at..at + 8], "block {block}");
        }
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(filetime::FileTime::from_last_modification_time(&m).nanoseconds(), 0);
        tree(&dir.path().join("t"), 3, 10, 5).unwrap();
        assert_eq!(tally(&dir.path().join("t")).unwrap(), (3, 30));
    }
}
