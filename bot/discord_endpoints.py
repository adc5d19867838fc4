"""Point discord.py at the configured REST base and gateway.

discord.py has no constructor option for either: every REST and webhook call builds a
``discord.http.Route`` from the class attribute ``Route.BASE`` and a non-sharded client connects
to ``DiscordWebSocket.DEFAULT_GATEWAY``. Operators use this for REST/gateway proxies and the tests
for loopback fakes. The attributes are process-wide, so this returns a function that restores
them (one bot per process in production; tests restore after each run).
"""

from __future__ import annotations

from collections.abc import Callable

from discord.gateway import DiscordWebSocket
from discord.http import Route
from yarl import URL


def point_discord_at(api_base_url: str, gateway_url: str) -> Callable[[], None]:
    """Redirect discord.py's REST and gateway traffic; return a function that undoes it."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = api_base_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = URL(gateway_url)

    def restore() -> None:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore
