"""kill -9 proof on PostgreSQL, with processes in roles: two ``python -m bot gateway`` (shard 0
and shard 1 of 2, a guild on each) and two ``python -m bot worker``, all on one fresh database.

Over the run /sora commands go to both shards while a slow fault in a fake holds some step
open (submit, the answer to submit, the download, an upload, a failure notice); at a random
instant a randomly chosen process is SIGKILLed and started again. Every process is killed at
least once. A killed worker's job leases are short (LEASE seconds), so the other worker carries
its jobs on; a killed gateway's acknowledgements are retired by its restart (same shards, same
name). At the end every process is stopped with SIGTERM (exit 0) and the verdict of the SQLite
campaign (tests/kill9_verdict.py) is given from the PostgreSQL database and the fakes: every
job delivered exactly once or refunded exactly once, balance == Σ journal per guild, one
provider job per idempotency key, no double post.

The plan is drawn from a seeded RNG and the seed is printed; ``KILL9_SEED=<n>`` replays it.
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import open_database
from bot.config import load_settings
from bot.db.database import Database
from bot.jobs.store import JobDeliveries
from bot.ledger.store import Ledger
from tests.conftest import BotProcess, render_toml, start_bot
from tests.fakes.apiframe import FakeApiframe, JobScript
from tests.fakes.apiframe_model import Outcome
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.discord_gateway import shard_for
from tests.kill9_campaign import Campaign
from tests.kill9_support import (
    TOKEN_MARGIN,
    Job,
    KillReport,
    apiframe_time_running,
    is_terminal,
    kill_points,
    read_jobs,
    snapshot,
)
from tests.kill9_verdict import CampaignRecord, DatabaseState, hit_points, verify
from tests.support.postgres import PgServer
from tests.test_kill9 import plan_seed

GRANT = 50_000
#: A worker's job lease: a killed worker's jobs move on to the other one this soon.
LEASE = 2.0
#: Kills in all (each process at least once).
KILLS = 6
#: Steps a slow fault holds open before a kill, by the victim's role (None: nothing held, a
#: plain random instant). A worker is killed once the step is held by a job it leases.
TARGETS: dict[str, tuple[str | None, ...]] = {
    "worker": ("before submit", "after submit", "mid-download", "mid-upload", "mid-notice",
               None),
    "gateway": ("mid-ack", None),
}
#: Kill points the campaign must reach (added rounds aim at any it missed): a gateway dead
#: between its acknowledgement and the job row, a worker dead between Apiframe creating the
#: job and recording it (so the other worker replays the submission).
MUST_HIT = {"acknowledged, no job row yet": "mid-ack",
            "after submit, not recorded": "after submit"}
EXTRA_ROUNDS = 3
SHARDS = 2


@dataclass
class Member:
    """One process of the fleet: its name, role, config and the running process."""

    name: str
    role: str
    config: Path
    shard: int | None = None
    proc: BotProcess | None = None


def pg_config(write_config: Callable[..., Path], name: str, url: str, **overrides: Any) -> Path:
    """A config file of its own for one process, on the PostgreSQL database ``url``."""
    sections = tomllib.loads(write_config(**overrides).read_text(encoding="utf-8"))
    sections["database"] = {"url": url}
    path = write_config().with_name(f"{name}.toml")
    path.write_text(render_toml(sections), encoding="utf-8")
    return path


class Fleet(Campaign):
    """The campaign's /sora, faults and aims (Campaign), with four processes in roles."""

    def __init__(self, discord: FakeDiscord, apiframe: FakeApiframe, guilds: list[FakeGuild],
                 members: list[Member], db: Database, seed: int) -> None:
        super().__init__(discord, apiframe, guilds[0], members[0].config, db, seed)
        self.guilds, self.members, self.db = guilds, members, db
        #: The worker about to be killed, by pid: an aim counts only jobs it leases.
        self._victim_pid: int | None = None

    def _at(self, target: str, job: Job) -> bool:
        return super()._at(target, job) and (
            self._victim_pid is None or self._held(job, self._victim_pid))

    @staticmethod
    def _held(job: Job, pid: int) -> bool:
        # A worker's lease owner is "worker-<host>-<pid>/<pid>-<random>" (bot/roles.py).
        return str(job["lease_owner"] or "").split("/")[0].endswith(f"-{pid}")

    async def start(self, member: Member) -> None:
        """Start ``member``; return once it is at work (a gateway: its shard's guilds sent)."""
        gateway = self.discord.gateway
        before = set(gateway.sessions)
        member.proc = bot = await start_bot(member.config, member.role)
        if member.role == "worker":
            await bot.wait_for_log("Worker logged in over REST", timeout=30)
            return
        deadline = time.monotonic() + 30
        while not any(key not in before and s.shard == [member.shard, SHARDS] and s.live
                      and len(s.guild_ids) >= 1 for key, s in gateway.sessions.items()):
            if bot.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"{member.name} never connected:\n{bot.stderr[-4000:]}")
            await asyncio.sleep(0.02)

    async def kill(self, number: int, victim: Member | None, target: str | None) -> KillReport:
        """Aim (or wait a random instant), SIGKILL ``victim``, name what it was doing.
        Without a victim, the worker holding the aimed step is killed."""
        self._victim_pid = None
        if victim is not None and victim.role == "worker" and victim.proc is not None:
            self._victim_pid = victim.proc.proc.pid
        self._first_of_round = len(self.sent)
        self._since, self._since_af = self.discord.now(), self.apiframe.clock.now()
        self.arm(target or "")
        for _ in range(self.rng.randint(1, 3)):
            outcome: Outcome | None = "FAILED" if target == "mid-notice" else None
            # A gateway is killed with work of its own shard in hand.
            guild = (self.rng.choice(self.guilds) if victim is None or victim.shard is None
                     else self.guilds[victim.shard])
            await self.send_sora(outcome, guild)
            # Apart, so both workers' claims get some (one claim takes every due job).
            await asyncio.sleep(self.rng.uniform(0, 0.4))
        if target is None:
            hit, waited = True, self.rng.uniform(0.2, 3.0)
            await asyncio.sleep(waited)
        else:
            hit, waited = await self.aim(target)
            if victim is None:
                victim = await self.holder(target)
            await asyncio.sleep(self.rng.uniform(0, 0.3))
        assert victim is not None and victim.proc is not None
        pid = victim.proc.proc.pid
        victim.proc.proc.kill()
        statuses = snapshot(self.discord)
        await victim.proc.wait()
        self.logs.append(victim.proc.stderr)
        self.disarm()
        jobs = await read_jobs(self.db)
        if victim.role == "worker":  # what it held: its job leases (its name ends in its pid)
            held = [j for j in jobs if not is_terminal(j) and self._held(j, pid)]
            points = kill_points(held, self.apiframe, self.discord, statuses,
                                 stranded=0, unacknowledged=0)
            duties = await self.db.fetchall("SELECT name, owner FROM duty_leases")
            points.update(f"holding duty {d['name']}" for d in duties
                          if d["owner"].split("/")[0].endswith(f"-{pid}"))
        else:  # what it owed: its shard's /sora commands without a job
            with_job = {j["interaction_id"] for j in jobs}
            interactions = self.discord.interactions
            mine = [iid for iid in self.sent[self._first_of_round:] if iid not in with_job
                    and shard_for(interactions[iid].guild_id or 0, SHARDS) == victim.shard]
            acked = sum(interactions[iid].acknowledged for iid in mine)
            points = Counter({"acknowledged, no job row yet": acked,
                              "sent, not acknowledged": len(mine) - acked})
            points = +points
        report = KillReport(number, f"{victim.name} ({target or 'random instant'})", waited,
                            hit, points)
        self.reports.append(report)
        print(report.line())
        await self.start(victim)
        return report

    async def holder(self, target: str) -> Member:
        """The worker leasing a job at ``target`` (any worker if none does any more)."""
        workers = [m for m in self.members if m.role == "worker"]
        for job in await read_jobs(self.db):
            if Campaign._at(self, target, job):
                for member in workers:
                    if member.proc is not None and self._held(job, member.proc.proc.pid):
                        return member
        return self.rng.choice(workers)

    async def _accepted(self, outcome: Outcome, tries: int = 5, wait: float = 8.0) -> None:
        """Send /sora until one planned to end as ``outcome`` is a job. A gateway the last
        round killed may still be starting: a /sora for its shard reaches nobody then (Discord
        would tell the member the interaction failed), so it is sent again."""
        for _ in range(tries):
            if outcome in {self.planned[j["interaction_id"]] for j in await read_jobs(self.db)}:
                return
            await self.send_sora(outcome, self.rng.choice(self.guilds))
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if outcome in {self.planned[j["interaction_id"]]
                               for j in await read_jobs(self.db)}:
                    return
                await asyncio.sleep(0.1)
        raise AssertionError(f"seed {self.seed}: no /sora planned as {outcome} became a job")

    async def finish_all(self, timeout: float = 40.0) -> None:
        """Both refund paths proven, every job terminal, then SIGTERM to all (exit 0 each)."""
        needed: tuple[Outcome, ...] = ("CANCELLED", "FAILED")
        for outcome in needed:
            await self._accepted(outcome)
        deadline = time.monotonic() + timeout
        while not all(is_terminal(j) for j in await read_jobs(self.db)):
            if time.monotonic() > deadline:
                states = Counter(j["state"] for j in await read_jobs(self.db))
                tails = "\n".join(f"--- {m.name}\n{m.proc.stderr[-3000:]}"
                                  for m in self.members if m.proc is not None)
                raise AssertionError(f"seed {self.seed}: jobs never finished: {states}\n{tails}")
            await asyncio.sleep(0.1)
        for member in self.members:
            assert member.proc is not None
            member.proc.proc.terminate()
        for member in self.members:
            assert member.proc is not None
            code = await member.proc.wait(timeout=30)
            self.logs.append(member.proc.stderr)
            assert code == 0, f"{member.name}: exit {code} after SIGTERM:\n" \
                              f"{member.proc.stderr[-4000:]}"

    async def stop_all(self) -> None:
        for member in self.members:
            if member.proc is not None and member.proc.proc.returncode is None:
                member.proc.proc.kill()
                await member.proc.wait()


async def test_kill9_two_gateways_two_workers_on_postgresql(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: Callable[..., Path],
    pg_server: PgServer,
) -> None:
    seed = plan_seed()
    print(f"\nkill -9 fleet campaign on PostgreSQL, seed {seed} (KILL9_SEED={seed} replays)")
    started = time.monotonic()
    fake_apiframe.video_size = 200_000
    fake_apiframe.default_script = JobScript("COMPLETED", None, 1, 4)
    guilds = [fake_discord.add_guild(f"Shard {i}", shard=(i, SHARDS)) for i in range(SHARDS)]
    url = await pg_server.create_database()
    common: dict[str, Any] = {
        "apiframe": {"poll_interval_seconds": 0.2},
        "jobs": {"progress_edit_interval_seconds": 1, "max_in_flight_per_guild": 100,
                 "max_in_flight_per_member": 100, "token_margin_seconds": TOKEN_MARGIN,
                 "token_grace_seconds": 10, "lease_seconds": LEASE},
        "logging": {"level": "INFO"},
        # No strike cooldowns mid-campaign (see tests/test_kill9.py).
        "policy": {"strike_limit": 0},
    }
    members = [Member(f"gateway{i}", "gateway", pg_config(
        write_config, f"gateway{i}", url,
        discord={"shard_count": SHARDS, "shard_ids": [i]}, **common), shard=i)
        for i in range(SHARDS)]
    members += [Member(f"worker{i}", "worker", pg_config(write_config, f"worker{i}", url,
                                                         **common)) for i in range(2)]

    db = await open_database(load_settings(members[0].config, env={}).database)
    fleet = Fleet(fake_discord, fake_apiframe, guilds, members, db, seed)
    try:
        ledger = Ledger.from_config(db, load_settings(members[0].config, env={}).ledger,
                                    held_jobs=JobDeliveries())
        for guild in guilds:
            await ledger.grant(guild.id, GRANT, actor="operator:kill9", reason="test budget")
        async with apiframe_time_running(fake_apiframe):
            for member in members:
                await fleet.start(member)
            victims = fleet.rng.sample(members, len(members))
            victims += fleet.rng.choices(members, k=KILLS - len(members))
            for number, victim in enumerate(victims):
                await fleet.kill(number, victim, fleet.rng.choice(TARGETS[victim.role]))
            # Aim again at a required step no kill reached (a worker's claim took none of
            # the round's jobs, say): a gateway owning the /sora, the worker holding the step.
            for _ in range(EXTRA_ROUNDS):
                hit = hit_points(fleet.reports)
                missed = [target for point, target in MUST_HIT.items() if not hit[point]]
                if not missed:
                    break
                gateways = [m for m in members if m.role == "gateway"]
                victim = fleet.rng.choice(gateways) if missed[0] == "mid-ack" else None
                await fleet.kill(len(fleet.reports), victim, missed[0])
            await fleet.finish_all()
        record = CampaignRecord(seed, GRANT, fleet.sent, fleet.reports)
        state = await DatabaseState.read(db, *(g.id for g in guilds))
    finally:
        await fleet.stop_all()
        await db.close()
    print(verify(fake_discord, fake_apiframe, record, state, "".join(fleet.logs),
                 must_hit=MUST_HIT))
    killed = Counter(r.target.split(" ")[0] for r in fleet.reports)
    assert set(killed) == {m.name for m in members}, killed
    print(f"  {time.monotonic() - started:.1f}s")
