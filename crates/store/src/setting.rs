//! The `setting` table: home-wide settings by name (e.g. how many days the
//! trash keeps files), as text.

use crate::{Result, Store};
use rusqlite::{params, OptionalExtension};

impl Store {
    pub fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM setting WHERE name = ?1", [name], |r| r.get(0))
            .optional()?)
    }

    pub fn set_setting(&mut self, name: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO setting (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_round_trip_and_replace() {
        let mut s = crate::Store::open_in_memory().unwrap();
        assert_eq!(s.setting("trash_keep_days").unwrap(), None);
        s.set_setting("trash_keep_days", "7").unwrap();
        s.set_setting("trash_keep_days", "9").unwrap();
        assert_eq!(s.setting("trash_keep_days").unwrap().as_deref(), Some("9"));
    }
}
