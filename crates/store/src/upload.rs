//! The `upload` and `upload_part` tables: multipart uploads in flight, so a
//! restart resumes them instead of sending finished parts again.
//!
//! A row in `upload` is written right after CreateMultipartUpload answered and
//! removed once the upload is completed or aborted; a row in `upload_part` is
//! written as soon as the server acknowledged that part.

use crate::{LocalFile, Result, Store};
use rusqlite::{params, OptionalExtension, Row};

/// One multipart upload in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRow {
    pub pair_id: i64,
    pub key: String,
    pub upload_id: String,
    /// Absolute path of the local file being sent.
    pub local_path: String,
    /// The file version the upload started with: size, mtime, inode and
    /// the hash of the content (which the object's `sha256` metadata
    /// carries). Parts already sent are that content's; the upload resumes
    /// only from a file that is still all of this, since a rewrite can
    /// keep size and mtime. Rows from before these were recorded have
    /// inode 0 and no hash: never resumed.
    pub local: LocalFile,
    /// The file's device (`st_dev`), with the inode naming the same file;
    /// 0 when not recorded.
    pub device: u64,
    pub part_size: u64,
    pub started_ms: i64,
}

/// A part the server acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadPartRow {
    pub number: i32,
    pub etag: String,
    pub size: u64,
}

const COLUMNS: &str =
    "pair_id, key, upload_id, local_path, size, mtime_ms, part_size, started_ms, sha256, inode, device";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UploadRow> {
    // Inode and device are u64 kept bit for bit in SQLite's i64.
    let unsigned =
        |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, Option<i64>>(i)?.map_or(0, |v| v as u64)) };
    Ok(UploadRow {
        pair_id: r.get(0)?,
        key: r.get(1)?,
        upload_id: r.get(2)?,
        local_path: r.get(3)?,
        local: LocalFile {
            size: r.get::<_, i64>(4)? as u64,
            mtime_ms: r.get(5)?,
            inode: unsigned(9)?,
            hash: r.get(8)?,
        },
        device: unsigned(10)?,
        part_size: r.get::<_, i64>(6)? as u64,
        started_ms: r.get(7)?,
    })
}

impl Store {
    /// Records a new multipart upload for `(pair_id, key)`, replacing (and
    /// forgetting the parts of) any earlier one for the same key. The caller
    /// aborts the earlier one on the server first.
    pub fn insert_upload(&mut self, row: &UploadRow) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        tx.execute("DELETE FROM upload_part WHERE pair_id = ?1 AND key = ?2", params![row.pair_id, row.key])?;
        tx.execute("DELETE FROM upload WHERE pair_id = ?1 AND key = ?2", params![row.pair_id, row.key])?;
        tx.execute(
            &format!("INSERT INTO upload ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                row.pair_id,
                row.key,
                row.upload_id,
                row.local_path,
                row.local.size as i64,
                row.local.mtime_ms,
                row.part_size as i64,
                row.started_ms,
                row.local.hash,
                (row.local.inode != 0).then_some(row.local.inode as i64),
                (row.device != 0).then_some(row.device as i64),
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn get_upload(&self, pair_id: i64, key: &str) -> Result<Option<UploadRow>> {
        // Cached: asked once per uploaded file, small ones included.
        Ok(self
            .conn()
            .prepare_cached(&format!("SELECT {COLUMNS} FROM upload WHERE pair_id = ?1 AND key = ?2"))?
            .query_row(params![pair_id, key], from_row)
            .optional()?)
    }

    /// The uploads in flight for a pair, oldest first.
    pub fn list_uploads(&self, pair_id: i64) -> Result<Vec<UploadRow>> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {COLUMNS} FROM upload WHERE pair_id = ?1 ORDER BY started_ms, key"))?;
        let rows = stmt.query_map(params![pair_id], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Records (or re-records, after a resend) an acknowledged part.
    pub fn record_upload_part(&mut self, pair_id: i64, key: &str, part: &UploadPartRow) -> Result<()> {
        self.conn().execute(
            "INSERT INTO upload_part (pair_id, key, number, etag, size) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (pair_id, key, number) DO UPDATE SET etag = excluded.etag, size = excluded.size",
            params![pair_id, key, part.number, part.etag, part.size as i64],
        )?;
        Ok(())
    }

    /// The acknowledged parts of an upload, by part number.
    pub fn upload_parts(&self, pair_id: i64, key: &str) -> Result<Vec<UploadPartRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT number, etag, size FROM upload_part WHERE pair_id = ?1 AND key = ?2 ORDER BY number",
        )?;
        let rows = stmt
            .query_map(params![pair_id, key], |r| {
                Ok(UploadPartRow { number: r.get(0)?, etag: r.get(1)?, size: r.get::<_, i64>(2)? as u64 })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Forgets one part (the server no longer has it, so it will be resent).
    pub fn delete_upload_part(&mut self, pair_id: i64, key: &str, number: i32) -> Result<()> {
        self.conn().execute(
            "DELETE FROM upload_part WHERE pair_id = ?1 AND key = ?2 AND number = ?3",
            params![pair_id, key, number],
        )?;
        Ok(())
    }

    /// Forgets an upload and its parts (completed or aborted). Returns whether
    /// there was one.
    pub fn delete_upload(&mut self, pair_id: i64, key: &str) -> Result<bool> {
        let tx = self.conn_mut().transaction()?;
        tx.execute("DELETE FROM upload_part WHERE pair_id = ?1 AND key = ?2", params![pair_id, key])?;
        let n = tx.execute("DELETE FROM upload WHERE pair_id = ?1 AND key = ?2", params![pair_id, key])?;
        tx.commit()?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_pair() -> (Store, i64) {
        let (s, pair) = crate::pair::tests::with_pair("pair");
        (s, pair.id)
    }

    fn row(pair_id: i64, key: &str, upload_id: &str, started_ms: i64) -> UploadRow {
        UploadRow {
            pair_id,
            key: key.into(),
            upload_id: upload_id.into(),
            local_path: format!("/tmp/x/{key}"),
            local: LocalFile {
                size: 6 * 1024 * 1024 * 1024 * 1024, // beyond 32 bits: sizes must survive as i64
                mtime_ms: 1_700_000_000_123,
                inode: u64::MAX - 1, // beyond i64: kept bit for bit
                hash: Some("ab".repeat(32)),
            },
            device: u64::MAX - 7,
            part_size: 5 * 1024 * 1024,
            started_ms,
        }
    }

    fn part(number: i32, etag: &str) -> UploadPartRow {
        UploadPartRow { number, etag: etag.into(), size: 5 * 1024 * 1024 }
    }

    /// What was recorded comes back unchanged, so a restart resumes the same upload.
    #[test]
    fn upload_and_parts_round_trip() {
        let (mut s, pair) = store_with_pair();
        let r = row(pair, "a/b.bin", "u1", 10);
        s.insert_upload(&r).unwrap();
        s.record_upload_part(pair, "a/b.bin", &part(2, "e2")).unwrap();
        s.record_upload_part(pair, "a/b.bin", &part(1, "e1")).unwrap();
        assert_eq!(s.get_upload(pair, "a/b.bin").unwrap(), Some(r));
        assert_eq!(s.upload_parts(pair, "a/b.bin").unwrap(), vec![part(1, "e1"), part(2, "e2")]);
        assert_eq!(s.get_upload(pair, "other").unwrap(), None);
    }

    /// A row without pins (written before they were recorded) reads back
    /// without them, so the engine can tell it never to resume it.
    #[test]
    fn a_row_without_pins_reads_back_without_them() {
        let (mut s, pair) = store_with_pair();
        let mut r = row(pair, "k", "u1", 0);
        r.local.inode = 0;
        r.local.hash = None;
        r.device = 0;
        s.insert_upload(&r).unwrap();
        let inode: Option<i64> =
            s.conn().query_row("SELECT inode FROM upload WHERE key = 'k'", [], |r| r.get(0)).unwrap();
        assert_eq!(inode, None, "unknown is NULL, not a made-up inode");
        assert_eq!(s.get_upload(pair, "k").unwrap(), Some(r));
    }

    /// A part sent again (its first ack was lost) keeps only its newest ETag.
    #[test]
    fn recording_a_part_twice_keeps_the_latest_etag() {
        let (mut s, pair) = store_with_pair();
        s.insert_upload(&row(pair, "k", "u1", 0)).unwrap();
        s.record_upload_part(pair, "k", &part(1, "old")).unwrap();
        s.record_upload_part(pair, "k", &part(1, "new")).unwrap();
        assert_eq!(s.upload_parts(pair, "k").unwrap(), vec![part(1, "new")]);
    }

    /// A new upload of the same key must not inherit parts of the old upload id.
    #[test]
    fn a_new_upload_for_the_same_key_forgets_old_parts() {
        let (mut s, pair) = store_with_pair();
        s.insert_upload(&row(pair, "k", "u1", 0)).unwrap();
        s.record_upload_part(pair, "k", &part(1, "e1")).unwrap();
        s.insert_upload(&row(pair, "k", "u2", 5)).unwrap();
        assert_eq!(s.get_upload(pair, "k").unwrap().unwrap().upload_id, "u2");
        assert!(s.upload_parts(pair, "k").unwrap().is_empty());
    }

    /// Completing or aborting removes the upload and its parts, and only those.
    #[test]
    fn delete_removes_the_upload_with_its_parts_only() {
        let (mut s, pair) = store_with_pair();
        s.insert_upload(&row(pair, "k1", "u1", 0)).unwrap();
        s.insert_upload(&row(pair, "k2", "u2", 0)).unwrap();
        s.record_upload_part(pair, "k1", &part(1, "a")).unwrap();
        s.record_upload_part(pair, "k2", &part(1, "b")).unwrap();
        assert!(s.delete_upload(pair, "k1").unwrap());
        assert!(!s.delete_upload(pair, "k1").unwrap());
        assert!(s.upload_parts(pair, "k1").unwrap().is_empty());
        assert_eq!(s.upload_parts(pair, "k2").unwrap(), vec![part(1, "b")]);
    }

    /// A part the server lost is forgotten alone, so only it is resent.
    #[test]
    fn deleting_one_part_keeps_the_others() {
        let (mut s, pair) = store_with_pair();
        s.insert_upload(&row(pair, "k", "u1", 0)).unwrap();
        for n in 1..=3 {
            s.record_upload_part(pair, "k", &part(n, &format!("e{n}"))).unwrap();
        }
        s.delete_upload_part(pair, "k", 2).unwrap();
        let numbers: Vec<i32> = s.upload_parts(pair, "k").unwrap().iter().map(|p| p.number).collect();
        assert_eq!(numbers, vec![1, 3]);
    }

    /// recover() walks a pair's uploads, oldest first, and never another pair's.
    #[test]
    fn list_is_per_pair_and_oldest_first() {
        let (mut s, pair) = store_with_pair();
        s.insert_upload(&row(pair, "late", "u1", 20)).unwrap();
        s.insert_upload(&row(pair, "early", "u2", 10)).unwrap();
        let keys: Vec<String> = s.list_uploads(pair).unwrap().into_iter().map(|r| r.key).collect();
        assert_eq!(keys, vec!["early", "late"]);
        assert!(s.list_uploads(pair + 1).unwrap().is_empty());
    }

    /// Parts cannot be recorded for an upload that was never started (FK).
    #[test]
    fn a_part_needs_its_upload() {
        let (mut s, pair) = store_with_pair();
        assert!(s.record_upload_part(pair, "nothing", &part(1, "e")).is_err());
    }

    /// Removing a pair removes its uploads in flight (ON DELETE CASCADE).
    #[test]
    fn removing_the_pair_removes_its_uploads() {
        let (mut s, pair) = store_with_pair();
        s.insert_upload(&row(pair, "k", "u1", 0)).unwrap();
        s.record_upload_part(pair, "k", &part(1, "e")).unwrap();
        s.delete_pair("pair").unwrap();
        assert!(s.list_uploads(pair).unwrap().is_empty());
        assert!(s.upload_parts(pair, "k").unwrap().is_empty());
    }
}
