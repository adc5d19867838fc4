"""What ``/budget`` and ``/credits`` show: embeds, and the history pager's buttons.

Kept apart from the commands so the cog stays a thin adapter; nothing here writes to the
database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

import discord

from bot.i18n.catalog import Voice
from bot.ledger.types import JournalEntry
from bot.policy.rules import GuildPolicy, ModelNames, allowed_models

NO_MENTIONS = discord.AllowedMentions.none()
PAGE_SIZE = 10
#: A journal reason may be 500 characters; ten of those would overflow an embed (4096).
_REASON_SHOWN = 120

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


def kind_name(voice: Voice, kind: str) -> str:
    """A journal entry's kind in the reader's language (the /budget history choice's words)."""
    return voice.say(f"choice.kind.{kind}")


def entry_line(voice: Voice, entry: JournalEntry) -> str:
    parts = [
        f"`#{entry.id}` {timestamp(entry.created_at, 'd')} "
        f"**{kind_name(voice, entry.kind.value)}** "
        f"{signed(entry.delta)} → {entry.balance_after}",
        who(entry.actor),
    ]
    if entry.job_id:
        parts.append(voice.say("budget.entry_job", job=entry.job_id))
    if entry.reason:
        reason = entry.reason
        if len(reason) > _REASON_SHOWN:
            reason = reason[: _REASON_SHOWN - 1] + "…"
        parts.append(discord.utils.escape_markdown(reason))
    return " · ".join(parts)


def cap_text(voice: Voice, value: int | None) -> str:
    return voice.say("budget.no_limit") if value is None else voice.say("budget.credits",
                                                                        value=value)


def _named(voice: Voice, names: ModelNames, models: Iterable[str]) -> str:
    """:meth:`ModelNames.named` in the reader's language (``A, B and C``)."""
    wanted = set(models)
    labels = [label for model, label in names.labels.items() if model in wanted]
    if not labels:
        return voice.say("budget.models_none")
    if len(labels) == 1:
        return labels[0]
    return voice.say("common.list_and", items=", ".join(labels[:-1]), last=labels[-1])


def policy_embed(voice: Voice, policy: GuildPolicy, *, default_guild_jobs: int,
                 default_member_jobs: int, names: ModelNames,
                 bot_default: str) -> discord.Embed:
    """The server's spending rules, in the moderator's language."""
    say = voice.say
    off = say("budget.off")
    embed = discord.Embed(title=say("budget.rules_title"))
    embed.add_field(name=say("budget.spending"), value=say(
        "budget.spending_frozen" if policy.frozen else "budget.spending_open"))
    embed.add_field(name=say("budget.daily_cap"), value=cap_text(voice, policy.daily_cap))
    embed.add_field(name=say("budget.weekly_cap"), value=cap_text(voice, policy.weekly_cap))
    embed.add_field(name=say("budget.cooldown"),
                    value=say("budget.none") if not policy.cooldown_seconds
                    else f"{policy.cooldown_seconds} s")
    embed.add_field(name=say("budget.jobs_server"),
                    value=str(policy.max_in_flight_guild or default_guild_jobs))
    embed.add_field(name=say("budget.jobs_member"),
                    value=str(policy.max_in_flight_member or default_member_jobs))
    embed.add_field(name=say("budget.max_resolution"), value=say(
        f"choice.resolution.{policy.max_resolution}") if policy.max_resolution
        else say("budget.any"))
    embed.add_field(name=say("budget.buttons"), value=say(
        "budget.buttons_anyone" if policy.buttons_open else "budget.buttons_requester"))
    embed.add_field(name=say("budget.max_duration"),
                    value=f"{policy.max_duration} s" if policy.max_duration
                    else say("budget.any"))
    embed.add_field(name=say("budget.preview_above"),
                    value=off if policy.preview_above is None
                    else say("budget.credits", value=policy.preview_above))
    embed.add_field(name=say("budget.approval_above"),
                    value=off if policy.approval_above is None
                    else say("budget.credits", value=policy.approval_above))
    embed.add_field(name=say("budget.models"), inline=False, value=(
        say("budget.models_every", models=_named(voice, names, names.labels))
        if policy.models is None
        else _named(voice, names, allowed_models(policy, names)))[:1024])
    embed.add_field(name=say("budget.default_model"), value=(
        names.label(policy.default_model) if policy.default_model
        else say("budget.default_bots", model=names.label(bot_default))))
    embed.add_field(name=say("budget.roles"),
                    value=_mentions(voice, policy.allowed_role_ids, "<@&{}>"), inline=False)
    embed.add_field(name=say("budget.channels"),
                    value=_mentions(voice, policy.allowed_channel_ids, "<#{}>"), inline=False)
    return embed


def _mentions(voice: Voice, ids: Iterable[int], template: str) -> str:
    shown = [template.format(i) for i in sorted(ids)]
    return ", ".join(shown) if shown else voice.say("budget.all")


class HistoryPager(discord.ui.View):
    """Previous/Next over the journal; only ``owner_id`` may press the buttons.

    Pages are keyed by the id of the last entry shown (``before_id``), so entries written
    while a moderator reads never shift a page.
    """

    def __init__(self, *, owner_id: int, fetch: PageFetch, title: str, voice: Voice,
                 timeout: float = 600.0) -> None:
        super().__init__(timeout=timeout)
        # The pages speak the language of the moderator who asked (only they may turn them).
        self.voice = voice
        self.previous.label = voice.say("budget.previous")
        self.next.label = voice.say("budget.next")
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
        say = self.voice.say
        lines = [entry_line(self.voice, e) for e in self._entries] or [say("budget.no_entries")]
        embed = discord.Embed(title=self._title, description="\n".join(lines))
        embed.set_footer(text=say("budget.page", page=self.page))
        return embed

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        text = Voice(self.voice.texts, interaction.locale).say("budget.not_yours")
        await interaction.response.send_message(text, ephemeral=True,
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
