"""The scheduler following 100 / 1,000 / 10,000 jobs in flight: CPU and looks per job.

Run from the repository root::

    .venv/bin/python benchmarks/scheduler_scale.py [--sizes 100,1000,10000] [--interval 5]

Each configuration runs in a fresh subprocess holding only the scheduler: the real
``JobScheduler`` and ``JobStore`` on a SQLite file, talking over loopback to the fake Apiframe
(tests/fakes/apiframe.py, without its per-request refund scan), which runs in a process of
its own so its CPU is not counted. The fake holds N jobs that stay PROCESSING; the database
holds the same N jobs as submitted, due spread over the first poll interval as if submitted
one after another. The status cards are
marked as just shown, so no Discord call is due: the figure is following jobs, nothing else.

Measured over a few poll intervals after one interval of warm-up:

- **look rate**: looks per job per interval against the configured ``poll_interval_seconds``
  (1.00 = every job looked at exactly on schedule). A look is counted by a trigger on the
  job's ``next_action_at`` (every look moves it, whichever path made it);
- **CPU**: the scheduler process's CPU seconds per wall second (1.00 = one core busy);
- provider calls per second.

The baseline in the same run is the old per-job path (one ``GET /v2/jobs/{id}`` per look),
still selectable with ``JobScheduler(batched_polls=False)``. On a checkout without batched
polling only that path runs (the "before" figure).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "afk_bench_key_0000000000000000"
TOKEN = "MTAx.fake-bot-token.for-bench-only"  # noqa: S105 (the config needs one; never used)
WINDOW_INTERVALS = 3


# -- the fake Apiframe, in its own process ---------------------------------------------------


async def serve_fake(size: int) -> None:
    from tests.fakes.apiframe import FakeApiframe
    from tests.fakes.apiframe_model import DEFAULT_EPOCH, FakeJob, JobScript
    from tests.fakes.apiframe_schema import new_uuid

    class SteadyFake(FakeApiframe):
        """The fake, minus its refund scan on every request (O(jobs): at 10,000 jobs it
        alone caps the fake near 100 requests/s, for either path). No job here ever fails,
        so there is never anything to refund."""

        def settle(self) -> None:
            return None

    fake = SteadyFake(api_key=KEY, credits=10**9)
    await fake.start()
    fake.clock.advance(60)  # every job is PROCESSING (past its queue time) from the start
    forever = JobScript(queued_s=0, processing_s=10**7)
    ids = []
    for n in range(size):
        job = FakeJob(id=new_uuid(), owner_key=KEY, model="sora-2-pro",
                      input={"prompt": f"bench {n}", "model": "sora-2-pro"}, cost=1,
                      created_at=DEFAULT_EPOCH + timedelta(milliseconds=n), script=forever)
        fake.jobs[job.id] = job
        ids.append(job.id)
    print(json.dumps({"base_url": fake.base_url, "ids": ids}), flush=True)
    # Served until the parent closes our stdin; the request log is not needed here.
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        fake.requests.clear()
        try:
            await asyncio.wait_for(reader.read(), 1.0)
            break
        except TimeoutError:
            continue
    await fake.stop()


# -- the scheduler, in its own process --------------------------------------------------------


def write_config(folder: Path, base_url: str, interval: float) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[discord]\ntoken = "{TOKEN}"\n'
        f'[apiframe]\napi_key = "{KEY}"\nbase_url = "{base_url}"\n'
        f"poll_interval_seconds = {interval}\nrequest_timeout_seconds = 30\nmax_retries = 0\n"
        f'[database]\npath = "{folder / "bot.sqlite3"}"\n'
        '[logging]\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    return path


def seed_jobs(db_path: Path, ids: list[str], interval: float) -> None:
    """The N jobs as submitted, due one after another over the first interval."""
    now = datetime.now(UTC)
    far = (now + timedelta(days=1)).isoformat()
    rows = []
    for n, af_id in enumerate(ids):
        due = (now + timedelta(seconds=interval * n / len(ids))).isoformat()
        rows.append((
            f"job{n:06d}", 1, 2, 3, 4, 1000 + n, None, far, None, 25 * 1024 * 1024,
            "sora-2-pro", f"bench {n}", 4, "16:9", "standard", None, 12, f"sora-bench-{n}",
            "submitted", af_id, 0, far, due, far, now.isoformat(), now.isoformat(),
            now.isoformat(), '{"duration": 4, "aspect_ratio": "16:9", "resolution": "standard"}',
        ))
    with sqlite3.connect(db_path) as conn:
        conn.executemany(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, application_id,"
            " interaction_id, interaction_token, token_expires_at, status_message_id,"
            " attachment_size_limit, model, prompt, duration, aspect_ratio, resolution,"
            " start_image_url, price, idempotency_key, state, apiframe_job_id, progress,"
            " progress_shown_at, next_action_at, deadline_at, created_at, submitted_at,"
            " updated_at, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        # Counts every look, whichever path made it (both move next_action_at once per look).
        conn.execute("CREATE TABLE bench_looks (job_id TEXT)")
        conn.execute("CREATE TRIGGER bench_look AFTER UPDATE OF next_action_at ON jobs"
                     " BEGIN INSERT INTO bench_looks VALUES (NEW.id); END")


async def run_scheduler(size: int, batched: bool, interval: float) -> dict[str, Any]:
    import aiohttp

    from bot.apiframe.client import ApiframeClient
    from bot.app import open_store
    from bot.clock import utc_now
    from bot.config import load_settings
    from bot.worker.scheduler import JobScheduler

    fake = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--fake", str(size),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, limit=2**24,
    )
    assert fake.stdout is not None and fake.stdin is not None
    seeded = json.loads(await fake.stdout.readline())
    calls = 0

    async def count(*_: object) -> None:
        nonlocal calls
        calls += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(count)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(write_config(folder, seeded["base_url"], interval), env={})
        async with open_store(settings, utc_now) as store:
            pass  # creates and migrates the database
        seed_jobs(settings.database.path, seeded["ids"], interval)
        async with open_store(settings, utc_now) as store, aiohttp.ClientSession(
            trace_configs=[trace], connector=aiohttp.TCPConnector(limit=100)
        ) as http:
            client = ApiframeClient(http, api_key=KEY, base_url=seeded["base_url"],
                                    timeout=30, max_retries=0)

            async def no_models(_guild: int) -> list[str]:
                return []

            options: dict[str, Any] = {}
            if batched:
                options["batched_polls"] = True
            elif "batched_polls" in inspect.signature(JobScheduler).parameters:
                options["batched_polls"] = False
            scheduler = JobScheduler(
                store=store.jobs, apiframe=client, publisher=None,  # type: ignore[arg-type]
                settings=settings, workdir=folder / "downloads", clock=utc_now,
                retired=store.retired, usable_models=no_models, **options,
            )
            scheduler.start()
            await asyncio.sleep(interval)  # warm-up: the first looks of every job
            looks0 = await looks(store.jobs)
            cpu0, wall0, calls0 = time.process_time(), time.perf_counter(), calls
            await asyncio.sleep(interval * WINDOW_INTERVALS)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            looked, called = await looks(store.jobs) - looks0, calls - calls0
            await scheduler.stop()
    fake.stdin.close()
    await fake.wait()
    return {
        "size": size, "batched": batched,
        "look_rate": looked / (size * wall / interval),
        "cpu": cpu / wall,
        "calls_per_s": called / wall,
    }


async def looks(jobs: Any) -> int:
    row = await jobs._db.fetchone("SELECT COUNT(*) AS n FROM bench_looks", ())
    return int(row["n"])


# -- the parent: every configuration in a fresh process -------------------------------------


def child(size: int, batched: bool, interval: float) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 (this very script)
        [sys.executable, __file__, "--child", str(size), "batched" if batched else "per-job",
         "--interval", str(interval)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--interval", type=float, default=7.0)
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "MODE"))
    parser.add_argument("--fake", type=int)
    args = parser.parse_args()
    if args.fake is not None:
        asyncio.run(serve_fake(args.fake))
        return
    if args.child is not None:
        result = asyncio.run(run_scheduler(int(args.child[0]), args.child[1] == "batched",
                                           args.interval))
        print(json.dumps(result), flush=True)
        return
    from bot.worker import scheduler

    has_batched = "batched_polls" in inspect.signature(scheduler.JobScheduler).parameters
    print(f"poll interval {args.interval:g} s, {os.cpu_count()} cores; look rate = looks per job"
          " / configured rate; CPU = scheduler process CPU s per wall s")
    print(f"{'jobs':>6}  {'path':<8} {'look rate':>9} {'CPU':>6} {'calls/s':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        results = [child(size, False, args.interval)]
        if has_batched:
            results.append(child(size, True, args.interval))
        for r in results:
            print(f"{size:>6}  {'batched' if r['batched'] else 'per-job':<8}"
                  f" {r['look_rate']:>8.2f}x {r['cpu']:>6.1%} {r['calls_per_s']:>8.1f}")
        if has_batched:
            old, new = results
            rate = new["look_rate"] / old["look_rate"]
            print(f"{size:>6}  batched vs per-job: look rate {rate:.2f}x,"
                  f" CPU {new['cpu'] / old['cpu']:.2f}x, provider calls"
                  f" {new['calls_per_s'] / max(old['calls_per_s'], 1e-9):.3f}x", flush=True)


if __name__ == "__main__":
    main()
