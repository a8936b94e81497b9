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

-- migrate: 4 imports into Cashlink
-- One row of meta holds this console's installation id: it prefixes every
-- idempotency key, so two consoles sharing Cashlink credentials can never
-- collide. Generated once, here.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('installation_id', lower(hex(randomblob(5))));

CREATE TABLE import_jobs (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    created_by    INTEGER NOT NULL REFERENCES users (id),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    step          TEXT    NOT NULL DEFAULT 'source',   -- furthest wizard step: source, mapping, documents, review, run, result
    state         TEXT    NOT NULL DEFAULT 'draft'     -- draft, running, paused, cancelled, done
                  CHECK (state IN ('draft', 'running', 'paused', 'cancelled', 'done')),
    source_kind   TEXT    NOT NULL DEFAULT '',         -- search, csv
    source_query  TEXT    NOT NULL DEFAULT '',
    campaign_id   TEXT    NOT NULL DEFAULT '',
    product_id    TEXT    NOT NULL DEFAULT '',
    doc_category  TEXT    NOT NULL DEFAULT 'Subscription',
    doc_subject   TEXT    NOT NULL DEFAULT 'Signed subscription agreement',
    confirmed_by  INTEGER REFERENCES users (id),
    confirmed_at  INTEGER,
    finished_at   INTEGER
);

CREATE TABLE import_rows (
    id                  INTEGER PRIMARY KEY,
    job_id              INTEGER NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    position            INTEGER NOT NULL,
    issuance_id         INTEGER NOT NULL,               -- the Issuance investment
    reference           TEXT    NOT NULL DEFAULT '',
    offering_id         INTEGER NOT NULL DEFAULT 0,
    issuance_status     TEXT    NOT NULL DEFAULT '',
    quantity            INTEGER NOT NULL DEFAULT 0,
    amount              TEXT    NOT NULL DEFAULT '',
    issuance_investor   INTEGER NOT NULL DEFAULT 0,     -- 0 = not known
    investor_name       TEXT    NOT NULL DEFAULT '',
    investor_email      TEXT    NOT NULL DEFAULT '',
    cashlink_investor   TEXT    NOT NULL DEFAULT '',
    units               INTEGER NOT NULL DEFAULT 0,
    signed_at           INTEGER,                        -- ms
    accepted_at         INTEGER,
    paid_at             INTEGER,
    skip                INTEGER NOT NULL DEFAULT 0,
    skip_reason         TEXT    NOT NULL DEFAULT '',
    state               TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'running', 'unknown', 'waiting', 'done', 'failed', 'skipped')),
    step                TEXT    NOT NULL DEFAULT 'documents'
                        CHECK (step IN ('documents', 'investment', 'wallet', 'credit', 'status', 'done')),
    error               TEXT    NOT NULL DEFAULT '',
    tries               INTEGER NOT NULL DEFAULT 0,
    cashlink_investment TEXT    NOT NULL DEFAULT '',
    wallet              TEXT    NOT NULL DEFAULT '',
    final_status        TEXT    NOT NULL DEFAULT '',
    updated_at          INTEGER NOT NULL,
    UNIQUE (job_id, issuance_id)
);
CREATE INDEX import_rows_job ON import_rows (job_id, state);

-- Signed PDFs, kept so an upload can be repeated after a crash. row_id NULL
-- means one document shared by every row of the job.
CREATE TABLE import_documents (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_id      INTEGER REFERENCES import_rows (id) ON DELETE CASCADE,
    filename    TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    content     BLOB    NOT NULL,
    category    TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    cashlink_id TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (job_id, sha256)
);
CREATE INDEX import_documents_row ON import_documents (row_id);

-- The idempotency ledger: every creating call's key and the fingerprint of
-- its body, written before the call; a key is never sent with another body.
CREATE TABLE import_calls (
    key         TEXT    PRIMARY KEY,
    job_id      INTEGER REFERENCES import_jobs (id) ON DELETE CASCADE,  -- NULL for redemptions
    row_id      INTEGER,
    step        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,   -- SHA-256 of the request body
    state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'rejected', 'unknown')),
    result_id   TEXT    NOT NULL DEFAULT '',
    status      INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX import_calls_row ON import_calls (row_id);

-- Issuance investor → Cashlink investor, remembered across jobs.
CREATE TABLE investor_mappings (
    issuance_investor INTEGER PRIMARY KEY,
    cashlink_investor TEXT    NOT NULL,
    source            TEXT    NOT NULL CHECK (source IN ('manual', 'csv', 'email', 'created', 'remembered')),
    updated_by        INTEGER REFERENCES users (id),
    updated_at        INTEGER NOT NULL
);

-- Every Issuance investment ever imported, so no job imports one twice.
CREATE TABLE imported_investments (
    issuance_id         INTEGER PRIMARY KEY,
    job_id              INTEGER NOT NULL REFERENCES import_jobs (id),
    row_id              INTEGER NOT NULL,
    cashlink_investment TEXT    NOT NULL,
    imported_at         INTEGER NOT NULL
);

-- Redemptions requested through the console; each request's id derives its
-- idempotency key. Status "unknown" needs manual investigation.
CREATE TABLE redemptions (
    id           INTEGER PRIMARY KEY,
    investor     TEXT    NOT NULL,
    product      TEXT    NOT NULL,
    wallet       TEXT    NOT NULL,
    units        INTEGER NOT NULL CHECK (units > 0),
    requested_by INTEGER NOT NULL REFERENCES users (id),
    requested_at INTEGER NOT NULL,
    cashlink_id  TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL DEFAULT 'requested',  -- requested, processing, success, failed, unknown, rejected, no_answer
    error        TEXT    NOT NULL DEFAULT '',
    updated_at   INTEGER NOT NULL
);

-- migrate: 5 find an investment's imports
-- The investment page links every import row of an Issuance investment.
CREATE INDEX import_rows_issuance ON import_rows (issuance_id);

-- migrate: 6 Cashlink catalog kept by the console
-- Cashlink's API lists no campaigns or products: the console keeps the ones
-- an admin entered (or the sandbox pre-filled), and the Cashlink investors
-- it knows by e-mail (created by it, mapped with an e-mail, or pre-filled).
CREATE TABLE cashlink_catalog (
    kind           TEXT    NOT NULL CHECK (kind IN ('campaign', 'product')),
    id             TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    currency       TEXT    NOT NULL DEFAULT '',
    price_per_unit TEXT    NOT NULL DEFAULT '',
    product_id     TEXT    NOT NULL DEFAULT '',     -- a campaign's product, if known
    source         TEXT    NOT NULL CHECK (source IN ('manual', 'sandbox')),
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE cashlink_investors (
    id         TEXT    PRIMARY KEY,
    email      TEXT    NOT NULL DEFAULT '',
    name       TEXT    NOT NULL DEFAULT '',
    wallets    INTEGER NOT NULL DEFAULT 0,
    source     TEXT    NOT NULL CHECK (source IN ('created', 'sandbox')),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX cashlink_investors_email ON cashlink_investors (lower(email));

-- migrate: 7 folded sign-in failures
-- Counters of failed sign-ins per (actor, client address, window), outside
-- the audit chain: the first failure of each is chained at once, the rest are
-- counted here and chained as one summary row when the window closes (then
-- the counter is deleted). See services/audit/signins.go.
CREATE TABLE login_failures (
    actor        TEXT    NOT NULL,   -- an existing user's e-mail, or "unknown e-mail #<keyed hash>"
    addr         TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    first_at     INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    PRIMARY KEY (actor, addr, window_start)
) WITHOUT ROWID;

-- migrate: 8 password changes and second factors
-- must_change_password: set by an admin's reset, cleared by the user's own change.
-- totp_secret / totp_pending: sealed with AES-GCM (key "secrets" in keys.json),
-- '' when absent; totp_last_step refuses a code used once already.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_pending TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
-- Recovery codes: shown once, stored as SHA-256, single use.
CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- migrate: 9 page an import's rows
-- The run page reads one page of rows by position (keyset), whatever the job's size.
CREATE INDEX import_rows_position ON import_rows (job_id, position);

-- migrate: 10 campaign state and limits in the catalog
-- Cashlink's API exposes no campaign, so the import's pre-flight reads
-- whether a campaign is active and its units per investment from the
-- console's catalog (entered from Cashlink Studio, or the sandbox's seed).
-- NULL = not recorded: the pre-flight says it could not check.
ALTER TABLE cashlink_catalog ADD COLUMN active INTEGER;
ALTER TABLE cashlink_catalog ADD COLUMN min_units INTEGER;
ALTER TABLE cashlink_catalog ADD COLUMN max_units INTEGER;

-- migrate: 11 signed documents matched before they are stored
-- A multi-file upload at the documents step is matched to rows by reference
-- id and shown before anything joins the job: the files wait here, one set
-- per job (the next preview replaces it, storing or discarding empties it,
-- and a set left alone for a day is removed by the next preview of any job).
-- Refused files keep no content.
CREATE TABLE import_pending_documents (
    id         INTEGER PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_id     INTEGER REFERENCES import_rows (id) ON DELETE CASCADE,
    filename   TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    sha256     TEXT    NOT NULL DEFAULT '',
    content    BLOB,
    problem    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX import_pending_documents_job ON import_pending_documents (job_id);
CREATE INDEX import_pending_documents_row ON import_pending_documents (row_id);
