"""Shared helpers for the db and ledger tests (a plain module: pytest does not auto-load it)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from bot.db.database import Database
from bot.db.postgres import PostgresDatabase
from bot.jobs.store import JobDeliveries
from bot.ledger.store import Ledger
from bot.ledger.types import InsufficientCredits

#: The jobs table's answer to which reserves are still held (the bot wires the same).
HELD = JobDeliveries()

GUILD = 111_111_111_111_111_111
OTHER_GUILD = 222_222_222_222_222_222


def raw_connect(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection that bypasses bot.db.database, to check what is really on disk."""
    return sqlite3.connect(path, isolation_level=None)


async def journal_sum(db: Database, guild_id: int) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) AS total FROM ledger_journal WHERE guild_id = ?",
        (guild_id,),
    )
    assert row is not None
    return int(row["total"])


async def journal_count(db: Database, **where: Any) -> int:
    clauses = " AND ".join(f"{column} = ?" for column in where) or "1 = 1"
    row = await db.fetchone(
        f"SELECT COUNT(*) AS n FROM ledger_journal WHERE {clauses}",  # noqa: S608
        tuple(where.values()),
    )
    assert row is not None
    return int(row["n"])


async def stored_balance(db: Database, guild_id: int) -> int | None:
    row = await db.fetchone("SELECT balance FROM guild_balances WHERE guild_id = ?", (guild_id,))
    return None if row is None else int(row["balance"])


async def try_reserve(ledger: Ledger, guild_id: int, amount: int, job_id: str) -> bool:
    try:
        await ledger.reserve(guild_id, amount, job_id=job_id, actor="user:1")
    except InsufficientCredits:
        return False
    return True


async def _reserve_many(target: str, prefix: str, count: int, amount: int, barrier: Any) -> int:
    # ``target``: a SQLite file, or a PostgreSQL URL.
    db = await (PostgresDatabase.connect(target, busy_timeout_ms=30_000)
                if target.startswith("postgresql://")
                else Database.open(Path(target), busy_timeout_ms=30_000))
    try:
        # Blocking on purpose: nothing else runs in this process, and every worker should
        # start hammering the file at the same moment.
        barrier.wait(timeout=60)
        ledger = Ledger(db, held_jobs=HELD, max_balance=1_000_000, starting_credits=0)
        results = await asyncio.gather(
            *(try_reserve(ledger, GUILD, amount, f"{prefix}-{i}") for i in range(count))
        )
    finally:
        await db.close()
    return sum(results)


def reserve_in_process(target: str, prefix: str, count: int, amount: int, barrier: Any) -> int:
    """Entry point of a worker process: open, wait for the others, then reserve concurrently
    (``target``: a SQLite file or a PostgreSQL URL)."""
    return asyncio.run(_reserve_many(target, prefix, count, amount, barrier))
