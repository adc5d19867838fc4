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

This is the one place the ledger reads a table it does not own: whether a job was delivered
(``jobs.state``, ``jobs.delivery_mode``), inside the write transaction. The jobs package
depends on the ledger, so the ledger cannot ask it; a delivery entry in the journal would end
this, but changes what the journal holds.
"""

from __future__ import annotations

from bot.db.database import Transaction
from bot.ledger.types import BalanceLimitExceeded

# A reserve whose job row does not exist (yet) counts: the ledger cannot tell its fate.
_HELD = (
    "SELECT COALESCE(SUM(-r.delta), 0) AS held FROM ledger_journal AS r"
    " LEFT JOIN jobs AS j ON j.id = r.job_id"
    " WHERE r.guild_id = ? AND r.kind = 'reserve'"
    " AND NOT EXISTS (SELECT 1 FROM ledger_journal AS f"
    "   WHERE f.kind = 'refund' AND f.job_id = r.job_id)"
    " AND NOT (j.state IS 'delivered' AND j.delivery_mode IS NOT 'undeliverable')"
)


async def held(tx: Transaction, guild_id: int) -> int:
    """Credits of ``guild_id`` reserved by jobs whose credits may still come back."""
    row = await tx.fetchone(_HELD, (guild_id,))
    assert row is not None
    return int(row["held"])


async def is_held(tx: Transaction, job_id: str) -> bool:
    """Whether the job's reserve is still counted as held (its video was not delivered)."""
    row = await tx.fetchone(
        "SELECT 1 FROM jobs WHERE id = ? AND state = 'delivered'"
        " AND delivery_mode IS NOT 'undeliverable'",
        (job_id,),
    )
    return row is None


async def check_limit(
    tx: Transaction, guild_id: int, balance: int, added: int, max_balance: int
) -> None:
    """Refuse (:class:`BalanceLimitExceeded`) to bring ``balance + added + held`` past the limit.

    Run inside the write transaction (``BEGIN IMMEDIATE``), so nothing read here goes stale.
    """
    in_jobs = await held(tx, guild_id)
    if balance + added + in_jobs > max_balance:
        raise BalanceLimitExceeded(
            balance=balance, requested=balance + added, max_balance=max_balance, held=in_jobs
        )
