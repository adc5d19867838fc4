"""One table-driven error handler for every application command.

Each row of :data:`ERROR_TABLE` maps exception types to the sentence a member sees; the first
matching row wins, so specific types come before their bases. Domain errors show their own
message (from the catalog, in the member's language, when they carry a ``key``), checks and
stale commands get canned text, and anything else is a bug: its traceback is logged under a
short random code and the member sees only that code. Every answer is ephemeral, in the
language of the member's Discord (``interaction.locale``), and pings no one.

Load it as an extension (``cogs.errors``) or call :func:`install_error_handler` directly.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError
from bot.i18n.catalog import Catalog, Listing, Phrase, Voice
from bot.i18n.catalog import load as load_catalog
from bot.jobs.model import JobLimitReached
from bot.ledger.types import (
    BalanceLimitExceeded,
    InsufficientCredits,
    InvalidAmount,
    InvalidArgument,
)

log = logging.getLogger(__name__)

STALE_COMMAND = "error.stale_command"
UNEXPECTED = "error.unexpected"

#: Response types after which Discord accepts no followup on the token.
_NO_FOLLOWUP = (
    discord.InteractionResponseType.modal,
    discord.InteractionResponseType.autocomplete_result,
    discord.InteractionResponseType.pong,
)


def _permission_names(names: list[str]) -> Listing:
    """Discord's names of the permissions in the reader's language (``manage_guild`` →
    ``Manage Server``); one the catalog lacks is shown in English the same way."""
    return Listing([Phrase(f"permission.{name}", fallback=name.replace("_", " ").replace(
        "guild", "server").title()) for name in names], ",")


def _cooldown(error: app_commands.CommandOnCooldown, voice: Voice) -> str:
    return voice.say("error.cooldown", seconds=max(1, math.ceil(error.retry_after)))


def _bot_missing(error: app_commands.BotMissingPermissions, voice: Voice) -> str:
    return voice.say("error.bot_missing",
                     permissions=_permission_names(error.missing_permissions))


def _member_missing(error: app_commands.MissingPermissions, voice: Voice) -> str:
    return voice.say("error.member_missing",
                     permissions=_permission_names(error.missing_permissions))


def _own_message(error: BaseException, voice: Voice) -> str:
    """A refusal's catalog message when it has a key (the ledger's errors carry one too);
    its English text otherwise."""
    key = getattr(error, "key", None)
    if isinstance(key, str) and voice.texts.has(key):
        try:
            return voice.say(key, **dict(getattr(error, "params", None) or {}))
        except (KeyError, IndexError, ValueError):
            # A placeholder the raise did not fill: the member still gets the English words.
            log.warning("Message %s could not be filled from %s", key, type(error).__name__,
                        exc_info=True)
    return str(error)


def _canned(key: str) -> Callable[[BaseException, Voice], str]:
    return lambda _error, voice: voice.say(key)


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """Exceptions of ``types`` are answered with ``reply(error, voice)``."""

    types: tuple[type[BaseException], ...]
    reply: Callable[[Any, Voice], str]


#: Checked top to bottom; anything matching no row is unexpected (logged with a code).
ERROR_TABLE: tuple[ErrorRow, ...] = (
    # Refusals of what the member asked for: their messages are written for members. The
    # ledger's NotReserved/AlreadyReserved are deliberately absent: reaching a member they
    # would mean a bug, which deserves a logged code.
    ErrorRow(
        (
            UserError,
            JobLimitReached,
            InsufficientCredits,
            BalanceLimitExceeded,
            InvalidAmount,
            InvalidArgument,
        ),
        _own_message,
    ),
    ErrorRow((app_commands.CommandOnCooldown,), _cooldown),
    ErrorRow((app_commands.BotMissingPermissions,), _bot_missing),
    ErrorRow((app_commands.MissingPermissions,), _member_missing),
    ErrorRow(
        (app_commands.MissingRole, app_commands.MissingAnyRole),
        _canned("error.missing_role"),
    ),
    ErrorRow((app_commands.NoPrivateMessage,), _canned("error.guild_only")),
    ErrorRow((app_commands.CheckFailure,), _canned("error.check_failed")),
    # The member's client knows a different version of the command than this process does
    # (a sync is pending or just happened); option values then fail to convert too.
    ErrorRow(
        (
            app_commands.CommandSignatureMismatch,
            app_commands.CommandNotFound,
            app_commands.TransformerError,
        ),
        _canned(STALE_COMMAND),
    ),
)


def unwrap(error: BaseException) -> BaseException:
    """The exception that matters: discord.py wraps what a command or transformer raised."""
    if isinstance(error, app_commands.CommandInvokeError):
        return error.original
    if isinstance(error, app_commands.TransformerError) and isinstance(error.__cause__, UserError):
        # A transformer that validates an option raises a UserError; show it, not "updated".
        return error.__cause__
    return error


def describe(error: BaseException, voice: Voice) -> str | None:
    """The member-facing text from the table, or None when the error is unexpected."""
    for row in ERROR_TABLE:
        if isinstance(error, row.types):
            return row.reply(error, voice)
    return None


def voice_for(interaction: discord.Interaction[Any]) -> Voice:
    """The bot's catalog (read from disk only for a client without the bot's services, as
    in the handler's own tests) in the member's language."""
    texts = getattr(getattr(interaction.client, "services", None), "texts", None)
    if not isinstance(texts, Catalog):
        texts = load_catalog()
    return Voice(texts, interaction.locale)


def _where(interaction: discord.Interaction[Any]) -> str:
    command = interaction.command
    name = command.qualified_name if command is not None else "?"
    return (
        f"/{name} (interaction {interaction.id}, guild {interaction.guild_id}, "
        f"user {interaction.user.id})"
    )


async def _clear_loading_message(interaction: discord.Interaction[Any]) -> None:
    """Delete a public "thinking…" placeholder that nothing has replaced yet.

    Discord turns the first followup after a defer into an edit of that placeholder, keeping
    its visibility, so an "ephemeral" error would be shown to the whole channel.
    """
    if interaction.response.type is not discord.InteractionResponseType.deferred_channel_message:
        return
    try:
        # Note: discord.py caches this if the command fetched it before (as a loading message).
        original = await interaction.original_response()
    except discord.NotFound:
        return  # the command already deleted it; a followup is then a new message
    if original.flags.loading and not original.flags.ephemeral:
        await interaction.delete_original_response()


async def _answer(interaction: discord.Interaction[Any], text: str) -> None:
    none = discord.AllowedMentions.none()
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)
        return
    if interaction.response.type in _NO_FOLLOWUP:
        log.warning(
            "Cannot tell the member about an error in %s: answered with %s",
            _where(interaction),
            interaction.response.type,
        )
        return
    await _clear_loading_message(interaction)
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)


async def handle_app_command_error(
    interaction: discord.Interaction[Any], error: app_commands.AppCommandError
) -> None:
    """The tree's ``on_error``: answer the member ephemerally; never raise."""
    await report_error(interaction, error)


async def report_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """:func:`handle_app_command_error` for any interaction (a button, a modal): the same
    table, the same ephemeral answer; never raises."""
    try:
        cause = unwrap(error)
        voice = voice_for(interaction)
        text = describe(cause, voice)
        if text is None:
            code = secrets.token_hex(3)
            log.exception("Unexpected error %s in %s", code, _where(interaction), exc_info=cause)
            text = voice.say(UNEXPECTED, code=code)
        else:
            log.debug("Refused %s: %s", _where(interaction), type(cause).__name__)
        await _answer(interaction, text)
    except Exception:
        # A dead token, a deleted channel or a Discord outage must not turn into a second,
        # unhandled error inside discord.py's task; the log is the only place left.
        log.warning("Could not deliver an error message for %s", _where(interaction), exc_info=True)


def install_error_handler(tree: app_commands.CommandTree[Any]) -> None:
    """Make :func:`handle_app_command_error` the tree's error handler."""
    tree.error(handle_app_command_error)


async def setup(bot: commands.Bot) -> None:
    install_error_handler(bot.tree)


async def teardown(bot: commands.Bot) -> None:
    # The instance attribute shadows CommandTree.on_error; removing it restores the default.
    vars(bot.tree).pop("on_error", None)
