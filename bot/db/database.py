"""The one place that opens SQLite: connection set-up, migrations and explicit transactions.

This module knows nothing about credits or jobs. Services keep their SQL to themselves and talk
to the store through :class:`Database` and :class:`Transaction`, so a PostgreSQL backend can
later offer the same small surface.
Reading and checking the migration files is :mod:`bot.db.migrate`; applying them is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.db.errors import (
    ConstraintViolation,
    DatabaseBusy,
    DatabaseClosed,
    DatabaseError,
    MigrationError,
    SchemaTooNew,
    UniqueViolation,
    explain,
    translate,
)
from bot.db.migrate import Migration, load_migrations, split_statements

__all__ = [
    "ConstraintViolation",
    "Database",
    "DatabaseBusy",
    "DatabaseClosed",
    "DatabaseError",
    "Migration",
    "MigrationError",
    "Params",
    "Row",
    "SchemaTooNew",
    "Transaction",
    "UniqueViolation",
    "load_migrations",
    "split_statements",
]

log = logging.getLogger(__name__)

Row = dict[str, Any]
Params = Sequence[object]

# RETURNING (3.35) and STRICT tables (3.37) are used by the migrations.
MIN_SQLITE_VERSION = (3, 37, 0)


class Transaction:
    """A write transaction in progress; valid only inside ``async with db.transaction()``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn: aiosqlite.Connection | None = conn
        self._savepoints = 0
        #: SAVEPOINT / RELEASE not sent yet: they ride with the next statement (one trip to
        #: the connection's thread fewer each); COMMIT and ROLLBACK make them moot.
        self._pending: list[str] = []

    def _prelude(self) -> list[str]:
        pending, self._pending = self._pending, []
        return pending

    def _live(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseClosed("the transaction has already ended")
        return self._conn

    def _end(self) -> None:
        self._conn = None

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return (await _run(self._live(), sql, params, 0, self._prelude()))[0]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = (await _run(self._live(), sql, params, 1, self._prelude()))[1]
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return (await _run(self._live(), sql, params, 2, self._prelude()))[1]

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested scope whose writes are undone if it raises, leaving the transaction usable.

        Services use it when they run inside a caller's transaction: a refused operation must
        not leave half of its writes behind for the caller to commit.
        """
        return self._savepoint()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        conn = self._live()
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        opened = f"SAVEPOINT {name}"
        self._pending.append(opened)
        try:
            yield
        except BaseException:
            if opened in self._pending:  # never sent: nothing of it reached SQLite
                del self._pending[self._pending.index(opened):]
            else:
                await _run(conn, f"ROLLBACK TO {name}", (), 0, self._prelude())
                await _execute(conn, f"RELEASE {name}", ())
            raise
        else:
            self._pending.append(f"RELEASE {name}")
        finally:
            self._savepoints -= 1


def _statement(conn: aiosqlite.Connection, prelude: Sequence[str], sql: str, params: Params,
               fetch: int) -> tuple[int, list[Row]]:
    """On aiosqlite's thread: the deferred control statements, then ``sql``, its fetch (0
    none, 1 the first row, 2 all) and the cursor's close, in one go; (rowcount, rows)."""
    raw = conn._conn
    for control in prelude:
        raw.execute(control)
    cursor = raw.execute(sql, params)
    try:
        if fetch == 0:
            return cursor.rowcount, []
        found = cursor.fetchall() if fetch == 2 else cursor.fetchmany(1)
        return cursor.rowcount, [dict(row) for row in found]
    finally:
        cursor.close()


async def _run(conn: aiosqlite.Connection, sql: str, params: Params, fetch: int,
               prelude: Sequence[str] = ()) -> tuple[int, list[Row]]:
    # One trip to aiosqlite's thread per statement: its own cursor API takes one trip each to
    # execute, fetch and close, and those trips, not SQLite, were most of a short
    # transaction's time (benchmarks/store_throughput.py). Queued like every aiosqlite call,
    # so statements still run in order on the connection's one thread.
    try:
        done: tuple[int, list[Row]] = await conn._execute(  # type: ignore[no-untyped-call]
            _statement, conn, prelude, sql, params, fetch)
        return done
    except sqlite3.Error as exc:
        raise translate(exc) from exc


async def _execute(conn: aiosqlite.Connection, sql: str, params: Params) -> int:
    return (await _run(conn, sql, params, 0))[0]


async def _fetchone(conn: aiosqlite.Connection, sql: str, params: Params) -> Row | None:
    rows = (await _run(conn, sql, params, 1))[1]
    return rows[0] if rows else None


async def _fetchall(conn: aiosqlite.Connection, sql: str, params: Params) -> list[Row]:
    return (await _run(conn, sql, params, 2))[1]


class Database:
    """One SQLite connection per process; transactions on it are serialised by a lock."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, schema_version: int) -> None:
        # Use Database.open(): it configures the connection and applies migrations.
        self._conn: aiosqlite.Connection | None = conn
        self._path = path
        self._schema_version = schema_version
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        migrations: Sequence[Migration] | None = None,
    ) -> Database:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            wanted = ".".join(map(str, MIN_SQLITE_VERSION))
            raise DatabaseError(
                f"SQLite {wanted} or newer is required (found {sqlite3.sqlite_version})"
            )
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int) or (
            busy_timeout_ms < 0
        ):
            raise ValueError("busy_timeout_ms must be a non-negative integer")
        known = tuple(load_migrations() if migrations is None else migrations)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"{path}: cannot create its folder ({exc.strerror}); create it, or point "
                "database.path elsewhere"
            ) from None
        try:
            conn = await aiosqlite.connect(
                path, isolation_level=None, timeout=busy_timeout_ms / 1000
            )
        except sqlite3.Error as exc:
            raise explain(path, translate(exc)) from exc
        try:
            conn.row_factory = sqlite3.Row
            await _execute(conn, f"PRAGMA busy_timeout = {busy_timeout_ms:d}", ())
            mode = await _fetchone(conn, "PRAGMA journal_mode = WAL", ())
            if mode is None or str(next(iter(mode.values()))).lower() != "wal":
                raise DatabaseError(f"{path}: could not switch the database to WAL mode")
            await _execute(conn, "PRAGMA foreign_keys = ON", ())
            version = await _migrate(conn, path, known)
        except DatabaseError as exc:
            await conn.close()
            # Named after the file, so the operator knows which one to restore or fix.
            raise explain(path, exc) from exc
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path, version)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def schema_version(self) -> int:
        """The schema version after migrations ran at :meth:`open`."""
        return self._schema_version

    @property
    def closed(self) -> bool:
        return self._conn is None

    def _live(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseClosed("the database is closed")
        return self._conn

    def _refuse_reentry(self) -> None:
        # asyncio.Lock is not re-entrant: waiting for it from inside our own transaction
        # would hang forever, so fail loudly instead.
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError(
                "already inside a transaction: use the Transaction object (or tx.savepoint())"
            )

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` if the block raises."""
        self._refuse_reentry()
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            conn = self._live()
            # IMMEDIATE takes the write lock up front, so a transaction that reads then writes
            # can never be overtaken by another connection between the two.
            await self._begin(conn)
            tx = Transaction(conn)
            self._owner = asyncio.current_task()
            try:
                yield tx
            except BaseException:
                tx._end()
                await self._rollback(conn)
                raise
            else:
                tx._end()
                try:
                    await _execute(conn, "COMMIT", ())
                except DatabaseError:
                    await self._rollback(conn)
                    raise
            finally:
                self._owner = None

    @staticmethod
    async def _begin(conn: aiosqlite.Connection) -> None:
        """BEGIN IMMEDIATE, undone if the caller is cancelled while it waits for the lock.

        aiosqlite runs the statement on its own thread, which goes on after the await is
        cancelled (a shutdown, a timeout): without this the transaction would begin anyway,
        with nobody to end it, and every later one on this connection would fail.
        """
        begin = asyncio.ensure_future(_execute(conn, "BEGIN IMMEDIATE", ()))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            # Statements run in order on that thread, so wait for the BEGIN to end either way
            # and roll back whatever it opened.
            with contextlib.suppress(BaseException):
                await asyncio.shield(begin)
            if conn.in_transaction:
                await asyncio.shield(Database._rollback(conn))
            raise

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        # SQLite already rolls back by itself after some errors (e.g. disk full).
        if not conn.in_transaction:
            return
        try:
            await _execute(conn, "ROLLBACK", ())
        except DatabaseError:
            log.exception("rollback failed")

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """A read in autocommit mode, never interleaved with another coroutine's transaction."""
        self._refuse_reentry()
        async with self._lock:
            return await _fetchone(self._live(), sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._refuse_reentry()
        async with self._lock:
            return await _fetchall(self._live(), sql, params)

    async def close(self) -> None:
        """Wait for the running transaction, then close; the last connection removes the WAL."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _migrate(conn: aiosqlite.Connection, path: Path, known: Sequence[Migration]) -> int:
    """Apply every pending migration in ONE transaction; returns the resulting version."""
    newest = len(known)
    # Re-read the version under the write lock: another process may have migrated meanwhile.
    await _execute(conn, "BEGIN IMMEDIATE", ())
    try:
        row = await _fetchone(conn, "PRAGMA user_version", ())
        current = int(next(iter(row.values()))) if row else 0
        if current > newest:
            raise SchemaTooNew.of(path, current, newest)
        for migration in known[current:]:
            await _apply(conn, migration)
        if newest > current:
            await _execute(conn, f"PRAGMA user_version = {newest:d}", ())
        await _execute(conn, "COMMIT", ())
    except BaseException:
        await Database._rollback(conn)
        raise
    if newest > current:
        log.info("database %s migrated from schema %d to %d", path, current, newest)
    return max(current, newest)


async def _apply(conn: aiosqlite.Connection, migration: Migration) -> None:
    for statement in split_statements(migration.sql):
        try:
            await _execute(conn, statement, ())
        except DatabaseError as exc:
            raise MigrationError(
                f"migration {migration.name} failed: {exc}", code=exc.code
            ) from exc
        if not conn.in_transaction:
            raise MigrationError(
                f"migration {migration.name} ended the transaction; migrations must not "
                "contain BEGIN, COMMIT or ROLLBACK"
            )
