"""A loopback fake of Discord (REST + gateway + CDN) for the real, unmodified discord.py.

Usage::

    fake = FakeDiscord(token="test-token")
    await fake.start()
    restore = point_discord_at(fake.api_base_url, fake.gateway_url)
    guild = fake.add_guild("Test Guild")
    ... start a commands.Bot with "test-token" as a task ...
    await fake.wait_until_ready_sent()
    iid, token = await fake.send_slash_command(guild, user_id, "sora", options=[...])
    ... assert on fake.interaction_responses(iid), fake.messages[...], fake.requests ...
    assert fake.validation_errors == []
    restore(); await fake.stop()

Every request body the bot sends is checked against Discord's official OpenAPI schemas
(vendored subset) and Discord's documented limits; failures are answered like Discord
(400/50035) and listed in ``validation_errors``. The implementation is split over
``tests/fakes/discord_*.py``: state/models, payloads, REST routes, interaction routes, gateway,
CDN and validation.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.discord_cdn import FakeCdn
from tests.fakes.discord_gateway import FakeGateway
from tests.fakes.discord_http import RestFrontDoor, redacted_headers
from tests.fakes.discord_interactions import InteractionSender
from tests.fakes.discord_models import (
    REQUEST_LIMIT,
    FakeGuild,
    MiB,
    RecordedRequest,
    StoredMessage,
)
from tests.fakes.discord_payloads import channel_object
from tests.fakes.discord_rest import BotRoutes
from tests.fakes.discord_skus import FakeSkus
from tests.fakes.discord_validation import OpenApiContract
from tests.fakes.discord_webhooks import InteractionRoutes

__all__ = ["FakeCdn", "FakeDiscord", "FakeGuild", "RecordedRequest", "StoredMessage"]


class FakeDiscord(InteractionSender):
    """The fake server. See the module docstring; state lives in :class:`DiscordState`."""

    def __init__(
        self,
        token: str = "test-token",  # noqa: S107 - a fake accepts a fake token
        *,
        heartbeat_interval_ms: int = 41250,
        contract: OpenApiContract | None = None,
    ) -> None:
        super().__init__(token, contract=contract)
        self.api_base_url = ""
        self.gateway_url = ""
        self.gateway = FakeGateway(
            self, url=lambda: self.gateway_url, heartbeat_interval_ms=heartbeat_interval_ms
        )
        self._door = RestFrontDoor(self)
        BotRoutes(self._door, lambda: self.gateway_url)
        InteractionRoutes(self._door)
        #: SKUs, entitlements and their routes and events (credit packs).
        self.skus = FakeSkus(self, self._door)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=REQUEST_LIMIT + MiB)
        app.router.add_get("/gw", self.gateway.handle)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._door.handle)
        app.router.add_route("*", "/{tail:.*}", self._other)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        # Discord's edge takes any number of new connections at once; aiohttp's default
        # listen backlog (128) would drop a burst's SYNs, and each dropped one costs the
        # client a 1 s retransmit that Discord would never cause.
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.api_base_url = f"{self.base_url}/api/v10"
        self.gateway_url = f"ws://{host}:{port}/gw"

    async def stop(self) -> None:
        self.release_delays()
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _other(self, request: web.Request) -> web.StreamResponse:
        """The CDN, and a recorded 404 for anything else (so a wrong URL shows up in tests)."""
        query, headers = dict(request.query), redacted_headers(request)
        record = RecordedRequest(request.method, request.path, query, headers, None, [], self.now())
        self.requests.append(record)
        if request.method == "GET" and request.path.startswith("/cdn/attachments/"):
            response = await self.cdn.handle(request)
        else:
            response = web.json_response({"message": "404: Not Found", "code": 0}, status=404)
        record.status = response.status
        return response

    # -- gateway ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.gateway.connected

    @property
    def identify_payloads(self) -> list[dict[str, Any]]:
        return self.gateway.identify_payloads

    async def wait_for_identify(self, timeout: float = 10) -> dict[str, Any]:
        return await self.gateway.wait_for_identify(timeout)

    async def wait_until_ready_sent(self, timeout: float = 10) -> None:
        await self.gateway.wait_until_ready_sent(timeout)

    async def request_reconnect(self) -> None:
        await self.gateway.request_reconnect()

    async def wait_for_resume(self, timeout: float = 10) -> None:
        await self.gateway.wait_for_resume(timeout)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send any gateway event (e.g. a hand-built GUILD_DELETE) to the bot."""
        await self.gateway.dispatch(event, data)

    async def push_channel_update(self, channel_id: int) -> None:
        """Tell the bot about permission changes made after GUILD_CREATE (CHANNEL_UPDATE)."""
        found = self.find_channel(channel_id)
        if found is None:
            raise KeyError(f"no channel {channel_id}")
        await self.gateway.dispatch("CHANNEL_UPDATE", channel_object(found[1]))

    def entitlement_objects(self, user_id: int, guild_id: int | None) -> list[dict[str, Any]]:
        return self.skus.visible_to(user_id, guild_id)

    async def send_interaction(self, payload: dict[str, Any]) -> tuple[int, str]:
        """Dispatch a raw INTERACTION_CREATE (hostile payloads welcome); return (id, token)."""
        interaction = self.register_interaction(payload)
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction.id, interaction.token
