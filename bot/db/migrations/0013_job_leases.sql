-- Many scheduler processes on one database (issue 12): jobs are claimed, not owned.
--
-- A scheduler claims a due job by stamping lease_owner (its instance id) and lease_until in
-- one conditional UPDATE; it renews the lease while the step runs and clears both when the
-- step ends. A process killed mid-step leaves its lease to expire, and then any scheduler
-- claims the job and carries on (every step is idempotent against its own retry).
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;

-- Work that must run in one process at a time (the batched poll round, the audit outbox, the
-- held-request sweep): one row per duty, held by the process whose lease has not expired.
-- The holder renews it while alive, so the duty stays in one place until that process stops.
CREATE TABLE duty_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    lease_until TEXT NOT NULL
) STRICT;

-- Which process opened an acknowledgement: a starting process retires only its own leftovers
-- (and anyone's past the 15-minute token life), never another live gateway's placeholders.
-- NULL: written before this migration, by the one process there was.
ALTER TABLE open_acks ADD COLUMN owner TEXT;
