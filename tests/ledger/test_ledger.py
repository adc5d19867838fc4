"""bot.ledger.store on a real SQLite file: invariants, concurrency, validation, database guards."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import multiprocessing
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import LedgerConfig
from bot.db.database import ConstraintViolation, Database, UniqueViolation
from bot.db.postgres import PostgresDatabase
from bot.jobs.store import JobDeliveries
from bot.ledger.export import render_csv, render_json
from bot.ledger.store import Ledger
from bot.ledger.types import (
    AlreadyReserved,
    BalanceLimitExceeded,
    EntryKind,
    InsufficientCredits,
    InvalidAmount,
    InvalidArgument,
    NotReserved,
)
from tests.conftest_ledger import (
    GUILD,
    OTHER_GUILD,
    journal_count,
    journal_sum,
    raw_connect,
    reserve_in_process,
    stored_balance,
    try_reserve,
)
from tests.support.clock import FakeClock
from tests.support.postgres import PgServer, open_again

#: The jobs table's answer to which reserves are still held (the bot wires the same).
HELD = JobDeliveries()


@pytest.fixture
def ledger(db: Database, clock: FakeClock) -> Ledger:
    return Ledger(db, held_jobs=HELD, max_balance=1000, starting_credits=100, clock=clock)


async def assert_consistent(db: Database, ledger: Ledger, guild_id: int) -> int:
    balance = await ledger.balance(guild_id)
    assert balance >= 0
    assert balance == await journal_sum(db, guild_id)
    [last] = await ledger.history(guild_id, limit=1)
    assert last.balance_after == balance
    return balance


async def test_new_guild_starts_with_a_journaled_initial_grant(
    ledger: Ledger, db: Database, clock: FakeClock
) -> None:
    assert await stored_balance(db, GUILD) is None
    assert await ledger.balance(GUILD) == 100
    [entry] = await ledger.history(GUILD)
    assert (entry.kind, entry.delta, entry.balance_after, entry.actor) == (
        EntryKind.INITIAL,
        100,
        100,
        "system",
    )
    assert entry.created_at.tzinfo is not None and entry.created_at <= clock.now
    assert await ledger.balance(GUILD) == 100
    assert await journal_count(db, guild_id=GUILD) == 1


async def test_zero_starting_credits_still_journals_the_first_sighting(db: Database) -> None:
    config = LedgerConfig(starting_credits=0, max_balance=50)
    ledger = Ledger.from_config(db, config, held_jobs=HELD)
    assert await ledger.balance(GUILD) == 0
    assert [e.kind for e in await ledger.history(GUILD)] == [EntryKind.INITIAL]


async def test_grant_deduct_set_journal_their_deltas(ledger: Ledger, db: Database) -> None:
    granted = await ledger.grant(GUILD, 50, actor="operator", reason="top-up")
    assert (granted.delta, granted.balance_after, granted.reason) == (50, 150, "top-up")
    deducted = await ledger.deduct(GUILD, 30, actor="user:9", reason=None)
    assert (deducted.kind, deducted.delta, deducted.balance_after) == (EntryKind.DEDUCT, -30, 120)
    lowered = await ledger.set(GUILD, 0, actor="operator", reason="reset")
    assert (lowered.delta, lowered.balance_after) == (-120, 0)
    same = await ledger.set(GUILD, 0, actor="operator", reason="again")
    assert (same.kind, same.delta, same.balance_after) == (EntryKind.SET, 0, 0)
    assert await assert_consistent(db, ledger, GUILD) == 0


async def test_deduct_is_refused_not_clipped(ledger: Ledger, db: Database) -> None:
    with pytest.raises(InsufficientCredits) as caught:
        await ledger.deduct(GUILD, 101, actor="operator", reason=None)
    assert (caught.value.balance, caught.value.price) == (100, 101)
    assert str(caught.value) == "This needs 101 credits but the server only has 100."
    assert await assert_consistent(db, ledger, GUILD) == 100


async def test_max_balance_refuses_grant_and_set(ledger: Ledger, db: Database) -> None:
    await ledger.grant(GUILD, 900, actor="operator", reason=None)
    with pytest.raises(BalanceLimitExceeded) as caught:
        await ledger.grant(GUILD, 1, actor="operator", reason=None)
    assert (caught.value.balance, caught.value.requested, caught.value.max_balance) == (
        1000,
        1001,
        1000,
    )
    with pytest.raises(BalanceLimitExceeded):
        await ledger.set(GUILD, 1001, actor="operator", reason=None)
    assert await journal_count(db, guild_id=GUILD) == 2
    assert await assert_consistent(db, ledger, GUILD) == 1000


async def test_reserved_credits_count_against_max_balance_so_a_refund_stays_within_it(
    ledger: Ledger, db: Database
) -> None:
    await ledger.set(GUILD, 1000, actor="operator", reason=None)
    await ledger.reserve(GUILD, 12, job_id="job-1", actor="user:1")
    with pytest.raises(BalanceLimitExceeded) as caught:
        await ledger.grant(GUILD, 12, actor="operator", reason=None)
    assert caught.value.held == 12
    refund = await ledger.refund("job-1", actor="system", reason="job failed")
    assert refund is not None and refund.balance_after == 1000
    assert await assert_consistent(db, ledger, GUILD) == 1000


@pytest.mark.parametrize(
    "amount", [0, -1, -100, 1.0, 12.5, "5", True, False, Decimal("5"), None, 2**53]
)
async def test_bad_amounts_are_refused_and_nothing_is_journaled(
    ledger: Ledger, db: Database, amount: object
) -> None:
    await ledger.reserve(GUILD, 10, job_id="held", actor="user:1")
    before = await journal_count(db)
    calls = [
        ledger.grant(GUILD, amount, actor="operator", reason=None),  # type: ignore[arg-type]
        ledger.deduct(GUILD, amount, actor="operator", reason=None),  # type: ignore[arg-type]
        ledger.reserve(GUILD, amount, job_id="new", actor="user:1"),  # type: ignore[arg-type]
    ]
    if amount != 0:  # zero is a valid target for set
        calls.append(ledger.set(GUILD, amount, actor="operator", reason=None))  # type: ignore[arg-type]
    for call in calls:
        with pytest.raises(InvalidAmount, match=r"whole number of credits|must not exceed"):
            await call
    assert await journal_count(db) == before
    assert await assert_consistent(db, ledger, GUILD) == 90


async def test_invalid_amount_message_is_user_facing(ledger: Ledger) -> None:
    with pytest.raises(InvalidAmount) as caught:
        await ledger.grant(GUILD, 0, actor="operator", reason=None)
    assert str(caught.value) == "Amount must be a whole number of credits greater than zero."


@pytest.mark.parametrize(
    ("guild", "actor", "job"),
    [
        (0, "user:1", "j"),
        (True, "user:1", "j"),
        ("1", "user:1", "j"),
        (GUILD, " ", "j"),
        (GUILD, None, "j"),
        (GUILD, "user:1", ""),
        (GUILD, "user:1", 7),
        (GUILD, "x" * 501, "j"),
    ],
)
async def test_bad_arguments_are_refused(
    ledger: Ledger, db: Database, guild: object, actor: object, job: object
) -> None:
    with pytest.raises(InvalidArgument):
        await ledger.reserve(guild, 5, job_id=job, actor=actor)  # type: ignore[arg-type]
    assert await journal_count(db) == 0


async def test_refund_twice_refunds_once(ledger: Ledger, db: Database) -> None:
    await ledger.reserve(GUILD, 40, job_id="job-1", actor="user:1", reason="prompt")
    first = await ledger.refund("job-1", actor="system", reason="failed")
    assert first is not None and (first.delta, first.balance_after) == (40, 100)
    assert await ledger.refund("job-1", actor="system", reason="failed again") is None
    assert await journal_count(db, job_id="job-1", kind="refund") == 1
    assert await assert_consistent(db, ledger, GUILD) == 100


async def test_concurrent_refunds_of_one_job_refund_once(
    ledger: Ledger, db: Database
) -> None:
    await ledger.reserve(GUILD, 12, job_id="job-1", actor="user:1")
    results = await asyncio.gather(
        *(ledger.refund("job-1", actor="system", reason=None) for _ in range(20))
    )
    assert sum(r is not None for r in results) == 1

    await ledger.reserve(GUILD, 12, job_id="job-2", actor="user:1")
    others = [await open_again(db) for _ in range(3)]
    try:
        ledgers = [Ledger(o, held_jobs=HELD, max_balance=1000, starting_credits=100)
                   for o in others]
        results = await asyncio.gather(
            *(lg.refund("job-2", actor="system", reason=None) for lg in ledgers for _ in range(5))
        )
    finally:
        for other in others:
            await other.close()
    assert sum(r is not None for r in results) == 1
    assert await journal_count(db, kind="refund") == 2
    assert await assert_consistent(db, ledger, GUILD) == 100


async def test_refund_without_reserve_is_a_clear_error(ledger: Ledger, db: Database) -> None:
    with pytest.raises(NotReserved, match="No credits were reserved for job ghost"):
        await ledger.refund("ghost", actor="system", reason=None)
    assert await journal_count(db) == 0


async def test_one_reserve_per_job(ledger: Ledger, db: Database) -> None:
    await ledger.reserve(GUILD, 10, job_id="job-1", actor="user:1")
    with pytest.raises(AlreadyReserved):
        await ledger.reserve(GUILD, 10, job_id="job-1", actor="user:1")
    with pytest.raises(AlreadyReserved):  # even for another guild
        await ledger.reserve(OTHER_GUILD, 10, job_id="job-1", actor="user:1")
    await ledger.reserve(GUILD, 85, job_id="job-2", actor="user:1")
    with pytest.raises(AlreadyReserved):  # not "insufficient credits", though only 5 are left
        await ledger.reserve(GUILD, 10, job_id="job-1", actor="user:1")
    assert await assert_consistent(db, ledger, GUILD) == 5
    assert await assert_consistent(db, ledger, OTHER_GUILD) == 100


async def test_reserve_joins_the_callers_transaction(ledger: Ledger, db: Database) -> None:
    await ledger.balance(GUILD)
    with pytest.raises(RuntimeError, match="job insert failed"):
        async with db.transaction() as tx:
            await ledger.reserve(GUILD, 30, job_id="job-1", actor="user:1", tx=tx)
            raise RuntimeError("job insert failed")
    assert await journal_count(db, job_id="job-1") == 0

    async with db.transaction() as tx:
        await ledger.reserve(GUILD, 30, job_id="job-1", actor="user:1", tx=tx)
        await ledger.refund("job-1", actor="system", reason=None, tx=tx)
        await ledger.reserve(GUILD, 30, job_id="job-2", actor="user:1", tx=tx)
    assert await assert_consistent(db, ledger, GUILD) == 70


async def test_refused_reserve_inside_a_transaction_leaves_nothing_behind(
    ledger: Ledger, db: Database
) -> None:
    await ledger.reserve(GUILD, 10, job_id="job-1", actor="user:1")
    async with db.transaction() as tx:
        # The caller swallows the errors and commits: no partial write may survive.
        with pytest.raises(AlreadyReserved):
            await ledger.reserve(GUILD, 10, job_id="job-1", actor="user:1", tx=tx)
        with pytest.raises(InsufficientCredits):
            await ledger.reserve(OTHER_GUILD, 500, job_id="job-2", actor="user:1", tx=tx)
        assert await ledger.refund("job-1", actor="system", reason=None, tx=tx) is not None
        assert await ledger.refund("job-1", actor="system", reason=None, tx=tx) is None
    assert await assert_consistent(db, ledger, GUILD) == 100
    assert await journal_count(db, job_id="job-2") == 0


async def _reserve_storm(ledgers: list[Ledger], tries: int) -> int:
    results = await asyncio.gather(
        *(try_reserve(ledgers[i % len(ledgers)], GUILD, 12, f"job-{i}") for i in range(tries))
    )
    return sum(results)


async def test_thousand_concurrent_reserves_on_one_connection(db: Database) -> None:
    ledger = Ledger(db, held_jobs=HELD, max_balance=1000, starting_credits=100)
    assert await _reserve_storm([ledger], 1000) == 8
    assert await assert_consistent(db, ledger, GUILD) == 4
    assert await journal_count(db, kind="reserve") == 8


async def test_thousand_concurrent_reserves_across_connections(db: Database) -> None:
    dbs = [await open_again(db, busy_timeout_ms=30_000) for _ in range(4)]
    try:
        ledgers = [Ledger(d, held_jobs=HELD, max_balance=1000, starting_credits=100) for d in dbs]
        assert await _reserve_storm(ledgers, 1000) == 8
        assert await assert_consistent(dbs[0], ledgers[0], GUILD) == 4
    finally:
        for d in dbs:
            await d.close()


def test_thousand_concurrent_reserves_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"

    async def prepare() -> None:
        async with await Database.open(path) as db:
            await Ledger(db, held_jobs=HELD, max_balance=1000, starting_credits=0).grant(
                GUILD, 100, actor="operator", reason=None
            )

    asyncio.run(prepare())
    context = multiprocessing.get_context("spawn")
    workers = 4
    with context.Manager() as manager:
        barrier = manager.Barrier(workers)
        with context.Pool(workers) as pool:
            wins = pool.starmap(
                reserve_in_process,
                [(str(path), f"p{n}", 250, 12, barrier) for n in range(workers)],
            )
    assert sum(wins) == 8
    with raw_connect(path) as conn:
        balance = conn.execute("SELECT balance FROM guild_balances").fetchone()[0]
        total, reserves = conn.execute(
            "SELECT SUM(delta), SUM(kind = 'reserve') FROM ledger_journal"
        ).fetchone()
    assert (balance, total, reserves) == (4, 4, 8)


def test_thousand_concurrent_reserves_across_processes_on_postgresql(
    pg_server: PgServer,
) -> None:
    """1,000 reserves of 12 against 100 credits from 4 processes, each with its own pool: the
    one-statement conditional reserve lets exactly 8 through on PostgreSQL too."""
    url = asyncio.run(pg_server.create_database())

    async def prepare() -> None:
        async with await PostgresDatabase.connect(url) as db:
            await Ledger(db, held_jobs=HELD, max_balance=1000, starting_credits=0).grant(
                GUILD, 100, actor="operator", reason=None
            )

    async def books() -> tuple[int, int, int]:
        async with await PostgresDatabase.connect(url) as db:
            balance = await stored_balance(db, GUILD)
            assert balance is not None
            return (balance, await journal_sum(db, GUILD),
                    await journal_count(db, kind="reserve"))

    asyncio.run(prepare())
    context = multiprocessing.get_context("spawn")
    workers = 4
    with context.Manager() as manager:
        barrier = manager.Barrier(workers)
        with context.Pool(workers) as pool:
            wins = pool.starmap(
                reserve_in_process,
                [(url, f"p{n}", 250, 12, barrier) for n in range(workers)],
            )
    assert sum(wins) == 8
    assert asyncio.run(books()) == (4, 4, 8)
    asyncio.run(pg_server.drop_database(url))


async def test_history_pages_by_id_and_filters(ledger: Ledger) -> None:
    for n in range(1, 6):
        await ledger.grant(GUILD, n, actor="operator" if n % 2 else "user:7", reason=f"g{n}")
    await ledger.grant(OTHER_GUILD, 1, actor="operator", reason=None)
    first = await ledger.history(GUILD, limit=4)
    assert [e.reason for e in first] == ["g5", "g4", "g3", "g2"]
    rest = await ledger.history(GUILD, limit=4, before_id=first[-1].id)
    assert [e.kind for e in rest] == [EntryKind.GRANT, EntryKind.INITIAL]
    assert [e.reason for e in await ledger.history(GUILD, actor="user:7")] == ["g4", "g2"]
    assert len(await ledger.history(GUILD, kind="initial")) == 1
    with pytest.raises(InvalidArgument, match="Kind must be one of"):
        await ledger.history(GUILD, kind="bonus")
    with pytest.raises(InvalidArgument, match="Limit"):
        await ledger.history(GUILD, limit=0)


async def test_export_renders_csv_and_json(ledger: Ledger, clock: FakeClock) -> None:
    await ledger.reserve(GUILD, 12, job_id="job-1", actor="user:5", reason="a cat")
    await ledger.grant(GUILD, 3, actor="operator", reason='=HYPERLINK("x")')
    export = await ledger.export(GUILD)
    assert export.balance == 91 == sum(e.delta for e in export.entries)
    assert [e.kind for e in export.entries] == [
        EntryKind.INITIAL,
        EntryKind.RESERVE,
        EntryKind.GRANT,
    ]
    assert export.exported_at == clock.now

    rows = list(csv.DictReader(io.StringIO(render_csv(export))))
    assert [r["delta"] for r in rows] == ["100", "-12", "3"]
    assert rows[1]["job_id"] == "job-1" and rows[1]["guild_id"] == str(GUILD)
    assert rows[2]["reason"] == '\'=HYPERLINK("x")'  # not a live spreadsheet formula

    document = json.loads(render_json(export))
    assert document["guild_id"] == str(GUILD) and document["balance"] == 91
    assert [e["balance_after"] for e in document["entries"]] == [100, 88, 91]
    assert document["entries"][2]["reason"] == '=HYPERLINK("x")'


async def test_timestamps_come_from_the_injected_clock(db: Database) -> None:
    fixed = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    ledger = Ledger(db, held_jobs=HELD, max_balance=10, starting_credits=1, clock=lambda: fixed)
    entry = await ledger.grant(GUILD, 1, actor="operator", reason=None)
    assert entry.created_at == fixed
    naive = Ledger(db, held_jobs=HELD, max_balance=10, starting_credits=1,
                   clock=lambda: datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        await naive.grant(GUILD, 1, actor="operator", reason=None)


async def test_journal_is_append_only_in_the_database(
    ledger: Ledger, db: Database, backend: str
) -> None:
    await ledger.reserve(GUILD, 12, job_id="job-1", actor="user:1")
    for statement in (
        "UPDATE ledger_journal SET delta = 0",
        "DELETE FROM ledger_journal",
    ):
        with pytest.raises(ConstraintViolation, match="append-only"):
            async with db.transaction() as tx:
                await tx.execute(statement)
        if backend == "sqlite":
            with raw_connect(db.path) as conn, pytest.raises(sqlite3.IntegrityError):
                conn.execute(statement)
    assert await journal_count(db) == 2


async def test_database_guards_balance_and_refund_rows(ledger: Ledger, db: Database) -> None:
    await ledger.reserve(GUILD, 12, job_id="job-1", actor="user:1")
    bad_writes = [
        ("UPDATE guild_balances SET balance = -1", "(?i)check"),
        (
            "INSERT INTO ledger_journal (guild_id, kind, delta, balance_after, actor, job_id,"
            " created_at) VALUES (?, 'refund', 13, 101, 'x', 'job-1', 'now')",
            "does not match",
        ),
        (
            "INSERT INTO ledger_journal (guild_id, kind, delta, balance_after, actor, job_id,"
            " created_at) VALUES (?, 'grant', -5, 83, 'x', NULL, 'now')",
            "(?i)check",
        ),
    ]
    for sql, message in bad_writes:
        params = (GUILD,) if "?" in sql else ()
        with pytest.raises(ConstraintViolation, match=message):
            async with db.transaction() as tx:
                await tx.execute(sql, params)
    # A second refund of one job, written by hand, is refused by the database itself.
    refund = ("INSERT INTO ledger_journal (guild_id, kind, delta, balance_after, actor, job_id,"
              " created_at) VALUES (?, 'refund', 12, 100, 'x', 'job-1', 'now')")
    async with db.transaction() as tx:
        await tx.execute(refund, (GUILD,))
    with pytest.raises(UniqueViolation):
        async with db.transaction() as tx:
            await tx.execute(refund, (GUILD,))


async def test_balance_inside_a_transaction_reads_without_writing(
    db: Database, ledger: Ledger
) -> None:
    # Other stores ask for the balance inside their own write transaction; an unknown guild
    # reads as its starting credits and gets no row until its first change.
    async with db.transaction() as tx:
        assert await ledger.balance(GUILD, tx=tx) == 100
    assert await stored_balance(db, GUILD) is None
    await ledger.grant(GUILD, 5, actor="operator", reason=None)
    async with db.transaction() as tx:
        assert await ledger.balance(GUILD, tx=tx) == 105
