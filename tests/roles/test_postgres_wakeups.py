"""A gateway and a worker on PostgreSQL: the worker hears of each new job through LISTEN/NOTIFY
(bot/db/pg_wakeups.py behind the scheduler's Wakeups port) instead of finding it at its next
idle scan, and delivers it.

Two sets of services on one database, as two processes open it (each its own pool and its own
LISTEN connection); the gateway answers through the fake Discord, the worker logs in over REST.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable
from pathlib import Path

from bot.app import open_services
from bot.config import load_settings
from bot.discord_endpoints import point_discord_at
from bot.ledger.store import Ledger
from bot.roles import Role, build_bot
from bot.worker.scheduler import MAX_IDLE
from tests.conftest import DISCORD_TOKEN, render_toml
from tests.fakes.apiframe import FakeApiframe, JobScript
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_harness import connected_client
from tests.kill9_support import GENERATE, apiframe_time_running
from tests.support.postgres import PgServer

USER = 420_000_000_000_000_001
JOBS = 4
#: Far below the idle scan (MAX_IDLE, 5 s): four jobs all seen this fast by chance alone would
#: be a (1.2 / 5) ** 4 = 0.3 % fluke.
HEARD_WITHIN = 1.2


async def test_a_worker_hears_each_new_job_at_once_and_delivers_it(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: Callable[..., Path],
    pg_server: PgServer,
) -> None:
    assert MAX_IDLE.total_seconds() >= 4 * HEARD_WITHIN
    fake_apiframe.video_size = 50_000
    fake_apiframe.default_script = JobScript("COMPLETED", None, 0.2, 0.3)
    guild = fake_discord.add_guild("On PostgreSQL")
    sections = tomllib.loads(write_config(
        apiframe={"poll_interval_seconds": 0.2}, logging={"level": "INFO"},
    ).read_text(encoding="utf-8"))
    sections["database"] = {"url": await pg_server.create_database()}
    config = Path(write_config().with_name("pg.toml"))
    config.write_text(render_toml(sections), encoding="utf-8")
    settings = load_settings(config, env={})

    restore = point_discord_at(fake_discord.api_base_url, fake_discord.gateway_url)
    try:
        async with (open_services(settings, instance="gateway") as front,
                    open_services(settings, instance="worker-1") as back):
            ledger: Ledger = front.store.ledger
            await ledger.grant(guild.id, 1_000, actor="operator:test", reason="test budget")
            worker = build_bot(back, Role.WORKER)
            gateway = build_bot(front, Role.GATEWAY, guild_ready_timeout=0.1)
            try:
                await worker.login(DISCORD_TOKEN)  # runs setup_hook: its scheduler starts
                async with connected_client(fake_discord, gateway):
                    await asyncio.sleep(0.5)  # the worker's first scan is over: it idles
                    loop = asyncio.get_running_loop()
                    for n in range(JOBS):
                        before = sum(r.route == GENERATE for r in fake_apiframe.requests)
                        sent = loop.time()
                        await fake_discord.send_slash_command(
                            guild, USER + n, "sora",
                            [{"name": "prompt", "type": 3, "value": f"a tide pool, {n}"}])
                        while sum(r.route == GENERATE for r in fake_apiframe.requests) == before:
                            assert loop.time() - sent < HEARD_WITHIN, (
                                f"job {n} waited for the worker's idle scan")
                            await asyncio.sleep(0.02)

                    async def all_delivered() -> bool:
                        rows = await back.store.db.fetchall(
                            "SELECT state FROM jobs ORDER BY created_at")
                        return [r["state"] for r in rows] == ["delivered"] * JOBS

                    async with apiframe_time_running(fake_apiframe):
                        for _ in range(300):
                            if await all_delivered():
                                break
                            await asyncio.sleep(0.05)
                    assert await all_delivered()
                    # The gateway ran none of them.
                    assert not gateway.scheduler.duties.running
            finally:
                await worker.close()
            assert await ledger.balance(guild.id) == 1_000 - JOBS * 12
    finally:
        restore()
