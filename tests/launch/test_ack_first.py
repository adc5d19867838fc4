"""Acknowledge first (bot/launch/priority.py): the slow work behind an acknowledgement waits
while other interactions are still being acknowledged, but never longer than its bound."""

from __future__ import annotations

import asyncio

from bot.launch.priority import AckFirst


async def test_settle_is_immediate_when_nobody_is_being_acknowledged() -> None:
    first = AckFirst(max_wait=5)
    await asyncio.wait_for(first.settle(), 0.5)


async def test_settle_waits_for_the_last_acknowledgement_under_way() -> None:
    first = AckFirst(max_wait=5)
    order: list[str] = []
    release = [asyncio.Event(), asyncio.Event()]

    async def acknowledging(n: int) -> None:
        with first.acknowledging():
            await release[n].wait()
            order.append(f"ack {n}")

    tasks = [asyncio.create_task(acknowledging(n)) for n in (0, 1)]
    await asyncio.sleep(0)

    async def work() -> None:
        await first.settle()
        order.append("work")

    worker = asyncio.create_task(work())
    release[0].set()
    await asyncio.sleep(0.05)
    assert order == ["ack 0"]  # one acknowledgement still under way: the work waits
    release[1].set()
    await asyncio.wait_for(asyncio.gather(worker, *tasks), 1)
    assert order == ["ack 0", "ack 1", "work"]


async def test_a_stream_of_acknowledgements_cannot_starve_the_work() -> None:
    first = AckFirst(max_wait=0.1)
    never = asyncio.Event()

    async def stuck() -> None:
        with first.acknowledging():
            await never.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(first.settle(), 1)
    assert loop.time() - started >= 0.09
    task.cancel()
