"""Credit packs: Discord's entitlement events, interactions and a start-up listing reach
bot/packs (which credits each purchase once, then consumes it). A thin adapter: it turns a
``discord.Entitlement`` into a :class:`Purchase` and Discord's consume route into the
service's :data:`Consume`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord.ext import commands

from bot.packs.service import ConsumeFailed, ConsumeSettled, Purchase

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)


def purchase_of(entitlement: discord.Entitlement) -> Purchase:
    return Purchase(id=entitlement.id, sku_id=entitlement.sku_id, user_id=entitlement.user_id,
                    guild_id=entitlement.guild_id, deleted=entitlement.deleted,
                    consumed=entitlement.consumed, ends_at=entitlement.ends_at)


class PacksCog(commands.Cog):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        self._start_up: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        if self.bot.services.packs.enabled:
            # Not awaited: a slow or failing Discord must not hold up start-up.
            self._start_up = asyncio.create_task(self.catch_up(), name="packs-catch-up")

    async def cog_unload(self) -> None:
        if self._start_up is not None:
            self._start_up.cancel()

    async def consume(self, entitlement_id: int) -> None:
        app = self.bot.application_id
        assert app is not None  # set at login, before any cog loads
        try:
            await self.bot.http.consume_entitlement(app, entitlement_id)
        except discord.HTTPException as exc:
            if exc.status >= 500 or exc.status == 429:
                raise ConsumeFailed(f"Discord {exc.status}") from None
            raise ConsumeSettled(f"Discord {exc.status} {exc.code}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ConsumeFailed(type(exc).__name__) from None

    def _locale(self, guild_id: int | None) -> object:
        guild = self.bot.get_guild(guild_id) if guild_id else None
        return guild.preferred_locale if guild is not None else None

    async def _arrived(self, entitlement: discord.Entitlement,
                       seen_in: int | None = None) -> None:
        packs = self.bot.services.packs
        if not packs.enabled:
            return
        purchase = purchase_of(entitlement)
        await packs.arrived(purchase, self.consume, seen_in=seen_in,
                            locale=self._locale(purchase.guild_id or seen_in))

    async def catch_up(self) -> None:
        """At start: consume what was credited but never consumed, then credit what was
        bought (or take back what was refunded) while the bot was away."""
        packs = self.bot.services.packs
        try:
            await packs.resume(self.consume)
            skus = [discord.Object(pack.sku_id) for pack in packs.packs]
            async for entitlement in self.bot.entitlements(limit=None, skus=skus,
                                                           exclude_deleted=False):
                await self._arrived(entitlement)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("credit packs: listing entitlements failed (%s); purchases are "
                        "credited when seen again", type(exc).__name__)
        except Exception:
            # A task's exception would otherwise surface only at garbage collection.
            log.exception("credit packs: catching up at start-up failed; purchases are "
                          "credited when seen again")

    @commands.Cog.listener()
    async def on_entitlement_create(self, entitlement: discord.Entitlement) -> None:
        await self._arrived(entitlement)

    @commands.Cog.listener()
    async def on_entitlement_update(self, entitlement: discord.Entitlement) -> None:
        await self._arrived(entitlement)

    @commands.Cog.listener()
    async def on_entitlement_delete(self, entitlement: discord.Entitlement) -> None:
        packs = self.bot.services.packs
        if packs.enabled:
            purchase = purchase_of(entitlement)
            await packs.revoked(purchase, locale=self._locale(purchase.guild_id))

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[SoraBot]) -> None:
        # Interactions carry the member's unconsumed entitlements: a purchase the bot missed
        # (it was down) is credited here, to the guild it is used in unless it has its own.
        for entitlement in interaction.entitlements:
            if not entitlement.consumed:
                await self._arrived(entitlement, seen_in=interaction.guild_id)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(PacksCog(bot))
