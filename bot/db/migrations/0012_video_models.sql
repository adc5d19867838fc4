-- Every Apiframe video model, not just Sora (issue 10).

-- The option values sent in the model's parameter block (JSON object, without the start
-- image, which stays in start_image_url). Rows written before this are Sora's four columns.
ALTER TABLE jobs ADD COLUMN params TEXT;
UPDATE jobs SET params = json_object('aspect_ratio', aspect_ratio, 'duration', duration,
                                     'resolution', resolution)
 WHERE params IS NULL;

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
