"""``/credits``: what a member can spend, in one private glance: the server's balance, their
spending against the caps, their running videos and the prices of every model they may use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalog.lineup import FLAT, Offer
from bot.catalog.options import Scalar, show
from bot.i18n.catalog import Voice
from bot.jobs.model import Job
from bot.policy.rules import GuildPolicy, MemberSpending, variant_allowed
from cogs.budget_views import NO_MENTIONS, timestamp
from cogs.pack_views import add_packs_field, packs_view

if TYPE_CHECKING:
    from bot.app import SoraBot

#: Discord allows 25 fields and 6,000 characters per embed; the balance, spending and running
#: videos take four fields and up to ~1,500 characters, the rest is for the price lines.
MAX_MODELS_SHOWN = 18
PRICES_BUDGET = 3_800
FIELD_MAX = 1_024
#: Shown for a variant the server's limits forbid.
FORBIDDEN = "–"


def against(voice: Voice, spent: int, cap: int | None) -> str:
    if cap is None:
        return voice.say("credits.no_cap", spent=spent)
    return voice.say("credits.against_cap", spent=spent, cap=cap, left=max(0, cap - spent))


def _value(voice: Voice, offer: Offer, axis: str, value: Scalar) -> str:
    if axis == "duration":
        return f"{show(value)} s"
    if isinstance(value, bool):
        if axis == offer.slots.get("audio"):
            return voice.say("credits.sound" if value else "credits.silent")
        return axis if value else voice.say("credits.without", option=axis)
    return show(value)


def _axis_values(offer: Offer, axis: str) -> tuple[Scalar, ...]:
    return offer.choices.get(axis) or (offer.defaults[axis],)


def _allowed(offer: Offer, policy: GuildPolicy, params: dict[str, Scalar]) -> bool:
    duration = params.get("duration", offer.defaults.get("duration", 0))
    quality = offer.slots.get("quality")
    resolution = params.get(quality, offer.defaults.get(quality, "")) if quality else ""
    return variant_allowed(
        policy, sora=offer.model.params == "soraParams", resolution=str(resolution),
        duration=duration if isinstance(duration, int) and not isinstance(duration, bool)
        else 0)


def price_line(voice: Voice, offer: Offer, policy: GuildPolicy) -> str:
    """``standard 4 s 12 · 8 s 24 | high 4 s 20 · 8 s 40``: the model's grid in a line, grouped
    by its first price axis; a flat model's one price; what the server's limits forbid as a dash."""
    if not offer.price_by:
        return str(offer.prices[FLAT])
    first, rest = offer.price_by[0], offer.price_by[1:]

    def cell(params: dict[str, Scalar], words: str) -> str:
        price = str(offer.price(params)) if _allowed(offer, policy, params) else FORBIDDEN
        return f"{words} {price}"

    groups = []
    for head in _axis_values(offer, first):
        combos: list[dict[str, Scalar]] = [{first: head}]
        for axis in rest:
            combos = [{**c, axis: v} for c in combos for v in _axis_values(offer, axis)]
        if not rest:
            groups.append(cell(combos[0], _value(voice, offer, first, head)))
            continue
        cells = [cell(p, " ".join(_value(voice, offer, a, p[a]) for a in rest))
                 for p in combos]
        groups.append(f"{_value(voice, offer, first, head)} {' · '.join(cells)}")
    return (" | " if rest else " · ").join(groups)


def add_prices(voice: Voice, embed: discord.Embed, offers: Sequence[Offer],
               policy: GuildPolicy) -> None:
    """One field per model the guild may use, within Discord's embed limits."""
    if not offers:
        embed.add_field(name=voice.say("credits.prices"), inline=False,
                        value=voice.say("credits.no_models"))
        return
    used = 0
    for shown, offer in enumerate(offers):
        name = voice.say("credits.model_prices", model=offer.label)[:256]
        line = price_line(voice, offer, policy)
        if len(line) > FIELD_MAX:
            line = line[: FIELD_MAX - 1] + "…"
        if shown == MAX_MODELS_SHOWN or used + len(name) + len(line) > PRICES_BUDGET:
            left = len(offers) - shown
            embed.add_field(name=voice.say("credits.more_models"), inline=False,
                            value=voice.count("credits.more_models_note", left))
            return
        used += len(name) + len(line)
        embed.add_field(name=name, value=line, inline=False)


def running_text(voice: Voice, jobs: list[Job]) -> str:
    if not jobs:
        return voice.say("credits.none")
    return "\n".join(
        voice.say("credits.job", id=job.id, state=voice.say(f"credits.state.{job.state.value}"),
                  price=job.price, since=timestamp(job.created_at, "R"))
        for job in jobs[:10]
    )


def credits_embed(voice: Voice, *, balance: int, spending: MemberSpending,
                  policy: GuildPolicy, jobs: list[Job], offers: Sequence[Offer],
                  now: datetime) -> discord.Embed:
    """The /credits card in ``voice``'s language (the member's: the reply is private)."""
    embed = discord.Embed(title=voice.say("credits.title"), timestamp=now)
    embed.add_field(name=voice.say("credits.balance"), value=str(balance))
    embed.add_field(name=voice.say("credits.spent_today"),
                    value=against(voice, spending.today, policy.daily_cap))
    embed.add_field(name=voice.say("credits.spent_week"),
                    value=against(voice, spending.week, policy.weekly_cap))
    embed.add_field(name=voice.say("credits.running"), value=running_text(voice, jobs),
                    inline=False)
    add_prices(voice, embed, offers, policy)
    if policy.frozen:
        embed.description = voice.say("credits.frozen")
    return embed


class CreditsCog(commands.Cog):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    @app_commands.command(name="credits", description="The server's credits and your spending")
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction[SoraBot]) -> None:
        services = self.bot.services
        guild_id, user_id = interaction.guild_id, interaction.user.id
        assert guild_id is not None  # guild_only
        policy = await services.rules.get(guild_id)
        embed = credits_embed(
            Voice(services.texts, interaction.locale),
            balance=await services.budget.balance(guild_id),
            spending=await services.rules.spending(guild_id, user_id),
            policy=policy,
            jobs=await services.budget.running_jobs(guild_id, user_id),
            offers=await self.bot.launcher.offers_for(guild_id),
            now=services.clock(),
        )
        add_packs_field(embed, services.packs, services.texts, interaction.locale)
        view = packs_view(services.packs)
        await interaction.response.send_message(embed=embed, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS,
                                                view=view or discord.utils.MISSING)
        if view is not None:
            # Where this member may buy from now: a purchase Discord gives to the member
            # alone is credited to this server (bot/packs/service.py).
            await services.packs.offered(user_id, guild_id)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(CreditsCog(bot))
