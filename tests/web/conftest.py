"""The real bot with its HTTP listener on, against both loopback fakes."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes.apiframe import FakeApiframe
from tests.fakes.discord import FakeDiscord
from tests.sora_harness import ConfigWriter, SoraHarness, Starter, harness_factory


def free_port() -> int:
    """A port nothing listens on right now (the listener binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def web_section(port: int, **overrides: Any) -> dict[str, Any]:
    """``[web]`` with webhooks sent to this listener; polling slowed to a crawl by default,
    so what a test sees was done by webhooks unless it says otherwise."""
    return {"enabled": True, "host": "127.0.0.1", "port": port,
            "public_url": f"http://127.0.0.1:{port}", "max_body_bytes": 4096,
            "webhook_poll_interval_seconds": 600, "webhook_quiet_seconds": 600, **overrides}


@pytest.fixture
async def start(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: ConfigWriter
) -> AsyncIterator[Starter]:
    async with harness_factory(fake_discord, fake_apiframe, write_config) as starter:
        yield starter


async def snapshot(h: SoraHarness) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every job row and every journal row: what "nothing changed" compares."""
    db = h.services.store.db
    jobs = await db.fetchall("SELECT * FROM jobs ORDER BY id", ())
    journal = await db.fetchall("SELECT * FROM ledger_journal ORDER BY id", ())
    return [tuple(r) for r in jobs], [tuple(r) for r in journal]
