"""Migration 0012 on a database that already holds Sora jobs: they keep every value and gain
their option values; jobs of any model fit afterwards; nothing else about the table changed."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.db.database import Database, load_migrations
from bot.jobs.model import Job
from bot.request import VideoOptions
from tests.support.clock import FakeClock
from tests.support.stores import build_stores, make_job, settings_with

BEFORE = 11  # the schema version before 0012
GUILD = 42


def job_values(job_id: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": job_id, "guild_id": 1, "channel_id": 2, "user_id": 3, "application_id": 4,
        "interaction_id": 5, "interaction_token": "tok",
        "token_expires_at": "2026-12-06T10:15:00+00:00",
        "attachment_size_limit": 8_000_000, "model": "sora-2-pro", "prompt": "a fox",
        "duration": 8, "aspect_ratio": "9:16", "resolution": "high", "price": 40,
        "idempotency_key": f"sora-{job_id}", "state": "reserved",
        "next_action_at": "2026-12-06T10:00:00+00:00",
        "deadline_at": "2026-12-06T10:20:00+00:00", "created_at": "2026-12-06T10:00:00+00:00",
        "updated_at": "2026-12-06T10:00:00+00:00",
    }
    row.update(changes)
    return row


def insert(conn: sqlite3.Connection, row: dict[str, object]) -> None:
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(row.values()))  # noqa: S608


async def test_sora_jobs_keep_everything_and_gain_their_option_values(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    migrations = load_migrations()
    assert migrations[BEFORE].name == "0012_video_models.sql"
    async with await Database.open(path, migrations=migrations[:BEFORE]):
        pass
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    with conn:
        insert(conn, job_values("old", start_image_note="padded"))
        with pytest.raises(sqlite3.IntegrityError):  # what 0002 refused, and why 0012 exists
            insert(conn, job_values("veo", model="veo-3", duration=6, resolution="720p"))
        old = conn.execute("SELECT * FROM jobs WHERE id = 'old'").fetchone()
        before = {key: old[key] for key in old.keys()}  # noqa: SIM118 (Row iterates values)
    conn.close()

    async with await Database.open(path, migrations=migrations) as db:
        row = await db.fetchone("SELECT * FROM jobs WHERE id = 'old'")
        assert row is not None
        job = Job.from_row(row)
        assert job.options == VideoOptions.sora("a fox", 8, "9:16", "high")
        assert {key: row[key] for key in before} == before  # every old column and value
        indexes = {r["name"] for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'"
            " AND name NOT LIKE 'sqlite_autoindex%'")}
        assert indexes == {"jobs_pending", "jobs_by_guild", "jobs_by_member",
                           "jobs_by_member_time", "jobs_run_times", "jobs_cards"}  # 0014: last 2

    conn = sqlite3.connect(path)
    with conn:
        insert(conn, job_values("veo", model="veo-3", duration=6, aspect_ratio="",
                                resolution="720p", params='{"duration": 6}'))
        insert(conn, job_values("mj", model="midjourney-video", duration=0, aspect_ratio="",
                                resolution="hd", params='{"resolution": "hd"}'))
        for bad in ("not json", "[1, 2]"):
            with pytest.raises(sqlite3.IntegrityError):
                insert(conn, job_values(f"bad-{bad}", params=bad))
        with pytest.raises(sqlite3.IntegrityError):  # 0002's other checks still hold
            insert(conn, job_values("neg", price=0, params="{}"))
    conn.close()


async def test_the_store_writes_and_reads_back_a_job_of_another_model(tmp_path: Path) -> None:
    """Through JobStore.create: a Veo job with a 4,500-character prompt (over Sora's 4,000)
    and no aspect ratio is reserved, stored and read back with its options."""
    settings, clock = settings_with(), FakeClock()
    async with await Database.open(tmp_path / "bot.sqlite3") as db:
        stores = build_stores(db, settings, clock)
        await stores.ledger.grant(GUILD, 100, actor="test", reason="test")
        veo = VideoOptions.of("a" * 4500, {"duration": 6, "resolution": "1080p",
                                           "generate_audio": True})
        request = replace(make_job(guild_id=GUILD, user_id=7, price=30, interaction_id=5005),
                          model="veo-3", options=veo)
        job = await stores.jobs.create(request, max_per_guild=5, max_per_member=5)
        stored = await stores.jobs.get(job.id)
        assert stored is not None and stored.options == veo and stored.model == "veo-3"
        assert (stored.duration, stored.aspect_ratio, stored.resolution) == (6, "", "1080p")
        assert await stores.ledger.balance(GUILD) == 100 - 30
