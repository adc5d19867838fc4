"""Reads of the credit journal that other modules ask for (the ledger owns the table).

:func:`is_refunded` is SQL for another table's query, so that query stays one statement
inside the caller's transaction; :func:`spent` answers :meth:`bot.ledger.store.Ledger.spent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.clock import to_db_time
from bot.db.database import Database


def is_refunded(job_id: str) -> str:
    """SQL that is true when the job whose id is the SQL expression ``job_id`` was refunded.

    A job's price counts as paid until then: a job that failed but awaits its refund still
    counts, and a moderator's refund of a delivered video gives the room back.
    """
    # ``job_id`` is a column name from the caller's own SQL, never a value.
    return ("EXISTS (SELECT 1 FROM ledger_journal AS l"  # noqa: S608
            f" WHERE l.kind = 'refund' AND l.job_id = {job_id})")


async def spent(db: Database, guild_id: int, starts: Sequence[datetime]) -> tuple[int, ...]:
    """Credits the guild's jobs reserved since each of ``starts``, net of refunded jobs."""
    if not starts:
        raise ValueError("spent() needs at least one start")
    since = [to_db_time(start) for start in starts]
    sums = ", ".join(
        f"COALESCE(SUM(CASE WHEN r.created_at >= ? THEN -r.delta END), 0) AS s{i}"
        for i in range(len(since))
    )
    # Only the number of placeholders varies; every value is a bound parameter.
    row = await db.fetchone(
        f"SELECT {sums} FROM ledger_journal AS r"  # noqa: S608
        " WHERE r.guild_id = ? AND r.kind = 'reserve' AND r.created_at >= ?"
        f" AND NOT {is_refunded('r.job_id')}",
        (*since, guild_id, min(since)),
    )
    assert row is not None
    return tuple(int(row[f"s{i}"]) for i in range(len(since)))
