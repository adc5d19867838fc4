"""Guild spending policy on a real database file: storage, validation, the member's spending
windows, and enforcement inside JobStore.create's reserving transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from bot.config import Settings
from bot.db.database import Database
from bot.jobs.model import FailureKind, JobLimitReached
from bot.jobs.store import JobStore
from bot.policy.rules import GuildPolicy, InvalidPolicy, MemberSpending, PolicyRefusal
from bot.policy.store import PolicyStore
from bot.request import VideoRequest
from tests.support.clock import FakeClock
from tests.support.stores import make_job, settings_with

GUILD, OTHER_GUILD = 1001, 1002
MEMBER, OTHER_MEMBER = 7, 8
# A Wednesday: the ISO week began on Monday the 23rd, the month on the 1st.
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MOD = "user:99"

new_job = partial(make_job, guild_id=GUILD, user_id=MEMBER)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def settings() -> Settings:
    return settings_with(
        ledger={"max_balance": 100_000, "starting_credits": 10_000},
        jobs={"max_in_flight_per_guild": 1000, "max_in_flight_per_member": 100},
    )


async def create(jobs: JobStore, job: VideoRequest) -> None:
    await jobs.create(job, max_per_guild=1000, max_per_member=100)


async def reserved_total(db: Database) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(-SUM(delta), 0) AS s FROM ledger_journal WHERE kind = 'reserve'"
    )
    assert row is not None
    return int(row["s"])


# -- storage and validation --------------------------------------------------------------


async def test_a_guild_that_never_set_a_policy_gets_the_defaults(policy: PolicyStore) -> None:
    assert await policy.get(GUILD) == GuildPolicy(
        GUILD, daily_cap=None, weekly_cap=None, cooldown_seconds=0, max_in_flight_guild=None,
        max_in_flight_member=None, max_resolution=None, max_duration=None,
        allowed_role_ids=frozenset(), allowed_channel_ids=frozenset(), frozen=False,
    )


async def test_update_round_trips_clears_with_none_and_records_the_actor(
    policy: PolicyStore, db: Database, clock: FakeClock
) -> None:
    changed = await policy.update(
        GUILD, actor=MOD, daily_cap=120, weekly_cap=500, cooldown_seconds=300,
        max_in_flight_guild=4, max_in_flight_member=1, max_resolution="standard",
        max_duration=8,
    )
    assert changed == await policy.get(GUILD)
    assert (changed.daily_cap, changed.weekly_cap, changed.cooldown_seconds) == (120, 500, 300)
    assert (changed.max_in_flight_guild, changed.max_in_flight_member) == (4, 1)
    assert (changed.max_resolution, changed.max_duration) == ("standard", 8)

    clock.now = T0 + timedelta(minutes=1)
    cleared = await policy.update(GUILD, actor="user:100", daily_cap=None, cooldown_seconds=None)
    assert (cleared.daily_cap, cleared.cooldown_seconds, cleared.weekly_cap) == (None, 0, 500)
    row = await db.fetchone("SELECT updated_by, updated_at FROM guild_policies")
    assert row is not None and row["updated_by"] == "user:100"
    assert datetime.fromisoformat(row["updated_at"]) == clock.now
    assert await policy.get(OTHER_GUILD) == GuildPolicy(OTHER_GUILD)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"daily_cap": 0}, "daily cap must be a whole number from 1 to 100,000"),
        ({"daily_cap": -5}, "daily cap must be a whole number"),
        ({"daily_cap": 12.5}, "daily cap must be a whole number"),
        ({"daily_cap": "12"}, "daily cap must be a whole number"),
        ({"daily_cap": True}, "daily cap must be a whole number"),
        ({"weekly_cap": 100_001}, "weekly cap must be a whole number from 1 to 100,000"),
        ({"cooldown_seconds": -1}, "cooldown must be a whole number of seconds"),
        ({"cooldown_seconds": 7 * 86400 + 1}, "cooldown must be a whole number of seconds"),
        ({"max_in_flight_member": 0}, "per-member limit of videos in progress must be"),
        ({"max_in_flight_guild": 1001}, "server's limit of videos in progress must be"),
        ({"max_resolution": "ultra"}, "maximum resolution must be standard or high"),
        ({"max_duration": 5}, "maximum duration must be one of 4, 8, 10, 12 or 15"),
        ({"daily_cap": 10, "max_duration": 9}, "maximum duration must be one of"),
    ],
)
async def test_invalid_limits_are_refused_and_change_nothing(
    policy: PolicyStore, db: Database, changes: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidPolicy, match=words):
        await policy.update(GUILD, actor=MOD, **changes)
    assert await policy.get(GUILD) == GuildPolicy(GUILD)
    assert await db.fetchall("SELECT * FROM guild_policies") == []


async def test_an_unknown_limit_name_is_a_programming_error(policy: PolicyStore) -> None:
    with pytest.raises(TypeError, match="not a policy limit: monthly_cap"):
        await policy.update(GUILD, actor=MOD, monthly_cap=5)


async def test_roles_channels_and_freeze_replace_and_clear(policy: PolicyStore) -> None:
    await policy.set_roles(GUILD, [11, 12, 12], actor=MOD)
    assert (await policy.set_roles(GUILD, [13], actor=MOD)).allowed_role_ids == {13}
    after = await policy.set_channels(GUILD, [21, 22], actor=MOD)
    assert after.allowed_channel_ids == {21, 22} and after.allowed_role_ids == {13}
    assert (await policy.set_channels(GUILD, [], actor=MOD)).allowed_channel_ids == frozenset()
    assert (await policy.set_frozen(GUILD, True, actor=MOD)).frozen
    assert not (await policy.set_frozen(GUILD, False, actor=MOD)).frozen
    with pytest.raises(InvalidPolicy, match="Discord ids"):
        await policy.set_roles(GUILD, [0], actor=MOD)
    assert (await policy.get(GUILD)).allowed_role_ids == {13}
    assert (await policy.get(OTHER_GUILD)).allowed_role_ids == frozenset()


# -- spending windows ------------------------------------------------------------------------


async def test_spending_counts_unrefunded_jobs_per_utc_day_iso_week_and_month(
    jobs: JobStore, policy: PolicyStore, clock: FakeClock
) -> None:
    moments_and_prices = [
        (datetime(2026, 10, 31, 23, 59, tzinfo=UTC), 1000),  # last month: never counted
        (datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC), 100),  # Sunday: this month only
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), 20),  # Monday 00:00: this week
        (datetime(2026, 11, 24, 23, 59, tzinfo=UTC), 3),  # yesterday
        (datetime(2026, 11, 25, 0, 0, tzinfo=UTC), 4),  # today from midnight
    ]
    for moment, price in moments_and_prices:
        clock.now = moment
        await create(jobs, new_job(price=price))
    clock.now = T0
    await create(jobs, new_job(user_id=OTHER_MEMBER, price=500))
    await create(jobs, new_job(price=700, guild_id=OTHER_GUILD))
    refunded = await jobs.create(new_job(price=50), max_per_guild=1000, max_per_member=100)
    failed = await jobs.mark_failed(refunded.id, FailureKind.PROVIDER_ERROR, "boom")
    assert failed is not None
    assert await policy.spending(GUILD, MEMBER) == MemberSpending(today=54, week=77, month=177)
    assert await jobs.refund(failed) is not None  # a failed job counts until it is refunded
    assert await policy.spending(GUILD, MEMBER) == MemberSpending(today=4, week=27, month=127)
    assert await policy.spending(GUILD, 12345) == MemberSpending(0, 0, 0)


# -- enforcement in JobStore.create -------------------------------------------------------------


async def test_twenty_parallel_requests_at_90_percent_of_the_daily_cap_hold_it_exactly(
    jobs: JobStore, policy: PolicyStore, db: Database
) -> None:
    await policy.update(GUILD, actor=MOD, daily_cap=120)
    for _ in range(9):
        await create(jobs, new_job(price=12))
    assert (await policy.spending(GUILD, MEMBER)).today == 108
    results = await asyncio.gather(
        *(create(jobs, new_job(price=12)) for _ in range(20)), return_exceptions=True
    )
    refusals = [r for r in results if isinstance(r, PolicyRefusal)]
    assert len(refusals) == 19 and results.count(None) == 1
    assert {r.rule for r in refusals} == {"daily_cap"}
    assert (await policy.spending(GUILD, MEMBER)).today == 120
    assert await reserved_total(db) == 120
    # Another member's spending is their own.
    await create(jobs, new_job(user_id=OTHER_MEMBER, price=12))


async def test_caps_say_when_the_member_can_try_again(
    jobs: JobStore, policy: PolicyStore, db: Database, clock: FakeClock
) -> None:
    await policy.update(GUILD, actor=MOD, daily_cap=30, weekly_cap=50)
    await create(jobs, new_job(price=24))
    with pytest.raises(PolicyRefusal) as daily:
        await create(jobs, new_job(price=12))
    midnight = datetime(2026, 11, 26, tzinfo=UTC)
    assert (daily.value.rule, daily.value.retry_at) == ("daily_cap", midnight)
    assert str(daily.value) == (
        "This video costs 12 credits and you have spent 24 of your daily cap of 30 credits "
        f"today. You can try again <t:{int(midnight.timestamp())}:R>, or pick a cheaper video "
        "that fits the 6 left. Nothing was charged."
    )
    clock.now = midnight
    await create(jobs, new_job(price=24))
    with pytest.raises(PolicyRefusal) as weekly:
        await create(jobs, new_job(price=4))
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    assert (weekly.value.rule, weekly.value.retry_at) == ("weekly_cap", monday)
    clock.now = monday
    await create(jobs, new_job(price=4))
    with pytest.raises(PolicyRefusal) as never:
        await create(jobs, new_job(price=45))
    assert never.value.rule == "daily_cap" and never.value.retry_at is None
    assert "more than your daily cap of 30 credits" in str(never.value)
    assert await reserved_total(db) == 52


async def test_cooldown_counts_from_the_last_paid_job(
    jobs: JobStore, policy: PolicyStore, clock: FakeClock
) -> None:
    await policy.update(GUILD, actor=MOD, cooldown_seconds=300)
    first = await jobs.create(new_job(), max_per_guild=1000, max_per_member=100)
    clock.now = T0 + timedelta(seconds=299)
    with pytest.raises(PolicyRefusal) as refusal:
        await create(jobs, new_job())
    ready = T0 + timedelta(seconds=300)
    assert (refusal.value.rule, refusal.value.retry_at) == ("cooldown", ready)
    stamp = int(ready.timestamp())
    assert f"cooldown of 5 minutes between your videos. You can start another <t:{stamp}:R>" in (
        str(refusal.value)
    )
    await create(jobs, new_job(user_id=OTHER_MEMBER))  # per member
    # A refunded (failed) job does not make the member wait.
    failed = await jobs.mark_failed(first.id, FailureKind.PROVIDER_ERROR, None)
    assert failed is not None and await jobs.refund(failed) is not None
    await create(jobs, new_job())


@pytest.mark.parametrize(
    ("setup", "job", "rule"),
    [
        ({"frozen": True}, {}, "frozen"),
        ({"channels": [5]}, {"channel_id": 6}, "channel"),
        ({"roles": [7, 8]}, {"role_ids": (9,)}, "role"),
        ({"roles": [7]}, {}, "role"),
        ({"max_resolution": "standard"}, {"resolution": "high", "price": 20}, "variant"),
        ({"max_duration": 8}, {"duration": 10, "price": 30}, "variant"),
    ],
)
async def test_rules_that_waiting_cannot_fix_refuse_without_retry_time(
    jobs: JobStore, policy: PolicyStore, db: Database, setup: dict[str, Any],
    job: dict[str, Any], rule: str,
) -> None:
    setup = dict(setup)
    if setup.pop("frozen", False):
        await policy.set_frozen(GUILD, True, actor=MOD)
    if "channels" in setup:
        await policy.set_channels(GUILD, setup.pop("channels"), actor=MOD)
    if "roles" in setup:
        await policy.set_roles(GUILD, setup.pop("roles"), actor=MOD)
    await policy.update(GUILD, actor=MOD, **setup)
    with pytest.raises(PolicyRefusal) as refusal:
        await create(jobs, new_job(**job))
    assert (refusal.value.rule, refusal.value.retry_at) == (rule, None)
    assert str(refusal.value).endswith("Nothing was charged.")
    assert await db.fetchall("SELECT id FROM jobs") == []
    assert await db.fetchall("SELECT kind FROM ledger_journal") == []


async def test_allowed_roles_channels_and_variants_pass(
    jobs: JobStore, policy: PolicyStore
) -> None:
    await policy.set_roles(GUILD, [7, 8], actor=MOD)
    await policy.set_channels(GUILD, [2002], actor=MOD)
    await policy.update(GUILD, actor=MOD, max_resolution="standard", max_duration=8)
    await create(jobs, new_job(role_ids=(1, 8), duration=8, price=24))


async def test_guild_in_flight_overrides_replace_the_configured_defaults(
    jobs: JobStore, policy: PolicyStore
) -> None:
    await policy.update(GUILD, actor=MOD, max_in_flight_member=3)
    for _ in range(3):  # above the caller's default of 1
        await jobs.create(new_job(), max_per_guild=10, max_per_member=1)
    with pytest.raises(JobLimitReached) as refusal:
        await jobs.create(new_job(), max_per_guild=10, max_per_member=1)
    assert isinstance(refusal.value, PolicyRefusal)
    assert (refusal.value.rule, refusal.value.limit) == ("member_jobs", 3)
    await policy.update(GUILD, actor=MOD, max_in_flight_guild=3)
    with pytest.raises(JobLimitReached) as guild:
        await jobs.create(new_job(user_id=OTHER_MEMBER), max_per_guild=10, max_per_member=1)
    assert guild.value.rule == "guild_jobs"
    assert policy.in_flight_limits(await policy.get(OTHER_GUILD)) == (1000, 100)


async def test_the_early_check_applies_the_same_rules(
    policy: PolicyStore, jobs: JobStore
) -> None:
    await policy.update(GUILD, actor=MOD, daily_cap=20)
    await create(jobs, new_job(price=12))
    with pytest.raises(PolicyRefusal, match="daily cap"):
        await policy.precheck(new_job(price=12))
    assert (await policy.precheck(new_job(price=8))).daily_cap == 20
