"""The one background loop (bot/duties.py): when each duty's passes run, alone and together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.duties import RETRY_SECONDS, Duties, Duty


@pytest.fixture
async def duties() -> AsyncIterator[Duties]:
    loop = Duties()
    loop.start()
    yield loop
    await loop.stop()


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def counting(passes: list[str], name: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        passes.append(name)

    return run


async def when_woken() -> float | None:
    return None


async def test_a_periodic_duty_runs_at_once_then_after_each_interval(duties: Duties) -> None:
    # Bounds far apart (a minute's interval against seconds of waiting), so a loaded machine
    # cannot make either assertion flaky: no timing is measured, only order.
    passes: list[str] = []
    duties.add(Duty.every("slow", 60.0, counting(passes, "slow")))
    await until(lambda: passes == ["slow"], timeout=10)  # at once, not after the interval
    await asyncio.sleep(0.1)
    assert passes == ["slow"]  # and not again before the interval
    duties.add(Duty.every("tick", 0.01, counting(passes, "tick")))
    await until(lambda: passes.count("tick") >= 3, timeout=10)  # again after each interval
    assert passes.count("slow") == 1


async def test_a_woken_duty_runs_now_and_a_wake_during_a_pass_runs_one_more(
    duties: Duties,
) -> None:
    passes: list[str] = []
    release = asyncio.Event()

    async def slow() -> None:
        passes.append("pass")
        await release.wait()
        release.clear()

    duties.add(Duty("queue", slow, when_woken))
    await until(lambda: passes == ["pass"])
    duties.wake("queue")
    duties.wake("queue")  # two wakes during one pass ask for one more pass, not two
    release.set()
    await until(lambda: passes == ["pass", "pass"])
    release.set()
    await asyncio.sleep(0.05)
    assert passes == ["pass", "pass"]  # nothing due until the next wake
    duties.wake("queue")
    await until(lambda: len(passes) == 3)
    release.set()


async def test_a_slow_or_failing_duty_holds_up_no_other(duties: Duties) -> None:
    passes: list[str] = []
    stuck = asyncio.Event()

    async def hangs() -> None:
        await stuck.wait()

    async def fails() -> None:
        passes.append("fail")
        raise RuntimeError("the database went away")

    async def soon() -> float:
        return 0.0

    loop = asyncio.get_running_loop()
    began = loop.time()
    duties.add(Duty("slow", hangs, when_woken))
    duties.add(Duty("broken", fails, soon))
    duties.add(Duty.every("tick", 0.02, counting(passes, "tick")))
    await until(lambda: passes.count("tick") >= 3)
    # The failing duty is retried after a pause (RETRY_SECONDS), not in a tight loop.
    assert 1 <= passes.count("fail") <= 1 + (loop.time() - began) // RETRY_SECONDS


async def test_removing_a_duty_cancels_its_pass_and_stops_its_passes(duties: Duties) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def long_pass() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    duties.add(Duty("long", long_pass, when_woken))
    await started.wait()
    await duties.remove("long")
    assert cancelled.is_set()
    duties.wake("long")  # unknown now: ignored
    duties.add(Duty("long", long_pass, when_woken))  # the name is free again


async def test_a_pass_cut_short_by_stop_is_due_at_once_after_start() -> None:
    duties, passes = Duties(), list[str]()
    entered = asyncio.Event()

    async def work() -> None:
        passes.append("pass")
        entered.set()
        await asyncio.sleep(60)

    duties.add(Duty("work", work, when_woken))
    duties.start()
    await entered.wait()
    await duties.stop()
    assert not duties.running
    duties.start()
    try:
        await until(lambda: len(passes) == 2)
    finally:
        await duties.stop()


async def test_a_name_is_registered_once() -> None:
    duties = Duties()
    duties.add(Duty.every("tick", 1.0, counting([], "tick")))
    with pytest.raises(ValueError, match="already registered"):
        duties.add(Duty.every("tick", 1.0, counting([], "tick")))
