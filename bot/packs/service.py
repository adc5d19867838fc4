"""Credit packs: a Discord entitlement of a configured consumable SKU becomes guild credits.

Where a purchase goes: the entitlement's own guild when Discord names one; else (Discord gives
consumables to the buying *user*) the guild where that member last opened the buy buttons
(/credits); else the guild of the interaction the unconsumed entitlement is seen on. An
entitlement with none of these waits, unconsumed, until the member uses the bot in a server.

Order: credit (journal + entitlements row + audit event, one transaction), THEN consume at
Discord. A consume that fails for a moment is retried the next time the entitlement is seen
and at every start (:meth:`PackService.resume`); a crash in between credits nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.clock import Clock
from bot.config_packs import PackConfig, PacksConfig
from bot.i18n.catalog import Catalog
from bot.ledger.types import BalanceLimitExceeded, JournalEntry
from bot.packs.store import EntitlementState, EntitlementStore, Revocation

log = logging.getLogger(__name__)

#: The journal's actor for Discord's purchases and refunds.
ACTOR = "discord"


class ConsumeSettled(Exception):
    """Discord refused the consume for good (unknown, or consumed already): nothing to retry."""


class ConsumeFailed(Exception):
    """The consume did not go through this time (5xx, 429, network): retried later."""


#: Consumes an entitlement at Discord (POST .../entitlements/{id}/consume).
Consume = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Purchase:
    """What the bot needs of a Discord entitlement (cogs/packs.py builds it)."""

    id: int
    sku_id: int
    user_id: int | None
    guild_id: int | None
    deleted: bool = False
    consumed: bool = False
    ends_at: datetime | None = None

    def revoked(self, now: datetime) -> bool:
        """Deleted (refunded) or ended: no longer the buyer's."""
        return self.deleted or (self.ends_at is not None and self.ends_at <= now)


class Outcome(StrEnum):
    NOT_A_PACK = "not a pack"
    CREDITED = "credited"
    KNOWN = "known"  # credited before (consumed now if it was not yet)
    WAITING = "waiting"  # no guild to credit yet
    REFUSED = "refused"  # max_balance: left unconsumed, retried when seen again
    REVOKED = "revoked"


class PackService:
    def __init__(self, config: PacksConfig, store: EntitlementStore, texts: Catalog,
                 clock: Clock) -> None:
        self._config, self._store, self._texts, self._clock = config, store, texts, clock
        #: Sightings of one entitlement in this process take turns (lock, users): a replay
        #: arriving while its consume is in flight waits and then finds it consumed, instead
        #: of asking Discord a second time. Across processes the database still decides.
        self._turns: dict[int, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def _turn(self, entitlement_id: int) -> AsyncIterator[None]:
        lock, users = self._turns.get(entitlement_id, (asyncio.Lock(), 0))
        self._turns[entitlement_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[entitlement_id]
            if users == 1:
                del self._turns[entitlement_id]
            else:
                self._turns[entitlement_id] = (lock, users - 1)

    @property
    def enabled(self) -> bool:
        return bool(self._config.skus)

    @property
    def packs(self) -> tuple[PackConfig, ...]:
        return self._config.skus

    async def offered(self, user_id: int, guild_id: int) -> None:
        """The member was shown the buy buttons in this guild."""
        if self.enabled:
            await self._store.offered(user_id, guild_id)

    async def arrived(
        self, purchase: Purchase, consume: Consume, *, seen_in: int | None = None,
        locale: object = None,
    ) -> Outcome:
        """An entitlement was created, updated, listed or seen on an interaction in
        ``seen_in``; ``locale``: the credited guild's, for its audit channel."""
        async with self._turn(purchase.id):
            return await self._arrived(purchase, consume, seen_in, locale)

    async def _arrived(self, purchase: Purchase, consume: Consume, seen_in: int | None,
                       locale: object) -> Outcome:
        credits = self._config.credits_for(purchase.sku_id)
        if credits is None:
            return Outcome.NOT_A_PACK
        if purchase.revoked(self._clock()):
            await self._revoked(purchase, locale)
            return Outcome.REVOKED
        row = await self._store.get(purchase.id)
        outcome = Outcome.KNOWN
        if row is None:
            if purchase.consumed:
                # Consumed, yet never credited here: not ours to guess about.
                log.warning("entitlement %d (SKU %d) was consumed elsewhere; not crediting it",
                            purchase.id, purchase.sku_id)
                return Outcome.KNOWN
            guild = purchase.guild_id
            if guild is None and purchase.user_id is not None:
                guild = await self._store.last_offer(purchase.user_id)
            guild = guild or seen_in
            if guild is None:
                log.info("entitlement %d (SKU %d) waits until its buyer uses the bot in a server",
                         purchase.id, purchase.sku_id)
                return Outcome.WAITING
            try:
                credited = await self._grant(purchase, guild, credits, locale)
            except BalanceLimitExceeded:
                log.warning("entitlement %d: crediting %d credits would pass [ledger] "
                            "max_balance in guild %d; raise max_balance (it stays unconsumed "
                            "and is credited when seen again)", purchase.id, credits, guild)
                return Outcome.REFUSED
            outcome = Outcome.CREDITED if credited else Outcome.KNOWN
            row = await self._store.get(purchase.id)
        if row is not None and row.state is EntitlementState.GRANTED:
            await self._consume(row.id, consume)
        return outcome

    async def _grant(self, purchase: Purchase, guild: int, credits: int,
                     locale: object) -> bool:
        label = self._config.label_for(purchase.sku_id)
        buyer = self._buyer(purchase.user_id, locale)

        def describe(entry: JournalEntry) -> str:
            return self._texts.text(locale, "packs.audit.credited", buyer=buyer, label=label,
                                    credits=entry.delta, balance=entry.balance_after)

        credited = await self._store.grant(
            entitlement_id=purchase.id, sku_id=purchase.sku_id, user_id=purchase.user_id,
            guild_id=guild, credits=credits, actor=ACTOR,
            reason=f"{label}, entitlement {purchase.id}", describe=describe)
        if credited:
            log.info("entitlement %d: %d credits to guild %d", purchase.id, credits, guild)
        return credited

    async def _consume(self, entitlement_id: int, consume: Consume) -> bool:
        try:
            await consume(entitlement_id)
        except ConsumeFailed as exc:
            log.warning("entitlement %d: consume failed (%s); retried when seen again or at "
                        "the next start", entitlement_id, exc)
            return False
        except ConsumeSettled as exc:
            log.warning("entitlement %d: Discord refused the consume (%s); nothing to retry",
                        entitlement_id, exc)
        return await self._store.mark_consumed(entitlement_id)

    async def revoked(self, purchase: Purchase, *, locale: object = None) -> Revocation | None:
        """Discord refunded or deleted the purchase: take its credits back once, as far as
        the balance goes, and tell the moderators (audit channel) about any shortfall."""
        async with self._turn(purchase.id):
            return await self._revoked(purchase, locale)

    async def _revoked(self, purchase: Purchase, locale: object) -> Revocation | None:
        credits = self._config.credits_for(purchase.sku_id)
        if credits is None:
            return None
        label = self._config.label_for(purchase.sku_id)
        buyer = self._buyer(purchase.user_id, locale)

        def describe(deducted: int, shortfall: int, balance: int) -> str:
            key = "packs.audit.refund_short" if shortfall else "packs.audit.refunded"
            return self._texts.text(locale, key, buyer=buyer, label=label, credits=credits,
                                    deducted=deducted, shortfall=shortfall, balance=balance)

        revocation = await self._store.revoke(
            entitlement_id=purchase.id, sku_id=purchase.sku_id, user_id=purchase.user_id,
            credits=credits, actor=ACTOR, reason=f"{label} refunded, entitlement {purchase.id}",
            describe=describe)
        if revocation is not None and revocation.shortfall:
            log.warning("entitlement %d refunded: %d of %d credits taken back from guild %s "
                        "(the rest was spent)", purchase.id, revocation.deducted, credits,
                        revocation.row.guild_id)
        return revocation

    async def resume(self, consume: Consume) -> int:
        """Consume every credited purchase whose consume was never confirmed (at start-up);
        how many were consumed now."""
        done = 0
        for row in await self._store.unconsumed():
            async with self._turn(row.id):
                if (now := await self._store.get(row.id)) and now.state is EntitlementState.GRANTED:
                    done += await self._consume(row.id, consume)
        return done

    def _buyer(self, user_id: int | None, locale: object) -> str:
        if user_id is None:
            return self._texts.text(locale, "packs.audit.buyer_unknown")
        return f"<@{user_id}>"
