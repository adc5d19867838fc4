"""``[discord] shard_count`` and ``shard_ids``: what Discord accepts, refused in one line
otherwise, and which bot each role builds from them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from discord.ext import commands

from bot.app import Services, open_services
from bot.config import ConfigError, Settings, parse_settings
from bot.roles import Role, ShardedSoraBot, build_bot

TOKEN = "MTAx.fake-bot-token.for-tests-only"
KEY = "afk_test_key_0000000000000000"


def settings(tmp: Any = None, **discord: Any) -> Settings:
    raw: dict[str, dict[str, Any]] = {"discord": {"token": TOKEN, **discord},
                                      "apiframe": {"api_key": KEY}}
    if tmp is not None:
        raw["database"] = {"path": str(tmp / "bot.sqlite3")}
    return parse_settings(raw, env={})


@pytest.mark.parametrize(("shards", "expected"), [
    ({"shard_ids": [0]}, "discord: shard_ids needs shard_count"),
    ({"shard_count": 0}, "discord.shard_count"),
    ({"shard_count": 2, "shard_ids": [2]}, "discord: shard_ids [2] not in 0..1 (shard_count 2)"),
    ({"shard_count": 2, "shard_ids": [-1]}, "discord: shard_ids [-1] not in 0..1"),
    ({"shard_count": 4, "shard_ids": [1, 1]}, "discord: shard_ids lists a shard twice: [1, 1]"),
    ({"shard_count": 4, "shard_ids": []}, "discord: shard_ids must list at least one shard"),
    ({"shard_count": 4, "shard_ids": ["1"]}, "discord.shard_ids.0: must be a whole number"),
    ({"shard_count": 4, "shards": [1]}, "discord.shards: unknown key"),
])
def test_a_shard_mistake_is_one_line_naming_the_key(
    shards: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        settings(**shards)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_shards_are_optional_and_kept_as_given() -> None:
    assert settings().discord.shard_count is None
    assert settings().discord.shard_ids is None
    config = settings(shard_count=4, shard_ids=[3, 1]).discord
    assert (config.shard_count, config.shard_ids) == (4, (3, 1))
    assert settings(shard_count=2).discord.shard_ids is None  # every shard of 2


@pytest.fixture
async def sharded(tmp_path: Any) -> AsyncIterator[Services]:
    async with open_services(settings(tmp_path, shard_count=4, shard_ids=[1, 3])) as services:
        yield services


async def test_a_gateway_owns_its_shards_and_a_worker_none(sharded: Services) -> None:
    async with build_bot(sharded, Role.GATEWAY) as gateway:
        assert isinstance(gateway, ShardedSoraBot)
        assert isinstance(gateway, commands.AutoShardedBot)
        assert (gateway.shard_count, gateway.shard_ids) == (4, [1, 3])
    async with build_bot(sharded, Role.WORKER) as worker:
        assert not isinstance(worker, commands.AutoShardedBot)


async def test_without_shards_every_role_is_the_plain_bot(tmp_path: Any) -> None:
    async with open_services(settings(tmp_path)) as services:
        for role in Role:
            async with build_bot(services, role) as bot:
                assert not isinstance(bot, commands.AutoShardedBot)
