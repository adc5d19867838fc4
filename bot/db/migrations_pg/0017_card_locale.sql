-- SQLite's card_locale migration of the same number (read it for the why): how each job's
-- status card was first posted (embeds before this migration, V2 since), and each guild's
-- preferred locale.
ALTER TABLE jobs ADD COLUMN card TEXT NOT NULL DEFAULT 'v2' CHECK (card IN ('embed', 'v2'));
UPDATE jobs SET card = 'embed';

CREATE TABLE guild_locales (
    guild_id   BIGINT PRIMARY KEY,
    locale     TEXT   NOT NULL,
    updated_at TEXT   NOT NULL
);
