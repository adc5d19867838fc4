"""The fake Discord's Components V2 rules, on the wire (components.mdx, Discord's OpenAPI):
what a real server refuses, the fake refuses with Discord's error shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.discord_messages import card_texts, gallery_urls, is_v2
from tests.fakes.discord_validation import LEGACY_FIELDS_WITH_V2

BOT_AUTH = {"Authorization": "Bot test-token"}
V2 = 1 << 15


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(token="test-token")
    await server.start()
    yield server
    await server.stop()
    assert server.response_schema_errors == []


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    return fake.add_guild("V2 Guild")


def text(content: str) -> dict[str, Any]:
    return {"type": 10, "content": content}


def card(*items: dict[str, Any]) -> dict[str, Any]:
    return {"flags": V2, "components": [{"type": 17, "components": list(items)}]}


async def post(
    http: aiohttp.ClientSession, fake: FakeDiscord, guild: FakeGuild, body: dict[str, Any],
    files: dict[str, bytes] | None = None,
) -> tuple[int, dict[str, Any]]:
    url = f"{fake.api_base_url}/channels/{guild.channel_id}/messages"
    if files is None:
        async with http.post(url, json=body, headers=BOT_AUTH) as resp:
            return resp.status, await resp.json()
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps(body))
    for index, (name, data) in enumerate(files.items()):
        form.add_field(f"files[{index}]", data, filename=name)
    async with http.post(url, data=form, headers=BOT_AUTH) as resp:
        return resp.status, await resp.json()


async def patch(
    http: aiohttp.ClientSession, fake: FakeDiscord, guild: FakeGuild, message_id: str,
    body: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    url = f"{fake.api_base_url}/channels/{guild.channel_id}/messages/{message_id}"
    async with http.patch(url, json=body, headers=BOT_AUTH) as resp:
        return resp.status, await resp.json()


def first_error(body: dict[str, Any], key: str) -> str:
    return str(body["errors"][key]["_errors"][0]["code"])


async def test_content_or_embeds_beside_the_v2_flag_are_refused(
    fake: FakeDiscord, guild: FakeGuild, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, fake, guild, {**card(text("hi")), "content": "hello"})
    assert (status, body["code"]) == (400, 50035)
    assert first_error(body, "content") == LEGACY_FIELDS_WITH_V2
    status, body = await post(http, fake, guild,
                              {**card(text("hi")), "embeds": [{"title": "old"}]})
    assert (status, first_error(body, "embeds")) == (400, LEGACY_FIELDS_WITH_V2)
    # Without the flag, layout components are refused instead.
    status, body = await post(http, fake, guild, {"components": [text("hi")]})
    assert (status, body["code"]) == (400, 50035)
    assert fake.messages[guild.channel_id] == []

    status, body = await post(http, fake, guild, card(text("hi")))
    assert status == 200 and body["flags"] & V2 and body["content"] == ""
    [stored] = fake.messages[guild.channel_id]
    assert is_v2(stored) and card_texts(stored) == ["hi"]


async def test_component_and_text_limits(
    fake: FakeDiscord, guild: FakeGuild, http: aiohttp.ClientSession
) -> None:
    # 1 container + 40 text displays = 41 components, nested ones counted.
    status, body = await post(http, fake, guild, card(*[text(str(i)) for i in range(40)]))
    assert (status, body["code"]) == (400, 50035)
    assert "40 or fewer" in body["errors"]["components"]["_errors"][0]["message"]
    status, body = await post(http, fake, guild, card(*[text(str(i)) for i in range(39)]))
    assert status == 200

    # Each text display may hold 4000 characters, all of them together too.
    status, body = await post(http, fake, guild, card(text("a" * 2500), text("b" * 1501)))
    assert (status, body["code"]) == (400, 50035)
    status, body = await post(http, fake, guild, card(text("a" * 2500), text("b" * 1500)))
    assert status == 200

    gallery = {"type": 12, "items": [{"media": {"url": "https://example.com/a.png"}}] * 11}
    status, body = await post(http, fake, guild, card(gallery))
    assert (status, body["code"]) == (400, 50035)


async def test_an_attachment_url_must_name_a_file_of_the_message(
    fake: FakeDiscord, guild: FakeGuild, http: aiohttp.ClientSession
) -> None:
    def gallery(name: str) -> dict[str, Any]:
        return {"type": 12, "items": [{"media": {"url": f"attachment://{name}"}}]}

    attachments = [{"id": 0, "filename": "clip.mp4"}]
    status, body = await post(http, fake, guild,
                              {**card(gallery("other.mp4")), "attachments": attachments},
                              files={"clip.mp4": b"\x00" * 64})
    assert (status, body["code"]) == (400, 50035)
    assert "other.mp4" in fake.validation_errors[-1]

    status, body = await post(http, fake, guild,
                              {**card(gallery("clip.mp4")), "attachments": attachments},
                              files={"clip.mp4": b"\x00" * 64})
    assert status == 200
    # Read back as Discord does: the reference resolved to the uploaded attachment.
    [item] = body["components"][0]["components"][0]["items"]
    assert item["media"]["attachment_id"] == body["attachments"][0]["id"]
    assert item["media"]["url"] == body["attachments"][0]["url"]
    [stored] = fake.messages[guild.channel_id]
    assert gallery_urls(stored) == ["attachment://clip.mp4"]


async def test_the_v2_flag_stays_and_keeps_refusing_content(
    fake: FakeDiscord, guild: FakeGuild, http: aiohttp.ClientSession
) -> None:
    _, posted = await post(http, fake, guild, card(text("progress")))
    status, body = await patch(http, fake, guild, posted["id"], {"content": "done"})
    assert (status, first_error(body, "content")) == (400, LEGACY_FIELDS_WITH_V2)
    # An edit cannot take the flag away: the message stays V2, and its rules with it.
    status, body = await patch(http, fake, guild, posted["id"], {**card(text("x")), "flags": 0})
    assert status == 200 and body["flags"] & V2
    status, body = await patch(http, fake, guild, posted["id"],
                               {"flags": 0, "embeds": [{"title": "old"}]})
    assert (status, first_error(body, "embeds")) == (400, LEGACY_FIELDS_WITH_V2)

    # An embed message becomes V2 only by an edit that clears what it shows.
    _, legacy = await post(http, fake, guild, {"embeds": [{"title": "Rendering"}]})
    status, body = await patch(http, fake, guild, legacy["id"], card(text("new")))
    assert (status, first_error(body, "embeds")) == (400, LEGACY_FIELDS_WITH_V2)
    status, body = await patch(http, fake, guild, legacy["id"], {**card(text("new")),
                                                                 "embeds": []})
    assert status == 200 and body["flags"] & V2 and body["embeds"] == []


def test_component_unions_still_refuse_what_discord_refuses() -> None:
    """The contract's unions told apart by ``type`` are checked branch by branch (fast), with
    the same verdicts: a valid card passes, an unknown type or a broken member does not."""
    from tests.fakes.discord_validation import IS_COMPONENTS_V2, OpenApiContract

    contract = OpenApiContract.load()

    def card(*inner: dict[str, object]) -> dict[str, object]:
        return {"flags": IS_COMPONENTS_V2,
                "components": [{"type": 17, "components": list(inner)}]}

    text = {"type": 10, "content": "hello"}
    row = {"type": 1, "components": [{"type": 2, "style": 2, "label": "Go", "custom_id": "x"}]}
    assert contract.request_problems("create_message", card(text, row)) == []
    assert contract.request_problems("create_message", card({"type": 99, "content": "?"}))
    assert contract.request_problems("create_message", card({"type": 10}))  # no content
    broken_row = {"type": 1, "components": [{"type": 2, "style": "big", "label": "Go",
                                             "custom_id": "x"}]}
    assert contract.request_problems("create_message", card(text, broken_row))  # bad style
