"""``/budget strikes`` and ``/budget words``: the moderators' view of content-policy strikes
and the guild's word list, added to the ``/budget`` group by :mod:`cogs.budget`.

Like every ``/budget`` subcommand, each checks Manage Server again when it runs, answers
privately in the moderator's language and pings no one (mentions render as names only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.policy.strike_service import (
    MAX_WORDS,
    StrikeRules,
    StrikeService,
    WordChange,
    stamp,
)

if TYPE_CHECKING:
    from bot.app import SoraBot

NO_MENTIONS = discord.AllowedMentions.none()
moderators_only = app_commands.checks.has_permissions(manage_guild=True)
#: Discord's limit on an embed's description.
MAX_DESCRIPTION = 4096


def _actor(interaction: discord.Interaction[Any]) -> str:
    return f"user:{interaction.user.id}"


def _guild(interaction: discord.Interaction[Any]) -> int:
    assert interaction.guild_id is not None  # the /budget group is guild_only
    return interaction.guild_id


def _strikes(interaction: discord.Interaction[SoraBot]) -> StrikeService:
    return interaction.client.services.strikes


def _text(interaction: discord.Interaction[SoraBot], key: str, **params: object) -> str:
    return interaction.client.services.texts.text(interaction.locale, key, **params)


def _plural(interaction: discord.Interaction[SoraBot], key: str, count: int,
            **params: object) -> str:
    return interaction.client.services.texts.plural(interaction.locale, key, count, **params)


def rules_text(interaction: discord.Interaction[SoraBot], rules: StrikeRules) -> str:
    if not rules.cools_down:
        return _text(interaction, "strikes.rules_off")
    return _plural(interaction, "strikes.rules", rules.limit, window=rules.window_hours,
                   cooldown=rules.cooldown_hours)


def _clip(lines: list[str]) -> str:
    """Lines up to an embed's limit (a guild with hundreds of struck members shows the top)."""
    out: list[str] = []
    size = 0
    for line in lines:
        size += len(line) + 1
        if size > MAX_DESCRIPTION - 10:
            out.append("…")
            break
        out.append(line)
    return "\n".join(out)


async def _reply(interaction: discord.Interaction[Any], content: str | None = None,
                 **kwargs: Any) -> None:
    await interaction.response.send_message(content, ephemeral=True,
                                            allowed_mentions=NO_MENTIONS, **kwargs)


class StrikesGroup(app_commands.Group):
    """``/budget strikes list|clear|rules``."""

    def __init__(self) -> None:
        super().__init__(name="strikes",
                         description="Members whose prompts the video service refused")

    @app_commands.command(name="list", description="Members with strikes or a cooldown")
    @moderators_only
    async def list_(self, interaction: discord.Interaction[SoraBot]) -> None:
        guild = _guild(interaction)
        service = _strikes(interaction)
        members = await service.members(guild)
        lines = []
        for m in members:
            line = _plural(interaction, "strikes.list_member", m.count, member=f"<@{m.user_id}>")
            if m.cooldown_until is not None:
                line += _text(interaction, "strikes.list_cooldown",
                              until=stamp(m.cooldown_until, "f"))
            lines.append(line)
        body = _clip(lines) if lines else _text(interaction, "strikes.list_empty")
        embed = discord.Embed(title=_text(interaction, "strikes.list_title"), description=body)
        embed.set_footer(text=rules_text(interaction, await service.rules(guild)))
        await _reply(interaction, embed=embed)

    @app_commands.command(name="clear", description="Clear a member's strikes and cooldown")
    @app_commands.describe(member="The member to forgive")
    @moderators_only
    async def clear(self, interaction: discord.Interaction[SoraBot],
                    member: discord.User) -> None:
        cleared = await _strikes(interaction).clear(_guild(interaction), member.id,
                                                    actor=_actor(interaction))
        key = "strikes.cleared" if cleared else "strikes.nothing_to_clear"
        await _reply(interaction, _text(interaction, key, member=member.mention))

    @app_commands.command(name="rules", description="Show or change when strikes start a cooldown")
    @app_commands.describe(
        limit="Refused prompts that start a cooldown (0: never)",
        window_hours="Hours in which they count",
        cooldown_hours="How long the cooldown lasts, in hours",
        reset="Use the bot's defaults again",
    )
    @moderators_only
    async def rules(self, interaction: discord.Interaction[SoraBot],
                    limit: Range[int, 0, 100] | None = None,
                    window_hours: Range[int, 1, 2160] | None = None,
                    cooldown_hours: Range[int, 1, 2160] | None = None,
                    reset: bool = False) -> None:
        guild, service = _guild(interaction), _strikes(interaction)
        if not reset and limit is None and window_hours is None and cooldown_hours is None:
            await _reply(interaction, rules_text(interaction, await service.rules(guild)))
            return
        if reset:
            limit = window_hours = cooldown_hours = None
        else:
            # Unnamed settings keep the guild's own values (or the defaults).
            current = await service.rules(guild)
            limit = limit if limit is not None else (
                current.limit if "strike_limit" in current.own else None)
            window_hours = window_hours if window_hours is not None else (
                current.window_hours if "window_hours" in current.own else None)
            cooldown_hours = cooldown_hours if cooldown_hours is not None else (
                current.cooldown_hours if "cooldown_hours" in current.own else None)
        rules = await service.set_rules(guild, actor=_actor(interaction), limit=limit,
                                        window_hours=window_hours,
                                        cooldown_hours=cooldown_hours)
        await _reply(interaction, _text(interaction, "strikes.rules_saved") + " "
                     + rules_text(interaction, rules))


class WordsGroup(app_commands.Group):
    """``/budget words add|remove|list``."""

    def __init__(self) -> None:
        super().__init__(name="words", description="Words and phrases refused in prompts")

    @app_commands.command(name="add", description="Refuse prompts containing these words")
    @app_commands.describe(words="Words or phrases, separated by commas")
    @moderators_only
    async def add(self, interaction: discord.Interaction[SoraBot],
                  words: Range[str, 1, 1000]) -> None:
        change = await _strikes(interaction).add_words(_guild(interaction), words,
                                                       actor=_actor(interaction))
        await _reply(interaction, self._changed(interaction, "strikes.words_added", change))

    @app_commands.command(name="remove", description="Allow these words again")
    @app_commands.describe(words="Words or phrases, separated by commas")
    @moderators_only
    async def remove(self, interaction: discord.Interaction[SoraBot],
                     words: Range[str, 1, 1000]) -> None:
        change = await _strikes(interaction).remove_words(_guild(interaction), words,
                                                          actor=_actor(interaction))
        await _reply(interaction, self._changed(interaction, "strikes.words_removed", change))

    @staticmethod
    def _changed(interaction: discord.Interaction[SoraBot], key: str,
                 change: WordChange) -> str:
        if not change.changed:
            return _text(interaction, "strikes.words_unchanged")
        return _plural(interaction, key, len(change.changed), total=change.total)

    @app_commands.command(name="list", description="The words and phrases refused here")
    @moderators_only
    async def list_(self, interaction: discord.Interaction[SoraBot]) -> None:
        entries = await _strikes(interaction).words(_guild(interaction))
        if not entries:
            await _reply(interaction, _text(interaction, "strikes.words_empty_list"))
            return
        # Shown as code, so no entry renders as markdown or a mention.
        body = _clip([f"`{entry}`" for entry in entries])
        embed = discord.Embed(title=_text(interaction, "strikes.words_title",
                                          count=len(entries), max=MAX_WORDS),
                              description=body)
        await _reply(interaction, embed=embed)
