-- Credit packs bought through Discord (issue 13): consumable SKUs whose entitlements credit a
-- guild exactly once (bot/packs/).

-- The journal gains two kinds: 'pack' (a purchase credited, delta > 0) and 'pack_refund'
-- (Discord refunded or deleted that purchase, delta < 0, never more than the balance). SQLite
-- cannot change a CHECK, so the table is rebuilt with 0001's shape, indexes and triggers and
-- 0011's bound; ids are kept (AUTOINCREMENT's counter follows the copied rows).
CREATE TABLE ledger_journal_v15 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL REFERENCES guild_balances (guild_id),
    kind          TEXT    NOT NULL
                  CHECK (kind IN ('initial', 'grant', 'deduct', 'set', 'reserve', 'refund',
                                  'pack', 'pack_refund')),
    delta         INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    actor         TEXT    NOT NULL CHECK (length(actor) > 0),
    reason        TEXT,
    job_id        TEXT,
    created_at    TEXT    NOT NULL,
    CHECK ((kind IN ('reserve', 'refund')) = (job_id IS NOT NULL)),
    CHECK (CASE kind
               WHEN 'initial'     THEN delta >= 0 AND delta = balance_after
               WHEN 'grant'       THEN delta > 0
               WHEN 'refund'      THEN delta > 0
               WHEN 'pack'        THEN delta > 0
               WHEN 'deduct'      THEN delta < 0
               WHEN 'reserve'     THEN delta < 0
               WHEN 'pack_refund' THEN delta < 0
               ELSE 1
           END)
) STRICT;

INSERT INTO ledger_journal_v15
    (id, guild_id, kind, delta, balance_after, actor, reason, job_id, created_at)
SELECT id, guild_id, kind, delta, balance_after, actor, reason, job_id, created_at
FROM ledger_journal ORDER BY id;

DROP TABLE ledger_journal;
ALTER TABLE ledger_journal_v15 RENAME TO ledger_journal;

CREATE INDEX ledger_journal_by_guild ON ledger_journal (guild_id, id);
CREATE UNIQUE INDEX ledger_journal_one_reserve_per_job
    ON ledger_journal (job_id) WHERE kind = 'reserve';
CREATE UNIQUE INDEX ledger_journal_one_refund_per_job
    ON ledger_journal (job_id) WHERE kind = 'refund';
CREATE UNIQUE INDEX ledger_journal_one_initial_per_guild
    ON ledger_journal (guild_id) WHERE kind = 'initial';

CREATE TRIGGER ledger_journal_no_update
BEFORE UPDATE ON ledger_journal
BEGIN
    SELECT RAISE(ABORT, 'ledger_journal is append-only: rows cannot be updated');
END;

CREATE TRIGGER ledger_journal_no_delete
BEFORE DELETE ON ledger_journal
BEGIN
    SELECT RAISE(ABORT, 'ledger_journal is append-only: rows cannot be deleted');
END;

CREATE TRIGGER ledger_journal_refund_matches_reserve
BEFORE INSERT ON ledger_journal
WHEN NEW.kind = 'refund'
BEGIN
    SELECT RAISE(ABORT, 'refund does not match the job''s reserve')
    WHERE NOT EXISTS (
        SELECT 1 FROM ledger_journal
        WHERE kind = 'reserve' AND job_id = NEW.job_id
          AND guild_id = NEW.guild_id AND delta = -NEW.delta
    );
END;

CREATE TRIGGER ledger_journal_json_safe
BEFORE INSERT ON ledger_journal
WHEN NEW.balance_after > 9007199254740991 OR abs(NEW.delta) > 9007199254740991
BEGIN
    SELECT RAISE(ABORT, 'balance above 2**53 - 1 is refused');
END;

-- One row per Discord entitlement of a configured pack, keyed by Discord's id: the primary
-- key is what makes "credited exactly once" a fact of the database. Written in the same
-- transaction as the 'pack' journal row and the audit event; 'granted' until Discord
-- confirmed the consume, so a restart consumes it without granting again.
--   granted   credited to guild_id, consume not yet confirmed
--   consumed  credited and consumed at Discord
--   revoked   Discord refunded or deleted it: `deducted` taken back (what the balance
--             allowed), `shortfall` not; a revoked row that was never credited has both 0
CREATE TABLE entitlements (
    id            INTEGER PRIMARY KEY,
    sku_id        INTEGER NOT NULL,
    user_id       INTEGER,
    guild_id      INTEGER,
    credits       INTEGER NOT NULL CHECK (credits > 0),
    state         TEXT    NOT NULL CHECK (state IN ('granted', 'consumed', 'revoked')),
    grant_entry   INTEGER REFERENCES ledger_journal (id),
    deducted      INTEGER NOT NULL DEFAULT 0 CHECK (deducted >= 0),
    shortfall     INTEGER NOT NULL DEFAULT 0 CHECK (shortfall >= 0),
    created_at    TEXT    NOT NULL,
    consumed_at   TEXT,
    revoked_at    TEXT,
    CHECK ((state = 'revoked') OR (guild_id IS NOT NULL AND grant_entry IS NOT NULL)),
    CHECK (deducted + shortfall <= credits)
) STRICT;

-- Start-up asks for the credited-but-unconsumed ones.
CREATE INDEX entitlements_granted ON entitlements (id) WHERE state = 'granted';

-- Where a member last saw the buy buttons (/credits): a purchase made for the member (Discord
-- gives consumables to the user, not the guild) is credited to that guild.
CREATE TABLE pack_offers (
    user_id    INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    offered_at TEXT    NOT NULL
) STRICT;
