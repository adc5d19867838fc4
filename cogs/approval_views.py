"""The preview and approval gate's Discord side: holding a request, its embeds and buttons.

:func:`hold` is called by :func:`cogs.launch.launch` when the price passes one of the guild's
thresholds: it records the request (nothing is reserved) and shows the member a private
preview, or posts it to the audit channel for a moderator. The buttons are
:class:`PendingButton` DynamicItems keyed by the request id, so they work after a restart;
their clicks are handled by :class:`cogs.approvals.ApprovalsCog`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.errors import UserError
from bot.launch.validation import SoraOptions
from bot.policy.approvals import (
    CUSTOM_ID_TEMPLATE,
    NewPending,
    PendingKind,
    PendingRequest,
    PendingStatus,
    custom_id,
)
from bot.policy.rules import GuildPolicy

if TYPE_CHECKING:
    from bot.app import SoraBot

NO_MENTIONS = discord.AllowedMentions.none()
COG_NAME = "ApprovalsCog"
NO_AUDIT_CHANNEL = (
    "This video needs a moderator's approval, but no audit channel is configured — ask a "
    "moderator to set one with `/budget audit`. Nothing was charged."
)
AUDIT_UNREACHABLE = (
    "This video needs a moderator's approval, but I can't post in the audit channel — ask a "
    "moderator to check my permissions there. Nothing was charged."
)
_PROMPT_SHOWN = 1000

_BUTTONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "confirm": ("Confirm", discord.ButtonStyle.success),
    "cancel": ("Cancel", discord.ButtonStyle.secondary),
    "approve": ("Approve", discord.ButtonStyle.success),
    "deny": ("Deny", discord.ButtonStyle.danger),
}


class ClickHandler(Protocol):
    async def on_pending_click(self, interaction: discord.Interaction[Any], action: str,
                               request_id: str) -> None: ...


class PendingButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
                    template=CUSTOM_ID_TEMPLATE):
    """One of Confirm/Cancel (preview) or Approve/Deny (approval) of one held request."""

    def __init__(self, action: str, request_id: str) -> None:
        label, style = _BUTTONS[action]
        super().__init__(discord.ui.Button(label=label, style=style,
                                           custom_id=custom_id(action, request_id)))
        self.action, self.request_id = action, request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
        match: re.Match[str], /,
    ) -> PendingButton:
        return cls(match["action"], match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ClickHandler | None = interaction.client.get_cog(COG_NAME)
        if handler is None:
            await interaction.response.send_message(
                "Approvals are not available right now; please try again later.",
                ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        await handler.on_pending_click(interaction, self.action, self.request_id)


def buttons(request: PendingRequest) -> discord.ui.View:
    actions = ("confirm", "cancel") if request.kind is PendingKind.PREVIEW else ("approve", "deny")
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(PendingButton(action, request.id))
    return view


def variant(options: SoraOptions) -> str:
    return f"{options.resolution}, {options.duration} s, {options.aspect_ratio}"


def _prompt(options: SoraOptions) -> str:
    text = options.prompt
    if len(text) > _PROMPT_SHOWN:
        text = text[: _PROMPT_SHOWN - 1] + "…"
    return discord.utils.escape_markdown(text)


def _remaining(cap: int | None, spent: int, price: int) -> str:
    if cap is None:
        return "no cap"
    left = max(cap - spent, 0)
    return f"{left} credits left ({max(left - price, 0)} after this)"


async def preview_embed(bot: SoraBot, request: PendingRequest,
                        policy: GuildPolicy) -> discord.Embed:
    services = bot.services
    balance = await services.store.ledger.balance(request.guild_id)
    spending = await services.policy.spending(request.guild_id, request.user_id)
    embed = discord.Embed(title="Confirm this video?", description=_prompt(request.options))
    embed.add_field(name="Variant", value=variant(request.options))
    embed.add_field(name="Price", value=f"{request.price} credits")
    embed.add_field(name="Server balance after", value=str(balance - request.price))
    embed.add_field(name="Your daily cap",
                    value=_remaining(policy.daily_cap, spending.today, request.price))
    embed.add_field(name="Your weekly cap",
                    value=_remaining(policy.weekly_cap, spending.week, request.price))
    embed.set_footer(text="Nothing is charged until you confirm. This preview expires "
                          f"at {request.expires_at:%H:%M} UTC.")
    return embed


def approval_embed(request: PendingRequest) -> discord.Embed:
    embed = discord.Embed(title="Video awaiting approval", description=_prompt(request.options))
    embed.add_field(name="Requested by", value=f"<@{request.user_id}>")
    embed.add_field(name="Channel", value=f"<#{request.channel_id}>")
    embed.add_field(name="Variant", value=variant(request.options))
    embed.add_field(name="Price", value=f"{request.price} credits")
    embed.add_field(name="Start image", value="yes" if request.start_image_url else "no")
    embed.set_footer(text=f"Request {request.id} · expires {request.expires_at:%Y-%m-%d %H:%M} "
                          "UTC · nothing is reserved until approved")
    return embed


async def hold(
    bot: SoraBot,
    interaction: discord.Interaction[SoraBot],
    kind: PendingKind,
    options: SoraOptions,
    *,
    price: int,
    role_ids: tuple[int, ...],
    policy: GuildPolicy,
    rehost: Callable[[], Awaitable[tuple[str | None, str | None]]],
) -> PendingRequest:
    """Record the request and show its preview, or send it to the audit channel."""
    services = bot.services
    assert interaction.guild_id is not None and interaction.channel_id is not None
    audit_channel: int | None = None
    if kind is PendingKind.APPROVAL:
        audit_channel = (await services.audit.settings(interaction.guild_id)).channel_id
        if audit_channel is None:
            raise UserError(NO_AUDIT_CHANNEL)
    # Private: only the member sees the preview or the "awaiting approval" note.
    await interaction.response.defer(ephemeral=True, thinking=True)
    image_url, image_note = await rehost()
    request = await services.store.pending.create(NewPending(
        kind=kind, guild_id=interaction.guild_id, channel_id=interaction.channel_id,
        user_id=interaction.user.id, role_ids=role_ids, options=options, price=price,
        start_image_url=image_url, start_image_note=image_note,
    ))
    if audit_channel is None:
        await interaction.followup.send(embed=await preview_embed(bot, request, policy),
                                        view=buttons(request), ephemeral=True,
                                        allowed_mentions=NO_MENTIONS)
        return request
    try:
        posted = await bot.get_partial_messageable(audit_channel).send(
            embed=approval_embed(request), view=buttons(request), allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        await services.store.pending.decide(request.id, PendingStatus.CANCELLED, actor="bot")
        raise UserError(AUDIT_UNREACHABLE) from None
    await services.store.pending.set_audit_message(request.id, posted.id)
    await interaction.followup.send(
        f"This video costs {request.price} credits, so a moderator must approve it first. "
        "You'll be told here when they decide; nothing is charged until then.",
        ephemeral=True, allowed_mentions=NO_MENTIONS)
    return request
