-- SQLite's 0014_run_times.sql (read it for the why): how long each finished job ran at the
-- provider, for the scheduler's first look at a job of the same model and variant, and the
-- index of status cards due a refresh between two looks.
ALTER TABLE jobs ADD COLUMN run_seconds DOUBLE PRECISION;

CREATE INDEX jobs_run_times ON jobs (model, resolution, duration, finished_at)
    WHERE run_seconds IS NOT NULL;

CREATE INDEX jobs_cards ON jobs (progress_shown_at)
    WHERE state = 'submitted' AND status_message_id IS NOT NULL
      AND interaction_token IS NOT NULL;
