//! The `baseline` table: per pair and path, what both sides looked like when
//! the path was last in sync. The planner compares each side to this row.

use crate::{Result, Store};
use rusqlite::{params, Row};
use serde::Serialize;

/// One version of a local file as the engine knows it: what the scan saw,
/// what a transfer expects, and the local half of a base row. The one
/// local-stat type from scan to base row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LocalFile {
    pub size: u64,
    /// Modification time, Unix milliseconds (rounded down).
    pub mtime_ms: i64,
    /// 0 when unknown (then it is not compared).
    pub inode: u64,
    /// Hex SHA-256 of the content, when it was computed.
    pub hash: Option<String>,
}

impl LocalFile {
    /// Whether `other` is the same file version by its stat (size, mtime,
    /// inode; an unknown inode on either side is not compared). The hash is
    /// not part of the stat.
    pub fn same_stat(&self, other: &LocalFile) -> bool {
        self.size == other.size
            && self.mtime_ms == other.mtime_ms
            && (self.inode == 0 || other.inode == 0 || self.inode == other.inode)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaselineRow {
    /// Relative path with `/` separators (also the key below the prefix).
    pub path: String,
    /// The local file when last in sync (`hash`: its content, when known).
    pub local: LocalFile,
    pub remote_etag: String,
    pub remote_size: u64,
    pub remote_mtime_ms: Option<i64>,
    pub synced_ms: i64,
}

/// The remote half of a base row: the object the pair last synced at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteBase {
    pub path: String,
    pub size: u64,
    pub etag: String,
}

const COLUMNS: &str = "path, local_size, local_mtime_ms, local_inode, local_hash, remote_etag, remote_size, \
                       remote_mtime_ms, synced_ms";

fn from_row(r: &Row<'_>) -> rusqlite::Result<BaselineRow> {
    Ok(BaselineRow {
        path: r.get(0)?,
        local: LocalFile {
            size: r.get::<_, i64>(1)? as u64,
            mtime_ms: r.get(2)?,
            inode: r.get::<_, Option<i64>>(3)?.map_or(0, |i| i as u64),
            hash: r.get(4)?,
        },
        remote_etag: r.get(5)?,
        remote_size: r.get::<_, i64>(6)? as u64,
        remote_mtime_ms: r.get(7)?,
        synced_ms: r.get(8)?,
    })
}

impl Store {
    /// Every base row of a pair, ordered by path.
    pub fn baselines(&self, pair_id: i64) -> Result<Vec<BaselineRow>> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {COLUMNS} FROM baseline WHERE pair_id = ?1 ORDER BY path"))?;
        let rows = stmt.query_map([pair_id], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every base row of a pair by path, for a full pass. Each row's own
    /// `path` is left empty: the key holds it, and at 100,000 rows a second
    /// copy of every path is megabytes for nothing. Built in one go from
    /// the sorted rows, which packs the tree's nodes full; inserting them
    /// one by one in order leaves every node half empty (twice the memory).
    pub fn baselines_by_path(&self, pair_id: i64) -> Result<std::collections::BTreeMap<String, BaselineRow>> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {COLUMNS} FROM baseline WHERE pair_id = ?1 ORDER BY path"))?;
        let rows = stmt
            .query_map([pair_id], from_row)?
            .map(|row| row.map(|mut row| (std::mem::take(&mut row.path), row)))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().collect())
    }

    /// Up to `limit` base rows of a pair with paths after `after` (`""`:
    /// from the first), ordered by path, with only what a listing is
    /// compared with: a walk over the rows a page at a time, beside a
    /// listing of the bucket (a range over the primary key).
    pub fn remote_bases_after(&self, pair_id: i64, after: &str, limit: usize) -> Result<Vec<RemoteBase>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT path, remote_size, remote_etag FROM baseline WHERE pair_id = ?1 AND path > ?2
             ORDER BY path LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![pair_id, after, limit as i64], |r| {
                Ok(RemoteBase { path: r.get(0)?, size: r.get::<_, i64>(1)? as u64, etag: r.get(2)? })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The base rows at `path` and below it (`path/...`), ordered by path:
    /// what a pass over one changed file or folder compares with. A range
    /// over the primary key, not a scan of the pair's rows.
    pub fn baselines_below(&self, pair_id: i64, path: &str) -> Result<Vec<BaselineRow>> {
        // Every path below `p/` sorts in [`p/`, `p0`): '0' follows '/'.
        let (from, to) = (format!("{path}/"), format!("{path}0"));
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM baseline WHERE pair_id = ?1 AND (path = ?2 OR (path >= ?3 AND path < ?4))
             ORDER BY path"
        ))?;
        let rows = stmt
            .query_map(params![pair_id, path, from, to], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn baseline_count(&self, pair_id: i64) -> Result<u64> {
        let n: i64 =
            self.conn()
                .query_row("SELECT COUNT(*) FROM baseline WHERE pair_id = ?1", [pair_id], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Records that `row.path` is in sync, replacing any earlier row.
    pub fn put_baseline(&mut self, pair_id: i64, row: &BaselineRow) -> Result<()> {
        // Cached: one per file moved, and parsing this upsert cost more
        // than running it (perf, 1,000 small uploads).
        self.conn()
            .prepare_cached(
                "INSERT INTO baseline (pair_id, path, local_size, local_mtime_ms, local_inode, local_hash,
                                   remote_etag, remote_size, remote_mtime_ms, synced_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (pair_id, path) DO UPDATE SET
                local_size = excluded.local_size, local_mtime_ms = excluded.local_mtime_ms,
                local_inode = excluded.local_inode, local_hash = excluded.local_hash,
                remote_etag = excluded.remote_etag, remote_size = excluded.remote_size,
                remote_mtime_ms = excluded.remote_mtime_ms, synced_ms = excluded.synced_ms",
            )?
            .execute(params![
                pair_id,
                row.path,
                row.local.size as i64,
                row.local.mtime_ms,
                (row.local.inode != 0).then_some(row.local.inode as i64),
                row.local.hash,
                row.remote_etag,
                row.remote_size as i64,
                row.remote_mtime_ms,
                row.synced_ms
            ])?;
        Ok(())
    }

    /// Forgets `path`: neither side has it any more (or it left the pair).
    pub fn delete_baseline(&mut self, pair_id: i64, path: &str) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM baseline WHERE pair_id = ?1 AND path = ?2")?
            .execute(params![pair_id, path])?;
        Ok(())
    }

    /// Forgets every path of a pair (e.g. after its prefix changed).
    pub fn clear_baselines(&mut self, pair_id: i64) -> Result<()> {
        self.conn().execute("DELETE FROM baseline WHERE pair_id = ?1", [pair_id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pair::tests::with_pair;

    fn row(path: &str, etag: &str) -> BaselineRow {
        BaselineRow {
            path: path.into(),
            local: LocalFile {
                size: 5,
                mtime_ms: 1_700_000_000_123,
                inode: u64::MAX - 1,
                hash: Some("ab".into()),
            },
            remote_etag: etag.into(),
            remote_size: 5,
            remote_mtime_ms: None,
            synced_ms: 9,
        }
    }

    #[test]
    fn put_replaces_and_round_trips_every_column() {
        let (mut s, pair) = with_pair("a");
        s.put_baseline(pair.id, &row("x/y.txt", "e1")).unwrap();
        s.put_baseline(pair.id, &row("x/y.txt", "e2")).unwrap();
        // Inodes above i64::MAX survive the round trip through SQLite's signed integers.
        assert_eq!(s.baselines(pair.id).unwrap(), vec![row("x/y.txt", "e2")]);
        assert_eq!(s.baseline_count(pair.id).unwrap(), 1);
    }

    #[test]
    fn delete_and_clear_touch_only_their_pair() {
        let (mut s, pair) = with_pair("a");
        let mut other = pair.clone();
        other.name = "b".into();
        let other_id = s.insert_pair(&other).unwrap();
        for p in ["1", "2"] {
            s.put_baseline(pair.id, &row(p, "e")).unwrap();
            s.put_baseline(other_id, &row(p, "e")).unwrap();
        }
        s.delete_baseline(pair.id, "1").unwrap();
        assert_eq!(s.baselines(pair.id).unwrap().len(), 1);
        s.clear_baselines(pair.id).unwrap();
        assert!(s.baselines(pair.id).unwrap().is_empty());
        assert_eq!(s.baselines(other_id).unwrap().len(), 2, "the other pair keeps its rows");
    }

    #[test]
    fn rows_below_a_path_are_the_path_and_its_folder_only() {
        let (mut s, pair) = with_pair("a");
        for p in ["d", "d/x", "d/y/z", "d.txt", "d0", "dd/x", "c/d/x", "e"] {
            s.put_baseline(pair.id, &row(p, "e")).unwrap();
        }
        let paths = |p: &str| -> Vec<String> {
            s.baselines_below(pair.id, p).unwrap().into_iter().map(|r| r.path).collect()
        };
        assert_eq!(paths("d"), ["d", "d/x", "d/y/z"]);
        assert_eq!(paths("d/y"), ["d/y/z"]);
        assert_eq!(paths("e"), ["e"]);
        assert!(paths("nothing").is_empty());
    }

    #[test]
    fn rows_after_a_path_come_a_page_at_a_time_in_byte_order() {
        let (mut s, pair) = with_pair("a");
        // Byte order, as a listing sorts keys: upper case before lower, `/` before `0`.
        for p in ["b", "a/x", "a0", "B", "\u{e9}"] {
            s.put_baseline(pair.id, &row(p, "e")).unwrap();
        }
        s.put_baseline(pair.id + 1, &row("other", "e")).ok();
        let page = |after: &str| -> Vec<String> {
            s.remote_bases_after(pair.id, after, 2).unwrap().into_iter().map(|r| r.path).collect()
        };
        assert_eq!(page(""), ["B", "a/x"]);
        assert_eq!(page("a/x"), ["a0", "b"]);
        assert_eq!(page("b"), ["\u{e9}"]);
        assert!(page("\u{e9}").is_empty());
    }

    #[test]
    fn removing_the_pair_removes_its_base_state() {
        let (mut s, pair) = with_pair("a");
        s.put_baseline(pair.id, &row("f", "e")).unwrap();
        s.delete_pair("a").unwrap();
        assert!(s.baselines(pair.id).unwrap().is_empty());
    }
}
