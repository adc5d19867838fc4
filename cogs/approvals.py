"""Held requests (Confirm/Cancel, Approve/Deny): their buttons, and their expiry.

The buttons are DynamicItems registered in :meth:`ApprovalsCog.cog_load`, so a request held
before a restart can still be decided after it; what a click does is
:func:`cogs.approval_views.on_click`. Every decision is a compare-and-set in the database: a
double click, a stale preview or a race between two moderators starts at most one job.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.duties import Duty
from bot.policy.held import PendingRequest
from cogs.adapters import PendingButton
from cogs.approval_views import NO_MENTIONS, tell_outcomes

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

#: How often held requests are checked for expiry.
SWEEP_SECONDS = 30.0
#: The name of the sweep's duty on the scheduler.
SWEEP_DUTY = "hold-sweep"
COG_NAME = "ApprovalsCog"
EXPIRED_AUDIT = "Expired without a decision; nothing was charged."
ABANDONED_AUDIT = ("Approved, but the bot was interrupted before the job was created; nothing "
                   "was charged and the member was told to ask again.")


class ApprovalsCog(commands.Cog, name=COG_NAME):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PendingButton)
        # A duty of the one scheduler, so it runs (at once, then every SWEEP_SECONDS) where
        # jobs run, and stops with them; once-only, so with many processes one tells members.
        self.bot.scheduler.duties.add(Duty.every(SWEEP_DUTY, SWEEP_SECONDS, self._sweep_once,
                                                 once=True))

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PendingButton)
        await self.bot.scheduler.duties.remove(SWEEP_DUTY)

    # -- expiry and notices --------------------------------------------------------------

    async def _sweep_once(self) -> None:
        try:
            await self.sweep()
        except Exception:
            log.warning("held-request sweep failed; retrying", exc_info=True)

    async def sweep(self) -> None:
        """Expire what is due, end requests a killed run left started without a job, and
        tell members of denials, expiries and those ends not yet told."""
        holds = self.bot.services.holds
        for request in await holds.expire_due():
            log.info("held request %s expired", request.id)
            await self._retire_audit_message(request, EXPIRED_AUDIT)
        for request in await holds.abandon_stale():
            log.warning("held request %s was started but its job never written (the bot was"
                        " interrupted); ended, nothing charged", request.id)
            await self._retire_audit_message(request, ABANDONED_AUDIT)
        await self.tell_outcomes()

    async def tell_outcomes(self) -> None:
        await tell_outcomes(self.bot)

    async def _retire_audit_message(self, request: PendingRequest, text: str) -> None:
        if request.audit_message_id is None:
            return
        audit = await self.bot.services.budget.audit_settings(request.guild_id)
        if audit.channel_id is None:
            return
        message = self.bot.get_partial_messageable(audit.channel_id).get_partial_message(
            request.audit_message_id)
        with contextlib.suppress(discord.HTTPException):
            await message.edit(content=text, view=None, allowed_mentions=NO_MENTIONS)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(ApprovalsCog(bot))
