"""BudgetService on a real SQLite file: every change journaled with who and why, audited in
the same transaction, minting policy, refused amounts, moderator refunds and the summary."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from bot.audit.trail import AuditLog
from bot.budget import (
    BudgetService,
    DeductBelowZero,
    MintingNotAllowed,
    RefundRefused,
    period_starts,
)
from bot.config import Settings
from bot.db.database import Database, Transaction
from bot.jobs.model import FailureKind, Job
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from bot.ledger.types import (
    MAX_AMOUNT,
    BalanceLimitExceeded,
    EntryKind,
    InvalidAmount,
    InvalidArgument,
    JournalEntry,
)
from tests.support.clock import T0, FakeClock
from tests.support.stores import make_job, settings_with

GUILD = 111_111_111_111_111_111
OTHER_GUILD = 222_222_222_222_222_222
MOD = 333_333_333_333_333_333
MEMBER = 444_444_444_444_444_444
START = 100
MAX_BALANCE = 10_000

new_job = partial(make_job, guild_id=GUILD, user_id=MEMBER, price=10)


class FailingAudit(AuditLog):
    """Writes its event, then fails: the whole change must roll back with it."""

    async def ledger_change(
        self, tx: Transaction, entry: JournalEntry, *, job_user_id: int | None = None
    ) -> int:
        await super().ledger_change(tx, entry, job_user_id=job_user_id)
        raise RuntimeError("audit outbox unavailable")


@pytest.fixture
def settings() -> Settings:
    return settings_with(ledger={"starting_credits": START, "max_balance": MAX_BALANCE})


async def delivered_job(jobs: JobStore, price: int = 10, guild: int = GUILD) -> Job:
    job = await jobs.create(new_job(price=price, guild_id=guild), max_per_guild=10,
                            max_per_member=10)
    assert await jobs.mark_submitted(job.id, f"af-{job.id}", T0)
    assert await jobs.mark_completed(job.id, "https://cdn.example/v.mp4")
    done = await jobs.mark_delivered(job.id, "attachment", 99)
    assert done is not None
    return done


async def journal(db: Database, guild: int = GUILD) -> list[dict[str, Any]]:
    return await db.fetchall(
        "SELECT kind, delta, balance_after, actor, reason, job_id FROM ledger_journal"
        " WHERE guild_id = ? ORDER BY id",
        (guild,),
    )


async def event_texts(audit: AuditLog, guild: int = GUILD) -> list[str]:
    return [event.text for event in await audit.events(guild)]


async def test_each_change_is_journaled_with_moderator_and_reason_and_audited_once(
    budget: BudgetService, db: Database, audit: AuditLog
) -> None:
    granted = await budget.grant(GUILD, 50, actor_id=MOD, can_mint=True, reason="event prize")
    deducted = await budget.deduct(GUILD, 30, actor_id=MOD, can_mint=True, reason="misuse")
    set_to = await budget.set(GUILD, 500, actor_id=MOD, can_mint=True, reason="new month")

    assert (granted.delta, granted.balance_after) == (50, 150)
    assert (deducted.delta, deducted.balance_after) == (-30, 120)
    assert (set_to.delta, set_to.balance_after) == (380, 500)
    rows = await journal(db)
    assert [(r["kind"], r["delta"], r["actor"], r["reason"]) for r in rows] == [
        ("initial", START, "system", "starting credits"),
        ("grant", 50, f"user:{MOD}", "event prize"),
        ("deduct", -30, f"user:{MOD}", "misuse"),
        ("set", 380, f"user:{MOD}", "new month"),
    ]
    texts = await event_texts(audit)
    assert len(texts) == 3
    for text, (amount, reason, after) in zip(
        texts, [("50", "event prize", 150), ("30", "misuse", 120), ("500", "new month", 500)],
        strict=True,
    ):
        assert f"<@{MOD}>" in text and amount in text and reason in text
        assert text.endswith(f"Balance: {after}.")
    assert texts[0].startswith(f"➕ <@{MOD}> granted 50 credits.")
    assert texts[1].startswith(f"➖ <@{MOD}> deducted 30 credits.")
    assert texts[2].startswith(f"✏️ <@{MOD}> set the balance to 500 (+380).")


async def test_the_operator_is_journaled_as_operator(
    budget: BudgetService, db: Database, audit: AuditLog
) -> None:
    entry = await budget.grant(GUILD, 7, actor_id=None, can_mint=True, reason="top-up")

    assert entry.actor == "operator"
    assert (await event_texts(audit))[0].startswith("➕ The bot operator granted 7 credits.")


@pytest.mark.parametrize("operation", ["grant", "deduct", "set"])
async def test_a_failing_audit_write_rolls_the_ledger_change_back(
    db: Database, ledger: Ledger, jobs: JobStore, clock: FakeClock, settings: Settings,
    operation: str
) -> None:
    failing = FailingAudit(db, clock)
    budget = BudgetService(db, ledger, failing, jobs, settings, clock)
    await ledger.balance(GUILD)  # the starting grant exists before the attempt
    before = await journal(db)

    with pytest.raises(RuntimeError, match="audit outbox unavailable"):
        await getattr(budget, operation)(GUILD, 40, actor_id=MOD, can_mint=True, reason="r")

    assert await journal(db) == before
    assert await ledger.balance(GUILD) == START
    assert await failing.events(GUILD) == []


async def test_without_minting_grant_and_set_upward_are_refused(
    budget: BudgetService, db: Database, audit: AuditLog
) -> None:
    with pytest.raises(MintingNotAllowed, match="Only the bot's owner can create credits"):
        await budget.grant(GUILD, 5, actor_id=MOD, can_mint=False, reason="please")
    with pytest.raises(MintingNotAllowed):
        await budget.set(GUILD, START + 1, actor_id=MOD, can_mint=False, reason="please")
    assert [r["kind"] for r in await journal(db)] in ([], ["initial"])
    assert await audit.events(GUILD) == []

    same = await budget.set(GUILD, START, actor_id=MOD, can_mint=False, reason="no change")
    lower = await budget.set(GUILD, 60, actor_id=MOD, can_mint=False, reason="trim")
    taken = await budget.deduct(GUILD, 10, actor_id=MOD, can_mint=False, reason="trim more")

    assert (same.delta, lower.delta, taken.delta) == (0, -40, -10)
    assert taken.balance_after == 50
    assert len(await audit.events(GUILD)) == 3


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None, MAX_AMOUNT + 1])
@pytest.mark.parametrize("operation", ["grant", "deduct"])
async def test_amounts_that_are_not_positive_whole_numbers_are_refused(
    budget: BudgetService, db: Database, audit: AuditLog, operation: str, amount: Any
) -> None:
    with pytest.raises(InvalidAmount, match="Amount must"):
        await getattr(budget, operation)(GUILD, amount, actor_id=MOD, can_mint=True,
                                         reason="r")
    assert [r["kind"] for r in await journal(db)] in ([], ["initial"])
    assert await audit.events(GUILD) == []


@pytest.mark.parametrize("amount", [-1, 2.0, "5", MAX_AMOUNT + 1])
async def test_set_refuses_negative_and_non_integer_amounts(
    budget: BudgetService, db: Database, amount: Any
) -> None:
    with pytest.raises(InvalidAmount):
        await budget.set(GUILD, amount, actor_id=MOD, can_mint=True, reason="r")
    assert [r["kind"] for r in await journal(db)] in ([], ["initial"])


async def test_the_maximum_balance_bounds_grant_and_set(
    budget: BudgetService, ledger: Ledger, audit: AuditLog
) -> None:
    with pytest.raises(BalanceLimitExceeded, match=f"above the limit of {MAX_BALANCE}"):
        await budget.grant(GUILD, MAX_BALANCE - START + 1, actor_id=MOD, can_mint=True,
                           reason="r")
    with pytest.raises(BalanceLimitExceeded):
        await budget.set(GUILD, MAX_BALANCE + 1, actor_id=MOD, can_mint=True, reason="r")
    assert await ledger.balance(GUILD) == START
    assert await audit.events(GUILD) == []

    top = await budget.set(GUILD, MAX_BALANCE, actor_id=MOD, can_mint=True, reason="fill")
    assert top.balance_after == MAX_BALANCE


async def test_a_deduct_below_zero_is_refused_not_clipped(
    budget: BudgetService, ledger: Ledger, audit: AuditLog
) -> None:
    with pytest.raises(DeductBelowZero, match=f"Cannot deduct {START + 1} credits") as caught:
        await budget.deduct(GUILD, START + 1, actor_id=MOD, can_mint=True, reason="r")
    assert "only has 100" in str(caught.value)
    assert isinstance(caught.value, InvalidAmount)
    assert await ledger.balance(GUILD) == START
    assert await audit.events(GUILD) == []

    emptied = await budget.deduct(GUILD, START, actor_id=MOD, can_mint=True, reason="all")
    assert emptied.balance_after == 0


@pytest.mark.parametrize("reason", ["", "   ", None])
async def test_a_reason_is_required(budget: BudgetService, reason: Any) -> None:
    with pytest.raises(InvalidArgument, match="Reason must not be empty"):
        await budget.grant(GUILD, 5, actor_id=MOD, can_mint=True, reason=reason)


async def test_a_delivered_job_is_refunded_once_with_an_audit_event(
    budget: BudgetService, jobs: JobStore, ledger: Ledger, audit: AuditLog, db: Database
) -> None:
    job = await delivered_job(jobs, price=25)
    assert await ledger.balance(GUILD) == START - 25

    entry = await budget.refund_job(GUILD, job.id, actor_id=MOD, reason="bad result")

    assert (entry.kind, entry.delta, entry.job_id, entry.balance_after) == (
        EntryKind.REFUND, 25, job.id, START)
    assert entry.actor == f"user:{MOD}" and entry.reason == "bad result"
    with pytest.raises(RefundRefused, match="already refunded"):
        await budget.refund_job(GUILD, job.id, actor_id=MOD, reason="again")
    assert await ledger.balance(GUILD) == START
    assert [r["kind"] for r in await journal(db)].count("refund") == 1
    texts = await event_texts(audit)
    refunds = [t for t in texts if "refunded 25 credits" in t]
    assert refunds == [
        f"↩️ <@{MOD}> refunded 25 credits for job `{job.id}` (requested by <@{MEMBER}>)."
        f" Reason: bad result. Balance: {START}."
    ]


async def test_only_finished_jobs_of_the_guild_can_be_refunded(
    budget: BudgetService, jobs: JobStore, ledger: Ledger
) -> None:
    running = await jobs.create(new_job(price=5), max_per_guild=10, max_per_member=10)
    other = await delivered_job(jobs, price=5, guild=OTHER_GUILD)
    failed = await jobs.create(new_job(price=5), max_per_guild=10, max_per_member=10)
    marked = await jobs.mark_failed(failed.id, FailureKind.PROVIDER_ERROR, "boom")
    assert marked is not None and await jobs.refund(marked) is not None

    with pytest.raises(RefundRefused, match="has not finished yet"):
        await budget.refund_job(GUILD, running.id, actor_id=MOD, reason="r")
    with pytest.raises(RefundRefused, match="no job"):
        await budget.refund_job(GUILD, other.id, actor_id=MOD, reason="r")
    with pytest.raises(RefundRefused, match="no job"):
        await budget.refund_job(GUILD, "not-a-job", actor_id=MOD, reason="r")
    with pytest.raises(RefundRefused, match="already refunded"):
        await budget.refund_job(GUILD, failed.id, actor_id=MOD, reason="r")
    assert await ledger.balance(GUILD) == START - 5
    assert await ledger.balance(OTHER_GUILD) == START - 5


async def test_job_start_delivery_and_failure_refund_are_audited(
    jobs: JobStore, audit: AuditLog
) -> None:
    done = await delivered_job(jobs, price=10)
    failed = await jobs.create(new_job(price=7), max_per_guild=10, max_per_member=10)
    marked = await jobs.mark_failed(failed.id, FailureKind.TIMEOUT, "slow")
    assert marked is not None and await jobs.refund(marked) is not None
    assert await jobs.refund(marked) is None  # a second refund changes nothing, audits nothing

    assert await event_texts(audit) == [
        f"🎬 <@{MEMBER}> started job `{done.id}` (sora-2-pro, standard, 4 s): -10 credits. "
        "Balance: 90.",
        f"✅ Job `{done.id}` of <@{MEMBER}> (sora-2-pro) finished and was delivered "
        "(attachment); it cost 10 credits.",
        f"🎬 <@{MEMBER}> started job `{failed.id}` (sora-2-pro, standard, 4 s): -7 credits. "
        "Balance: 83.",
        f"↩️ Job `{failed.id}` of <@{MEMBER}> failed (timeout): 7 credits refunded. "
        "Balance: 90.",
    ]
    # A repeated delivery does not transition, so it is not audited again.
    assert await jobs.mark_delivered(done.id, "attachment", 99) is None
    assert len(await audit.events(GUILD)) == 4


async def test_a_refused_job_leaves_no_audit_event(jobs: JobStore, audit: AuditLog) -> None:
    with pytest.raises(Exception, match="credits"):
        await jobs.create(new_job(price=START + 1), max_per_guild=10, max_per_member=10)
    assert await audit.events(GUILD) == []


async def test_summary_counts_spending_per_period_without_refunded_jobs(
    budget: BudgetService, jobs: JobStore, clock: FakeClock
) -> None:
    day, week, month = period_starts(T0)
    assert (day.day, week.day, month.day) == (24, 23, 1)

    clock.now = T0.replace(day=2)  # earlier this month, before this week
    await delivered_job(jobs, price=3)
    clock.now = T0 - timedelta(days=1)  # Monday: this week, not today
    await delivered_job(jobs, price=5)
    clock.now = T0.replace(month=10)  # last month: not counted at all
    await delivered_job(jobs, price=11)
    clock.now = T0
    await delivered_job(jobs, price=7)
    refunded = await delivered_job(jobs, price=13)
    await budget.refund_job(GUILD, refunded.id, actor_id=MOD, reason="r")
    await jobs.create(new_job(price=2), max_per_guild=10, max_per_member=10)

    summary = await budget.summary(GUILD)

    assert summary.balance == START - (3 + 5 + 11 + 7 + 2)
    assert (summary.spent_today, summary.spent_week, summary.spent_month) == (9, 14, 17)
    assert summary.running_jobs == 1
    assert (await budget.summary(OTHER_GUILD)).balance == START
