"""Provider calls per 60-second job: 1 job alone and 5 at once, polling and Apiframe webhooks,
with the first look at a job at its expected end against looking every interval from the start.

Run from the repository root::

    .venv/bin/python benchmarks/provider_calls.py

The real bot runs against the loopback fakes of Discord and Apiframe (tests/fakes/) on a real
SQLite file. Each run starts ``jobs`` /sora jobs at once, waits until all are delivered, and
does that ``ROUNDS`` times: the first round has no history (the expected run time is the
configured default), later rounds learn from the earlier ones. Every job runs like the fake's
default one (5 s queued, then 60 s processing), scaled: every duration (the job's, the poll
interval of 7 s, the default expected run time, the webhook settings) is divided by ``SCALE``,
so a minute of job takes a few seconds while both clocks, the bot's and Apiframe's, keep the
wall clock's pace (Apiframe's timestamps then agree with what the bot sees, as in production).
"Seen after" (submission to the bot seeing the job finished) is printed back unscaled.

A call is any request the fake Apiframe received (submit, per-job GET, list pages of
``GET /v2/jobs``, ``/v2/me`` ...), except result downloads from its CDN; the total is divided
by the number of jobs, so batched list calls count for every job they served.

- The baseline, in the same run: ``[apiframe] expected_time_polling = false``, every submitted
  job looked at every interval from the start (the behaviour before).
- ``poll`` mode: ``[web]`` off. Goal: at most 3 calls per job.
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
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.jobs.model import Job, JobState  # noqa: E402
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, render_toml  # noqa: E402
from tests.fakes.apiframe import FakeApiframe  # noqa: E402
from tests.fakes.apiframe_model import JobScript  # noqa: E402
from tests.fakes.discord import FakeDiscord  # noqa: E402
from tests.sora_harness import SoraHarness, harness_factory  # noqa: E402

SIZES = (1, 5)
ROUNDS = 2
SCALE = 10.0
POLL_SECONDS = 7.0
#: Goals per job: poll mode (issue 11: 1 submit + 2 looks at most) and webhook mode.
GOALS = {"poll": 3.0, "webhook": 2.0}


@dataclass
class Round:
    """One round of ``jobs`` jobs started at once: provider calls per job, and how long after
    its submission each job was seen finished (mean, in unscaled seconds)."""

    calls: float
    seen_after: float
    routes: Counter[str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_apiframe_clock(fake: FakeApiframe) -> None:
    """Apiframe's clock at the wall clock's pace; owed webhooks sent as time passes."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(0.05)
        now = loop.time()
        fake.clock.advance(now - last)
        last = now
        await fake.tick()


async def measure(mode: str, jobs: int, expected: bool, workdir: Path) -> list[Round]:
    """``ROUNDS`` rounds of ``jobs`` jobs in ``mode`` ("poll" or "webhook"), the first look at
    a job at its expected end (``expected``) or every interval from the start (the old way)."""
    discord, apiframe = FakeDiscord(token=DISCORD_TOKEN), FakeApiframe(api_key=APIFRAME_KEY)
    await discord.start()
    await apiframe.start()
    name = f"{mode}-{jobs}-{'expected' if expected else 'interval'}"

    def write_config(**sections: dict[str, Any]) -> Path:
        tables: dict[str, dict[str, Any]] = {
            "discord": {"token": DISCORD_TOKEN, "api_base_url": discord.api_base_url,
                        "gateway_url": discord.gateway_url},
            "apiframe": {"api_key": APIFRAME_KEY, "base_url": apiframe.base_url,
                         "download_hosts": ["127.0.0.1"], "allow_private_addresses": True},
            "database": {"path": str(workdir / name / "bot.sqlite3")},
        }
        for section, table in sections.items():
            tables.setdefault(section, {}).update(table)
        path = workdir / f"{name}.toml"
        path.write_text(render_toml(tables), encoding="utf-8")
        return path

    # Every duration the bot knows is scaled like Apiframe's clock, the shipped defaults for
    # a variant with no history (60 s + 12 s per second of video) included.
    overrides: dict[str, dict[str, Any]] = {
        "apiframe": {"poll_interval_seconds": POLL_SECONDS / SCALE,
                     "expected_time_polling": expected,
                     "default_run_seconds": 60 / SCALE,
                     "default_run_seconds_per_video_second": 12 / SCALE},
        "jobs": {"max_in_flight_per_guild": jobs, "max_in_flight_per_member": jobs},
        "logging": {"level": "ERROR"},
    }
    if mode == "webhook":
        port = free_port()
        overrides["web"] = {"enabled": True, "port": port,
                            "public_url": f"http://127.0.0.1:{port}",
                            "webhook_poll_interval_seconds": 60 / SCALE,
                            "webhook_quiet_seconds": 300 / SCALE}
    clock_task: asyncio.Task[None] | None = None
    rounds: list[Round] = []
    try:
        async with harness_factory(discord, apiframe, write_config) as start:
            h: SoraHarness = await start(**overrides)
            apiframe.default_script = JobScript("COMPLETED", None, 5 / SCALE, 60 / SCALE)
            clock_task = asyncio.create_task(run_apiframe_clock(apiframe))
            for number in range(ROUNDS):
                before = len(apiframe.requests)
                iids = [await h.send_sora(f"benchmark job {number}.{n}") for n in range(jobs)]
                created = [await h.created_job(iid) for iid in iids]

                async def all_delivered(batch: list[Job] = created) -> bool:
                    states = [(await h.job(job.id)).state for job in batch]
                    return all(state is JobState.DELIVERED for state in states)

                await h.until(all_delivered, timeout=120, what="every job delivered")
                done = [await h.job(job.id) for job in created]
                calls = Counter(r.route or r.path for r in apiframe.requests[before:]
                                if not r.path.startswith("/cdn/"))
                seen = [(job.finished_at - job.submitted_at).total_seconds() * SCALE
                        for job in done if job.finished_at and job.submitted_at]
                rounds.append(Round(sum(calls.values()) / jobs, statistics.mean(seen), calls))
    finally:
        if clock_task is not None:
            clock_task.cancel()
            await asyncio.gather(clock_task, return_exceptions=True)
        await apiframe.stop()
        await discord.stop()
    return rounds


async def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    webhooks = importlib.util.find_spec("bot.web") is not None
    modes = ["poll", "webhook"] if webhooks else ["poll"]
    print(f"jobs of 5 s queued + 60 s processing, poll interval {POLL_SECONDS:g} s, every"
          f" duration / {SCALE:g}; {ROUNDS} rounds one after the other (the first without"
          " history).")
    print("baseline: [apiframe] expected_time_polling = false (looks every interval from the"
          " start), same run\n")
    print(f"{'mode':<8} {'jobs':>4} {'round':>5} {'old calls/job':>13} {'now calls/job':>13}"
          f" {'now/old':>7} {'old seen after':>14} {'now seen after':>14}  now by route")
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for mode in modes:
            for jobs in SIZES:
                old = await measure(mode, jobs, False, workdir)
                now = await measure(mode, jobs, True, workdir)
                for number, (was, new) in enumerate(zip(old, now, strict=True), 1):
                    print(f"{mode:<8} {jobs:>4} {number:>5} {was.calls:>13.2f} {new.calls:>13.2f}"
                          f" {new.calls / was.calls:>6.2f}x {was.seen_after:>13.1f}s"
                          f" {new.seen_after:>13.1f}s  {dict(new.routes)}")
                worst = max(new.calls for new in now)
                verdicts.append(f"{mode} mode, {jobs} job(s) at once: at most {worst:.2f} calls"
                                f" per job, {'meets' if worst <= GOALS[mode] else 'misses'} the"
                                f" goal of <= {GOALS[mode]:g}")
    if not webhooks:
        print("webhook: n/a (this checkout has no webhook listener: every job is polled)")
    print("\n" + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
