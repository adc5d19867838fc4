"""Open acknowledgements with several gateway processes on one database (bot/jobs/acks.py): a
starting process retires its own leftovers, never another live process's placeholders, and
anyone's once the interaction token is past its life."""

from __future__ import annotations

from datetime import timedelta

from bot.db.database import Database
from bot.jobs.acks import AckStore, OpenAck
from tests.support.clock import FakeClock

APP = 9_000_000_000_000_000_001



def ack(interaction_id: int, clock: FakeClock) -> OpenAck:
    return OpenAck(interaction_id, APP, f"token-{interaction_id}",
                   clock() + timedelta(minutes=15))


async def test_a_gateway_retires_only_its_own_fresh_acknowledgements(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    shard_0 = AckStore(db, clock, owner="gateway-0")
    shard_1 = AckStore(other_db, clock, owner="gateway-1")
    await shard_0.open(ack(1, clock))
    await shard_1.open(ack(2, clock))

    # gateway-1 restarts: its own row is an orphan; gateway-0's is being worked on.
    assert [a.interaction_id for a in await shard_1.orphans()] == [2]
    assert [a.interaction_id for a in await shard_0.orphans()] == [1]

    # Past the token's life nobody can still answer it: whoever starts cleans it up.
    clock.now += timedelta(minutes=15)
    assert [a.interaction_id for a in await shard_1.orphans()] == [1, 2]


async def test_rows_from_before_owners_were_recorded_belong_to_everyone(
    db: Database, clock: FakeClock
) -> None:
    await AckStore(db, clock, owner="main").open(ack(3, clock))
    async with db.transaction() as tx:  # as migration 0013 leaves an older run's row
        await tx.execute("UPDATE open_acks SET owner = NULL")

    assert [a.interaction_id for a in await AckStore(db, clock, owner="gateway-7").orphans()] \
        == [3]


async def test_an_orphan_keeps_the_members_language(db: Database, clock: FakeClock) -> None:
    acks = AckStore(db, clock, owner="main")
    await acks.open(OpenAck(7, APP, "token-7", clock() + timedelta(minutes=15), "pt-BR"))
    await acks.open(ack(8, clock))
    found = {a.interaction_id: a.locale for a in await acks.orphans()}
    assert found == {7: "pt-BR", 8: None}
