"""Job throughput through 1, 2 and 4 real worker processes, on SQLite and on PostgreSQL.

Run from the repository root::

    .venv/bin/python benchmarks/worker_scaling.py [--jobs 300] [--workers 1,2,4]
                                                  [--backends sqlite,postgresql]

Each configuration gets a fresh database and fresh fakes. The fake Apiframe and the fake
Discord run together in a process of their own (tests/fakes/; their CPU is reported, not
counted): every job completes about 1.5 s after it is submitted, with a 50 kB video. The
parent writes a backlog of N jobs through the bot's own stores (``JobStore.create``: the
reserve and the row in one transaction, as a gateway does on /sora) and holds it back (one
UPDATE of ``next_action_at``); W real ``python -m bot worker`` processes start (no gateway
connection; they log in over REST); once every one has logged in, the backlog is released
(due now; on PostgreSQL one NOTIFY, as a gateway sends). The workers claim, submit, follow
(batched polls), download and deliver the jobs, each with the default ``[jobs]
max_concurrent_work`` (8 steps at once per process: 4 workers have 4 times the slots); the
run ends when every job is ``delivered``.

The interaction tokens are written already expired, so each result is posted to the channel
with the bot token (the fake Discord runs in another process and cannot be told about
interactions it never dispatched): the same REST path a worker takes for a late job.

Printed per configuration: jobs finished per second (first submit to last delivery: on
SQLite a worker hears of jobs another process wrote only at its next idle scan, up to 5 s
later, which is not capacity; that wait is the "submit" step), the
workers' CPU seconds per job (all W processes, after login), the fakes' CPU, the whole
machine's busy cores (all processes: is the box saturated?), the mean
time of each step (created -> submitted -> finished at the provider -> delivered), and on
PostgreSQL the mean number of transactions waiting for the advisory write lock (sampled from
``pg_locks`` every 0.1 s), the server's CPU per job and the transactions committed per job
(``pg_stat_database``, every process, the parent's sampling included). CPU is counted from the
first claim to the last delivery. Ratios: each worker count against one
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


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine, all cores (/proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


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
        interaction_token=f"bench-token-{i}",  # expired on purpose: see above
        token_expires_at=utc_now() - timedelta(minutes=1), attachment_size_limit=10 << 20,
    )
    return VideoRequest(origin=origin, model="sora-2-pro",
                        options=VideoOptions.sora(f"bench {i}", 4, "16:9", "standard"),
                        price=PRICE)


async def commits(db: Any) -> int | None:
    """PostgreSQL: transactions committed in this database so far (None on SQLite)."""
    from bot.db.postgres import PostgresDatabase

    if not isinstance(db, PostgresDatabase):
        return None
    await db.fetchone("SELECT pg_stat_clear_snapshot()", ())
    row = await db.fetchone("SELECT xact_commit AS n FROM pg_stat_database"
                            " WHERE datname = current_database()", ())
    return int(row["n"])


def steady_rate(rows: list[Any]) -> float:
    """Deliveries per second between the first and the third quarter of them (no ramp-up, no
    tail of the last jobs still at the provider)."""
    done = sorted(when(r["delivered_at"]) for r in rows)
    first, last = len(done) // 4, 3 * len(done) // 4
    return (last - first) / max((done[last] - done[first]).total_seconds(), 1e-6)


async def hold(db: Any, due: str) -> None:
    """Move every job's next look to ``due`` (one UPDATE, through the bot's database)."""
    async with db.transaction() as tx:
        await tx.execute("UPDATE jobs SET next_action_at = ?", (due,))


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
                # The backlog, written as a gateway writes it (the reserve and the row in one
                # transaction each), then held back until every worker has logged in.
                began = time.perf_counter()
                for i in range(jobs):
                    await store.jobs.create(request(i, fakes), max_per_guild=10**6,
                                            max_per_member=10**6)
                written = time.perf_counter() - began
                later = (utc_now() + timedelta(days=1)).isoformat()
                await hold(store.db, later)
                for _ in range(workers):
                    procs.append(await start_bot(config, "worker"))
                for bot in procs:
                    await bot.wait_for_log("Worker logged in over REST", timeout=60)
                await asyncio.sleep(0.5)  # settled: the login's own work is not counted
                cpu0 = sum(proc_cpu(bot.proc.pid) for bot in procs)
                fake_cpu0 = proc_cpu(fake.pid)
                busy0, total0 = machine_jiffies()
                parent0 = time.process_time()
                pg_cpu0 = postgres_cpu(pg.port) if backend == "postgresql" else None
                waiting: list[int] = []
                start = time.perf_counter()
                released = utc_now()
                await hold(store.db, released.isoformat())
                if isinstance(store.db, PostgresDatabase):
                    # As a gateway does after each job it writes; on SQLite the workers find
                    # the backlog at their next idle scan (up to 5 s: the "submit" step).
                    wakeups = await store.db.wakeups()
                    wakeups.notify()
                    await wakeups.close()
                deadline = start + 150
                commits0 = await commits(store.db)
                busy = False
                while True:
                    row = await store.db.fetchone(
                        "SELECT COUNT(*) AS n, SUM(CASE WHEN state = 'reserved' THEN 0 ELSE 1"
                        " END) AS started FROM jobs WHERE state != 'delivered'", ())
                    if int(row["n"]) == 0:
                        break
                    if not busy and int(row["started"] or 0) > 0:
                        # Costs are counted from the first claim (SQLite's workers find the
                        # backlog only at their idle scan; idling is not the figure).
                        busy = True
                        cpu0 = sum(proc_cpu(bot.proc.pid) for bot in procs)
                        fake_cpu0 = proc_cpu(fake.pid)
                        busy0, total0 = machine_jiffies()
                        parent0 = time.process_time()
                        if pg_cpu0 is not None:
                            pg_cpu0 = postgres_cpu(pg.port)
                    if time.perf_counter() > deadline:
                        raise AssertionError(f"{row['n']} of {jobs} not delivered in time")
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
                busy1, total1 = machine_jiffies()
                parent = time.process_time() - parent0
                machine = (busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1)
                pg_cpu = None
                # The window's wall seconds, from the machine's ticks (all cores).
                window = max(total1 - total0, 1) / (os.cpu_count() or 1) / TICKS
                for bot in procs:
                    bot.proc.terminate()
                for bot in procs:
                    await bot.wait(timeout=30)
                await asyncio.sleep(1.0)  # the exited backends' statistics are flushed
                spent = None if commits0 is None else await commits(store.db) - commits0
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
        "steady": steady_rate(rows), "machine": machine,
        "ours": (cpu + fake_cpu + parent + (pg_cpu or 0.0)) / window,
        "cpu_per_job": cpu / jobs, "fake_cpu": fake_cpu / wall,
        "pg_cpu_per_job": None if pg_cpu is None else pg_cpu / jobs,
        "commits_per_job": None if spent is None else spent / jobs,
        "lock_waiters": statistics.fmean(waiting) if waiting else None,
        "submit": statistics.fmean(
            (when(r["submitted_at"]) - released).total_seconds() for r in rows),
        "provider": mean("submitted_at", "finished_at"),
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
          " steady = between the 1st and 3rd quarter of deliveries;\nCPU/job = all workers' CPU s;"
          " fakes = their CPU in cores; machine = cores busy (every process on this shared box),"
          " ours = this benchmark's share (workers, fakes, parent, server);"
          "\nsteps = mean s from release to submit, submit to provider finish, to delivered;"
          " lockwait = mean transactions waiting for the PostgreSQL write lock;"
          "\npgCPU/job = the server's CPU; tx/job = transactions committed per job (all processes)")
    print(f"{'backend':<10} {'W':>2} {'jobs/s':>7} {'steady':>7} {'CPU/job':>8} {'fakes':>6}"
          f" {'machine':>7} {'ours':>5}"
          f" {'submit':>7} {'provider':>8} {'deliver':>8} {'lockwait':>8} {'pgCPU/job':>9}")
    base: dict[str, dict[str, Any]] = {}
    with postgres_server("postgresql" in backends) as pg:
        for backend in backends:
            for workers in counts:
                r = await run_one(backend, workers, jobs, pg)
                lock = "" if r["lock_waiters"] is None else f"{r['lock_waiters']:.2f}"
                pgc = "" if r["pg_cpu_per_job"] is None else f"{r['pg_cpu_per_job'] * 1000:.1f}ms"
                if r["commits_per_job"] is not None:
                    pgc += f" {r['commits_per_job']:.1f}"
                print(f"{backend:<10} {workers:>2} {r['rate']:>7.1f} {r['steady']:>7.1f}"
                      f" {r['cpu_per_job'] * 1000:>6.1f}ms {r['fake_cpu']:>6.2f}"
                      f" {r['machine']:>7.2f} {r['ours']:>5.2f}"
                      f" {r['submit']:>6.2f}s {r['provider']:>7.2f}s {r['deliver']:>7.2f}s"
                      f" {lock:>8} {pgc:>16}", flush=True)
                print(f"{'':<10} {workers:>2} (backlog written at"
                      f" {r['jobs'] / r['written']:.0f} jobs/s by one writer)", flush=True)
                first = base.setdefault(backend, r)
                if r is not first:
                    print(f"{'':<10} {workers:>2} vs 1 worker: jobs/s"
                          f" {r['rate'] / first['rate']:.2f}x, steady"
                          f" {r['steady'] / first['steady']:.2f}x, CPU/job"
                          f" {r['cpu_per_job'] / first['cpu_per_job']:.2f}x", flush=True)
    if "sqlite" in base and "postgresql" in base:
        s, p = base["sqlite"], base["postgresql"]
        print(f"postgresql vs sqlite at {s['workers']} worker(s):"
              f" jobs/s {p['rate'] / s['rate']:.2f}x,"
              f" steady {p['steady'] / s['steady']:.2f}x,"
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
