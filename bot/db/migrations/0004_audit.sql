-- The audit trail of each guild: an outbox of events written in the same transaction as the
-- change they describe, posted to the guild's audit channel afterwards (bot/audit.py).
-- A crash between commit and post loses nothing: unposted events stay 'pending'.

CREATE TABLE audit_settings (
    guild_id              INTEGER PRIMARY KEY,
    channel_id            INTEGER CHECK (channel_id IS NULL OR channel_id > 0),
    low_balance_threshold INTEGER CHECK (low_balance_threshold IS NULL
                                         OR low_balance_threshold > 0),
    -- 1 once the low-balance alert fired; cleared when the balance is back at the threshold.
    low_balance_alerted   INTEGER NOT NULL DEFAULT 0 CHECK (low_balance_alerted IN (0, 1)),
    updated_by            TEXT    NOT NULL CHECK (length(updated_by) > 0),
    updated_at            TEXT    NOT NULL
) STRICT;

CREATE TABLE audit_events (
    -- AUTOINCREMENT: an id is never reused, so the nonce "a<id>" names one event forever.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    text       TEXT    NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    status     TEXT    NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'posted', 'skipped', 'failed')),
    message_id INTEGER,
    created_at TEXT    NOT NULL,
    done_at    TEXT,
    CHECK ((status = 'pending') = (done_at IS NULL)),
    CHECK (status != 'posted' OR message_id IS NOT NULL)
) STRICT;

CREATE INDEX audit_events_pending ON audit_events (id) WHERE status = 'pending';
CREATE INDEX audit_events_by_guild ON audit_events (guild_id, id);
