//! The `key_expiry` table: the day a policy's keys stop working (as the
//! user read it from the provider), and which reminder was shown last.

use crate::{Result, Store};
use rusqlite::{params, OptionalExtension, Row};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyExpiryRow {
    pub policy_id: i64,
    /// `YYYY-MM-DD`
    pub expires_on: String,
    /// `week` or `day`: the last reminder shown for this date.
    pub reminded: Option<String>,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<KeyExpiryRow> {
    Ok(KeyExpiryRow { policy_id: r.get(0)?, expires_on: r.get(1)?, reminded: r.get(2)? })
}

impl Store {
    pub fn key_expiry(&self, policy_id: i64) -> Result<Option<KeyExpiryRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT policy_id, expires_on, reminded FROM key_expiry WHERE policy_id = ?1",
                [policy_id],
                from_row,
            )
            .optional()?)
    }

    pub fn key_expiries(&self) -> Result<Vec<KeyExpiryRow>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT policy_id, expires_on, reminded FROM key_expiry ORDER BY policy_id")?;
        let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Sets (a new date forgets earlier reminders) or clears the expiry date.
    pub fn set_key_expiry(&mut self, policy_id: i64, expires_on: Option<&str>) -> Result<()> {
        match expires_on {
            Some(day) => self.conn().execute(
                "INSERT INTO key_expiry (policy_id, expires_on, reminded) VALUES (?1, ?2, NULL)
                 ON CONFLICT (policy_id) DO UPDATE SET expires_on = excluded.expires_on,
                   reminded = CASE WHEN key_expiry.expires_on = excluded.expires_on
                                   THEN key_expiry.reminded ELSE NULL END",
                params![policy_id, day],
            )?,
            None => self.conn().execute("DELETE FROM key_expiry WHERE policy_id = ?1", [policy_id])?,
        };
        Ok(())
    }

    pub fn set_key_reminded(&mut self, policy_id: i64, reminded: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE key_expiry SET reminded = ?2 WHERE policy_id = ?1",
            params![policy_id, reminded],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn a_new_date_forgets_the_reminder_and_removing_the_policy_removes_the_row() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s.insert_policy(&crate::policy::tests::sample("p")).unwrap();
        s.set_key_expiry(id, Some("2030-01-31")).unwrap();
        s.set_key_reminded(id, "week").unwrap();
        s.set_key_expiry(id, Some("2030-01-31")).unwrap();
        assert_eq!(s.key_expiry(id).unwrap().unwrap().reminded.as_deref(), Some("week"), "same date: kept");
        s.set_key_expiry(id, Some("2030-03-01")).unwrap();
        assert_eq!(s.key_expiry(id).unwrap().unwrap().reminded, None, "new date: remind again");
        assert_eq!(s.key_expiries().unwrap().len(), 1);
        s.delete_policy("p").unwrap();
        assert!(s.key_expiry(id).unwrap().is_none());
    }
}
