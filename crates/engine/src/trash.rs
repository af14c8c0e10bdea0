//! Files removed locally because of a remote delete go here, inside the
//! app's data dir (never inside a synced folder), not into oblivion. Each
//! pass prunes moves older than the retention (30 days unless set), so the
//! trash does not grow for ever.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// How long trashed files are kept unless the user says otherwise.
pub const DEFAULT_KEEP_DAYS: u32 = 30;

/// The name of one move's folder: when it happened, in UTC.
const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour][minute][second]");

/// One pair's trash: `<dir>/<YYYY-MM-DD HHMMSS>/<relative path>`.
pub struct Trash {
    dir: PathBuf,
}

impl Trash {
    pub fn new(dir: PathBuf) -> Trash {
        Trash { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves `file` (at relative path `rel`) into the trash; returns where it went.
    pub fn put(&self, file: &Path, rel: &str, now_ms: i64) -> std::io::Result<PathBuf> {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(now_ms as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let stamp = at.format(STAMP).expect("the stamp format has only numeric fields");
        let mut dest = self.dir.join(&stamp).join(rel);
        let mut n = 2;
        while dest.symlink_metadata().is_ok() {
            dest = self.dir.join(&stamp).join(format!("{rel} ({n})"));
            n += 1;
        }
        let parent = dest.parent().expect("a trash path has a parent");
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
        match std::fs::rename(file, &dest) {
            Ok(()) => Ok(dest),
            // Another file system (the folder is on another disk): copy, then remove.
            Err(e) if e.raw_os_error() == Some(18 /* EXDEV */) => {
                std::fs::copy(file, &dest)?;
                std::fs::remove_file(file)?;
                Ok(dest)
            }
            Err(e) => Err(e),
        }
    }
}

impl Trash {
    /// Removes the moves made more than `keep_days` before `now_ms`; returns
    /// how many folders went. Only folders named by [`Trash::put`]'s stamp
    /// are touched: anything else a user put there stays.
    pub fn prune(&self, now_ms: i64, keep_days: u32) -> std::io::Result<usize> {
        let cutoff_ms = now_ms - i64::from(keep_days) * 86_400_000;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            let Ok(at) = time::PrimitiveDateTime::parse(&name, STAMP) else { continue };
            let at_ms = (at.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64;
            if at_ms < cutoff_ms && entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_files_keep_their_path_and_never_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let trash = Trash::new(tmp.path().join("trash"));
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f.txt"), "one").unwrap();
        let first = trash.put(&root.join("d/f.txt"), "d/f.txt", 1_718_454_896_000).unwrap();
        assert!(first.ends_with("2024-06-15 123456/d/f.txt"));
        std::fs::write(root.join("d/f.txt"), "two").unwrap();
        let second = trash.put(&root.join("d/f.txt"), "d/f.txt", 1_718_454_896_000).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read_to_string(first).unwrap(), "one", "the first trashed version survives");
        assert_eq!(std::fs::read_to_string(second).unwrap(), "two");
        assert!(!root.join("d/f.txt").exists());
    }

    #[test]
    fn prune_removes_old_moves_only() {
        let tmp = tempfile::tempdir().unwrap();
        let trash = Trash::new(tmp.path().join("trash"));
        assert_eq!(trash.prune(0, 30).unwrap(), 0, "no trash yet is not an error");
        let day = 86_400_000;
        let t0 = 1_718_454_896_000;
        for (name, at) in [("old.txt", t0), ("recent.txt", t0 + 10 * day)] {
            std::fs::write(tmp.path().join(name), name).unwrap();
            trash.put(&tmp.path().join(name), name, at).unwrap();
        }
        std::fs::create_dir_all(trash.dir().join("my notes")).unwrap();
        std::fs::write(trash.dir().join("1999-01-01 000000"), "a file, not a move").unwrap();

        assert_eq!(trash.prune(t0 + 30 * day, 30).unwrap(), 0, "exactly 30 days old is kept");
        assert_eq!(trash.prune(t0 + 31 * day, 30).unwrap(), 1);
        let mut left: Vec<_> = std::fs::read_dir(trash.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["1999-01-01 000000", "2024-06-25 123456", "my notes"]);
    }
}
