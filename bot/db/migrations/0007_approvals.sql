-- Cost preview and moderator approval (bot/approvals.py, cogs/approvals.py).
-- Above preview_above credits /sora first shows the member a private preview to confirm;
-- above approval_above a moderator must approve it in the audit channel. NULL turns either off.

ALTER TABLE guild_policies ADD COLUMN preview_above INTEGER
    CHECK (preview_above IS NULL OR preview_above >= 0);
ALTER TABLE guild_policies ADD COLUMN approval_above INTEGER
    CHECK (approval_above IS NULL OR approval_above >= 0);

-- A request waiting for its Confirm/Approve. It holds everything needed to start the job
-- later (even after a restart); nothing is reserved until then.
CREATE TABLE pending_requests (
    id               TEXT    PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('preview', 'approval')),
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'started', 'cancelled', 'denied', 'expired')),
    guild_id         INTEGER NOT NULL,
    channel_id       INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    role_ids         TEXT    NOT NULL DEFAULT '',
    prompt           TEXT    NOT NULL,
    duration         INTEGER NOT NULL,
    aspect_ratio     TEXT    NOT NULL,
    resolution       TEXT    NOT NULL,
    start_image_url  TEXT,
    -- What fitting did to the start image, shown on the job (see 0005).
    start_image_note TEXT,
    price            INTEGER NOT NULL CHECK (price >= 0),
    created_at       TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,
    audit_message_id INTEGER,
    -- Who decided (e.g. "user:123") and when; NULL while pending.
    decided_by       TEXT,
    decided_at       TEXT,
    -- 1 once the member was told of a denial or expiry.
    notified         INTEGER NOT NULL DEFAULT 0 CHECK (notified IN (0, 1))
) STRICT;

CREATE INDEX pending_requests_due ON pending_requests (expires_at) WHERE status = 'pending';
CREATE INDEX pending_requests_unnotified ON pending_requests (id)
    WHERE status IN ('denied', 'expired') AND notified = 0;
