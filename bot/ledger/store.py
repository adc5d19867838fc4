"""Per-guild credit balances with an append-only journal: the owner of the credit tables.

Other modules ask it: :meth:`Ledger.balance` (also inside the caller's transaction),
:meth:`Ledger.spent` for a guild's spending, and :func:`bot.ledger.journal.is_refunded` for
the one question another table's query asks of the journal (was this job's money given back?).

Every change writes one journal row in the same transaction as the balance, so the balance
always equals the sum of the guild's journal deltas. Spending is a single conditional UPDATE
(never read-then-write), and "at most one reserve / one refund per job" is enforced by unique
indexes in the database.

Refunding a job that was already refunded returns ``None`` and changes nothing; it is not an
error because retries and restarts legitimately ask twice.

``max_balance`` bounds the balance including credits held by unfinished jobs; the rule and
its reasons are in :mod:`bot.ledger.limit`. The ledger reads no table but its own: whether a
job was delivered it asks the jobs table's owner, injected as ``held_jobs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bot.clock import Clock, utc_now
from bot.config import LedgerConfig
from bot.db.database import Database, Transaction, UniqueViolation
from bot.ledger.history import SELECT_ENTRIES, history_query
from bot.ledger.journal import spent
from bot.ledger.limit import HeldJobs, check_limit, is_held
from bot.ledger.types import (
    MAX_AMOUNT,
    AlreadyReserved,
    BalanceLimitExceeded,
    EntryKind,
    InsufficientCredits,
    JournalEntry,
    LedgerExport,
    NotReserved,
    check_amount,
    check_guild_id,
    optional_text,
    required_text,
)


class Ledger:
    """Credit operations for every guild; construct once and inject where needed."""

    def __init__(
        self,
        db: Database,
        *,
        max_balance: int,
        starting_credits: int,
        held_jobs: HeldJobs,
        clock: Clock = utc_now,
    ) -> None:
        if isinstance(max_balance, bool) or not isinstance(max_balance, int) or not (
            0 < max_balance <= MAX_AMOUNT
        ):
            raise ValueError(f"max_balance must be a whole number from 1 to {MAX_AMOUNT}")
        if isinstance(starting_credits, bool) or not isinstance(starting_credits, int) or not (
            0 <= starting_credits <= max_balance
        ):
            raise ValueError("starting_credits must be a whole number from 0 to max_balance")
        self._db = db
        self._max = max_balance
        self._start = starting_credits
        self._clock = clock
        # Which reserves are still held is the jobs table's answer (see bot/ledger/limit.py).
        self._held_jobs = held_jobs

    @classmethod
    def from_config(
        cls, db: Database, config: LedgerConfig, *, held_jobs: HeldJobs,
        clock: Clock = utc_now,
    ) -> Ledger:
        return cls(
            db,
            max_balance=config.max_balance,
            starting_credits=config.starting_credits,
            clock=clock,
            held_jobs=held_jobs,
        )

    @property
    def max_balance(self) -> int:
        return self._max

    @property
    def starting_credits(self) -> int:
        return self._start

    def _now(self) -> str:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the ledger clock must return timezone-aware datetimes")
        return now.astimezone(UTC).isoformat(timespec="microseconds")

    @asynccontextmanager
    async def _scope(self, tx: Transaction | None) -> AsyncIterator[Transaction]:
        if tx is None:
            async with self._db.transaction() as own:
                yield own
        else:
            # Inside the caller's transaction a refused operation must undo its own writes,
            # even if the caller catches the error and goes on to commit.
            async with tx.savepoint():
                yield tx

    async def _ensure_guild(self, tx: Transaction, guild_id: int) -> bool:
        """Give a guild seen for the first time its starting credits; whether it was new."""
        now = self._now()
        created = await tx.fetchone(
            "INSERT INTO guild_balances (guild_id, balance, created_at, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO NOTHING RETURNING balance",
            (guild_id, self._start, now, now),
        )
        if created is not None:
            await self._journal(
                tx, guild_id, EntryKind.INITIAL, self._start, self._start,
                actor="system", reason="starting credits", job_id=None,
            )
        return created is not None

    async def _journal(
        self,
        tx: Transaction,
        guild_id: int,
        kind: EntryKind,
        delta: int,
        balance_after: int,
        *,
        actor: str,
        reason: str | None,
        job_id: str | None,
    ) -> JournalEntry:
        row = await tx.fetchone(
            "INSERT INTO ledger_journal"
            " (guild_id, kind, delta, balance_after, actor, reason, job_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING"
            " id, guild_id, kind, delta, balance_after, actor, reason, job_id, created_at",
            (guild_id, kind.value, delta, balance_after, actor, reason, job_id, self._now()),
        )
        assert row is not None
        return JournalEntry.from_row(row)

    @staticmethod
    async def _current(tx: Transaction, guild_id: int) -> int:
        row = await tx.fetchone(
            "SELECT balance FROM guild_balances WHERE guild_id = ?", (guild_id,)
        )
        assert row is not None
        return int(row["balance"])

    async def balance(self, guild_id: int, *, tx: Transaction | None = None) -> int:
        """The guild's credits; a guild seen for the first time gets its starting credits.

        Inside ``tx`` this only reads, under the write lock the caller holds (so it cannot go
        stale before the caller's change): an unknown guild reads as its starting credits,
        which its first change writes.
        """
        guild = check_guild_id(guild_id)
        if tx is not None:
            row = await tx.fetchone(
                "SELECT balance FROM guild_balances WHERE guild_id = ?", (guild,)
            )
            return int(row["balance"]) if row else self._start
        row = await self._db.fetchone(
            "SELECT balance FROM guild_balances WHERE guild_id = ?", (guild,)
        )
        if row is not None:
            return int(row["balance"])
        async with self._db.transaction() as tx:
            await self._ensure_guild(tx, guild)
            return await self._current(tx, guild)

    async def spent(self, guild_id: int, starts: Sequence[datetime]) -> tuple[int, ...]:
        """Credits the guild's jobs reserved since each of ``starts``, net of refunded jobs.

        A reserve counts as spent unless the job's credits came back (failure or moderator).
        """
        return await spent(self._db, check_guild_id(guild_id), starts)

    async def known(self, guild_id: int) -> bool:
        """Whether the guild has a balance yet; unlike :meth:`balance`, this writes nothing."""
        row = await self._db.fetchone(
            "SELECT 1 FROM guild_balances WHERE guild_id = ?", (check_guild_id(guild_id),)
        )
        return row is not None

    async def grant(
        self,
        guild_id: int,
        amount: int,
        *,
        actor: str,
        reason: str | None,
        tx: Transaction | None = None,
    ) -> JournalEntry:
        """Add credits; refused if balance + held credits would exceed ``max_balance``."""
        return await self._credit(EntryKind.GRANT, guild_id, amount, actor=actor,
                                  reason=reason, tx=tx)

    async def deduct(
        self,
        guild_id: int,
        amount: int,
        *,
        actor: str,
        reason: str | None,
        tx: Transaction | None = None,
    ) -> JournalEntry:
        """Take credits away; refused (never clipped) when the balance is too small."""
        guild, value = check_guild_id(guild_id), check_amount(amount)
        who, why = required_text(actor, "Actor"), optional_text(reason, "Reason")
        async with self._scope(tx) as tx:
            return await self._spend(tx, guild, value, EntryKind.DEDUCT, who, why, None)

    async def set(
        self,
        guild_id: int,
        amount: int,
        *,
        actor: str,
        reason: str | None,
        tx: Transaction | None = None,
    ) -> JournalEntry:
        """Set the balance outright; the journal records the difference (possibly zero).

        Lowering is always allowed; raising is refused like a grant, and no set may go above
        ``max_balance``.
        """
        guild, value = check_guild_id(guild_id), check_amount(amount, allow_zero=True)
        who, why = required_text(actor, "Actor"), optional_text(reason, "Reason")
        async with self._scope(tx) as tx:
            await self._ensure_guild(tx, guild)
            # BEGIN IMMEDIATE holds the write lock, so the balance read here cannot go stale.
            previous = await self._current(tx, guild)
            if value > self._max:
                raise BalanceLimitExceeded(
                    balance=previous, requested=value, max_balance=self._max
                )
            if value > previous:
                await check_limit(tx, guild, previous, value - previous, self._max,
                                  self._held_jobs)
            await tx.execute(
                "UPDATE guild_balances SET balance = ?, updated_at = ? WHERE guild_id = ?",
                (value, self._now(), guild),
            )
            return await self._journal(
                tx, guild, EntryKind.SET, value - previous, value,
                actor=who, reason=why, job_id=None,
            )

    async def purchase(
        self, guild_id: int, amount: int, *, actor: str, reason: str | None, tx: Transaction,
    ) -> JournalEntry:
        """Credit a purchased pack inside ``tx`` (the caller keys it by its entitlement);
        refused like a grant past ``max_balance``."""
        return await self._credit(EntryKind.PACK, guild_id, amount, actor=actor,
                                  reason=reason, tx=tx)

    async def _credit(
        self, kind: EntryKind, guild_id: int, amount: int, *, actor: str,
        reason: str | None, tx: Transaction | None,
    ) -> JournalEntry:
        guild, value = check_guild_id(guild_id), check_amount(amount)
        who, why = required_text(actor, "Actor"), optional_text(reason, "Reason")
        async with self._scope(tx) as tx:
            await self._ensure_guild(tx, guild)
            # BEGIN IMMEDIATE holds the write lock, so neither read below can go stale.
            await check_limit(tx, guild, await self._current(tx, guild), value, self._max,
                              self._held_jobs)
            row = await tx.fetchone(
                "UPDATE guild_balances SET balance = balance + ?, updated_at = ?"
                " WHERE guild_id = ? RETURNING balance", (value, self._now(), guild))
            assert row is not None
            return await self._journal(tx, guild, kind, value, int(row["balance"]),
                                       actor=who, reason=why, job_id=None)

    async def take_back(
        self, guild_id: int, amount: int, *, actor: str, reason: str | None, tx: Transaction,
    ) -> JournalEntry | None:
        """Take up to ``amount`` back for a refunded pack: what the balance has, never below
        zero (the caller reports the rest); ``None`` when the balance is zero."""
        guild, value = check_guild_id(guild_id), check_amount(amount)
        who, why = required_text(actor, "Actor"), optional_text(reason, "Reason")
        async with self._scope(tx) as tx:
            await self._ensure_guild(tx, guild)
            # The caller's transaction holds the write lock: the balance cannot move meanwhile.
            taken = min(value, await self._current(tx, guild))
            if taken == 0:
                return None
            return await self._spend(tx, guild, taken, EntryKind.PACK_REFUND, who, why, None)

    async def reserve(
        self,
        guild_id: int,
        amount: int,
        *,
        job_id: str,
        actor: str,
        reason: str | None = None,
        tx: Transaction | None = None,
    ) -> JournalEntry:
        """Charge a job up front. Pass ``tx`` to reserve inside the caller's transaction."""
        guild, value = check_guild_id(guild_id), check_amount(amount)
        job = required_text(job_id, "Job id")
        who, why = required_text(actor, "Actor"), optional_text(reason, "Reason")
        try:
            async with self._scope(tx) as scope:
                return await self._spend(scope, guild, value, EntryKind.RESERVE, who, why, job)
        except UniqueViolation:
            raise AlreadyReserved(job) from None

    async def _spend(
        self,
        tx: Transaction,
        guild: int,
        value: int,
        kind: EntryKind,
        actor: str,
        reason: str | None,
        job: str | None,
    ) -> JournalEntry:
        # The sufficiency check lives inside the write, so concurrent spenders cannot both pass.
        # The guild is written first only when the spend finds no row: a known guild (every
        # spend but its first) costs one statement, not an "ensure" insert each time.
        spend = ("UPDATE guild_balances SET balance = balance - ?, updated_at = ?"
                 " WHERE guild_id = ? AND balance >= ? RETURNING balance")
        row = await tx.fetchone(spend, (value, self._now(), guild, value))
        if row is None and await self._ensure_guild(tx, guild):
            row = await tx.fetchone(spend, (value, self._now(), guild, value))
        if row is None:
            if job is not None and await tx.fetchone(
                "SELECT 1 FROM ledger_journal WHERE job_id = ? AND kind = 'reserve'", (job,)
            ):
                # A repeated reserve is reported as such, whatever the balance is now.
                raise AlreadyReserved(job)
            raise InsufficientCredits(balance=await self._current(tx, guild), price=value)
        return await self._journal(
            tx, guild, kind, -value, int(row["balance"]), actor=actor, reason=reason, job_id=job
        )

    async def refund(
        self,
        job_id: str,
        *,
        actor: str,
        reason: str | None,
        tx: Transaction | None = None,
    ) -> JournalEntry | None:
        """Give a job's reserved credits back; ``None`` if it was already refunded.

        Credits still held by the job (it failed, or was never shown) always come back: they
        were counted against ``max_balance`` all along, so this cannot pass it. Refunding a
        video that was delivered creates credits, so it is refused with
        :class:`BalanceLimitExceeded` like a grant when it would pass the limit.
        """
        job = required_text(job_id, "Job id")
        who, why = required_text(actor, "Actor"), optional_text(reason, "Reason")
        try:
            async with self._scope(tx) as scope:
                reserve = await scope.fetchone(
                    "SELECT guild_id, delta FROM ledger_journal"
                    " WHERE job_id = ? AND kind = 'reserve'",
                    (job,),
                )
                if reserve is None:
                    raise NotReserved(job)
                guild, amount = int(reserve["guild_id"]), -int(reserve["delta"])
                if not await is_held(scope, job, self._held_jobs):
                    balance = await self._current(scope, guild)
                    await check_limit(scope, guild, balance, amount, self._max, self._held_jobs)
                row = await scope.fetchone(
                    "UPDATE guild_balances SET balance = balance + ?, updated_at = ?"
                    " WHERE guild_id = ? RETURNING balance",
                    (amount, self._now(), guild),
                )
                assert row is not None
                return await self._journal(
                    scope, guild, EntryKind.REFUND, amount, int(row["balance"]),
                    actor=who, reason=why, job_id=job,
                )
        except UniqueViolation:
            # The one-refund-per-job index refused it, and the scope undid the credit.
            return None

    async def history(
        self,
        guild_id: int,
        *,
        limit: int = 20,
        before_id: int | None = None,
        kind: EntryKind | str | None = None,
        actor: str | None = None,
    ) -> list[JournalEntry]:
        """Entries newest first; pass the last id seen as ``before_id`` for the next page."""
        sql, params = history_query(guild_id, limit=limit, before_id=before_id, kind=kind,
                                    actor=actor)
        return [JournalEntry.from_row(row) for row in await self._db.fetchall(sql, params)]

    async def export(self, guild_id: int) -> LedgerExport:
        """The balance and every journal entry, oldest first, from one consistent snapshot."""
        guild = check_guild_id(guild_id)
        async with self._db.transaction() as tx:
            await self._ensure_guild(tx, guild)
            balance = await self._current(tx, guild)
            rows = await tx.scan(SELECT_ENTRIES + " ORDER BY id", (guild,))
        return LedgerExport(
            guild_id=guild,
            balance=balance,
            exported_at=datetime.fromisoformat(self._now()),
            entries=tuple(JournalEntry.from_row(row) for row in rows),
        )
