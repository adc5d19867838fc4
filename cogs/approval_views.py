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
from bot.i18n.catalog import Voice
from bot.i18n.catalog import load as load_catalog
from bot.launch.port import DiscordPort, PreviewFacts
from bot.policy.held import PendingKind, PendingRequest, PendingStatus
from bot.request import VideoOptions
from cogs.origin import origin_of

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
#: The English words (the catalog's ``approval.not_yours`` / ``approval.moderators_only``).
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


def _remaining(voice: Voice, cap: int | None, spent: int, price: int) -> str:
    if cap is None:
        return voice.say("approval.no_cap")
    left = max(cap - spent, 0)
    return voice.say("approval.left", left=left, after=max(left - price, 0))


def _english(voice: Voice | None) -> Voice:
    """The voice given, else English from the shipped catalog (callers outside a command)."""
    return voice if voice is not None else Voice(load_catalog(), None)


def preview_embed(request: PendingRequest, facts: PreviewFacts,
                  offer: Offer | None = None, *, voice: Voice | None = None) -> discord.Embed:
    """``offer``: the request's model as offered now, for its label; ``voice``: the member's
    language (the preview is private)."""
    say = _english(voice).say
    balance, spending, policy = facts.balance, facts.spending, facts.policy
    embed = discord.Embed(title=say("approval.preview_title"),
                          description=_prompt(request.options))
    embed.add_field(name=say("approval.variant"), value=variant(request, offer))
    embed.add_field(name=say("approval.price"), value=say("approval.credits", price=request.price))
    embed.add_field(name=say("approval.balance_after"), value=str(balance - request.price))
    embed.add_field(name=say("approval.daily_cap"), value=_remaining(
        _english(voice), policy.daily_cap, spending.today, request.price))
    embed.add_field(name=say("approval.weekly_cap"), value=_remaining(
        _english(voice), policy.weekly_cap, spending.week, request.price))
    embed.set_footer(text=say("approval.preview_footer", time=f"{request.expires_at:%H:%M}"))
    return embed


def approval_embed(request: PendingRequest, offer: Offer | None = None, *,
                   voice: Voice | None = None) -> discord.Embed:
    """``offer``: the request's model as offered now, for its label; ``voice``: the server's
    language (the card is posted to the moderators' channel)."""
    say = _english(voice).say
    embed = discord.Embed(title=say("approval.title"), description=_prompt(request.options))
    embed.add_field(name=say("approval.requested_by"), value=f"<@{request.user_id}>")
    embed.add_field(name=say("approval.channel"), value=f"<#{request.channel_id}>")
    embed.add_field(name=say("approval.variant"), value=variant(request, offer))
    embed.add_field(name=say("approval.price"), value=say("approval.credits", price=request.price))
    embed.add_field(name=say("approval.start_image"),
                    value=say("approval.yes" if request.start_image_url else "approval.no"))
    embed.set_footer(text=say("approval.footer", id=request.id,
                              time=f"{request.expires_at:%Y-%m-%d %H:%M}"))
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
    say = Voice(bot.services.texts, interaction.locale).say
    request = await bot.services.holds.get(request_id)
    if request is None or request.guild_id != interaction.guild_id:
        await port.answer(say("approval.gone"))
        return
    if action in ("confirm", "cancel") and interaction.user.id != request.user_id:
        await port.answer(say("approval.not_yours"))
        return
    if action in ("approve", "deny") and not _can_moderate(interaction):
        await port.answer(say("approval.moderators_only"))
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
    say = Voice(bot.services.texts, interaction.locale).say
    if await bot.services.holds.cancel(request.id, actor=_actor(interaction)) is None:
        await port.answer(say("approval.gone"))
        return
    await interaction.response.edit_message(
        content=say("approval.cancelled"), embed=None, view=None,
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
            # The card is in the moderators' channel: the server's language.
            content=Voice(bot.services.texts, interaction.guild_locale).say(
                "approval.approved", moderator=f"<@{interaction.user.id}>", job=job.id,
                price=request.price),
            view=None, allowed_mentions=NO_MENTIONS)
    except Exception as exc:
        # The job is started and paid for: a lost edit must not read as a failure. A
        # second click on the stale buttons answers that the request was decided.
        log.warning("held request %s: approval message not updated (%s)", request.id,
                    type(exc).__name__)


async def _deny(bot: SoraBot, interaction: discord.Interaction[Any], port: DiscordPort,
                request: PendingRequest) -> None:
    if await bot.services.holds.deny(request.id, actor=_actor(interaction)) is None:
        await port.answer(Voice(bot.services.texts, interaction.locale).say("approval.gone"))
        return
    await interaction.response.edit_message(
        content=Voice(bot.services.texts, interaction.guild_locale).say(
            "approval.denied", moderator=f"<@{interaction.user.id}>"), view=None,
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
        key = "approval.told_abandoned"
    elif request.status is PendingStatus.DENIED:
        key = "approval.told_denied"
    else:
        key = "approval.told_expired"
    # A post in the member's channel: the server's language (None, English, if not cached).
    guild = bot.get_guild(request.guild_id)
    voice = Voice(bot.services.texts, guild.preferred_locale if guild is not None else None)
    await bot.get_partial_messageable(request.channel_id).send(
        voice.say(key, member=f"<@{request.user_id}>",
                  variant=variant(request, offer_of(bot, request)), price=request.price),
        # The nonce makes a repeat after a crash between send and mark_told a no-op
        # within Discord's nonce window.
        nonce=f"p{request.id[:24]}",
        allowed_mentions=discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(request.user_id)]),
    )
