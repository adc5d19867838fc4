"""This process's share of the work when many schedulers use one database: the jobs it has
claimed, their leases' renewal and release, and the once-only duties it holds.

The SQL is bot/jobs/leases.py's; this keeps what one process knows: its owner id, the jobs
whose lease it holds, and when a lease was lost to another process (its lease ran out, say
while this process was stalled), so the step still running here can be cancelled and left to
the process that repeats it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from bot.clock import Clock
from bot.jobs.leases import JobLeases, new_owner
from bot.jobs.model import Job

log = logging.getLogger(__name__)


class Claims:
    """Claims, renews and releases job leases for one scheduler; also the duties'
    :class:`bot.duties.Leader` (duty leases held under the same owner id)."""

    def __init__(
        self, leases: JobLeases, clock: Clock, lease: timedelta, *, instance: str | None,
        lost: Callable[[str], None], freed: Callable[[], None],
    ) -> None:
        """``instance``: a name unique to this process among those sharing the database; a
        restart under the same name takes back its predecessor's leases at once (None: a
        name of its own, never reused). ``lost(job_id)`` is called when another process took
        a job this one held; ``freed()`` when the take-back made jobs due here."""
        self._leases, self._clock, self._lease = leases, clock, lease
        self._instance = instance
        self._lost, self._freed = lost, freed
        #: The owner id stamped on this process's leases.
        self.owner = new_owner(instance)
        #: Jobs whose lease this process holds (a step queued or under way).
        self._held: set[str] = set()

    @property
    def renew_every(self) -> float:
        """Seconds between renewals: a third of a lease, so two can fail before it ends."""
        return self._lease.total_seconds() / 3

    @property
    def retry_seconds(self) -> float:
        # The duties' Leader: well inside a lease, so a holder that died is replaced soon
        # after its lease ends.
        return self.renew_every

    async def hold(self, name: str) -> bool:
        """The duties' Leader: take or keep once-only duty ``name`` for this process."""
        return await self._leases.hold_duty(name, self.owner, self._clock() + self._lease)

    async def claim(self, room: int, *, polls: bool) -> list[Job]:
        """Up to ``room`` due jobs, now held by this process."""
        jobs = await self._leases.claim(self.owner, self._clock() + self._lease, room,
                                        polls=polls)
        self._held.update(job.id for job in jobs)
        return jobs

    async def release(self, job_id: str) -> None:
        """A step ended: any scheduler may take the job's next step."""
        if job_id not in self._held:
            return  # lost to another process meanwhile: not ours to release
        self._held.discard(job_id)
        try:
            await self._leases.release(self.owner, [job_id])
        except Exception as exc:  # then it waits for the lease to run out
            log.warning("job %s: lease not released (%s); it expires within %s", job_id, exc,
                        self._lease)

    async def release_all(self) -> None:
        """A clean stop: every lease of this process goes, so others carry on at once."""
        self._held.clear()
        try:
            await self._leases.release_all(self.owner)
        except Exception as exc:
            log.warning("job scheduler: leases not released at stop (%s); they expire within"
                        " %s", exc, self._lease)

    async def renew(self) -> None:
        """The ``leases`` duty's pass: extend every lease held; report the ones lost."""
        try:
            if self._instance is not None:
                freed = await self._leases.take_over(self.owner, self._instance)
                self._instance = None  # once, at start
                if freed:
                    log.info("job scheduler: took back %d lease(s) of an earlier run", freed)
                    self._freed()
            # Snapshot first: a job claimed after it is not yet in the renewal's answer.
            before = set(self._held)
            held = await self._leases.renew(self.owner, self._clock() + self._lease)
        except Exception:
            log.exception("job scheduler: renewing leases failed; retrying")
            return
        for job_id in before - held:
            if job_id in self._held:  # else its step ended meanwhile
                self._held.discard(job_id)
                log.warning("job %s: another worker took over its lease; leaving it the step",
                            job_id)
                self._lost(job_id)
