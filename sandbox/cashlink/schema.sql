-- Cashlink emulator: its tables in sandbox.db (component 'cashlink').
--
-- Append-only: each "-- migrate: N title" section runs once, in order. Table
-- names start with cl_ because the Issuance emulator shares the file. Ids
-- are UUID strings; seq columns keep creation order (lists are oldest
-- first). Times are INTEGER microseconds since the Unix epoch, UTC. Money is
-- INTEGER minor units at the product's decimals.

-- migrate: 1 cashlink emulator tables
CREATE TABLE cl_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Access tokens: only their SHA-256 is kept.
CREATE TABLE cl_tokens (
    hash       BLOB    PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- space-separated, as granted
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE cl_products (
    seq      INTEGER PRIMARY KEY,
    id       TEXT    NOT NULL UNIQUE,
    name     TEXT    NOT NULL,
    currency TEXT    NOT NULL,
    decimals INTEGER NOT NULL
);

CREATE TABLE cl_campaigns (
    seq                     INTEGER PRIMARY KEY,
    id                      TEXT    NOT NULL UNIQUE,
    product_id              TEXT    NOT NULL REFERENCES cl_products (id),
    name                    TEXT    NOT NULL,
    price_per_token         INTEGER NOT NULL, -- minor units of the product's currency
    min_tokens              INTEGER NOT NULL,
    max_tokens              INTEGER NOT NULL,
    active                  INTEGER NOT NULL,
    natural_persons_allowed INTEGER NOT NULL,
    legal_persons_allowed   INTEGER NOT NULL,
    country                 TEXT    NOT NULL,
    rule_type               TEXT    NOT NULL
);

CREATE TABLE cl_investors (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    client_id      TEXT    NOT NULL,
    email          TEXT    NOT NULL DEFAULT '',
    natural_person TEXT    NOT NULL, -- JSON object as validated
    communication  TEXT,             -- JSON object or NULL
    extra          TEXT    NOT NULL DEFAULT '{}', -- bank_account, tax_information, ... (JSON object)
    kyc_status     TEXT    NOT NULL CHECK (kyc_status IN ('PENDING', 'SUCCESS', 'INSUFFICIENT')),
    seeded         INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);
CREATE INDEX cl_investors_email ON cl_investors (email);

CREATE TABLE cl_identifications (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    investor_id TEXT    NOT NULL REFERENCES cl_investors (id),
    body        TEXT    NOT NULL, -- JSON object as validated
    created_at  INTEGER NOT NULL
);

CREATE TABLE cl_wallets (
    seq               INTEGER PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    investor_id       TEXT    NOT NULL REFERENCES cl_investors (id),
    type              TEXT    NOT NULL CHECK (type IN ('eth-generic', 'eth-managed')),
    address           TEXT    NOT NULL,
    address_lc        TEXT    NOT NULL UNIQUE, -- an address belongs to one investor
    receiving_enabled INTEGER NOT NULL,
    seeded            INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL
);
CREATE INDEX cl_wallets_investor ON cl_wallets (investor_id);
CREATE UNIQUE INDEX cl_wallets_one_managed ON cl_wallets (investor_id) WHERE type = 'eth-managed';

CREATE TABLE cl_documents (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    client_id    TEXT    NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       BLOB    NOT NULL,
    content      BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE cl_investments (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    client_id           TEXT    NOT NULL,
    campaign_id         TEXT    NOT NULL REFERENCES cl_campaigns (id),
    product_id          TEXT    NOT NULL REFERENCES cl_products (id),
    investor_id         TEXT    NOT NULL REFERENCES cl_investors (id),
    units               INTEGER NOT NULL,
    price_per_token     INTEGER NOT NULL, -- the campaign's price when signed
    wallet_id           TEXT    REFERENCES cl_wallets (id),
    signed_at           INTEGER NOT NULL,
    accepted_at         INTEGER,
    paid_at             INTEGER,
    signed_documents    TEXT    NOT NULL, -- JSON array of {document_id, category, subject}
    forced_status       TEXT,             -- set by the control endpoint
    credit_requested_at INTEGER,
    deliver_at          INTEGER,          -- credit_requested_at + the credit delay then in force
    seeded              INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX cl_investments_holdings ON cl_investments (investor_id, product_id, wallet_id);
CREATE INDEX cl_investments_campaign ON cl_investments (campaign_id);

CREATE TABLE cl_credits (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    investment_id TEXT    NOT NULL REFERENCES cl_investments (id),
    wallet_id     TEXT    NOT NULL REFERENCES cl_wallets (id),
    units         INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    deliver_at    INTEGER NOT NULL
);
CREATE INDEX cl_credits_investment ON cl_credits (investment_id);

CREATE TABLE cl_redemptions (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    client_id   TEXT    NOT NULL,
    investor_id TEXT    NOT NULL REFERENCES cl_investors (id),
    product_id  TEXT    NOT NULL REFERENCES cl_products (id),
    wallet_id   TEXT    NOT NULL REFERENCES cl_wallets (id),
    units       INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('success', 'failed', 'unknown')),
    created_at  INTEGER NOT NULL,
    resolve_at  INTEGER NOT NULL -- processing until then, outcome after
);
CREATE INDEX cl_redemptions_investor ON cl_redemptions (investor_id);

-- Which investments a redemption consumed (FIFO), and how many units of each.
CREATE TABLE cl_redemption_parts (
    redemption_id TEXT    NOT NULL REFERENCES cl_redemptions (id),
    investment_id TEXT    NOT NULL REFERENCES cl_investments (id),
    units         INTEGER NOT NULL,
    PRIMARY KEY (redemption_id, investment_id)
) WITHOUT ROWID;
CREATE INDEX cl_redemption_parts_investment ON cl_redemption_parts (investment_id);

-- Stored first answers of creating requests, per (client, method, path, key).
-- state 'inflight' marks a request being processed (cleared at Open: a crash
-- must not block a key forever); 'done' rows replay byte-for-byte.
CREATE TABLE cl_idempotency (
    client_id    TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    fingerprint  BLOB    NOT NULL, -- SHA-256 of the raw request body
    state        TEXT    NOT NULL CHECK (state IN ('inflight', 'done')),
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT    NOT NULL DEFAULT '',
    location     TEXT    NOT NULL DEFAULT '',
    body         BLOB    NOT NULL DEFAULT x'',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (client_id, method, path, key)
) WITHOUT ROWID;
