"""The owner of the ``entitlements`` and ``pack_offers`` tables.

An entitlement's row, its 'pack' journal row and its audit event are written in ONE
transaction (:meth:`EntitlementStore.grant`), and the row's primary key is Discord's
entitlement id: however often the same purchase is seen (gateway event, replay, interaction,
start-up listing, another process), it is credited once. The row stays 'granted' until
Discord confirmed the consume, so a process killed in between consumes it after a restart
without granting again. A refund (:meth:`EntitlementStore.revoke`) takes back what the balance
allows in one transaction with its audit event, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.audit.trail import AuditLog
from bot.clock import Clock, to_db_time
from bot.db.database import Database, Row, UniqueViolation
from bot.ledger.store import Ledger
from bot.ledger.types import JournalEntry


class EntitlementState(StrEnum):
    GRANTED = "granted"
    CONSUMED = "consumed"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class EntitlementRow:
    id: int
    sku_id: int
    user_id: int | None
    guild_id: int | None
    credits: int
    state: EntitlementState
    deducted: int
    shortfall: int

    @classmethod
    def from_row(cls, row: Row) -> EntitlementRow:
        return cls(int(row["id"]), int(row["sku_id"]),
                   None if row["user_id"] is None else int(row["user_id"]),
                   None if row["guild_id"] is None else int(row["guild_id"]),
                   int(row["credits"]), EntitlementState(row["state"]),
                   int(row["deducted"]), int(row["shortfall"]))


@dataclass(frozen=True, slots=True)
class Revocation:
    """What a refund took back: ``deducted`` + ``shortfall`` == the pack's credits when it had
    been credited; both 0 when it never was (the row then only bars a later grant)."""

    row: EntitlementRow
    deducted: int
    shortfall: int
    balance: int | None


_COLUMNS = "id, sku_id, user_id, guild_id, credits, state, deducted, shortfall"
#: The audit event of a credited pack, from its journal entry (the service words it).
GrantText = Callable[[JournalEntry], str]
#: The audit event of a refund: (deducted, shortfall, balance after).
RevokeText = Callable[[int, int, int], str]


class EntitlementStore:
    def __init__(self, db: Database, ledger: Ledger, audit: AuditLog, clock: Clock) -> None:
        self._db, self._ledger, self._audit, self._clock = db, ledger, audit, clock

    def _now(self) -> str:
        return to_db_time(self._clock())

    async def get(self, entitlement_id: int) -> EntitlementRow | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM entitlements WHERE id = ?", (entitlement_id,))  # noqa: S608
        return None if row is None else EntitlementRow.from_row(row)

    async def unconsumed(self) -> list[EntitlementRow]:
        """Credited purchases whose consume Discord has not confirmed (oldest first)."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM entitlements WHERE state = 'granted'"  # noqa: S608
            " ORDER BY id")
        return [EntitlementRow.from_row(row) for row in rows]

    async def grant(
        self, *, entitlement_id: int, sku_id: int, user_id: int | None, guild_id: int,
        credits: int, actor: str, reason: str, describe: GrantText,
    ) -> bool:
        """Credit the pack to ``guild_id``, keyed by the entitlement; False (and nothing
        written) when the entitlement is known already, in any state."""
        try:
            async with self._db.transaction() as tx:
                # Under the write lock: nobody can insert it between this read and the insert
                # (and the primary key would refuse them anyway).
                if await tx.fetchone("SELECT 1 FROM entitlements WHERE id = ?",
                                     (entitlement_id,)):
                    return False
                entry = await self._ledger.purchase(guild_id, credits, actor=actor,
                                                    reason=reason, tx=tx)
                await tx.execute(
                    "INSERT INTO entitlements (id, sku_id, user_id, guild_id, credits, state,"
                    " grant_entry, created_at) VALUES (?, ?, ?, ?, ?, 'granted', ?, ?)",
                    (entitlement_id, sku_id, user_id, guild_id, credits, entry.id, self._now()))
                await self._audit.record(tx, guild_id, describe(entry),
                                         balance=entry.balance_after)
        except UniqueViolation:
            return False
        return True

    async def mark_consumed(self, entitlement_id: int) -> bool:
        """Discord confirmed the consume; False when the row was no longer 'granted'."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE entitlements SET state = 'consumed', consumed_at = ?"
                " WHERE id = ? AND state = 'granted'", (self._now(), entitlement_id))
        return changed > 0

    async def revoke(
        self, *, entitlement_id: int, sku_id: int, user_id: int | None, credits: int,
        actor: str, reason: str, describe: RevokeText,
    ) -> Revocation | None:
        """Discord refunded or deleted the purchase: take its credits back where the balance
        allows, once. None when it was revoked already."""
        now = self._now()
        async with self._db.transaction() as tx:
            found = await tx.fetchone(
                f"SELECT {_COLUMNS} FROM entitlements WHERE id = ?",  # noqa: S608
                (entitlement_id,))
            if found is None:
                # Never credited here: remember it, so a late replay of its purchase cannot
                # credit it after the refund.
                await tx.execute(
                    "INSERT INTO entitlements (id, sku_id, user_id, guild_id, credits, state,"
                    " created_at, revoked_at) VALUES (?, ?, ?, NULL, ?, 'revoked', ?, ?)",
                    (entitlement_id, sku_id, user_id, credits, now, now))
                row = EntitlementRow(entitlement_id, sku_id, user_id, None, credits,
                                     EntitlementState.REVOKED, 0, 0)
                return Revocation(row, 0, 0, None)
            row = EntitlementRow.from_row(found)
            if row.state is EntitlementState.REVOKED or row.guild_id is None:
                return None
            entry = await self._ledger.take_back(row.guild_id, row.credits, actor=actor,
                                                 reason=reason, tx=tx)
            deducted = 0 if entry is None else -entry.delta
            shortfall = row.credits - deducted
            balance = entry.balance_after if entry else await self._ledger.balance(
                row.guild_id, tx=tx)
            await tx.execute(
                "UPDATE entitlements SET state = 'revoked', deducted = ?, shortfall = ?,"
                " revoked_at = ? WHERE id = ?", (deducted, shortfall, now, entitlement_id))
            await self._audit.record(tx, row.guild_id, describe(deducted, shortfall, balance),
                                     balance=balance)
            return Revocation(row, deducted, shortfall, balance)

    async def offered(self, user_id: int, guild_id: int) -> None:
        """The member was shown the buy buttons in this guild (the last one counts)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO pack_offers (user_id, guild_id, offered_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET guild_id = excluded.guild_id,"
                " offered_at = excluded.offered_at", (user_id, guild_id, self._now()))

    async def last_offer(self, user_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT guild_id FROM pack_offers WHERE user_id = ?", (user_id,))
        return None if row is None else int(row["guild_id"])
