"""The bot: a ``commands.Bot`` that owns its services and loads the cogs in ``setup_hook``.

Everything is built in :func:`open_services` and injected; nothing lives at module level, so a
test can run several bots (or none) in one process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.apiframe.client import ApiframeClient
from bot.apiframe.download_guard import DownloadGate, DownloadPolicy
from bot.audit.trail import AuditLog, AuditPoster
from bot.budget import BudgetService
from bot.clock import Clock, utc_now
from bot.config import DatabaseConfig, Settings
from bot.db.database import Database
from bot.db.errors import DatabaseError
from bot.db.postgres import PostgresDatabase
from bot.delivery.locales import GuildLocales
from bot.delivery.publisher import JobPublisher
from bot.i18n.catalog import Catalog
from bot.i18n.catalog import load as load_catalog
from bot.i18n.translator import CatalogTranslator
from bot.jobs.acks import AckStore
from bot.jobs.model import Job
from bot.jobs.retired import RetiredModels
from bot.jobs.runtimes import RunTimes
from bot.jobs.store import JobDeliveries, JobHistory, JobStore
from bot.launch.lastframe import LastFrames
from bot.launch.startimages import StartImageService
from bot.launch.usecase import Launcher
from bot.ledger.store import Ledger
from bot.metrics import Metrics
from bot.packs.service import PackService
from bot.packs.store import EntitlementStore
from bot.policy.approvals import PendingStore
from bot.policy.guild_rules import GuildRules
from bot.policy.holds import HoldService
from bot.policy.store import PolicyStore
from bot.policy.strike_service import StrikeService
from bot.policy.strikes import StrikeStore
from bot.web.link import WebhookLink
from bot.web.ops import Health, gateway_connected, ops_routes
from bot.web.server import WebServer
from bot.web.webhooks import WebhookReceiver
from bot.worker.scheduler import JobScheduler
from bot.worker.wakeups import Wakeups

log = logging.getLogger(__name__)

#: Cogs loaded at start-up, in order.
DEFAULT_EXTENSIONS: tuple[str, ...] = ("cogs.errors", "cogs.sora", "cogs.budget", "cogs.credits",
                                          "cogs.approvals", "cogs.animate",
                                          "cogs.results", "cogs.video", "cogs.packs")


@dataclass(frozen=True)
class Store:
    """The database and the stores that own its tables: for the wiring below (and tests).

    Cogs never reach in here; they call the services (an import contract keeps them from
    importing a store, and tests/test_shape.py from reaching one through ``services``).
    """

    db: Database
    ledger: Ledger
    jobs: JobStore
    policy: PolicyStore
    audit: AuditLog
    pending: PendingStore
    acks: AckStore
    #: Models the provider said are retired (refused for new requests until restored).
    retired: RetiredModels
    #: Credit packs bought through Discord (bot/packs/).
    entitlements: EntitlementStore
    #: Content-policy strikes, cooldowns and the guilds' word lists (checked with the rules).
    strikes: StrikeStore


@dataclass(frozen=True)
class Services:
    """Everything the bot's cogs need, built once in :func:`open_services`.

    The cogs call the services (``budget``, ``rules``, ``holds``, ``images``, ``frames``) and
    read ``settings`` and ``clock``. ``store`` and ``apiframe`` are for the wiring in this
    module (and tests): tests/test_shape.py fails when a cog names anything not on its
    allow-list of services.
    """

    settings: Settings
    clock: Clock
    budget: BudgetService
    rules: GuildRules
    holds: HoldService
    images: StartImageService
    frames: LastFrames
    #: The shared HTTP session; cogs.animate still reads Discord attachments with it.
    http: aiohttp.ClientSession
    store: Store
    apiframe: ApiframeClient
    #: Credit packs sold as Discord consumable SKUs ([packs]; off without SKUs).
    packs: PackService
    #: /budget strikes and /budget words: content-policy strikes and the guild's word list.
    strikes: StrikeService
    #: The Prometheus instruments everything above counts into (rendered at /metrics).
    metrics: Metrics = field(default_factory=Metrics)
    #: How new work reaches the schedulers of every process: PostgreSQL's LISTEN/NOTIFY, or
    #: None (within this process only; processes sharing a SQLite file see it at their next
    #: idle scan).
    wakeups: Wakeups | None = None
    #: Every member-facing text by key, in the member's (or the guild's) language.
    texts: Catalog = field(default_factory=load_catalog)


def make_start_image_service(settings: Settings) -> StartImageService:
    jobs = settings.jobs
    return StartImageService(max_bytes=jobs.max_start_image_bytes,
                             max_pixels=jobs.max_start_image_pixels,
                             max_concurrent=jobs.max_concurrent_start_images)


async def open_database(config: DatabaseConfig) -> Database:
    """The backend the config names: PostgreSQL with ``url``, else the SQLite file."""
    if config.url is not None:
        return await PostgresDatabase.connect(
            config.url.get_secret_value(), busy_timeout_ms=config.busy_timeout_ms,
            pool_size=config.pool_size)
    return await Database.open(config.path, busy_timeout_ms=config.busy_timeout_ms)


@asynccontextmanager
async def open_store(
    settings: Settings, clock: Clock = utc_now, metrics: Metrics | None = None,
    *, instance: str = "main", texts: Catalog | None = None,
) -> AsyncIterator[Store]:
    """Open (and migrate) the database; close it on exit. ``instance``: this process's name
    among those sharing the database (whose acknowledgements are its own)."""
    db = await open_database(settings.database)
    try:
        ledger = Ledger.from_config(db, settings.ledger, clock=clock, held_jobs=JobDeliveries())
        audit = AuditLog(db, clock)
        strikes = StrikeStore(db, config=settings.policy, clock=clock, audit=audit,
                              texts=texts if texts is not None else load_catalog())
        policy = PolicyStore(db, settings=settings, clock=clock, jobs=JobHistory(),
                             gate=strikes)
        jobs = JobStore(
            db, ledger, timeout=timedelta(minutes=settings.jobs.timeout_minutes), clock=clock,
            policy=policy, audit=audit, metrics=metrics,
        )
        pending = PendingStore(db, clock=clock)
        yield Store(db=db, ledger=ledger, jobs=jobs, policy=policy, audit=audit,
                    pending=pending, acks=AckStore(db, clock, owner=instance),
                    retired=RetiredModels(db, clock, audit), strikes=strikes,
                    entitlements=EntitlementStore(db, ledger, audit, clock))
    finally:
        await db.close()


def make_apiframe_client(
    settings: Settings, http: aiohttp.ClientSession, downloads: DownloadGate | None = None,
    metrics: Metrics | None = None,
) -> ApiframeClient:
    """The client; without ``downloads`` it can call the API but refuses every download."""
    return ApiframeClient(
        http,
        api_key=settings.apiframe.api_key,
        base_url=settings.apiframe.base_url,
        timeout=settings.apiframe.request_timeout_seconds,
        max_retries=settings.apiframe.max_retries,
        downloads=downloads,
        metrics=metrics,
    )


@asynccontextmanager
async def open_services(
    settings: Settings, clock: Clock = utc_now, *, instance: str = "main",
) -> AsyncIterator[Services]:
    """Build every resource in one exit stack, so shutdown closes them in reverse order."""
    async with AsyncExitStack() as stack:
        metrics = Metrics()
        texts = load_catalog()
        store = await stack.enter_async_context(open_store(settings, clock, metrics,
                                                                instance=instance, texts=texts))
        http = await stack.enter_async_context(
            aiohttp.ClientSession(headers={"User-Agent": "sora-discord-bot"})
        )
        downloads = await stack.enter_async_context(
            DownloadGate(DownloadPolicy.from_config(settings.apiframe)))
        apiframe = make_apiframe_client(settings, http, downloads, metrics)
        budget = BudgetService(store.db, store.ledger, store.audit, store.jobs, settings, clock)
        images = make_start_image_service(settings)
        stack.callback(images.close)
        frames = LastFrames(apiframe, max_video_bytes=settings.apiframe.extend_max_video_bytes)
        wakeups: Wakeups | None = None
        if isinstance(store.db, PostgresDatabase):
            # Closed before the database (the exit stack unwinds in reverse).
            listening = await store.db.wakeups()
            stack.push_async_callback(listening.close)
            wakeups = listening
        packs = PackService(settings.packs, store.entitlements, texts, clock)
        yield Services(settings=settings, clock=clock, budget=budget,
                       rules=GuildRules(store.policy), holds=HoldService(store.pending),
                       images=images, frames=frames, http=http, store=store,
                       apiframe=apiframe, packs=packs, metrics=metrics, wakeups=wakeups,
                       texts=texts, strikes=StrikeService(store.strikes))


def default_intents() -> discord.Intents:
    """Only what slash commands need: no message content, no member list."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


class SoraBot(commands.Bot):
    """The Discord client; cogs reach the services through ``bot.services``.

    ``run_jobs`` starts the scheduler, the audit poster and the HTTP listener in
    :meth:`setup_hook`; ``gateway`` False is a worker process that only logs in over REST (its
    health check asks for no gateway connection); ``retire_orphans`` tells members whose
    request a killed run acknowledged but never recorded (bot/roles.py sets it on the processes
    that answer interactions). bot/roles.py builds one per process role;
    ``options`` reach discord.py (``shard_ids``, ``shard_count`` for the sharded subclass).
    """

    def __init__(
        self,
        services: Services,
        *,
        extensions: Sequence[str] = DEFAULT_EXTENSIONS,
        guild_ready_timeout: float = 2.0,
        run_jobs: bool = False,
        gateway: bool = True,
        retire_orphans: bool | None = None,
        instance: str | None = "main",
        wakeups: Wakeups | None = None,
        **options: Any,
    ) -> None:
        # The bot never joins voice; discord.py would otherwise warn once per process that
        # the optional voice libraries are missing (it clears the same flags itself).
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=default_intents(),
            help_command=None,
            # Echoed prompts must never ping anyone; messages opt in to the requester only.
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            # Counts Discord's HTTP errors for /metrics, REST and interaction webhooks alike.
            http_trace=services.metrics.discord_trace(),
            **options,
        )
        self.services = services
        self._extensions = tuple(extensions)
        self._run_jobs = run_jobs
        #: Orphaned acknowledgements are retired by a process that answers interactions
        #: (before it connects); by default the one-process bot (run_jobs on the gateway).
        self._retire_orphans = run_jobs and gateway if retire_orphans is None else retire_orphans
        settings = services.settings
        web_config = settings.web
        #: The HTTP listener ([web] enabled): other routes join it with ``web.add_routes``
        #: before setup_hook starts it (the webhook receiver's are added below).
        self.web = WebServer(web_config) if web_config.enabled else None
        self.webhooks = WebhookLink(
            public_url=web_config.public_url, api_key=settings.apiframe.api_key,
            clock=services.clock, quiet=timedelta(seconds=web_config.webhook_quiet_seconds),
        ) if web_config.webhooks_on and web_config.public_url else None
        #: Each guild's language for channel posts, recorded for processes without a gateway.
        self.guild_locales = GuildLocales(services.store.db, services.clock)
        self.scheduler = JobScheduler(
            store=services.store.jobs,
            apiframe=services.apiframe,
            publisher=JobPublisher(
                self, token_margin=timedelta(seconds=settings.jobs.token_margin_seconds),
                clock=services.clock, texts=services.texts, locales=self.guild_locales,
            ),
            settings=settings,
            workdir=settings.database.path.parent / "downloads",
            clock=services.clock,
            retired=services.store.retired,
            usable_models=self._usable_labels,
            metrics=services.metrics,
            webhooks=self.webhooks,
            # This process's name among those sharing the database (bot/worker/claims.py):
            # "main" for the one process that does everything, so a restart after a kill
            # takes its jobs back at once instead of waiting for their leases to run out.
            instance=instance,
            # New jobs and webhook events reach the schedulers (default: the services', which
            # on PostgreSQL reach every process).
            wakeups=wakeups if wakeups is not None else services.wakeups,
            run_times=RunTimes(
                services.store.db, services.clock,
                history=settings.apiframe.expected_time_history,
                default_seconds=settings.apiframe.default_run_seconds,
                seconds_per_video_second=settings.apiframe.default_run_seconds_per_video_second,
            ),
            strike=self._strike,
        )
        if self.web is not None and self.webhooks is not None and run_jobs:
            # Only where jobs run: a gateway process has no scheduler to apply events.
            self.web.add_routes(WebhookReceiver(
                api_key=settings.apiframe.api_key, link=self.webhooks,
                store=services.store.jobs, apply=self.scheduler.apply_event,
                max_body_bytes=web_config.max_body_bytes,
            ).routes())
        if self.web is not None:
            # Operations on the same listener: /healthz (the Docker HEALTHCHECK) and /metrics.
            self.web.add_routes(ops_routes(
                Health(db=services.store.db,
                       duties=self.scheduler.duties if run_jobs else None,
                       gateway=(lambda: gateway_connected(self)) if gateway else None),
                services.metrics, services.store.jobs, services.clock,
            ))
        self.audit_poster = AuditPoster(services.store.audit, self, self.scheduler.duties)
        store = services.store
        # Every entry point starts its jobs here (see cogs/adapters.py). Built with the bot,
        # not in open_services, because it wakes this bot's scheduler.
        self.launcher = Launcher(
            settings=settings, ledger=store.ledger, jobs=store.jobs, policy=store.policy,
            pending=store.pending, acks=store.acks, audit=store.audit,
            apiframe=services.apiframe, images=services.images, wake=self.scheduler.wake,
            retired=store.retired,
        )

    async def _strike(self, job: Job) -> str | None:
        """Count a content-policy refusal against the requester; the notice's sentence, in
        the language of the failure card it joins (the guild's, also in a worker process)."""
        strikes = self.services.store.strikes
        strike = await strikes.strike(job.guild_id, job.user_id, job.id)
        guild = self.get_guild(job.guild_id)
        locale: object = (guild.preferred_locale if guild is not None
                          else await self.guild_locales.get(job.guild_id))
        return strikes.note(strike, locale)

    async def _usable_labels(self, guild_id: int) -> list[str]:
        """The models a guild may use now, for the worker's notice that one retired."""
        return [offer.label for offer in await self.launcher.offers_for(guild_id)]

    async def setup_hook(self) -> None:
        # Command names and descriptions in each member's language, from the same catalog.
        await self.tree.set_translator(CatalogTranslator(self.services.texts))
        for name in self._extensions:
            await self.load_extension(name)
        if self._retire_orphans:
            # Runs before the gateway connects, so no new interaction of this process can
            # race it. Only a process that acknowledges interactions has orphans to retire.
            await self.retire_orphan_acks()
        # Before any job moves: a port in use stops start-up in one line (web.port). A
        # gateway process serves /healthz and /metrics too (its Docker HEALTHCHECK).
        await self.start_listener()
        if self._run_jobs:
            # Unfinished jobs resume over REST at once; the audit outbox and the hold sweep
            # are duties of the same scheduler.
            self.scheduler.start()
        log.info("Loaded %d cog(s); %d application command(s) in the tree",
                 len(self._extensions), len(self.tree.get_commands()))

    async def start_listener(self) -> None:
        """Start the HTTP listener, if configured (a port in use raises ListenerError)."""
        if self.web is not None:
            await self.web.start()
            if self.webhooks is not None:
                self.webhooks.listening()

    async def retire_orphan_acks(self) -> None:
        """Tell members whose request an earlier run acknowledged but never recorded."""
        acks = self.services.store.acks
        # Only this process's own (bot/jobs/acks.py): another live gateway's are its own.
        for ack in await acks.orphans():
            await self.scheduler.publisher.retire_orphan(ack)
            await acks.close(ack.interaction_id)
        await acks.forget_recorded()

    async def close(self) -> None:
        if self.web is not None:  # first: no webhook should find the scheduler stopping
            await self.web.stop()
        if self.webhooks is not None:
            self.webhooks.stopped()
        await self.scheduler.stop()
        await super().close()

    # Each guild's preferred locale, for cards a worker process writes (bot/delivery/locales.py).
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self._remember_locale(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._remember_locale(guild)

    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        if before.preferred_locale != after.preferred_locale:
            await self._remember_locale(after)

    async def _remember_locale(self, guild: discord.Guild) -> None:
        try:
            await self.guild_locales.remember(guild.id, str(guild.preferred_locale))
        except DatabaseError as exc:  # cards then fall back to English; nothing else is lost
            log.warning("guild %s: language not recorded (%s)", guild.id, exc)

    async def on_ready(self) -> None:
        user = self.user
        log.info("Ready as %s (id %s) in %d guild(s)", user, user.id if user else "?",
                 len(self.guilds))
