"""The fake Discord on the wire, without discord.py: gateway frames, interaction rules, 4xx."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands

from bot.discord_endpoints import point_discord_at
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.discord_harness import connected_client
from tests.fakes.discord_payloads import snowflake_time

USER_ID = 2_222_222_222_222_222_222
BOT_AUTH = {"Authorization": "Bot test-token"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(token="test-token")
    await server.start()
    yield server
    await server.stop()
    assert server.response_schema_errors == []


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    return fake.add_guild("Wire Guild")


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await ws.receive_str(timeout=5))
    return frame


@pytest.fixture
async def gateway(
    fake: FakeDiscord, guild: FakeGuild, http: aiohttp.ClientSession
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A hand-driven gateway client that has identified and read READY + GUILD_CREATE."""
    async with http.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws:
        hello = await receive(ws)
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41250
        await ws.send_json({"op": 1, "d": None})
        assert (await receive(ws))["op"] == 11
        await ws.send_json({"op": 2, "d": {"token": "test-token", "intents": 1, "properties": {}}})
        ready, created = await receive(ws), await receive(ws)
        assert (ready["t"], ready["s"], created["t"], created["s"]) == (
            "READY",
            1,
            "GUILD_CREATE",
            2,
        )
        assert ready["d"]["resume_gateway_url"] == fake.gateway_url
        assert ready["d"]["guilds"] == [{"id": str(guild.id), "unavailable": True}]
        assert ready["d"]["application"]["id"] == str(fake.application_id)
        roles = {r["id"]: r for r in created["d"]["roles"]}
        assert roles[str(guild.id)]["name"] == "@everyone"
        member_ids = {m["user"]["id"] for m in created["d"]["members"]}
        assert str(fake.bot_id) in member_ids
        yield ws


async def test_interaction_create_payload_is_faithful(
    fake: FakeDiscord, guild: FakeGuild, gateway: aiohttp.ClientWebSocketResponse
) -> None:
    image = fake.cdn.add(b"png", "start.png", "image/png")
    option = {"name": "image", "type": 11, "value": image}
    before = fake.now()
    iid, token = await fake.send_slash_command(
        guild, USER_ID, "sora", options=[option], attachment_size_limit=25 * 1024 * 1024
    )
    frame = await receive(gateway)
    payload = frame["d"]
    assert (frame["t"], frame["s"]) == ("INTERACTION_CREATE", 3)
    assert (int(payload["id"]), payload["token"], payload["type"]) == (iid, token, 2)
    assert abs(snowflake_time(iid) - before) < 1
    assert payload["attachment_size_limit"] == 25 * 1024 * 1024
    assert payload["member"]["user"]["id"] == str(USER_ID)
    assert int(payload["member"]["permissions"]) == guild.permissions_for(USER_ID, guild.channel_id)
    assert payload["data"]["options"] == [{"name": "image", "type": 11, "value": image["id"]}]
    assert payload["data"]["resolved"]["attachments"] == {image["id"]: image}
    assert payload["channel"]["id"] == str(guild.channel_id)

    hostile = {**payload, "id": str(fake.new_id()), "token": "hostile-token"}
    hostile["data"] = {**payload["data"], "options": [{"name": "size", "type": 3, "value": "8k"}]}
    assert await fake.send_interaction(hostile) == (int(hostile["id"]), "hostile-token")
    assert (await receive(gateway))["d"] == hostile


async def test_callback_rules(
    fake: FakeDiscord,
    guild: FakeGuild,
    gateway: aiohttp.ClientWebSocketResponse,
    http: aiohttp.ClientSession,
) -> None:
    iid, token = await fake.send_slash_command(guild, USER_ID, "sora")
    url = f"{fake.api_base_url}/interactions/{iid}/{token}/callback"
    followup = f"{fake.api_base_url}/webhooks/{fake.application_id}/{token}"
    async with http.post(followup, json={"content": "too early"}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (404, 10015)
    async with http.post(url, json={"type": 7, "data": {"content": "x"}}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, 50035)
    async with http.post(url, json={"type": 4, "data": {"content": "hi"}}) as resp:
        assert resp.status == 204
    async with http.post(url, json={"type": 5}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, 40060)
    async with http.post(f"{followup}?wait=true", json={"content": "more"}) as resp:
        assert resp.status == 200 and (await resp.json())["content"] == "more"

    late_id, late_token = await fake.send_slash_command(guild, USER_ID, "sora")
    fake.advance(3.1)
    late = f"{fake.api_base_url}/interactions/{late_id}/{late_token}/callback"
    async with http.post(late, json={"type": 5}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (404, 10062)
    async with http.post(f"{late}x", json={"type": 5}) as resp:
        assert resp.status == 404
    assert fake.validation_errors == [
        f"POST /api/v10/interactions/{iid}/{token}/callback: create_interaction_response: "
        "type: callback type 7 is not valid for interaction type 2"
    ]


async def test_bad_token_is_refused_on_rest_and_gateway(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": "Bot wrong"}
    async with http.get(f"{fake.api_base_url}/users/@me", headers=headers) as resp:
        assert resp.status == 401
        assert await resp.json() == {"message": "401: Unauthorized", "code": 0}
    async with http.ws_connect(fake.gateway_url) as ws:
        await receive(ws)
        await ws.send_json({"op": 2, "d": {"token": "wrong", "properties": {}}})
        await ws.receive(timeout=5)
        assert ws.close_code == 4004
    client = discord.Client(intents=discord.Intents.none())
    restore = point_discord_at(fake.api_base_url, fake.gateway_url)
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("wrong")
    finally:
        await client.close()
        restore()


async def test_invalid_requests_are_answered_like_discord_and_recorded(
    fake: FakeDiscord, guild: FakeGuild, http: aiohttp.ClientSession
) -> None:
    messages = f"{fake.api_base_url}/channels/{guild.channel_id}/messages"
    async with http.post(messages, json={"content": "x" * 2001}, headers=BOT_AUTH) as resp:
        body = await resp.json()
    assert (resp.status, body["code"], body["message"]) == (400, 50035, "Invalid Form Body")
    assert body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert len(fake.validation_errors) == 1 and "content" in fake.validation_errors[0]

    headers = {**BOT_AUTH, "Content-Type": "application/json"}
    async with http.post(messages, data=b"{not json", headers=headers) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, 50109)
    async with http.post(messages, json={"content": ""}, headers=BOT_AUTH) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, 50006)

    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps({"attachments": [{"id": 1, "filename": "a.mp4"}]}))
    form.add_field("files[0]", b"data", filename="a.mp4")
    async with http.post(messages, data=form, headers=BOT_AUTH) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, 50035)
    assert "attachments.0.id" in fake.validation_errors[-1]

    huge = aiohttp.FormData(quote_fields=False)
    huge.add_field("payload_json", json.dumps({"content": "big"}))
    huge.add_field("files[0]", io.BytesIO(bytes(25 * 1024 * 1024 + 1)), filename="huge.mp4")
    async with http.post(messages, data=huge, headers=BOT_AUTH) as resp:
        assert (resp.status, (await resp.json())["code"]) == (413, 40005)

    async with http.get(f"{fake.api_base_url}/guilds/{guild.id}/nope", headers=BOT_AUTH) as resp:
        assert (resp.status, await resp.json()) == (404, {"message": "404: Not Found", "code": 0})
    assert fake.requests[-1].route is None and fake.requests[-1].status == 404
    assert fake.messages[guild.channel_id] == []


async def test_cdn_urls_are_signed(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    url = fake.cdn.add(b"frame", "frame.png", expires_in=60)["url"]
    async with http.get(url) as resp:
        assert resp.status == 200 and await resp.read() == b"frame"
    async with http.get(url.replace("hm=", "hm=0")) as resp:
        assert resp.status == 404
    fake.advance(60)
    async with http.get(url) as resp:
        assert resp.status == 404


async def test_auto_sharded_bot_uses_gateway_bot(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = commands.AutoShardedBot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        guild_ready_timeout=0.1,
    )
    async with connected_client(fake, client):
        assert client.shard_count == 1 and client.get_guild(guild.id) is not None
    assert fake.requests_to("GET", "/gateway/bot")[0].status == 200
    assert fake.identify_payloads[0]["shard"] == [0, 1]


async def test_injected_reset_drops_the_connection_once(
    fake: FakeDiscord, guild: FakeGuild, http: aiohttp.ClientSession
) -> None:
    url = f"{fake.api_base_url}/channels/{guild.channel_id}/messages"
    fake.inject_reset("POST", "/channels/{channel_id}/messages")
    with pytest.raises(aiohttp.ClientError):  # no answer at all, not an error status
        await http.post(url, json={"content": "lost"}, headers=BOT_AUTH)
    async with http.post(url, json={"content": "kept"}, headers=BOT_AUTH) as answer:
        assert answer.status == 200
    assert [m.content for m in fake.messages[guild.channel_id]] == ["kept"]
