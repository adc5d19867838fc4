"""A worker SIGKILLed mid-step: another process carries its jobs on once their leases run out.

The real bot runs as a subprocess (``python -m bot run``) with a 2-second lease. Its jobs'
downloads are held open at the fake CDN, and it is SIGKILLed while every job is mid-download
(completed, leased to it). A second bot in the test's own process, on its own connection to
the same database file and under another name (so it cannot take the leases back by name, as
a restart of the same process would), must leave those jobs alone until their leases end,
then deliver each exactly once. The verdict comes from the database and the fakes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.app import SoraBot, open_services
from bot.config import load_settings
from bot.discord_endpoints import point_discord_at
from tests.fakes.apiframe import FakeApiframe, Fault, JobScript
from tests.fakes.discord import FakeDiscord
from tests.kill9_support import (
    CDN_VIDEO,
    USERS,
    apiframe_time_running,
    cdn_requested,
    generate_requests_by_key,
    outcome_posts,
    read_balance,
    read_jobs,
    read_journal,
    start_connected,
)

JOBS = 3
LEASE = 2.0


async def wait_rows(path: Path, done: Callable[[list[dict[str, object]]], bool],
                    timeout: float = 30.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await read_jobs(path)
        if len(rows) == JOBS and done(rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"jobs never got there: {await read_jobs(path)}")


async def test_a_killed_workers_jobs_resume_elsewhere_after_the_lease(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: Callable[..., Path]
) -> None:
    fake_apiframe.video_size = 200_000
    fake_apiframe.default_script = JobScript("COMPLETED", None, 1, 3)
    guild = fake_discord.add_guild("Lease Club")
    config = write_config(
        apiframe={"poll_interval_seconds": 0.2},
        jobs={"progress_edit_interval_seconds": 1, "lease_seconds": LEASE},
        ledger={"starting_credits": 1000}, logging={"level": "INFO"},
    )
    path = load_settings(config).database.path
    fake_apiframe.inject(CDN_VIDEO, Fault.slow(60), times=None)  # every download hangs

    async with apiframe_time_running(fake_apiframe):
        worker = await start_connected(config, fake_discord)
        try:
            for n in range(JOBS):
                await fake_discord.send_slash_command(guild, USERS[n], "sora", [
                    {"name": "prompt", "type": 3, "value": f"a kite over dunes, take {n}"}])
            held = await wait_rows(path, lambda rows: all(
                r["state"] == "completed" and r["lease_owner"]
                and cdn_requested(fake_apiframe, str(r["apiframe_job_id"])) for r in rows))
        finally:
            worker.proc.kill()  # SIGKILL, mid-download
            await worker.wait()
        fake_apiframe.clear_faults()
        assert all(str(r["lease_owner"]).startswith("main/") for r in held)
        leases_end = max(datetime.fromisoformat(str(r["lease_until"])) for r in held)

        restore = point_discord_at(fake_discord.api_base_url, fake_discord.gateway_url)
        try:
            settings = load_settings(config)
            async with open_services(settings) as services:
                other = SoraBot(services, run_jobs=True, instance=None)
                try:
                    await other.login(fake_discord.token)  # REST only, as a worker process
                    rows = await wait_rows(path, lambda rows: all(
                        r["state"] == "delivered" for r in rows))
                finally:
                    await other.close()
        finally:
            restore()
    rows = await read_jobs(path)  # after the last step's release (or the stop's)

    # Not one of them was taken before its lease ran out.
    assert all(datetime.fromisoformat(str(r["delivered_at"])) >= leases_end for r in rows)
    for row in rows:
        assert len(outcome_posts(fake_discord, row, "d")) == 1, row["id"]
        assert row["lease_owner"] is None
    assert set(generate_requests_by_key(fake_apiframe).values()) == {1}
    journal = await read_journal(path)
    assert await read_balance(path, guild.id) == sum(int(e["delta"]) for e in journal)
    assert datetime.now(UTC) >= leases_end
