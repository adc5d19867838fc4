"""The balance rule of the ledger: what ``max_balance`` bounds, and how.

``balance + held <= max_balance`` for every guild, where *held* is the credits reserved by
jobs that may still come back: every reserve not refunded whose job has not been delivered
to the channel (a job that ended "undeliverable" still counts, since nobody saw its video).

Only what creates credits is checked: a grant, a set that raises the balance, and a refund of
a delivered video (a moderator's decision, so it is refused like a grant). A refund of held
credits, i.e. of a failed job, is never refused and cannot pass the limit: those credits were
counted all along. Reserves, deductions and deliveries only lower the sum. Counting held
credits is what closes the loop "reserve, grant back to the limit, refund, repeat", which
with uncapped refunds grew a balance without bound.

A balance above the limit (the operator lowered ``max_balance``, or an older release allowed
it) is left alone until it is spent. ``max_balance`` is at most ``MAX_AMOUNT`` (2**53 - 1;
config and the ledger refuse more), and the database refuses a larger balance too, so every
balance stays an exact integer for JSON consumers.

The ledger reads no table it does not own. Whether a job's video was delivered is the jobs
table's answer: the ledger declares the question (:class:`HeldJobs`), the jobs package, which
depends on the ledger, implements it (:class:`bot.jobs.store.JobDeliveries`), and bot/app.py
wires it in. The answer is an SQL condition, so it is evaluated inside the ledger's own
statement in the write transaction and cannot go stale.
"""

from __future__ import annotations

from typing import Protocol

from bot.db.database import Transaction
from bot.ledger.types import BalanceLimitExceeded


class HeldJobs(Protocol):
    """The owner of the jobs table's answer to "is this job's reserve still held?"."""

    def still_held(self, job_id: str) -> str:
        """SQL that is true unless the job whose id is the SQL expression ``job_id`` (a column
        of the ledger's query, never a value) reached its channel. A job the owner has no row
        for (yet) is still held: nobody can tell its fate."""
        ...


def _held_sql(jobs: HeldJobs) -> str:
    return (
        "SELECT COALESCE(SUM(-r.delta), 0) AS held FROM ledger_journal AS r"  # noqa: S608
        " WHERE r.guild_id = ? AND r.kind = 'reserve'"
        " AND NOT EXISTS (SELECT 1 FROM ledger_journal AS f"
        "   WHERE f.kind = 'refund' AND f.job_id = r.job_id)"
        f" AND {jobs.still_held('r.job_id')}"
    )


async def held(tx: Transaction, guild_id: int, jobs: HeldJobs) -> int:
    """Credits of ``guild_id`` reserved by jobs whose credits may still come back."""
    row = await tx.fetchone(_held_sql(jobs), (guild_id,))
    assert row is not None
    return int(row["held"])


async def is_held(tx: Transaction, job_id: str, jobs: HeldJobs) -> bool:
    """Whether the job's reserve is still counted as held (its video was not delivered)."""
    row = await tx.fetchone(
        f"SELECT {jobs.still_held('x.id')} AS held FROM (SELECT ? AS id) AS x", (job_id,)  # noqa: S608
    )
    assert row is not None
    return bool(row["held"])


async def check_limit(
    tx: Transaction, guild_id: int, balance: int, added: int, max_balance: int,
    jobs: HeldJobs,
) -> None:
    """Refuse (:class:`BalanceLimitExceeded`) to bring ``balance + added + held`` past the limit.

    Run inside the write transaction (``BEGIN IMMEDIATE``), so nothing read here goes stale.
    """
    in_jobs = await held(tx, guild_id, jobs)
    if balance + added + in_jobs > max_balance:
        raise BalanceLimitExceeded(
            balance=balance, requested=balance + added, max_balance=max_balance, held=in_jobs
        )
