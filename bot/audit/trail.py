"""The per-guild audit trail: an outbox written with each change, posted to an audit channel.

:meth:`AuditLog.record` appends an event INSIDE the caller's transaction, so an event exists
exactly when the change it describes was committed. :class:`AuditPoster` later posts pending
events to the guild's audit channel (one message each, nonce ``a<event id>`` so a retry after
a crash inside Discord's nonce window cannot post twice) and marks them; events of guilds
without an audit channel are marked skipped.

The low-balance alert lives here too: every recorded balance is compared with the guild's
threshold, and the alert fires once per crossing below it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import aiohttp
import discord

from bot.clock import Clock
from bot.db.database import Database, Transaction
from bot.duties import Duties, Duty
from bot.ledger.types import (
    MAX_AMOUNT,
    EntryKind,
    InvalidArgument,
    JournalEntry,
    check_guild_id,
    required_text,
)

log = logging.getLogger(__name__)


#: Discord's message length limit.
MAX_TEXT = 2000
_MAX_SNOWFLAKE = 2**63 - 1


class EventStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    SKIPPED = "skipped"  # the guild had no audit channel when the poster got to it
    FAILED = "failed"  # Discord refused for good (channel gone, no permission)


@dataclass(frozen=True, slots=True)
class AuditSettings:
    guild_id: int
    channel_id: int | None
    low_balance_threshold: int | None
    low_balance_alerted: bool


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    guild_id: int
    text: str
    status: EventStatus
    message_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: int
    guild_id: int
    text: str
    channel_id: int | None


def who(actor: str) -> str:
    """How an actor of the journal is named in the audit channel (mentions never ping)."""
    if actor.startswith("user:") and actor[5:].isdigit():
        return f"<@{actor[5:]}>"
    if actor == "operator":
        return "The bot operator"
    return actor


def _reason(reason: str | None) -> str:
    return f" Reason: {reason}." if reason else ""


def _optional_id(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_SNOWFLAKE:
        raise InvalidArgument(f"{what} must be a Discord id.")
    return int(value)


class AuditLog:
    """Audit settings and the event outbox of every guild."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock
        self._listeners: list[Callable[[], None]] = []

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="microseconds")

    def on_record(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever an event is recorded (the poster's wake-up)."""
        self._listeners.append(listener)

    # -- writing events (always inside the caller's transaction) -------------------------

    async def record(
        self, tx: Transaction, guild_id: int, text: str, *, balance: int | None = None
    ) -> int:
        """Append an event; with ``balance`` (the balance after the change) also check the
        low-balance threshold. Returns the event id."""
        row = await tx.fetchone(
            "INSERT INTO audit_events (guild_id, text, created_at) VALUES (?, ?, ?) RETURNING id",
            (guild_id, text.strip()[:MAX_TEXT] or "(empty)", self._now()),
        )
        assert row is not None
        if balance is not None:
            await self._check_low_balance(tx, guild_id, balance)
        for listener in self._listeners:
            listener()
        return int(row["id"])

    async def _check_low_balance(self, tx: Transaction, guild_id: int, balance: int) -> None:
        row = await tx.fetchone(
            "SELECT low_balance_threshold AS threshold, low_balance_alerted AS alerted"
            " FROM audit_settings WHERE guild_id = ?",
            (guild_id,),
        )
        if row is None or row["threshold"] is None:
            return
        threshold, alerted = int(row["threshold"]), bool(row["alerted"])
        if balance < threshold and not alerted:
            await tx.execute(
                "UPDATE audit_settings SET low_balance_alerted = 1 WHERE guild_id = ?",
                (guild_id,),
            )
            await self.record(
                tx, guild_id,
                f"⚠️ Low balance: the server has {balance} credits left, below the alert "
                f"threshold of {threshold}.",
            )
        elif balance >= threshold and alerted:
            # Back above: re-arm, so the next drop below alerts again.
            await tx.execute(
                "UPDATE audit_settings SET low_balance_alerted = 0 WHERE guild_id = ?",
                (guild_id,),
            )

    async def ledger_change(
        self, tx: Transaction, entry: JournalEntry, *, job_user_id: int | None = None
    ) -> int:
        """The event of a moderator's or operator's grant, deduct, set or job refund."""
        actor, amount = who(entry.actor), abs(entry.delta)
        plural = "" if amount == 1 else "s"
        match entry.kind:
            case EntryKind.GRANT:
                what = f"➕ {actor} granted {amount} credit{plural}."
            case EntryKind.DEDUCT:
                what = f"➖ {actor} deducted {amount} credit{plural}."
            case EntryKind.SET:
                what = f"✏️ {actor} set the balance to {entry.balance_after} ({entry.delta:+d})."
            case EntryKind.REFUND:
                owner = f" (requested by <@{job_user_id}>)" if job_user_id else ""
                what = (f"↩️ {actor} refunded {amount} credit{plural} for job "
                        f"`{entry.job_id}`{owner}.")
            case _:
                what = f"{actor}: {entry.kind} {entry.delta:+d} credits."
        text = f"{what}{_reason(entry.reason)} Balance: {entry.balance_after}."
        return await self.record(tx, entry.guild_id, text, balance=entry.balance_after)

    # -- settings ---------------------------------------------------------------------------

    async def settings(self, guild_id: int) -> AuditSettings:
        guild = check_guild_id(guild_id)
        row = await self._db.fetchone(
            "SELECT channel_id, low_balance_threshold, low_balance_alerted"
            " FROM audit_settings WHERE guild_id = ?",
            (guild,),
        )
        if row is None:
            return AuditSettings(guild, None, None, low_balance_alerted=False)
        return AuditSettings(
            guild, row["channel_id"], row["low_balance_threshold"],
            low_balance_alerted=bool(row["low_balance_alerted"]),
        )

    async def set_channel(
        self, guild_id: int, channel_id: int | None, *, actor: str
    ) -> AuditSettings:
        """Post this guild's events to ``channel_id`` from now on; None stops posting."""
        guild, channel = check_guild_id(guild_id), _optional_id(channel_id, "Channel")
        await self._upsert(guild, "channel_id", channel, required_text(actor, "Actor"))
        return await self.settings(guild)

    async def set_low_balance(
        self, guild_id: int, threshold: int | None, *, actor: str
    ) -> AuditSettings:
        """Alert once when the balance drops below ``threshold``; None turns the alert off."""
        guild = check_guild_id(guild_id)
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int)
            or not 0 < threshold <= MAX_AMOUNT
        ):
            raise InvalidArgument(
                f"The low-balance threshold must be a whole number from 1 to {MAX_AMOUNT}."
            )
        # A new threshold starts un-alerted: the next drop below it alerts.
        await self._upsert(guild, "low_balance_threshold", threshold,
                           required_text(actor, "Actor"), reset_alert=True)
        return await self.settings(guild)

    async def _upsert(
        self, guild: int, column: str, value: int | None, actor: str, *, reset_alert: bool = False
    ) -> None:
        alerted = ", low_balance_alerted = 0" if reset_alert else ""
        # ``column`` is one of two literals from this class; values are bound parameters.
        sql = (
            f"INSERT INTO audit_settings (guild_id, {column}, updated_by, updated_at)"  # noqa: S608
            " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET"
            f" {column} = excluded.{column}, updated_by = excluded.updated_by,"
            f" updated_at = excluded.updated_at{alerted}"
        )
        async with self._db.transaction() as tx:
            await tx.execute(sql, (guild, value, actor, self._now()))

    # -- the outbox ---------------------------------------------------------------------------

    async def events(self, guild_id: int, *, limit: int = 100) -> list[AuditEvent]:
        """The guild's events, oldest first."""
        rows = await self._db.fetchall(
            "SELECT id, guild_id, text, status, message_id, created_at FROM audit_events"
            " WHERE guild_id = ? ORDER BY id LIMIT ?",
            (check_guild_id(guild_id), limit),
        )
        return [
            AuditEvent(int(r["id"]), int(r["guild_id"]), str(r["text"]),
                       EventStatus(r["status"]), r["message_id"],
                       datetime.fromisoformat(r["created_at"]))
            for r in rows
        ]

    async def pending(self, limit: int) -> list[PendingEvent]:
        """Unposted events, oldest first, with the guild's audit channel right now."""
        rows = await self._db.fetchall(
            "SELECT e.id, e.guild_id, e.text, s.channel_id FROM audit_events AS e"
            " LEFT JOIN audit_settings AS s ON s.guild_id = e.guild_id"
            " WHERE e.status = 'pending' ORDER BY e.id LIMIT ?",
            (limit,),
        )
        return [
            PendingEvent(int(r["id"]), int(r["guild_id"]), str(r["text"]), r["channel_id"])
            for r in rows
        ]

    async def mark(
        self, event_id: int, status: EventStatus, message_id: int | None = None
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE audit_events SET status = ?, message_id = ?, done_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (status, message_id, self._now(), event_id),
            )


#: The name of the audit outbox's duty on the scheduler.
AUDIT_DUTY = "audit-poster"


class AuditPoster:
    """Posts pending audit events to their guild's audit channel, one message per event.

    A duty of the one scheduler: a pass when an event is recorded, else every ``interval``
    seconds (a failed post is retried), and at once again while a full batch was settled.

    A once-only duty (bot/duties.py): with many processes on one database, the one holding
    the duty's lease posts the whole outbox, so an event is posted once and a guild's events
    keep their order (claiming rows per process would post a guild's later events beside
    its earlier ones). A holder killed between Discord's answer and :meth:`AuditLog.mark`
    leaves the event pending; the next holder sends it again with the same nonce.
    """

    def __init__(
        self, audit: AuditLog, client: discord.Client, duties: Duties, *,
        interval: float = 5.0, batch: int = 20,
    ) -> None:
        self._audit, self._client, self._duties = audit, client, duties
        self._interval, self._batch = interval, batch
        self._busy = False
        duties.add(Duty(AUDIT_DUTY, self._pass, self._due_in, once=True))
        audit.on_record(self.wake)

    def wake(self) -> None:
        self._duties.wake(AUDIT_DUTY)

    async def _pass(self) -> None:
        try:
            self._busy = await self.post_pending() >= self._batch
        except Exception:
            log.exception("audit poster: pass failed; retrying")
            self._busy = False

    async def _due_in(self) -> float:
        return 0.0 if self._busy else self._interval

    async def post_pending(self) -> int:
        """One pass over the outbox; returns how many events were settled.

        Stops at the first transient failure so a guild's events are posted in order.
        """
        settled = 0
        for event in await self._audit.pending(self._batch):
            if event.channel_id is None:
                await self._audit.mark(event.id, EventStatus.SKIPPED)
                settled += 1
                continue
            channel = self._client.get_partial_messageable(
                event.channel_id, guild_id=event.guild_id
            )
            try:
                message = await channel.send(
                    event.text, nonce=f"a{event.id}",
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            except discord.HTTPException as exc:
                if exc.status >= 500 or exc.status == 429:
                    log.warning("audit event %d: Discord %s; will retry", event.id, exc.status)
                    return settled
                log.warning("audit event %d: channel %s refused it (%s %s)", event.id,
                            event.channel_id, exc.status, exc.code)
                await self._audit.mark(event.id, EventStatus.FAILED)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("audit event %d: %s; will retry", event.id, type(exc).__name__)
                return settled
            else:
                await self._audit.mark(event.id, EventStatus.POSTED, message.id)
            settled += 1
        return settled
