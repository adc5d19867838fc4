"""PostgreSQL behind the surface of :mod:`bot.db.database`: no store knows which it talks to.

Why asyncpg (not psycopg 3): it is asyncio-native end to end (no thread or sync core under
the async API), binary protocol with per-connection prepared-statement caches, its own pool,
and what the big discord.py bots already run (RoboDanny, see the scaling reference).

**Transactions.** Every store was written against SQLite's ``BEGIN IMMEDIATE``: a write
transaction reads (a balance, the held credits, a member's spending for the caps, a job's
state) and then writes, and nothing may interleave. PostgreSQL's default READ COMMITTED
would let two processes both pass such a check; SERIALIZABLE would instead fail one of
them, and a ``async with db.transaction()`` block cannot be re-run by the database layer.
So a write transaction takes one transaction-scoped advisory lock first
(:data:`WRITE_LOCK`): exactly SQLite's guarantee (one writer at a time, across every process
and machine), held only until COMMIT, waited for at most ``busy_timeout_ms`` (then
:class:`DatabaseBusy`, as on SQLite). Reads outside transactions never take it. The money
rules do not depend on it: the reserve is one conditional UPDATE, the journal's triggers
and unique indexes are the database's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.db.database import Database, Params, Row, Transaction
from bot.db.dialect import POSTGRESQL, Dialect
from bot.db.errors import DatabaseClosed, DatabaseError
from bot.db.migrate import Migration
from bot.db.pg_migrate import WRITE_LOCK, load_pg_migrations, migrate
from bot.db.pg_text import explain_connect, parse_url, placeholders, translate
from bot.db.pg_wakeups import PostgresWakeups

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn = PoolConnectionProxy[asyncpg.Record]

log = logging.getLogger(__name__)

def _row(record: asyncpg.Record) -> Row:
    return dict(record.items())


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag ("UPDATE 3", "INSERT 0 1"): its last word is the count.
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


def _numeric(text: str) -> int | Decimal:
    # SUM over BIGINT is NUMERIC in PostgreSQL; credits are whole numbers, so the stores get
    # an int as SQLite gives them.
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else value


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("numeric", encoder=str, decoder=_numeric,
                              schema="pg_catalog", format="text")


class PostgresTransaction(Transaction):
    """A write transaction on one pooled connection; valid inside ``async with``.

    A subclass of the SQLite :class:`Transaction` for its type only: it overrides every
    public method (tests/db/test_postgres.py checks), so stores annotated with it take both.
    """

    dialect: Dialect = POSTGRESQL

    def __init__(self, conn: _Conn, sql: dict[str, str]) -> None:
        self._pg: _Conn | None = conn
        self._sql = sql
        self._savepoints = 0

    def _pg_live(self) -> _Conn:
        if self._pg is None:
            raise DatabaseClosed("the transaction has already ended")
        return self._pg

    def _end(self) -> None:
        self._pg = None

    def _live_now(self) -> bool:
        return self._pg is not None

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested scope whose writes are undone if it raises: SQLite's own scope, as
        SAVEPOINT / ROLLBACK TO / RELEASE are the same words here."""
        return self._savepoint()

    def _text(self, sql: str) -> str:
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = placeholders(sql)
        return text

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        try:
            return _rowcount(await self._pg_live().execute(self._text(sql), *params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        try:
            record = await self._pg_live().fetchrow(self._text(sql), *params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc
        return None if record is None else _row(record)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            records = await self._pg_live().fetch(self._text(sql), *params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc
        return [_row(r) for r in records]

    async def scan(self, sql: str, params: Params = ()) -> list[Row]:
        """A long read: on PostgreSQL it is a network round trip like any other."""
        return await self.fetchall(sql, params)


class PostgresDatabase(Database):
    """A pool of asyncpg connections; write transactions take :data:`WRITE_LOCK`.

    Open it with :meth:`connect`. A subclass of the SQLite :class:`Database` for its type
    only (every public member is overridden), so every store takes either.
    """

    dialect: Dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool, url: str, schema_version: int,
                 busy_timeout_ms: int) -> None:
        # Use PostgresDatabase.connect(): it checks the URL and applies migrations.
        self._pool: asyncpg.Pool | None = pool
        self._url = url  # never shown: it holds the password
        target = parse_url(url)
        self._target = target
        self._schema_version = schema_version
        self._lock_timeout_ms = max(1, busy_timeout_ms)  # 0 would mean "wait forever" here
        self._writers: set[asyncio.Task[Any]] = set()
        self._sql: dict[str, str] = {}

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        busy_timeout_ms: int = 5000,
        pool_size: int = 10,
        migrations: Sequence[Migration] | None = None,
    ) -> PostgresDatabase:
        """Connect to ``url`` (a pool of up to ``pool_size``) and bring the schema up to date."""
        target = parse_url(url)
        known = tuple(load_pg_migrations() if migrations is None else migrations)
        try:
            pool = await asyncpg.create_pool(
                dsn=url, min_size=1, max_size=pool_size, timeout=10,
                init=_prepare_connection)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise explain_connect(target, exc) from None
        assert pool is not None
        try:
            async with pool.acquire() as conn:
                version = await migrate(conn, target, known)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url, version, busy_timeout_ms)

    async def wakeups(self) -> PostgresWakeups:
        """Wake-ups between every process on this database (LISTEN/NOTIFY), for the
        schedulers' ``Wakeups`` port; close them before the database."""
        try:
            return await PostgresWakeups.start(self._url, self._pool_live())
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise explain_connect(self._target, exc) from None

    async def connect_again(self, *, busy_timeout_ms: int = 5000,
                            pool_size: int = 10) -> PostgresDatabase:
        """Another pool on the same database, as a second process would open it."""
        return await PostgresDatabase.connect(self._url, busy_timeout_ms=busy_timeout_ms,
                                              pool_size=pool_size)

    @property
    def path(self) -> Path:
        """SQLite's file: a PostgreSQL database has none (name it with :attr:`where`)."""
        raise DatabaseError(f"{self.where} is a PostgreSQL database, not a file")

    @property
    def where(self) -> str:
        """The server and database, without the password."""
        return str(self._target)

    @property
    def schema_version(self) -> int:
        return self._schema_version

    @property
    def closed(self) -> bool:
        return self._pool is None

    @property
    def skip_locked(self) -> str:
        return self.dialect.skip_locked

    def _pool_live(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseClosed("the database is closed")
        return self._pool

    def _text(self, sql: str) -> str:
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = placeholders(sql)
        return text

    def _refuse_reentry(self) -> None:
        # As on SQLite: a read or a second transaction from inside a transaction would not
        # see its uncommitted writes here (and would deadlock there); fail loudly in both.
        if asyncio.current_task() in self._writers:
            raise RuntimeError(
                "already inside a transaction: use the Transaction object (or tx.savepoint())"
            )

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """BEGIN, the write lock, … COMMIT; ROLLBACK if the block raises."""
        self._refuse_reentry()
        return self._pg_transaction()

    @asynccontextmanager
    async def _pg_transaction(self) -> AsyncIterator[Transaction]:
        task = asyncio.current_task()
        assert task is not None
        async with self._pool_live().acquire() as conn:
            try:
                # One round trip: the simple-query protocol runs the three together.
                await conn.execute(
                    f"BEGIN; SET LOCAL lock_timeout = {self._lock_timeout_ms:d};"
                    f" SELECT pg_advisory_xact_lock({WRITE_LOCK:d})")
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                await _rollback(conn)
                raise translate(exc) from exc
            except BaseException:  # cancelled while waiting for the lock: end what BEGIN began
                await _rollback(conn)
                raise
            tx = PostgresTransaction(conn, self._sql)
            self._writers.add(task)
            try:
                yield tx
            except BaseException:
                tx._end()
                await _rollback(conn)
                raise
            else:
                tx._end()
                try:
                    await conn.execute("COMMIT")
                except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    await _rollback(conn)
                    raise translate(exc) from exc
            finally:
                self._writers.discard(task)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """One row in autocommit mode, on any pooled connection."""
        self._refuse_reentry()
        try:
            record = await self._pool_live().fetchrow(self._text(sql), *params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc
        return None if record is None else _row(record)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._refuse_reentry()
        try:
            records = await self._pool_live().fetch(self._text(sql), *params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc
        return [_row(r) for r in records]

    async def scan(self, sql: str, params: Params = ()) -> list[Row]:
        """A long read: on PostgreSQL it is a network round trip like any other."""
        return await self.fetchall(sql, params)

    async def close(self) -> None:
        """Wait for the running transactions (their connections' release), then close."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> PostgresDatabase:
        return self


async def _rollback(conn: _Conn) -> None:
    # Shielded: a cancelled caller must still leave the connection clean for the pool. A
    # connection that cannot roll back is closed, so the pool never hands it out again.
    try:
        await asyncio.shield(conn.execute("ROLLBACK"))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        log.error("rollback failed: %s", translate(exc))
        conn.terminate()
