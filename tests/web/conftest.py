"""Helpers for the listener's tests; the bot itself comes from tests/conftest.py's ``start``
(which also fails a test whose log shows a secret)."""

from __future__ import annotations

import socket
from typing import Any

from tests.sora_harness import SoraHarness


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


async def snapshot(h: SoraHarness) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every job row and every journal row, column by column: what "nothing changed"
    compares."""
    db = h.services.store.db
    jobs = await db.fetchall("SELECT * FROM jobs ORDER BY id", ())
    journal = await db.fetchall("SELECT * FROM ledger_journal ORDER BY id", ())
    return jobs, journal
