"""The one background loop: every duty of the bot (the job queue, the audit outbox, the hold
sweep) runs from here, with one wake-up Event and one wait until the earliest due.

A duty is a pass (``run``) and a question asked after each pass (``due_in``: how many seconds
until the next one; None waits for a wake). Each pass runs as its own task, never two of the
same duty at once, so a slow pass of one duty (a batch of audit posts) never holds up another
(the job queue). Delays are seconds on the event loop's monotonic clock, as ``asyncio.sleep``
measured them: the job queue converts its due times from the injected clock itself, and a test
that moves the bot's clock does not fire a periodic duty early.

Several processes may run this loop on one database. Most duties are safe everywhere (the job
queue claims its jobs with leases); a duty marked ``once`` must run in one process at a time
(the batched poll round, the audit outbox, the held-request sweep), so before each pass the
loop asks its :class:`Leader` (bot/jobs/leases.py's duty leases, through the scheduler)
whether this process holds that duty; a process that does not skips the pass and asks again
later. Without a leader every duty runs here: one process, nobody to share with.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.waiting import wait_set

log = logging.getLogger(__name__)

#: After a pass or a ``due_in`` that raised, the next try of that duty.
RETRY_SECONDS = 1.0


class Leader(Protocol):
    """Says whether this process may run a once-only duty now."""

    async def hold(self, name: str) -> bool:
        """Take or keep duty ``name`` for this process; False while another process has it."""

    @property
    def retry_seconds(self) -> float:
        """How soon a process that does not hold a duty asks again."""


@dataclass(frozen=True)
class Duty:
    """Background work: ``run`` is one pass; ``due_in`` says when the next pass is due."""

    name: str
    run: Callable[[], Awaitable[None]]
    #: Seconds from the end of a pass until the next (0: at once; None: only when woken).
    due_in: Callable[[], Awaitable[float | None]]
    #: Runs in one process at a time when many share the database (see the module's doc).
    once: bool = False

    @classmethod
    def every(
        cls, name: str, seconds: float, run: Callable[[], Awaitable[None]], *, once: bool = False
    ) -> Duty:
        """A pass at once, then one ``seconds`` after each pass ends."""

        async def interval() -> float:
            return seconds

        return cls(name, run, interval, once)


@dataclass
class _Slot:
    duty: Duty
    due_at: float = -math.inf  # a new duty's first pass is due at once
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    #: Loop time when its last pass ended (None: none yet), for the health check.
    ended_at: float | None = None


class Duties:
    """Runs each registered duty when it is due or woken, until stopped."""

    def __init__(self, leader: Leader | None = None) -> None:
        self._leader = leader
        self._slots: dict[str, _Slot] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def add(self, duty: Duty) -> None:
        """Register ``duty``; its first pass is due at once (once the loop runs)."""
        if duty.name in self._slots:
            raise ValueError(f"duty {duty.name!r} is already registered")
        self._slots[duty.name] = _Slot(duty)
        self._wake.set()

    async def remove(self, name: str) -> None:
        """Unregister a duty and cancel its pass in progress, if any."""
        slot = self._slots.pop(name, None)
        if slot is not None and slot.task is not None:
            slot.task.cancel()
            await asyncio.gather(slot.task, return_exceptions=True)

    def wake(self, name: str) -> None:
        """Run ``name``'s next pass now (or right after the one under way)."""
        slot = self._slots.get(name)
        if slot is not None:
            slot.due_at = -math.inf
            self._wake.set()

    @property
    def running(self) -> bool:
        return self._loop_task is not None

    @property
    def alive(self) -> bool:
        """Started and not ended: a loop that crashed or was stopped is not alive."""
        return self._loop_task is not None and not self._loop_task.done()

    def last_ran(self, name: str) -> float | None:
        """When ``name``'s last pass ended, on the event loop's clock (None: never)."""
        slot = self._slots.get(name)
        return None if slot is None else slot.ended_at

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="duties")

    async def stop(self) -> None:
        """Stop the loop and every pass under way; the duties stay registered, and a pass
        cut short is due again at once when the loop starts again."""
        tasks = [t for t in (self._loop_task, *(s.task for s in self._slots.values()))
                 if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        for slot in self._slots.values():
            if slot.task is not None:
                slot.task, slot.due_at = None, -math.inf

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = loop.time()
            earliest = math.inf
            for slot in self._slots.values():
                if slot.task is not None:
                    continue  # its end wakes the loop
                if slot.due_at <= now:
                    slot.due_at = math.inf  # until the pass says, or a wake
                    slot.task = asyncio.create_task(self._pass(slot),
                                                    name=f"duty-{slot.duty.name}")
                else:
                    earliest = min(earliest, slot.due_at)
            timeout = None if earliest == math.inf else earliest - now
            await wait_set(self._wake, timeout)

    async def _pass(self, slot: _Slot) -> None:
        delay: float | None
        try:
            if slot.duty.once and self._leader is not None and not await self._leader.hold(
                    slot.duty.name):
                delay = self._leader.retry_seconds  # another process runs it for now
            else:
                await slot.duty.run()
                delay = await slot.duty.due_in()
        except Exception:  # a duty normally logs its own failures; this is the backstop
            log.exception("duty %s: pass failed; retrying", slot.duty.name)
            delay = RETRY_SECONDS
        now = asyncio.get_running_loop().time()
        slot.ended_at = now
        if slot.due_at == math.inf:  # not woken during the pass, which keeps its claim
            slot.due_at = math.inf if delay is None else now + delay
        slot.task = None
        self._wake.set()
