-- The member's language on an open acknowledgement (issue 13): if a restart loses the request
-- before its job is recorded, the note that replaces the "thinking…" placeholder is written
-- in it. NULL (rows from before, or a locale Discord did not send): English.
ALTER TABLE open_acks ADD COLUMN locale TEXT;
