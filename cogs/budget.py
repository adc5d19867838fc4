"""``/budget``: the moderators' adapter in front of the budget and guild-rules services.

``default_permissions`` only hides the group from members without Manage Server, and server
admins can change that in their settings; every subcommand therefore checks the permission
again when it runs. Every answer is ephemeral and pings no one.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.config import DURATIONS
from bot.errors import UserError
from bot.i18n.catalog import Voice
from bot.ledger.export import render_csv
from bot.ledger.types import MAX_AMOUNT, EntryKind, InvalidAmount, JournalEntry, check_amount
from cogs.budget_strikes import StrikesGroup, WordsGroup
from cogs.budget_views import (
    NO_MENTIONS,
    PAGE_SIZE,
    HistoryPager,
    kind_name,
    policy_embed,
    signed,
)

if TYPE_CHECKING:
    from bot.app import SoraBot

moderators_only = app_commands.checks.has_permissions(manage_guild=True)

_KINDS = [Choice(name=_(k.value, key=f"choice.kind.{k.value}"), value=k.value)
          for k in EntryKind]
_RESOLUTIONS = [Choice(name=_("any", key="choice.any"), value="any")] + [
    Choice(name=_(r, key=f"choice.resolution.{r}"), value=r) for r in ("standard", "high")]
_DURATIONS = [Choice(name=_("any", key="choice.any"), value=0)] + [
    Choice(name=_(f"{s} seconds", key="choice.seconds", count=s), value=s) for s in DURATIONS
]
_WEEK = 7 * 24 * 3600


class AmountRefused(UserError):
    """An amount option that is not a whole number in range (only raw interactions send one)."""


class AmountTransformer(app_commands.Transformer):
    """An integer option with client-side bounds, re-checked here with a clear refusal.

    A plain ``Range`` would answer a bad value with "this command was updated"; this raises a
    :class:`UserError`, which the error handler shows as it is.
    """

    def __init__(self, *, allow_zero: bool) -> None:
        self._allow_zero = allow_zero

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.integer

    @property
    def min_value(self) -> int:
        return 0 if self._allow_zero else 1

    @property
    def max_value(self) -> int:
        return MAX_AMOUNT

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> int:
        try:
            return check_amount(value, allow_zero=self._allow_zero)
        except InvalidAmount as exc:
            raise AmountRefused(str(exc), key=exc.key, params=exc.params) from None


Amount = app_commands.Transform[int, AmountTransformer(allow_zero=False)]
NewBalance = app_commands.Transform[int, AmountTransformer(allow_zero=True)]
Reason = Range[str, 1, 500]


def actor(interaction: discord.Interaction[Any]) -> str:
    return f"user:{interaction.user.id}"


def voice(interaction: discord.Interaction[SoraBot]) -> Voice:
    """The catalog in the language of the moderator's Discord (every answer is private)."""
    return Voice(interaction.client.services.texts, interaction.locale)


def change_text(voice: Voice, entry: JournalEntry) -> str:
    reason = voice.say("budget.done_reason", reason=discord.utils.escape_markdown(
        entry.reason)) if entry.reason else ""
    return voice.say("budget.done", kind=kind_name(voice, entry.kind.value),
                     delta=signed(entry.delta), reason=reason, balance=entry.balance_after,
                     entry=entry.id)


async def reply(interaction: discord.Interaction[Any], content: str | None = None,
                **kwargs: Any) -> None:
    await interaction.response.send_message(content, ephemeral=True,
                                            allowed_mentions=NO_MENTIONS, **kwargs)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class BudgetCog(commands.GroupCog, group_name="budget",
                group_description="Manage this server's video credits (Manage Server)"):
    limits = app_commands.Group(name="limits", description="View or change the spending rules")

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        super().__init__()
        # Content-policy strikes and the word list live in their own module.
        for group in (StrikesGroup(), WordsGroup()):
            self.__cog_app_commands_group__.add_command(group)  # type: ignore[union-attr]

    def _guild(self, interaction: discord.Interaction[Any]) -> int:
        assert interaction.guild_id is not None  # guild_only
        return interaction.guild_id

    async def _can_mint(self, user: discord.abc.User) -> bool:
        moderation = self.bot.services.settings.moderation
        return (moderation.moderators_can_mint or user.id in moderation.owner_ids
                or await self.bot.is_owner(user))

    # -- money ---------------------------------------------------------------------------

    @app_commands.command(name="balance", description="Balance, recent spending, running jobs")
    @moderators_only
    async def balance(self, interaction: discord.Interaction[SoraBot]) -> None:
        s = await self.bot.services.budget.summary(self._guild(interaction))
        say = voice(interaction).say
        embed = discord.Embed(title=say("budget.summary_title"))
        embed.add_field(name=say("budget.balance"), value=str(s.balance))
        embed.add_field(name=say("budget.spent_today"), value=str(s.spent_today))
        embed.add_field(name=say("budget.spent_week"), value=str(s.spent_week))
        embed.add_field(name=say("budget.spent_month"), value=str(s.spent_month))
        embed.add_field(name=say("budget.jobs_running"), value=str(s.running_jobs))
        await reply(interaction, embed=embed)

    @app_commands.command(name="grant", description="Add credits to the server's balance")
    @app_commands.describe(amount="Whole credits to add", reason="Why (kept in the journal)")
    @moderators_only
    async def grant(self, interaction: discord.Interaction[SoraBot], amount: Amount,
                    reason: Reason) -> None:
        entry = await self.bot.services.budget.grant(
            self._guild(interaction), amount, actor_id=interaction.user.id,
            can_mint=await self._can_mint(interaction.user), reason=reason)
        await reply(interaction, change_text(voice(interaction), entry))

    @app_commands.command(name="deduct", description="Remove credits from the server's balance")
    @app_commands.describe(amount="Whole credits to remove", reason="Why (kept in the journal)")
    @moderators_only
    async def deduct(self, interaction: discord.Interaction[SoraBot], amount: Amount,
                     reason: Reason) -> None:
        entry = await self.bot.services.budget.deduct(
            self._guild(interaction), amount, actor_id=interaction.user.id,
            can_mint=await self._can_mint(interaction.user), reason=reason)
        await reply(interaction, change_text(voice(interaction), entry))

    @app_commands.command(name="set", description="Set the server's balance to an exact amount")
    @app_commands.describe(amount="The new balance", reason="Why (kept in the journal)")
    @moderators_only
    async def set_(self, interaction: discord.Interaction[SoraBot], amount: NewBalance,
                   reason: Reason) -> None:
        entry = await self.bot.services.budget.set(
            self._guild(interaction), amount, actor_id=interaction.user.id,
            can_mint=await self._can_mint(interaction.user), reason=reason)
        await reply(interaction, change_text(voice(interaction), entry))

    @app_commands.command(name="refund", description="Refund a finished job (once)")
    @app_commands.describe(job="The job id (from the history or the audit channel)",
                           reason="Why (kept in the journal)")
    @moderators_only
    async def refund(self, interaction: discord.Interaction[SoraBot], job: Range[str, 1, 100],
                     reason: Reason) -> None:
        entry = await self.bot.services.budget.refund_job(
            self._guild(interaction), job.strip(), actor_id=interaction.user.id, reason=reason)
        await reply(interaction, change_text(voice(interaction), entry))

    @app_commands.command(name="history", description="The credit journal, newest first")
    @app_commands.describe(member="Only entries made by this member",
                           kind="Only entries of this kind")
    @app_commands.choices(kind=_KINDS)
    @moderators_only
    async def history(self, interaction: discord.Interaction[SoraBot],
                      member: discord.User | None = None, kind: str | None = None) -> None:
        guild_id = self._guild(interaction)
        budget = self.bot.services.budget
        by = f"user:{member.id}" if member is not None else None

        async def fetch(before_id: int | None) -> list[JournalEntry]:
            return await budget.history(guild_id, limit=PAGE_SIZE + 1, before_id=before_id,
                                        kind=kind, actor=by)

        words = voice(interaction)
        title = words.say("budget.history_title") + (
            f" · {kind_name(words, kind)}" if kind else "") + (
            f" · {member.display_name}" if member is not None else "")
        pager = HistoryPager(owner_id=interaction.user.id, fetch=fetch, title=title,
                             voice=words)
        await reply(interaction, embed=await pager.load(), view=pager)

    @app_commands.command(name="export", description="The whole journal as a CSV file")
    @moderators_only
    async def export(self, interaction: discord.Interaction[SoraBot]) -> None:
        guild_id = self._guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        export = await self.bot.services.budget.export(guild_id)
        data = render_csv(export).encode("utf-8")
        await interaction.followup.send(
            voice(interaction).count("budget.exported", len(export.entries),
                                     balance=export.balance),
            file=discord.File(io.BytesIO(data), filename=f"ledger-{guild_id}.csv"),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- policy --------------------------------------------------------------------------

    @app_commands.command(name="freeze", description="Stop all spending (running jobs finish)")
    @moderators_only
    async def freeze(self, interaction: discord.Interaction[SoraBot]) -> None:
        await self.bot.services.rules.set_frozen(self._guild(interaction), True,
                                                  actor=actor(interaction))
        await reply(interaction, voice(interaction).say("budget.frozen"))

    @app_commands.command(name="unfreeze", description="Allow spending again")
    @moderators_only
    async def unfreeze(self, interaction: discord.Interaction[SoraBot]) -> None:
        await self.bot.services.rules.set_frozen(self._guild(interaction), False,
                                                  actor=actor(interaction))
        await reply(interaction, voice(interaction).say("budget.unfrozen"))

    @app_commands.command(name="audit", description="Audit channel and low-balance alert")
    @app_commands.describe(
        channel="Post every credit change and job outcome here",
        low_balance="Alert once when the balance drops below this (0 turns the alert off)",
        off="Stop posting to the audit channel",
    )
    @moderators_only
    async def audit(self, interaction: discord.Interaction[SoraBot],
                    channel: discord.TextChannel | None = None,
                    low_balance: Range[int, 0, MAX_AMOUNT] | None = None,
                    off: bool = False) -> None:
        guild_id, who = self._guild(interaction), actor(interaction)
        budget = self.bot.services.budget
        if off:
            await budget.set_audit_channel(guild_id, None, actor=who)
        elif channel is not None:
            await budget.set_audit_channel(guild_id, channel.id, actor=who)
        if low_balance is not None:
            await budget.set_low_balance_alert(guild_id, low_balance or None, actor=who)
        current = await budget.audit_settings(guild_id)
        say = voice(interaction).say
        where = f"<#{current.channel_id}>" if current.channel_id else say("budget.off")
        alert = (say("budget.alert_below", threshold=current.low_balance_threshold)
                 if current.low_balance_threshold is not None else say("budget.off"))
        await reply(interaction, say("budget.audit_settings", channel=where, alert=alert))

    async def _show_limits(self, interaction: discord.Interaction[SoraBot],
                           prefix: str | None = None) -> None:
        jobs = self.bot.services.settings.jobs
        policy = await self.bot.services.rules.get(self._guild(interaction))
        embed = policy_embed(voice(interaction), policy,
                             default_guild_jobs=jobs.max_in_flight_per_guild,
                             default_member_jobs=jobs.max_in_flight_per_member,
                             names=self.bot.services.rules.names,
                             bot_default=self.bot.services.settings.lineup.default)
        await reply(interaction, prefix, embed=embed)

    @limits.command(name="show", description="The server's spending rules")
    @moderators_only
    async def limits_show(self, interaction: discord.Interaction[SoraBot]) -> None:
        await self._show_limits(interaction)

    @limits.command(name="set", description="Change spending rules (0 = no limit)")
    @app_commands.describe(
        daily_cap="Credits one member may spend per UTC day (0 = no cap)",
        weekly_cap="Credits one member may spend per ISO week (0 = no cap)",
        cooldown_seconds="Seconds a member waits between videos (0 = none)",
        max_jobs_server="Videos running at once in the server (0 = the bot's default)",
        max_jobs_member="Videos one member may run at once (0 = the bot's default)",
        max_resolution="Highest resolution members may pick (Sora models' standard/high)",
        max_duration="Longest video members may ask for, with any model",
        buttons_open="Let anyone (true) or only the requester (false) Reroll/Edit/Extend a video",
        preview_above="Videos costing more than this show a preview to confirm (0 = off)",
        approval_above="Videos costing more than this need a moderator's approval (0 = off)",
    )
    @app_commands.choices(max_resolution=_RESOLUTIONS)
    @app_commands.choices(max_duration=_DURATIONS)
    @moderators_only
    async def limits_set(
        self, interaction: discord.Interaction[SoraBot],
        daily_cap: Range[int, 0, MAX_AMOUNT] | None = None,
        weekly_cap: Range[int, 0, MAX_AMOUNT] | None = None,
        cooldown_seconds: Range[int, 0, _WEEK] | None = None,
        max_jobs_server: Range[int, 0, 1000] | None = None,
        max_jobs_member: Range[int, 0, 1000] | None = None,
        max_resolution: str | None = None,
        max_duration: int | None = None,
        buttons_open: bool | None = None,
        preview_above: Range[int, 0, MAX_AMOUNT] | None = None,
        approval_above: Range[int, 0, MAX_AMOUNT] | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        for name, value in (("daily_cap", daily_cap), ("weekly_cap", weekly_cap),
                            ("max_in_flight_guild", max_jobs_server),
                            ("max_in_flight_member", max_jobs_member),
                            ("max_duration", max_duration),
                            ("preview_above", preview_above),
                            ("approval_above", approval_above)):
            if value is not None:
                changes[name] = value or None  # 0 clears: back to "no limit"/the default
        if cooldown_seconds is not None:
            changes["cooldown_seconds"] = cooldown_seconds
        if max_resolution is not None:
            changes["max_resolution"] = None if max_resolution == "any" else max_resolution
        if changes:
            await self.bot.services.rules.update(self._guild(interaction),
                                                  actor=actor(interaction), **changes)
        if buttons_open is not None:
            await self.bot.services.rules.set_buttons_open(
                self._guild(interaction), buttons_open, actor=actor(interaction))
        saved = bool(changes) or buttons_open is not None
        await self._show_limits(interaction,
                                voice(interaction).say("budget.saved") if saved else None)

    @limits.command(name="role", description="Allow or disallow a role to make videos")
    @app_commands.describe(role="The role (leave empty to allow every role again)",
                           allowed="Allow (true) or remove from the allowed roles (false)")
    @moderators_only
    async def limits_role(self, interaction: discord.Interaction[SoraBot],
                          role: discord.Role | None = None, allowed: bool = True) -> None:
        guild_id = self._guild(interaction)
        policy = self.bot.services.rules
        current = (await policy.get(guild_id)).allowed_role_ids
        wanted = (frozenset() if role is None
                  else current | {role.id} if allowed else current - {role.id})
        await policy.set_roles(guild_id, wanted, actor=actor(interaction))
        await self._show_limits(interaction, voice(interaction).say("budget.saved"))

    @limits.command(name="channel", description="Allow or disallow a channel for videos")
    @app_commands.describe(channel="The channel (leave empty to allow every channel again)",
                           allowed="Allow (true) or remove from the allowed channels (false)")
    @moderators_only
    async def limits_channel(self, interaction: discord.Interaction[SoraBot],
                             channel: discord.TextChannel | None = None,
                             allowed: bool = True) -> None:
        guild_id = self._guild(interaction)
        policy = self.bot.services.rules
        current = (await policy.get(guild_id)).allowed_channel_ids
        wanted = (frozenset() if channel is None
                  else current | {channel.id} if allowed else current - {channel.id})
        await policy.set_channels(guild_id, wanted, actor=actor(interaction))
        await self._show_limits(interaction, voice(interaction).say("budget.saved"))

    @limits.command(name="model", description="Allow or disallow a video model here")
    @app_commands.describe(model="The model (leave empty to allow every enabled model again)",
                           allowed="Allow (true) or remove from the allowed models (false)")
    @moderators_only
    async def limits_model(self, interaction: discord.Interaction[SoraBot],
                           model: Range[str, 1, 100] | None = None,
                           allowed: bool = True) -> None:
        guild_id, rules = self._guild(interaction), self.bot.services.rules
        current = (await rules.get(guild_id)).models
        base = current if current is not None else frozenset(rules.names.labels)
        wanted: frozenset[str] | None = None
        if model is not None:
            # A model the bot does not offer goes to the store as is, which refuses it by name.
            wanted = (base | {model} if allowed or model not in rules.names.labels
                      else base - {model})
        await rules.set_models(guild_id, wanted, actor=actor(interaction))
        await self._show_limits(interaction, voice(interaction).say("budget.saved"))

    @limits.command(name="default", description="The model /video uses when none is picked")
    @app_commands.describe(model="The model (leave empty to use the bot's default again)")
    @moderators_only
    async def limits_default(self, interaction: discord.Interaction[SoraBot],
                             model: Range[str, 1, 100] | None = None) -> None:
        await self.bot.services.rules.set_default_model(
            self._guild(interaction), model, actor=actor(interaction))
        await self._show_limits(interaction, voice(interaction).say("budget.saved"))

    @limits_model.autocomplete("model")
    @limits_default.autocomplete("model")
    async def _models(self, _interaction: discord.Interaction[SoraBot],
                      current: str) -> list[Choice[str]]:
        """The enabled models, by label: the only ones the store accepts."""
        typed = current.strip().lower()
        return [Choice(name=f"{label} ({model})"[:100], value=model)
                for model, label in self.bot.services.rules.names.labels.items()
                if typed in label.lower() or typed in model][:25]


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(BudgetCog(bot))
