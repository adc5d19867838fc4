"""The reserve's statement path: a known guild is charged by its one conditional UPDATE; a guild
seen for the first time gets its starting credits written first, in the same transaction, and
a refused first reserve leaves no trace of the guild."""

from __future__ import annotations

import pytest

from bot.db.database import Database
from bot.ledger.store import Ledger
from bot.ledger.types import InsufficientCredits
from tests.conftest_ledger import GUILD, HELD, OTHER_GUILD, journal_sum, stored_balance
from tests.support.clock import FakeClock


@pytest.fixture
def ledger(db: Database, clock: FakeClock) -> Ledger:
    return Ledger(db, held_jobs=HELD, max_balance=1000, starting_credits=100, clock=clock)


async def kinds(db: Database, guild: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT kind FROM ledger_journal WHERE guild_id = ? ORDER BY id", (guild,))
    return [str(row["kind"]) for row in rows]


async def test_first_reserve_of_a_new_guild_writes_its_starting_credits_then_charges(
    ledger: Ledger, db: Database
) -> None:
    entry = await ledger.reserve(GUILD, 30, job_id="job-1", actor="user:1")
    assert entry.balance_after == 70
    assert await kinds(db, GUILD) == ["initial", "reserve"]
    assert await stored_balance(db, GUILD) == 70 == await journal_sum(db, GUILD)


async def test_reserve_of_a_known_guild_adds_only_its_own_entry(
    ledger: Ledger, db: Database
) -> None:
    await ledger.reserve(GUILD, 30, job_id="job-1", actor="user:1")
    entry = await ledger.reserve(GUILD, 20, job_id="job-2", actor="user:1")
    assert entry.balance_after == 50
    assert await kinds(db, GUILD) == ["initial", "reserve", "reserve"]
    assert await stored_balance(db, GUILD) == 50 == await journal_sum(db, GUILD)


async def test_a_refused_first_reserve_leaves_the_guild_unknown(
    ledger: Ledger, db: Database
) -> None:
    with pytest.raises(InsufficientCredits) as refused:
        await ledger.reserve(OTHER_GUILD, 101, job_id="job-1", actor="user:1")
    assert refused.value.balance == 100  # the starting credits it would have had
    assert not await ledger.known(OTHER_GUILD)
    assert await kinds(db, OTHER_GUILD) == []


async def test_a_refused_reserve_inside_a_transaction_undoes_the_new_guild_only(
    ledger: Ledger, db: Database
) -> None:
    async with db.transaction() as tx:
        await ledger.grant(GUILD, 5, actor="mod", reason=None, tx=tx)
        with pytest.raises(InsufficientCredits):
            await ledger.reserve(OTHER_GUILD, 101, job_id="job-1", actor="user:1", tx=tx)
    assert await kinds(db, GUILD) == ["initial", "grant"]
    assert await kinds(db, OTHER_GUILD) == []
