"""The CLI of the roles: ``check`` on a sharded config, and one-line failures of
``gateway`` and ``worker`` (real ``python -m bot`` processes against the fakes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import DISCORD_TOKEN, run_cli
from tests.fakes.discord import FakeDiscord


async def test_check_compares_the_shards_with_discords_recommendation(
    write_config: Callable[..., Path], fake_discord: FakeDiscord
) -> None:
    config = write_config(discord={"shard_count": 2, "shard_ids": [1]})
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert "discord: shards 1 of 2 (Discord recommends 1)\n" in out

    fake_discord.recommended_shards = 4
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    [warning] = [line for line in out.splitlines() if "WARNING" in line]
    assert warning.startswith("discord: WARNING shards 1 of 2, but Discord recommends 4 shards")
    assert "raise [discord] shard_count" in warning
    assert DISCORD_TOKEN not in out + err


async def test_roles_fail_in_one_line(write_config: Callable[..., Path]) -> None:
    config = write_config(discord={"shard_count": 2, "shard_ids": [0, 2]})
    code, out, err = await run_cli(config, "gateway")
    assert (code, out) == (1, "")
    assert err == f"error: {config}: discord: shard_ids [2] not in 0..1 (shard_count 2)\n"

    config = write_config(discord={"api_base_url": "http://127.0.0.1:9/api/v10"})
    code, out, err = await run_cli(config, "worker")
    assert (code, out) == (1, "")
    # A running role logs at [logging] level to stderr; the failure is its last line.
    line = err.splitlines()[-1]
    assert line.startswith("error: discord: cannot reach http://127.0.0.1:9/api/v10")
