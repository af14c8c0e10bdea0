//! The `setting` table: the app's settings as key/value text. The meaning of
//! each key (and its default) belongs to bucketsync-api's settings module.

use crate::{Result, Store};
use rusqlite::{params, OptionalExtension};

impl Store {
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM setting WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO setting (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn absent_until_set_then_overwritten() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.setting("poll-seconds").unwrap(), None);
        s.set_setting("poll-seconds", "60").unwrap();
        s.set_setting("poll-seconds", "30").unwrap();
        assert_eq!(s.setting("poll-seconds").unwrap().as_deref(), Some("30"));
    }
}
