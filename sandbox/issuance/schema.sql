-- Issuance emulator: its tables in sandbox.db (component 'issuance').
--
-- Append-only: each "-- migrate: N title" section runs once, in order. Table
-- names start with iss_ because the Cashlink emulator shares the file.
-- Money is INTEGER cents, prices INTEGER micro-units (6 places), times
-- INTEGER microseconds since the Unix epoch (UTC). Columns ending in _u hold
-- the per-character upper-case form of a searched text (DRF's icontains on
-- PostgreSQL compares UPPER() forms; SQLite's upper() only knows ASCII).

-- migrate: 1 issuance emulator tables
CREATE TABLE iss_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE iss_issuers (
    id       INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL,
    archived INTEGER NOT NULL
);

CREATE TABLE iss_offerings (
    id         INTEGER PRIMARY KEY,
    issuer_id  INTEGER NOT NULL REFERENCES iss_issuers (id),
    name       TEXT    NOT NULL,
    name_u     TEXT    NOT NULL,
    slug       TEXT    NOT NULL,
    slug_u     TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    archived   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    opened_at  INTEGER,
    fixture    TEXT    NOT NULL, -- the record as the fixture format writes it
    api        TEXT    NOT NULL  -- the API's offering object, rendered once
);
CREATE INDEX iss_offerings_issuer ON iss_offerings (issuer_id);
CREATE INDEX iss_offerings_slug ON iss_offerings (slug);
CREATE INDEX iss_offerings_name ON iss_offerings (name);

CREATE TABLE iss_users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL,
    email_u       TEXT    NOT NULL,
    first_name    TEXT    NOT NULL,
    first_name_u  TEXT    NOT NULL,
    last_name     TEXT    NOT NULL,
    last_name_u   TEXT    NOT NULL,
    password_hash TEXT             -- set for users created through the API
);
CREATE INDEX iss_users_email ON iss_users (email);
CREATE INDEX iss_users_first_name ON iss_users (first_name);
CREATE INDEX iss_users_last_name ON iss_users (last_name);

CREATE TABLE iss_entities (
    id         INTEGER PRIMARY KEY,
    email      TEXT    NOT NULL,
    kyc_status TEXT    NOT NULL
);
CREATE INDEX iss_entities_email ON iss_entities (email);
CREATE INDEX iss_entities_kyc_status ON iss_entities (kyc_status);

CREATE TABLE iss_investors (
    id        INTEGER PRIMARY KEY,
    type      TEXT    NOT NULL,
    user_id   INTEGER REFERENCES iss_users (id),
    entity_id INTEGER REFERENCES iss_entities (id)
);
CREATE INDEX iss_investors_user ON iss_investors (user_id);
CREATE INDEX iss_investors_entity ON iss_investors (entity_id);
CREATE INDEX iss_investors_type ON iss_investors (type);

-- processed_at holds 9223372036854775807 for NULL, so one index serves the
-- filters and PostgreSQL's NULL ordering (NULLs are the largest value: last
-- ascending, first descending); the queries translate it.
CREATE TABLE iss_investments (
    id                        INTEGER PRIMARY KEY,
    offering_id               INTEGER NOT NULL REFERENCES iss_offerings (id),
    investor_id               INTEGER NOT NULL REFERENCES iss_investors (id),
    reference_id              TEXT    NOT NULL,
    -- DRF's search fields (reference_id, offering name, user e-mail, first
    -- and last name) upper-cased and joined by U+001F: Python's split()
    -- treats it as whitespace, so no search term spans two fields. Rebuilt
    -- when a user's e-mail changes.
    search_u                  TEXT    NOT NULL,
    status                    TEXT    NOT NULL,
    quantity                  INTEGER NOT NULL,
    price                     INTEGER NOT NULL,
    price_fees                INTEGER NOT NULL,
    price_payment_processing_fees INTEGER NOT NULL,
    amount                    INTEGER NOT NULL,
    shares_amount             INTEGER NOT NULL,
    payment_method            TEXT    NOT NULL,
    requested_payment_method  TEXT    NOT NULL,
    processing_issue_statuses TEXT    NOT NULL,
    has_investor_signed       INTEGER NOT NULL,
    is_approved               INTEGER,          -- NULL: no approval record
    watchlist_has_hits        INTEGER,          -- NULL: no watchlist record
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    processed_at              INTEGER NOT NULL, -- see above
    received_at               INTEGER,
    refunded_at               INTEGER,
    invested_at               INTEGER,
    payment_intent_id         TEXT    NOT NULL,
    extra                     TEXT              -- other API fields as a JSON object
);
-- Typical console queries: one offering, a status set, a date range, an
-- ordering. Each index ends in the rowid (id), which serves "-created_at, -id".
CREATE INDEX iss_inv_offering_created ON iss_investments (offering_id, created_at);
CREATE INDEX iss_inv_offering_status_created ON iss_investments (offering_id, status, created_at);
CREATE INDEX iss_inv_status_created ON iss_investments (status, created_at);
CREATE INDEX iss_inv_investor ON iss_investments (investor_id);
CREATE INDEX iss_inv_created ON iss_investments (created_at);
CREATE INDEX iss_inv_updated ON iss_investments (updated_at);
CREATE INDEX iss_inv_status_updated ON iss_investments (status, updated_at);
CREATE INDEX iss_inv_processed ON iss_investments (processed_at);
CREATE INDEX iss_inv_amount ON iss_investments (amount);
CREATE INDEX iss_inv_shares_amount ON iss_investments (shares_amount);
CREATE INDEX iss_inv_quantity ON iss_investments (quantity);
CREATE INDEX iss_inv_reference ON iss_investments (reference_id);
CREATE INDEX iss_inv_payment_method ON iss_investments (payment_method, status);

-- migrate: 2 trigram index of the investments' search
-- Posting lists per kind ('r' investments by reference_id, 'u' users by
-- e-mail and names) and trigram of the upper-cased text: ascending ids as
-- delta varints (searchindex.go builds them after a load). Users whose text
-- changed since then are listed in iss_search_dirty and always checked.
CREATE TABLE iss_search_grams (
    kind TEXT    NOT NULL,
    gram TEXT    NOT NULL,
    n    INTEGER NOT NULL, -- how many ids
    ids  BLOB    NOT NULL,
    PRIMARY KEY (kind, gram)
) WITHOUT ROWID;

CREATE TABLE iss_search_dirty (
    user_id INTEGER PRIMARY KEY
);

-- migrate: 3 investor type on investments, covering indexes for the heavy pairs
-- investor_type copies iss_investors.type (investors never change after a
-- load), so investor__type + status is one index range. The replaced
-- index is a prefix of its successor; a bulk load drops and recreates the
-- indexes of iss_investments that no later DROP removes. An index whose
-- columns after the equality ones are (created_at, rowid) lets SQLite stop
-- early in each IN value for "-created_at, -id" pages, so
-- iss_inv_status_created stays beside the amount-covering one.
ALTER TABLE iss_investments ADD COLUMN investor_type TEXT NOT NULL DEFAULT '';
UPDATE iss_investments SET investor_type = coalesce((SELECT v.type FROM iss_investors v WHERE v.id = iss_investments.investor_id), '');
DROP INDEX IF EXISTS iss_inv_investor;
CREATE INDEX iss_inv_status_created_amount ON iss_investments (status, created_at, amount);
CREATE INDEX iss_inv_investor_created ON iss_investments (investor_id, created_at, offering_id);
CREATE INDEX iss_inv_type_status_created ON iss_investments (investor_type, status, created_at);
CREATE INDEX iss_inv_offering_payment_amount ON iss_investments (offering_id, payment_method, amount);
CREATE INDEX iss_inv_offering_investor ON iss_investments (offering_id, investor_id);
CREATE INDEX iss_inv_status_updated_method ON iss_investments (status, updated_at, requested_payment_method);
PRAGMA analysis_limit = 2000;
ANALYZE;
