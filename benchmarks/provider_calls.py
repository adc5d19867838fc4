"""Provider calls per 60-second job: polling alone vs Apiframe webhooks.

Run from the repository root::

    .venv/bin/python benchmarks/provider_calls.py

The real bot runs against the loopback fakes of Discord and Apiframe (tests/fakes/) on a real
SQLite file. Each mode starts ``JOBS`` /sora jobs at once; every job is scripted the fake's
default way (5 s queued, then 60 s processing). Time is scaled: the bot's poll interval (7 s,
the default) and webhook settings are divided by ``SCALE`` and Apiframe's clock runs ``SCALE``
times faster than the wall clock, so a minute of job takes a few seconds.

A call is any request the fake Apiframe received (submit, per-job GET, list pages of
``GET /v2/jobs``, ``/v2/me`` ...), except result downloads from its CDN; the total is divided
by the number of jobs, so batched list calls count for every job they served.

- ``poll`` mode is the baseline: ``[web]`` off, as before webhooks existed.
- ``webhook`` mode: the listener on, Apiframe posting progress/completed/failed to it, polling
  kept as the safety net at ``[web] webhook_poll_interval_seconds`` (60 s, scaled). Goal: at
  most 2 calls per job (1 submit + 1 confirming GET). On a checkout without bot/web it is
  reported as unavailable.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.jobs.model import JobState  # noqa: E402
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, render_toml  # noqa: E402
from tests.fakes.apiframe import FakeApiframe  # noqa: E402
from tests.fakes.discord import FakeDiscord  # noqa: E402
from tests.sora_harness import SoraHarness, harness_factory  # noqa: E402

JOBS = 5
SCALE = 10.0
POLL_SECONDS = 7.0
GOAL = 2.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_apiframe_clock(fake: FakeApiframe) -> None:
    """Apiframe's clock at SCALE x the wall clock; owed webhooks sent as time passes."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(0.05)
        now = loop.time()
        fake.clock.advance((now - last) * SCALE)
        last = now
        await fake.tick()


async def measure(mode: str, workdir: Path) -> tuple[float, Counter[str]]:
    """Calls per job in ``mode`` ("poll" or "webhook"), and the calls by route."""
    discord, apiframe = FakeDiscord(token=DISCORD_TOKEN), FakeApiframe(api_key=APIFRAME_KEY)
    await discord.start()
    await apiframe.start()

    def write_config(**sections: dict[str, Any]) -> Path:
        tables: dict[str, dict[str, Any]] = {
            "discord": {"token": DISCORD_TOKEN, "api_base_url": discord.api_base_url,
                        "gateway_url": discord.gateway_url},
            "apiframe": {"api_key": APIFRAME_KEY, "base_url": apiframe.base_url,
                         "download_hosts": ["127.0.0.1"], "allow_private_addresses": True},
            "database": {"path": str(workdir / mode / "bot.sqlite3")},
        }
        for name, table in sections.items():
            tables.setdefault(name, {}).update(table)
        path = workdir / f"{mode}.toml"
        path.write_text(render_toml(tables), encoding="utf-8")
        return path

    overrides: dict[str, dict[str, Any]] = {
        "apiframe": {"poll_interval_seconds": POLL_SECONDS / SCALE},
        "jobs": {"max_in_flight_per_guild": JOBS, "max_in_flight_per_member": JOBS},
        "logging": {"level": "ERROR"},
    }
    if mode == "webhook":
        port = free_port()
        overrides["web"] = {"enabled": True, "port": port,
                            "public_url": f"http://127.0.0.1:{port}",
                            "webhook_poll_interval_seconds": 60 / SCALE,
                            "webhook_quiet_seconds": 300 / SCALE}
    clock_task: asyncio.Task[None] | None = None
    try:
        async with harness_factory(discord, apiframe, write_config) as start:
            h: SoraHarness = await start(**overrides)
            clock_task = asyncio.create_task(run_apiframe_clock(apiframe))
            iids = [await h.send_sora(f"benchmark job {n}") for n in range(JOBS)]
            jobs = [await h.created_job(iid) for iid in iids]

            async def all_delivered() -> bool:
                states = [(await h.job(job.id)).state for job in jobs]
                return all(state is JobState.DELIVERED for state in states)

            await h.until(all_delivered, timeout=120, what="every job delivered")
    finally:
        if clock_task is not None:
            clock_task.cancel()
            await asyncio.gather(clock_task, return_exceptions=True)
        await apiframe.stop()
        await discord.stop()
    calls = Counter(r.route or r.path for r in apiframe.requests
                    if not r.path.startswith("/cdn/"))
    return sum(calls.values()) / JOBS, calls


async def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        baseline, poll_calls = await measure("poll", workdir)
        webhooks = importlib.util.find_spec("bot.web") is not None
        hooked, hook_calls = (await measure("webhook", workdir)) if webhooks else (None, None)
    print(f"{JOBS} jobs of 5 s queued + 60 s processing, poll interval {POLL_SECONDS:g} s,"
          f" time scaled {SCALE:g}x")
    print(f"{'mode':<10} {'calls/job':>9} {'vs poll':>8}  by route (all jobs)")
    print(f"{'poll':<10} {baseline:>9.2f} {1:>7.2f}x  {dict(poll_calls)}")
    if hooked is None or hook_calls is None:
        print(f"{'webhook':<10} {'n/a':>9} {'':>8}  this checkout has no webhook listener:"
              " every job is polled")
        return 0
    print(f"{'webhook':<10} {hooked:>9.2f} {hooked / baseline:>7.2f}x  {dict(hook_calls)}")
    verdict = "meets" if hooked <= GOAL else "misses"
    print(f"\nwebhook mode: {hooked:.2f} calls per job, {verdict} the goal of <= {GOAL:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
