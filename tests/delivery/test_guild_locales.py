"""Each guild's language, recorded for processes without a gateway, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.db.database import Database
from bot.delivery.locales import GuildLocales
from tests.support.clock import FakeClock
from tests.support.postgres import both_backends

#: Snowflakes need more than 32 bits.
GUILD = 1_579_260_345_300_549_636


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_backends(metafunc)


async def updated_at(db: Database) -> str:
    row = await db.fetchone("SELECT updated_at FROM guild_locales WHERE guild_id = ?", (GUILD,))
    assert row is not None
    return str(row["updated_at"])


async def test_a_guild_language_is_recorded_and_follows_changes(
    db: Database, clock: FakeClock
) -> None:
    locales = GuildLocales(db, clock)
    assert await locales.get(GUILD) is None

    await locales.remember(GUILD, "de")
    first = await updated_at(db)
    clock.now += timedelta(minutes=5)
    await locales.remember(GUILD, "de")  # a reconnect's GUILD_CREATE: nothing changes
    assert (await locales.get(GUILD), await updated_at(db)) == ("de", first)

    await locales.remember(GUILD, "pt-BR")
    assert await locales.get(GUILD) == "pt-BR" and await updated_at(db) != first
    assert await locales.get(GUILD + 1) is None
