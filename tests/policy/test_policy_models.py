"""Guild policy per model on a real database: which enabled models a guild may use and its
default, set through the validated path, and the model rule enforced inside JobStore.create's
reserving transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from re import escape

import pytest

from bot.config import Settings
from bot.db.database import Database
from bot.jobs.store import JobStore
from bot.policy.rules import GuildPolicy, InvalidPolicy, PolicyRefusal
from bot.policy.store import PolicyStore
from bot.request import VideoOptions, VideoRequest
from tests.support.clock import FakeClock
from tests.support.lineups import HAILUO, KLING, SORA, VEO, settings_tables
from tests.support.stores import make_job, settings_with

GUILD, OTHER_GUILD, MEMBER = 1001, 1002, 7
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MOD = "user:99"

sora_job = partial(make_job, guild_id=GUILD, user_id=MEMBER)


def veo_job(duration: int = 8, resolution: str = "1080p", price: int = 120) -> VideoRequest:
    options = VideoOptions.of("a cat", {"duration": duration, "resolution": resolution,
                                        "generate_audio": False})
    return replace(sora_job(price=price), model=VEO, options=options)


def kling_job() -> VideoRequest:
    options = VideoOptions.of("a cat", {"duration": 5, "aspect_ratio": "16:9",
                                        "generate_audio": False})
    return replace(sora_job(price=20), model=KLING, options=options)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def settings() -> Settings:
    return settings_with(ledger={"max_balance": 100_000, "starting_credits": 10_000},
                         **settings_tables())


async def reserved(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM jobs")
    assert row is not None
    return int(row["n"])


async def test_allowed_models_and_default_round_trip_in_bot_order(
    policy: PolicyStore, db: Database, clock: FakeClock
) -> None:
    changed = await policy.set_models(GUILD, [HAILUO, VEO], actor=MOD)
    assert changed.models == frozenset({VEO, HAILUO})
    row = await db.fetchone("SELECT models, updated_by FROM guild_policies")
    assert row is not None and (row["models"], row["updated_by"]) == (f"{VEO},{HAILUO}", MOD)

    clock.now = T0 + timedelta(minutes=1)
    chosen = await policy.set_default_model(GUILD, HAILUO, actor="user:100")
    assert (chosen.default_model, chosen.models) == (HAILUO, frozenset({VEO, HAILUO}))
    assert await policy.get(GUILD) == chosen
    row = await db.fetchone("SELECT updated_by, updated_at FROM guild_policies")
    assert row is not None and row["updated_by"] == "user:100"
    assert datetime.fromisoformat(row["updated_at"]) == clock.now

    cleared = await policy.set_default_model(GUILD, None, actor=MOD)
    assert cleared.default_model is None
    everything = await policy.set_models(GUILD, None, actor=MOD)
    assert everything.models is None
    assert await policy.get(OTHER_GUILD) == GuildPolicy(OTHER_GUILD)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("models", ["wan-2.5"]), "“wan-2.5” is not a model this bot offers. Choose among "
                                  "Sora 2 Pro (sora-2-pro), Veo 3.1 Fast (veo-3.1-fast), "
                                  "Kling 2.6 (kling-2.6), Hailuo 2.3 Fast (hailuo-2.3-fast)."),
        (("models", [VEO, "sora-2"]), "“sora-2” is not a model this bot offers"),
        (("models", []), "Allow at least one model, or allow every model again"),
        (("default", "veo-3"), "“veo-3” is not a model this bot offers"),
    ],
)
async def test_unknown_or_empty_models_are_refused_and_change_nothing(
    policy: PolicyStore, db: Database, change: tuple[str, object], words: str
) -> None:
    what, value = change
    with pytest.raises(InvalidPolicy, match=escape(words)):
        if what == "models":
            assert isinstance(value, list)
            await policy.set_models(GUILD, value, actor=MOD)
        else:
            assert isinstance(value, str)
            await policy.set_default_model(GUILD, value, actor=MOD)
    assert await db.fetchall("SELECT * FROM guild_policies") == []


async def test_a_default_must_be_allowed_and_narrowing_clears_a_stale_one(
    policy: PolicyStore,
) -> None:
    await policy.set_models(GUILD, [SORA, KLING], actor=MOD)
    with pytest.raises(InvalidPolicy, match=escape(
            "Veo 3.1 Fast is not allowed on this server, so it cannot be its default. "
            "Allowed: Sora 2 Pro and Kling 2.6.")):
        await policy.set_default_model(GUILD, VEO, actor=MOD)
    await policy.set_default_model(GUILD, KLING, actor=MOD)
    kept = await policy.set_models(GUILD, [KLING, VEO], actor=MOD)
    assert kept.default_model == KLING
    narrowed = await policy.set_models(GUILD, [VEO], actor=MOD)
    assert (narrowed.models, narrowed.default_model) == (frozenset({VEO}), None)


async def test_the_model_rule_refuses_naming_the_allowed_models(
    policy: PolicyStore, jobs: JobStore, db: Database
) -> None:
    await policy.set_models(GUILD, [SORA, HAILUO], actor=MOD)
    with pytest.raises(PolicyRefusal) as refusal:
        await jobs.create(kling_job(), max_per_guild=10, max_per_member=10)
    assert refusal.value.rule == "model"
    assert str(refusal.value) == (
        "Kling 2.6 is not allowed on this server. You can use Sora 2 Pro and "
        "Hailuo 2.3 Fast (/video). Nothing was charged.")
    assert await reserved(db) == 0
    await jobs.create(sora_job(), max_per_guild=10, max_per_member=10)
    assert await reserved(db) == 1


async def test_the_model_rule_runs_inside_the_reserving_transaction(
    policy: PolicyStore, jobs: JobStore, db: Database
) -> None:
    """A moderator's change landing between the advisory precheck and the reservation wins."""
    request = sora_job()
    await policy.precheck(request)  # allowed: the guild never restricted its models
    await policy.set_models(GUILD, [KLING], actor=MOD)
    with pytest.raises(PolicyRefusal, match=escape("You can use Kling 2.6 (/video)")) as refusal:
        await jobs.create(request, max_per_guild=10, max_per_member=10)
    assert refusal.value.rule == "model"
    assert await reserved(db) == 0
    assert await db.fetchall("SELECT * FROM ledger_journal WHERE kind = 'reserve'") == []


async def test_max_duration_limits_every_model_max_resolution_only_sora(
    policy: PolicyStore, jobs: JobStore, db: Database
) -> None:
    await policy.update(GUILD, actor=MOD, max_resolution="standard", max_duration=4)
    # Veo's 1080p is not on Sora's standard/high scale: only its length is judged. (Judged
    # with the advisory precheck, the same rules: the jobs table still holds Sora's variants.)
    await policy.precheck(veo_job(duration=4, price=60))
    with pytest.raises(PolicyRefusal, match="at most 4 seconds; you asked for 6 seconds"):
        await policy.precheck(veo_job(duration=6, price=90))
    with pytest.raises(PolicyRefusal, match="at most standard resolution and 4 seconds; you "
                                            "asked for high, 4 seconds"):
        await jobs.create(sora_job(resolution="high", price=20), max_per_guild=10,
                          max_per_member=10)
    await jobs.create(sora_job(), max_per_guild=10, max_per_member=10)
    assert await reserved(db) == 1


async def test_max_duration_stays_on_soras_scale(policy: PolicyStore) -> None:
    """The stored limit is one of Sora's lengths (the schema's check); it limits Veo's 6 s
    through the 4 s and 8 s steps above."""
    with pytest.raises(InvalidPolicy, match="one of 4, 8, 10, 12 or 15 seconds"):
        await policy.update(GUILD, actor=MOD, max_duration=6)
    assert await policy.get(GUILD) == GuildPolicy(GUILD)
