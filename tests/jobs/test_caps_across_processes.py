"""The guild's caps are checked inside the reserving transaction, so requests racing from
several processes (here: several connections or pools) cannot pass a cap together, on either
backend. JobStore.create reads the member's spending and jobs in flight, then reserves: on
PostgreSQL that read-then-write holds only because write transactions exclude each other
(bot/db/postgres.py), as BEGIN IMMEDIATE makes them on SQLite."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.db.database import Database
from bot.policy.rules import PolicyRefusal
from bot.request import VideoRequest
from tests.support.clock import FakeClock
from tests.support.postgres import open_again
from tests.support.stores import build_stores, make_job, settings_with

GUILD, MEMBER = 1001, 7


async def _race(db: Database, clock: FakeClock, requests: list[VideoRequest]) -> int:
    """Each request from its own connection at once; how many got through."""
    settings = settings_with()
    others = [await open_again(db, busy_timeout_ms=30_000) for _ in range(4)]
    try:
        stores = [build_stores(o, settings, clock) for o in others]

        async def attempt(n: int, request: VideoRequest) -> bool:
            try:
                await stores[n % len(stores)].jobs.create(
                    request, max_per_guild=100, max_per_member=100)
            except PolicyRefusal:
                return False
            return True

        return sum(await asyncio.gather(*(attempt(n, r) for n, r in enumerate(requests))))
    finally:
        for other in others:
            await other.close()


async def test_a_daily_cap_holds_against_racing_requests(db: Database, clock: FakeClock) -> None:
    stores = build_stores(db, settings_with(), clock)
    await stores.ledger.grant(GUILD, 1000, actor="operator", reason=None)
    await stores.policy.update(GUILD, actor="user:1", daily_cap=36)
    requests = [make_job(guild_id=GUILD, user_id=MEMBER, price=12,
                         token_expires_at=clock() + timedelta(minutes=15),
                         interaction_id=5000 + n) for n in range(24)]
    assert await _race(db, clock, requests) == 3  # 3 x 12 = the cap of 36
    assert await stores.ledger.balance(GUILD) == 1000 - 36


async def test_a_member_s_in_flight_limit_holds_against_racing_requests(
    db: Database, clock: FakeClock
) -> None:
    stores = build_stores(db, settings_with(), clock)
    await stores.ledger.grant(GUILD, 1000, actor="operator", reason=None)
    await stores.policy.update(GUILD, actor="user:1", max_in_flight_member=2)
    requests = [make_job(guild_id=GUILD, user_id=MEMBER, price=12,
                         token_expires_at=clock() + timedelta(minutes=15),
                         interaction_id=6000 + n) for n in range(24)]
    assert await _race(db, clock, requests) == 2
    assert await stores.ledger.balance(GUILD) == 1000 - 24
