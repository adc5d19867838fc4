"""``/credits``: what a member can spend, in one private glance."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import DURATIONS, RESOLUTIONS, Settings
from bot.jobs.model import Job
from bot.policy.rules import GuildPolicy, MemberSpending
from cogs.budget_views import NO_MENTIONS, timestamp

if TYPE_CHECKING:
    from bot.app import SoraBot


def against(spent: int, cap: int | None) -> str:
    if cap is None:
        return f"{spent} (no cap)"
    return f"{spent} of {cap} ({max(0, cap - spent)} left)"


def price_grid(settings: Settings, policy: GuildPolicy) -> str:
    """A small table: one row per duration, one column per resolution; what the server's
    rules forbid is struck through."""
    model = settings.apiframe.model
    allowed_res = RESOLUTIONS if policy.max_resolution is None else RESOLUTIONS[
        : RESOLUTIONS.index(policy.max_resolution) + 1]
    rows = [f"{'':>4} " + " ".join(f"{r:>8}" for r in RESOLUTIONS)]
    for duration in DURATIONS:
        cells = []
        for resolution in RESOLUTIONS:
            price = settings.price(resolution, duration, model)
            ok = resolution in allowed_res and (
                policy.max_duration is None or duration <= policy.max_duration)
            cells.append(f"{price:>8}" if ok else f"{'-':>8}")
        rows.append(f"{duration:>3}s " + " ".join(cells))
    return "```\n" + "\n".join(rows) + "\n```"


def running_text(jobs: list[Job]) -> str:
    if not jobs:
        return "none"
    return "\n".join(
        f"`{job.id}` {job.state.value} · {job.price} credits · since "
        f"{timestamp(job.created_at, 'R')}" for job in jobs[:10]
    )


def credits_embed(*, balance: int, spending: MemberSpending, policy: GuildPolicy,
                  jobs: list[Job], settings: Settings, now: datetime) -> discord.Embed:
    embed = discord.Embed(title="Video credits", timestamp=now)
    embed.add_field(name="Server balance", value=str(balance))
    embed.add_field(name="You spent today (UTC)", value=against(spending.today, policy.daily_cap))
    embed.add_field(name="You spent this week", value=against(spending.week, policy.weekly_cap))
    embed.add_field(name="Your running videos", value=running_text(jobs), inline=False)
    embed.add_field(name=f"Prices ({settings.apiframe.model}, credits)",
                    value=price_grid(settings, policy), inline=False)
    if policy.frozen:
        embed.description = "Spending is **frozen** by the moderators right now."
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
            balance=await services.budget.balance(guild_id),
            spending=await services.rules.spending(guild_id, user_id),
            policy=policy,
            jobs=await services.budget.running_jobs(guild_id, user_id),
            settings=services.settings,
            now=services.clock(),
        )
        await interaction.response.send_message(embed=embed, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(CreditsCog(bot))
