-- The job journal: every /sora request from the moment its credits are reserved.
-- A row holds everything needed to finish the job after a restart; its state says what is
-- left to do, so the scheduler resumes from the database, not from memory.
--
--   reserved  -> submitted -> completed -> delivered          (terminal)
--   reserved  -> failed    -> refunded  (+ notified_at)       (terminal once notified)
--   submitted -> failed
--   completed -> failed     (the result could not be fetched at all)

CREATE TABLE jobs (
    id                    TEXT    PRIMARY KEY,
    guild_id              INTEGER NOT NULL,
    channel_id            INTEGER NOT NULL,
    user_id               INTEGER NOT NULL,
    application_id        INTEGER NOT NULL,
    interaction_id        INTEGER NOT NULL,
    -- The interaction token is a credential for 15 minutes; it is cleared once the job ends.
    interaction_token     TEXT,
    token_expires_at      TEXT    NOT NULL,
    status_message_id     INTEGER,
    attachment_size_limit INTEGER NOT NULL CHECK (attachment_size_limit > 0),
    model                 TEXT    NOT NULL,
    prompt                TEXT    NOT NULL CHECK (length(prompt) BETWEEN 1 AND 4000),
    duration              INTEGER NOT NULL CHECK (duration IN (4, 8, 10, 12, 15)),
    aspect_ratio          TEXT    NOT NULL CHECK (aspect_ratio IN ('16:9', '9:16')),
    resolution            TEXT    NOT NULL CHECK (resolution IN ('standard', 'high')),
    start_image_url       TEXT,
    price                 INTEGER NOT NULL CHECK (price > 0),
    idempotency_key       TEXT    NOT NULL UNIQUE CHECK (length(idempotency_key) <= 255),
    state                 TEXT    NOT NULL
                          CHECK (state IN ('reserved', 'submitted', 'completed', 'delivered',
                                           'failed', 'refunded')),
    apiframe_job_id       TEXT    UNIQUE,
    progress              INTEGER CHECK (progress BETWEEN 0 AND 100),
    progress_shown_at     TEXT,
    result_url            TEXT,
    failure_kind          TEXT,
    failure_detail        TEXT,
    delivery_mode         TEXT,
    delivered_message_id  INTEGER,
    attempts              INTEGER NOT NULL DEFAULT 0,
    next_action_at        TEXT    NOT NULL,
    deadline_at           TEXT    NOT NULL,
    created_at            TEXT    NOT NULL,
    submitted_at          TEXT,
    finished_at           TEXT,
    delivered_at          TEXT,
    notified_at           TEXT,
    updated_at            TEXT    NOT NULL,
    CHECK (state != 'submitted' OR apiframe_job_id IS NOT NULL),
    CHECK (state != 'completed' OR result_url IS NOT NULL),
    CHECK (state NOT IN ('failed', 'refunded') OR failure_kind IS NOT NULL)
) STRICT;

-- The scheduler's queue: unfinished work ordered by when it is due.
CREATE INDEX jobs_pending ON jobs (next_action_at)
    WHERE state IN ('reserved', 'submitted', 'completed', 'failed')
       OR (state = 'refunded' AND notified_at IS NULL);
CREATE INDEX jobs_by_guild ON jobs (guild_id, state);
CREATE INDEX jobs_by_member ON jobs (guild_id, user_id, state);
