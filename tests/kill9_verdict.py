"""The verdict of the kill -9 proof (tests/test_kill9.py): every assertion about the end
state, from the bot's database and from what the fakes saw, never from the bot's own logs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.delivery.render import ORPHAN_TEXT
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.discord import FakeDiscord
from tests.kill9_support import (
    TOKEN_LIFETIME,
    TOKEN_MARGIN,
    Job,
    KillReport,
    Source,
    failure_notices,
    fake_jobs_for_key,
    generate_requests_by_key,
    is_terminal,
    read_balance,
    read_jobs,
    read_journal,
    result_messages,
)

#: Kill points the campaign must hit (each a step where work can be lost or repeated), and
#: the round target that aims at each.
MUST_HIT = {
    "acknowledged, no job row yet": "mid-ack",
    "before submit": "before submit",
    "after submit, not recorded": "after submit",
    "submitted (polling)": "random",
    "mid-download": "mid-download",
    "mid-upload (in flight)": "upload in flight",
    "mid-upload (posted, not recorded)": "mid-upload",
    "mid-notice (posted, not recorded)": "mid-notice",
}


def hit_points(reports: Iterable[KillReport]) -> Counter[str]:
    hit: Counter[str] = Counter()
    for report in reports:
        hit.update(report.points)
    return hit


@dataclass(frozen=True)
class CampaignRecord:
    """What a campaign did, as the verdict needs it."""

    seed: int
    granted: int
    sent: list[int]
    reports: list[KillReport]


@dataclass(frozen=True)
class DatabaseState:
    jobs: list[Job]
    journal: list[dict[str, Any]]
    #: Each campaign guild's balance (each was granted ``CampaignRecord.granted``).
    balances: dict[int, int]

    @classmethod
    async def read(cls, source: Source, *guild_ids: int) -> DatabaseState:
        return cls(await read_jobs(source), await read_journal(source),
                   {g: await read_balance(source, g) for g in guild_ids})


def verify(
    discord: FakeDiscord, apiframe: FakeApiframe, campaign: CampaignRecord, db: DatabaseState,
    log: str, *, must_hit: Mapping[str, str] = MUST_HIT, replay_needed: bool = True,
) -> str:
    """Every assertion of the kill -9 proof; returns the summary to print. ``must_hit``: the
    kill points some kill must have landed on; ``replay_needed``: some submission must have
    been sent again after a kill."""
    jobs, journal = db.jobs, db.journal
    where = f"(seed {campaign.seed})"
    assert jobs, f"no job was ever accepted {where}"

    # Accepted = a job row exists; each belongs to one /sora the bot acknowledged.
    for job in jobs:
        assert job["interaction_id"] in campaign.sent, where
        assert discord.interactions[job["interaction_id"]].acknowledged, where
    assert len({j["interaction_id"] for j in jobs}) == len(jobs), f"two jobs, one /sora {where}"

    # Apiframe created exactly one job per accepted job, however often submission was replayed.
    assert apiframe.created_count == len(jobs), where
    for job in jobs:
        created = fake_jobs_for_key(apiframe, job["idempotency_key"])
        assert created == [job["apiframe_job_id"]], f"{job['id']}: {created} {where}"
    by_key = generate_requests_by_key(apiframe)
    replayed = sum(1 for j in jobs if by_key[j["idempotency_key"]] > 1)

    # Every job ended as Apiframe says it ended, once, with one visible outcome.
    reserves = Counter(e["job_id"] for e in journal if e["kind"] == "reserve")
    refunds = Counter(e["job_id"] for e in journal if e["kind"] == "refund")
    assert set(reserves) == {j["id"] for j in jobs}, f"a charge without a job {where}"
    outcomes: Counter[str] = Counter()
    for job in jobs:
        outcomes[check_outcome(discord, apiframe, job, reserves, refunds, where)] += 1

    # Money: each balance is its journal's sum, and the grant minus what was delivered.
    assert {j["guild_id"] for j in jobs} <= set(db.balances), where
    for guild_id, balance in db.balances.items():
        delivered_cost = sum(j["price"] for j in jobs
                             if j["state"] == "delivered" and j["guild_id"] == guild_id)
        entries = sum(e["delta"] for e in journal if e["guild_id"] == guild_id)
        assert balance == entries, f"guild {guild_id}: {balance} != Σ journal {entries} {where}"
        assert balance == campaign.granted - delivered_cost, f"guild {guild_id} {where}"

    assert discord.validation_errors == [], f"{discord.validation_errors} {where}"
    assert discord.response_schema_errors == [], where
    assert all(j["interaction_token"] is None for j in jobs), f"a token outlived its job {where}"
    for interaction in discord.interactions.values():
        assert interaction.token not in log, f"an interaction token was logged {where}"

    # The kills landed where they were aimed.
    hit = hit_points(campaign.reports)
    for point in must_hit:
        assert hit[point] >= 1, f"no kill landed at {point!r}; got {dict(hit)} {where}"
    assert outcomes["refunded (cancelled)"] >= 1, f"{outcomes} {where}"
    assert outcomes["refunded (content_policy)"] >= 1, f"{outcomes} {where}"
    assert replayed >= 1 or not replay_needed, f"no submission was ever replayed {where}"

    # A /sora acknowledged but killed before its job was written is not left "thinking…":
    # the next run says nothing was charged, while the token still allows the edit.
    recorded = {j["interaction_id"] for j in jobs}
    retired = 0
    for iid in campaign.sent:
        sent = discord.interactions[iid]
        if not sent.acknowledged or iid in recorded or sent.original_message_id is None:
            continue
        if sent.created_at + TOKEN_LIFETIME - TOKEN_MARGIN <= discord.now():
            continue  # lapsed by now: Discord itself tells the member the interaction failed
        placeholder = discord.get_message(sent.original_message_id)
        if placeholder is not None:  # None: deleted with a private refusal
            assert not placeholder.loading, f"{iid}: placeholder left 'thinking' {where}"
            assert placeholder.content == ORPHAN_TEXT, f"{iid}: {placeholder.content!r} {where}"
            retired += 1

    acked = sum(1 for iid in campaign.sent if discord.interactions[iid].acknowledged)
    lines = [f"kill -9 summary {where}: {len(campaign.reports)} kills, {len(campaign.sent)}"
             f" /sora sent, {len(jobs)} accepted, {replayed} submissions replayed,"
             f" {acked - len(jobs)} acknowledged but killed before their job was written"
             f" ({retired} told nothing was charged),"
             f" {len(campaign.sent) - acked} killed before acknowledging (nothing charged)"]
    lines += ["  " + r.line() for r in campaign.reports]
    lines.append(f"  kill points hit: {dict(sorted(hit.items()))}")
    lines.append(f"  outcomes: {dict(sorted(outcomes.items()))}")
    return "\n".join(lines)


def check_outcome(
    discord: FakeDiscord, apiframe: FakeApiframe, job: Job, reserves: Counter[str],
    refunds: Counter[str], where: str,
) -> str:
    """Assert one job's end against Apiframe's truth and Discord; return its outcome label."""
    jid = job["id"]
    assert is_terminal(job), f"{jid} left in {job['state']} {where}"
    assert reserves[jid] == 1, where
    truth = apiframe.jobs[job["apiframe_job_id"]].state_at(apiframe.clock.now()).status
    results, notices = result_messages(discord, job), failure_notices(discord, job)
    shown = [(m.id, m.nonce, [a["filename"] for a in m.attachments]) for m in results + notices]
    for message in results + notices:
        mentions = message.allowed_mentions or {}
        assert not mentions.get("parse"), f"{message.id} may ping {mentions} {where}"
        assert {str(u) for u in mentions.get("users") or []} <= {str(job["user_id"])}, where
    status = discord.get_message(job["status_message_id"] or 0)
    assert status is not None and not status.loading, f"{jid}: status left 'thinking' {where}"
    if truth == "COMPLETED":
        assert job["state"] == "delivered", f"{jid} {job['state']} {where}"
        assert job["delivery_mode"] == "attachment", where
        assert refunds[jid] == 0, f"{jid} refunded yet delivered {where}"
        assert len(results) == 1, f"{jid}: {len(results)} visible results {shown} {where}"
        assert results[0].id == job["delivered_message_id"], where
        assert [a["filename"] for a in results[0].attachments] == [f"sora-{jid}.mp4"], where
        assert notices == [], where
        return "delivered via " + ("token edit" if results[0].nonce is None else "channel")
    assert job["state"] == "refunded", f"{jid} {job['state']} {where}"
    expected_kind = {"FAILED": "content_policy", "CANCELLED": "cancelled"}[truth]
    assert job["failure_kind"] == expected_kind, where
    assert refunds[jid] == 1, where
    assert results == [], f"{jid}: failed, yet a result was posted {shown} {where}"
    assert len(notices) == 1, f"{jid}: {len(notices)} failure notices {shown} {where}"
    return f"refunded ({job['failure_kind']})"
