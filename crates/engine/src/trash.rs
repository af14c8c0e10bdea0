//! Files removed locally because of a remote delete go here, inside the
//! app's data dir (never inside a synced folder), not into oblivion.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

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
        let stamp = format!(
            "{:04}-{:02}-{:02} {:02}{:02}{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
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
}
