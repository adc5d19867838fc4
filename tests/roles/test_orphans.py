"""Which process retires acknowledged requests a killed process never recorded.

With several gateway processes on one database, an acknowledgement may be another live
process's request being recorded right now: a gateway starting takes only its own (its name is
its shard set, the same across restarts) and anyone's past the 15-minute token life for
orphans. The one-process bot is "main" and retires its own; a worker answers no interactions
and retires none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bot.app import open_services
from bot.config import load_settings
from bot.discord_endpoints import point_discord_at
from bot.jobs.acks import OpenAck
from bot.roles import Role, build_bot
from tests.conftest import DISCORD_TOKEN
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_payloads import snowflake


async def left_after_login(
    role: Role, fake: FakeDiscord, write_config: Callable[..., Path], *, by: str | None = None
) -> set[str]:
    """Two orphans (one a moment old, one a minute old) left by a killed process named ``by``
    (default: the same one as this ``role``'s); which are still open after a process of
    ``role`` logs in (login runs setup_hook)."""
    settings = load_settings(write_config(logging={"level": "INFO"}))
    now = fake.now()
    ages = {"young": 1.0, "old": 65.0}
    ids = {name: snowflake(now - age, n) for n, (name, age) in enumerate(ages.items())}
    restore = point_discord_at(fake.api_base_url, fake.gateway_url)
    me = role.instance(settings.discord)
    try:
        async with open_services(settings, instance=by or me) as earlier:
            expires = earlier.clock() + timedelta(minutes=10)
            for iid in ids.values():
                await earlier.store.acks.open(
                    OpenAck(iid, fake.application_id, f"token-{iid}", expires))
        async with open_services(settings, instance=me) as services:
            async with build_bot(services, role) as bot:
                await bot.login(DISCORD_TOKEN)
            rows = await services.store.db.fetchall("SELECT interaction_id FROM open_acks")
            left = {int(row["interaction_id"]) for row in rows}
    finally:
        restore()
    return {name for name, iid in ids.items() if iid in left}


async def test_a_gateway_retires_its_own_orphans_never_another_live_gateways(
    fake_discord: FakeDiscord, write_config: Callable[..., Path]
) -> None:
    assert await left_after_login(Role.GATEWAY, fake_discord, write_config) == set()
    assert await left_after_login(Role.GATEWAY, fake_discord, write_config,
                                  by="gateway-1-of-2") == {"young", "old"}


async def test_one_process_retires_every_orphan_and_a_worker_none(
    fake_discord: FakeDiscord, write_config: Callable[..., Path]
) -> None:
    assert await left_after_login(Role.ALL, fake_discord, write_config) == set()
    assert await left_after_login(Role.WORKER, fake_discord, write_config) == {"young", "old"}
