//! The `pair` table: one row per synced folder. A pair records the bucket,
//! prefix and root it was made for, so a policy later pointed elsewhere
//! stops the pair instead of planning against the wrong listing.

use crate::{Result, Store, StoreError};
use rusqlite::{params, OptionalExtension, Row};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairRow {
    pub id: i64,
    pub name: String,
    pub policy_id: i64,
    /// Absolute path of the local folder.
    pub local_root: String,
    /// Normalised key prefix: empty or ending with `/`.
    pub prefix: String,
    /// `two-way` | `upload` | `download`
    pub mode: String,
    pub paused: bool,
    /// A pass that would delete more than this share of the pair's files asks first.
    pub max_delete_percent: u32,
    /// The bucket the pair was made for.
    pub bucket: String,
    pub created_ms: i64,
}

const COLUMNS: &str =
    "id, name, policy_id, local_root, prefix, mode, paused, max_delete_percent, bucket, created_ms";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PairRow> {
    Ok(PairRow {
        id: r.get(0)?,
        name: r.get(1)?,
        policy_id: r.get(2)?,
        local_root: r.get(3)?,
        prefix: r.get(4)?,
        mode: r.get(5)?,
        paused: r.get(6)?,
        max_delete_percent: r.get(7)?,
        bucket: r.get(8)?,
        created_ms: r.get(9)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl Store {
    /// Inserts a pair; `row.id` is ignored and the new id returned.
    pub fn insert_pair(&mut self, row: &PairRow) -> Result<i64> {
        let res = self.conn().execute(
            "INSERT INTO pair (name, policy_id, local_root, prefix, mode, paused, max_delete_percent,
                               bucket, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                row.name,
                row.policy_id,
                row.local_root,
                row.prefix,
                row.mode,
                row.paused,
                row.max_delete_percent,
                row.bucket,
                row.created_ms
            ],
        );
        match res {
            Ok(_) => Ok(self.conn().last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Exists { what: "pair", name: row.name.clone() })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn pair(&self, name: &str) -> Result<Option<PairRow>> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM pair WHERE name = ?1"), [name], from_row)
            .optional()?)
    }

    pub fn pair_by_id(&self, id: i64) -> Result<Option<PairRow>> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM pair WHERE id = ?1"), [id], from_row)
            .optional()?)
    }

    pub fn list_pairs(&self) -> Result<Vec<PairRow>> {
        let mut stmt = self.conn().prepare(&format!("SELECT {COLUMNS} FROM pair ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Pairs that use the policy with this id.
    pub fn pairs_of_policy(&self, policy_id: i64) -> Result<Vec<PairRow>> {
        let mut stmt =
            self.conn().prepare(&format!("SELECT {COLUMNS} FROM pair WHERE policy_id = ?1 ORDER BY name"))?;
        let rows = stmt.query_map([policy_id], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn set_pair_paused(&mut self, name: &str, paused: bool) -> Result<()> {
        let n = self.conn().execute("UPDATE pair SET paused = ?2 WHERE name = ?1", params![name, paused])?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "pair", name: name.to_string() });
        }
        Ok(())
    }

    /// Changes how a pair syncs (its mode and delete guard); the root, the
    /// bucket and the sync state stay.
    pub fn update_pair_settings(&mut self, name: &str, mode: &str, max_delete_percent: u32) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE pair SET mode = ?2, max_delete_percent = ?3 WHERE name = ?1",
            params![name, mode, max_delete_percent],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "pair", name: name.to_string() });
        }
        Ok(())
    }

    /// Removes the pair and, by cascade, its base state, uploads and journal.
    pub fn delete_pair(&mut self, name: &str) -> Result<()> {
        let n = self.conn_mut().execute("DELETE FROM pair WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "pair", name: name.to_string() });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store with one policy, and a pair row using it.
    pub fn with_pair(name: &str) -> (Store, PairRow) {
        let mut s = Store::open_in_memory().unwrap();
        let policy_id = s.insert_policy(&crate::policy::tests::sample("p")).unwrap();
        let mut row = PairRow {
            id: 0,
            name: name.into(),
            policy_id,
            local_root: "/home/me/Photos".into(),
            prefix: "photos/".into(),
            mode: "two-way".into(),
            paused: false,
            max_delete_percent: 50,
            bucket: "photos".into(),
            created_ms: 1,
        };
        row.id = s.insert_pair(&row).unwrap();
        (s, row)
    }

    #[test]
    fn insert_get_pause_delete() {
        let (mut s, row) = with_pair("photos");
        assert_eq!(s.pair("photos").unwrap().unwrap(), row);
        assert_eq!(s.pair_by_id(row.id).unwrap().unwrap().name, "photos");
        s.set_pair_paused("photos", true).unwrap();
        s.update_pair_settings("photos", "upload", 10).unwrap();
        let changed = s.pair("photos").unwrap().unwrap();
        assert_eq!((changed.mode.as_str(), changed.max_delete_percent), ("upload", 10));
        assert!(s.pair("photos").unwrap().unwrap().paused, "pause is stored");
        assert_eq!(s.pairs_of_policy(row.policy_id).unwrap().len(), 1);
        s.delete_pair("photos").unwrap();
        assert!(s.list_pairs().unwrap().is_empty());
    }

    #[test]
    fn names_are_unique_and_unknown_names_are_typed_errors() {
        let (mut s, row) = with_pair("a");
        assert!(matches!(s.insert_pair(&row), Err(StoreError::Exists { .. })));
        assert!(matches!(s.set_pair_paused("nope", true), Err(StoreError::NotFound { .. })));
        assert!(matches!(s.delete_pair("nope"), Err(StoreError::NotFound { .. })));
    }

    #[test]
    fn a_policy_in_use_cannot_be_removed() {
        // The pair's sync state would be orphaned: the foreign key refuses.
        let (mut s, _) = with_pair("a");
        assert!(s.delete_policy("p").is_err());
    }
}
