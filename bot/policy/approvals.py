"""Requests waiting for a member's Confirm (cost preview) or a moderator's Approve.

Nothing is reserved while a request waits: it only records what is needed to start the job
later, even after a restart. Every decision is a compare-and-set on ``status = 'pending'``
that also checks ``expires_at``, so a request starts at most once and a stale one never does.

A ``started`` request is then *claimed* by its job, inside the transaction that writes the job
row (:meth:`PendingStore.claim`: ``notified`` becomes 1, the member's outcome being that job).
One a run left ``started`` and unclaimed (killed between the decision and the job row) is
ended by :meth:`PendingStore.abandon_stale` with the same compare-and-set, so exactly one of
the two happens: the job, or the member is told nothing was charged.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from bot.clock import Clock, to_db_time
from bot.db.database import Database, Transaction
from bot.policy.held import ABANDONED, PendingKind, PendingRequest, PendingStatus, RequestGone
from bot.request import VideoRequest

#: A preview is a quick yes/no: after this its price and balance may be stale.
PREVIEW_TTL = timedelta(minutes=10)
#: Moderators may be asleep; a day later the member has most likely moved on.
APPROVAL_TTL = timedelta(hours=24)
#: From a decision to its job row is a second or two (acknowledge, one transaction); a request
#: still unclaimed this long after was left by a run that died in between.
STARTED_GRACE = timedelta(minutes=2)


class PendingStore:
    """The ``pending_requests`` table; construct once and inject."""

    def __init__(self, db: Database, *, clock: Clock, preview_ttl: timedelta = PREVIEW_TTL,
                 approval_ttl: timedelta = APPROVAL_TTL) -> None:
        self._db, self._clock = db, clock
        self._ttl = {PendingKind.PREVIEW: preview_ttl, PendingKind.APPROVAL: approval_ttl}

    async def create(self, kind: PendingKind, new: VideoRequest) -> PendingRequest:
        """Hold ``new`` (nothing reserved) until its Confirm or Approve, or its expiry."""
        now = self._clock()
        options = new.options
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO pending_requests (id, kind, guild_id, channel_id, user_id, role_ids,"
                " prompt, duration, aspect_ratio, resolution, start_image_url, start_image_note,"
                " price, created_at, expires_at, model, params)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (uuid.uuid4().hex, kind.value, new.guild_id, new.channel_id, new.user_id,
                 ",".join(str(r) for r in new.role_ids), options.prompt, options.duration,
                 options.aspect_ratio, options.resolution, new.start_image_url,
                 new.start_image_note, new.price,
                 to_db_time(now), to_db_time(now + self._ttl[kind]), new.model,
                 options.to_json()),
            )
        assert row is not None
        return PendingRequest.from_row(row)

    async def get(self, request_id: str) -> PendingRequest | None:
        row = await self._db.fetchone("SELECT * FROM pending_requests WHERE id = ?",
                                      (request_id,))
        return PendingRequest.from_row(row) if row else None

    async def set_audit_message(self, request_id: str, message_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE pending_requests SET audit_message_id = ? WHERE id = ?",
                             (message_id, request_id))

    async def decide(self, request_id: str, status: PendingStatus, *,
                     actor: str) -> PendingRequest | None:
        """Move a live request out of ``pending``; None if it was decided or had expired.

        A denial is recorded as not yet told to the member (see :meth:`untold`).
        """
        if status is PendingStatus.PENDING:
            raise ValueError("a decision must leave the pending state")
        now = to_db_time(self._clock())
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE pending_requests SET status = ?, decided_by = ?, decided_at = ?"
                " WHERE id = ? AND status = 'pending' AND expires_at > ? RETURNING *",
                (status.value, actor, now, request_id, now),
            )
        return PendingRequest.from_row(row) if row else None

    async def reopen(self, request_id: str) -> None:
        """Undo a ``started`` decision whose job could not be created (nothing was charged).

        A request its job claimed stays started: a second Confirm must not charge again.
        """
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE pending_requests SET status = 'pending', decided_by = NULL,"
                " decided_at = NULL WHERE id = ? AND status = 'started' AND notified = 0",
                (request_id,))

    async def claim(self, tx: Transaction, request_id: str) -> None:
        """Mark the started request as having its job, in the job row's own transaction.

        Raises :class:`RequestGone` (so the job is not written) if it was meanwhile ended by
        :meth:`abandon_stale` or claimed by another job.
        """
        claimed = await tx.execute(
            "UPDATE pending_requests SET notified = 1"
            " WHERE id = ? AND status = 'started' AND notified = 0", (request_id,))
        if claimed != 1:
            raise RequestGone

    async def abandon_stale(self) -> list[PendingRequest]:
        """End started requests that have had no job for :data:`STARTED_GRACE`; returns them.

        They stay untold (see :meth:`untold`) until the member hears that nothing was charged.
        A request decided before claims existed whose job was written is marked done instead
        (matched on everything the job copied from it, created after the decision).
        """
        now = self._clock()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE pending_requests AS p SET notified = 1"
                " WHERE p.status = 'started' AND p.notified = 0 AND EXISTS (SELECT 1 FROM jobs"
                " AS j WHERE j.guild_id = p.guild_id AND j.channel_id = p.channel_id"
                " AND j.user_id = p.user_id AND j.prompt = p.prompt AND j.duration = p.duration"
                " AND j.aspect_ratio = p.aspect_ratio AND j.resolution = p.resolution"
                " AND j.created_at >= p.decided_at)")
            rows = await tx.fetchall(
                "UPDATE pending_requests SET status = 'expired', decided_by = ?, decided_at = ?"
                " WHERE status = 'started' AND notified = 0 AND decided_at <= ? RETURNING *",
                (ABANDONED, to_db_time(now), to_db_time(now - STARTED_GRACE)),
            )
        return [PendingRequest.from_row(r) for r in rows]

    async def expire_due(self) -> list[PendingRequest]:
        """Mark every pending request past its expiry as expired; returns them."""
        now = to_db_time(self._clock())
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE pending_requests SET status = 'expired', decided_by = 'expiry',"
                " decided_at = ? WHERE status = 'pending' AND expires_at <= ? RETURNING *",
                (now, now),
            )
        return [PendingRequest.from_row(r) for r in rows]

    async def untold(self) -> list[PendingRequest]:
        """Denied, expired or abandoned requests whose member was not told yet."""
        rows = await self._db.fetchall(
            "SELECT * FROM pending_requests WHERE status IN ('denied', 'expired')"
            " AND notified = 0 ORDER BY id")
        return [PendingRequest.from_row(r) for r in rows]

    async def mark_told(self, request_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE pending_requests SET notified = 1 WHERE id = ?",
                             (request_id,))
