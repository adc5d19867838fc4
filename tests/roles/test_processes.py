"""Real processes with roles: two ``python -m bot gateway`` owning one shard each of two, and
a ``python -m bot worker`` with no gateway connection that delivers what they started.

Everything is judged from outside: which guilds each gateway session was sent (the fake
gateway shards as Discord does), what reached Apiframe and when, the database, and what the
fake Discord shows members.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bot.config import load_settings
from tests.conftest import start_bot
from tests.fakes.apiframe import FakeApiframe, JobScript
from tests.fakes.discord import FakeDiscord
from tests.kill9_support import (
    GENERATE,
    TOKEN_LIFETIME,
    TOKEN_MARGIN,
    apiframe_time_running,
    outcome_posts,
    read_balance,
    read_jobs,
    read_journal,
    result_messages,
    until_job,
)
from tests.roles.support import GRANT, config_copy, free_port, grant, start_gateway, stop

USER = 410_000_000_000_000_001
PRICE = 12  # sora-2-pro standard 4 s, the default grid
PROMPTS = ("a lighthouse", "a harbour", "a quay")


def sora(prompt: str) -> list[dict[str, object]]:
    return [{"name": "prompt", "type": 3, "value": prompt}]


async def test_gateways_own_their_shards_and_a_worker_delivers_their_jobs(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: Callable[..., Path],
) -> None:
    fake_apiframe.video_size = 50_000
    fake_apiframe.default_script = JobScript("COMPLETED", None, 1, 2)
    zero = fake_discord.add_guild("Shard Zero", shard=(0, 2))
    one = fake_discord.add_guild("Shard One", shard=(1, 2))
    common = {"apiframe": {"poll_interval_seconds": 0.2},
              "logging": {"level": "INFO"}}
    gateway_ports = [free_port(), free_port()]
    configs = [config_copy(write_config, f"gateway{i}",
                           discord={"shard_count": 2, "shard_ids": [i]},
                           web={"enabled": True, "port": gateway_ports[i],
                                "public_url": "https://bot.example"}, **common)
               for i in (0, 1)]
    port = free_port()
    worker_config = config_copy(write_config, "worker", web={"enabled": True, "port": port},
                                **common)
    db_path = load_settings(worker_config).database.path
    await grant(worker_config, zero.id, one.id)

    gateways = []
    try:
        for shard in (0, 1):
            gateways.append(await start_gateway(configs[shard], fake_discord, [shard, 2], 1))
        (_, session0), (_, session1) = gateways
        # Each process was sent only its shard's guild, in READY and in GUILD_CREATE.
        assert session0.guild_ids == [zero.id]
        assert session1.guild_ids == [one.id]
        identified = {tuple(p["shard"]) for p in fake_discord.identify_payloads}
        assert identified == {(0, 2), (1, 2)}

        # A gateway serves /healthz (no scheduler to check) and /metrics, but no webhooks:
        # events go where jobs run.
        async with aiohttp.ClientSession() as http:
            for gateway_port in gateway_ports:
                base = f"http://127.0.0.1:{gateway_port}"
                for _ in range(100):  # ready once discord.py stops waiting for guilds (2 s)
                    async with http.get(f"{base}/healthz") as reply:
                        if reply.status == 200:
                            break
                    await asyncio.sleep(0.1)
                async with http.get(f"{base}/healthz") as reply:
                    assert reply.status == 200, await reply.text()
                async with http.get(f"{base}/metrics") as reply:
                    assert reply.status == 200
                async with http.post(f"{base}/webhooks/apiframe", data=b"{}") as reply:
                    assert reply.status == 404

        # A /sora in each guild reaches the process owning its shard, which writes the job.
        # The third one's token will be too old for the worker: it posts with the bot token.
        await fake_discord.send_slash_command(one, USER, "sora", sora("a lighthouse"))
        await fake_discord.send_slash_command(zero, USER, "sora", sora("a harbour"))
        await fake_discord.send_slash_command(zero, USER + 1, "sora", sora("a quay"),
                                              age=TOKEN_LIFETIME - TOKEN_MARGIN + 15)
        for prompt in PROMPTS:
            await until_job(db_path, lambda j, p=prompt: j["prompt"] == p)
        # Gateways run no scheduler: nothing is submitted until a worker runs.
        await asyncio.sleep(1.0)
        assert [r for r in fake_apiframe.requests if r.route == GENERATE] == []
        assert sorted(j["guild_id"] for j in await read_jobs(db_path)) == sorted(
            [zero.id, zero.id, one.id])
        for bot, _ in gateways:
            assert await stop(bot) == 0
    finally:
        for bot, _ in gateways:
            if bot.proc.returncode is None:
                bot.proc.kill()
                await bot.wait()

    # The gateways are gone: the worker alone submits, follows and delivers, over REST.
    connections_before = len(fake_discord.identify_payloads)
    worker = await start_bot(worker_config, "worker")
    try:
        await worker.wait_for_log("Worker logged in over REST")
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/healthz") as reply:
            assert reply.status == 200, await reply.text()
        async with apiframe_time_running(fake_apiframe):
            for prompt in PROMPTS:
                await until_job(db_path, lambda j, p=prompt: j["prompt"] == p
                                and j["state"] == "delivered", timeout=30)
        assert await stop(worker) == 0
    finally:
        if worker.proc.returncode is None:
            worker.proc.kill()
            await worker.wait()

    assert len(fake_discord.identify_payloads) == connections_before  # never connected
    jobs = {job["prompt"]: job for job in await read_jobs(db_path)}
    assert len(jobs) == 3
    for job in jobs.values():
        assert len(result_messages(fake_discord, job)) == 1
    # Fresh tokens: the deferred response edited; the stale one: a channel post, bot token.
    for prompt in ("a lighthouse", "a harbour"):
        assert outcome_posts(fake_discord, jobs[prompt], "d")[-1].method == "PATCH"
    assert outcome_posts(fake_discord, jobs["a quay"], "d")[-1].path.endswith("/messages")
    journal = await read_journal(db_path)
    for guild_id, spent in ((zero.id, 2 * PRICE), (one.id, PRICE)):
        assert await read_balance(db_path, guild_id) == GRANT - spent
        assert sum(e["delta"] for e in journal if e["guild_id"] == guild_id) == GRANT - spent
    assert fake_discord.validation_errors == []
