-- SQLite's 0015_entitlements.sql (read it for the why): the journal's two pack kinds, the
-- entitlements of credit packs, and where each member last saw the buy buttons. PostgreSQL
-- changes the journal's CHECKs in place (the names are PostgreSQL's defaults for 0012's
-- unnamed constraints).
ALTER TABLE ledger_journal DROP CONSTRAINT ledger_journal_kind_check;
ALTER TABLE ledger_journal ADD CONSTRAINT ledger_journal_kind_check
    CHECK (kind IN ('initial', 'grant', 'deduct', 'set', 'reserve', 'refund',
                    'pack', 'pack_refund'));
ALTER TABLE ledger_journal ADD CONSTRAINT ledger_journal_pack_sign
    CHECK (CASE kind
               WHEN 'pack'        THEN delta > 0
               WHEN 'pack_refund' THEN delta < 0
               ELSE TRUE
           END);

CREATE TABLE entitlements (
    id            BIGINT PRIMARY KEY,
    sku_id        BIGINT NOT NULL,
    user_id       BIGINT,
    guild_id      BIGINT,
    credits       BIGINT NOT NULL CHECK (credits > 0),
    state         TEXT   NOT NULL CHECK (state IN ('granted', 'consumed', 'revoked')),
    grant_entry   BIGINT REFERENCES ledger_journal (id),
    deducted      BIGINT NOT NULL DEFAULT 0 CHECK (deducted >= 0),
    shortfall     BIGINT NOT NULL DEFAULT 0 CHECK (shortfall >= 0),
    created_at    TEXT   NOT NULL,
    consumed_at   TEXT,
    revoked_at    TEXT,
    CHECK ((state = 'revoked') OR (guild_id IS NOT NULL AND grant_entry IS NOT NULL)),
    CHECK (deducted + shortfall <= credits)
);

CREATE INDEX entitlements_granted ON entitlements (id) WHERE state = 'granted';

CREATE TABLE pack_offers (
    user_id    BIGINT PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    offered_at TEXT   NOT NULL
);
