"""The job journal and its state machine: the owner of the ``jobs`` table.

Other modules ask it: :meth:`JobStore.get` (also inside the caller's transaction),
:class:`JobHistory` for the guild policy, :func:`has_job` for the acknowledgements' queries,
and :class:`JobDeliveries` for the ledger's balance rule (bot/ledger/limit.py declares what
it asks, since the ledger cannot import this module, which depends on it; bot/app.py wires it).

Every transition is one conditional write (``UPDATE … WHERE state = ?``), so two workers, a
poll and a webhook, or a restarted process racing an old one can never apply the same step
twice. Reserving credits and writing the job row happen in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.clock import Clock, from_db_time, to_db_time
from bot.db.database import Database, Transaction
from bot.jobs import audit_texts
from bot.jobs.leases import PENDING, POLLS, STEPS, JobLeases
from bot.jobs.model import IN_FLIGHT, FailureKind, Job, JobLimitReached, JobState
from bot.ledger.journal import is_refunded
from bot.ledger.store import Ledger
from bot.metrics import Metrics
from bot.policy.rules import MemberSpending
from bot.request import VideoRequest

if TYPE_CHECKING:
    from bot.audit.trail import AuditLog
    from bot.policy.store import PolicyStore


#: Jobs per statement when many are updated at once (two bound values each).
_CHUNK = 500


def has_job(interaction_id: str) -> str:
    """SQL that is true when a job was written for the interaction whose id is the SQL
    expression ``interaction_id`` (a column of the caller's query, never a value)."""
    return f"EXISTS (SELECT 1 FROM jobs AS j WHERE j.interaction_id = {interaction_id})"  # noqa: S608


class JobDeliveries:
    """The ledger's :class:`bot.ledger.limit.HeldJobs`: a job's reserve is held until its
    video reached the channel (a job that ended "undeliverable" still holds it, since nobody
    saw its video). Stateless, so it exists before the :class:`Ledger` that needs it."""

    def still_held(self, job_id: str) -> str:
        """SQL that is true unless the job whose id is the SQL expression ``job_id`` (never a
        value) was delivered; a job without a row is still held."""
        return (
            # Spelled for both backends: SQLite's "IS 'x'" is not PostgreSQL's.
            "NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.id = "  # noqa: S608
            f"{job_id} AND j.state = 'delivered'"
            " AND (j.delivery_mode IS NULL OR j.delivery_mode != 'undeliverable'))"
        )


class JobHistory:
    """What a member's jobs cost and when the last one began, for the guild policy.

    Each read runs on the reader it is given: the policy's check passes the transaction that
    reserves the credits, so parallel requests see each other's jobs. It holds no state, so
    it exists before the :class:`JobStore` that needs the policy that needs it.
    """

    async def member_spending(
        self, reader: Database | Transaction, guild_id: int, user_id: int, *,
        day: datetime, week: datetime, month: datetime,
    ) -> MemberSpending:
        """The member's jobs not refunded since each start (a failed job awaiting its refund
        still counts; a moderator's refund of a delivered video gives the room back)."""
        row = await reader.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN created_at >= ? THEN price END), 0) AS today,"  # noqa: S608
            " COALESCE(SUM(CASE WHEN created_at >= ? THEN price END), 0) AS week,"
            " COALESCE(SUM(CASE WHEN created_at >= ? THEN price END), 0) AS month"
            " FROM jobs WHERE guild_id = ? AND user_id = ? AND created_at >= ?"
            f" AND NOT {is_refunded('jobs.id')}",
            (*(to_db_time(start) for start in (day, week, month)), guild_id, user_id,
             to_db_time(min(week, month))),
        )
        assert row is not None
        return MemberSpending(int(row["today"]), int(row["week"]), int(row["month"]))

    async def last_job_at(
        self, reader: Database | Transaction, guild_id: int, user_id: int
    ) -> datetime | None:
        """When the member's latest job not refunded was created."""
        row = await reader.fetchone(
            "SELECT MAX(created_at) AS at FROM jobs WHERE guild_id = ? AND user_id = ?"  # noqa: S608
            f" AND NOT {is_refunded('jobs.id')}",
            (guild_id, user_id),
        )
        return datetime.fromisoformat(row["at"]) if row and row["at"] else None


class JobStore:
    """Create jobs (reserving their credits) and move them through their states."""

    def __init__(
        self, db: Database, ledger: Ledger, *, timeout: timedelta, clock: Clock,
        policy: PolicyStore, audit: AuditLog, metrics: Metrics | None = None,
    ) -> None:
        self._db, self._ledger, self._timeout, self._clock = db, ledger, timeout, clock
        # Counted once per job, after the transaction that makes it so has committed.
        self._metrics = metrics if metrics is not None else Metrics()
        self._policy = policy
        # Job start, delivery and refund are audited in the transaction that makes them so.
        self._audit = audit
        #: Who holds which job's step (many schedulers may share the database).
        self.leases = JobLeases(db, clock)

    def _now(self) -> str:
        return to_db_time(self._clock())

    async def create(
        self, new: VideoRequest, *, status_message_id: int | None = None,
        max_per_guild: int, max_per_member: int,
        within: Callable[[Transaction], Awaitable[object]] | None = None,
    ) -> Job:
        """Reserve the price and write the job row in one transaction.

        ``status_message_id`` is the acknowledgement's message that shows the job's progress
        (None: the result is posted as a new message).

        ``within`` runs last in that transaction: the caller's bookkeeping that must hold
        exactly when the job exists (closing its acknowledgement, claiming a held request);
        if it raises, nothing is written.

        Raises ``InsufficientCredits`` or a :class:`PolicyRefusal` (the guild's policy, or
        :class:`JobLimitReached`); either way nothing is written. The policy and the limit
        counts run inside the same write transaction, so parallel requests cannot all slip
        under a cap or a limit. A guild's own in-flight limits replace the given defaults.
        """
        job_id = uuid.uuid4().hex
        now = self._clock()
        origin, options = new.origin, new.options
        async with self._db.transaction() as tx:
            policy = await self._policy.check(tx, new)
            max_per_guild = policy.max_in_flight_guild or max_per_guild
            max_per_member = policy.max_in_flight_member or max_per_member
            await self._check_limits(tx, new, max_per_guild, max_per_member)
            reserve = await self._ledger.reserve(
                new.guild_id, new.price, job_id=job_id, actor=f"user:{new.user_id}",
                reason=f"{new.model} {new.variant}", tx=tx,
            )
            row = await tx.fetchone(
                "INSERT INTO jobs (id, guild_id, channel_id, user_id, application_id,"
                " interaction_id, interaction_token, token_expires_at, status_message_id,"
                " attachment_size_limit, model, prompt, duration, aspect_ratio, resolution,"
                " start_image_url, price, idempotency_key, state, next_action_at, deadline_at,"
                " created_at, updated_at, start_image_note, params)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *",
                (
                    job_id, origin.guild_id, origin.channel_id, origin.user_id,
                    origin.application_id, origin.interaction_id, origin.interaction_token,
                    to_db_time(origin.token_expires_at), status_message_id,
                    origin.attachment_size_limit, new.model, options.prompt, options.duration,
                    options.aspect_ratio, options.resolution, new.start_image_url,
                    new.price, f"sora-{job_id}", JobState.RESERVED, to_db_time(now),
                    to_db_time(now + self._timeout), to_db_time(now), to_db_time(now),
                    new.start_image_note, options.to_json(),
                ),
            )
            assert row is not None
            job = Job.from_row(row)
            await audit_texts.job_started(self._audit, tx, job, reserve)
            if within is not None:
                await within(tx)
        self._metrics.credits_reserved.labels(model=job.model).inc(job.price)
        return job

    async def _check_limits(
        self, tx: Transaction, new: VideoRequest, max_per_guild: int, max_per_member: int
    ) -> None:
        guild_n, member_n = await self.in_flight_counts(new.guild_id, new.user_id, tx=tx)
        if member_n >= max_per_member:
            raise JobLimitReached(scope="member", running=member_n, limit=max_per_member)
        if guild_n >= max_per_guild:
            raise JobLimitReached(scope="guild", running=guild_n, limit=max_per_guild)

    async def in_flight_counts(
        self, guild_id: int, user_id: int, *, tx: Transaction | None = None
    ) -> tuple[int, int]:
        """``(the guild's, the member's)`` jobs in flight: counted by the database, not fetched
        (a CASE, not SUM over a comparison: PostgreSQL has no SUM of booleans)."""
        marks = ",".join("?" * len(IN_FLIGHT))
        row = await (self._db if tx is None else tx).fetchone(
            "SELECT COUNT(*) AS guild_n,"  # noqa: S608
            " COALESCE(SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END), 0) AS member_n FROM jobs"
            f" WHERE guild_id = ? AND state IN ({marks})",
            (user_id, guild_id, *IN_FLIGHT),
        )
        assert row is not None
        return int(row["guild_n"]), int(row["member_n"])

    async def get(self, job_id: str, *, tx: Transaction | None = None) -> Job | None:
        """The job, read inside ``tx`` when given (the caller's change depends on it)."""
        reader = self._db if tx is None else tx
        row = await reader.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    async def by_apiframe_id(self, apiframe_job_id: str) -> Job | None:
        row = await self._db.fetchone(
            "SELECT * FROM jobs WHERE apiframe_job_id = ?", (apiframe_job_id,)
        )
        return Job.from_row(row) if row else None

    async def in_flight(self, guild_id: int, user_id: int | None = None) -> list[Job]:
        marks = ",".join("?" * len(IN_FLIGHT))
        sql = f"SELECT * FROM jobs WHERE guild_id = ? AND state IN ({marks})"  # noqa: S608
        params: list[object] = [guild_id, *IN_FLIGHT]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        return [Job.from_row(r) for r in await self._db.fetchall(sql + " ORDER BY created_at",
                                                                  params)]

    # The queue's clauses live with the leases that claim from it (bot/jobs/leases.py).
    _PENDING, _STEPS, _POLLS = PENDING, STEPS, POLLS

    async def due(self, limit: int, *, polls: bool = True) -> list[Job]:
        """Unfinished jobs whose next step is due now, oldest first (without submitted jobs
        when ``polls`` is False)."""
        pending = self._PENDING if polls else self._STEPS
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE {pending} AND next_action_at <= ?"  # noqa: S608
            " ORDER BY next_action_at LIMIT ?",
            (self._now(), limit),
        )
        return [Job.from_row(r) for r in rows]

    async def next_due_at(
        self, exclude: Collection[str] = (), *, polls: bool = True, owner: str | None = None
    ) -> datetime | None:
        """When the next unfinished job is due, ignoring ``exclude`` and the jobs ``owner``
        holds (steps under way), and submitted jobs when ``polls`` is False. A job another
        process holds is due when its lease ends, if that is later: the holder's step may
        move it, and until then nobody else may take it."""
        skip = ",".join("?" * len(exclude))
        pending = self._PENDING if polls else self._STEPS
        mine = " AND (lease_owner IS NULL OR lease_owner != ?)" if owner is not None else ""
        row = await self._db.fetchone(
            "SELECT MIN(CASE WHEN lease_until > next_action_at THEN lease_until"  # noqa: S608
            f" ELSE next_action_at END) AS at FROM jobs WHERE {pending}{mine}"
            + (f" AND id NOT IN ({skip})" if exclude else ""),
            (*(() if owner is None else (owner,)), *exclude),
        )
        return from_db_time(row["at"]) if row else None

    async def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state, zeros included), for /metrics."""
        rows = await self._db.scan("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        counts = dict.fromkeys(JobState, 0)
        for row in rows:
            counts[JobState(row["state"])] = int(row["n"])
        return counts

    # -- the batched poller's queue: submitted jobs, read and rescheduled many at a time ----

    async def polls_due(self, until: datetime, limit: int) -> list[Job]:
        """Submitted jobs due to be looked at by ``until``, soonest first."""
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE {self._POLLS} AND next_action_at <= ?"  # noqa: S608
            " ORDER BY next_action_at LIMIT ?",
            (to_db_time(until), limit),
        )
        return [Job.from_row(r) for r in rows]

    async def next_poll_at(self) -> datetime | None:
        """When the next submitted job is due to be looked at."""
        row = await self._db.fetchone(
            f"SELECT MIN(next_action_at) AS at FROM jobs WHERE {self._POLLS}", ()  # noqa: S608
        )
        return from_db_time(row["at"]) if row else None

    async def count_polls(self) -> int:
        """How many jobs are submitted (running at the provider, as far as we know)."""
        row = await self._db.fetchone(
            f"SELECT COUNT(*) AS n FROM jobs WHERE {self._POLLS}", ()  # noqa: S608
        )
        return int(row["n"]) if row else 0

    async def record_polls(self, progress: Mapping[str, int], poll_at: datetime) -> int:
        """What one listing said of many running jobs, in one transaction: each job's
        progress, its next look at ``poll_at``, its error count cleared. Only jobs still
        submitted change (a webhook may have finished one meanwhile); returns how many."""
        values = [(job_id, max(0, min(100, p))) for job_id, p in progress.items()]
        return await self._update_many(
            values, "progress = v.column2, next_action_at = ?, attempts = 0",
            (to_db_time(poll_at),), second="CAST(? AS INTEGER)",
        )

    async def reschedule_polls(self, retry_at: Mapping[str, datetime]) -> int:
        """Back off many submitted jobs at once: each to its own time, one error counted."""
        values = [(job_id, to_db_time(at)) for job_id, at in retry_at.items()]
        return await self._update_many(
            values, "next_action_at = v.column2, attempts = attempts + 1", ()
        )

    async def _update_many(
        self, values: Sequence[tuple[str, object]], assignments: str, params: tuple[object, ...],
        *, second: str = "?",
    ) -> int:
        """``second``: the VALUES list's second column; PostgreSQL types a bare parameter
        there as text, so a number is cast (SQLite takes either)."""
        changed = 0
        async with self._db.transaction() as tx:
            # One statement per chunk instead of one per job; a chunk stays far below SQLite's
            # bound-parameter limit.
            for start in range(0, len(values), _CHUNK):
                chunk = values[start:start + _CHUNK]
                rows = ",".join([f"(?,{second})"] * len(chunk))
                changed += await tx.execute(
                    f"UPDATE jobs SET {assignments}, updated_at = ?"  # noqa: S608
                    f" FROM (VALUES {rows}) AS v WHERE jobs.id = v.column1"
                    " AND jobs.state = 'submitted'",
                    (*params, self._now(), *(item for pair in chunk for item in pair)),
                )
        return changed

    async def _transition(
        self, job_id: str, expected: JobState | tuple[JobState, ...], sets: dict[str, object],
        then: Callable[[Transaction, Job], Awaitable[object]] | None = None,
    ) -> Job | None:
        """Apply ``sets`` if the job is still in ``expected``; return the new row or None."""
        states = (expected,) if isinstance(expected, JobState) else expected
        sets = {**sets, "updated_at": self._now()}
        assignments = ", ".join(f"{column} = ?" for column in sets)
        marks = ",".join("?" * len(states))
        # Column names come from this module's own call sites; every value is a bound parameter.
        sql = f"UPDATE jobs SET {assignments} WHERE id = ? AND state IN ({marks}) RETURNING *"  # noqa: S608
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                sql,
                (*sets.values(), job_id, *states),
            )
            job = Job.from_row(row) if row else None
            if job is not None and then is not None:
                await then(tx, job)
        return job

    async def reschedule(self, job: Job, at: datetime, *, count_attempt: bool = True) -> None:
        """Try the job's current step again at ``at``."""
        await self._transition(job.id, job.state, {
            "next_action_at": to_db_time(at),
            "attempts": job.attempts + 1 if count_attempt else job.attempts,
        })

    async def mark_submitted(
        self, job_id: str, apiframe_job_id: str, poll_at: datetime
    ) -> Job | None:
        return await self._transition(job_id, JobState.RESERVED, {
            "state": JobState.SUBMITTED, "apiframe_job_id": apiframe_job_id,
            "submitted_at": self._now(), "next_action_at": to_db_time(poll_at), "attempts": 0,
        })

    async def record_progress(self, job_id: str, progress: int, poll_at: datetime) -> Job | None:
        return await self._transition(job_id, JobState.SUBMITTED, {
            "progress": max(0, min(100, progress)), "next_action_at": to_db_time(poll_at),
            "attempts": 0,
        })

    async def mark_token_post(self, job: Job) -> Job | None:
        """Note that the outcome is about to go out through the interaction token."""
        return await self._transition(job.id, job.state, {"token_post_at": self._now()})

    async def mark_result_post(self, job: Job) -> Job | None:
        """Note that the result is about to be posted (any route), before it is sent."""
        return await self._transition(job.id, job.state, {"result_post_at": self._now()})

    async def mark_progress_shown(self, job_id: str) -> None:
        await self._transition(job_id, JobState.SUBMITTED, {"progress_shown_at": self._now()})

    async def set_status_message(self, job_id: str, message_id: int) -> None:
        await self._db_execute("UPDATE jobs SET status_message_id = ? WHERE id = ?",
                               (message_id, job_id))

    async def mark_completed(
        self, job_id: str, result_url: str, run_seconds: float | None = None
    ) -> Job | None:
        """``run_seconds``: how long the job ran (bot/jobs/runtimes.py learns from it)."""
        return await self._transition(job_id, JobState.SUBMITTED, {
            "state": JobState.COMPLETED, "result_url": result_url, "progress": 100,
            "finished_at": self._now(), "next_action_at": self._now(), "attempts": 0,
            "run_seconds": run_seconds,
        })

    async def cards_due(self, shown_before: datetime, limit: int) -> list[Job]:
        """Submitted jobs with a status card that can still be edited (a message, a token
        not expired) and was last shown before ``shown_before``, stalest first: between two
        looks at a job its card still moves. One range of the ``jobs_cards`` index; a card
        never shown (its first edit failed) waits for its job's next look instead."""
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE {self._POLLS} AND status_message_id IS NOT NULL"  # noqa: S608
            " AND interaction_token IS NOT NULL AND token_expires_at > ?"
            " AND progress_shown_at < ? ORDER BY progress_shown_at LIMIT ?",
            (self._now(), to_db_time(shown_before), limit),
        )
        return [Job.from_row(r) for r in rows]

    async def mark_failed(
        self, job_id: str, kind: FailureKind, detail: str | None,
        expected: tuple[JobState, ...] = (JobState.RESERVED, JobState.SUBMITTED,
                                          JobState.COMPLETED),
    ) -> Job | None:
        return await self._transition(job_id, expected, {
            "state": JobState.FAILED, "failure_kind": kind,
            "failure_detail": (detail or "")[:1000] or None, "finished_at": self._now(),
            "next_action_at": self._now(), "attempts": 0,
        })

    async def refund(self, job: Job) -> Job | None:
        """Give the credits back and mark the job refunded, in one transaction.

        The ledger's one-refund-per-job index makes a second refund a no-op even if two
        workers got here; the state check makes the second one return None.
        """
        async with self._db.transaction() as tx:
            entry = await self._ledger.refund(job.id, actor="system",
                                              reason=f"job failed: {job.failure_kind}", tx=tx)
            row = await tx.fetchone(
                "UPDATE jobs SET state = ?, next_action_at = ?, updated_at = ?"
                " WHERE id = ? AND state = ? RETURNING *",
                (JobState.REFUNDED, self._now(), self._now(), job.id, JobState.FAILED),
            )
            refunded = Job.from_row(row) if row else None
            if refunded is not None and entry is not None:
                await audit_texts.job_refunded(self._audit, tx, refunded, entry)
        if refunded is not None and entry is not None:
            self._metrics.credits_refunded.labels(model=job.model).inc(entry.delta)
        return refunded

    async def mark_delivered(self, job_id: str, mode: str, message_id: int | None) -> Job | None:
        job = await self._transition(job_id, JobState.COMPLETED, {
            "state": JobState.DELIVERED, "delivery_mode": mode,
            "delivered_message_id": message_id, "delivered_at": self._now(),
            "interaction_token": None,
        }, then=self._job_delivered)
        if job is not None:
            self._metrics.credits_charged.labels(model=job.model).inc(job.price)
            delivered = job.delivered_at or self._clock()
            self._metrics.job_duration.labels(model=job.model).observe(
                max(0.0, (delivered - job.created_at).total_seconds()))
        return job

    async def _job_delivered(self, tx: Transaction, job: Job) -> None:
        await audit_texts.job_delivered(self._audit, tx, job)

    async def mark_notified(self, job_id: str) -> Job | None:
        return await self._transition(job_id, JobState.REFUNDED, {
            "notified_at": self._now(), "interaction_token": None,
        })

    async def _db_execute(self, sql: str, params: tuple[object, ...]) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(sql, params)
