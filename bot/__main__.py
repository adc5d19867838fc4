"""Command line: ``sora-bot [--config PATH] run | gateway | worker | check | sync | models |
db | ledger``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import discord

from bot import cli_db, cli_models, cli_ops
from bot.app import open_services
from bot.config import ConfigError, Settings, load_settings
from bot.db.database import DatabaseError
from bot.discord_endpoints import point_discord_at
from bot.logs import setup_logging
from bot.roles import Role, build_bot
from bot.web.server import ListenerError

log = logging.getLogger("bot")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS,
        help="path to the TOML configuration (default: config.toml)",
    )
    parser = argparse.ArgumentParser(
        prog="sora-bot", parents=[common],
        description="Discord bot for paid AI video through Apiframe.",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", parents=[common],
                   help="start the bot: gateway and jobs in one process (default)")
    sub.add_parser("gateway", parents=[common],
                   help="connect to the gateway (owning [discord] shard_ids) and answer "
                        "interactions; run no jobs (start workers for that)")
    sub.add_parser("worker", parents=[common],
                   help="run jobs over REST (scheduler, audit poster, web listener); no "
                        "gateway connection")
    sub.add_parser("check", parents=[common],
                   help="validate the config and verify the Discord token and Apiframe key")
    models = sub.add_parser(
        "models", parents=[common],
        help="list Apiframe's live video models beside the enabled ones and those found retired")
    models.add_argument(
        "--restore", metavar="ID",
        help="clear the bot's retired mark on model ID, so members may choose it again "
             "(when the provider's refusal was a passing error)")
    sync = sub.add_parser("sync", parents=[common], help="publish the slash commands and exit")
    scope = sync.add_mutually_exclusive_group()
    scope.add_argument("--guild", type=int, help="publish to this guild only (instant)")
    scope.add_argument("--dev", action="store_true", help="publish to discord.dev_guild_id")
    database = sub.add_parser("db", parents=[common], help="database tools")
    db_sub = database.add_subparsers(dest="db_command", required=True)
    migrate = db_sub.add_parser(
        "migrate-to", parents=[common],
        help="copy the SQLite database (database.path) into an empty PostgreSQL database "
             "and verify every guild's balance against its journal")
    migrate.add_argument("url", help="postgresql://user:password@host:5432/dbname")
    ledger = sub.add_parser("ledger", parents=[common], help="operator ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    export = ledger_sub.add_parser("export", parents=[common],
                                   help="write a guild's balance and journal to stdout")
    export.add_argument("--guild", type=int, required=True, help="the guild (server) id")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    for name, verb in (("grant", "add credits to"), ("set", "set the balance of")):
        change = ledger_sub.add_parser(name, parents=[common],
                                       help=f"{verb} a guild, journaled as the operator")
        change.add_argument("--guild", type=int, required=True, help="the guild (server) id")
        change.add_argument("amount", type=int, help="whole credits")
        change.add_argument("--reason", required=True, help="why (kept in the journal)")
    return parser


async def run_role(settings: Settings, role: Role) -> None:
    """Run one process of ``role`` until SIGTERM/SIGINT, then close the gateway (if any),
    the scheduler, HTTP sessions and database in order."""
    restore = point_discord_at(settings.discord.api_base_url, settings.discord.gateway_url)
    try:
        instance = role.instance(settings.discord)
        async with (open_services(settings, instance=instance) as services,
                    build_bot(services, role) as bot):
            loop = asyncio.get_running_loop()
            stopping: list[asyncio.Task[None]] = []
            stopped = asyncio.Event()

            def request_stop(signame: str) -> None:
                if not stopping:
                    log.info("Received %s; shutting down", signame)
                    stopping.append(loop.create_task(bot.close()))
                    stopped.set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, request_stop, sig.name)
            try:
                # bot.start() is login + connect; logging in separately turns "Discord cannot
                # be reached" into one line instead of a traceback. Login runs setup_hook,
                # which starts the scheduler where this role runs jobs.
                with cli_ops.discord_errors(settings):
                    await bot.login(settings.discord.token.get_secret_value())
                if role.connects:
                    await bot.connect()
                else:
                    user = bot.user
                    log.info("Worker logged in over REST as %s (id %s): running jobs, no"
                             " gateway connection", user, user.id if user else "?")
                    await stopped.wait()
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
                if stopping:
                    await stopping[0]
        log.info("Stopped cleanly")
    finally:
        restore()


def _fail(message: str, out: TextIO) -> int:
    print(f"error: {message}", file=out)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config_path: Path = getattr(args, "config", Path("config.toml"))
    command = args.command or "run"
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        return _fail(str(exc), sys.stderr)

    # Operator commands print a report; only the running bot needs the chatty log.
    setup_logging(
        settings.logging.level if command in set(Role) else "WARNING",
        (settings.discord.token.get_secret_value(), settings.apiframe.api_key.get_secret_value(),
         *settings.database.secrets),
    )
    try:
        if command in set(Role):
            asyncio.run(run_role(settings, Role(command)))
            return 0
        if command == "check":
            return asyncio.run(cli_ops.check(settings, config_path, sys.stdout))
        if command == "models" and args.restore is not None:
            return asyncio.run(cli_models.restore(settings, args.restore, sys.stdout))
        if command == "models":
            return asyncio.run(cli_models.models(settings, sys.stdout, sys.stderr))
        if command == "sync":
            guild = args.guild
            if args.dev:
                if settings.discord.dev_guild_id is None:
                    return _fail("sync --dev needs discord.dev_guild_id in the config", sys.stderr)
                guild = settings.discord.dev_guild_id
            return asyncio.run(cli_ops.sync(settings, guild, sys.stdout))
        if command == "db":
            return asyncio.run(cli_db.migrate_to(settings, args.url, sys.stdout))
        if command == "ledger" and args.ledger_command == "export":
            return asyncio.run(cli_ops.export_ledger(settings, args.guild, args.format, sys.stdout))
        if command == "ledger":
            return asyncio.run(cli_ops.operator_change(
                settings, args.ledger_command, args.guild, args.amount, args.reason, sys.stdout
            ))
    except discord.LoginFailure:
        return _fail("Discord rejected the token (check discord.token)", sys.stderr)
    except (cli_ops.OperatorError, cli_models.CatalogUnavailable, ListenerError) as exc:
        return _fail(str(exc), sys.stderr)
    except DatabaseError as exc:
        # Database.open names the file; a failure later on may not, so make sure it does.
        path = settings.database.where
        return _fail(str(exc) if path in str(exc) else f"{path}: {exc}", sys.stderr)
    except KeyboardInterrupt:
        return 130
    return _fail(f"unknown command {command!r}", sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
