"""Process roles: one process does everything, or gateways and workers share the database.

* ``run`` (:attr:`Role.ALL`): the gateway connection, the interactions, and the scheduler
  with its duties (audit poster, hold sweep) and the HTTP listener, in one process.
* ``gateway``: connects to Discord's gateway (owning ``[discord] shard_ids`` of
  ``shard_count`` when set), answers interactions and writes jobs; runs no scheduler; its
  HTTP listener (``[web]`` on) serves /healthz and /metrics but takes no webhooks.
* ``worker``: never connects to the gateway. It logs in over REST only (``Client.login``,
  which also runs ``setup_hook``) and runs the scheduler, its duties and the HTTP listener
  (webhooks, /healthz, /metrics): every job is submitted, followed, delivered and refunded
  with the bot token and the interaction tokens stored with the job, whichever process
  acknowledged it.

Every role is the same :class:`~bot.app.SoraBot` over the same services; a role only picks
which parts start (:func:`build_bot`) and whether the process connects (``bot.__main__.run_role``).
"""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from typing import Any

from discord.ext import commands

from bot.app import Services, SoraBot
from bot.config import DiscordConfig


class Role(StrEnum):
    """What one process does; the value is its CLI command."""

    ALL = "run"
    GATEWAY = "gateway"
    WORKER = "worker"

    @property
    def connects(self) -> bool:
        """Whether it holds a gateway connection (and so answers interactions)."""
        return self is not Role.WORKER

    @property
    def runs_jobs(self) -> bool:
        """Whether it runs the scheduler and its duties (and takes webhooks)."""
        return self is not Role.GATEWAY

    def instance(self, discord: DiscordConfig) -> str:
        """This process's name among those sharing the database.

        It names the acknowledgements a gateway opens (a restarted gateway retires its own
        orphans, never another live one's) and the jobs a scheduler holds. ``run`` is "main"
        and a gateway is named after the shards it owns, both the same across restarts (a
        restart takes its own back at once); a worker is one of many alike, named after its
        host and process (a killed worker's leases run out instead).
        """
        if self is Role.ALL:
            return "main"
        if self is Role.GATEWAY:
            if discord.shard_count is None:
                return "gateway"
            ids = discord.shard_ids if discord.shard_ids is not None else range(
                discord.shard_count)
            return f"gateway-{'.'.join(map(str, ids))}-of-{discord.shard_count}"
        return f"worker-{socket.gethostname()}-{os.getpid()}"


def describe_shards(discord: DiscordConfig) -> str:
    """The shards a gateway process with this config owns, for ``sora-bot check``."""
    if discord.shard_count is None:
        return "one unsharded gateway connection"
    ids = discord.shard_ids if discord.shard_ids is not None else range(discord.shard_count)
    return f"shards {', '.join(map(str, ids))} of {discord.shard_count}"


class ShardedSoraBot(SoraBot, commands.AutoShardedBot):
    """The bot over discord.py's own sharding: one socket per owned shard, in this process."""


def build_bot(services: Services, role: Role, **options: Any) -> SoraBot:
    """The bot for ``role``: the same services and cogs, different parts started.

    Only a gateway process may be sharded: ``[discord] shard_count`` (and ``shard_ids``) pick
    discord.py's AutoShardedBot; a worker has no shards to own.
    """
    config = services.settings.discord
    if role.connects and config.shard_count is not None:
        shards: dict[str, Any] = {"shard_count": config.shard_count}
        if config.shard_ids is not None:
            shards["shard_ids"] = list(config.shard_ids)
        return ShardedSoraBot(services, run_jobs=role.runs_jobs, gateway=True,
                              retire_orphans=True, instance=role.instance(config),
                              **shards, **options)
    return SoraBot(services, run_jobs=role.runs_jobs, gateway=role.connects,
                   retire_orphans=role.connects, instance=role.instance(config), **options)

