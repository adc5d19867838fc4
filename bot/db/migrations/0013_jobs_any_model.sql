-- Jobs of every video model (issue 10): 0002 allowed only Sora's durations, aspect ratios and
-- resolutions and a 4,000-character prompt, so no other model's job could be written. SQLite
-- cannot drop a CHECK, so the table is rebuilt as it stands after 0012 without those four,
-- every row and index kept.

CREATE TABLE jobs_any_model (
    id                    TEXT    PRIMARY KEY,
    guild_id              INTEGER NOT NULL,
    channel_id            INTEGER NOT NULL,
    user_id               INTEGER NOT NULL,
    application_id        INTEGER NOT NULL,
    interaction_id        INTEGER NOT NULL,
    interaction_token     TEXT,
    token_expires_at      TEXT    NOT NULL,
    status_message_id     INTEGER,
    attachment_size_limit INTEGER NOT NULL CHECK (attachment_size_limit > 0),
    model                 TEXT    NOT NULL,
    -- The longest prompt of any catalog model is 5,000 UTF-16 units (so at most as many
    -- characters); the model's own limit is checked before a job is written.
    prompt                TEXT    NOT NULL CHECK (length(prompt) BETWEEN 1 AND 5000),
    -- What most models have, for the policy and the ledger (0 / '' when the model lacks
    -- it); the values actually sent are in params, checked against the catalog.
    duration              INTEGER NOT NULL CHECK (duration >= 0),
    aspect_ratio          TEXT    NOT NULL,
    resolution            TEXT    NOT NULL,
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
    start_image_note      TEXT    CHECK (start_image_note IS NULL
                                         OR length(start_image_note) BETWEEN 1 AND 200),
    token_post_at         TEXT,
    result_post_at        TEXT,
    params                TEXT,
    CHECK (state != 'submitted' OR apiframe_job_id IS NOT NULL),
    CHECK (state != 'completed' OR result_url IS NOT NULL),
    CHECK (state NOT IN ('failed', 'refunded') OR failure_kind IS NOT NULL)
) STRICT;

INSERT INTO jobs_any_model (
    id, guild_id, channel_id, user_id, application_id, interaction_id,
    interaction_token, token_expires_at, status_message_id, attachment_size_limit, model, prompt,
    duration, aspect_ratio, resolution, start_image_url, price, idempotency_key,
    state, apiframe_job_id, progress, progress_shown_at, result_url, failure_kind,
    failure_detail, delivery_mode, delivered_message_id, attempts, next_action_at, deadline_at,
    created_at, submitted_at, finished_at, delivered_at, notified_at, updated_at,
    start_image_note, token_post_at, result_post_at, params
)
SELECT
    id, guild_id, channel_id, user_id, application_id, interaction_id,
    interaction_token, token_expires_at, status_message_id, attachment_size_limit, model, prompt,
    duration, aspect_ratio, resolution, start_image_url, price, idempotency_key,
    state, apiframe_job_id, progress, progress_shown_at, result_url, failure_kind,
    failure_detail, delivery_mode, delivered_message_id, attempts, next_action_at, deadline_at,
    created_at, submitted_at, finished_at, delivered_at, notified_at, updated_at,
    start_image_note, token_post_at, result_post_at, params
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_any_model RENAME TO jobs;

CREATE INDEX jobs_pending ON jobs (next_action_at)
    WHERE state IN ('reserved', 'submitted', 'completed', 'failed')
       OR (state = 'refunded' AND notified_at IS NULL);
CREATE INDEX jobs_by_guild ON jobs (guild_id, state);
CREATE INDEX jobs_by_member ON jobs (guild_id, user_id, state);
CREATE INDEX jobs_by_member_time ON jobs (guild_id, user_id, created_at);
