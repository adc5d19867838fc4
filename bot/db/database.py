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
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

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

_T = TypeVar("_T")

# RETURNING (3.35) and STRICT tables (3.37) are used by the migrations.
MIN_SQLITE_VERSION = (3, 37, 0)


class _Thread:
    """The connection's own thread: every call to SQLite runs there, one at a time, in order.

    One hop per statement (run, fetch and close the cursor in one call) instead of a hop for
    each of those steps; the hop, not SQLite, was most of a short transaction's time.
    """

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor,
                 busy_timeout_ms: int) -> None:
        self.conn, self._executor, self.busy_timeout_ms = conn, executor, busy_timeout_ms

    async def call(self, fn: Callable[..., _T], *args: object) -> _T:
        # Submitted before the first await: a cancelled caller's call still runs, in order.
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


def _run(conn: sqlite3.Connection, prelude: Sequence[str], sql: str, params: Params,
         fetch: int) -> tuple[int, list[Row]]:
    """On the thread: the deferred control statements, then ``sql``; (rowcount, rows).

    ``fetch`` is 0 (none), 1 (the first row) or 2 (all rows).
    """
    try:
        for control in prelude:
            conn.execute(control)
        cursor = conn.execute(sql, params)
        try:
            if fetch == 0:
                return cursor.rowcount, []
            found = cursor.fetchall() if fetch == 2 else cursor.fetchmany(1)
            return cursor.rowcount, [dict(row) for row in found]
        finally:
            cursor.close()
    except sqlite3.Error as exc:
        raise translate(exc) from exc


def _rollback_sync(conn: sqlite3.Connection) -> None:
    # Checked on the thread, after every statement queued before it: a BEGIN still queued
    # when the caller gave up is rolled back too. SQLite already rolls back by itself after
    # some errors (e.g. disk full).
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rollback failed")


class Transaction:
    """A write transaction in progress; valid only inside ``async with db.transaction()``.

    ``BEGIN IMMEDIATE``, ``SAVEPOINT`` and ``RELEASE`` are not sent on their own: they are
    queued and run on the database thread just before the next statement (or the COMMIT), in
    the same hop, so a transaction costs one hop per statement that returns something.
    """

    def __init__(self, thread: _Thread) -> None:
        self._thread: _Thread | None = thread
        self._savepoints = 0
        self._prelude: list[str] = ["BEGIN IMMEDIATE"]

    def _live(self) -> _Thread:
        if self._thread is None:
            raise DatabaseClosed("the transaction has already ended")
        return self._thread

    def _end(self) -> None:
        self._thread = None

    @property
    def begun(self) -> bool:
        """Whether BEGIN has been sent (queued statements not yet run do not count)."""
        return "BEGIN IMMEDIATE" not in self._prelude

    async def _statement(self, sql: str, params: Params, fetch: int) -> tuple[int, list[Row]]:
        thread = self._live()
        prelude, self._prelude = self._prelude, []
        try:
            return await thread.call(_run, thread.conn, prelude, sql, params, fetch)
        except DatabaseError:
            if not thread.conn.in_transaction:
                # The BEGIN itself failed (busy), or SQLite rolled everything back (disk
                # full): going on would write outside any transaction.
                self._end()
            raise

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return (await self._statement(sql, params, 0))[0]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = (await self._statement(sql, params, 1))[1]
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return (await self._statement(sql, params, 2))[1]

    async def _commit(self) -> None:
        thread = self._live()
        prelude, self._prelude = self._prelude, []
        # An empty transaction still takes the write lock: a caller may be asking whether
        # the database is writable (and a busy one is reported as such).
        await thread.call(_run, thread.conn, prelude, "COMMIT", (), 0)

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested scope whose writes are undone if it raises, leaving the transaction usable.

        Services use it when they run inside a caller's transaction: a refused operation must
        not leave half of its writes behind for the caller to commit.
        """
        return self._savepoint()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        self._live()
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        opening = f"SAVEPOINT {name}"
        self._prelude.append(opening)
        try:
            yield
        except BaseException:
            if self._prelude and self._prelude[-1] == opening:
                self._prelude.pop()  # nothing ran inside it: nothing to undo
            elif self._thread is not None:
                self._prelude += [f"ROLLBACK TO {name}", f"RELEASE {name}"]
            raise
        else:
            if self._prelude and self._prelude[-1] == opening:
                self._prelude.pop()
            else:
                self._prelude.append(f"RELEASE {name}")
        finally:
            self._savepoints -= 1


class Database:
    """One SQLite connection per process, on its own thread; transactions on it are
    serialised by a lock."""

    def __init__(self, thread: _Thread, path: Path, schema_version: int) -> None:
        # Use Database.open(): it configures the connection and applies migrations.
        self._thread: _Thread | None = thread
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
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            conn, version = await asyncio.get_running_loop().run_in_executor(
                executor, _connect, path, busy_timeout_ms, known)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(_Thread(conn, executor, busy_timeout_ms), path, version)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def schema_version(self) -> int:
        """The schema version after migrations ran at :meth:`open`."""
        return self._schema_version

    @property
    def closed(self) -> bool:
        return self._thread is None

    def _live(self) -> _Thread:
        if self._thread is None:
            raise DatabaseClosed("the database is closed")
        return self._thread

    def _refuse_reentry(self) -> None:
        # asyncio.Lock is not re-entrant: waiting for it from inside our own transaction
        # would hang forever, so fail loudly instead.
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError(
                "already inside a transaction: use the Transaction object (or tx.savepoint())"
            )

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` if the block raises.

        IMMEDIATE takes the write lock up front (sent with the first statement), so a
        transaction that reads then writes can never be overtaken by another connection
        between the two.
        """
        self._refuse_reentry()
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            thread = self._live()
            tx = Transaction(thread)
            self._owner = asyncio.current_task()
            try:
                yield tx
            except BaseException:
                began = tx.begun
                tx._end()
                if began:
                    await self._rollback(thread)
                raise
            else:
                try:
                    await tx._commit()
                except BaseException:
                    await self._rollback(thread)
                    raise
                finally:
                    tx._end()
            finally:
                self._owner = None

    @staticmethod
    async def _rollback(thread: _Thread) -> None:
        """ROLLBACK whatever is open, even if the caller is being cancelled.

        The thread goes on with a statement after its await is cancelled (a shutdown, a
        timeout, a BEGIN waiting for another process's lock): without this the transaction
        would stay open with nobody to end it, and every later one on this connection fail.
        """
        done = asyncio.ensure_future(thread.call(_rollback_sync, thread.conn))
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.shield(done)
            raise

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """A read in autocommit mode, never interleaved with another coroutine's transaction."""
        self._refuse_reentry()
        async with self._lock:
            thread = self._live()
            rows = (await thread.call(_run, thread.conn, (), sql, params, 1))[1]
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._refuse_reentry()
        async with self._lock:
            thread = self._live()
            return (await thread.call(_run, thread.conn, (), sql, params, 2))[1]

    async def close(self) -> None:
        """Wait for the running transaction, then close; the last connection removes the WAL."""
        async with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                try:
                    await thread.call(thread.conn.close)
                finally:
                    thread._executor.shutdown(wait=False)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _connect(path: Path, busy_timeout_ms: int,
             known: Sequence[Migration]) -> tuple[sqlite3.Connection, int]:
    """On the database thread: connect, configure, migrate; the connection and its version."""
    try:
        # The connection is used only on this thread (the executor has one worker).
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise explain(path, translate(exc)) from exc
    try:
        conn.row_factory = sqlite3.Row
        _exec(conn, f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise DatabaseError(f"{path}: could not switch the database to WAL mode")
        # FULL, not WAL's usual NORMAL: every COMMIT is fsynced before it returns, so a
        # transaction the bot reported (credits reserved, a job written) survives a power cut,
        # not only a killed process.
        _exec(conn, "PRAGMA synchronous = FULL")
        _exec(conn, "PRAGMA foreign_keys = ON")
        version = _migrate(conn, path, known)
    except sqlite3.Error as exc:
        conn.close()
        raise explain(path, translate(exc)) from exc
    except DatabaseError as exc:
        conn.close()
        # Named after the file, so the operator knows which one to restore or fix.
        raise explain(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn, version


def _exec(conn: sqlite3.Connection, sql: str) -> None:
    try:
        conn.execute(sql).close()
    except sqlite3.Error as exc:
        raise translate(exc) from exc


def _migrate(conn: sqlite3.Connection, path: Path, known: Sequence[Migration]) -> int:
    """Apply every pending migration in ONE transaction; returns the resulting version."""
    newest = len(known)
    # Re-read the version under the write lock: another process may have migrated meanwhile.
    _exec(conn, "BEGIN IMMEDIATE")
    try:
        row = conn.execute("PRAGMA user_version").fetchone()
        current = int(row[0]) if row else 0
        if current > newest:
            raise SchemaTooNew.of(path, current, newest)
        for migration in known[current:]:
            _apply(conn, migration)
        if newest > current:
            _exec(conn, f"PRAGMA user_version = {newest:d}")
        _exec(conn, "COMMIT")
    except BaseException:
        _rollback_sync(conn)
        raise
    if newest > current:
        log.info("database %s migrated from schema %d to %d", path, current, newest)
    return max(current, newest)


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    for statement in split_statements(migration.sql):
        try:
            _exec(conn, statement)
        except DatabaseError as exc:
            raise MigrationError(
                f"migration {migration.name} failed: {exc}", code=exc.code
            ) from exc
        if not conn.in_transaction:
            raise MigrationError(
                f"migration {migration.name} ended the transaction; migrations must not "
                "contain BEGIN, COMMIT or ROLLBACK"
            )
