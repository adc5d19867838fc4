"""What moderators (and the operator) do to a guild's budget, each change audited atomically.

Every method writes its ledger change and its audit event in ONE transaction: either both are
committed or neither. The money rules stay the ledger's (integers, never negative, balance
plus credits held by unfinished jobs bounded by ``max_balance`` as bot/ledger/limit.py explains,
one refund per job); this layer adds who may create credits and the audit. It is also where
the cogs read and set where the budget is watched (the audit channel, the low-balance alert).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.audit.trail import AuditLog, AuditSettings
from bot.clock import Clock
from bot.config import Settings
from bot.db.database import Database
from bot.errors import UserError
from bot.jobs.model import Job, JobState
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from bot.ledger.types import (
    InsufficientCredits,
    InvalidAmount,
    JournalEntry,
    LedgerExport,
    check_amount,
    check_guild_id,
    required_text,
)

OPERATOR = "operator"


class MintingNotAllowed(UserError):
    """A moderator tried to create credits while only the bot's owner may."""

    def __init__(self) -> None:
        super().__init__(
            "Only the bot's owner can create credits on this bot (grant, or set the balance "
            "higher). Moderators can deduct credits or set the balance lower.",
            key="refusal.minting_not_allowed",
        )


class DeductBelowZero(InvalidAmount):
    """A deduction larger than the balance: refused, never clipped to zero."""

    def __init__(self, *, balance: int, amount: int) -> None:
        self.balance, self.amount = balance, amount
        super().__init__(
            f"Cannot deduct {amount} credits: the server only has {balance}. Nothing was "
            "changed (a deduction is never clipped).",
            key="refusal.deduct_below_zero", params={"amount": amount, "balance": balance},
        )


class RefundRefused(UserError):
    """The job cannot be refunded by a moderator (unknown, unfinished, or refunded already)."""


@dataclass(frozen=True, slots=True)
class BudgetSummary:
    balance: int
    #: Credits of the guild's jobs not refunded, by UTC day, ISO week and calendar month.
    spent_today: int
    spent_week: int
    spent_month: int
    running_jobs: int


def _actor(actor_id: int | None) -> str:
    if actor_id is None:
        return OPERATOR
    if isinstance(actor_id, bool) or not isinstance(actor_id, int) or actor_id <= 0:
        raise ValueError("actor_id must be a Discord user id (or None for the operator)")
    return f"user:{actor_id}"


def period_starts(now: datetime) -> tuple[datetime, datetime, datetime]:
    """Start of the UTC day, ISO week (Monday) and month containing ``now``."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day - timedelta(days=day.weekday()), day.replace(day=1)


class BudgetService:
    """Grant, deduct, set, refund and summarise a guild's credits."""

    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        audit: AuditLog,
        jobs: JobStore,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._db, self._ledger, self._audit, self._jobs = db, ledger, audit, jobs
        self._settings, self._clock = settings, clock

    @property
    def max_balance(self) -> int:
        return self._ledger.max_balance

    # -- reads for the cogs, which never hold the stores themselves ---------------------------

    async def balance(self, guild_id: int) -> int:
        return await self._ledger.balance(guild_id)

    async def running_jobs(self, guild_id: int, user_id: int) -> list[Job]:
        """The member's jobs still occupying a slot (reserved, submitted, completed)."""
        return await self._jobs.in_flight(guild_id, user_id)

    async def history(
        self, guild_id: int, *, limit: int, before_id: int | None = None,
        kind: str | None = None, actor: str | None = None,
    ) -> list[JournalEntry]:
        """Journal entries newest first (see :meth:`bot.ledger.store.Ledger.history`)."""
        return await self._ledger.history(guild_id, limit=limit, before_id=before_id,
                                          kind=kind, actor=actor)

    async def export(self, guild_id: int) -> LedgerExport:
        return await self._ledger.export(guild_id)

    # -- where the budget is watched: the audit channel and the low-balance alert -------------

    async def audit_settings(self, guild_id: int) -> AuditSettings:
        return await self._audit.settings(guild_id)

    async def set_audit_channel(
        self, guild_id: int, channel_id: int | None, *, actor: str
    ) -> AuditSettings:
        """Post this guild's credit changes and job outcomes there; None stops posting."""
        return await self._audit.set_channel(guild_id, channel_id, actor=actor)

    async def set_low_balance_alert(
        self, guild_id: int, threshold: int | None, *, actor: str
    ) -> AuditSettings:
        """Alert once when the balance drops below ``threshold``; None turns the alert off."""
        return await self._audit.set_low_balance(guild_id, threshold, actor=actor)

    async def grant(
        self, guild_id: int, amount: int, *, actor_id: int | None, can_mint: bool, reason: str
    ) -> JournalEntry:
        """Add credits. ``actor_id`` None means the operator (CLI)."""
        guild, value = check_guild_id(guild_id), check_amount(amount)
        actor, why = _actor(actor_id), required_text(reason, "Reason")
        if not can_mint:
            raise MintingNotAllowed
        async with self._db.transaction() as tx:
            entry = await self._ledger.grant(guild, value, actor=actor, reason=why, tx=tx)
            await self._audit.ledger_change(tx, entry)
        return entry

    async def deduct(
        self, guild_id: int, amount: int, *, actor_id: int | None, can_mint: bool, reason: str
    ) -> JournalEntry:
        """Take credits away; refused with :class:`DeductBelowZero` if the balance is short.

        ``can_mint`` is accepted for a uniform call shape; deducting never creates credits.
        """
        guild, value = check_guild_id(guild_id), check_amount(amount)
        actor, why = _actor(actor_id), required_text(reason, "Reason")
        async with self._db.transaction() as tx:
            try:
                entry = await self._ledger.deduct(guild, value, actor=actor, reason=why, tx=tx)
            except InsufficientCredits as exc:
                raise DeductBelowZero(balance=exc.balance, amount=value) from None
            await self._audit.ledger_change(tx, entry)
        return entry

    async def set(
        self, guild_id: int, amount: int, *, actor_id: int | None, can_mint: bool, reason: str
    ) -> JournalEntry:
        """Set the balance; raising it creates credits, so it needs ``can_mint``."""
        guild, value = check_guild_id(guild_id), check_amount(amount, allow_zero=True)
        actor, why = _actor(actor_id), required_text(reason, "Reason")
        async with self._db.transaction() as tx:
            # Read under the write lock this transaction holds, so the comparison with the
            # balance that is about to be replaced cannot go stale.
            if not can_mint and value > await self._ledger.balance(guild, tx=tx):
                raise MintingNotAllowed
            entry = await self._ledger.set(guild, value, actor=actor, reason=why, tx=tx)
            await self._audit.ledger_change(tx, entry)
        return entry

    async def refund_job(
        self, guild_id: int, job_id: str, *, actor_id: int | None, reason: str
    ) -> JournalEntry:
        """Give back the credits of a delivered job of this guild, at most once.

        This creates credits, so it is refused (``BalanceLimitExceeded``) like a grant when
        it would take the balance past ``max_balance``.
        """
        guild, actor = check_guild_id(guild_id), _actor(actor_id)
        why = required_text(reason, "Reason")
        wanted = job_id.strip() if isinstance(job_id, str) else ""
        async with self._db.transaction() as tx:
            job = await self._jobs.get(wanted, tx=tx)
            if job is None or job.guild_id != guild:
                raise RefundRefused(f"There is no job `{wanted[:40]}` in this server.",
                                    key="refusal.refund_unknown_job",
                                    params={"job": wanted[:40]})
            if job.state is JobState.REFUNDED:
                raise RefundRefused(f"Job `{job.id}` failed and was already refunded.",
                                    key="refusal.refund_failed_already", params={"job": job.id})
            if job.state is not JobState.DELIVERED:
                raise RefundRefused(
                    f"Job `{job.id}` has not finished yet; only a delivered job can be refunded.",
                    key="refusal.refund_unfinished", params={"job": job.id},
                )
            entry = await self._ledger.refund(job.id, actor=actor, reason=why, tx=tx)
            if entry is None:
                raise RefundRefused(f"Job `{job.id}` was already refunded.",
                                    key="refusal.refund_already", params={"job": job.id})
            await self._audit.ledger_change(tx, entry, job_user_id=job.user_id)
        return entry

    async def summary(self, guild_id: int) -> BudgetSummary:
        guild = check_guild_id(guild_id)
        balance = await self._ledger.balance(guild)
        today, week, month = await self._ledger.spent(guild, period_starts(self._clock()))
        running = len(await self._jobs.in_flight(guild))
        return BudgetSummary(
            balance=balance, spent_today=today, spent_week=week, spent_month=month,
            running_jobs=running,
        )
