"""The /sora use case, free of Discord objects: price, check, upload, reserve, enqueue."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.apiframe.client import (
    ApiframeClient,
    ApiframeError,
    ProviderOutOfCredits,
    ValidationFailed,
)
from bot.config import Settings
from bot.db.database import Transaction
from bot.errors import UserError
from bot.jobs.model import Job, JobLimitReached
from bot.jobs.store import JobStore, NewJob
from bot.launch.validation import SoraOptions, StartImage
from bot.ledger.store import Ledger
from bot.ledger.types import InsufficientCredits
from bot.policy.rules import PolicyRequest
from bot.policy.store import PolicyStore

log = logging.getLogger(__name__)


class ImageUploadFailed(UserError):
    """The start image could not be handed to the video service; nothing was charged."""


@dataclass(frozen=True, slots=True)
class SoraRequest:
    """One member's /sora, as the cog hands it over after acknowledging."""

    guild_id: int
    channel_id: int
    user_id: int
    application_id: int
    interaction_id: int
    interaction_token: str
    token_expires_at: datetime
    attachment_size_limit: int
    options: SoraOptions
    status_message_id: int | None = None
    start_image_url: str | None = None
    role_ids: tuple[int, ...] = ()
    start_image_note: str | None = None


class SoraService:
    def __init__(
        self, *, settings: Settings, ledger: Ledger, store: JobStore, apiframe: ApiframeClient,
        policy: PolicyStore,
    ) -> None:
        self._settings, self._ledger, self._store, self._apiframe = (
            settings, ledger, store, apiframe,
        )
        self._policy = policy

    def price(self, options: SoraOptions) -> int:
        return self._settings.price(options.resolution, options.duration)

    async def precheck(
        self, guild_id: int, user_id: int, price: int, *, channel_id: int | None = None,
        role_ids: tuple[int, ...] = (), options: SoraOptions | None = None,
    ) -> None:
        """Refuse early, before any slow work, when the request cannot succeed right now.

        Only advisory: :meth:`start` checks again inside the reserving transaction. The
        guild's policy is consulted when the channel and options are given.
        """
        per_guild = self._settings.jobs.max_in_flight_per_guild
        per_member = self._settings.jobs.max_in_flight_per_member
        if channel_id is not None and options is not None:
            policy = await self._policy.precheck(PolicyRequest(
                guild_id=guild_id, channel_id=channel_id, user_id=user_id, role_ids=role_ids,
                resolution=options.resolution, duration=options.duration, price=price,
            ))
            per_guild, per_member = self._policy.in_flight_limits(policy)
        running = await self._store.in_flight(guild_id)
        mine = sum(1 for job in running if job.user_id == user_id)
        if mine >= per_member:
            raise JobLimitReached(scope="member", running=mine, limit=per_member)
        if len(running) >= per_guild:
            raise JobLimitReached(scope="guild", running=len(running), limit=per_guild)
        balance = await self._ledger.balance(guild_id)
        if balance < price:
            raise InsufficientCredits(balance=balance, price=price)

    async def upload_start_image(self, image: StartImage) -> str:
        """Re-host the image on Apiframe: Discord's CDN URLs are signed and expire."""
        try:
            upload = await self._apiframe.upload(
                image.data, filename=f"start.{image.extension}", content_type=image.mime
            )
        except ValidationFailed as exc:
            log.warning("start image refused by Apiframe: %s", exc)
            raise ImageUploadFailed(
                "The video service did not accept that image. Try a PNG or JPEG under 10 MB."
            ) from None
        except ProviderOutOfCredits:
            raise ImageUploadFailed(
                "The bot's video provider account is out of credits; please tell the bot's "
                "operator. Nothing was charged."
            ) from None
        except ApiframeError as exc:
            log.warning("start image upload failed: %s", exc)
            raise ImageUploadFailed(
                "The start image could not be uploaded to the video service right now. Please "
                "try again in a minute; nothing was charged."
            ) from None
        return upload.url

    async def start(
        self, request: SoraRequest, *,
        within: Callable[[Transaction], Awaitable[object]] | None = None,
    ) -> Job:
        """Reserve the price and record the job in one transaction; the scheduler does the rest.

        ``within`` joins that transaction (see :meth:`bot.jobs.store.JobStore.create`).
        """
        options, jobs = request.options, self._settings.jobs
        return await self._store.create(
            NewJob(
                guild_id=request.guild_id, channel_id=request.channel_id,
                user_id=request.user_id, application_id=request.application_id,
                interaction_id=request.interaction_id,
                interaction_token=request.interaction_token,
                token_expires_at=request.token_expires_at,
                attachment_size_limit=request.attachment_size_limit,
                model=self._settings.apiframe.model, prompt=options.prompt,
                duration=options.duration, aspect_ratio=options.aspect_ratio,
                resolution=options.resolution, price=self.price(options),
                start_image_url=request.start_image_url,
                start_image_note=request.start_image_note,
                status_message_id=request.status_message_id,
                role_ids=request.role_ids,
            ),
            max_per_guild=jobs.max_in_flight_per_guild,
            max_per_member=jobs.max_in_flight_per_member,
            within=within,
        )
