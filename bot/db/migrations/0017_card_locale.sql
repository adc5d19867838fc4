-- Components V2 cards (issue 13).
--
-- jobs.card: how the job's status card was first posted. Jobs from before this migration
-- posted theirs as an embed, and their cards keep being edited as embeds: a message's V2
-- flag can never be removed again, and what Discord does when an edit turns an embed message
-- into a V2 one is not documented, so those few in-flight cards are not converted. Every job
-- created since (the insert leaves the column to its default) gets a V2 card.
ALTER TABLE jobs ADD COLUMN card TEXT NOT NULL DEFAULT 'v2' CHECK (card IN ('embed', 'v2'));
UPDATE jobs SET card = 'embed';

-- The language each guild's channel posts are written in (its Discord preferred locale), as
-- the gateway last saw it: a worker process without a gateway connection renders cards too.
CREATE TABLE guild_locales (
    guild_id   INTEGER PRIMARY KEY,
    locale     TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
