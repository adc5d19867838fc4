-- How long each finished job ran at the provider (issue 11): the scheduler takes its first
-- look at a submitted job near when jobs of the same model and variant usually finish,
-- instead of one look per poll interval from the start.
--
-- run_seconds: from our submission to the completion, in seconds; NULL for jobs that never
-- completed (failed, refunded) and for rows written before this migration.
ALTER TABLE jobs ADD COLUMN run_seconds REAL;

-- "The last N completed jobs of this model and variant, newest first": one index range.
CREATE INDEX jobs_run_times ON jobs (model, resolution, duration, finished_at)
    WHERE run_seconds IS NOT NULL;

-- Status cards due a refresh between two looks at their jobs (JobStore.cards_due): only the
-- running jobs whose card can still be edited, so 10,000 jobs in flight without a card (or
-- with an expired token) cost the poller's pass nothing.
CREATE INDEX jobs_cards ON jobs (progress_shown_at)
    WHERE state = 'submitted' AND status_message_id IS NOT NULL
      AND interaction_token IS NOT NULL;
