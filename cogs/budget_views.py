"""What ``/budget`` and ``/credits`` show: embeds, and the history pager's buttons.

Kept apart from the commands so the cog stays a thin adapter; nothing here writes to the
database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

import discord

from bot.ledger.types import JournalEntry
from bot.policy.rules import GuildPolicy, ModelNames, allowed_models

NO_MENTIONS = discord.AllowedMentions.none()
PAGE_SIZE = 10
#: A journal reason may be 500 characters; ten of those would overflow an embed (4096).
_REASON_SHOWN = 120
NOT_YOURS = "Only the moderator who ran this command can turn its pages."

#: ``before_id`` → up to ``PAGE_SIZE + 1`` entries, newest first (the extra one says "more").
PageFetch = Callable[[int | None], Awaitable[list[JournalEntry]]]


def timestamp(moment: datetime, style: str = "f") -> str:
    """A Discord timestamp: every reader sees it in their own time zone."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def who(actor: str) -> str:
    """``user:123`` → a mention (rendered as a name; it never pings in an embed)."""
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest.isdigit():
        return f"<@{rest}>"
    return actor


def signed(delta: int) -> str:
    return f"+{delta}" if delta > 0 else str(delta)


def entry_line(entry: JournalEntry) -> str:
    parts = [
        f"`#{entry.id}` {timestamp(entry.created_at, 'd')} **{entry.kind.value}** "
        f"{signed(entry.delta)} → {entry.balance_after}",
        who(entry.actor),
    ]
    if entry.job_id:
        parts.append(f"job `{entry.job_id}`")
    if entry.reason:
        reason = entry.reason
        if len(reason) > _REASON_SHOWN:
            reason = reason[: _REASON_SHOWN - 1] + "…"
        parts.append(discord.utils.escape_markdown(reason))
    return " · ".join(parts)


def cap_text(value: int | None, unit: str = "credits") -> str:
    return "no limit" if value is None else f"{value} {unit}"


def policy_embed(policy: GuildPolicy, *, default_guild_jobs: int,
                 default_member_jobs: int, names: ModelNames,
                 bot_default: str) -> discord.Embed:
    embed = discord.Embed(title="Spending rules")
    embed.add_field(name="Spending", value="**frozen**" if policy.frozen else "open")
    embed.add_field(name="Daily cap per member", value=cap_text(policy.daily_cap))
    embed.add_field(name="Weekly cap per member", value=cap_text(policy.weekly_cap))
    embed.add_field(name="Cooldown per member",
                    value="none" if not policy.cooldown_seconds
                    else f"{policy.cooldown_seconds} s")
    embed.add_field(name="Running jobs (server)",
                    value=str(policy.max_in_flight_guild or default_guild_jobs))
    embed.add_field(name="Running jobs (member)",
                    value=str(policy.max_in_flight_member or default_member_jobs))
    embed.add_field(name="Highest resolution (Sora)", value=policy.max_resolution or "any")
    embed.add_field(name="Result buttons",
                    value="anyone" if policy.buttons_open else "requester only")
    embed.add_field(name="Longest duration",
                    value=f"{policy.max_duration} s" if policy.max_duration else "any")
    embed.add_field(name="Preview above",
                    value="off" if policy.preview_above is None
                    else f"{policy.preview_above} credits")
    embed.add_field(name="Approval above",
                    value="off" if policy.approval_above is None
                    else f"{policy.approval_above} credits")
    embed.add_field(name="Models allowed", inline=False, value=(
        f"every enabled model ({names.named(names.labels)})" if policy.models is None
        else names.named(allowed_models(policy, names)))[:1024])
    embed.add_field(name="Default model", value=(
        names.label(policy.default_model) if policy.default_model
        else f"the bot's ({names.label(bot_default)})"))
    embed.add_field(name="Roles allowed", value=_mentions(policy.allowed_role_ids, "<@&{}>"),
                    inline=False)
    embed.add_field(name="Channels allowed", value=_mentions(policy.allowed_channel_ids, "<#{}>"),
                    inline=False)
    return embed


def _mentions(ids: Iterable[int], template: str) -> str:
    shown = [template.format(i) for i in sorted(ids)]
    return ", ".join(shown) if shown else "all"


class HistoryPager(discord.ui.View):
    """Previous/Next over the journal; only ``owner_id`` may press the buttons.

    Pages are keyed by the id of the last entry shown (``before_id``), so entries written
    while a moderator reads never shift a page.
    """

    def __init__(self, *, owner_id: int, fetch: PageFetch, title: str,
                 timeout: float = 600.0) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self._fetch = fetch
        self._title = title
        self._cursors: list[int | None] = [None]  # the before_id of every page up to this one
        self._entries: list[JournalEntry] = []
        self._has_more = False

    @property
    def page(self) -> int:
        return len(self._cursors)

    async def load(self) -> discord.Embed:
        rows = await self._fetch(self._cursors[-1])
        self._entries = rows[:PAGE_SIZE]
        self._has_more = len(rows) > PAGE_SIZE
        self.previous.disabled = self.page == 1
        self.next.disabled = not self._has_more
        return self.embed()

    def embed(self) -> discord.Embed:
        lines = [entry_line(e) for e in self._entries] or ["No entries."]
        embed = discord.Embed(title=self._title, description="\n".join(lines))
        embed.set_footer(text=f"Page {self.page} · newest first")
        return embed

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)
        return False

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction[Any],
                       _button: discord.ui.Button[HistoryPager]) -> None:
        if self.page > 1:
            self._cursors.pop()
        await interaction.response.edit_message(embed=await self.load(), view=self)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction[Any],
                   _button: discord.ui.Button[HistoryPager]) -> None:
        if self._has_more and self._entries:
            self._cursors.append(self._entries[-1].id)
        await interaction.response.edit_message(embed=await self.load(), view=self)
