"""The preview and approval gate's Discord side: the held request's embeds, what its buttons
do, and the notices its member gets later.

The launch use case holds a request when its price passes one of the guild's thresholds
(:meth:`bot.launch.usecase.Launcher.launch`): nothing is reserved, and the member sees a private
preview, or a moderator an approval post. The buttons (``cogs.adapters.PendingButton``) call
:func:`on_click`. Every decision is a compare-and-set in the database: a double click, a stale
preview or a race between two moderators starts at most one job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.catalog.lineup import Offer
from bot.delivery.render import describe, model_name
from bot.launch.port import DiscordPort, PreviewFacts
from bot.policy.held import GONE, PendingKind, PendingRequest, PendingStatus
from bot.request import VideoOptions
from cogs.origin import origin_of

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
NOT_YOURS = "Only the member who asked for this video can confirm or cancel it."
MODERATORS_ONLY = "Only members with the Manage Server permission can approve or deny requests."
_PROMPT_SHOWN = 1000


def variant(request: PendingRequest, offer: Offer | None = None) -> str:
    """``Veo 3.1 Fast · 720p · 8 s · 16:9``: the model (its label while offered, else its id)
    and only the options it has."""
    # A request held before models were named is the /sora model's: its offer says which.
    model = request.model or (offer.id if offer is not None else "")
    offer = offer if offer is not None and offer.id == model else None
    shown = describe(request.options, offer)
    name = model_name(model, offer) if model else ""
    return " · ".join(part for part in (name, shown) if part) or "—"


def offer_of(bot: SoraBot, request: PendingRequest) -> Offer | None:
    """The held request's model as the operator offers it now (None: not any more)."""
    return bot.services.settings.lineup.get(bot.launcher.held_model(request))


def _prompt(options: VideoOptions) -> str:
    text = options.prompt
    if len(text) > _PROMPT_SHOWN:
        text = text[: _PROMPT_SHOWN - 1] + "…"
    return discord.utils.escape_markdown(text)


def _remaining(cap: int | None, spent: int, price: int) -> str:
    if cap is None:
        return "no cap"
    left = max(cap - spent, 0)
    return f"{left} credits left ({max(left - price, 0)} after this)"


def preview_embed(request: PendingRequest, facts: PreviewFacts,
                  offer: Offer | None = None) -> discord.Embed:
    """``offer``: the request's model as offered now, for its label."""
    balance, spending, policy = facts.balance, facts.spending, facts.policy
    embed = discord.Embed(title="Confirm this video?", description=_prompt(request.options))
    embed.add_field(name="Variant", value=variant(request, offer))
    embed.add_field(name="Price", value=f"{request.price} credits")
    embed.add_field(name="Server balance after", value=str(balance - request.price))
    embed.add_field(name="Your daily cap",
                    value=_remaining(policy.daily_cap, spending.today, request.price))
    embed.add_field(name="Your weekly cap",
                    value=_remaining(policy.weekly_cap, spending.week, request.price))
    embed.set_footer(text="Nothing is charged until you confirm. This preview expires "
                          f"at {request.expires_at:%H:%M} UTC.")
    return embed


def approval_embed(request: PendingRequest, offer: Offer | None = None) -> discord.Embed:
    """``offer``: the request's model as offered now, for its label."""
    embed = discord.Embed(title="Video awaiting approval", description=_prompt(request.options))
    embed.add_field(name="Requested by", value=f"<@{request.user_id}>")
    embed.add_field(name="Channel", value=f"<#{request.channel_id}>")
    embed.add_field(name="Variant", value=variant(request, offer))
    embed.add_field(name="Price", value=f"{request.price} credits")
    embed.add_field(name="Start image", value="yes" if request.start_image_url else "no")
    embed.set_footer(text=f"Request {request.id} · expires {request.expires_at:%Y-%m-%d %H:%M} "
                          "UTC · nothing is reserved until approved")
    return embed


# -- clicks --------------------------------------------------------------------------------


def _actor(interaction: discord.Interaction[Any]) -> str:
    return f"user:{interaction.user.id}"


def _can_moderate(interaction: discord.Interaction[Any]) -> bool:
    # Interaction.permissions are the member's resolved permissions in this channel, sent
    # by Discord with every click: no cache or privileged intent needed.
    return interaction.permissions.manage_guild


async def on_click(bot: SoraBot, interaction: discord.Interaction[Any], port: DiscordPort,
                   action: str, request_id: str) -> None:
    """Confirm, Cancel, Approve or Deny, by whoever may; raises what the member is told."""
    request = await bot.services.holds.get(request_id)
    if request is None or request.guild_id != interaction.guild_id:
        await port.answer(GONE)
        return
    if action in ("confirm", "cancel") and interaction.user.id != request.user_id:
        await port.answer(NOT_YOURS)
        return
    if action in ("approve", "deny") and not _can_moderate(interaction):
        await port.answer(MODERATORS_ONLY)
        return
    if action == "cancel":
        await _cancel(bot, interaction, port, request)
    elif action == "confirm":
        await bot.launcher.confirm(request, origin_of(interaction), port,
                                   actor=_actor(interaction))
    elif action == "approve":
        await _approve(bot, interaction, port, request)
    else:
        await _deny(bot, interaction, port, request)


async def _cancel(bot: SoraBot, interaction: discord.Interaction[Any], port: DiscordPort,
                  request: PendingRequest) -> None:
    if await bot.services.holds.cancel(request.id, actor=_actor(interaction)) is None:
        await port.answer(GONE)
        return
    await interaction.response.edit_message(
        content="Cancelled; nothing was charged.", embed=None, view=None,
        allowed_mentions=NO_MENTIONS)


async def _approve(bot: SoraBot, interaction: discord.Interaction[Any], port: DiscordPort,
                   request: PendingRequest) -> None:
    job = await bot.launcher.approve(request, origin_of(interaction), port,
                                     actor=_actor(interaction))
    if job is None:
        return
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


async def _deny(bot: SoraBot, interaction: discord.Interaction[Any], port: DiscordPort,
                request: PendingRequest) -> None:
    if await bot.services.holds.deny(request.id, actor=_actor(interaction)) is None:
        await port.answer(GONE)
        return
    await interaction.response.edit_message(
        content=f"Denied by <@{interaction.user.id}>; nothing was charged.", view=None,
        allowed_mentions=NO_MENTIONS)
    await tell_outcomes(bot)


# -- notices ---------------------------------------------------------------------------------


async def tell_outcomes(bot: SoraBot) -> None:
    """Tell members of denials, expiries and abandoned requests not yet told, once each."""
    holds = bot.services.holds
    for request in await holds.untold():
        if request.kind is PendingKind.APPROVAL or request.abandoned:
            try:
                await _tell(bot, request)
            except discord.HTTPException:
                log.warning("could not tell the member of held request %s", request.id,
                            exc_info=True)
                continue
        # An expired preview needs no notice: its own Confirm now says it expired. An
        # abandoned one does: its member clicked Confirm and got nothing.
        await holds.mark_told(request.id)


async def _tell(bot: SoraBot, request: PendingRequest) -> None:
    if request.abandoned:
        what = ("could not be started: the bot was interrupted before creating it. "
                "Nothing was charged; please ask for it again.")
    elif request.status is PendingStatus.DENIED:
        what = "was denied by a moderator. Nothing was charged."
    else:
        what = "expired before a moderator approved it. Nothing was charged."
    await bot.get_partial_messageable(request.channel_id).send(
        f"<@{request.user_id}> your video request ({variant(request, offer_of(bot, request))}, "
        f"{request.price} credits) {what}",
        # The nonce makes a repeat after a crash between send and mark_told a no-op
        # within Discord's nonce window.
        nonce=f"p{request.id[:24]}",
        allowed_mentions=discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(request.user_id)]),
    )
