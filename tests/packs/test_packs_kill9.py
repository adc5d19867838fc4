"""kill -9 between grant and consume: the real bot (``python -m bot run``) credits a purchase,
asks Discord to consume it, and is SIGKILLed while the fake holds that consume. After a
restart the purchase is consumed and still credited exactly once (SQLite)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from tests.fakes.discord import FakeDiscord
from tests.kill9_support import read_journal, start_connected
from tests.packs.conftest import packs_toml

MEMBER = 2_000_000_000_000_000_001
CREDITS = 500
CONSUME = "/applications/{application_id}/entitlements/{entitlement_id}/consume"


def entitlement_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with closing(sqlite3.connect(path, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute("SELECT * FROM entitlements ORDER BY id")]
        except sqlite3.OperationalError:  # not migrated yet
            return []


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def consume_requests(fake: FakeDiscord) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/consume")]


@pytest.mark.sqlite_only
async def test_a_kill_between_grant_and_consume_neither_loses_nor_doubles(
    fake_discord: FakeDiscord, write_config: Callable[..., Path],
) -> None:
    fake = fake_discord
    guild = fake.add_guild("Kill Packs")
    sku = fake.skus.add_sku("Big pack")
    config = write_config(logging={"level": "INFO"})
    with config.open("a", encoding="utf-8") as out:
        out.write(packs_toml({sku: CREDITS}))
    db_path = load_settings(config).database.path
    # Discord takes the first consume and does not answer while the bot is alive.
    fake.inject_delay("POST", CONSUME, 600)

    bot = await start_connected(config, fake)
    try:
        bought = await fake.skus.buy(sku, MEMBER, guild.id)
        await until(lambda: consume_requests(fake) != [], "the consume to be in flight")
        # The credit was committed before the consume was sent.
        (row,) = entitlement_rows(db_path)
        assert (row["id"], row["state"], row["guild_id"]) == (bought.id, "granted", guild.id)
    finally:
        bot.proc.send_signal(signal.SIGKILL)
        await bot.wait()
    assert fake.skus.consumed == []  # Discord never applied it

    bot = await start_connected(config, fake)
    try:
        await until(lambda: fake.skus.consumed == [bought.id], "the consume after the restart")
        await until(lambda: entitlement_rows(db_path)[0]["state"] == "consumed",
                    "the consume to be recorded")
        # Discord replays the purchase event (an old copy), as after a reconnect.
        await fake.skus.announce("ENTITLEMENT_CREATE", bought, consumed=False)
        await asyncio.sleep(0.5)
        bot.proc.send_signal(signal.SIGTERM)
        assert await bot.wait() == 0
    finally:
        if bot.proc.returncode is None:
            bot.proc.kill()
            await bot.wait()

    journal = await read_journal(db_path)
    assert [(e["kind"], e["delta"]) for e in journal if e["guild_id"] == guild.id] == [
        ("initial", 0), ("pack", CREDITS)]
    with closing(sqlite3.connect(db_path)) as conn:
        (balance,) = conn.execute("SELECT balance FROM guild_balances WHERE guild_id = ?",
                                  (guild.id,)).fetchone()
    assert balance == CREDITS == sum(e["delta"] for e in journal if e["guild_id"] == guild.id)
    assert [r["state"] for r in entitlement_rows(db_path)] == ["consumed"]
    assert fake.skus.consumed == [bought.id]
