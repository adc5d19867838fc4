"""Once-only duties with many processes (bot/duties.py ``once``): two audit posters, each with
its own database connection, Discord client and duty loop, post every audit event once.

Both loops are live at the same moment over one outbox; the duty lease (bot/jobs/leases.py)
lets one of them post. The verdict is what the fake Discord received: one POST per event
nonce, in the events' order.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import discord

from bot.audit.trail import AUDIT_DUTY, AuditLog, AuditPoster, EventStatus
from bot.db.database import Database
from bot.discord_endpoints import point_discord_at
from bot.duties import Duties
from bot.jobs.leases import JobLeases
from bot.worker.claims import Claims
from tests.fakes.discord import FakeDiscord
from tests.support.clock import FakeClock

EVENTS = 30


def _ignore(*_args: object) -> None:
    return None


async def test_two_posters_post_each_audit_event_once(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    guild = fake_discord.add_guild("Audit Club")
    clock = FakeClock()
    async with AsyncExitStack() as stack:
        stack.callback(point_discord_at(fake_discord.api_base_url, fake_discord.gateway_url))
        posters: list[tuple[AuditLog, Duties, Claims]] = []
        dbs: list[Database] = []
        for _ in range(2):  # two processes: a connection, a REST client, a duty loop each
            db = await Database.open(tmp_path / "bot.sqlite3")
            stack.push_async_callback(db.close)
            dbs.append(db)
            client = discord.Client(intents=discord.Intents.none())
            await client.login(fake_discord.token)
            stack.push_async_callback(client.close)
            claims = Claims(JobLeases(db, clock), clock, timedelta(seconds=30), instance=None,
                            lost=_ignore, freed=_ignore)
            duties = Duties(leader=claims)
            audit = AuditLog(db, clock)
            AuditPoster(audit, client, duties, interval=0.05, batch=7)
            posters.append((audit, duties, claims))
        audit = posters[0][0]
        await audit.set_channel(guild.id, guild.channel_id, actor="test")
        async with dbs[0].transaction() as tx:
            ids = [await audit.record(tx, guild.id, f"event {n}") for n in range(EVENTS)]
        for _audit, duties, _claims in posters:
            duties.start()
            stack.push_async_callback(duties.stop)

        async def all_posted() -> None:
            while any(e.status is not EventStatus.POSTED
                      for e in await audit.events(guild.id, limit=EVENTS)):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(all_posted(), 15)

        posts = [r for r in fake_discord.requests if r.method == "POST"
                 and r.path.endswith(f"/channels/{guild.channel_id}/messages")]
        assert Counter(r.json["nonce"] for r in posts) == {f"a{i}": 1 for i in ids}
        assert [r.json["nonce"] for r in posts] == [f"a{i}" for i in ids]  # in order
        holder = await JobLeases(dbs[1], clock).duty_holder(AUDIT_DUTY)
        assert holder is not None and holder[0] in {claims.owner for *_, claims in posters}
