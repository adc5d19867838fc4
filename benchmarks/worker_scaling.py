"""Job throughput through 1, 2 and 4 real worker processes, on SQLite and on PostgreSQL.

Run from the repository root::

    .venv/bin/python benchmarks/worker_scaling.py [--jobs 300] [--workers 1,2,4]
                                                  [--backends sqlite,postgresql]

Each configuration gets a fresh database and fresh fakes. The fake Apiframe and the fake
Discord run together in a process of their own (tests/fakes/; their CPU is reported, not
counted): every job completes about 1.5 s after it is submitted, with a 50 kB video. Then
W real ``python -m bot worker`` processes start (no gateway connection; they log in over
REST); once every one has logged in, the parent writes N jobs through the bot's own stores
(``JobStore.create``: the reserve and the row in one transaction, as a gateway does on
/sora). The workers submit, follow (batched polls), download and deliver them; the run ends
when every job is ``delivered``.

The interaction tokens are written already expired, so each result is posted to the channel
with the bot token (the fake Discord runs in another process and cannot be told about
interactions it never dispatched): the same REST path a worker takes for a late job.

Printed per configuration: jobs finished per second (first submit to last delivery: on
SQLite a worker hears of jobs another process wrote only at its next idle scan, up to 5 s
later, which is not capacity; that wait is the "submit" step), the
workers' CPU seconds per job (all W processes, after login), the fakes' CPU share, the mean
time of each step (created -> submitted -> finished at the provider -> delivered), and on
PostgreSQL the mean number of transactions waiting for the advisory write lock (sampled from
``pg_locks`` every 0.1 s) and the server's CPU per job. Ratios: each worker count against one
worker on the same backend, and PostgreSQL against SQLite at one worker.

The run fails unless every job ends delivered with exactly one result message in the fake
Discord, one provider job per idempotency key, and balance == grant - N x price == Σ journal.

PostgreSQL is a throwaway durable local server (tests/support/postgres.py) or the server
named by ``SORA_BENCH_PG_URL`` (its user must be able to CREATE DATABASE). SQLite is the bot's
own file in WAL mode.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "afk_bench_key_0000000000000000"
TOKEN = "MTAx.fake-bot-token.for-bench-only"  # noqa: S105 (the fake's; never a real one)
PRICE = 12  # sora-2-pro standard 4 s, the default grid
GRANT = 100_000
USERS = 50
TICKS = os.sysconf("SC_CLK_TCK")


# -- the fakes, in their own process ----------------------------------------------------------


async def serve_fakes() -> None:
    from tests.fakes.apiframe import FakeApiframe
    from tests.fakes.apiframe_model import JobScript
    from tests.fakes.discord import FakeDiscord

    apiframe = FakeApiframe(api_key=KEY, credits=10**9)
    apiframe.video_size = 50_000
    apiframe.default_script = JobScript("COMPLETED", None, 0.5, 1.0)
    discord = FakeDiscord(token=TOKEN)
    await apiframe.start()
    await discord.start()
    guild = discord.add_guild("Bench")
    channel = guild.add_channel("videos")

    async def clock() -> None:  # the fake Apiframe's clock follows real time
        while True:
            await asyncio.sleep(0.1)
            apiframe.clock.advance(0.1)

    ticking = asyncio.create_task(clock())
    print(json.dumps({
        "apiframe": apiframe.base_url, "discord": discord.api_base_url,
        "gateway": discord.gateway_url, "guild": guild.id, "channel": channel.id,
        "application": discord.application_id,
    }), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        apiframe.requests.clear()  # only the job table is needed at the end
        try:
            await asyncio.wait_for(reader.read(), 1.0)
            break
        except TimeoutError:
            continue
    ticking.cancel()
    results: Counter[str] = Counter()
    for messages in discord.messages.values():
        for message in messages:
            for attachment in message.attachments:
                name = str(attachment.get("filename", ""))
                if name.startswith("sora-") and name.endswith(".mp4"):
                    results[name[len("sora-"):-len(".mp4")]] += 1
    keys = Counter(job.idempotency_key for job in apiframe.jobs.values())
    print(json.dumps({"results": results, "provider_jobs": len(apiframe.jobs),
                      "keys_reused": sum(1 for n in keys.values() if n > 1),
                      "validation_errors": len(discord.validation_errors),
                      "cpu": time.process_time()}), flush=True)
    await discord.stop()
    await apiframe.stop()


# -- the parent -------------------------------------------------------------------------------


def proc_cpu(pid: int, children: bool = False) -> float:
    """A process's CPU seconds (utime + stime; with ``children``, its reaped children's too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def postgres_cpu(port: int) -> float | None:
    """The local server's CPU so far: the postmaster, its reaped backends, its live children."""
    master = None
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmd and cmd[0].endswith(b"postgres") and str(port).encode() in cmd:
                master = int(pid)
    if master is None:
        return None
    total = proc_cpu(master, children=True)
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                total += proc_cpu(int(pid))
    return total


def write_config(folder: Path, fakes: dict[str, Any], database: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[discord]\ntoken = "{TOKEN}"\napi_base_url = "{fakes["discord"]}"\n'
        f'gateway_url = "{fakes["gateway"]}"\n'
        f'[apiframe]\napi_key = "{KEY}"\nbase_url = "{fakes["apiframe"]}"\n'
        "poll_interval_seconds = 0.5\nrequest_timeout_seconds = 30\n"
        'download_hosts = ["127.0.0.1"]\nallow_private_addresses = true\n'
        "expected_time_polling = false\n"
        f"[database]\n{database}\n"
        '[logging]\nlevel = "INFO"\n',
        encoding="utf-8",
    )
    return path


def request(i: int, fakes: dict[str, Any]) -> Any:
    from bot.clock import utc_now
    from bot.request import Origin, VideoOptions, VideoRequest

    origin = Origin(
        guild_id=fakes["guild"], channel_id=fakes["channel"], user_id=7 + i % USERS,
        role_ids=(), application_id=fakes["application"], interaction_id=10_000 + i,
        interaction_token=f"bench-token-{i}",  # noqa: S106 (expired on purpose: see above)
        token_expires_at=utc_now() - timedelta(minutes=1), attachment_size_limit=10 << 20,
    )
    return VideoRequest(origin=origin, model="sora-2-pro",
                        options=VideoOptions.sora(f"bench {i}", 4, "16:9", "standard"),
                        price=PRICE)


def when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def run_one(backend: str, workers: int, jobs: int, pg: Any) -> dict[str, Any]:
    from bot.app import open_store
    from bot.clock import utc_now
    from bot.config import load_settings
    from bot.db.postgres import PostgresDatabase
    from tests.conftest import start_bot

    fake = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--fakes", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        cwd=ROOT, limit=2**24,
    )
    assert fake.stdout is not None and fake.stdin is not None
    fakes = json.loads(await fake.stdout.readline())
    procs: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if backend == "postgresql":
            database = f'url = "{await pg.create_database()}"'
        else:
            database = f'path = "{folder / "bot.sqlite3"}"'
        config = write_config(folder, fakes, database)
        settings = load_settings(config, env={})
        try:
            async with open_store(settings, utc_now) as store:
                await store.ledger.grant(fakes["guild"], GRANT, actor="operator:bench",
                                         reason="bench budget")
                for _ in range(workers):
                    procs.append(await start_bot(config, "worker"))
                for bot in procs:
                    await bot.wait_for_log("Worker logged in over REST", timeout=60)
                cpu0 = sum(proc_cpu(bot.proc.pid) for bot in procs)
                fake_cpu0 = proc_cpu(fake.pid)
                pg_cpu0 = postgres_cpu(pg.port) if backend == "postgresql" else None
                waiting: list[int] = []
                # A gateway wakes every scheduler after each job it writes (PostgreSQL:
                # NOTIFY); on SQLite other processes find it at their next idle scan.
                wakeups = (await store.db.wakeups()
                           if isinstance(store.db, PostgresDatabase) else None)
                start = time.perf_counter()
                for i in range(jobs):
                    await store.jobs.create(request(i, fakes), max_per_guild=10**6,
                                            max_per_member=10**6)
                    if wakeups is not None:
                        wakeups.notify()
                if wakeups is not None:
                    await wakeups.close()
                written = time.perf_counter() - start
                deadline = start + 150
                while True:
                    row = await store.db.fetchone(
                        "SELECT COUNT(*) AS n FROM jobs WHERE state = 'delivered'", ())
                    if int(row["n"]) == jobs:
                        break
                    if time.perf_counter() > deadline:
                        raise AssertionError(f"only {row['n']} of {jobs} delivered in time")
                    for bot in procs:
                        if bot.proc.returncode is not None:
                            raise AssertionError(f"a worker exited:\n{bot.stderr[-3000:]}")
                    if backend == "postgresql":
                        lock = await store.db.fetchone(
                            "SELECT COUNT(*) AS n FROM pg_locks"
                            " WHERE locktype = 'advisory' AND NOT granted", ())
                        waiting.append(int(lock["n"]))
                    await asyncio.sleep(0.1)
                wall = time.perf_counter() - start
                cpu = sum(proc_cpu(bot.proc.pid) for bot in procs) - cpu0
                fake_cpu = proc_cpu(fake.pid) - fake_cpu0
                pg_cpu = None
                for bot in procs:
                    bot.proc.terminate()
                for bot in procs:
                    await bot.wait(timeout=30)
                if pg_cpu0 is not None:
                    after = postgres_cpu(pg.port)
                    pg_cpu = None if after is None else after - pg_cpu0
                rows = await store.db.fetchall(
                    "SELECT id, state, created_at, submitted_at, finished_at, delivered_at"
                    " FROM jobs", ())
                balance = await store.ledger.balance(fakes["guild"])
                journal = await store.db.fetchone(
                    "SELECT SUM(delta) AS s FROM ledger_journal WHERE guild_id = ?",
                    (fakes["guild"],))
        finally:
            for bot in procs:
                if bot.proc.returncode is None:
                    bot.proc.kill()
                    await bot.wait()
            fake.stdin.close()
            seen = json.loads((await fake.stdout.readline()) or "{}")
            await fake.wait()
    # Honesty: every job delivered exactly once, paid once, one provider job per key.
    assert len(rows) == jobs and all(r["state"] == "delivered" for r in rows), "not delivered"
    results = seen["results"]
    assert all(results.get(str(r["id"])) == 1 for r in rows), "not exactly one result each"
    assert seen["provider_jobs"] == jobs and seen["keys_reused"] == 0, seen
    assert balance == GRANT - jobs * PRICE == int(journal["s"]), (balance, journal["s"])

    def mean(a: str, b: str) -> float:
        return statistics.fmean((when(r[b]) - when(r[a])).total_seconds() for r in rows)

    return {
        "backend": backend, "workers": workers, "jobs": jobs, "wall": wall, "written": written,
        "rate": jobs / (max(when(r["delivered_at"]) for r in rows)
                        - min(when(r["submitted_at"]) for r in rows)).total_seconds(),
        "cpu_per_job": cpu / jobs, "fake_cpu": fake_cpu / wall,
        "pg_cpu_per_job": None if pg_cpu is None else pg_cpu / jobs,
        "lock_waiters": statistics.fmean(waiting) if waiting else None,
        "submit": mean("created_at", "submitted_at"), "provider": mean("submitted_at",
                                                                       "finished_at"),
        "deliver": mean("finished_at", "delivered_at"),
    }


@contextlib.contextmanager
def postgres_server(needed: bool) -> Iterator[Any]:
    from tests.support.postgres import PgServer, throwaway_server

    if not needed:
        yield None
    elif os.environ.get("SORA_BENCH_PG_URL"):
        yield PgServer(os.environ["SORA_BENCH_PG_URL"])
    else:
        with throwaway_server(durable=True) as server:
            yield server


async def run_all(backends: list[str], counts: list[int], jobs: int) -> None:
    print(f"{jobs} jobs, {os.cpu_count()} cores; jobs/s from first submit to last delivery;"
          " CPU/job = all workers' CPU s; fakes = their CPU share of one core")
    print(f"{'backend':<10} {'W':>2} {'jobs/s':>7} {'CPU/job':>8} {'fakes':>6}"
          f" {'submit':>7} {'provider':>8} {'deliver':>8} {'lockwait':>8} {'pgCPU/job':>9}")
    base: dict[str, dict[str, Any]] = {}
    with postgres_server("postgresql" in backends) as pg:
        for backend in backends:
            for workers in counts:
                r = await run_one(backend, workers, jobs, pg)
                lock = "" if r["lock_waiters"] is None else f"{r['lock_waiters']:.2f}"
                pgc = "" if r["pg_cpu_per_job"] is None else f"{r['pg_cpu_per_job'] * 1000:.1f}ms"
                print(f"{backend:<10} {workers:>2} {r['rate']:>7.1f}"
                      f" {r['cpu_per_job'] * 1000:>6.1f}ms {r['fake_cpu']:>6.0%}"
                      f" {r['submit']:>6.2f}s {r['provider']:>7.2f}s {r['deliver']:>7.2f}s"
                      f" {lock:>8} {pgc:>9}", flush=True)
                first = base.setdefault(backend, r)
                if r is not first:
                    print(f"{'':<10} {workers:>2} vs 1 worker: jobs/s"
                          f" {r['rate'] / first['rate']:.2f}x, CPU/job"
                          f" {r['cpu_per_job'] / first['cpu_per_job']:.2f}x", flush=True)
    if "sqlite" in base and "postgresql" in base:
        s, p = base["sqlite"], base["postgresql"]
        print(f"postgresql vs sqlite at {s['workers']} worker(s): jobs/s {p['rate'] / s['rate']:.2f}x,"
              f" worker CPU/job {p['cpu_per_job'] / s['cpu_per_job']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--fakes", action="store_true")
    args = parser.parse_args()
    if args.fakes:
        asyncio.run(serve_fakes())
        return
    asyncio.run(run_all(args.backends.split(","), [int(w) for w in args.workers.split(",")],
                        args.jobs))


if __name__ == "__main__":
    main()
