"""The one place that opens SQLite: connection set-up, migrations and explicit transactions.

This module knows nothing about credits or jobs. Services keep their SQL to themselves and talk
to the store through :class:`Database` and :class:`Transaction`, so a PostgreSQL backend can
later offer the same small surface.
Reading and checking the migration files is :mod:`bot.db.migrate`; applying them, and the
low-level calls under both classes, are :mod:`bot.db.sqlite_calls`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.db.commits import CommitPace
from bot.db.dialect import SQLITE, Dialect
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
from bot.db.sqlite_calls import (
    Gate,
    Params,
    Row,
    is_busy,
    migrate,
    on_thread,
    open_reader,
    read_now,
    rollback_if_open,
    run_statement,
    setup_execute,
    setup_fetchone,
    timed_commit,
)

__all__ = [
    "ConstraintViolation",
    "Database",
    "DatabaseBusy",
    "DatabaseClosed",
    "DatabaseError",
    "Dialect",
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


# RETURNING (3.35) and STRICT tables (3.37) are used by the migrations.
MIN_SQLITE_VERSION = (3, 37, 0)

_T = TypeVar("_T")


class Transaction:
    """A write transaction in progress; valid only inside ``async with db.transaction()``.

    Its statements run right here on the event loop's thread, not on aiosqlite's: the write
    lock is already held (``BEGIN IMMEDIATE``), so a statement cannot wait for another
    connection, and in WAL mode it only touches pages in memory until COMMIT. A trip to
    aiosqlite's thread and back costs ~75 us here, more than such a statement itself
    (benchmarks/store_throughput.py). What can wait, BEGIN (for the lock) and COMMIT (for
    the fsync), still goes to that thread.
    """

    #: The SQL fragments that differ between backends (see :mod:`bot.db.dialect`).
    dialect: Dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection, gate: Gate) -> None:
        self._conn: aiosqlite.Connection | None = conn
        self._gate = gate
        self._savepoints = 0

    def _live(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseClosed("the transaction has already ended")
        return self._conn

    def _end(self) -> None:
        self._conn = None

    def _live_now(self) -> bool:
        return self._conn is not None

    async def _inline(self, sql: str, params: Params, fetch: int) -> tuple[int, list[Row]]:
        conn = self._live()
        await self._gate.idle()
        try:
            return run_statement(conn, sql, params, fetch)
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return (await self._inline(sql, params, 0))[0]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = (await self._inline(sql, params, 1))[1]
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return (await self._inline(sql, params, 2))[1]

    async def scan(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a read that may be long (a guild's whole journal): on aiosqlite's
        thread, so the event loop goes on meanwhile."""
        return (await on_thread(self._gate, self._live(), sql, params, 2))[1]

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested scope whose writes are undone if it raises, leaving the transaction usable.

        Services use it when they run inside a caller's transaction: a refused operation must
        not leave half of its writes behind for the caller to commit.
        """
        return self._savepoint()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        await self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self._live_now():
                await self.execute(f"ROLLBACK TO {name}")
                await self.execute(f"RELEASE {name}")
            raise
        else:
            await self.execute(f"RELEASE {name}")
        finally:
            self._savepoints -= 1


class Database:
    """One SQLite connection per process for writes, whose transactions are serialised by a
    lock, and one for one-row reads, which never wait for that lock (see :meth:`fetchone`)."""

    #: The SQL fragments that differ between backends (see :mod:`bot.db.dialect`).
    dialect: Dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection, path: Path, schema_version: int,
                 busy_timeout_ms: int = 5000, reader: sqlite3.Connection | None = None) -> None:
        # Use Database.open(): it configures the connection and applies migrations.
        self._conn: aiosqlite.Connection | None = conn
        self._reader = reader
        self._busy_timeout_ms = busy_timeout_ms
        self._path = path
        self._schema_version = schema_version
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._gate = Gate()
        self._pace = CommitPace()

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
            # Transactions run their statements on the event loop's thread (see Transaction),
            # strictly one at a time with aiosqlite's own thread (see Gate).
            conn = await aiosqlite.connect(
                path, isolation_level=None, timeout=busy_timeout_ms / 1000,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise explain(path, translate(exc)) from exc
        try:
            conn.row_factory = sqlite3.Row
            await setup_execute(conn, f"PRAGMA busy_timeout = {busy_timeout_ms:d}", ())
            mode = await setup_fetchone(conn, "PRAGMA journal_mode = WAL", ())
            if mode is None or str(next(iter(mode.values()))).lower() != "wal":
                raise DatabaseError(f"{path}: could not switch the database to WAL mode")
            await setup_execute(conn, "PRAGMA foreign_keys = ON", ())
            version = await migrate(conn, path, known)
            try:
                reader = await asyncio.to_thread(open_reader, path)
            except sqlite3.Error as exc:
                raise translate(exc) from exc
        except DatabaseError as exc:
            await conn.close()
            # Named after the file, so the operator knows which one to restore or fix.
            raise explain(path, exc) from exc
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path, version, busy_timeout_ms, reader)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def where(self) -> str:
        """The database as an operator names it in a message: here, the file."""
        return str(self._path)

    @property
    def skip_locked(self) -> str:
        """The row-lock clause a claim appends to its inner SELECT (none on SQLite)."""
        return self.dialect.skip_locked

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
            tx = Transaction(conn, self._gate)
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
                    await self._commit(conn)
                except DatabaseError:
                    await self._rollback(conn)
                    raise
            finally:
                self._owner = None

    async def _begin(self, conn: aiosqlite.Connection) -> None:
        """BEGIN IMMEDIATE: right here when the write lock is free, else on aiosqlite's thread.

        Only another connection (another process: the CLI, a second bot on the same file) can
        hold the lock, since this one's transactions take turns: so first ask without waiting,
        which costs no trip, and wait on the thread only when the answer is busy.
        """
        if await self._began_now(conn):
            return
        try:
            await on_thread(self._gate, conn, "BEGIN IMMEDIATE", (), 0)
        except asyncio.CancelledError:
            # The BEGIN goes on without us on that thread: end what it opens.
            await asyncio.shield(self._rollback(conn))
            raise

    async def _commit(self, conn: aiosqlite.Connection) -> None:
        """COMMIT, inline or on the thread as :class:`CommitPace` says, timing it either way."""
        if self._pace.inline() and self._gate.idle_now():
            # Nothing left running on the thread, and no await before the COMMIT: a
            # cancellation cannot land between them and leave the transaction open.
            try:
                self._pace.note(timed_commit(conn))
            except sqlite3.Error as exc:
                raise translate(exc) from exc
            return
        try:
            self._pace.note(await self._gate.call(conn, timed_commit, conn))
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        # SQLite already rolls back by itself after some errors (e.g. disk full); whether a
        # transaction is open is decided on the thread, after anything still queued there.
        try:
            await self._gate.call(conn, rollback_if_open, conn)
        except sqlite3.Error as exc:
            log.error("rollback failed: %s", translate(exc))

    async def _began_now(self, conn: aiosqlite.Connection) -> bool:
        """BEGIN IMMEDIATE right here on the loop, without waiting for another connection's
        lock: False if it would have had to wait (then :meth:`_begin` waits on the thread)."""
        await self._gate.idle()
        raw = conn._conn
        try:
            raw.execute("PRAGMA busy_timeout = 0")
            try:
                raw.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                return False
            finally:
                raw.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms:d}")
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """One committed row, read right here on the event loop through the read connection:
        no trip to aiosqlite's thread and no wait for the write lock.

        One-row reads are the bot's lookups (a balance, a policy, a count over an index), and
        most run before an interaction is acknowledged, where Discord allows 3 s shared by a
        burst: queued behind that burst's transactions, each would wait a turn of the whole
        event loop per transaction ahead of it. The read connection sees what is committed
        (WAL gives each statement a snapshot), never another coroutine's open transaction.
        A read that may scan a growing table (history, exports, counts over every job) must
        use :meth:`scan`, which runs on the thread and holds nothing up.
        """
        rows = await self._read_now(sql, params, 1)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """A short list (a LIMIT, a handful of rows through an index), read as
        :meth:`fetchone` reads; anything that may be long goes through :meth:`scan`."""
        return await self._read_now(sql, params, 2)

    async def scan(self, sql: str, params: Params = ()) -> list[Row]:
        """A read that may be long (counts over every job): on aiosqlite's thread, after the
        transaction in progress, so the event loop goes on meanwhile."""
        self._refuse_reentry()
        async with self._lock:
            return (await on_thread(self._gate, self._live(), sql, params, 2))[1]

    async def _read_now(self, sql: str, params: Params, fetch: int) -> list[Row]:
        self._refuse_reentry()
        reader = self._reader
        if self._conn is None or reader is None:
            raise DatabaseClosed("the database is closed")
        try:
            return read_now(reader, sql, params, fetch)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise translate(exc) from exc
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        # WAL readers wait only in rare cases (another connection's recovery): wait on the
        # thread, with the operator's busy timeout.
        async with self._lock:
            return (await on_thread(self._gate, self._live(), sql, params, fetch))[1]

    async def close(self) -> None:
        """Wait for the running transaction, then close; the last connection removes the WAL."""
        async with self._lock:
            conn, self._conn = self._conn, None
            reader, self._reader = self._reader, None
            if reader is not None:
                reader.close()
            if conn is not None:
                await self._gate.idle()
                await conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
