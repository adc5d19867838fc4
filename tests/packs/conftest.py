"""Credit packs: store tests run on both backends; the bot runs against the fakes with
``[[packs.skus]]`` appended to its config (tests/conftest.py's writer has no array tables)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import SoraBot, open_services
from bot.config import load_settings
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_harness import connected_client
from tests.sora_harness import FAST, SMALL_VIDEO, ConfigWriter, SoraHarness
from tests.support.postgres import both_backends

#: What the tests' two packs buy.
SMALL, LARGE = 100, 500

PackStarter = Callable[..., Awaitable[SoraHarness]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_backends(metafunc)


def packs_toml(packs: dict[int, int]) -> str:
    return "".join(f"\n[[packs.skus]]\nsku_id = {sku}\ncredits = {credits}\n"
                   f'label = "{credits} credits"\n' for sku, credits in packs.items())


def write_with_packs(write_config: ConfigWriter, packs: dict[int, int],
                     **overrides: dict[str, Any]) -> Path:
    sections = {name: dict(table) for name, table in FAST.items()}
    for name, table in overrides.items():
        sections.setdefault(name, {}).update(table)
    path = write_config(**sections)
    with path.open("a", encoding="utf-8") as out:
        out.write(packs_toml(packs))
    return path


@pytest.fixture
def skus(fake_discord: FakeDiscord) -> dict[int, int]:
    """Two consumable SKUs at the fake, by the credits they buy."""
    return {SMALL: fake_discord.skus.add_sku("Small pack"),
            LARGE: fake_discord.skus.add_sku("Large pack")}


@pytest.fixture
async def start_packs(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: ConfigWriter,
    skus: dict[int, int],
) -> AsyncIterator[PackStarter]:
    """Start the in-process bot; ``packs=False`` leaves ``[packs]`` out of its config."""
    async with AsyncExitStack() as stack:

        async def start(*, packs: bool = True, **overrides: dict[str, Any]) -> SoraHarness:
            config = {sku: credits for credits, sku in skus.items()} if packs else {}
            settings = load_settings(write_with_packs(write_config, config, **overrides),
                                     env={})
            fake_apiframe.video_size = SMALL_VIDEO
            guild = fake_discord.add_guild("Pack Club")

            def clock() -> datetime:
                return datetime.fromtimestamp(fake_discord.now(), UTC)

            services = await stack.enter_async_context(open_services(settings, clock))
            bot = SoraBot(services, run_jobs=True, guild_ready_timeout=0.1)
            await stack.enter_async_context(connected_client(fake_discord, bot))
            return SoraHarness(fake_discord, fake_apiframe, services, bot, guild)

        yield start
    assert fake_discord.validation_errors == []
    assert fake_discord.response_schema_errors == []
