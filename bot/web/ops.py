"""Operations routes: ``GET /healthz`` for the container's health check, ``GET /metrics`` for
Prometheus. The bot's one HTTP listener mounts them (:func:`ops_routes`); they open nothing.

``/healthz`` answers 200 only when the three things a member's video depends on work now: the
Discord gateway is connected, the database takes a write, and the scheduler's job queue has
run a pass recently. Otherwise 503 with one line per problem, naming what to fix. It is cheap
enough to call every few seconds: one tiny committed write and two attribute reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import discord
from aiohttp import web

from bot.clock import Clock
from bot.db.database import Database, DatabaseError
from bot.duties import Duties
from bot.jobs.model import JobState
from bot.jobs.store import JobStore
from bot.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

#: The job queue's duty (bot/worker/scheduler.py registers it under this name). It is due
#: at least every few seconds, even with nothing to do, so its silence means it is stuck.
JOB_QUEUE = "jobs"


def gateway_connected(client: discord.Client) -> bool:
    """Whether ``client`` has a live gateway connection (not closed, ready, socket open)."""
    if client.is_closed() or not client.is_ready():
        return False
    if isinstance(client, discord.AutoShardedClient):
        # A sharded client keeps one socket per shard (client.ws stays None): all must be up.
        return bool(client.shards) and not any(s.is_closed() for s in client.shards.values())
    ws = client.ws
    return ws is not None and ws.open


@dataclass(frozen=True)
class Health:
    """What ``/healthz`` checks; ``now`` is the event loop's clock unless a test moves it."""

    db: Database
    #: None for a gateway process, which runs no scheduler.
    duties: Duties | None
    #: None for a worker process, which has no gateway connection to check.
    gateway: Callable[[], bool] | None
    #: Seconds since the job queue's last pass after which the scheduler counts as stuck.
    stale_after: float = 60.0
    #: Longest wait for the write probe (it queues behind the bot's own transactions).
    probe_timeout: float = 5.0
    now: Callable[[], float] | None = None

    async def problems(self) -> list[str]:
        """One line per thing that is wrong; empty when healthy."""
        found: list[str] = []
        if self.gateway is not None and not self.gateway():
            found.append("gateway: not connected to Discord (check the network, the token,"
                         " and the log for the reason it disconnected)")
        database = await self._database()
        if database is not None:
            found.append(database)
        scheduler = self._scheduler()
        if scheduler is not None:
            found.append(scheduler)
        return found

    async def _database(self) -> str | None:
        try:
            async with asyncio.timeout(self.probe_timeout):
                await write_probe(self.db)
        except TimeoutError:
            return (f"database: {self.db.where} did not take a write within"
                    f" {self.probe_timeout:g}s (locked by another process, or a slow disk)")
        except DatabaseError as exc:
            return (f"database: {self.db.where} is not writable ({exc}); check its file and"
                    " folder permissions and free disk space")
        return None

    def _scheduler(self) -> str | None:
        if self.duties is None:
            return None
        if not self.duties.alive:
            return "scheduler: its loop is not running (see the log for why it stopped)"
        last = self.duties.last_ran(JOB_QUEUE)
        if last is None:
            return None  # just started: its first pass is under way
        now = self.now() if self.now is not None else asyncio.get_running_loop().time()
        age = now - last
        if age > self.stale_after:
            return (f"scheduler: the job queue last ran {age:.0f}s ago (limit"
                    f" {self.stale_after:g}s); a step is stuck, see the log")
        return None


async def write_probe(db: Database) -> None:
    """Commit a write that changes nothing: the schema version, rewritten with its own value.

    A read, or a write rolled back, never reaches the disk in WAL mode, so neither would
    notice a file or disk that refuses writes; this commits one page and leaves every table
    (and the version) as it was.
    """
    async with db.transaction() as tx:
        if tx.dialect.write_probe:
            await tx.execute(tx.dialect.write_probe)
            return
        row = await tx.fetchone("PRAGMA user_version")
        version = int(next(iter(row.values()))) if row else 0
        await tx.execute(f"PRAGMA user_version = {version:d}")


async def refresh_gauges(metrics: Metrics, jobs: JobStore, clock: Clock) -> None:
    """Set the gauges read from the database: jobs by state, and the scheduler's lag."""
    counts = await jobs.count_by_state()
    for state in JobState:
        metrics.jobs.labels(state=state.value).set(counts.get(state, 0))
    due = await jobs.next_due_at()
    lag = 0.0 if due is None else max(0.0, (clock() - due).total_seconds())
    metrics.scheduler_lag.set(lag)


def ops_routes(
    health: Health, metrics: Metrics, jobs: JobStore, clock: Clock
) -> list[web.RouteDef]:
    """``GET /healthz`` and ``GET /metrics``, for the bot's HTTP listener to mount."""

    async def healthz(_request: web.Request) -> web.Response:
        problems = await health.problems()
        if problems:
            for problem in problems:
                log.warning("health check failed: %s", problem)
            return web.json_response({"status": "unhealthy", "problems": problems}, status=503)
        return web.json_response({"status": "ok"})

    async def metrics_page(_request: web.Request) -> web.Response:
        try:
            await refresh_gauges(metrics, jobs, clock)
        except DatabaseError as exc:
            # The counters still mean something; the gauges keep their last values.
            log.warning("metrics: jobs by state not refreshed, the database failed (%s)", exc)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    return [web.get("/healthz", healthz), web.get("/metrics", metrics_page)]
