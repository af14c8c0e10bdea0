//! The `pending_delete_set` and `pending_delete` tables: per pair, the
//! deletes a guard stopped at, exactly as they were shown. A confirmation
//! names the set by its id and applies to it only; keeping the files
//! forgets exactly its base rows. Kept here rather than in a runner's
//! memory so a confirmation survives a restart and the CLI's next
//! `sync --confirm-deletes` confirms what the previous run printed. A
//! decision (confirm, or keep the files) is recorded on the set and applied
//! by the engine's next pass, whichever process decided.

use crate::{Result, Store};
use rusqlite::{params, OptionalExtension};

/// One delete of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDelete {
    /// `local` or `remote`: the side it would be deleted from.
    pub side: String,
    pub path: String,
    /// The version that would be deleted (the engine's opaque token).
    pub version: String,
}

/// A pair's set of deletes waiting for a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDeleteSet {
    pub pair_id: i64,
    /// Names this exact list: what a confirmation quotes.
    pub set_id: String,
    /// Why it was asked (`share`, `emptied-root`).
    pub why: String,
    /// Why it was asked, in words, as shown.
    pub reason: String,
    pub asked_ms: i64,
    /// The user said yes to this set; the next pass may apply it.
    pub confirmed: bool,
    /// The user said keep the files: the next pass forgets these base rows
    /// (nothing is deleted; each file is copied back where it is missing).
    pub kept: bool,
    pub deletes: Vec<PendingDelete>,
}

impl Store {
    /// The pair's pending set, with its deletes in the order they were shown.
    pub fn pending_deletes(&self, pair_id: i64) -> Result<Option<PendingDeleteSet>> {
        let head = self
            .conn()
            .query_row(
                "SELECT set_id, why, reason, asked_ms, confirmed, kept FROM pending_delete_set WHERE pair_id = ?1",
                [pair_id],
                |r| {
                    Ok(PendingDeleteSet {
                        pair_id,
                        set_id: r.get(0)?,
                        why: r.get(1)?,
                        reason: r.get(2)?,
                        asked_ms: r.get(3)?,
                        confirmed: r.get::<_, i64>(4)? != 0,
                        kept: r.get::<_, i64>(5)? != 0,
                        deletes: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut set) = head else { return Ok(None) };
        let mut stmt = self
            .conn()
            .prepare("SELECT side, path, version FROM pending_delete WHERE pair_id = ?1 ORDER BY position")?;
        set.deletes = stmt
            .query_map([pair_id], |r| {
                Ok(PendingDelete { side: r.get(0)?, path: r.get(1)?, version: r.get(2)? })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(set))
    }

    /// Replaces the pair's pending set (one transaction: never half a list).
    /// Asked again for the same list, a decision already recorded on it
    /// stands (it may come from another process while a pass ran).
    pub fn put_pending_deletes(&mut self, set: &PendingDeleteSet) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        let (confirmed, kept) = tx
            .query_row(
                "SELECT confirmed, kept FROM pending_delete_set WHERE pair_id = ?1 AND set_id = ?2",
                params![set.pair_id, set.set_id],
                |r| Ok((r.get::<_, i64>(0)? != 0, r.get::<_, i64>(1)? != 0)),
            )
            .optional()?
            .unwrap_or((false, false));
        let (confirmed, kept) = (set.confirmed || confirmed, set.kept || kept);
        tx.execute("DELETE FROM pending_delete_set WHERE pair_id = ?1", [set.pair_id])?;
        tx.execute(
            "INSERT INTO pending_delete_set (pair_id, set_id, why, reason, asked_ms, confirmed, kept)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                set.pair_id,
                set.set_id,
                set.why,
                set.reason,
                set.asked_ms,
                confirmed as i64,
                kept as i64
            ],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO pending_delete (pair_id, position, side, path, version) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (i, d) in set.deletes.iter().enumerate() {
                insert.execute(params![set.pair_id, i as i64, d.side, d.path, d.version])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks the pair's pending set confirmed if its id is `set_id`;
    /// false when no set of that id waits (it changed, or was applied).
    pub fn confirm_pending_deletes(&mut self, pair_id: i64, set_id: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE pending_delete_set SET confirmed = 1 WHERE pair_id = ?1 AND set_id = ?2",
            params![pair_id, set_id],
        )?;
        Ok(n == 1)
    }

    /// Marks the pair's pending set "keep the files" if its id is `set_id`
    /// (and takes back a confirmation of it); false when no set of that id
    /// waits.
    pub fn keep_pending_deletes(&mut self, pair_id: i64, set_id: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE pending_delete_set SET kept = 1, confirmed = 0 WHERE pair_id = ?1 AND set_id = ?2",
            params![pair_id, set_id],
        )?;
        Ok(n == 1)
    }

    /// Forgets the pair's pending set (applied, kept, or no longer asked).
    pub fn clear_pending_deletes(&mut self, pair_id: i64) -> Result<()> {
        self.conn().execute("DELETE FROM pending_delete_set WHERE pair_id = ?1", [pair_id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pair::tests::with_pair;

    fn set(pair_id: i64, id: &str, paths: &[&str]) -> PendingDeleteSet {
        PendingDeleteSet {
            pair_id,
            set_id: id.into(),
            why: "share".into(),
            reason: "3 of 4".into(),
            asked_ms: 5,
            confirmed: false,
            kept: false,
            deletes: paths
                .iter()
                .map(|p| PendingDelete { side: "remote".into(), path: p.to_string(), version: "1:e".into() })
                .collect(),
        }
    }

    #[test]
    fn a_set_round_trips_in_order_is_replaced_whole_and_confirmed_only_by_its_id() {
        let (mut s, pair) = with_pair("docs");
        assert_eq!(s.pending_deletes(pair.id).unwrap(), None);
        s.put_pending_deletes(&set(pair.id, "one", &["z", "a", "m"])).unwrap();
        let got = s.pending_deletes(pair.id).unwrap().unwrap();
        assert_eq!(got.deletes.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["z", "a", "m"]);
        assert!(!s.confirm_pending_deletes(pair.id, "other").unwrap(), "another id confirms nothing");
        s.put_pending_deletes(&set(pair.id, "two", &["b"])).unwrap();
        assert!(!s.confirm_pending_deletes(pair.id, "one").unwrap(), "a replaced set is gone");
        assert!(s.confirm_pending_deletes(pair.id, "two").unwrap());
        let got = s.pending_deletes(pair.id).unwrap().unwrap();
        assert!(got.confirmed && got.deletes.len() == 1, "{got:?}");
        s.clear_pending_deletes(pair.id).unwrap();
        assert_eq!(s.pending_deletes(pair.id).unwrap(), None);
    }

    #[test]
    fn keeping_is_recorded_by_id_and_takes_a_confirmation_back() {
        let (mut s, pair) = with_pair("docs");
        s.put_pending_deletes(&set(pair.id, "one", &["a"])).unwrap();
        assert!(!s.keep_pending_deletes(pair.id, "other").unwrap(), "another id keeps nothing");
        assert!(s.confirm_pending_deletes(pair.id, "one").unwrap());
        assert!(s.keep_pending_deletes(pair.id, "one").unwrap());
        let got = s.pending_deletes(pair.id).unwrap().unwrap();
        assert!(got.kept && !got.confirmed, "the last decision stands: {got:?}");
        // A pass that asks again for the same list does not erase the decision.
        s.put_pending_deletes(&set(pair.id, "one", &["a"])).unwrap();
        assert!(s.pending_deletes(pair.id).unwrap().unwrap().kept);
        s.put_pending_deletes(&set(pair.id, "two", &["a", "b"])).unwrap();
        assert!(!s.pending_deletes(pair.id).unwrap().unwrap().kept, "a new list starts undecided");
    }

    #[test]
    fn removing_the_pair_removes_its_set() {
        let (mut s, pair) = with_pair("docs");
        s.put_pending_deletes(&set(pair.id, "one", &["a"])).unwrap();
        s.delete_pair("docs").unwrap();
        assert_eq!(s.pending_deletes(pair.id).unwrap(), None);
    }
}
