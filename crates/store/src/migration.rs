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
        // 2: sync state. A pair records the bucket and prefix it was made
        // for, so a policy pointed at another bucket stops the pair instead
        // of planning against the wrong listing.
        M::up(
            "CREATE TABLE pair (
                id                  INTEGER PRIMARY KEY,
                name                TEXT NOT NULL UNIQUE,
                policy_id           INTEGER NOT NULL REFERENCES policy(id) ON DELETE RESTRICT,
                local_root          TEXT NOT NULL,
                prefix              TEXT NOT NULL,
                mode                TEXT NOT NULL,
                paused              INTEGER NOT NULL DEFAULT 0,
                max_delete_percent  INTEGER NOT NULL DEFAULT 50,
                bucket              TEXT NOT NULL,
                created_ms          INTEGER NOT NULL
            ) STRICT;

            -- What both sides looked like when a path was last in sync.
            CREATE TABLE baseline (
                pair_id          INTEGER NOT NULL REFERENCES pair(id) ON DELETE CASCADE,
                path             TEXT NOT NULL,
                local_size       INTEGER NOT NULL,
                local_mtime_ms   INTEGER NOT NULL,
                local_inode      INTEGER,
                local_hash       TEXT,
                remote_etag      TEXT NOT NULL,
                remote_size      INTEGER NOT NULL,
                remote_mtime_ms  INTEGER,
                synced_ms        INTEGER NOT NULL,
                PRIMARY KEY (pair_id, path)
            ) STRICT, WITHOUT ROWID;

            -- Multipart uploads in flight, so a restart resumes them.
            CREATE TABLE upload (
                pair_id      INTEGER NOT NULL REFERENCES pair(id) ON DELETE CASCADE,
                key          TEXT NOT NULL,
                upload_id    TEXT NOT NULL,
                local_path   TEXT NOT NULL,
                size         INTEGER NOT NULL,
                mtime_ms     INTEGER NOT NULL,
                part_size    INTEGER NOT NULL,
                started_ms   INTEGER NOT NULL,
                PRIMARY KEY (pair_id, key)
            ) STRICT;

            CREATE TABLE upload_part (
                pair_id  INTEGER NOT NULL,
                key      TEXT NOT NULL,
                number   INTEGER NOT NULL,
                etag     TEXT NOT NULL,
                size     INTEGER NOT NULL,
                PRIMARY KEY (pair_id, key, number),
                FOREIGN KEY (pair_id, key) REFERENCES upload(pair_id, key) ON DELETE CASCADE
            ) STRICT;

            -- The activity log the UI and `status` show.
            CREATE TABLE journal (
                id       INTEGER PRIMARY KEY,
                pair_id  INTEGER REFERENCES pair(id) ON DELETE CASCADE,
                at_ms    INTEGER NOT NULL,
                action   TEXT NOT NULL,
                path     TEXT NOT NULL,
                detail   TEXT,
                bytes    INTEGER
            ) STRICT;
            CREATE INDEX journal_pair_at ON journal(pair_id, at_ms);",
        ),
        // 3: home-wide settings by name (the desktop app's poll interval,
        // concurrency, ...; issue 8's trash retention), and when a policy's
        // keys expire (R2 tokens can carry a TTL) so the app can remind
        // ahead of time.
        M::up(
            "CREATE TABLE setting (
                name   TEXT PRIMARY KEY,
                value  TEXT NOT NULL
            ) STRICT;

            CREATE TABLE key_expiry (
                policy_id    INTEGER PRIMARY KEY REFERENCES policy(id) ON DELETE CASCADE,
                -- YYYY-MM-DD, the day the provider says the keys stop working.
                expires_on   TEXT NOT NULL,
                -- The last reminder shown: 'week' or 'day'.
                reminded     TEXT
            ) STRICT;",
        ),
        // 4: the deletes a guard stopped at, per pair, as they were shown
        // (issue 8, point 6): a confirmation names the set by its id and
        // applies to it only, and it survives a restart.
        M::up(
            "CREATE TABLE pending_delete_set (
                pair_id    INTEGER PRIMARY KEY REFERENCES pair(id) ON DELETE CASCADE,
                set_id     TEXT NOT NULL,
                -- 'share' or 'emptied-root'
                why        TEXT NOT NULL,
                reason     TEXT NOT NULL,
                asked_ms   INTEGER NOT NULL,
                confirmed  INTEGER NOT NULL DEFAULT 0
            ) STRICT;

            CREATE TABLE pending_delete (
                pair_id   INTEGER NOT NULL REFERENCES pending_delete_set(pair_id) ON DELETE CASCADE,
                -- the order they were shown in
                position  INTEGER NOT NULL,
                -- 'local' or 'remote'
                side      TEXT NOT NULL,
                path      TEXT NOT NULL,
                version   TEXT NOT NULL,
                PRIMARY KEY (pair_id, position)
            ) STRICT, WITHOUT ROWID;",
        ),
        // 5: "keep the files" recorded as a decision on the set, like a
        // confirmation, so a CLI beside a running daemon or app can decide
        // and the engine applies it inside its own pass.
        M::up("ALTER TABLE pending_delete_set ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;"),
        // 6: an upload in flight pins the content it started with (issue 8,
        // point 3): size and mtime alone let a rewrite that kept both
        // finish from the old file's parts. Rows from before have NULLs
        // here and are never resumed, only aborted.
        M::up(
            "ALTER TABLE upload ADD COLUMN sha256 TEXT;
            ALTER TABLE upload ADD COLUMN inode INTEGER;
            ALTER TABLE upload ADD COLUMN device INTEGER;",
        ),
        // 7: whether the policy's server honours conditional writes
        // (If-None-Match / If-Match on PutObject and
        // CompleteMultipartUpload), as `policy probe` observed it (issue 8,
        // point 2): 'unknown' | 'honoured' | 'ignored'. Policies from
        // before were never probed for it: 'unknown', so the engine keeps
        // its HEAD before each write.
        M::up("ALTER TABLE policy ADD COLUMN conditional_writes TEXT NOT NULL DEFAULT 'unknown';"),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
