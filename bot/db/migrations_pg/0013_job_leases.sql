-- SQLite's 0013_job_leases.sql (read it for the why): jobs are claimed with a lease, once-only
-- duties have one lease row each, and an acknowledgement names the process that opened it.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;

CREATE TABLE duty_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    lease_until TEXT NOT NULL
);

ALTER TABLE open_acks ADD COLUMN owner TEXT;
