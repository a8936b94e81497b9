-- Issuer Console: schema of console.db.
--
-- Append-only. Each "-- migrate: N title" section runs once, in order, in its
-- own transaction, on databases whose recorded version (table schema_version,
-- component 'console') is below N. Never edit a section that has shipped: add one.
-- Times are INTEGER milliseconds since the Unix epoch, UTC.

-- migrate: 1 accounts and sessions
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    name          TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,                 -- bcrypt
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'auditor')),
    disabled_at   INTEGER,                          -- NULL while active
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Server-side session records. The cookie carries a random session id inside
-- an encrypted, signed gorilla/sessions cookie; only its SHA-256 is stored here,
-- so a copy of the database cannot be replayed as a login.
CREATE TABLE sessions (
    id_hash      BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    client_addr  TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);
