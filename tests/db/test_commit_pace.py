"""Where COMMIT waits for its fsync: inline while the disk is fast, on the thread while slow."""

from __future__ import annotations

from pathlib import Path

from bot.db.commits import INLINE_BELOW, CommitPace
from bot.db.database import Database


def test_the_first_commit_goes_to_the_thread() -> None:
    assert not CommitPace().inline()


def test_fast_commits_run_inline_and_one_slow_one_sends_them_back() -> None:
    pace = CommitPace()
    for _ in range(5):
        pace.note(INLINE_BELOW / 4)
    assert pace.inline()
    pace.note(0.050)  # one 50 ms fsync: the loop must not pause like that again
    assert not pace.inline()
    steps = 0
    while not pace.inline():
        pace.note(INLINE_BELOW / 4)
        steps += 1
    assert 5 <= steps <= 20, steps


async def test_commits_are_timed_and_durable_either_way(tmp_path: Path) -> None:
    path = tmp_path / "pace.sqlite3"
    db = await Database.open(path)
    try:
        for i in range(20):
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO guild_balances (guild_id, balance, created_at, updated_at)"
                    " VALUES (?, 0, 'now', 'now')", (i,))
        assert db._pace.average is not None
    finally:
        await db.close()
    again = await Database.open(path)
    try:
        row = await again.fetchone("SELECT COUNT(*) AS n FROM guild_balances")
        assert row is not None and row["n"] == 20
    finally:
        await again.close()
