"""Content-policy strikes, cooldowns and the word list on a real database (SQLite and
PostgreSQL): once per job, the window, the cooldown enforced inside the reserving transaction,
a moderator's clear, per-guild settings, and whole-word matching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import pytest

from bot.audit.trail import AuditLog
from bot.config import ConfigError
from bot.db.database import Database
from bot.i18n.catalog import load
from bot.jobs.store import JobDeliveries, JobHistory, JobStore
from bot.ledger.store import Ledger
from bot.policy.rules import InvalidPolicy, PolicyRefusal
from bot.policy.store import PolicyStore
from bot.policy.strikes import StrikeStore
from bot.policy.words import MAX_WORDS, WordRefused, first_match, normal_entry
from tests.support.clock import T0, FakeClock
from tests.support.stores import make_job, settings_with

GUILD, OTHER_GUILD = 1001, 1002
MEMBER, OTHER_MEMBER = 7, 8
MOD = "user:99"

new_job = partial(make_job, guild_id=GUILD, user_id=MEMBER)


@dataclass
class Rig:
    db: Database
    clock: FakeClock
    strikes: StrikeStore
    jobs: JobStore
    audit: AuditLog

    async def audit_texts(self, guild_id: int = GUILD) -> list[str]:
        return [e.text for e in reversed(await self.audit.events(guild_id))]

    async def reserves(self) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM ledger_journal WHERE kind = 'reserve'")
        assert row is not None
        return int(row["n"])


@pytest.fixture
def rig(db: Database) -> Rig:
    clock = FakeClock(T0)
    settings = settings_with(ledger={"starting_credits": 10_000},
                             policy={"strike_limit": 3, "strike_window_hours": 24,
                                     "strike_cooldown_hours": 12})
    audit = AuditLog(db, clock)
    strikes = StrikeStore(db, config=settings.policy, clock=clock, audit=audit, texts=load())
    policy = PolicyStore(db, settings=settings, clock=clock, jobs=JobHistory(), gate=strikes)
    ledger = Ledger.from_config(db, settings.ledger, clock=clock, held_jobs=JobDeliveries())
    jobs = JobStore(db, ledger, timeout=timedelta(minutes=30), clock=clock, policy=policy,
                    audit=audit)
    return Rig(db, clock, strikes, jobs, audit)


async def launch(rig: Rig, **changes: object) -> None:
    await rig.jobs.create(new_job(**changes), max_per_guild=100, max_per_member=100)


# -- strikes and the cooldown ---------------------------------------------------------------


async def test_a_job_strikes_once_however_often_its_outcome_is_replayed(rig: Rig) -> None:
    first = await rig.strikes.strike(GUILD, MEMBER, "job-1")
    again = await rig.strikes.strike(GUILD, MEMBER, "job-1")

    assert (first.new, first.count) == (True, 1)
    assert (again.new, again.count) == (False, 1)
    texts = await rig.audit_texts()
    assert len(texts) == 1 and "<@7>" in texts[0] and "job-1" in texts[0]
    assert "(1 of 3)" in texts[0]


async def test_the_limit_starts_a_cooldown_refused_inside_the_reserving_transaction(
    rig: Rig,
) -> None:
    for n in (1, 2):
        strike = await rig.strikes.strike(GUILD, MEMBER, f"job-{n}")
        assert strike.cooldown_until is None and not strike.started
    await launch(rig)  # two strikes: still allowed
    assert await rig.reserves() == 1

    third = await rig.strikes.strike(GUILD, MEMBER, "job-3")

    until = T0 + timedelta(hours=12)
    assert third.started and third.cooldown_until == until
    assert any(t.startswith("Cooldown: <@7>") and f"<t:{int(until.timestamp())}:f>" in t
               for t in await rig.audit_texts())
    with pytest.raises(PolicyRefusal) as refused:
        await launch(rig)
    assert refused.value.rule == "strike_cooldown" and refused.value.retry_at == until
    assert refused.value.key == "strikes.refused_cooldown"
    assert f"<t:{int(until.timestamp())}:R>" in str(refused.value)
    assert await rig.reserves() == 1  # nothing reserved for the refused launch
    # Only that member, only in that guild.
    await launch(rig, user_id=OTHER_MEMBER)
    await rig.jobs.create(make_job(guild_id=OTHER_GUILD, user_id=MEMBER),
                          max_per_guild=100, max_per_member=100)
    assert await rig.reserves() == 3

    # The cooldown ends by itself; the strikes it used up no longer count.
    rig.clock.now = until + timedelta(seconds=1)
    await launch(rig)
    assert (await rig.strikes.strike(GUILD, MEMBER, "job-4")).count == 1


async def test_strikes_outside_the_window_do_not_count(rig: Rig) -> None:
    await rig.strikes.strike(GUILD, MEMBER, "job-1")
    await rig.strikes.strike(GUILD, MEMBER, "job-2")
    rig.clock.now = T0 + timedelta(hours=24, seconds=1)

    third = await rig.strikes.strike(GUILD, MEMBER, "job-3")

    assert (third.count, third.cooldown_until) == (1, None)
    await launch(rig)
    assert [m.count for m in await rig.strikes.members(GUILD)] == [1]


async def test_a_moderator_clears_strikes_and_cooldown_and_a_replay_does_not_strike_again(
    rig: Rig,
) -> None:
    for n in (1, 2, 3):
        await rig.strikes.strike(GUILD, MEMBER, f"job-{n}")
    await rig.strikes.strike(GUILD, OTHER_MEMBER, "job-9")
    listed = await rig.strikes.members(GUILD)
    assert [(m.user_id, m.count, m.cooldown_until) for m in listed] == [
        (MEMBER, 0, T0 + timedelta(hours=12)), (OTHER_MEMBER, 1, None)]

    assert await rig.strikes.clear(GUILD, MEMBER, actor=MOD) is True
    assert await rig.strikes.clear(GUILD, MEMBER, actor=MOD) is False

    await launch(rig)
    assert [m.user_id for m in await rig.strikes.members(GUILD)] == [OTHER_MEMBER]
    assert "Strikes cleared: <@99> cleared 0 strike(s) of <@7> and ended their cooldown." in (
        await rig.audit_texts())
    replay = await rig.strikes.strike(GUILD, MEMBER, "job-3")
    assert not replay.new and replay.cooldown_until is None


async def test_a_guild_sets_its_own_limit_or_turns_cooldowns_off(rig: Rig) -> None:
    rules = await rig.strikes.set_rules(GUILD, actor=MOD, limit=1, window_hours=None,
                                        cooldown_hours=2)
    assert (rules.limit, rules.window_hours, rules.cooldown_hours) == (1, 24, 2)
    assert rules.own == {"strike_limit", "cooldown_hours"}
    assert (await rig.strikes.strike(GUILD, MEMBER, "job-1")).cooldown_until == (
        T0 + timedelta(hours=2))
    # The other guild keeps the operator's defaults.
    assert (await rig.strikes.strike(OTHER_GUILD, MEMBER, "job-2")).cooldown_until is None

    off = await rig.strikes.set_rules(OTHER_GUILD, actor=MOD, limit=0, window_hours=None,
                                      cooldown_hours=None)
    assert not off.cools_down
    for n in range(3, 8):
        assert (await rig.strikes.strike(OTHER_GUILD, MEMBER, f"job-{n}")).cooldown_until is None
    with pytest.raises(InvalidPolicy):
        await rig.strikes.set_rules(GUILD, actor=MOD, limit=101, window_hours=None,
                                    cooldown_hours=None)
    reset = await rig.strikes.set_rules(GUILD, actor=MOD, limit=None, window_hours=None,
                                        cooldown_hours=None)
    assert (reset.limit, reset.cooldown_hours, reset.own) == (3, 12, frozenset())


# -- the word list --------------------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "listed", "matches"), [
    ("A CAT on a mat", ["cat"], True),
    ("a ＣＡＴ on a mat", ["cat"], True),  # fullwidth letters: NFKC folds them
    ("Straße at night", ["STRASSE"], True),  # casefold, not lower()
    ("a category of things", ["cat"], False),
    ("the red, FOX runs", ["red fox"], True),
    ("red car, fox", ["red fox"], False),
    ("nothing here", [], False),
])
def test_whole_words_and_phrases_after_normalising(prompt: str, listed: list[str],
                                                   matches: bool) -> None:
    entries = [normal_entry(w) for w in listed]
    assert (first_match(prompt, entries) is not None) is matches


async def test_a_listed_word_refuses_before_anything_is_reserved(rig: Rig) -> None:
    change = await rig.strikes.words.add(GUILD, ["Dragon", " dragon ", "Red  Fox"], actor=MOD)
    assert change.changed == ("dragon", "red fox") and change.total == 2
    assert (await rig.strikes.words.add(GUILD, ["DRAGON"], actor=MOD)).changed == ()

    with pytest.raises(PolicyRefusal) as refused:
        await launch(rig, prompt="a tiny DRAGON sleeping")
    assert refused.value.rule == "word_list" and "dragon" not in str(refused.value).lower()
    assert await rig.reserves() == 0
    await launch(rig, prompt="a dragonfly over a pond")  # not the whole word
    await rig.jobs.create(make_job(guild_id=OTHER_GUILD, user_id=MEMBER,
                                   prompt="a tiny dragon"), max_per_guild=9, max_per_member=9)
    assert await rig.reserves() == 2
    assert "Word list: <@99> added 2 entries (2 listed)." in await rig.audit_texts()

    removed = await rig.strikes.words.remove(GUILD, ["dragon", "unicorn"], actor=MOD)
    assert (removed.changed, removed.unchanged, removed.total) == (("dragon",), ("unicorn",), 1)
    await launch(rig, prompt="a tiny dragon sleeping")


async def test_word_list_limits(rig: Rig) -> None:
    with pytest.raises(WordRefused):
        await rig.strikes.words.add(GUILD, ["!!!"], actor=MOD)
    with pytest.raises(WordRefused):
        await rig.strikes.words.add(GUILD, ["x" * 65], actor=MOD)
    await rig.strikes.words.add(GUILD, [f"w{n}" for n in range(MAX_WORDS)], actor=MOD)
    with pytest.raises(WordRefused) as full:
        await rig.strikes.words.add(GUILD, ["one more"], actor=MOD)
    assert full.value.params == {"max": MAX_WORDS, "count": MAX_WORDS}
    assert len(await rig.strikes.words.entries(GUILD)) == MAX_WORDS


# -- the operator's defaults ----------------------------------------------------------------


@pytest.mark.parametrize(("table", "line"), [
    ({"strike_limit": -1}, "policy.strike_limit: Input should be greater than or equal to 0"),
    ({"strike_windw_hours": 3}, "policy.strike_windw_hours: unknown key"),
    ({"strike_cooldown_hours": "2"}, "policy.strike_cooldown_hours: must be a whole number"),
])
def test_policy_config_is_strict_and_names_the_key(table: dict[str, object], line: str) -> None:
    with pytest.raises(ConfigError) as refused:
        settings_with(policy=table)
    assert str(refused.value).startswith(line)
    assert (settings_with().policy.strike_limit, settings_with().policy.strike_window_hours,
            settings_with().policy.strike_cooldown_hours) == (3, 24, 12)
