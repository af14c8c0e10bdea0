//! `bucketsync-store` owns the SQLite database: its file, its migrations, and
//! one module per table with that table's row type and queries.
//!
//! It knows: SQL, file permissions of the database, schema versions.
//! It must not know: S3, the network, sync decisions, secrets. Secrets never
//! reach this database; a policy row holds only a *reference* to where its
//! secret lives (keyring, an environment variable, a 0600 file).
//!
//! It is the only crate that depends on rusqlite.

pub mod baseline;
pub mod journal;
pub mod key_expiry;
mod migration;
pub mod pair;
pub mod pending_delete;
pub mod policy;
pub mod setting;
pub mod upload;

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use baseline::{BaselineRow, LocalFile, RemoteBase};
pub use journal::JournalRow;
pub use key_expiry::KeyExpiryRow;
pub use pair::PairRow;
pub use pending_delete::{PendingDelete, PendingDeleteSet};
pub use policy::PolicyRow;
pub use upload::{UploadPartRow, UploadRow};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot migrate the database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("{what} '{name}' does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("{what} '{name}' already exists")]
    Exists { what: &'static str, name: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// The file is not a database, or a damaged one.
    fn is_corruption(&self) -> bool {
        let sql = match self {
            StoreError::Sql(e) => e,
            StoreError::Migration(rusqlite_migration::Error::RusqliteError { err, .. }) => err,
            _ => return false,
        };
        matches!(
            sql.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
        )
    }
}

/// Moves a damaged database and its journal files to
/// `bucketsync.db.damaged-<unix seconds>[-wal|-shm]`; returns the main one.
fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let aside = path.with_file_name(format!("bucketsync.db.damaged-{stamp}"));
    for suffix in ["-wal", "-shm"] {
        let journal = path.with_file_name(format!("bucketsync.db{suffix}"));
        if journal.exists() {
            std::fs::rename(
                &journal,
                aside.with_file_name(format!("bucketsync.db.damaged-{stamp}{suffix}")),
            )?;
        }
    }
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// An open database. One per process and home; cheap operations hold a
/// short `&mut` borrow, so callers wrap it in a mutex.
pub struct Store {
    conn: rusqlite::Connection,
    /// Where a damaged database was moved when this one was opened.
    set_aside: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) `dir/bucketsync.db`. The directory is made
    /// 0700 and the files 0600: the database names buckets and paths.
    pub fn open(dir: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open { path: dir.to_path_buf(), source };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(open_err)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(open_err)?;
        let path = dir.join("bucketsync.db");
        match Store::open_file(&path, open_err) {
            // A damaged file would lock the user out of every command (even
            // adding a policy again): it is kept for inspection under
            // another name and a fresh one begins. The sync state starts
            // over, which is safe: with no base rows a pass is a union and
            // deletes nothing.
            Err(e) if e.is_corruption() => {
                let aside = set_aside(&path).map_err(open_err)?;
                let mut store = Store::open_file(&path, open_err)?;
                store.set_aside = Some(aside);
                Ok(store)
            }
            result => result,
        }
    }

    fn open_file(path: &Path, open_err: impl Fn(std::io::Error) -> StoreError) -> Result<Store> {
        if !path.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(path)
                .map_err(open_err)?;
        }
        let mut conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migration::migrations().to_latest(&mut conn)?;
        Ok(Store { conn, set_aside: None })
    }

    /// Where a damaged database was set aside when this store was opened
    /// (and a fresh one begun); `None` normally.
    pub fn set_aside(&self) -> Option<&Path> {
        self.set_aside.as_deref()
    }

    /// An in-memory database for tests of code above this crate.
    pub fn open_in_memory() -> Result<Store> {
        let mut conn = rusqlite::Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migration::migrations().to_latest(&mut conn)?;
        Ok(Store { conn, set_aside: None })
    }

    pub(crate) fn conn(&self) -> &rusqlite::Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut rusqlite::Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn database_and_dir_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        Store::open(&home).unwrap();
        assert_eq!(std::fs::metadata(&home).unwrap().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(home.join("bucketsync.db")).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_database_is_set_aside_and_a_fresh_one_begun() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(tmp.path()).unwrap();
            s.insert_policy(&policy::tests::sample("a")).unwrap();
            assert!(s.set_aside().is_none());
        }
        let db = tmp.path().join("bucketsync.db");
        std::fs::write(&db, vec![0x5a; 8192]).unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let aside = s.set_aside().expect("set aside").to_path_buf();
        assert!(s.list_policies().unwrap().is_empty(), "a fresh database");
        assert_eq!(std::fs::read(&aside).unwrap(), vec![0x5a; 8192], "the damaged one is kept as it was");
        assert_eq!(std::fs::metadata(&db).unwrap().mode() & 0o777, 0o600);
        drop(s);
        assert!(Store::open(tmp.path()).unwrap().set_aside().is_none(), "only once");
    }

    #[test]
    fn reopening_keeps_data_and_does_not_rerun_migrations() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(tmp.path()).unwrap();
            s.insert_policy(&policy::tests::sample("a")).unwrap();
        }
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(s.list_policies().unwrap().len(), 1);
    }
}
