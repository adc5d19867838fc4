-- Per-guild credit balances and their append-only journal.
-- Invariant kept by bot/ledger.py: balance = SUM(delta) of the guild's journal rows,
-- and the newest row's balance_after = balance.

CREATE TABLE guild_balances (
    guild_id   INTEGER PRIMARY KEY,
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
) STRICT;

CREATE TABLE ledger_journal (
    -- AUTOINCREMENT: ids are never reused, so keyset paging and exports stay stable.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL REFERENCES guild_balances (guild_id),
    kind          TEXT    NOT NULL
                  CHECK (kind IN ('initial', 'grant', 'deduct', 'set', 'reserve', 'refund')),
    delta         INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    actor         TEXT    NOT NULL CHECK (length(actor) > 0),
    reason        TEXT,
    job_id        TEXT,
    created_at    TEXT    NOT NULL,
    -- Exactly the job-bound kinds carry a job id.
    CHECK ((kind IN ('reserve', 'refund')) = (job_id IS NOT NULL)),
    CHECK (CASE kind
               WHEN 'initial' THEN delta >= 0 AND delta = balance_after
               WHEN 'grant'   THEN delta > 0
               WHEN 'refund'  THEN delta > 0
               WHEN 'deduct'  THEN delta < 0
               WHEN 'reserve' THEN delta < 0
               ELSE 1
           END)
) STRICT;

CREATE INDEX ledger_journal_by_guild ON ledger_journal (guild_id, id);

-- These make "one reserve per job", "one refund per job" and "one starting grant per guild"
-- facts of the database rather than of any code path.
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

-- A refund must point at a reserve of the same guild and give back exactly what it took.
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
