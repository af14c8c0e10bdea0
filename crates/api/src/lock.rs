//! One engine per home: whoever runs the pairs (the desktop app, `daemon`,
//! `sync`) holds an exclusive OS file lock on `engine.lock` in the home.
//! The OS drops the lock when the process exits or crashes, so a stale lock
//! cannot outlive its holder. Reading (status, lists) takes no lock.

use crate::{ApiError, ErrorKind};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use ts_rs::TS;

/// Who runs the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Holder {
    DesktopApp,
    Daemon,
    /// A one-shot `bucketsync sync`.
    Sync,
}

impl Holder {
    /// In words, as the refusal names it.
    pub fn describe(self) -> &'static str {
        match self {
            Holder::DesktopApp => "the desktop app",
            Holder::Daemon => "the bucketsync daemon",
            Holder::Sync => "a running bucketsync sync",
        }
    }
}

/// What the lock file says about its holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LockHolder {
    pub holder: Holder,
    pub pid: u32,
}

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct HomeLock {
    file: File,
    path: PathBuf,
}

impl HomeLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn lock_path(home: &Path) -> PathBuf {
    home.join("engine.lock")
}

/// The refusal every second engine gets. The wording is part of the CLI
/// contract ("Bucketsync is already syncing this home (the desktop app, pid N)").
pub fn busy_error(holder: Option<&LockHolder>) -> ApiError {
    let who = match holder {
        Some(h) => format!("{}, pid {}", h.holder.describe(), h.pid),
        None => "another Bucketsync process".to_string(),
    };
    ApiError::new(ErrorKind::Busy, format!("Bucketsync is already syncing this home ({who})")).with_hint(
        "only one engine may run the pairs of a home: quit the other one (the desktop app's tray menu has Quit, \
         a daemon stops with Ctrl-C) and try again; status and lists work meanwhile",
    )
}

/// Takes the home's engine lock for `holder`, or says who has it.
pub fn acquire(home: &Path, holder: Holder) -> Result<HomeLock, ApiError> {
    let path = lock_path(home);
    let io = |e: std::io::Error| ApiError::new(ErrorKind::Io, format!("cannot open {}: {e}", path.display()));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(busy_error(read_holder(&mut file).as_ref())),
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Only the holder writes: readers see the previous holder's record at worst.
    let record = serde_json::to_string(&LockHolder { holder, pid: std::process::id() })
        .expect("a lock record serialises");
    file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).map_err(io)?;
    file.write_all(record.as_bytes()).and_then(|_| file.sync_data()).map_err(io)?;
    Ok(HomeLock { file, path })
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Who holds the lock now, if anyone, for display. Never takes the lock
/// itself (a momentary lock would make a starting engine think it is
/// refused); a record is believed while its pid is alive.
pub fn holder(home: &Path) -> Option<LockHolder> {
    let mut file = File::open(lock_path(home)).ok()?;
    read_holder(&mut file).filter(|h| Path::new(&format!("/proc/{}", h.pid)).exists())
}

impl Drop for HomeLock {
    fn drop(&mut self) {
        // A clean exit leaves no record behind (a crash leaves one whose pid is dead).
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_engine_is_refused_with_the_holder_named_until_the_first_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let first = acquire(tmp.path(), Holder::DesktopApp).unwrap();
        // flock locks belong to the open file: a second open in this process is refused too.
        let err = acquire(tmp.path(), Holder::Daemon).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Busy);
        assert_eq!(
            err.message,
            format!("Bucketsync is already syncing this home (the desktop app, pid {})", std::process::id())
        );
        assert_eq!(holder(tmp.path()).map(|h| h.holder), Some(Holder::DesktopApp));
        drop(first);
        assert_eq!(holder(tmp.path()), None);
        let again = acquire(tmp.path(), Holder::Daemon).unwrap();
        assert!(again.path().ends_with("engine.lock"));
    }
}
