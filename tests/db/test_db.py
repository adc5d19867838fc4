"""bot.db.database against real SQLite files: pragmas, migrations, transactions, locking,
closing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.db.database import (
    ConstraintViolation,
    Database,
    DatabaseBusy,
    DatabaseClosed,
    DatabaseError,
    Migration,
    MigrationError,
    SchemaTooNew,
    UniqueViolation,
    load_migrations,
    split_statements,
)
from tests.conftest_ledger import raw_connect

COUNTER = Migration(
    1,
    "0001_counter.sql",
    "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0));\n"
    "INSERT INTO counter (id, n) VALUES (1, 0);\n",
)


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


def user_version(path: Path) -> int:
    with raw_connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def tables(path: Path) -> set[str]:
    with raw_connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


async def test_fresh_database_gets_latest_schema_in_a_new_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.sqlite3"
    db = await Database.open(path)
    try:
        newest = len(load_migrations())
        assert newest >= 1
        assert db.schema_version == newest
        row = await db.fetchone("PRAGMA user_version")
        assert row == {"user_version": newest}
        assert {"guild_balances", "ledger_journal"} <= {
            r["name"] for r in await db.fetchall("SELECT name FROM sqlite_schema")
        }
    finally:
        await db.close()
    assert user_version(path) == newest


async def test_wal_foreign_keys_and_busy_timeout_are_on(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "db.sqlite3", busy_timeout_ms=1234) as db:
        assert await db.fetchone("PRAGMA journal_mode") == {"journal_mode": "wal"}
        assert await db.fetchone("PRAGMA foreign_keys") == {"foreign_keys": 1}
        # Read on the writing connection (the read connection never waits: timeout 0).
        (row,) = await db.scan("PRAGMA busy_timeout")
        assert next(iter(row.values())) == 1234


async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "db.sqlite3") as db:
        with pytest.raises(ConstraintViolation, match="FOREIGN KEY"):
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO ledger_journal (guild_id, kind, delta, balance_after, actor,"
                    " created_at) VALUES (42, 'grant', 1, 1, 'operator', 'now')"
                )


async def test_reopen_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    # Re-running this migration would fail (table exists) and reset the counter.
    async with await Database.open(path, migrations=[COUNTER]) as db, db.transaction() as tx:
        await tx.execute("UPDATE counter SET n = 7")
    async with await Database.open(path, migrations=[COUNTER]) as db:
        assert db.schema_version == 1
        assert await db.fetchone("SELECT n FROM counter") == {"n": 7}
    assert user_version(path) == 1


async def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with raw_connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaTooNew, match=r"schema version 99 is newer.*newest known: 1"):
        await Database.open(path, migrations=[COUNTER])
    assert user_version(path) == 99
    assert tables(path) == set()


async def test_failing_migration_rolls_back_everything(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    source = write_migrations(
        tmp_path / "migrations",
        {
            "0001_first.sql": "CREATE TABLE first (id INTEGER PRIMARY KEY);",
            "0002_second.sql": (
                "CREATE TABLE second (id INTEGER PRIMARY KEY);\n"
                "INSERT INTO first (id) VALUES (1);\n"
                "INSERT INTO no_such_table VALUES (1);\n"
            ),
        },
    )
    with pytest.raises(MigrationError, match=r"0002_second\.sql failed: no such table"):
        await Database.open(path, migrations=load_migrations(source))
    assert user_version(path) == 0
    assert tables(path) == set()


async def test_pending_migrations_apply_together_on_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = {"0001_first.sql": "CREATE TABLE first (id INTEGER PRIMARY KEY);"}
    source = write_migrations(tmp_path / "m", first)
    async with await Database.open(path, migrations=load_migrations(source)):
        pass
    write_migrations(
        source,
        {
            "0002_second.sql": "CREATE TABLE second (id INTEGER PRIMARY KEY);",
            "0003_third.sql": "CREATE TABLE third (id INTEGER PRIMARY KEY);\nSELECT broken(;\n",
        },
    )
    with pytest.raises(MigrationError, match="0003_third"):
        await Database.open(path, migrations=load_migrations(source))
    assert (user_version(path), tables(path)) == (1, {"first"})

    (source / "0003_third.sql").write_text("CREATE TABLE third (id INTEGER PRIMARY KEY);")
    async with await Database.open(path, migrations=load_migrations(source)) as db:
        assert db.schema_version == 3
    assert tables(path) == {"first", "second", "third"}


async def test_migration_that_commits_is_refused(tmp_path: Path) -> None:
    bad = Migration(1, "0001_bad.sql", "CREATE TABLE t (x INTEGER);\nCOMMIT;\n")
    with pytest.raises(MigrationError, match="must not contain BEGIN, COMMIT"):
        await Database.open(tmp_path / "db.sqlite3", migrations=[bad])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"0001_a.sql": "", "0003_c.sql": ""}, "out of sequence"),
        ({"0001_a.sql": "", "0001_b.sql": ""}, "out of sequence"),
        ({"1_a.sql": ""}, "not named like"),
        ({"0001_Bad-Name.sql": ""}, "not named like"),
    ],
)
def test_migration_source_is_validated(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        load_migrations(write_migrations(tmp_path / "m", files))


def test_packaged_migrations_are_read_in_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "0001_ledger.sql"


def test_split_statements_keeps_trigger_bodies_and_string_semicolons_whole() -> None:
    script = (
        "-- header comment\n"
        "CREATE TABLE t (x TEXT);\n"
        "INSERT INTO t VALUES ('a;b');\n"
        "CREATE TRIGGER tr BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no;'); END;\n"
        "-- trailing comment\n"
    )
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].endswith("VALUES ('a;b');")
    assert statements[2].startswith("CREATE TRIGGER") and statements[2].endswith("END;")
    with pytest.raises(MigrationError, match="incomplete statement"):
        split_statements("CREATE TABLE t (x TEXT)")


async def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "db.sqlite3", migrations=[COUNTER]) as db:
        async with db.transaction() as tx:
            assert await tx.execute("UPDATE counter SET n = n + 5") == 1
        with pytest.raises(RuntimeError, match="boom"):
            async with db.transaction() as tx:
                await tx.execute("UPDATE counter SET n = n + 100")
                raise RuntimeError("boom")
        assert await db.fetchone("SELECT n FROM counter") == {"n": 5}
        with pytest.raises(DatabaseClosed):
            await tx.execute("UPDATE counter SET n = 0")


async def test_savepoint_undoes_only_its_own_writes(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "db.sqlite3", migrations=[COUNTER]) as db:
        async with db.transaction() as tx:
            await tx.execute("UPDATE counter SET n = 1")
            with pytest.raises(ConstraintViolation, match="CHECK"):
                async with tx.savepoint():
                    await tx.execute("UPDATE counter SET n = 50")
                    await tx.execute("UPDATE counter SET n = -1")
            assert await tx.fetchone("SELECT n FROM counter") == {"n": 1}
            async with tx.savepoint():
                await tx.execute("UPDATE counter SET n = n + 1")
        assert await db.fetchone("SELECT n FROM counter") == {"n": 2}


async def test_nested_transaction_in_one_task_fails_fast_instead_of_deadlocking(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite3"
    async with await Database.open(path, migrations=[COUNTER]) as db, db.transaction():
        with pytest.raises(RuntimeError, match="already inside a transaction"):
            db.transaction()
        with pytest.raises(RuntimeError, match="already inside a transaction"):
            await db.fetchone("SELECT 1")


async def test_concurrent_transactions_never_interleave(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "db.sqlite3", migrations=[COUNTER]) as db:

        async def increment() -> None:
            async with db.transaction() as tx:
                row = await tx.fetchone("SELECT n FROM counter")
                assert row is not None
                await asyncio.sleep(0)  # give every other task the chance to barge in
                await tx.execute("UPDATE counter SET n = ?", (row["n"] + 1,))

        await asyncio.gather(*(increment() for _ in range(50)))
        assert await db.fetchone("SELECT n FROM counter") == {"n": 50}


async def test_errors_are_translated(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "db.sqlite3", migrations=[COUNTER]) as db:
        with pytest.raises(UniqueViolation):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
        with pytest.raises(ConstraintViolation) as caught:
            async with db.transaction() as tx:
                await tx.execute("UPDATE counter SET n = -1")
        assert not isinstance(caught.value, UniqueViolation)


async def test_second_connection_waits_for_busy_timeout_then_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with (
        await Database.open(path, migrations=[COUNTER]) as holder,
        await Database.open(path, busy_timeout_ms=50, migrations=[COUNTER]) as other,
    ):
        async with holder.transaction() as tx:
            await tx.execute("UPDATE counter SET n = 1")
            with pytest.raises(DatabaseBusy):
                async with other.transaction():
                    pass
        async with other.transaction() as tx2:
            await tx2.execute("UPDATE counter SET n = n + 1")
        assert await holder.fetchone("SELECT n FROM counter") == {"n": 2}


async def test_clean_close_leaves_no_wal_and_refuses_further_use(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path, migrations=[COUNTER])
    async with db.transaction() as tx:
        await tx.execute("UPDATE counter SET n = 3")
    assert Path(f"{path}-wal").exists()
    await db.close()
    await db.close()
    assert db.closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite3"]
    with pytest.raises(DatabaseClosed):
        await db.fetchone("SELECT 1")
    with pytest.raises(DatabaseClosed):
        async with db.transaction():
            pass
    with raw_connect(path) as conn:
        assert conn.execute("SELECT n FROM counter").fetchone() == (3,)


async def test_close_waits_for_the_running_transaction(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path, migrations=[COUNTER])
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with db.transaction() as tx:
            await tx.execute("UPDATE counter SET n = 9")
            entered.set()
            await release.wait()

    writer = asyncio.create_task(slow_writer())
    await entered.wait()
    closer = asyncio.create_task(db.close())
    await asyncio.sleep(0)
    assert not closer.done()
    release.set()
    await asyncio.gather(writer, closer)
    with raw_connect(path) as conn:
        assert conn.execute("SELECT n FROM counter").fetchone() == (9,)


async def test_busy_timeout_must_be_a_non_negative_int(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="busy_timeout_ms"):
        await Database.open(tmp_path / "db.sqlite3", busy_timeout_ms=-1)
    assert not (tmp_path / "db.sqlite3").exists()


async def test_a_transaction_cancelled_while_waiting_to_begin_leaves_none_open(
    tmp_path: Path,
) -> None:
    """A task cancelled while BEGIN IMMEDIATE waits for the write lock (a shutdown, a
    timeout) must not leave that transaction open on the shared connection: aiosqlite's
    thread still runs the BEGIN after the await is gone, and every later transaction of the
    process would then fail."""
    path = tmp_path / "t.sqlite3"
    async with await Database.open(path, busy_timeout_ms=10_000) as db:
        other = raw_connect(path)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        began = asyncio.Event()

        async def writer() -> None:
            began.set()
            async with db.transaction() as tx:
                await tx.execute("SELECT 1")

        task = asyncio.create_task(writer())
        await began.wait()
        await asyncio.sleep(0.2)  # let the BEGIN reach SQLite's busy wait
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        other.rollback()  # the lock is free: the abandoned BEGIN now succeeds on its thread
        other.close()
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE after_cancel (x INTEGER)")
        assert "after_cancel" in tables(path)


async def test_waiting_for_another_process_lock_keeps_the_loop_free_and_the_timeout(
    tmp_path: Path,
) -> None:
    """BEGIN is first tried right on the event loop without waiting; when another process
    holds the write lock, the wait happens on aiosqlite's thread (the loop keeps running) and
    the operator's busy timeout is back in force afterwards."""
    path = tmp_path / "db.sqlite3"
    async with await Database.open(path, busy_timeout_ms=10_000, migrations=[COUNTER]) as db:
        other = raw_connect(path)
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        async def writer() -> None:
            async with db.transaction() as tx:
                await tx.execute("UPDATE counter SET n = 5")

        clock = asyncio.create_task(ticker())
        write = asyncio.create_task(writer())
        await asyncio.sleep(0.3)
        assert not write.done()
        assert ticks >= 10  # the loop was not blocked by the wait
        other.rollback()
        other.close()
        await asyncio.wait_for(write, 5)
        clock.cancel()
        assert await db.fetchone("SELECT n FROM counter") == {"n": 5}
        (row,) = await db.scan("PRAGMA busy_timeout")
        assert next(iter(row.values())) == 10_000


async def test_reads_see_what_is_committed_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """One-row and short reads go through the read connection: a coroutine's open
    transaction neither holds them up nor shows them its uncommitted writes."""
    async with await Database.open(tmp_path / "db.sqlite3", migrations=[COUNTER]) as db:
        inside, release = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with db.transaction() as tx:
                await tx.execute("UPDATE counter SET n = 7")
                inside.set()
                await release.wait()

        task = asyncio.create_task(writer())
        await inside.wait()
        # The write transaction is open (and holds the lock) while these run.
        assert await asyncio.wait_for(db.fetchone("SELECT n FROM counter"), 1) == {"n": 0}
        assert await asyncio.wait_for(db.fetchall("SELECT n FROM counter"), 1) == [{"n": 0}]
        release.set()
        await task
        assert await db.fetchone("SELECT n FROM counter") == {"n": 7}
        assert await db.scan("SELECT n FROM counter") == [{"n": 7}]


async def test_the_read_connection_refuses_writes(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "db.sqlite3", migrations=[COUNTER]) as db:
        with pytest.raises(DatabaseError):
            await db.fetchone("UPDATE counter SET n = 1 RETURNING n")
        assert await db.fetchone("SELECT n FROM counter") == {"n": 0}
