"""Credit packs: store tests run on both backends; the bot runs against the fakes with
``[[packs.skus]]`` appended to its config (tests/conftest.py's writer has no array tables)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apiframe import FakeApiframe
from tests.fakes.discord import FakeDiscord
from tests.sora_harness import ConfigWriter, SoraHarness, harness_factory
from tests.support.postgres import both_backends

#: What the tests' two packs buy.
SMALL, LARGE = 100, 500

PackStarter = Callable[..., Awaitable[SoraHarness]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_backends(metafunc)


def packs_toml(packs: dict[int, int]) -> str:
    return "".join(f"\n[[packs.skus]]\nsku_id = {sku}\ncredits = {credits}\n"
                   f'label = "{credits} credits"\n' for sku, credits in packs.items())


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
    chosen: dict[int, int] = {}

    def with_packs(**sections: dict[str, Any]) -> Path:
        path = write_config(**sections)
        with path.open("a", encoding="utf-8") as out:
            out.write(packs_toml(chosen))
        return path

    async with harness_factory(fake_discord, fake_apiframe, with_packs) as start:

        async def start_packs(*, packs: bool = True, **overrides: dict[str, Any]) -> SoraHarness:
            chosen.clear()
            if packs:
                chosen.update({sku: credits for credits, sku in skus.items()})
            return await start(**overrides)

        yield start_packs
    assert fake_discord.validation_errors == []
    assert fake_discord.response_schema_errors == []
