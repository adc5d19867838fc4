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
import time
from collections.abc import AsyncIterator, Callable, Sequence
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

Row = dict[str, Any]
Params = Sequence[object]

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

    def __init__(self, conn: aiosqlite.Connection, gate: _Gate) -> None:
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
            return _statement(conn, sql, params, fetch)
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
        return (await _run(self._gate, self._live(), sql, params, 2))[1]

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


class _Gate:
    """The last call sent to aiosqlite's thread, so nothing runs inline while it still runs.

    A caller cancelled while its call was on that thread (a shutdown, a timeout) leaves the
    call running there; a statement run inline meanwhile would use the connection from two
    threads at once.
    """

    def __init__(self) -> None:
        self._last: asyncio.Future[Any] | None = None

    def idle_now(self) -> bool:
        """Whether nothing sent to the thread is still running there."""
        return self._last is None or self._last.done()

    async def idle(self) -> None:
        last = self._last
        if last is not None and not last.done():
            # Its outcome is its caller's; a cancellation of ours still reaches us (a shutdown
            # must not be swallowed here).
            await asyncio.wait((last,))

    async def call(self, conn: aiosqlite.Connection, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on aiosqlite's thread, in order with every earlier call."""
        await self.idle()
        sent: asyncio.Future[_T] = asyncio.ensure_future(
            conn._execute(fn, *args))  # type: ignore[no-untyped-call]
        self._last = sent
        return await asyncio.shield(sent)


def _statement(conn: aiosqlite.Connection, sql: str, params: Params,
               fetch: int) -> tuple[int, list[Row]]:
    """``sql``, its fetch (0 none, 1 the first row, 2 all) and the cursor's close, in one
    go on whichever thread calls it; (rowcount, rows)."""
    cursor = conn._conn.execute(sql, params)
    try:
        if fetch == 0:
            return cursor.rowcount, []
        found = cursor.fetchall() if fetch == 2 else cursor.fetchmany(1)
        return cursor.rowcount, [dict(row) for row in found]
    finally:
        cursor.close()


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY, by its primary code (BUSY_RECOVERY and the like are extended codes)."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def _open_reader(path: Path) -> sqlite3.Connection:
    """The read connection: autocommit, never waiting for a lock (timeout 0: the rare busy
    read goes to the writer's thread instead), refusing writes."""
    reader = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    try:
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only = ON")
        reader.execute("PRAGMA foreign_keys = ON")  # as the writer's, for anyone asking
    except BaseException:
        reader.close()
        raise
    return reader


def _read(reader: sqlite3.Connection, sql: str, params: Params, fetch: int) -> list[Row]:
    cursor = reader.execute(sql, params)
    try:
        return [dict(row) for row in (cursor.fetchall() if fetch == 2 else cursor.fetchmany(1))]
    finally:
        cursor.close()  # ends the statement's snapshot, so checkpoints are not held back


def _timed_commit(conn: aiosqlite.Connection) -> float:
    """COMMIT on whichever thread calls it; the seconds it took (its fsync)."""
    started = time.perf_counter()
    conn._conn.execute("COMMIT")
    return time.perf_counter() - started


def _rollback_if_open(conn: aiosqlite.Connection) -> None:
    # Decided on the connection's thread, after whatever was queued before it (a BEGIN that
    # was still waiting for the lock when its caller was cancelled).
    if conn._conn.in_transaction:
        conn._conn.execute("ROLLBACK")


async def _run(gate: _Gate, conn: aiosqlite.Connection, sql: str, params: Params,
               fetch: int) -> tuple[int, list[Row]]:
    """One statement on aiosqlite's thread: run, fetch and close in one trip (its own cursor
    API takes one trip each)."""
    try:
        return await gate.call(conn, _statement, conn, sql, params, fetch)
    except sqlite3.Error as exc:
        raise translate(exc) from exc


async def _execute(conn: aiosqlite.Connection, sql: str, params: Params) -> int:
    """For set-up and migrations, before any transaction can run inline."""
    return (await _run(_Gate(), conn, sql, params, 0))[0]


async def _fetchone(conn: aiosqlite.Connection, sql: str, params: Params) -> Row | None:
    rows = (await _run(_Gate(), conn, sql, params, 1))[1]
    return rows[0] if rows else None


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
        self._gate = _Gate()
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
            # strictly one at a time with aiosqlite's own thread (see _Gate).
            conn = await aiosqlite.connect(
                path, isolation_level=None, timeout=busy_timeout_ms / 1000,
                check_same_thread=False,
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
            try:
                reader = await asyncio.to_thread(_open_reader, path)
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
            await _run(self._gate, conn, "BEGIN IMMEDIATE", (), 0)
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
                self._pace.note(_timed_commit(conn))
            except sqlite3.Error as exc:
                raise translate(exc) from exc
            return
        try:
            self._pace.note(await self._gate.call(conn, _timed_commit, conn))
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        # SQLite already rolls back by itself after some errors (e.g. disk full); whether a
        # transaction is open is decided on the thread, after anything still queued there.
        try:
            await self._gate.call(conn, _rollback_if_open, conn)
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
                if not _busy(exc):
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
            return (await _run(self._gate, self._live(), sql, params, 2))[1]

    async def _read_now(self, sql: str, params: Params, fetch: int) -> list[Row]:
        self._refuse_reentry()
        reader = self._reader
        if self._conn is None or reader is None:
            raise DatabaseClosed("the database is closed")
        try:
            return _read(reader, sql, params, fetch)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise translate(exc) from exc
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        # WAL readers wait only in rare cases (another connection's recovery): wait on the
        # thread, with the operator's busy timeout.
        async with self._lock:
            return (await _run(self._gate, self._live(), sql, params, fetch))[1]

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
        with contextlib.suppress(sqlite3.Error):
            await _Gate().call(conn, _rollback_if_open, conn)
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
