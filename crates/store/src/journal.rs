//! The `journal` table: the activity log (`status` and the UI's activity
//! screen): what each pass did, per path.

use crate::{Result, Store};
use rusqlite::{params, Row};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalRow {
    pub id: i64,
    pub pair_id: Option<i64>,
    pub at_ms: i64,
    /// What happened: `upload`, `download`, `delete-local`, `conflict`, `error`, ...
    pub action: String,
    pub path: String,
    pub detail: Option<String>,
    pub bytes: Option<u64>,
}

const COLUMNS: &str = "id, pair_id, at_ms, action, path, detail, bytes";

fn from_row(r: &Row<'_>) -> rusqlite::Result<JournalRow> {
    Ok(JournalRow {
        id: r.get(0)?,
        pair_id: r.get(1)?,
        at_ms: r.get(2)?,
        action: r.get(3)?,
        path: r.get(4)?,
        detail: r.get(5)?,
        bytes: r.get::<_, Option<i64>>(6)?.map(|b| b as u64),
    })
}

impl Store {
    /// Appends an entry; `row.id` is ignored and the new id returned.
    pub fn append_journal(&mut self, row: &JournalRow) -> Result<i64> {
        // Cached: one per action of every pass.
        self.conn()
            .prepare_cached(
                "INSERT INTO journal (pair_id, at_ms, action, path, detail, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![row.pair_id, row.at_ms, row.action, row.path, row.detail, row.bytes.map(|b| b as i64)])?;
        Ok(self.conn().last_insert_rowid())
    }

    /// The newest `limit` entries of one pair (or of all pairs), newest first.
    pub fn recent_journal(&self, pair_id: Option<i64>, limit: u32) -> Result<Vec<JournalRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM journal WHERE (?1 IS NULL OR pair_id = ?1) ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows =
            stmt.query_map(params![pair_id, limit], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Keeps the newest `keep` entries of a pair, so the log cannot grow forever.
    pub fn trim_journal(&mut self, pair_id: i64, keep: u32) -> Result<()> {
        self.conn().execute(
            "DELETE FROM journal WHERE pair_id = ?1 AND id NOT IN
               (SELECT id FROM journal WHERE pair_id = ?1 ORDER BY id DESC LIMIT ?2)",
            params![pair_id, keep],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pair::tests::with_pair;

    fn entry(pair_id: i64, path: &str) -> JournalRow {
        JournalRow {
            id: 0,
            pair_id: Some(pair_id),
            at_ms: 5,
            action: "upload".into(),
            path: path.into(),
            detail: None,
            bytes: Some(3),
        }
    }

    #[test]
    fn newest_first_and_filtered_by_pair() {
        let (mut s, pair) = with_pair("a");
        for p in ["1", "2", "3"] {
            s.append_journal(&entry(pair.id, p)).unwrap();
        }
        let recent = s.recent_journal(Some(pair.id), 2).unwrap();
        assert_eq!(recent.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["3", "2"]);
        assert_eq!(recent[0].bytes, Some(3));
        assert_eq!(s.recent_journal(None, 10).unwrap().len(), 3, "no pair filter: all entries");
        assert!(s.recent_journal(Some(pair.id + 1), 10).unwrap().is_empty());
    }

    #[test]
    fn trim_keeps_the_newest() {
        let (mut s, pair) = with_pair("a");
        for p in ["1", "2", "3"] {
            s.append_journal(&entry(pair.id, p)).unwrap();
        }
        s.trim_journal(pair.id, 1).unwrap();
        let left = s.recent_journal(Some(pair.id), 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].path, "3");
    }
}
