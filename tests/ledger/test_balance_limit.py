"""``max_balance`` is an invariant: no mix of grants, sets, jobs and refunds passes it.

On a real SQLite file, through the real JobStore and BudgetService: a minting moderator who
reserves, grants back to the limit and lets the job fail (refund) must never end above
``max_balance``, while a failed job's refund is never refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
)

from bot.budget import DeductBelowZero
from bot.config import ConfigError, Settings, parse_settings
from bot.db.database import ConstraintViolation, Database
from bot.jobs.model import FailureKind, Job
from bot.ledger.types import MAX_AMOUNT, BalanceLimitExceeded, InsufficientCredits
from tests.conftest_ledger import GUILD, raw_connect
from tests.support.clock import T0, FakeClock
from tests.support.stores import build_stores, make_job

T = TypeVar("T")

MAX_BALANCE = 400
START = 50
MOD = 333_333_333_333_333_333
PRICES = st.integers(min_value=1, max_value=150)


def limited_settings() -> Settings:
    return parse_settings({
        "discord": {"token": "t"}, "apiframe": {"api_key": "afk_test"},
        "ledger": {"starting_credits": START, "max_balance": MAX_BALANCE},
    }, env={})


class Books:
    """The services of one guild on one real database file."""

    def __init__(self, db: Database) -> None:
        stores = build_stores(db, limited_settings(), FakeClock())
        self.db, self.ledger, self.jobs, self.budget = (
            db, stores.ledger, stores.jobs, stores.budget)

    async def launch(self, price: int) -> Job:
        return await self.jobs.create(make_job(guild_id=GUILD, user_id=7, price=price),
                                      max_per_guild=1000, max_per_member=1000)

    async def fail_and_refund(self, job: Job) -> Job | None:
        failed = await self.jobs.mark_failed(job.id, FailureKind.PROVIDER_ERROR, "boom")
        assert failed is not None
        return await self.jobs.refund(failed)

    async def deliver(self, job: Job, mode: str) -> None:
        assert await self.jobs.mark_submitted(job.id, f"af-{job.id}", T0)
        assert await self.jobs.mark_completed(job.id, "https://cdn.example/v.mp4")
        assert await self.jobs.mark_delivered(job.id, mode, 99 if mode != "undeliverable" else None)

    async def grant_to_cap(self) -> None:
        """Grant whatever brings the balance back to ``max_balance``, as the abuse would."""
        gap = MAX_BALANCE - await self.ledger.balance(GUILD)
        if gap > 0:
            # Refused while running jobs hold credits: they count against the limit.
            with contextlib.suppress(BalanceLimitExceeded):
                await self.budget.grant(GUILD, gap, actor_id=MOD, can_mint=True, reason="top up")

    async def held(self) -> int:
        """Credits of jobs not refunded whose video nobody saw, by the jobs' own rows."""
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(price), 0) AS held FROM jobs WHERE guild_id = ?"
            " AND id NOT IN (SELECT job_id FROM ledger_journal WHERE kind = 'refund')"
            " AND NOT (state = 'delivered' AND delivery_mode != 'undeliverable')",
            (GUILD,),
        )
        assert row is not None
        return int(row["held"])


async def test_the_reserve_grant_refund_loop_stays_within_max_balance(db: Database) -> None:
    books = Books(db)
    await books.budget.set(GUILD, MAX_BALANCE, actor_id=MOD, can_mint=True, reason="fill")
    for _ in range(5):
        job = await books.launch(40)
        await books.grant_to_cap()
        refunded = await books.fail_and_refund(job)
        assert refunded is not None, "a failed job's refund is never refused"
        assert await books.ledger.balance(GUILD) <= MAX_BALANCE
    assert await books.ledger.balance(GUILD) == MAX_BALANCE


async def test_a_grant_refused_for_held_credits_says_why(db: Database) -> None:
    books = Books(db)
    await books.budget.set(GUILD, MAX_BALANCE, actor_id=MOD, can_mint=True, reason="fill")
    await books.launch(30)
    with pytest.raises(BalanceLimitExceeded) as caught:
        await books.budget.grant(GUILD, 30, actor_id=MOD, can_mint=True, reason="top up")
    assert caught.value.held == 30
    assert str(caught.value) == (
        "That would bring the balance to 400 credits plus 30 held by videos in progress, "
        "which come back if they fail, above the limit of 400 (current balance: 370)."
    )
    with pytest.raises(BalanceLimitExceeded):
        await books.budget.set(GUILD, MAX_BALANCE, actor_id=MOD, can_mint=True, reason="x")
    # Lowering is always allowed.
    await books.budget.set(GUILD, 10, actor_id=MOD, can_mint=True, reason="lower")


async def test_refunding_a_delivered_video_is_refused_like_a_grant_at_the_limit(
    db: Database,
) -> None:
    books = Books(db)
    job = await books.launch(40)
    await books.deliver(job, "attachment")
    await books.grant_to_cap()
    with pytest.raises(BalanceLimitExceeded):
        await books.budget.refund_job(GUILD, job.id, actor_id=MOD, reason="bad video")
    await books.budget.deduct(GUILD, 40, actor_id=MOD, can_mint=True, reason="make room")
    entry = await books.budget.refund_job(GUILD, job.id, actor_id=MOD, reason="bad video")
    assert entry.balance_after == MAX_BALANCE


async def test_an_undeliverable_job_still_holds_its_credits(db: Database) -> None:
    books = Books(db)
    job = await books.launch(40)
    await books.deliver(job, "undeliverable")
    with pytest.raises(BalanceLimitExceeded):
        await books.budget.set(GUILD, MAX_BALANCE - 39, actor_id=MOD, can_mint=True, reason="x")
    await books.budget.set(GUILD, MAX_BALANCE - 40, actor_id=MOD, can_mint=True, reason="x")
    entry = await books.budget.refund_job(GUILD, job.id, actor_id=MOD, reason="never shown")
    assert entry.balance_after == MAX_BALANCE


def test_config_refuses_a_max_balance_beyond_json_safe_integers() -> None:
    with pytest.raises(ConfigError, match=r"^ledger\.max_balance: ") as caught:
        parse_settings({
            "discord": {"token": "t"}, "apiframe": {"api_key": "afk_test"},
            "ledger": {"max_balance": MAX_AMOUNT + 1},
        }, env={})
    assert "\n" not in str(caught.value)


async def test_the_database_refuses_a_balance_beyond_json_safe_integers(
    db: Database, tmp_path: Path, backend: str
) -> None:
    await Books(db).ledger.balance(GUILD)
    if backend == "sqlite":
        conn = raw_connect(tmp_path / "store.sqlite3")
        try:
            with pytest.raises(sqlite3.IntegrityError, match="2\\*\\*53"):
                conn.execute("UPDATE guild_balances SET balance = ? WHERE guild_id = ?",
                             (MAX_AMOUNT + 1, GUILD))
        finally:
            conn.close()
    with pytest.raises(ConstraintViolation, match=r"2\*\*53|json_safe"):
        async with db.transaction() as tx:
            await tx.execute("UPDATE guild_balances SET balance = ? WHERE guild_id = ?",
                             (MAX_AMOUNT + 1, GUILD))
    with pytest.raises(ConstraintViolation):
        async with db.transaction() as tx:
            await tx.execute("UPDATE guild_balances SET balance = ? WHERE guild_id = ?",
                             (2**62, GUILD))


class BalanceLimitMachine(RuleBasedStateMachine):
    """Random moderator and job activity; the limit and the books hold after every step."""

    running = Bundle("running")
    delivered = Bundle("delivered")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="balance-limit-"))
        self.loop = asyncio.new_event_loop()
        self.db = self.run(Database.open(self.folder / "ledger.sqlite3"))
        self.books = Books(self.db)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.db.close())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(target=running, price=PRICES)
    def launch(self, price: int) -> Any:
        try:
            return self.run(self.books.launch(price))
        except InsufficientCredits:
            return multiple()

    @rule()
    def grant_to_cap(self) -> None:
        self.run(self.books.grant_to_cap())

    @rule(amount=PRICES)
    def grant(self, amount: int) -> None:
        with contextlib.suppress(BalanceLimitExceeded):
            self.run(self.books.budget.grant(GUILD, amount, actor_id=MOD, can_mint=True,
                                             reason="grant"))

    @rule(amount=st.integers(min_value=0, max_value=MAX_BALANCE + 50))
    def set_balance(self, amount: int) -> None:
        with contextlib.suppress(BalanceLimitExceeded):
            self.run(self.books.budget.set(GUILD, amount, actor_id=MOD, can_mint=True,
                                           reason="set"))

    @rule(amount=PRICES)
    def deduct(self, amount: int) -> None:
        with contextlib.suppress(DeductBelowZero):
            self.run(self.books.budget.deduct(GUILD, amount, actor_id=MOD, can_mint=True,
                                              reason="deduct"))

    @rule(job=consumes(running))
    def fail(self, job: Job) -> None:
        assert self.run(self.books.fail_and_refund(job)) is not None, "refund refused"

    @rule(target=delivered, job=consumes(running),
          mode=st.sampled_from(["attachment", "link", "undeliverable"]))
    def deliver(self, job: Job, mode: str) -> Job:
        self.run(self.books.deliver(job, mode))
        return job

    @rule(job=consumes(delivered))
    def moderator_refund(self, job: Job) -> None:
        with contextlib.suppress(BalanceLimitExceeded):
            self.run(self.books.budget.refund_job(GUILD, job.id, actor_id=MOD, reason="sorry"))

    @invariant()
    def within_the_limit(self) -> None:
        balance = self.run(self.books.ledger.balance(GUILD))
        held = self.run(self.books.held())
        assert 0 <= balance <= MAX_BALANCE
        assert balance + held <= MAX_BALANCE
        row = self.run(self.db.fetchone(
            "SELECT COALESCE(SUM(delta), 0) AS total FROM ledger_journal WHERE guild_id = ?",
            (GUILD,),
        ))
        assert row is not None and int(row["total"]) == balance


TestBalanceLimitMachine = BalanceLimitMachine.TestCase
TestBalanceLimitMachine.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
