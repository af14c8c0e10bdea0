//! The schema, as an append-only list. Each migration runs in its own
//! transaction together with its `user_version` bump (rusqlite_migration).
//! Never edit a migration that has shipped: add a new one.

use rusqlite_migration::{Migrations, M};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        // 1: storage policies. The secret is never here: `secret_source` says
        // where to find it (keyring | env:VAR | file:PATH).
        M::up(
            "CREATE TABLE policy (
                id             INTEGER PRIMARY KEY,
                name           TEXT NOT NULL UNIQUE,
                provider       TEXT NOT NULL,
                endpoint       TEXT,
                region         TEXT NOT NULL,
                bucket         TEXT NOT NULL,
                addressing     TEXT NOT NULL,
                public         INTEGER NOT NULL DEFAULT 0,
                cdn_url        TEXT,
                account_id     TEXT,
                access_key_id  TEXT NOT NULL,
                secret_source  TEXT NOT NULL,
                created_ms     INTEGER NOT NULL,
                updated_ms     INTEGER NOT NULL
            ) STRICT;",
        ),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
