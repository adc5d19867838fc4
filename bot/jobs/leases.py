"""Who holds which job, and which once-only duty: leases, so any number of schedulers can share
one database (migration 0013).

A job is *claimed*, not owned: one conditional statement takes due jobs whose lease is free or
expired and stamps the claimer and the lease's end on them. The holder renews every lease it
holds in one statement while its steps run, and clears a job's lease when its step ends. A
process killed mid-step simply stops renewing; once the lease has run out, any scheduler
claims the job and repeats the step, which is idempotent against its own retry (the job's
Idempotency-Key on submit, the enforced nonce on posts, the ledger's single refund).

A *duty lease* (``duty_leases``) does the same for work that must run in one process at a
time: the batched poll round, the audit outbox, the held-request sweep. The holder keeps it
while it lives (renewed with its job leases), so such a duty stays in one place until that
process stops or dies.

The SQL is portable between SQLite and PostgreSQL but for one hook: a backend that can lock
rows offers ``skip_locked`` (PostgreSQL: ``" FOR UPDATE SKIP LOCKED"``), appended to the
claim's inner SELECT so concurrent claimers pass over each other's rows instead of waiting.
SQLite needs none: its write transactions are serialised, so the claim's UPDATE already sees
every earlier claim.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

from bot.clock import Clock, from_db_time, to_db_time
from bot.db.database import Database
from bot.jobs.model import Job

#: Unfinished jobs: what the scheduler's queue holds (the jobs_pending partial index).
PENDING = (
    "(state IN ('reserved', 'submitted', 'completed', 'failed')"
    " OR (state = 'refunded' AND notified_at IS NULL))"
)
# Written as PENDING plus a term, so SQLite still uses the jobs_pending partial index.
#: Without submitted jobs, which a batched poller follows instead.
STEPS = f"{PENDING} AND state != 'submitted'"
#: Only submitted jobs.
POLLS = f"{PENDING} AND state = 'submitted'"
#: Most job ids per statement when leases are released by id.
_CHUNK = 500


def new_owner(name: str | None = None) -> str:
    """A lease owner's id: ``name`` (or the host) plus this process and a random part, so two
    processes never share one, even on one host with a reused pid."""
    base = name or socket.gethostname() or "host"
    return f"{base}/{os.getpid()}-{uuid.uuid4().hex[:8]}"


def skip_locked(db: object) -> str:
    """The backend's row-lock clause for claims ('' on SQLite; see the module's docstring)."""
    clause = getattr(db, "skip_locked", "")
    return clause if isinstance(clause, str) else ""


class JobLeases:
    """Claims, renewals and releases of job and duty leases; owners are opaque strings."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock
        self._skip_locked = skip_locked(db)

    async def claim(
        self, owner: str, until: datetime, limit: int, *, polls: bool = True
    ) -> list[Job]:
        """Take up to ``limit`` due jobs whose lease is free or expired for ``owner`` until
        ``until``, in one statement; oldest due first (without submitted jobs when ``polls``
        is False: the batched poller follows those)."""
        now = to_db_time(self._clock())
        pending = PENDING if polls else STEPS
        free = "(lease_until IS NULL OR lease_until <= ?)"
        # The outer condition repeats the inner one: under PostgreSQL's READ COMMITTED a row
        # locked by another claimer is skipped, and one it released meanwhile is re-checked.
        sql = (
            "UPDATE jobs SET lease_owner = ?, lease_until = ?"  # noqa: S608
            f" WHERE {free} AND id IN (SELECT id FROM jobs WHERE {pending}"
            f" AND next_action_at <= ? AND {free}"
            f" ORDER BY next_action_at LIMIT ?{self._skip_locked}) RETURNING *"
        )
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(sql, (owner, to_db_time(until), now, now, now, limit))
        return sorted((Job.from_row(r) for r in rows), key=lambda job: job.next_action_at)

    async def renew(self, owner: str, until: datetime) -> set[str]:
        """Extend every job lease ``owner`` still holds, and its duty leases, to ``until``;
        returns the ids of the jobs still held (one missing was lost to another claimer)."""
        end = to_db_time(until)
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE jobs SET lease_until = ? WHERE lease_owner = ? RETURNING id",
                (end, owner))
            await tx.execute(
                "UPDATE duty_leases SET lease_until = ? WHERE owner = ?", (end, owner))
        return {str(row["id"]) for row in rows}

    async def release(self, owner: str, job_ids: list[str]) -> None:
        """Clear the leases ``owner`` holds on ``job_ids`` (their steps ended): any scheduler
        may take the jobs' next steps at once."""
        async with self._db.transaction() as tx:
            for start in range(0, len(job_ids), _CHUNK):
                chunk = job_ids[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                await tx.execute(
                    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL"  # noqa: S608
                    f" WHERE lease_owner = ? AND id IN ({marks})", (owner, *chunk))

    async def release_all(self, owner: str) -> None:
        """Give up every job and duty lease of ``owner`` (a clean stop: others go on at once)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                (owner,))
            await tx.execute("DELETE FROM duty_leases WHERE owner = ?", (owner,))

    async def take_over(self, owner: str, name: str) -> int:
        """Release the leases left by earlier processes named ``name`` (a restart of the same
        instance after a kill): its jobs and duties resume now, not when the leases run out.
        Returns how many leases were freed. Only for names unique to one process at a time."""
        pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
        async with self._db.transaction() as tx:
            freed = await tx.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL"
                " WHERE lease_owner LIKE ? ESCAPE '\\' AND lease_owner != ?", (pattern, owner))
            freed += await tx.execute(
                "DELETE FROM duty_leases WHERE owner LIKE ? ESCAPE '\\' AND owner != ?",
                (pattern, owner))
        return freed

    async def hold_duty(self, name: str, owner: str, until: datetime) -> bool:
        """Take or keep the lease of duty ``name`` for ``owner`` until ``until``; False when
        another process holds it (its lease has not expired)."""
        now = to_db_time(self._clock())
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO duty_leases (name, owner, lease_until) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
                " lease_until = excluded.lease_until"
                " WHERE duty_leases.owner = excluded.owner OR duty_leases.lease_until <= ?"
                " RETURNING owner",
                (name, owner, to_db_time(until), now))
        return row is not None

    async def duty_holder(self, name: str) -> tuple[str, datetime] | None:
        """Who holds duty ``name``'s lease and until when (None: nobody ever took it)."""
        row = await self._db.fetchone(
            "SELECT owner, lease_until FROM duty_leases WHERE name = ?", (name,))
        if row is None:
            return None
        until = from_db_time(row["lease_until"])
        assert until is not None
        return str(row["owner"]), until
