-- When the bot last sent a job's outcome through the interaction token (editing the status
-- message). A process killed right after sending cannot know whether Discord applied it; the
-- next one waits a grace period before judging from the status message and posting anew.
ALTER TABLE jobs ADD COLUMN token_post_at TEXT;
