"""Every test here that opens the ``db`` fixture runs on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db.database import Database
from bot.db.postgres import PostgresDatabase
from tests.support.postgres import both_backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_backends(metafunc)


@pytest.fixture
async def other_db(tmp_path: Path, db: Database) -> AsyncIterator[Database]:
    """A second connection to the ``db`` fixture's database, as another process opens it."""
    if isinstance(db, PostgresDatabase):
        other: Database = await db.connect_again()
    else:
        other = await Database.open(db.path)
    try:
        yield other
    finally:
        await other.close()
