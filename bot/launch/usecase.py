"""Start a video: the one use case behind /sora, the context menu, the result buttons,
Confirm and Approve. Free of Discord objects; the visible steps go through a
:class:`bot.launch.port.DiscordPort`.

The order matters and lives only here. The cheap checks run before acknowledging, so a
refusal is the first, private response. Above the guild's threshold the request is held
instead (nothing reserved). Otherwise a public "thinking…" acknowledgement, whose message
becomes the job's status message, then the slow work (re-hosting the start image), then the
price reserved and the job row written in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from bot.apiframe.client import (
    ApiframeClient,
    ApiframeError,
    ProviderOutOfCredits,
    ValidationFailed,
)
from bot.audit.trail import AuditLog
from bot.catalog.lineup import Offer
from bot.catalog.options import OptionRefused
from bot.config import Settings
from bot.db.database import Transaction
from bot.errors import UserError
from bot.i18n.catalog import Listing, Words
from bot.jobs.acks import AckStore, OpenAck
from bot.jobs.model import Job, JobLimitReached
from bot.jobs.retired import RetiredModels
from bot.jobs.store import JobStore
from bot.launch.choices import check_inputs
from bot.launch.imagefit import CROP, check_fit_mode
from bot.launch.port import (
    AUDIT_UNREACHABLE,
    NO_AUDIT_CHANNEL,
    DiscordPort,
    ImageInput,
    ImageUploadFailed,
    PreviewFacts,
)
from bot.launch.priority import AckFirst
from bot.launch.startimages import StartImageService
from bot.launch.validation import StartImage, check_attachment_meta, check_prompt
from bot.ledger.store import Ledger
from bot.ledger.types import InsufficientCredits
from bot.policy.approvals import PendingStore
from bot.policy.held import GONE, PendingKind, PendingRequest, PendingStatus, gate_for
from bot.policy.rules import GuildPolicy
from bot.policy.store import PolicyStore
from bot.request import Origin, VideoOptions, VideoRequest

log = logging.getLogger(__name__)

#: Where a start image comes from: re-hosted now, or already on the provider (url, note).
Rehost = Callable[[], Awaitable[tuple[str | None, str | None]]]


class Launcher:
    """Price, check, hold or acknowledge, re-host, reserve and enqueue one job."""

    def __init__(
        self, *, settings: Settings, ledger: Ledger, jobs: JobStore, policy: PolicyStore,
        pending: PendingStore, acks: AckStore, audit: AuditLog, apiframe: ApiframeClient,
        images: StartImageService, wake: Callable[[], None],
        retired: RetiredModels | None = None, first: AckFirst | None = None,
    ) -> None:
        self._settings, self._ledger, self._jobs, self._policy = settings, ledger, jobs, policy
        self._pending, self._acks, self._audit = pending, acks, audit
        self._apiframe, self._images = apiframe, images
        # Tells the scheduler a job is due now rather than at its next planned look.
        self._wake = wake
        # None: no model is ever refused as retired (a rig without the store).
        self._retired = retired
        # Under a burst, every acknowledgement before the slow work behind any of them.
        self._first = first or AckFirst()

    def offer(self, model: str) -> Offer:
        """The enabled model, or :class:`OptionRefused` naming the ones offered instead."""
        return self._settings.lineup.offer(model)

    def options(self, model: str, prompt: object,
                chosen: Mapping[str, object]) -> VideoOptions:
        """The member's prompt and choices for ``model``, checked against what the operator
        offers and what the model accepts (a raw interaction can carry anything)."""
        offer = self.offer(model)
        text = check_prompt(prompt, offer.model.prompt_max)
        return VideoOptions.of(offer.model.check_prompt(text), offer.resolve(chosen))

    def price(self, model: str, options: VideoOptions) -> int:
        """Credits for exactly these options of ``model`` (its operator's grid)."""
        return self.offer(model).price(options.params)

    def request(self, origin: Origin, model: str, options: VideoOptions) -> VideoRequest:
        return VideoRequest(origin=origin, model=model, options=options,
                            price=self.price(model, options))

    def sora_model(self) -> str:
        """The model /sora runs, or a refusal naming /video when the operator turned it off."""
        model = self._settings.lineup.sora
        if model is None:
            raise UserError("Sora is not offered on this bot any more. Use /video to choose "
                            "one of the models it offers.", key="refusal.sora_not_offered")
        return model

    async def offers_for(self, guild_id: int) -> tuple[Offer, ...]:
        """The enabled models this guild's members may use now, in config order: the ones its
        moderators allow, minus any the provider has retired."""
        policy = await self._policy.get(guild_id)
        return self._usable(policy.models, await self._retired_models())

    def _usable(self, allowed: frozenset[str] | None,
                retired: frozenset[str]) -> tuple[Offer, ...]:
        return tuple(offer for offer in self._settings.lineup.offers.values()
                     if (allowed is None or offer.id in allowed) and offer.id not in retired)

    async def default_for(self, guild_id: int) -> Offer | None:
        """The model /video uses when a member picks none: the guild's default, else the
        bot's, else the first usable one (None: this guild may use no model now)."""
        policy = await self._policy.get(guild_id)  # read once: allowed models and default
        offers = self._usable(policy.models, await self._retired_models())
        for model in (policy.default_model, self._settings.lineup.default):
            found = next((offer for offer in offers if offer.id == model), None)
            if found is not None:
                return found
        return offers[0] if offers else None

    async def _retired_models(self) -> frozenset[str]:
        """Models the provider said are retired or unknown (until an operator restores one)."""
        return frozenset() if self._retired is None else await self._retired.ids()

    async def _check_usable(self, request: VideoRequest, policy: GuildPolicy) -> None:
        """Refuse a model this guild may not use now, naming the ones it may."""
        retired = await self._retired_models()
        offers = self._usable(policy.models, retired)
        if any(offer.id == request.model for offer in offers):
            return
        label = self.offer(request.model).label
        why = ("has been retired by the video service" if request.model in retired
               else "is not available on this server")
        others = ", ".join(offer.label for offer in offers)
        gone = "retired" if request.model in retired else "unavailable"
        raise OptionRefused(f"{label} {why}. " + (
            f"You can use {others} instead (/video)." if others
            else "No other video model is available here right now."),
            key=f"refusal.model_{gone}_{'use' if others else 'none'}",
            params={"model": label, "others": Listing([o.label for o in offers], ",")})

    def held_model(self, held: PendingRequest) -> str:
        """The model of a held request (one held before models were named: /sora's)."""
        return held.model or self._settings.apiframe.model

    async def job_for(self, guild_id: int | None, job_id: str) -> Job | None:
        """The guild's job (a result button names it); None if unknown or another guild's."""
        job = await self._jobs.get(job_id)
        return job if job is not None and job.guild_id == guild_id else None

    async def launch(
        self, origin: Origin, options: VideoOptions, port: DiscordPort, *, model: str,
        image: ImageInput | None = None, fit: str = CROP, image_url: str | None = None,
        image_note: str | None = None, gate: bool = True, held_id: str | None = None,
    ) -> Job | None:
        """Check, acknowledge publicly, re-host the image, reserve and enqueue one job.

        ``fit`` (crop / pad) says how a start image of another shape is fitted to the video's.
        ``image_url`` reuses a start image already on the provider (a rerolled job's) as is.
        Above the guild's preview or approval threshold (unless ``gate`` is False: the request
        already passed it) the request is held instead and None is returned: nothing reserved.
        ``held_id`` is the held request this starts (its Confirm): the job claims it.

        Raises only while no job exists. Once the job row is written the request has
        succeeded, and nothing after it (the status card) can report a failure, undo or
        repeat it.
        """
        fit = check_fit_mode(fit)
        request = self.request(origin, model, options)
        if (image is not None or image_url is not None) and not self.offer(model).takes_image:
            raise OptionRefused(f"{self.offer(model).label} does not take a start image.",
                                key="refusal.no_start_image_taken",
                                params={"model": self.offer(model).label})
        # A model needing an input nobody gave would only fail after the charge.
        check_inputs(self.offer(model), with_image=image is not None or image_url is not None)
        if image is not None:
            check_attachment_meta(image.size, image.content_type,
                                  self._settings.jobs.max_start_image_bytes)

        async def rehost() -> tuple[str | None, str | None]:
            if image is None:
                return image_url, image_note
            return await self._rehost(image, options.aspect_ratio, fit)

        async def with_the_job(tx: Transaction) -> None:
            # In the job row's own transaction, so no later failure can leave a job whose
            # placeholder the next run calls uncharged, or a held request startable again.
            await self._acks.close_in(tx, origin.interaction_id)
            if held_id is not None:
                await self._pending.claim(tx, held_id)

        opened = False
        try:
            with self._first.acknowledging():
                policy = await self.precheck(request)
                # The policy the precheck just read: a moderator's change from this instant
                # on is still applied by the check inside the reserving transaction.
                kind = gate_for(policy, request.price) if gate else None
                if kind is not None:
                    await self._hold(kind, request, policy, port, rehost)
                    return None
                # Until the job row exists, a crash would leave the public placeholder
                # thinking forever: note it first, so the next run can say that nothing was
                # charged.
                await self._acks.open(OpenAck(origin.interaction_id, origin.application_id,
                                              origin.interaction_token,
                                              origin.token_expires_at, origin.locale))
                opened = True
                # Errors from here on reach the member privately: the error handler removes
                # the public placeholder first.
                status_message_id = await port.acknowledge()
            await self._first.settle()
            url, note = await rehost()
            job = await self._reserve(request.with_image(url, note),
                                      status_message_id=status_message_id, within=with_the_job)
        except Exception:
            # No job: the member is told why right now, so the note for the next run can go.
            # (A cancellation keeps it: then nobody told the member anything.)
            if opened:
                await self._forget_ack(origin.interaction_id)
            raise
        log.info("job %s: created for guild %s by user %s (%d credits)",
                 job.id, job.guild_id, job.user_id, job.price)
        self._wake()
        await self._show_status(port, job)
        return job

    async def confirm(self, held: PendingRequest, origin: Origin, port: DiscordPort, *,
                      actor: str) -> Job | None:
        """The member's Confirm of their preview: start it as they asked, once."""
        if await self._pending.decide(held.id, PendingStatus.STARTED, actor=actor) is None:
            await port.answer(Words(GONE, "approval.gone"))
            return None
        try:
            # The button's own public "thinking…" becomes the job's status message.
            job = await self.launch(origin, held.options, port, model=self.held_model(held),
                                    image_url=held.start_image_url,
                                    image_note=held.start_image_note, gate=False,
                                    held_id=held.id)
        except Exception:
            await self._pending.reopen(held.id)  # a no-op once a job claimed the request
            raise
        log.info("held request %s confirmed: job %s", held.id,
                 job.id if job is not None else "?")
        return job

    async def approve(self, held: PendingRequest, moderator: Origin, port: DiscordPort, *,
                      actor: str) -> Job | None:
        """A moderator's Approve: start the member's request with the moderator's click.

        The requester's own token is long gone: the job posts its result as a new channel
        message mentioning them (no status message). Only the click's token is the
        moderator's; who, where and which roles stay the requester's.
        """
        if await self._pending.decide(held.id, PendingStatus.STARTED, actor=actor) is None:
            await port.answer(Words(GONE, "approval.gone"))
            return None
        origin = replace(moderator, guild_id=held.guild_id, channel_id=held.channel_id,
                         user_id=held.user_id, role_ids=held.role_ids)
        request = self.request(origin, self.held_model(held), held.options)
        request = request.with_image(held.start_image_url, held.start_image_note)
        try:
            job = await self._reserve(request, status_message_id=None,
                                      within=lambda tx: self._pending.claim(tx, held.id))
        except Exception:
            await self._pending.reopen(held.id)
            raise
        self._wake()
        return job

    async def precheck(self, request: VideoRequest) -> GuildPolicy:
        """Refuse early, before any slow work, when the request cannot succeed right now;
        the guild's policy, as read for the check.

        Only advisory: :meth:`_reserve` checks again inside the reserving transaction. It
        runs before every acknowledgement, so it reads each thing once: the policy (shared
        by the model check, the rules and the caller's gate), counts rather than rows.
        """
        policy = await self._policy.get(request.guild_id)
        await self._check_usable(request, policy)
        await self._policy.precheck(request, policy)
        per_guild, per_member = self._policy.in_flight_limits(policy)
        running, mine = await self._jobs.in_flight_counts(request.guild_id, request.user_id)
        if mine >= per_member:
            raise JobLimitReached(scope="member", running=mine, limit=per_member)
        if running >= per_guild:
            raise JobLimitReached(scope="guild", running=running, limit=per_guild)
        balance = await self._ledger.balance(request.guild_id)
        if balance < request.price:
            raise InsufficientCredits(balance=balance, price=request.price)
        return policy

    async def _hold(self, kind: PendingKind, request: VideoRequest, policy: GuildPolicy,
                    port: DiscordPort, rehost: Rehost) -> PendingRequest:
        """Record the request and show its preview, or send it to the audit channel."""
        audit_channel: int | None = None
        if kind is PendingKind.APPROVAL:
            audit_channel = (await self._audit.settings(request.guild_id)).channel_id
            if audit_channel is None:
                raise UserError(NO_AUDIT_CHANNEL, key="refusal.no_audit_channel")
        # Private: only the member sees the preview or the "awaiting approval" note.
        await port.acknowledge_privately()
        url, note = await rehost()
        held = await self._pending.create(kind, request.with_image(url, note))
        if audit_channel is None:
            balance = await self._ledger.balance(held.guild_id)
            spending = await self._policy.spending(held.guild_id, held.user_id)
            await port.show_preview(held, PreviewFacts(balance, spending, policy))
            return held
        posted = await port.post_approval(audit_channel, held)
        if posted is None:
            await self._pending.decide(held.id, PendingStatus.CANCELLED, actor="bot")
            raise UserError(AUDIT_UNREACHABLE, key="refusal.audit_unreachable")
        await self._pending.set_audit_message(held.id, posted)
        await port.answer(Words(
            f"This video costs {held.price} credits, so a moderator must approve it first. "
            "You'll be told here when they decide; nothing is charged until then.",
            "approval.awaiting", price=held.price))
        return held

    async def _reserve(
        self, request: VideoRequest, *, status_message_id: int | None,
        within: Callable[[Transaction], Awaitable[object]],
    ) -> Job:
        """Reserve the price and record the job in one transaction; the scheduler does the rest.

        ``within`` joins that transaction (see :meth:`bot.jobs.store.JobStore.create`).
        """
        jobs = self._settings.jobs
        return await self._jobs.create(
            request, status_message_id=status_message_id,
            max_per_guild=jobs.max_in_flight_per_guild,
            max_per_member=jobs.max_in_flight_per_member, within=within,
        )

    async def _rehost(self, image: ImageInput, aspect_ratio: str,
                      fit: str) -> tuple[str, str | None]:
        """The uploaded image's URL and what fitting did to it (None: it already fit)."""
        data = await image.read()
        # Decoded once, in a worker thread (so the gateway heartbeat never stalls), and only
        # as many at a time as the service allows. The filename and declared type are not
        # trusted.
        fitted = await self._images.prepare(data, aspect_ratio, fit)
        return await self._upload(fitted.image), fitted.note

    async def _upload(self, image: StartImage) -> str:
        """Re-host the image on Apiframe: Discord's CDN URLs are signed and expire."""
        try:
            upload = await self._apiframe.upload(
                image.data, filename=f"start.{image.extension}", content_type=image.mime
            )
        except ValidationFailed as exc:
            log.warning("start image refused by Apiframe: %s", exc)
            raise ImageUploadFailed(
                "The video service did not accept that image. Try a PNG or JPEG under 10 MB.",
                key="refusal.image_upload_refused",
            ) from None
        except ProviderOutOfCredits:
            raise ImageUploadFailed(
                "The bot's video provider account is out of credits; please tell the bot's "
                "operator. Nothing was charged.", key="refusal.provider_out_of_credits",
            ) from None
        except ApiframeError as exc:
            log.warning("start image upload failed: %s", exc)
            raise ImageUploadFailed(
                "The start image could not be uploaded to the video service right now. Please "
                "try again in a minute; nothing was charged.", key="refusal.image_upload_failed",
            ) from None
        return upload.url

    async def _forget_ack(self, interaction_id: int) -> None:
        try:
            await self._acks.close(interaction_id)
        except Exception:
            # Must not hide the refusal being raised. Left behind, the row makes the next run
            # say "nothing was charged", which is true: no job was written.
            log.warning("interaction %s: acknowledgement note not cleared", interaction_id,
                        exc_info=True)

    @staticmethod
    async def _show_status(port: DiscordPort, job: Job) -> None:
        """Turn the placeholder into the status card: cosmetic, so it never raises."""
        try:
            await port.show_status(job)
        except Exception as exc:
            # A refusal, a reset connection or a timeout alike: the job is paid for and
            # running, and the scheduler edits this same message with progress and the result.
            log.info("job %s: first status edit failed (%s); the scheduler will retry", job.id,
                     type(exc).__name__)
