"""Property tests of the ledger on real SQLite files: random operation sequences keep the books.

After every step: balance == sum(journal deltas), balance >= 0, the newest entry's balance_after
== balance, and the balance matches a plain-Python model of what should have happened.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
)

from bot.db.database import Database
from bot.jobs.store import JobDeliveries
from bot.ledger.store import Ledger
from bot.ledger.types import (
    AlreadyReserved,
    BalanceLimitExceeded,
    InsufficientCredits,
    InvalidAmount,
    LedgerError,
    NotReserved,
)
from tests.conftest_ledger import GUILD, OTHER_GUILD, journal_count, journal_sum
from tests.support.clock import FakeClock

#: The jobs table's answer to which reserves are still held (the bot wires the same).
HELD = JobDeliveries()

T = TypeVar("T")

MAX_BALANCE = 400
START = 50
GUILDS = st.sampled_from([GUILD, OTHER_GUILD])
AMOUNTS = st.integers(min_value=1, max_value=150)
BAD_AMOUNTS = st.one_of(
    st.integers(max_value=0),
    st.floats(allow_nan=True),
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=150).map(str),
    st.none(),
)


class LedgerMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-prop-"))
        self.loop = asyncio.new_event_loop()
        self.db = self.run(Database.open(self.folder / "ledger.sqlite3"))
        self.ledger = Ledger(
            self.db, held_jobs=HELD, max_balance=MAX_BALANCE, starting_credits=START,
            clock=FakeClock(tick=timedelta(milliseconds=1)),
        )
        self.model = {GUILD: START, OTHER_GUILD: START}
        self.reserved: dict[str, tuple[int, int]] = {}
        self.refunded: set[str] = set()
        self.job_counter = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.db.close())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def held(self, guild: int) -> int:
        """Reserved and not refunded: with no job rows here, every such reserve may come back."""
        return sum(
            amount for job, (owner, amount) in self.reserved.items()
            if owner == guild and job not in self.refunded
        )

    @rule(guild=GUILDS, amount=AMOUNTS)
    def grant(self, guild: int, amount: int) -> None:
        if self.model[guild] + amount + self.held(guild) > MAX_BALANCE:
            with pytest.raises(BalanceLimitExceeded):
                self.run(self.ledger.grant(guild, amount, actor="operator", reason=None))
            return
        entry = self.run(self.ledger.grant(guild, amount, actor="operator", reason=None))
        self.model[guild] += amount
        assert (entry.delta, entry.balance_after) == (amount, self.model[guild])

    @rule(guild=GUILDS, amount=AMOUNTS)
    def deduct(self, guild: int, amount: int) -> None:
        if amount > self.model[guild]:
            with pytest.raises(InsufficientCredits):
                self.run(self.ledger.deduct(guild, amount, actor="operator", reason=None))
            return
        entry = self.run(self.ledger.deduct(guild, amount, actor="operator", reason=None))
        self.model[guild] -= amount
        assert (entry.delta, entry.balance_after) == (-amount, self.model[guild])

    @rule(guild=GUILDS, amount=st.integers(min_value=0, max_value=MAX_BALANCE + 50))
    def set_balance(self, guild: int, amount: int) -> None:
        raising = amount > self.model[guild]
        if amount > MAX_BALANCE or (raising and amount + self.held(guild) > MAX_BALANCE):
            with pytest.raises(BalanceLimitExceeded):
                self.run(self.ledger.set(guild, amount, actor="operator", reason=None))
            return
        entry = self.run(self.ledger.set(guild, amount, actor="operator", reason=None))
        assert entry.delta == amount - self.model[guild]
        self.model[guild] = amount

    @rule(target=jobs, guild=GUILDS, amount=AMOUNTS)
    def reserve(self, guild: int, amount: int) -> Any:
        self.job_counter += 1
        job = f"job-{self.job_counter}"
        if amount > self.model[guild]:
            with pytest.raises(InsufficientCredits):
                self.run(self.ledger.reserve(guild, amount, job_id=job, actor="user:1"))
            return multiple()
        self.run(self.ledger.reserve(guild, amount, job_id=job, actor="user:1"))
        self.model[guild] -= amount
        self.reserved[job] = (guild, amount)
        return job

    @rule(job=jobs, guild=GUILDS, amount=AMOUNTS)
    def reserve_same_job_again(self, job: str, guild: int, amount: int) -> None:
        with pytest.raises(AlreadyReserved):
            self.run(self.ledger.reserve(guild, amount, job_id=job, actor="user:1"))

    @rule(job=jobs)
    def refund(self, job: str) -> None:
        entry = self.run(self.ledger.refund(job, actor="system", reason="failed"))
        if job in self.refunded:
            assert entry is None
            return
        guild, amount = self.reserved[job]
        self.model[guild] += amount
        self.refunded.add(job)
        assert entry is not None
        assert (entry.guild_id, entry.delta, entry.balance_after) == (
            guild,
            amount,
            self.model[guild],
        )

    @rule(job=consumes(jobs))
    def refund_twice_concurrently(self, job: str) -> None:
        async def both() -> list[Any]:
            return list(
                await asyncio.gather(
                    self.ledger.refund(job, actor="system", reason=None),
                    self.ledger.refund(job, actor="system", reason=None),
                )
            )

        results = self.run(both())
        expected = 0 if job in self.refunded else 1
        assert sum(r is not None for r in results) == expected
        if job not in self.refunded:
            guild, amount = self.reserved[job]
            self.model[guild] += amount
            self.refunded.add(job)

    @rule()
    def refund_unknown_job(self) -> None:
        with pytest.raises(NotReserved):
            self.run(self.ledger.refund("never-reserved", actor="system", reason=None))

    @rule(
        guild=GUILDS,
        amount=BAD_AMOUNTS,
        operation=st.sampled_from(["grant", "deduct", "set", "reserve"]),
    )
    def bad_amount(self, guild: int, amount: object, operation: str) -> None:
        if operation == "set" and type(amount) is int and amount == 0:
            return  # a valid target for set, covered by set_balance
        value: Any = amount  # deliberately ill-typed
        before = self.run(journal_count(self.db))
        calls: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
            "grant": lambda: self.ledger.grant(guild, value, actor="o", reason=None),
            "deduct": lambda: self.ledger.deduct(guild, value, actor="o", reason=None),
            "set": lambda: self.ledger.set(guild, value, actor="o", reason=None),
            "reserve": lambda: self.ledger.reserve(guild, value, job_id="bad", actor="o"),
        }
        with pytest.raises(InvalidAmount):
            self.run(calls[operation]())
        assert self.run(journal_count(self.db)) == before

    @invariant()
    def books_balance(self) -> None:
        for guild, expected in self.model.items():
            assert expected + self.held(guild) <= MAX_BALANCE
            balance = self.run(self.ledger.balance(guild))
            assert balance == expected >= 0
            assert self.run(journal_sum(self.db, guild)) == balance
            [newest] = self.run(self.ledger.history(guild, limit=1))
            assert newest.balance_after == balance


TestLedgerStateMachine = LedgerMachine.TestCase
TestLedgerStateMachine.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["grant", "deduct", "reserve", "refund"]), AMOUNTS),
    min_size=1,
    max_size=40,
)


async def _run_concurrently(folder: Path, operations: list[tuple[str, int]]) -> None:
    path = folder / "ledger.sqlite3"
    dbs = [await Database.open(path, busy_timeout_ms=30_000) for _ in range(2)]
    try:
        ledgers = [Ledger(d, held_jobs=HELD, max_balance=MAX_BALANCE, starting_credits=START)
                   for d in dbs]

        async def apply(index: int, op: str, amount: int) -> None:
            ledger = ledgers[index % 2]
            # Each refund targets the reserve made by the operation just before it (if any).
            job = f"job-{index - 1}" if op == "refund" else f"job-{index}"
            try:
                if op == "grant":
                    await ledger.grant(GUILD, amount, actor="operator", reason=None)
                elif op == "deduct":
                    await ledger.deduct(GUILD, amount, actor="operator", reason=None)
                elif op == "reserve":
                    await ledger.reserve(GUILD, amount, job_id=job, actor="user:1")
                else:
                    await ledger.refund(job, actor="system", reason=None)
            except LedgerError:
                pass  # refusals are fine; the books must balance regardless

        await asyncio.gather(*(apply(i, op, amt) for i, (op, amt) in enumerate(operations)))
        balance = await ledgers[0].balance(GUILD)
        assert 0 <= balance <= MAX_BALANCE + sum(a for _, a in operations)
        assert balance == await journal_sum(dbs[0], GUILD)
        [newest] = await ledgers[1].history(GUILD, limit=1)
        assert newest.balance_after == balance
        refunds = await journal_count(dbs[0], kind="refund")
        reserves = await journal_count(dbs[0], kind="reserve")
        assert refunds <= reserves
    finally:
        for d in dbs:
            await d.close()


@settings(max_examples=25, deadline=None)
@given(operations=OPERATIONS)
def test_concurrent_random_operations_keep_the_books(operations: list[tuple[str, int]]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ledger-conc-"))
    try:
        asyncio.run(_run_concurrently(folder, operations))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
