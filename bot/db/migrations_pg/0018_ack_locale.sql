-- SQLite's ack_locale migration of the same number (read it for the why): the member's
-- language on an open acknowledgement.
ALTER TABLE open_acks ADD COLUMN locale TEXT;
