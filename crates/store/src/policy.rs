//! The `policy` table: one row per storage policy.

use crate::{Result, Store, StoreError};
use rusqlite::{params, OptionalExtension, Row};

/// A storage policy as stored. Field meanings live in bucketsync-api's
/// policy module; here they are just columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub provider: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// `path-style` | `virtual-host`
    pub addressing: String,
    pub public: bool,
    pub cdn_url: Option<String>,
    pub account_id: Option<String>,
    pub access_key_id: String,
    /// `keyring` | `env:VAR` | `file:PATH`: a reference, never the secret.
    pub secret_source: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// What `policy probe` observed of conditional writes on this server:
    /// `unknown` | `honoured` | `ignored` (see
    /// bucketsync-remote's `probe::ConditionalWrites`).
    pub conditional_writes: String,
}

const COLUMNS: &str = "id, name, provider, endpoint, region, bucket, addressing, public, cdn_url, \
                       account_id, access_key_id, secret_source, created_ms, updated_ms, \
                       conditional_writes";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PolicyRow> {
    Ok(PolicyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        provider: r.get(2)?,
        endpoint: r.get(3)?,
        region: r.get(4)?,
        bucket: r.get(5)?,
        addressing: r.get(6)?,
        public: r.get(7)?,
        cdn_url: r.get(8)?,
        account_id: r.get(9)?,
        access_key_id: r.get(10)?,
        secret_source: r.get(11)?,
        created_ms: r.get(12)?,
        updated_ms: r.get(13)?,
        conditional_writes: r.get(14)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl Store {
    /// Inserts a policy; `row.id` is ignored and the new id returned.
    pub fn insert_policy(&mut self, row: &PolicyRow) -> Result<i64> {
        let res = self.conn().execute(
            "INSERT INTO policy (name, provider, endpoint, region, bucket, addressing, public, cdn_url,
                                 account_id, access_key_id, secret_source, created_ms, updated_ms,
                                 conditional_writes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                row.name,
                row.provider,
                row.endpoint,
                row.region,
                row.bucket,
                row.addressing,
                row.public,
                row.cdn_url,
                row.account_id,
                row.access_key_id,
                row.secret_source,
                row.created_ms,
                row.updated_ms,
                row.conditional_writes
            ],
        );
        match res {
            Ok(_) => Ok(self.conn().last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Exists { what: "policy", name: row.name.clone() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Rewrites every column but `id`, `name` and `created_ms`; the id stays,
    /// so pairs and their sync state stay attached.
    pub fn update_policy(&mut self, row: &PolicyRow) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE policy SET provider = ?2, endpoint = ?3, region = ?4, bucket = ?5, addressing = ?6,
                    public = ?7, cdn_url = ?8, account_id = ?9, access_key_id = ?10,
                    secret_source = ?11, updated_ms = ?12, conditional_writes = ?13
             WHERE name = ?1",
            params![
                row.name,
                row.provider,
                row.endpoint,
                row.region,
                row.bucket,
                row.addressing,
                row.public,
                row.cdn_url,
                row.account_id,
                row.access_key_id,
                row.secret_source,
                row.updated_ms,
                row.conditional_writes
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "policy", name: row.name.clone() });
        }
        Ok(())
    }

    /// Records what a probe observed of conditional writes (nothing else
    /// changes, `updated_ms` neither: the connection is the same).
    pub fn set_policy_conditional_writes(&mut self, name: &str, observed: &str) -> Result<()> {
        let n = self
            .conn()
            .execute("UPDATE policy SET conditional_writes = ?2 WHERE name = ?1", params![name, observed])?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "policy", name: name.to_string() });
        }
        Ok(())
    }

    pub fn policy(&self, name: &str) -> Result<Option<PolicyRow>> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM policy WHERE name = ?1"), [name], from_row)
            .optional()?)
    }

    pub fn policy_by_id(&self, id: i64) -> Result<Option<PolicyRow>> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM policy WHERE id = ?1"), [id], from_row)
            .optional()?)
    }

    pub fn list_policies(&self) -> Result<Vec<PolicyRow>> {
        let mut stmt = self.conn().prepare(&format!("SELECT {COLUMNS} FROM policy ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn delete_policy(&mut self, name: &str) -> Result<()> {
        let n = self.conn_mut().execute("DELETE FROM policy WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "policy", name: name.to_string() });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample(name: &str) -> PolicyRow {
        PolicyRow {
            id: 0,
            name: name.into(),
            provider: "b2".into(),
            endpoint: Some("https://s3.us-west-004.backblazeb2.com".into()),
            region: "us-west-004".into(),
            bucket: "photos".into(),
            addressing: "virtual-host".into(),
            public: false,
            cdn_url: None,
            account_id: None,
            access_key_id: "004abc".into(),
            secret_source: "keyring".into(),
            created_ms: 1,
            updated_ms: 1,
            conditional_writes: "unknown".into(),
        }
    }

    #[test]
    fn insert_get_update_delete() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s.insert_policy(&sample("b2")).unwrap();
        let mut row = s.policy("b2").unwrap().unwrap();
        assert_eq!(row.id, id);
        row.region = "eu-central-003".into();
        row.updated_ms = 2;
        s.update_policy(&row).unwrap();
        let after = s.policy_by_id(id).unwrap().unwrap();
        assert_eq!(after.region, "eu-central-003");
        assert_eq!(after.created_ms, 1, "update keeps the creation time");
        s.delete_policy("b2").unwrap();
        assert!(s.policy("b2").unwrap().is_none());
    }

    #[test]
    fn a_probe_observation_is_kept_apart_from_the_settings() {
        let mut s = Store::open_in_memory().unwrap();
        s.insert_policy(&sample("p")).unwrap();
        assert_eq!(s.policy("p").unwrap().unwrap().conditional_writes, "unknown");
        s.set_policy_conditional_writes("p", "honoured").unwrap();
        let row = s.policy("p").unwrap().unwrap();
        assert_eq!((row.conditional_writes.as_str(), row.updated_ms), ("honoured", 1));
        assert!(matches!(
            s.set_policy_conditional_writes("nope", "ignored"),
            Err(StoreError::NotFound { .. })
        ));
    }

    /// A policy saved before migration 7 was never probed for conditional
    /// writes: it reads as unknown, so the engine keeps its HEAD.
    #[test]
    fn policies_from_before_migration_7_are_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bucketsync.db");
        {
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            crate::migration::migrations().to_version(&mut conn, 6).unwrap();
            conn.execute(
                "INSERT INTO policy (name, provider, region, bucket, addressing, access_key_id,
                                     secret_source, created_ms, updated_ms)
                 VALUES ('old', 'garage', 'garage', 'b', 'path-style', 'k', 'keyring', 1, 1)",
                [],
            )
            .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.policy("old").unwrap().unwrap().conditional_writes, "unknown");
    }

    #[test]
    fn duplicate_names_are_refused_with_a_typed_error() {
        let mut s = Store::open_in_memory().unwrap();
        s.insert_policy(&sample("x")).unwrap();
        assert!(matches!(s.insert_policy(&sample("x")), Err(StoreError::Exists { .. })));
        assert!(matches!(s.delete_policy("nope"), Err(StoreError::NotFound { .. })));
    }
}
