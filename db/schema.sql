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

-- migrate: 2 audit log
-- One row per outbound HTTP attempt (kind 'call') or security event (kind
-- 'event'). Append-only and hash-chained: hash = SHA-256(prev_hash ||
-- canonical row). Never holds Authorization values, tokens, client secrets,
-- passwords or cookies; Issuance read bodies are summarised (count, ids).
CREATE TABLE audit_log (
    id                  INTEGER PRIMARY KEY,
    at                  INTEGER NOT NULL,              -- ms since epoch, UTC; never decreases with id
    kind                TEXT    NOT NULL CHECK (kind IN ('call', 'event')),
    api                 TEXT    NOT NULL DEFAULT '',   -- issuance, cashlink ('' for events)
    method              TEXT    NOT NULL DEFAULT '',
    path                TEXT    NOT NULL DEFAULT '',   -- path and query, secrets removed
    status              INTEGER NOT NULL DEFAULT 0,    -- 0 = no HTTP answer (network error, timeout)
    duration_ms         INTEGER NOT NULL DEFAULT 0,
    attempt             INTEGER NOT NULL DEFAULT 0,
    idem_key            TEXT    NOT NULL DEFAULT '',
    replayed            INTEGER NOT NULL DEFAULT 0,
    upstream_request_id TEXT    NOT NULL DEFAULT '',
    error               TEXT    NOT NULL DEFAULT '',
    actor               TEXT    NOT NULL DEFAULT '',   -- user e-mail, or 'system'
    job                 TEXT    NOT NULL DEFAULT '',
    row_ref             TEXT    NOT NULL DEFAULT '',
    event               TEXT    NOT NULL DEFAULT '',   -- login, login_failed, logout, role_changed, ...
    detail              TEXT    NOT NULL DEFAULT '',
    request_body        TEXT    NOT NULL DEFAULT '',
    response_body       TEXT    NOT NULL DEFAULT '',
    prev_hash           BLOB    NOT NULL,
    hash                BLOB    NOT NULL
);
-- Keyset pages are "WHERE <filter> AND id < ? ORDER BY id DESC": an index
-- on the filter column ends with the rowid, so each is one index range walk.
CREATE INDEX audit_api      ON audit_log (api);
CREATE INDEX audit_class    ON audit_log (status / 100);  -- status class: 2, 4, 5; 0 = no answer
CREATE INDEX audit_idem     ON audit_log (idem_key) WHERE idem_key <> '';
CREATE INDEX audit_actor    ON audit_log (actor);
CREATE INDEX audit_job      ON audit_log (job) WHERE job <> '';
CREATE INDEX audit_at       ON audit_log (at);            -- turns a time range into an id range

-- migrate: 3 saved searches and preferences
-- Saved investment searches are shared by all users of the console.
CREATE TABLE saved_searches (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    query      TEXT    NOT NULL,  -- canonical query string of /investments
    created_at INTEGER NOT NULL
);
CREATE INDEX saved_searches_name ON saved_searches (name);

-- Per-user settings such as the columns of the investment table.
CREATE TABLE user_prefs (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
