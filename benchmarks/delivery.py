"""Delivering finished videos: the bot's path vs a raw download + upload of the same bytes.

Run from the repository root::

    .venv/bin/python benchmarks/delivery.py

Both runs use the loopback fakes (tests/fakes/): Apiframe's CDN serves ``JOBS`` MP4s of
``SIZE_MB`` each and the fake Discord takes them as message attachments. (The fake Discord,
like Discord, refuses a request over 25 MiB and the default attachment limit is 10 MiB, so
the videos are 20 MiB, sent from a guild whose attachment limit is 50 MiB, as a level-2
boosted server's is; the issue's 60 MB videos would not fit the fake's request limit.)

- ``raw`` (the baseline): ``JOBS`` aiohttp GETs of the result URLs, each streamed to a file,
  then a multipart POST of that file to ``/channels/{id}/messages``, ``CONCURRENCY`` at a time
  (the bot's default ``[jobs] max_concurrent_work``). Nothing else.
- ``bot``: the real bot (tests/sora_harness.py) with ``JOBS`` /sora jobs submitted and waiting;
  the clock starts when Apiframe's clock moves past their completion, and stops when every
  job is DELIVERED: one confirming poll each, the guarded download, the post with its card and
  buttons, and every database write on the way.

Each runs ``RUNS`` times, alternating, in a fresh subprocess (the fakes in the same process),
which reports its wall time and its peak resident set size (VmHWM from /proc/self/status, or
ru_maxrss elsewhere); the medians are printed. Both peaks include the fakes, which hold each
upload in memory while they parse it: the bot's own share is the difference.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JOBS = 20
SIZE_MB = 20
FILE_LIMIT = 50 * 1024 * 1024
RUNS = 3
CONCURRENCY = 8
MB = 1024 * 1024




# -- what each child runs --------------------------------------------------------------------


async def finished_jobs(apiframe: Any, http: Any, key: str) -> list[str]:
    """Submit ``JOBS`` jobs to the fake Apiframe, let them finish; their result URLs."""
    ids = []
    for n in range(JOBS):
        async with http.post(f"{apiframe.base_url}/v2/videos/generate", headers={"X-API-Key": key},
                             json={"prompt": f"raw {n}", "model": "sora-2-pro"}) as response:
            ids.append((await response.json())["jobId"])
    apiframe.clock.advance(3600)
    urls = []
    for job_id in ids:
        async with http.get(f"{apiframe.base_url}/v2/jobs/{job_id}",
                            headers={"X-API-Key": key}) as response:
            body = await response.json()
        result = body["result"]  # either documented shape
        urls.append(result["videoUrl"] if isinstance(result, dict) else result)
    return urls


async def run_raw(workdir: Path) -> float:
    import json

    import aiohttp

    from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN
    from tests.fakes.apiframe import FakeApiframe
    from tests.fakes.discord import FakeDiscord

    async with FakeDiscord(token=DISCORD_TOKEN) as discord, \
            FakeApiframe(api_key=APIFRAME_KEY) as apiframe, aiohttp.ClientSession() as http:
        apiframe.video_size = SIZE_MB * MB
        guild = discord.add_guild("Raw")
        guild.filesize_limit = FILE_LIMIT  # a level-2 boosted server
        channel = guild.channel_id
        urls = await finished_jobs(apiframe, http, APIFRAME_KEY)
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int, url: str) -> None:
            async with limit:
                path = workdir / f"raw-{n}.mp4"
                with path.open("wb") as out:
                    async with http.get(url) as response:
                        response.raise_for_status()
                        async for chunk in response.content.iter_chunked(256 * 1024):
                            out.write(chunk)
                with path.open("rb") as video:
                    form = aiohttp.FormData()
                    form.add_field("payload_json", json.dumps({"content": "done"}),
                                   content_type="application/json")
                    form.add_field("files[0]", video, filename="video.mp4",
                                   content_type="video/mp4")
                    async with http.post(f"{discord.api_base_url}/channels/{channel}/messages",
                                         data=form,
                                         headers={"Authorization": f"Bot {DISCORD_TOKEN}"}
                                         ) as response:
                        response.raise_for_status()
                path.unlink()

        start = time.perf_counter()
        await asyncio.gather(*(one(n, url) for n, url in enumerate(urls)))
        return time.perf_counter() - start


async def run_bot(workdir: Path) -> float:
    from bot.jobs.model import JobState
    from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, render_toml
    from tests.fakes.apiframe import FakeApiframe
    from tests.fakes.discord import FakeDiscord
    from tests.sora_harness import harness_factory

    async with FakeDiscord(token=DISCORD_TOKEN) as discord, \
            FakeApiframe(api_key=APIFRAME_KEY, credits=100_000) as apiframe:

        def write_config(**sections: dict[str, Any]) -> Path:
            tables: dict[str, dict[str, Any]] = {
                "discord": {"token": DISCORD_TOKEN, "api_base_url": discord.api_base_url,
                            "gateway_url": discord.gateway_url},
                # Jobs looked at every interval: this measures delivery, and Apiframe's clock
                # jumps ahead of the bot's, so no expected run time would fit.
                "apiframe": {"api_key": APIFRAME_KEY, "base_url": apiframe.base_url,
                             "download_hosts": ["127.0.0.1"], "allow_private_addresses": True,
                             "expected_time_polling": False},
                "database": {"path": str(workdir / "bot.sqlite3")},
            }
            for name, table in sections.items():
                tables.setdefault(name, {}).update(table)
            path = workdir / "config.toml"
            path.write_text(render_toml(tables), encoding="utf-8")
            return path

        async with harness_factory(discord, apiframe, write_config) as start:
            h = await start(jobs={"max_in_flight_per_guild": JOBS,
                                  "max_in_flight_per_member": JOBS},
                            ledger={"starting_credits": 100_000},
                            logging={"level": "ERROR"})
            apiframe.video_size = SIZE_MB * MB
            h.guild.filesize_limit = FILE_LIMIT
            jobs = [await h.created_job(await h.send_sora(f"bot {n}",
                                                          attachment_size_limit=FILE_LIMIT))
                    for n in range(JOBS)]

            async def in_state(state: JobState) -> bool:
                return all([(await h.job(job.id)).state is state for job in jobs])

            await h.until(lambda: in_state(JobState.SUBMITTED), timeout=60, what="submitted")
            start_at = time.perf_counter()
            apiframe.clock.advance(3600)  # every job finishes at once
            h.bot.scheduler.wake()
            await h.until(lambda: in_state(JobState.DELIVERED), timeout=600, what="delivered")
            return time.perf_counter() - start_at


def child(mode: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    import bot.app  # noqa: F401  (what a running bot has loaded, in both runs)

    with tempfile.TemporaryDirectory() as tmp:
        seconds = asyncio.run((run_raw if mode == "raw" else run_bot)(Path(tmp)))
    print(f"{seconds:.3f} {peak_rss_mb():.0f}")


# -- the parent --------------------------------------------------------------------------


def measure(mode: str) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Our own interpreter and script, with arguments this file chose.
    done = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", mode], env=env,
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), float(peak)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> int:
    runs: dict[str, list[tuple[float, float]]] = {"raw": [], "bot": []}
    for _ in range(RUNS):
        for mode, results in runs.items():
            results.append(measure(mode))
    raw_s, raw_peak = (median([r[i] for r in runs["raw"]]) for i in (0, 1))
    bot_s, bot_peak = (median([r[i] for r in runs["bot"]]) for i in (0, 1))
    total = JOBS * SIZE_MB
    print(f"{JOBS} videos x {SIZE_MB} MiB ({total} MiB), {CONCURRENCY} at a time, through the"
          f" loopback fakes (in the same process); median of {RUNS} runs each")
    print(f"{'path':<32} {'wall':>8} {'MiB/s':>7} {'vs raw':>7} {'peak RSS':>9}")
    for label, seconds, peak in (("raw download + upload (baseline)", raw_s, raw_peak),
                                 ("bot delivery", bot_s, bot_peak)):
        print(f"{label:<32} {seconds:>7.2f}s {total / seconds:>7.0f} {seconds / raw_s:>6.2f}x"
              f" {peak:>6.0f} MB")
    print(f"\nbot delivery: {bot_s / raw_s:.2f}x the raw time, peak RSS {bot_peak:.0f} MB"
          f" ({bot_peak - raw_peak:+.0f} MB vs raw)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        sys.exit(main())
