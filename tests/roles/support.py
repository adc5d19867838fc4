"""Shared helpers for the role tests: per-process config files and waiting on the fake gateway."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.db.database import Database
from bot.jobs.store import JobDeliveries
from bot.ledger.store import Ledger
from tests.conftest import BotProcess, start_bot
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_gateway import GatewaySession

GRANT = 1_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_copy(write_config: Callable[..., Path], name: str, **overrides: Any) -> Path:
    """``write_config`` always writes tmp/config.toml; each process gets its own file."""
    written = write_config(**overrides)
    path = written.with_name(f"{name}.toml")
    path.write_text(written.read_text(encoding="utf-8"), encoding="utf-8")
    return path


async def grant(config: Path, *guild_ids: int) -> None:
    """Give each guild GRANT credits, as an operator would before the bot first runs."""
    settings = load_settings(config)
    db = await Database.open(settings.database.path)
    try:
        ledger = Ledger.from_config(db, settings.ledger, held_jobs=JobDeliveries())
        for guild_id in guild_ids:
            await ledger.grant(guild_id, GRANT, actor="operator:test", reason="test budget")
    finally:
        await db.close()


async def start_gateway(
    config: Path, discord: FakeDiscord, shard: list[int], guilds: int
) -> tuple[BotProcess, GatewaySession]:
    """Start ``python -m bot gateway``; return it with its session once its shard's
    ``guilds`` GUILD_CREATEs are sent (interactions work from then on)."""
    bot = await start_bot(config, "gateway")
    deadline = time.monotonic() + 30
    while True:
        for session in discord.gateway.sessions.values():
            if session.shard == shard and session.live and len(session.guild_ids) >= guilds:
                return bot, session
        if bot.proc.returncode is not None or time.monotonic() > deadline:
            if bot.proc.returncode is None:
                bot.proc.kill()
            await bot.wait()
            raise AssertionError(f"gateway {shard} never connected:\n{bot.stderr[-4000:]}")
        await asyncio.sleep(0.02)


async def stop(bot: BotProcess) -> int:
    """SIGTERM, then the exit code (0 when it stopped cleanly)."""
    if bot.proc.returncode is None:
        bot.proc.terminate()
    return await bot.wait(timeout=30)
