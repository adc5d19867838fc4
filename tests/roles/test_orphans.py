"""Which process retires acknowledged requests a killed process never recorded.

With several gateway processes on one database, a young acknowledgement may be another live
process's request being recorded right now: a gateway starting takes only older ones for
orphans. The one-process bot owns every acknowledgement, so it retires them all; a worker
answers no interactions and retires none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bot.app import open_services
from bot.config import load_settings
from bot.discord_endpoints import point_discord_at
from bot.jobs.acks import OpenAck
from bot.roles import ORPHAN_MIN_AGE, Role, build_bot
from tests.conftest import DISCORD_TOKEN
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_payloads import snowflake


async def left_after_login(
    role: Role, fake: FakeDiscord, write_config: Callable[..., Path]
) -> set[str]:
    """Two orphans (one a moment old, one older than ORPHAN_MIN_AGE) left by a killed run;
    which are still open after a process of ``role`` logs in (login runs setup_hook)."""
    settings = load_settings(write_config(logging={"level": "INFO"}))
    now = fake.now()
    ages = {"young": 1.0, "old": ORPHAN_MIN_AGE.total_seconds() + 5}
    ids = {name: snowflake(now - age, n) for n, (name, age) in enumerate(ages.items())}
    restore = point_discord_at(fake.api_base_url, fake.gateway_url)
    try:
        async with open_services(settings) as services:
            expires = services.clock() + timedelta(minutes=10)
            for iid in ids.values():
                await services.store.acks.open(
                    OpenAck(iid, fake.application_id, f"token-{iid}", expires))
            async with build_bot(services, role) as bot:
                await bot.login(DISCORD_TOKEN)
            left = {ack.interaction_id for ack in await services.store.acks.orphans()}
    finally:
        restore()
    return {name for name, iid in ids.items() if iid in left}


async def test_a_gateway_retires_only_orphans_older_than_a_live_request(
    fake_discord: FakeDiscord, write_config: Callable[..., Path]
) -> None:
    assert await left_after_login(Role.GATEWAY, fake_discord, write_config) == {"young"}


async def test_one_process_retires_every_orphan_and_a_worker_none(
    fake_discord: FakeDiscord, write_config: Callable[..., Path]
) -> None:
    assert await left_after_login(Role.ALL, fake_discord, write_config) == set()
    assert await left_after_login(Role.WORKER, fake_discord, write_config) == {"young", "old"}
