"""Time to acknowledge a burst of 200 ``/sora`` at once: the real bot vs a bare discord.py bot
that only defers, both through the same loopback fake Discord, in the same run.

Run from the repository root (it needs the test extras: the fakes live in tests/)::

    .venv/bin/python benchmarks/ack_burst.py [requests] [rounds]

Each round starts fresh fakes, connects one bot, sends every ``/sora`` at once (200 members
of one server, so no per-member limit refuses them) and records, per interaction, the time
from Discord dispatching it to Discord receiving its first response (the fake's clock). The
real bot runs as in production: its scheduler submits the jobs to the fake Apiframe meanwhile.
Rounds alternate bare / real; the figure is each side's median p50 and p99 over the rounds,
and the real bot's p99 as a ratio to the bare bot's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import discord  # noqa: E402
from discord import app_commands  # noqa: E402

from bot.app import SoraBot, open_services  # noqa: E402
from bot.config import load_settings  # noqa: E402
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, render_toml  # noqa: E402
from tests.fakes.apiframe import FakeApiframe  # noqa: E402
from tests.fakes.discord import FakeDiscord, FakeGuild  # noqa: E402
from tests.fakes.discord_harness import connected_client  # noqa: E402
from tests.sora_harness import FAST, SMALL_VIDEO, string  # noqa: E402

FIRST_MEMBER = 3_000_000_000_000_000_000


class BareBot(discord.Client):
    """The floor: a discord.py bot whose /sora only defers, publicly, as the real one does."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.none(), guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="sora", description="defer only")
        async def sora(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.defer(thinking=True)


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[FakeDiscord, FakeApiframe]]:
    discord_fake = FakeDiscord(token=DISCORD_TOKEN)
    apiframe = FakeApiframe(api_key=APIFRAME_KEY, credits=10**9)
    apiframe.video_size = SMALL_VIDEO
    await discord_fake.start()
    await apiframe.start()
    try:
        yield discord_fake, apiframe
    finally:
        await apiframe.stop()
        await discord_fake.stop()


def real_settings(folder: Path, discord_fake: FakeDiscord, apiframe: FakeApiframe) -> Any:
    sections: dict[str, dict[str, Any]] = {name: dict(t) for name, t in FAST.items()}
    sections["discord"] = {"token": DISCORD_TOKEN, "api_base_url": discord_fake.api_base_url,
                           "gateway_url": discord_fake.gateway_url}
    sections["apiframe"].update({
        "api_key": APIFRAME_KEY, "base_url": apiframe.base_url, "request_timeout_seconds": 5,
        "download_hosts": ["127.0.0.1"], "allow_private_addresses": True,
        "poll_interval_seconds": 1,
    })
    sections["database"] = {"path": str(folder / "bot.sqlite3")}
    sections["ledger"] = {"starting_credits": 10**6}
    sections["jobs"] = {"max_in_flight_per_guild": 1000}
    sections["logging"] = {"level": "WARNING"}
    path = folder / "config.toml"
    path.write_text(render_toml(sections), encoding="utf-8")
    return load_settings(path, env={})


async def burst(discord_fake: FakeDiscord, guild: FakeGuild, count: int) -> list[float]:
    """Send ``count`` /sora at once; seconds from dispatch to first response, sorted."""
    sent = await asyncio.gather(*(
        discord_fake.send_slash_command(guild, FIRST_MEMBER + i, "sora",
                                        options=[string("prompt", f"a fox, take {i}")])
        for i in range(count)))
    interactions = [discord_fake.interactions[iid] for iid, _ in sent]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    # Polled, and only every 50 ms: the fake offers no event, and this loop is the bot's too.
    while any(i.acknowledged_at is None for i in interactions) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    missing = sum(i.acknowledged_at is None for i in interactions)
    if missing:
        raise RuntimeError(f"{missing} of {count} interactions were never acknowledged")
    return sorted(float(i.acknowledged_at or 0) - i.dispatched_at for i in interactions)


async def round_bare(count: int) -> list[float]:
    async with fakes() as (discord_fake, _apiframe):
        guild = discord_fake.add_guild("Bare")
        async with connected_client(discord_fake, BareBot()):
            return await burst(discord_fake, guild, count)


async def round_real(count: int) -> list[float]:
    async with fakes() as (discord_fake, apiframe), contextlib.AsyncExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        settings = real_settings(folder, discord_fake, apiframe)

        def clock() -> datetime:
            return datetime.fromtimestamp(discord_fake.now(), UTC)

        services = await stack.enter_async_context(open_services(settings, clock))
        bot = SoraBot(services, run_jobs=True, guild_ready_timeout=0.1)
        guild = discord_fake.add_guild("Real")
        await stack.enter_async_context(connected_client(discord_fake, bot))
        latencies = await burst(discord_fake, guild, count)
        # Every request must have become a paid job (a refusal is a fast answer, not a win).
        jobs = 0
        for _ in range(600):
            row = await services.store.db.fetchone("SELECT COUNT(*) AS n FROM jobs", ())
            jobs = int(row["n"]) if row else 0
            if jobs == count:
                return latencies
            await asyncio.sleep(0.05)
        raise RuntimeError(f"expected {count} jobs, found {jobs}")


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def main(count: int, rounds: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    await round_bare(10)  # warm-up: imports, first connections
    bare: list[list[float]] = []
    real: list[list[float]] = []
    for n in range(rounds):
        bare.append(await round_bare(count))
        real.append(await round_real(count))
        print(f"round {n + 1}: bare p50 {pct(bare[-1], .5) * 1000:5.0f} ms "
              f"p99 {pct(bare[-1], .99) * 1000:5.0f} ms | real p50 "
              f"{pct(real[-1], .5) * 1000:5.0f} ms p99 {pct(real[-1], .99) * 1000:5.0f} ms")
    figures = {}
    for name, runs in (("bare", bare), ("real", real)):
        figures[name] = (statistics.median(pct(r, .5) for r in runs),
                         statistics.median(pct(r, .99) for r in runs))
    print(f"\n{count} /sora at once, median of {rounds} rounds")
    print(f"{'bot':<36} {'p50':>8} {'p99':>8} {'p99 vs bare':>12}")
    for label, name in (("bare discord.py, defer only (baseline)", "bare"),
                        ("the bot", "real")):
        p50, p99 = figures[name]
        print(f"{label:<36} {p50 * 1000:>5.0f} ms {p99 * 1000:>5.0f} ms "
              f"{p99 / figures['bare'][1]:>11.2f}x")
    # Each round's bare and real bots ran back to back: their ratio, round by round.
    ratios = sorted(pct(r, .99) / pct(b, .99) for b, r in zip(bare, real, strict=True))
    print(f"p99 ratio round by round: median {statistics.median(ratios):.2f}x, "
          f"range {ratios[0]:.2f}-{ratios[-1]:.2f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 3))
