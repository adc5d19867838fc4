"""Point discord.py at the configured REST base and gateway.

discord.py has no constructor option for either: every REST and webhook call builds a
``discord.http.Route`` from the class attribute ``Route.BASE`` and a non-sharded client connects
to ``DiscordWebSocket.DEFAULT_GATEWAY``. Operators use this for REST/gateway proxies and the tests
for loopback fakes. The attributes are process-wide, so this returns a function that restores
them (one bot per process in production; tests restore after each run).

discord.py also treats a REST answer as JSON only when its content type is exactly
``application/json``; a proxy answering ``application/json; charset=utf-8`` made every answer
a string (``check`` crashed on it, the bot too). The same function widens that test to the
media type, whatever its parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import discord.http
import discord.webhook.async_
from discord.gateway import DiscordWebSocket
from discord.http import Route
from discord.utils import _from_json
from yarl import URL

_READER = "json_or_text"


async def _json_or_text(response: aiohttp.ClientResponse) -> dict[str, Any] | str:
    text = await response.text(encoding="utf-8")
    # aiohttp's content_type is the media type without parameters such as charset.
    if response.content_type == "application/json":
        data: dict[str, Any] = _from_json(text)
        return data
    return text


def point_discord_at(api_base_url: str, gateway_url: str) -> Callable[[], None]:
    """Redirect discord.py's REST and gateway traffic; return a function that undoes it."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    # The webhook adapter (interaction responses, follow-ups) imported its own reference.
    readers = (discord.http, discord.webhook.async_)
    old_readers = [getattr(module, _READER) for module in readers]
    Route.BASE = api_base_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = URL(gateway_url)
    for module in readers:
        setattr(module, _READER, _json_or_text)

    def restore() -> None:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
        for module, reader in zip(readers, old_readers, strict=True):
            setattr(module, _READER, reader)

    return restore
