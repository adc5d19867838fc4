-- Each guild's spending policy for /sora, set by its moderators with /budget limits.
-- No row means the defaults: no caps, no cooldown, the configured in-flight limits, every
-- variant, every role and channel, not frozen. NULL clears a limit.

CREATE TABLE guild_policies (
    guild_id             INTEGER PRIMARY KEY,
    daily_cap            INTEGER CHECK (daily_cap IS NULL OR daily_cap > 0),
    weekly_cap           INTEGER CHECK (weekly_cap IS NULL OR weekly_cap > 0),
    cooldown_seconds     INTEGER NOT NULL DEFAULT 0 CHECK (cooldown_seconds >= 0),
    max_in_flight_guild  INTEGER CHECK (max_in_flight_guild IS NULL OR max_in_flight_guild > 0),
    max_in_flight_member INTEGER
                         CHECK (max_in_flight_member IS NULL OR max_in_flight_member > 0),
    max_resolution       TEXT    CHECK (max_resolution IS NULL
                                        OR max_resolution IN ('standard', 'high')),
    max_duration         INTEGER CHECK (max_duration IS NULL
                                        OR max_duration IN (4, 8, 10, 12, 15)),
    frozen               INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1)),
    -- Who changed the policy last (e.g. "user:123"), and when.
    updated_by           TEXT    NOT NULL CHECK (length(updated_by) > 0),
    updated_at           TEXT    NOT NULL
) STRICT;

-- When a guild has rows here, only members with one of these roles may use /sora.
CREATE TABLE guild_policy_roles (
    guild_id INTEGER NOT NULL REFERENCES guild_policies (guild_id),
    role_id  INTEGER NOT NULL CHECK (role_id > 0),
    PRIMARY KEY (guild_id, role_id)
) STRICT;

-- When a guild has rows here, /sora works only in these channels.
CREATE TABLE guild_policy_channels (
    guild_id   INTEGER NOT NULL REFERENCES guild_policies (guild_id),
    channel_id INTEGER NOT NULL CHECK (channel_id > 0),
    PRIMARY KEY (guild_id, channel_id)
) STRICT;

-- Caps and cooldowns read a member's recent jobs on every /sora.
CREATE INDEX jobs_by_member_time ON jobs (guild_id, user_id, created_at);
