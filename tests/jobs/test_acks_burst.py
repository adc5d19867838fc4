"""A burst of acknowledgements is written as a group commit (bot/jobs/acks.py): every call
returns only once its own row is committed, and the burst costs a few transactions, not one
each (each would wait its turn for the write lock while Discord's 3 s run)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.db.database import Database, DatabaseClosed
from bot.jobs.acks import AckStore, OpenAck
from tests.conftest_ledger import raw_connect
from tests.support.clock import FakeClock

APP = 9_000_000_000_000_000_001


def ack(interaction_id: int, clock: FakeClock) -> OpenAck:
    return OpenAck(interaction_id, APP, f"token-{interaction_id}",
                   clock() + timedelta(minutes=15))


async def test_a_burst_is_committed_in_a_few_transactions_and_each_call_waits_for_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.sqlite3"
    clock = FakeClock()
    async with await Database.open(path) as db:
        acks = AckStore(db, clock)
        commits: list[str] = []
        # White-box on purpose: what is under test is how many COMMITs the burst costs.
        db._conn._conn.set_trace_callback(  # type: ignore[union-attr]
            lambda sql: commits.append(sql) if sql == "COMMIT" else None)

        async def open_and_check(iid: int) -> bool:
            await acks.open(ack(iid, clock))
            # Committed when the call returns: another connection already sees the row.
            with raw_connect(path) as other:
                return other.execute("SELECT 1 FROM open_acks WHERE interaction_id = ?",
                                     (iid,)).fetchone() is not None

        seen = await asyncio.gather(*(open_and_check(1000 + i) for i in range(60)))
        assert all(seen)
        assert {o.interaction_id for o in await acks.orphans()} == {1000 + i for i in range(60)}
        assert 1 <= len(commits) <= 3, commits


async def test_every_caller_of_a_failed_write_is_told(tmp_path: Path) -> None:
    clock = FakeClock()
    db = await Database.open(tmp_path / "bot.sqlite3")
    acks = AckStore(db, clock)
    await db.close()
    results = await asyncio.gather(*(acks.open(ack(2000 + i, clock)) for i in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, DatabaseClosed) for r in results), results
    with pytest.raises(DatabaseClosed):
        await acks.open(ack(3000, clock))
