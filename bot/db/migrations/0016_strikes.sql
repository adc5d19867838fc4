-- Protecting the shared provider account (issue 13, part 4): content-policy strikes per
-- member, the automatic cooldown they lead to, per-guild overrides of the operator's strike
-- settings, and each guild's word list (bot/policy/strikes.py and bot/policy/words.py).

-- One row per job the provider refused for content policy: the job id as key makes a
-- replayed outcome a no-op, so a job strikes once. spent_at: when a cooldown used the strike
-- up or a moderator cleared it (kept, not deleted, so the job can never strike again).
CREATE TABLE member_strikes (
    job_id    TEXT    PRIMARY KEY,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    struck_at TEXT    NOT NULL,
    spent_at  TEXT
);
CREATE INDEX member_strikes_member ON member_strikes (guild_id, user_id, struck_at)
    WHERE spent_at IS NULL;

-- The member's current (or last) automatic cooldown: paid launches are refused until then.
CREATE TABLE member_cooldowns (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    started_at TEXT    NOT NULL,
    ends_at    TEXT    NOT NULL,
    strikes    INTEGER NOT NULL CHECK (strikes > 0),
    PRIMARY KEY (guild_id, user_id)
);

-- A guild's own strike settings; NULL keeps the operator's [policy] default.
CREATE TABLE guild_strike_rules (
    guild_id       INTEGER PRIMARY KEY,
    strike_limit   INTEGER CHECK (strike_limit IS NULL OR strike_limit >= 0),
    window_hours   INTEGER CHECK (window_hours IS NULL OR window_hours > 0),
    cooldown_hours INTEGER CHECK (cooldown_hours IS NULL OR cooldown_hours > 0),
    updated_by     TEXT    NOT NULL CHECK (length(updated_by) > 0),
    updated_at     TEXT    NOT NULL
);

-- Words and phrases a guild refuses in prompts, stored normalised (NFKC, casefolded).
CREATE TABLE guild_words (
    guild_id INTEGER NOT NULL,
    word     TEXT    NOT NULL CHECK (length(word) BETWEEN 1 AND 64),
    added_by TEXT    NOT NULL CHECK (length(added_by) > 0),
    added_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, word)
);
