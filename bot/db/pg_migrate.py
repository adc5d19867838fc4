"""PostgreSQL's numbered migrations (``bot/db/migrations_pg``) and the read-only look of
``sora-bot check``. The version history is a table, ``schema_version``: one row per applied
file. The first file is a baseline numbered like the SQLite step whose schema it creates at
once (see :func:`bot.db.migrate.load_migrations`), so one number means one schema on both
backends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

import asyncpg

from bot.db.errors import DatabaseError, MigrationError, SchemaTooNew
from bot.db.migrate import Migration, load_migrations
from bot.db.pg_text import Target, explain_connect, parse_url, translate

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn = PoolConnectionProxy[asyncpg.Record]

log = logging.getLogger(__name__)

#: The advisory lock every write transaction holds until it ends (and migrations too):
#: PostgreSQL's stand-in for SQLite's write lock. Any constant would do; this one spells "sora".
WRITE_LOCK = 0x736F7261


def load_pg_migrations() -> tuple[Migration, ...]:
    """The packaged ``bot/db/migrations_pg``: a baseline (everything SQLite's migrations up to
    its number produce), then one file per later step, numbered as SQLite's are."""
    return load_migrations(resources.files("bot.db").joinpath("migrations_pg"), baseline=True)


async def migrate(conn: _Conn, target: Target, known: Sequence[Migration]) -> int:
    """Apply every pending migration in ONE transaction, under the write lock (so two
    processes starting together migrate once); returns the resulting version."""
    newest = known[-1].version if known else 0
    try:
        async with conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK:d})")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            current = int(await conn.fetchval(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            if current > newest:
                raise SchemaTooNew(
                    f"{target}: database schema version {current} is newer than this bot "
                    f"knows (newest known: {newest}); run a newer release of the bot")
            if 0 < current < known[0].version:
                raise MigrationError(f"{target}: schema version {current} predates the "
                                     f"baseline {known[0].name}; it was not made by this bot")
            for migration in known:
                if migration.version <= current:
                    continue
                try:
                    # The whole file at once: PL/pgSQL bodies hold semicolons of their own.
                    await conn.execute(migration.sql)
                except asyncpg.PostgresError as exc:
                    raise MigrationError(f"migration {migration.name} failed: {translate(exc)}",
                                         code=str(exc.sqlstate or "")) from exc
                await conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at)"
                    " VALUES ($1, $2, to_char(now() AT TIME ZONE 'UTC',"
                    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'))",
                    migration.version, migration.name)
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseError(f"{target}: {translate(exc)}") from exc
    if newest > current:
        log.info("database %s migrated from schema %d to %d", target, current, newest)
    return max(current, newest)


async def inspect_postgres(url: str) -> str:
    """``sora-bot check`` on PostgreSQL: connect, read the schema version, write nothing."""
    target = parse_url(url)
    newest = load_pg_migrations()[-1].version
    try:
        conn = await asyncpg.connect(dsn=url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise explain_connect(target, exc) from None
    try:
        if await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
            version = int(await conn.fetchval(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        else:
            version = 0
    except asyncpg.PostgresError as exc:
        raise DatabaseError(f"{target}: {translate(exc)}") from None
    finally:
        await conn.close()
    if version > newest:
        raise SchemaTooNew(f"{target}: database schema version {version} is newer than this "
                           f"bot knows (newest known: {newest}); run a newer release of the bot")
    note = " (migrations to apply at the next start)" if version < newest else ""
    return f"database: ok ({target}), schema version {version}{note}"
