-- Every Apiframe video model, not just Sora (issue 10).

-- Jobs of any model: the table is rebuilt without 0002's Sora-only checks on duration, aspect
-- ratio and resolution (SQLite cannot drop a CHECK). Those columns now hold what most models
-- have, for display and the guild rules: 0 seconds / '' when the model has no such option.
-- `params` is the option values sent in the model's block (a JSON object, without the start
-- image, which stays in start_image_url); rows written before this get Sora's four columns.
CREATE TABLE jobs_v12 (
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
    model                 TEXT    NOT NULL CHECK (length(model) BETWEEN 1 AND 100),
    -- The longest prompt any model takes is 5,000 UTF-16 units (so at most 5,000 characters).
    prompt                TEXT    NOT NULL CHECK (length(prompt) BETWEEN 1 AND 5000),
    duration              INTEGER NOT NULL CHECK (duration BETWEEN 0 AND 600),
    aspect_ratio          TEXT    NOT NULL CHECK (length(aspect_ratio) <= 20),
    resolution            TEXT    NOT NULL CHECK (length(resolution) <= 20),
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
    start_image_note      TEXT
                          CHECK (start_image_note IS NULL
                                 OR length(start_image_note) BETWEEN 1 AND 200),
    token_post_at         TEXT,
    result_post_at        TEXT,
    params                TEXT    NOT NULL CHECK (json_valid(params)
                                                  AND json_type(params) = 'object'),
    CHECK (state != 'submitted' OR apiframe_job_id IS NOT NULL),
    CHECK (state != 'completed' OR result_url IS NOT NULL),
    CHECK (state NOT IN ('failed', 'refunded') OR failure_kind IS NOT NULL)
) STRICT;

INSERT INTO jobs_v12
SELECT id, guild_id, channel_id, user_id, application_id, interaction_id, interaction_token,
       token_expires_at, status_message_id, attachment_size_limit, model, prompt, duration,
       aspect_ratio, resolution, start_image_url, price, idempotency_key, state,
       apiframe_job_id, progress, progress_shown_at, result_url, failure_kind, failure_detail,
       delivery_mode, delivered_message_id, attempts, next_action_at, deadline_at, created_at,
       submitted_at, finished_at, delivered_at, notified_at, updated_at, start_image_note,
       token_post_at, result_post_at,
       json_object('aspect_ratio', aspect_ratio, 'duration', duration, 'resolution', resolution)
  FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_v12 RENAME TO jobs;

-- 0002's and 0003's indexes, as they were.
CREATE INDEX jobs_pending ON jobs (next_action_at)
    WHERE state IN ('reserved', 'submitted', 'completed', 'failed')
       OR (state = 'refunded' AND notified_at IS NULL);
CREATE INDEX jobs_by_guild ON jobs (guild_id, state);
CREATE INDEX jobs_by_member ON jobs (guild_id, user_id, state);
CREATE INDEX jobs_by_member_time ON jobs (guild_id, user_id, created_at);

-- A held request names its model too; NULL (rows written before this) is the /sora model.
ALTER TABLE pending_requests ADD COLUMN model TEXT;
ALTER TABLE pending_requests ADD COLUMN params TEXT;
UPDATE pending_requests SET params = json_object('aspect_ratio', aspect_ratio,
                                                 'duration', duration, 'resolution', resolution)
 WHERE params IS NULL;

-- Which of the bot's enabled models a guild may use (comma-separated ids; NULL: all of
-- them), and the one /video uses when a member picks none (NULL: the bot's default).
ALTER TABLE guild_policies ADD COLUMN models TEXT;
ALTER TABLE guild_policies ADD COLUMN default_model TEXT;

-- Models the provider said are retired or unknown: refused for new requests until an
-- operator restores them (`sora-bot models --restore ID`). Owned by bot/jobs/retired.py.
CREATE TABLE retired_models (
    model       TEXT    PRIMARY KEY,
    retired_at  TEXT    NOT NULL,
    -- What the provider said (its error text), for the operator.
    detail      TEXT    NOT NULL,
    -- The job whose failure showed it, if any.
    job_id      TEXT
) STRICT;
