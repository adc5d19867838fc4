"""Migration 0013: jobs of every model fit the jobs table, and the rows before it survive."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.db.database import Database
from bot.db.migrate import load_migrations
from bot.request import VideoOptions
from tests.support.clock import FakeClock
from tests.support.stores import build_stores, make_job, settings_with

GUILD = 42


async def test_a_sora_job_survives_and_a_veo_job_fits_after_0013(tmp_path: Path) -> None:
    path, settings, clock = tmp_path / "bot.sqlite3", settings_with(), FakeClock()
    older = tuple(m for m in load_migrations() if m.version < 13)
    db = await Database.open(path, migrations=older)
    stores = build_stores(db, settings, clock)
    await stores.ledger.grant(GUILD, 100, actor="test", reason="test")
    sora = await stores.jobs.create(make_job(guild_id=GUILD, user_id=7, price=12),
                                    max_per_guild=5, max_per_member=5)
    await db.close()

    db = await Database.open(path)
    try:
        assert db.schema_version >= 13
        stores = build_stores(db, settings, clock)
        assert await stores.jobs.get(sora.id) == sora
        veo = VideoOptions.of("a" * 4500, {"duration": 6, "resolution": "1080p",
                                           "generate_audio": True})
        request = replace(make_job(guild_id=GUILD, user_id=7, price=30, interaction_id=5005),
                          model="veo-3", options=veo)
        job = await stores.jobs.create(request, max_per_guild=5, max_per_member=5)
        stored = await stores.jobs.get(job.id)
        assert stored is not None and stored.options == veo and stored.model == "veo-3"
        assert await stores.ledger.balance(GUILD) == 100 - 12 - 30
    finally:
        await db.close()
