"""/healthz and /metrics (bot/web/ops.py), served from a bare aiohttp app wired to the real
bot running against the loopback fakes on a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.jobs.model import JobState
from tests.fakes.apiframe_model import Fault
from tests.sora_harness import GENERATE, LIST, POLL, SoraHarness, Starter
from tests.support.ops import health_of, ops_client, scrape, total, value

MODEL = "sora-2-pro"
WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"


async def healthz(client: TestClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/healthz")
    return response.status, await response.json()


async def healthy(h: SoraHarness, client: TestClient) -> None:
    """Wait until the bot is up (gateway ready, the job queue's first pass done): 200."""
    async def ok() -> bool:
        return (await healthz(client))[0] == 200
    await h.until(ok, what="/healthz to answer 200")
    assert await healthz(client) == (200, {"status": "ok"})


async def schema_version(h: SoraHarness) -> int:
    row = await h.services.store.db.fetchone("PRAGMA user_version")
    assert row is not None
    return int(next(iter(row.values())))


@contextmanager
def immutable_wal(db_path: Path) -> Iterator[None]:
    """Make the open database refuse every write, as a full or read-only disk does: the bot's
    connection keeps its file handles, so only the immutable flag (root) stops its writes to
    the write-ahead log, where every commit goes."""
    wal = db_path.with_name(db_path.name + "-wal")
    chattr = shutil.which("chattr")
    if os.geteuid() != 0 or chattr is None or not wal.exists():
        pytest.skip("needs root and chattr to make an open database unwritable")
    if subprocess.run([chattr, "+i", str(wal)], check=False).returncode:
        pytest.skip("chattr +i does not work on this filesystem")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(wal)], check=True)


# --- /healthz ----------------------------------------------------------------------------


async def test_healthy_bot_answers_200_and_changes_nothing(start: Starter) -> None:
    h = await start()
    before = (await schema_version(h), await h.balance(), await h.journal())
    async with ops_client(h) as client:
        await healthy(h, client)
        for _ in range(3):
            assert (await healthz(client))[0] == 200
    assert (await schema_version(h), await h.balance(), await h.journal()) == before


async def test_an_unwritable_database_is_503_naming_the_file(start: Starter) -> None:
    h = await start()
    db_path = h.services.store.db.path
    async with ops_client(h) as client:
        await healthy(h, client)
        with immutable_wal(db_path):
            status, body = await healthz(client)
        assert status == 503 and body["status"] == "unhealthy"
        [problem] = body["problems"]
        assert problem.startswith(f"database: {db_path} is not writable (")
        assert problem.endswith("check its file and folder permissions and free disk space")
        # Writable again: healthy again, on the same connection.
        assert await healthz(client) == (200, {"status": "ok"})


async def test_a_database_locked_by_another_process_is_503(start: Starter) -> None:
    h = await start(database={"busy_timeout_ms": 200})
    db_path = h.services.store.db.path
    async with ops_client(h) as client:
        await healthy(h, client)
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # a stuck backup or a second bot, say
            status, body = await healthz(client)
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert status == 503
        [problem] = body["problems"]
        assert problem.startswith(f"database: {db_path} ")
        assert (await healthz(client))[0] == 200


async def test_a_stopped_scheduler_loop_is_503_until_it_runs_again(start: Starter) -> None:
    h = await start()
    duties = h.bot.scheduler.duties
    async with ops_client(h) as client:
        await healthy(h, client)
        await duties.stop()
        status, body = await healthz(client)
        assert status == 503
        assert body["problems"] == [
            "scheduler: its loop is not running (see the log for why it stopped)"]
        duties.start()
        await healthy(h, client)


async def test_a_job_queue_that_has_not_run_for_too_long_is_503(start: Starter) -> None:
    """The loop is alive but its job queue's last pass ended long ago (a pass is stuck): the
    check's clock is moved past ``stale_after`` instead of waiting a minute."""
    h = await start()
    late = 0.0
    loop = asyncio.get_running_loop()
    health = health_of(h, stale_after=30.0, now=lambda: loop.time() + late)
    async with ops_client(h, health) as client:
        await healthy(h, client)
        late = 45.0
        status, body = await healthz(client)
        assert status == 503
        [problem] = body["problems"]
        assert problem.startswith("scheduler: the job queue last ran 4") and "limit 30s" in problem
        late = 0.0
        assert (await healthz(client))[0] == 200


async def test_a_disconnected_gateway_is_503(start: Starter) -> None:
    h = await start()
    async with ops_client(h) as client:
        await healthy(h, client)
        await h.bot.close()
        status, body = await healthz(client)
    assert status == 503
    assert any(p.startswith("gateway: not connected") for p in body["problems"]), body


# --- /metrics ----------------------------------------------------------------------------


async def test_metrics_count_a_delivered_and_a_refunded_job(start: Starter) -> None:
    h = await start()
    # One listing poll answered 503 (counted as an error of its route), one progress edit refused by
    # Discord with a 500 (discord.py retries it; the error is counted once).
    h.apiframe.inject(LIST, Fault.status(503))
    h.discord.inject_status("PATCH", WEBHOOK_MESSAGE, status=500)
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    delivered = await h.created_job(await h.send_sora("a fox in the snow", duration=8))
    delivered = await h.run_until(delivered.id, JobState.DELIVERED, timeout=20)
    h.apiframe.script_next_job("FAILED", error="internal error", queued_s=1, processing_s=2)
    refunded = await h.created_job(await h.send_sora("a heron at dusk"))
    refunded = await h.run_until(refunded.id, JobState.REFUNDED)
    assert delivered.apiframe_job_id is not None
    billed = h.apiframe.jobs[delivered.apiframe_job_id].cost
    assert billed > 0 and delivered.price != refunded.price

    async with ops_client(h) as client:
        m = await scrape(client)

    assert value(m, "sora_jobs", state="delivered") == 1
    assert value(m, "sora_jobs", state="refunded") == 1
    assert value(m, "sora_jobs", state="submitted") == 0
    assert value(m, "sora_credits_reserved_total", model=MODEL) == delivered.price + refunded.price
    assert value(m, "sora_credits_refunded_total", model=MODEL) == refunded.price
    # The margin, per model: what the guild paid for what it got, and what Apiframe billed.
    assert value(m, "sora_credits_charged_total", model=MODEL) == delivered.price
    assert value(m, "sora_provider_credits_billed_total", model=MODEL) == billed
    # Created -> delivered, on the bot's clock.
    assert delivered.delivered_at is not None
    took = (delivered.delivered_at - delivered.created_at).total_seconds()
    assert value(m, "sora_job_duration_seconds_count", model=MODEL) == 1
    assert value(m, "sora_job_duration_seconds_sum", model=MODEL) == pytest.approx(took, abs=1)
    # Every request the fake Apiframe saw was counted under its route, and only those.
    assert value(m, "sora_apiframe_requests_total", route=GENERATE) == 2
    assert value(m, "sora_apiframe_requests_total", route=LIST) == len(
        h.apiframe_requests(LIST))
    assert value(m, "sora_apiframe_requests_total", route=POLL) == len(
        h.apiframe_requests(POLL))
    assert value(m, "sora_apiframe_requests_total", route="GET result video") == 1
    assert value(m, "sora_apiframe_errors_total", route=LIST, kind="ServerError") == 1
    assert total(m, "sora_apiframe_errors_total", lambda labels: True) == 1
    # Discord: as many errors as the fake answered, the injected 500 among them.
    answered = [r.status for r in h.discord.requests if r.status is not None and r.status >= 400]
    assert value(m, "sora_discord_http_errors_total", status="500") == answered.count(500) == 1
    assert total(m, "sora_discord_http_errors_total", lambda labels: True) == len(answered)
    assert value(m, "sora_scheduler_lag_seconds") == 0


async def test_scheduler_lag_is_how_late_the_most_overdue_job_is(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    job = await h.created_job(await h.send_sora())
    await h.run_until(job.id, JobState.SUBMITTED)
    await h.bot.scheduler.duties.stop()  # nobody works the queue: the job falls behind
    h.discord.advance(90)
    async with ops_client(h) as client:
        m = await scrape(client)
    assert 85 <= value(m, "sora_scheduler_lag_seconds") <= 95
    assert value(m, "sora_jobs", state="submitted") == 1


# --- the container's HEALTHCHECK ---------------------------------------------------------


def dockerfile_healthcheck() -> tuple[list[str], str, str]:
    """The HEALTHCHECK's command, the URL it reads by default, and the EXPOSEd port."""
    text = (Path(__file__).parents[2] / "Dockerfile").read_text().replace("\\\n", " ")
    lines = text.splitlines()
    [check] = [line for line in lines if line.startswith("HEALTHCHECK")]
    env = "ENV SORA_BOT_HEALTHZ_URL="
    [url] = [line.removeprefix(env) for line in lines if line.startswith(env)]
    [port] = [line.split()[1] for line in lines if line.startswith("EXPOSE")]
    return json.loads(check.split(" CMD ", 1)[1]), url, port


async def run_check(command: list[str], url: str) -> int:
    python, *args = command
    assert python == "python"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env={**os.environ, "SORA_BOT_HEALTHZ_URL": url},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 30)


async def test_the_dockerfile_healthcheck_passes_only_on_a_healthy_bot(start: Starter) -> None:
    command, default_url, port = dockerfile_healthcheck()
    assert default_url == f"http://127.0.0.1:{port}/healthz"
    h = await start()
    async with ops_client(h) as client:
        await healthy(h, client)
        url = str(client.make_url("/healthz"))
        assert await run_check(command, url) == 0
        await h.bot.scheduler.duties.stop()
        assert await run_check(command, url) != 0
        assert await run_check(command, str(client.make_url("/nothing-here"))) != 0
