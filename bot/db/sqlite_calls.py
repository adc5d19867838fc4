"""SQLite's calls below :class:`bot.db.database.Database`: the gate that keeps aiosqlite's
thread and the event loop from using the connection at once, one statement's run-fetch-close,
the read connection, COMMIT timed, and applying migrations.

Split from database.py so that module holds the two classes services use; nothing here knows
about credits or jobs either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.db.errors import DatabaseError, MigrationError, SchemaTooNew, translate
from bot.db.migrate import Migration, split_statements

log = logging.getLogger("bot.db.database")

Row = dict[str, Any]
Params = Sequence[object]

_T = TypeVar("_T")


class Gate:
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


def run_statement(conn: aiosqlite.Connection, sql: str, params: Params,
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


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY, by its primary code (BUSY_RECOVERY and the like are extended codes)."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def open_reader(path: Path) -> sqlite3.Connection:
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


def read_now(reader: sqlite3.Connection, sql: str, params: Params, fetch: int) -> list[Row]:
    cursor = reader.execute(sql, params)
    try:
        return [dict(row) for row in (cursor.fetchall() if fetch == 2 else cursor.fetchmany(1))]
    finally:
        cursor.close()  # ends the statement's snapshot, so checkpoints are not held back


def timed_commit(conn: aiosqlite.Connection) -> float:
    """COMMIT on whichever thread calls it; the seconds it took (its fsync)."""
    started = time.perf_counter()
    conn._conn.execute("COMMIT")
    return time.perf_counter() - started


def rollback_if_open(conn: aiosqlite.Connection) -> None:
    # Decided on the connection's thread, after whatever was queued before it (a BEGIN that
    # was still waiting for the lock when its caller was cancelled).
    if conn._conn.in_transaction:
        conn._conn.execute("ROLLBACK")


async def on_thread(gate: Gate, conn: aiosqlite.Connection, sql: str, params: Params,
               fetch: int) -> tuple[int, list[Row]]:
    """One statement on aiosqlite's thread: run, fetch and close in one trip (its own cursor
    API takes one trip each)."""
    try:
        return await gate.call(conn, run_statement, conn, sql, params, fetch)
    except sqlite3.Error as exc:
        raise translate(exc) from exc


async def setup_execute(conn: aiosqlite.Connection, sql: str, params: Params) -> int:
    """For set-up and migrations, before any transaction can run inline."""
    return (await on_thread(Gate(), conn, sql, params, 0))[0]


async def setup_fetchone(conn: aiosqlite.Connection, sql: str, params: Params) -> Row | None:
    rows = (await on_thread(Gate(), conn, sql, params, 1))[1]
    return rows[0] if rows else None


async def migrate(conn: aiosqlite.Connection, path: Path, known: Sequence[Migration]) -> int:
    """Apply every pending migration in ONE transaction; returns the resulting version."""
    newest = len(known)
    # Re-read the version under the write lock: another process may have migrated meanwhile.
    await setup_execute(conn, "BEGIN IMMEDIATE", ())
    try:
        row = await setup_fetchone(conn, "PRAGMA user_version", ())
        current = int(next(iter(row.values()))) if row else 0
        if current > newest:
            raise SchemaTooNew.of(path, current, newest)
        for migration in known[current:]:
            await apply_migration(conn, migration)
        if newest > current:
            await setup_execute(conn, f"PRAGMA user_version = {newest:d}", ())
        await setup_execute(conn, "COMMIT", ())
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            await Gate().call(conn, rollback_if_open, conn)
        raise
    if newest > current:
        log.info("database %s migrated from schema %d to %d", path, current, newest)
    return max(current, newest)


async def apply_migration(conn: aiosqlite.Connection, migration: Migration) -> None:
    for statement in split_statements(migration.sql):
        try:
            await setup_execute(conn, statement, ())
        except DatabaseError as exc:
            raise MigrationError(
                f"migration {migration.name} failed: {exc}", code=exc.code
            ) from exc
        if not conn.in_transaction:
            raise MigrationError(
                f"migration {migration.name} ended the transaction; migrations must not "
                "contain BEGIN, COMMIT or ROLLBACK"
            )
