"""The PostgreSQL backend on a real server: the same surface and schema as SQLite, its
migrations, its errors and the one-line messages an operator sees."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import asyncpg
import pytest

from bot.config import ConfigError, parse_settings
from bot.db.database import Database, Transaction, load_migrations
from bot.db.errors import (
    ConstraintViolation,
    DatabaseBusy,
    DatabaseError,
    SchemaTooNew,
    UniqueViolation,
)
from bot.db.pg_migrate import inspect_postgres, load_pg_migrations
from bot.db.pg_text import parse_url, placeholders
from bot.db.postgres import PostgresDatabase, PostgresTransaction
from bot.web.ops import write_probe
from tests.support.postgres import PASSWORD, PgServer, open_again

#: Both backends end at the newest migration (SQLite's numbering).
LATEST = len(load_migrations())


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") or name in {"__aenter__"}}


@pytest.mark.parametrize(("sqlite", "postgres"), [
    (Database, PostgresDatabase), (Transaction, PostgresTransaction)])
def test_every_public_member_is_postgresql_s_own(sqlite: type, postgres: type) -> None:
    # A subclass for the type only: nothing SQLite-specific may be inherited by accident.
    inherited = {name for name in _public(sqlite) if name not in vars(postgres)}
    assert inherited <= {"open", "__aexit__"}, inherited
    for name in _public(sqlite) - inherited:
        mine, theirs = getattr(postgres, name), getattr(sqlite, name)
        if callable(mine) and not isinstance(mine, type):
            assert (list(inspect.signature(mine).parameters)
                    == list(inspect.signature(theirs).parameters)), name


def test_placeholders_are_numbered_outside_literals_and_comments() -> None:
    assert placeholders(
        "SELECT ?, 'a?''?', \"q?\" -- ?\nFROM t /* ? */ WHERE x LIKE ? ESCAPE '\\' AND y = ?"
    ) == "SELECT $1, 'a?''?', \"q?\" -- ?\nFROM t /* ? */ WHERE x LIKE $2 ESCAPE '\\' AND y = $3"


async def test_rows_rowcounts_and_sums_read_as_on_sqlite(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO guild_balances (guild_id, balance, created_at, updated_at)"
            " VALUES (?, ?, 'a', 'a'), (?, ?, 'a', 'a')", (1, 2**40, 2, 5))
        assert await tx.execute("UPDATE guild_balances SET updated_at = ?", ("b",)) == 2
        row = await tx.fetchone("SELECT SUM(balance) AS total, COUNT(*) AS n"
                                " FROM guild_balances")
    assert row == {"total": 2**40 + 5, "n": 2}
    assert type(row["total"]) is int
    assert await db.fetchall("SELECT guild_id FROM guild_balances WHERE updated_at = ?"
                             " ORDER BY guild_id", ("b",)) == [{"guild_id": 1}, {"guild_id": 2}]


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_errors_map_onto_the_backend_neutral_hierarchy(db: Database, backend: str) -> None:
    insert = ("INSERT INTO guild_balances (guild_id, balance, created_at, updated_at)"
              " VALUES (?, ?, 'a', 'a')")
    async with db.transaction() as tx:
        await tx.execute(insert, (1, 5))
    with pytest.raises(UniqueViolation) as unique:
        async with db.transaction() as tx:
            await tx.execute(insert, (1, 5))
    with pytest.raises(ConstraintViolation) as check:
        async with db.transaction() as tx:
            await tx.execute(insert, (2, -987654))
    # The failing row's values (PostgreSQL's DETAIL line) never reach a message.
    assert "987654" not in str(check.value) and "\n" not in str(unique.value)
    with pytest.raises(DatabaseError, match="syntax"):
        await db.fetchone("SELEC 1")
    # A refused statement ended its transaction; nothing of it was committed.
    assert await db.fetchall("SELECT guild_id FROM guild_balances") == [{"guild_id": 1}]


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_savepoint_undoes_only_its_own_writes(db: Database, backend: str) -> None:
    insert = ("INSERT INTO guild_balances (guild_id, balance, created_at, updated_at)"
              " VALUES (?, 1, 'a', 'a')")
    async with db.transaction() as tx:
        await tx.execute(insert, (1,))
        with pytest.raises(UniqueViolation):
            async with tx.savepoint():
                await tx.execute(insert, (2,))
                await tx.execute(insert, (1,))
        await tx.execute(insert, (3,))
    rows = await db.fetchall("SELECT guild_id FROM guild_balances ORDER BY guild_id")
    assert rows == [{"guild_id": 1}, {"guild_id": 3}]


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_write_transactions_exclude_each_other_across_pools(
    db: Database, backend: str
) -> None:
    """BEGIN IMMEDIATE's guarantee: a second writer waits, then gives up after its
    busy_timeout with DatabaseBusy; plain reads never wait."""
    assert isinstance(db, PostgresDatabase)
    other = await db.connect_again(busy_timeout_ms=200)
    try:
        async with db.transaction():
            with pytest.raises(DatabaseBusy):
                async with other.transaction():
                    pass
            assert await other.fetchone("SELECT 1 AS one") == {"one": 1}
        async with other.transaction() as tx:  # free again once the first one ended
            assert await tx.fetchone("SELECT 1 AS one") == {"one": 1}
    finally:
        await other.close()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_reads_inside_ones_own_transaction_are_refused(db: Database, backend: str) -> None:
    async with db.transaction():
        with pytest.raises(RuntimeError, match="already inside a transaction"):
            await db.fetchone("SELECT 1")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_skip_locked_is_offered(db: Database, backend: str) -> None:
    assert db.skip_locked == " FOR UPDATE SKIP LOCKED"
    assert db.dialect.name == "postgresql"


def test_sqlite_offers_no_row_locks() -> None:
    assert Database.dialect.skip_locked == ""


async def _columns_sqlite(path: Path) -> dict[str, list[str]]:
    async with await Database.open(path) as db:
        tables = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'"
                                   " AND name NOT LIKE 'sqlite_%'")
        return {str(t["name"]): [str(c["name"]) for c in await db.fetchall(
            "SELECT name FROM pragma_table_info(?)", (t["name"],))] for t in tables}


async def test_the_schema_is_sqlite_s(pg_server: PgServer, tmp_path: Path) -> None:
    url = await pg_server.create_database()
    async with await PostgresDatabase.connect(url) as db:
        rows = await db.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name != 'schema_version'"
            " ORDER BY table_name, ordinal_position")
        indexes = {str(r["indexname"]) for r in await db.fetchall(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        versions = await db.fetchall("SELECT version, name FROM schema_version ORDER BY 1")
        assert db.schema_version == LATEST
    postgres: dict[str, list[str]] = {}
    for row in rows:
        postgres.setdefault(str(row["table_name"]), []).append(str(row["column_name"]))
    assert postgres == await _columns_sqlite(tmp_path / "s.sqlite3")
    async with await Database.open(tmp_path / "s.sqlite3") as sqlite:
        named = {str(r["name"]) for r in await sqlite.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert named <= indexes
    # The baseline stands for SQLite's 0001-0012; from there each SQLite migration has its twin.
    later = [m for m in load_migrations() if m.version > 12]
    assert versions == [{"version": 12, "name": "0012_baseline.sql"},
                        *({"version": m.version, "name": m.name} for m in later)]
    assert [m.version for m in load_pg_migrations()] == [12, *(m.version for m in later)]


async def test_migrations_run_once_even_from_two_processes_at_once(
    pg_server: PgServer,
) -> None:
    url = await pg_server.create_database()
    dbs = await asyncio.gather(*(PostgresDatabase.connect(url) for _ in range(3)))
    for db in dbs:
        await db.close()
    async with await PostgresDatabase.connect(url) as again:
        assert again.schema_version == LATEST
        assert await again.fetchone("SELECT COUNT(*) AS n FROM schema_version") == {
            "n": 1 + LATEST - 12}  # the baseline, then one row per later migration
    assert f"schema version {LATEST}" in await inspect_postgres(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO schema_version VALUES (99, '0099_x.sql', 'now')")
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew, match=r"^postgresql://postgres@.* 99 is newer"):
        await PostgresDatabase.connect(url)


def _one_line_without_password(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and PASSWORD not in text and "hunter2" not in text
    return text


async def test_connection_failures_are_one_line_naming_what_to_fix(pg_server: PgServer) -> None:
    port = pg_server.port
    with pytest.raises(DatabaseError) as refused:
        await PostgresDatabase.connect("postgresql://sora:hunter2@127.0.0.1:1/sora")
    assert _one_line_without_password(refused.value).startswith(
        "PostgreSQL at 127.0.0.1:1 is unreachable")
    with pytest.raises(DatabaseError) as wrong:
        await PostgresDatabase.connect(f"postgresql://postgres:hunter2@127.0.0.1:{port}/x")
    assert "wrong password" in _one_line_without_password(wrong.value)
    with pytest.raises(DatabaseError) as missing:
        await PostgresDatabase.connect(pg_server.url("no_such_db"))
    assert "createdb no_such_db" in _one_line_without_password(missing.value)
    with pytest.raises(DatabaseError) as unknown_host:
        await inspect_postgres("postgresql://sora:hunter2@no-such-host.invalid/sora")
    assert "unknown host" in _one_line_without_password(unknown_host.value)


@pytest.mark.parametrize("url", [
    "mysql://sora:hunter2@db/sora", "postgresql://sora:hunter2@db", "postgresql://sora:hunter2@db:x/s"])
def test_a_bad_url_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(ValueError) as bad:
        parse_url(url)
    assert "database.url" in _one_line_without_password(bad.value)
    with pytest.raises(ConfigError) as config:
        parse_settings({"discord": {"token": "t"}, "apiframe": {"api_key": "afk_test"},
                        "database": {"url": url}}, env={})
    assert _one_line_without_password(config.value).startswith("database")


def test_the_config_takes_either_path_or_url() -> None:
    base = {"discord": {"token": "t"}, "apiframe": {"api_key": "afk_test"}}
    url = "postgresql://sora:hunter2@db.example:5433/sora"
    settings = parse_settings({**base, "database": {"url": url}}, env={})
    assert settings.database.where == "postgresql://sora@db.example:5433/sora"
    assert "hunter2" not in repr(settings.database)
    from_env = parse_settings(base, env={"SORA_BOT_DATABASE_URL": url})
    assert from_env.database.url is not None
    with pytest.raises(ConfigError) as both:
        parse_settings({**base, "database": {"url": url, "path": "x.sqlite3"}}, env={})
    assert "either path (SQLite) or url (PostgreSQL)" in _one_line_without_password(both.value)


async def test_the_health_probe_commits_a_write_that_changes_nothing(db: Database) -> None:
    # Dialect-dependent (PRAGMA on SQLite, schema_version on PostgreSQL).
    await write_probe(db)
    again = await open_again(db)
    try:
        assert again.schema_version == db.schema_version == LATEST
    finally:
        await again.close()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_cancelled_writer_leaves_neither_lock_nor_transaction_behind(
    db: Database, backend: str
) -> None:
    assert isinstance(db, PostgresDatabase)
    # One connection each, so the next transaction reuses the one that was cancelled.
    other = await db.connect_again(busy_timeout_ms=5000, pool_size=1)
    holding = asyncio.Event()

    async def hold() -> None:
        async with other.transaction() as tx:
            await tx.execute("INSERT INTO retired_models VALUES ('m', 'a', 'b', NULL)")
            holding.set()
            await asyncio.sleep(60)

    async def wait_for_lock() -> None:
        async with other.transaction():
            pass

    try:
        async with db.transaction():  # other's writer now waits for the lock...
            waiting = asyncio.create_task(wait_for_lock())
            await asyncio.sleep(0.2)
            waiting.cancel()  # ...and is cancelled there
            with pytest.raises(asyncio.CancelledError):
                await waiting
        holder = asyncio.create_task(hold())
        await asyncio.wait_for(holding.wait(), 5)
        holder.cancel()  # cancelled inside its transaction, holding the lock
        with pytest.raises(asyncio.CancelledError):
            await holder
        async with asyncio.timeout(2):  # neither left the lock held
            async with db.transaction() as tx:
                assert await tx.fetchall("SELECT model FROM retired_models") == []
            async with other.transaction() as tx:
                assert await tx.fetchone("SELECT 1 AS one") == {"one": 1}
    finally:
        await other.close()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_notify_wakes_every_process_on_the_database(db: Database, backend: str) -> None:
    assert isinstance(db, PostgresDatabase)
    other = await db.connect_again()
    mine, theirs = await db.wakeups(), await other.wakeups()
    try:
        assert await theirs.wait(0.2) is False
        mine.notify()
        assert await theirs.wait(5) is True
        assert await mine.wait(5) is True  # this process hears its own notify too
        assert await theirs.wait(0.2) is False  # one notify, one wake-up
    finally:
        await mine.close()
        await theirs.close()
        await other.close()
