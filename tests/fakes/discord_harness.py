"""Run a real discord.py client against a started :class:`FakeDiscord` for one test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

import discord

from bot.discord_endpoints import point_discord_at
from tests.fakes.discord import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.asynccontextmanager
async def connected_client(
    fake: FakeDiscord, client: ClientT, *, token: str | None = None, timeout: float = 10
) -> AsyncIterator[ClientT]:
    """Point discord.py at ``fake``, start ``client`` as a task, yield once it is ready.

    Create the client with ``guild_ready_timeout=0.1`` or ``on_ready`` waits 2 s. A login or
    gateway failure surfaces here instead of hanging until the timeout.
    """
    restore = point_discord_at(fake.api_base_url, fake.gateway_url)
    runner = asyncio.create_task(client.start(token or fake.token))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        # Polled: wait_until_ready() cannot be awaited before login has set the client up.
        while not client.is_ready():
            if runner.done():
                runner.result()  # re-raises the login/connect error
                raise RuntimeError("client stopped before it became ready")
            if loop.time() > deadline:
                raise TimeoutError(f"client not ready after {timeout} s")
            await asyncio.sleep(0.01)
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
            await runner
        restore()
