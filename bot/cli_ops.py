"""The operator subcommands behind the CLI: check, sync and ledger export (models: cli_models)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import aiohttp
import discord
from discord.http import HTTPClient

from bot.apiframe.client import ApiframeError
from bot.app import SoraBot, make_apiframe_client, open_services, open_store
from bot.budget import BudgetService
from bot.cli_models import CatalogUnavailable, check_lines
from bot.clock import utc_now
from bot.config import Settings
from bot.db.check import inspect_database
from bot.db.pg_migrate import inspect_postgres
from bot.discord_endpoints import point_discord_at
from bot.errors import UserError
from bot.ledger.export import render_csv, render_json
from bot.ledger.types import LedgerError
from bot.roles import describe_shards
from bot.web.server import check_listener


class OperatorError(Exception):
    """A failure an operator can act on, printed as one line."""


@contextmanager
def discord_errors(settings: Settings) -> Iterator[None]:
    """Turn a failed login (network, proxy, HTTP status) into one :class:`OperatorError` line.

    A rejected token (``discord.LoginFailure``) passes through: callers word it themselves.
    Other OSErrors (a full disk, say) pass through too: they are not about reaching Discord.
    """
    base = settings.discord.api_base_url
    try:
        yield
    except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
        raise OperatorError(
            f"discord: cannot reach {base} ({type(exc).__name__}); check discord.api_base_url "
            "and the network"
        ) from None
    except discord.HTTPException as exc:
        raise OperatorError(
            f"discord: GET /users/@me failed with HTTP {exc.status}; check discord.api_base_url"
        ) from None


async def _check_discord(settings: Settings) -> list[str]:
    http = HTTPClient(asyncio.get_running_loop())
    try:
        with discord_errors(settings):
            user = await http.static_login(settings.discord.token.get_secret_value())
            shards = await _check_shards(http, settings)
    except discord.LoginFailure:
        raise OperatorError("discord: the token was rejected (check discord.token)") from None
    finally:
        await http.close()
    if not isinstance(user, dict):
        # discord.py hands back the raw text when the answer is not labelled JSON.
        raise OperatorError(
            f"discord: {settings.discord.api_base_url} did not answer GET /users/@me with "
            "JSON; check discord.api_base_url (a proxy in between?)"
        )
    name = user.get("global_name") or user.get("username")
    if not user.get("bot"):
        raise OperatorError("discord: the token does not belong to a bot account")
    return [f"discord: ok, logged in as {name} (id {user['id']})", *shards]


async def _check_shards(http: HTTPClient, settings: Settings) -> list[str]:
    """For a sharded config: Discord's recommended shard count beside the configured one."""
    config = settings.discord
    if config.shard_count is None:
        return []
    try:
        recommended, _url, _limit = await http.get_bot_gateway()
    except discord.GatewayNotFound:
        raise OperatorError("discord: GET /gateway/bot failed; check discord.api_base_url"
                            ) from None
    owned = describe_shards(config)
    if config.shard_count < recommended:
        return [f"discord: WARNING {owned}, but Discord recommends {recommended} shards for "
                "this bot's guilds; raise [discord] shard_count in every gateway process's "
                "config (and split shard_ids) before a shard passes 2,500 guilds"]
    return [f"discord: {owned} (Discord recommends {recommended})"]


async def _check_apiframe(settings: Settings) -> str:
    async with aiohttp.ClientSession() as http:
        try:
            me = await make_apiframe_client(settings, http).me()
        except ApiframeError as exc:
            raise OperatorError(f"apiframe: {exc}") from None
    if me.team is None:
        return "apiframe: ok, but the key has no team (no credits to spend)"
    return (
        f"apiframe: ok, team {me.team.name!r} on plan {me.team.plan!r} "
        f"with {me.team.credits} credits; model {settings.apiframe.model}"
    )


async def _inspect(settings: Settings) -> str:
    url = settings.database.url
    if url is not None:
        return await inspect_postgres(url.get_secret_value())
    return await asyncio.to_thread(inspect_database, settings.database.path)


async def check(settings: Settings, config_path: Path, out: TextIO) -> int:
    """Validate the config (already done by the caller), both credentials, then the models.

    An enabled model that Apiframe no longer lists exits 1 after the whole report (one line
    each): the bot would start, but every job of it would be charged, sent and refused, so a
    deploy script gating on ``check`` must stop there.
    """
    print(f"config: ok ({config_path}); database {settings.database.where}", file=out)
    # Offline first: a damaged or read-only file is reported before any network call.
    print(await _inspect(settings), file=out)
    if settings.web.enabled:  # a port that cannot be bound raises ListenerError: one line
        for line in await check_listener(settings.web):
            print(line, file=out)
    restore = point_discord_at(settings.discord.api_base_url, settings.discord.gateway_url)
    try:
        for line in await _check_discord(settings):
            print(line, file=out)
    finally:
        restore()
    print(await _check_apiframe(settings), file=out)
    try:
        lines, live = await check_lines(settings)
    except CatalogUnavailable as exc:
        raise OperatorError(str(exc)) from None
    for line in lines:
        print(line, file=out)
    return 0 if live else 1


async def sync(settings: Settings, guild_id: int | None, out: TextIO) -> int:
    """Publish the command tree globally or to one guild, without connecting to the gateway."""
    restore = point_discord_at(settings.discord.api_base_url, settings.discord.gateway_url)
    try:
        async with open_services(settings) as services, SoraBot(services) as bot:
            with discord_errors(settings):
                await bot.login(settings.discord.token.get_secret_value())
            guild = discord.Object(id=guild_id) if guild_id else None
            if guild is not None:
                bot.tree.copy_global_to(guild=guild)
            try:
                synced = await bot.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                raise OperatorError(f"sync failed: HTTP {exc.status} {exc.text}") from None
    finally:
        restore()
    scope = f"guild {guild_id}" if guild_id else "all guilds (global; may take up to an hour)"
    names = ", ".join(f"/{c.name}" for c in synced) or "no commands"
    print(f"synced {len(synced)} command(s) to {scope}: {names}", file=out)
    return 0


async def export_ledger(settings: Settings, guild_id: int, fmt: str, out: TextIO) -> int:
    """Write a guild's balance and full journal to ``out`` as CSV or JSON; writes nothing.

    An unknown guild is refused rather than exported with starting credits, which would
    create its balance (and a missing database file) just to read it.
    """
    path = settings.database.path
    if settings.database.url is None and not path.exists():
        raise OperatorError(
            f"{path} does not exist yet, so there is no ledger to export "
            "(it is created when the bot first starts)"
        )
    async with open_store(settings) as store:
        try:
            known = await store.ledger.known(guild_id)
        except LedgerError as exc:
            raise OperatorError(str(exc)) from None
        if not known:
            raise OperatorError(
                f"guild {guild_id} has no ledger: the bot has never seen it (check the id); "
                "nothing was written"
            )
        export = await store.ledger.export(guild_id)
    out.write(render_csv(export) if fmt == "csv" else render_json(export))
    return 0


async def operator_change(
    settings: Settings, op: str, guild_id: int, amount: int, reason: str, out: TextIO
) -> int:
    """``ledger grant|set``: the operator's own credit changes, journaled as ``operator``."""
    async with open_store(settings) as store:
        # Through the budget service, so the change also reaches the guild's audit channel.
        budget = BudgetService(store.db, store.ledger, store.audit, store.jobs, settings,
                               utc_now)
        change = budget.grant if op == "grant" else budget.set
        try:
            entry = await change(guild_id, amount, actor_id=None, can_mint=True, reason=reason)
        except (LedgerError, UserError) as exc:
            raise OperatorError(str(exc)) from None
    if op == "grant":
        print(f"granted {amount} credits to guild {guild_id}; balance {entry.balance_after}",
              file=out)
    else:
        print(f"set guild {guild_id} to {amount} credits (change {entry.delta:+d}); "
              f"balance {entry.balance_after}", file=out)
    return 0
