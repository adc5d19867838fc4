-- When the bot last began posting a job's result, by any route (editing the status message
-- with the interaction token, or a new channel message with nonce 'd<job id>'). A process
-- stopped after Discord accepted the post but before recording it leaves this set; the next
-- attempt then looks for the posted video before downloading again, so an expired result
-- link cannot turn a delivered video into a refund.
ALTER TABLE jobs ADD COLUMN result_post_at TEXT;
