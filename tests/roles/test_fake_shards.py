"""The fake Discord shards as Discord does: on the wire, and with discord.py's own sharded
client (two processes' worth of AutoShardedClient, one shard each, in one event loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from bot.web.ops import gateway_connected
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_gateway import INVALID_SHARD, SHARDING_REQUIRED, shard_for
from tests.fakes.discord_harness import connected_client

USER_ID = 2_222_222_222_222_222_222
BOT_AUTH = {"Authorization": "Bot test-token"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(token="test-token")
    await server.start()
    yield server
    await server.stop()
    assert server.response_schema_errors == []


async def identify(
    fake: FakeDiscord, http: aiohttp.ClientSession, shard: Any
) -> tuple[aiohttp.ClientWebSocketResponse, list[dict[str, Any]]]:
    """IDENTIFY with ``shard``; the frames up to the last GUILD_CREATE, or the close."""
    ws = await http.ws_connect(f"{fake.gateway_url}?v=10&encoding=json")
    assert json.loads(await ws.receive_str(timeout=5))["op"] == 10
    data: dict[str, Any] = {"token": "test-token", "intents": 1, "properties": {}}
    if shard is not None:
        data["shard"] = shard
    await ws.send_json({"op": 2, "d": data})
    frames: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=0.5 if frames else 5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return ws, frames
        frames.append(json.loads(msg.data))
        ready = frames[0]["d"]
        if len(frames) == 1 + len(ready["guilds"]):
            return ws, frames


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], ["0", 1], [True, 2]])
async def test_an_invalid_shard_is_closed_with_4010(
    fake: FakeDiscord, http: aiohttp.ClientSession, shard: Any
) -> None:
    fake.add_guild("Any")
    ws, frames = await identify(fake, http, shard)
    assert frames == []
    assert ws.close_code == INVALID_SHARD
    assert fake.gateway.sessions == {}


async def test_too_few_shards_for_the_guilds_is_closed_with_4011(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    for number in range(2501):
        fake.add_guild(f"Guild {number}")
    ws, _ = await identify(fake, http, [0, 1])
    assert ws.close_code == SHARDING_REQUIRED
    ws, frames = await identify(fake, http, [1, 2])
    assert frames[0]["t"] == "READY"
    await ws.close()
    async with http.get(f"{fake.api_base_url}/gateway/bot", headers=BOT_AUTH) as reply:
        assert (await reply.json())["shards"] == 3  # one per 1,000 guilds, rounded up


async def test_ready_and_guild_create_carry_only_the_shards_guilds(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    guilds = {shard: fake.add_guild(f"On {shard}", shard=(shard, 3)) for shard in (0, 1, 2)}
    assert {shard_for(g.id, 3) for g in guilds.values()} == {0, 1, 2}
    for shard in (0, 1, 2):
        ws, frames = await identify(fake, http, [shard, 3])
        ready, *created = frames
        assert ready["d"]["shard"] == [shard, 3]
        assert ready["d"]["guilds"] == [{"id": str(guilds[shard].id), "unavailable": True}]
        assert [f["d"]["id"] for f in created] == [str(guilds[shard].id)]
        await ws.close()
    ws, frames = await identify(fake, http, None)  # unsharded: everything, no "shard"
    assert "shard" not in frames[0]["d"] and len(frames) == 4
    await ws.close()
    async with http.get(f"{fake.api_base_url}/gateway/bot", headers=BOT_AUTH) as reply:
        assert (await reply.json())["shards"] == 1


class Recorder(discord.AutoShardedClient):
    def __init__(self, shard_id: int) -> None:
        super().__init__(intents=discord.Intents.none(), shard_ids=[shard_id], shard_count=2,
                         guild_ready_timeout=0.1)
        self.interactions: list[int] = []

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions.append(interaction.id)


async def test_discord_py_shards_receive_only_their_guilds_and_interactions(
    fake: FakeDiscord,
) -> None:
    zero, one = fake.add_guild("Zero", shard=(0, 2)), fake.add_guild("One", shard=(1, 2))
    async with connected_client(fake, Recorder(0)) as first, \
            connected_client(fake, Recorder(1)) as second:
        assert [g.id for g in first.guilds] == [zero.id]
        assert [g.id for g in second.guilds] == [one.id]
        assert first.guilds[0].shard_id == 0 and second.guilds[0].shard_id == 1
        # /healthz's gateway check counts a sharded client by its shards' sockets.
        assert gateway_connected(first) and gateway_connected(second)
        to_one, _ = await fake.send_slash_command(one, USER_ID, "sora")
        to_zero, _ = await fake.send_slash_command(zero, USER_ID, "sora")
        for _ in range(500):
            if first.interactions and second.interactions:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # a wrongly routed copy would have arrived by now
        assert first.interactions == [to_zero]
        assert second.interactions == [to_one]
        await second.close()
        assert gateway_connected(first) and not gateway_connected(second)
