-- SQLite's 0016_strikes.sql (read it for the why): content-policy strikes per member (one per
-- job), automatic cooldowns, per-guild strike settings and each guild's word list.
CREATE TABLE member_strikes (
    job_id    TEXT   PRIMARY KEY,
    guild_id  BIGINT NOT NULL,
    user_id   BIGINT NOT NULL,
    struck_at TEXT   NOT NULL,
    spent_at  TEXT
);
CREATE INDEX member_strikes_member ON member_strikes (guild_id, user_id, struck_at)
    WHERE spent_at IS NULL;

CREATE TABLE member_cooldowns (
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    started_at TEXT   NOT NULL,
    ends_at    TEXT   NOT NULL,
    strikes    BIGINT NOT NULL CHECK (strikes > 0),
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_strike_rules (
    guild_id       BIGINT PRIMARY KEY,
    strike_limit   BIGINT CHECK (strike_limit IS NULL OR strike_limit >= 0),
    window_hours   BIGINT CHECK (window_hours IS NULL OR window_hours > 0),
    cooldown_hours BIGINT CHECK (cooldown_hours IS NULL OR cooldown_hours > 0),
    updated_by     TEXT   NOT NULL CHECK (length(updated_by) > 0),
    updated_at     TEXT   NOT NULL
);

CREATE TABLE guild_words (
    guild_id BIGINT NOT NULL,
    word     TEXT   NOT NULL CHECK (length(word) BETWEEN 1 AND 64),
    added_by TEXT   NOT NULL CHECK (length(added_by) > 0),
    added_at TEXT   NOT NULL,
    PRIMARY KEY (guild_id, word)
);
