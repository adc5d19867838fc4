-- Result buttons (bot/result_buttons.py, cogs/results.py): Reroll, Edit prompt and Extend
-- spend the guild's credits, so by default only the video's requester may use them.
-- 1 lets every member who may use /sora press them on anyone's video.

ALTER TABLE guild_policies ADD COLUMN buttons_open INTEGER NOT NULL DEFAULT 0
    CHECK (buttons_open IN (0, 1));
