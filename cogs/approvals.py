"""Clicks on held requests (Confirm/Cancel, Approve/Deny), and their expiry.

The buttons are DynamicItems registered in :meth:`ApprovalsCog.cog_load`, so a request held
before a restart can still be decided after it. Every decision is a compare-and-set in the
database (:meth:`bot.policy.approvals.PendingStore.decide`): a double click, a stale preview or a
race between two moderators starts at most one job.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.duties import Duty
from bot.launch.service import SoraRequest
from bot.policy.approvals import GONE, PendingKind, PendingRequest, PendingStatus
from cogs.approval_views import COG_NAME, NO_MENTIONS, PendingButton, variant
from cogs.errors import describe
from cogs.launch import launch

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

#: How often held requests are checked for expiry.
SWEEP_SECONDS = 30.0
#: The name of the sweep's duty on the scheduler.
SWEEP_DUTY = "hold-sweep"
NOT_YOURS = "Only the member who asked for this video can confirm or cancel it."
MODERATORS_ONLY = "Only members with the Manage Server permission can approve or deny requests."
EXPIRED_AUDIT = "Expired without a decision; nothing was charged."
ABANDONED_AUDIT = ("Approved, but the bot was interrupted before the job was created; nothing "
                   "was charged and the member was told to ask again.")


def _actor(interaction: discord.Interaction[Any]) -> str:
    return f"user:{interaction.user.id}"


def _can_moderate(interaction: discord.Interaction[Any]) -> bool:
    # Interaction.permissions are the member's resolved permissions in this channel, sent
    # by Discord with every click: no cache or privileged intent needed.
    return interaction.permissions.manage_guild


async def _private(interaction: discord.Interaction[Any], text: str) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)


async def _refuse(interaction: discord.Interaction[Any], error: Exception) -> None:
    """What the tree's error handler does for commands, for a button's callback."""
    text = describe(error)
    if text is None:
        code = secrets.token_hex(3)
        log.error("Unexpected error %s on a held-request button", code, exc_info=error)
        text = f"Something went wrong (error code `{code}`)."
    if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        # The public "thinking…" placeholder would otherwise show the refusal to everyone.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
    await _private(interaction, text)


class ApprovalsCog(commands.Cog, name=COG_NAME):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PendingButton)
        # A duty of the one scheduler, so it runs (at once, then every SWEEP_SECONDS) where
        # jobs run, and stops with them.
        self.bot.scheduler.duties.add(Duty.every(SWEEP_DUTY, SWEEP_SECONDS, self._sweep_once))

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PendingButton)
        await self.bot.scheduler.duties.remove(SWEEP_DUTY)

    # -- clicks --------------------------------------------------------------------------

    async def on_pending_click(self, interaction: discord.Interaction[Any], action: str,
                               request_id: str) -> None:
        try:
            await self._click(interaction, action, request_id)
        except Exception as exc:  # every failure is answered privately
            await _refuse(interaction, exc)

    async def _click(self, interaction: discord.Interaction[Any], action: str,
                     request_id: str) -> None:
        pending = self.bot.services.store.pending
        request = await pending.get(request_id)
        if request is None or request.guild_id != interaction.guild_id:
            await _private(interaction, GONE)
            return
        if action in ("confirm", "cancel") and interaction.user.id != request.user_id:
            await _private(interaction, NOT_YOURS)
            return
        if action in ("approve", "deny") and not _can_moderate(interaction):
            await _private(interaction, MODERATORS_ONLY)
            return
        if action == "cancel":
            await self._cancel(interaction, request)
        elif action == "confirm":
            await self._confirm(interaction, request)
        elif action == "approve":
            await self._approve(interaction, request)
        else:
            await self._deny(interaction, request)

    async def _cancel(self, interaction: discord.Interaction[Any],
                      request: PendingRequest) -> None:
        pending = self.bot.services.store.pending
        if await pending.decide(request.id, PendingStatus.CANCELLED,
                                actor=_actor(interaction)) is None:
            await _private(interaction, GONE)
            return
        await interaction.response.edit_message(
            content="Cancelled; nothing was charged.", embed=None, view=None,
            allowed_mentions=NO_MENTIONS)

    async def _confirm(self, interaction: discord.Interaction[Any],
                       request: PendingRequest) -> None:
        pending = self.bot.services.store.pending
        if await pending.decide(request.id, PendingStatus.STARTED,
                                actor=_actor(interaction)) is None:
            await _private(interaction, GONE)
            return
        try:
            # The button's own public "thinking…" becomes the job's status message.
            job = await launch(self.bot, interaction, request.options,
                               hosted_image_url=request.start_image_url,
                               hosted_image_note=request.start_image_note, gate=False,
                               held_request=request.id)
        except Exception:
            await pending.reopen(request.id)  # a no-op once a job claimed the request
            raise
        log.info("held request %s confirmed: job %s", request.id,
                 job.id if job is not None else "?")

    async def _approve(self, interaction: discord.Interaction[Any],
                       request: PendingRequest) -> None:
        services = self.bot.services
        if await services.store.pending.decide(request.id, PendingStatus.STARTED,
                                               actor=_actor(interaction)) is None:
            await _private(interaction, GONE)
            return
        try:
            # The requester's own token is long gone: the job posts its result as a new
            # channel message mentioning them (no status message).
            job = await services.sora.start(SoraRequest(
                guild_id=request.guild_id, channel_id=request.channel_id,
                user_id=request.user_id, application_id=interaction.application_id,
                interaction_id=interaction.id, interaction_token=interaction.token,
                token_expires_at=interaction.expires_at,
                attachment_size_limit=interaction.filesize_limit, options=request.options,
                status_message_id=None, start_image_url=request.start_image_url,
                start_image_note=request.start_image_note, role_ids=request.role_ids,
            ), within=lambda tx: services.store.pending.claim(tx, request.id))
        except Exception:
            await services.store.pending.reopen(request.id)
            raise
        self.bot.scheduler.wake()
        log.info("held request %s approved by %s: job %s", request.id, interaction.user.id,
                 job.id)
        try:
            await interaction.response.edit_message(
                content=f"Approved by <@{interaction.user.id}>: job `{job.id}` started "
                        f"({request.price} credits reserved).",
                view=None, allowed_mentions=NO_MENTIONS)
        except Exception as exc:
            # The job is started and paid for: a lost edit must not read as a failure. A
            # second click on the stale buttons answers that the request was decided.
            log.warning("held request %s: approval message not updated (%s)", request.id,
                        type(exc).__name__)

    async def _deny(self, interaction: discord.Interaction[Any],
                    request: PendingRequest) -> None:
        if await self.bot.services.store.pending.decide(
                request.id, PendingStatus.DENIED, actor=_actor(interaction)) is None:
            await _private(interaction, GONE)
            return
        await interaction.response.edit_message(
            content=f"Denied by <@{interaction.user.id}>; nothing was charged.", view=None,
            allowed_mentions=NO_MENTIONS)
        await self.tell_outcomes()

    # -- expiry and notices --------------------------------------------------------------

    async def _sweep_once(self) -> None:
        try:
            await self.sweep()
        except Exception:
            log.warning("held-request sweep failed; retrying", exc_info=True)

    async def sweep(self) -> None:
        """Expire what is due, end requests a killed run left started without a job, and
        tell members of denials, expiries and those ends not yet told."""
        pending = self.bot.services.store.pending
        for request in await pending.expire_due():
            log.info("held request %s expired", request.id)
            await self._retire_audit_message(request, EXPIRED_AUDIT)
        for request in await pending.abandon_stale():
            log.warning("held request %s was started but its job never written (the bot was"
                        " interrupted); ended, nothing charged", request.id)
            await self._retire_audit_message(request, ABANDONED_AUDIT)
        await self.tell_outcomes()

    async def tell_outcomes(self) -> None:
        pending = self.bot.services.store.pending
        for request in await pending.untold():
            if request.kind is PendingKind.APPROVAL or request.abandoned:
                try:
                    await self._tell(request)
                except discord.HTTPException:
                    log.warning("could not tell the member of held request %s", request.id,
                                exc_info=True)
                    continue
            # An expired preview needs no notice: its own Confirm now says it expired. An
            # abandoned one does: its member clicked Confirm and got nothing.
            await pending.mark_told(request.id)

    async def _tell(self, request: PendingRequest) -> None:
        if request.abandoned:
            what = ("could not be started: the bot was interrupted before creating it. "
                    "Nothing was charged; please run /sora again.")
        elif request.status is PendingStatus.DENIED:
            what = "was denied by a moderator. Nothing was charged."
        else:
            what = "expired before a moderator approved it. Nothing was charged."
        await self.bot.get_partial_messageable(request.channel_id).send(
            f"<@{request.user_id}> your video request ({variant(request.options)}, "
            f"{request.price} credits) {what}",
            # The nonce makes a repeat after a crash between send and mark_told a no-op
            # within Discord's nonce window.
            nonce=f"p{request.id[:24]}",
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[discord.Object(request.user_id)]),
        )

    async def _retire_audit_message(self, request: PendingRequest, text: str) -> None:
        if request.audit_message_id is None:
            return
        audit = await self.bot.services.audit.settings(request.guild_id)
        if audit.channel_id is None:
            return
        message = self.bot.get_partial_messageable(audit.channel_id).get_partial_message(
            request.audit_message_id)
        with contextlib.suppress(discord.HTTPException):
            await message.edit(content=text, view=None, allowed_mentions=NO_MENTIONS)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(ApprovalsCog(bot))
