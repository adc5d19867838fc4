"""Start a video from any interaction: the one path shared by /sora and later entry points
(the message context menu, result buttons, approvals).

It runs the cheap checks before acknowledging (so a refusal is the first, private response),
then a public "thinking…" acknowledgement whose message becomes the job's status message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.db.database import Transaction
from bot.delivery import render
from bot.errors import UserError
from bot.jobs.acks import AckStore, OpenAck
from bot.jobs.model import Job
from bot.launch.imagefit import CROP, check_fit_mode
from bot.launch.service import SoraRequest
from bot.launch.validation import SoraOptions, check_attachment_meta
from bot.policy.approvals import gate_for
from cogs.approval_views import hold

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class AttachmentUnreadable(UserError):
    """Discord no longer serves the image."""


@dataclass(frozen=True, slots=True)
class ImageInput:
    """A start image still on Discord: what Discord says of it, and how to fetch it."""

    read: Callable[[], Awaitable[bytes]]
    filename: str
    content_type: str | None
    size: int

    @classmethod
    def from_attachment(cls, attachment: discord.Attachment) -> ImageInput:
        return cls(read=attachment.read, filename=attachment.filename,
                   content_type=attachment.content_type, size=attachment.size)


def member_role_ids(interaction: discord.Interaction[SoraBot]) -> tuple[int, ...]:
    """The invoker's roles, for the guild policy's role rule."""
    user = interaction.user
    return tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()


async def launch(
    bot: SoraBot,
    interaction: discord.Interaction[SoraBot],
    options: SoraOptions,
    image: ImageInput | None = None,
    *,
    fit: str = CROP,
    hosted_image_url: str | None = None,
    hosted_image_note: str | None = None,
    gate: bool = True,
    held_request: str | None = None,
) -> Job | None:
    """Check, acknowledge publicly, re-host the image, reserve and enqueue one job.

    ``fit`` (crop / pad) says how a start image of another shape is fitted to the video's.
    ``hosted_image_url`` reuses a start image already on Apiframe (a rerolled job's) as is.
    Above the guild's preview or approval threshold (unless ``gate`` is False: the request
    already passed it) the request is held instead and None is returned: nothing reserved.
    ``held_request`` is the held request this starts (its Confirm): the job claims it.

    Raises only while no job exists. Once the job row is written the request has succeeded,
    and nothing after it (the status card) can report a failure, undo or repeat it.
    """
    services = bot.services
    settings = services.settings
    if interaction.guild_id is None or interaction.channel_id is None:
        raise UserError("Videos can only be made in a server channel.")
    fit = check_fit_mode(fit)
    if image is not None:
        check_attachment_meta(image.size, image.content_type,
                              settings.jobs.max_start_image_bytes)
    role_ids = member_role_ids(interaction)
    price = services.sora.price(options)
    await services.sora.precheck(
        interaction.guild_id, interaction.user.id, price,
        channel_id=interaction.channel_id, role_ids=role_ids, options=options,
    )
    if gate:
        policy = await services.policy.get(interaction.guild_id)
        kind = gate_for(policy, price)
        if kind is not None:
            async def rehost() -> tuple[str | None, str | None]:
                if image is None:
                    return hosted_image_url, hosted_image_note
                return await _rehost(bot, image, options.aspect_ratio, fit)

            await hold(bot, interaction, kind, options, price=price, role_ids=role_ids,
                       policy=policy, rehost=rehost)
            return None

    # Public, so the finished video can replace this "thinking…" message. Errors from here on
    # reach the member privately: the error handler removes the public placeholder first.
    # Until the job row exists, a crash would leave this placeholder thinking forever: note it
    # first, so the next run can say that nothing was charged.
    acks, pending = services.store.acks, services.store.pending
    await acks.open(OpenAck(interaction.id, interaction.application_id, interaction.token,
                            interaction.expires_at))

    async def with_the_job(tx: Transaction) -> None:
        # In the job row's own transaction, so no later failure can leave a job whose
        # placeholder the next run calls uncharged, or a held request startable again.
        await acks.close_in(tx, interaction.id)
        if held_request is not None:
            await pending.claim(tx, held_request)

    try:
        callback = await interaction.response.defer(thinking=True)
        status_message_id = callback.message_id if callback else None
        image_url, image_note = (
            await _rehost(bot, image, options.aspect_ratio, fit) if image is not None
            else (hosted_image_url, hosted_image_note)
        )
        job = await services.sora.start(SoraRequest(
            guild_id=interaction.guild_id, channel_id=interaction.channel_id,
            user_id=interaction.user.id, application_id=interaction.application_id,
            interaction_id=interaction.id, interaction_token=interaction.token,
            token_expires_at=interaction.expires_at,
            attachment_size_limit=interaction.filesize_limit, options=options,
            status_message_id=status_message_id,
            start_image_url=image_url, role_ids=role_ids, start_image_note=image_note,
        ), within=with_the_job)
    except Exception:
        # No job: the member is told why right now, so the note for the next run can go.
        # (A cancellation keeps it: then nobody told the member anything.)
        await _forget_ack(acks, interaction.id)
        raise
    log.info("job %s: created for guild %s by user %s (%d credits)",
             job.id, job.guild_id, job.user_id, job.price)
    bot.scheduler.wake()
    await _show_status(interaction, job)
    return job


async def _forget_ack(acks: AckStore, interaction_id: int) -> None:
    try:
        await acks.close(interaction_id)
    except Exception:
        # Must not hide the refusal being raised. Left behind, the row makes the next run
        # say "nothing was charged", which is true: no job was written.
        log.warning("interaction %s: acknowledgement note not cleared", interaction_id,
                    exc_info=True)


async def _show_status(interaction: discord.Interaction[SoraBot], job: Job) -> None:
    """Turn the placeholder into the status card: cosmetic, so it never raises."""
    try:
        await interaction.edit_original_response(
            embed=render.status_embed(job, discord.utils.utcnow()), allowed_mentions=NO_MENTIONS,
        )
    except Exception as exc:
        # A refusal, a reset connection or a timeout alike: the job is paid for and running,
        # and the scheduler edits this same message with progress and the result.
        log.info("job %s: first status edit failed (%s); the scheduler will retry", job.id,
                 type(exc).__name__)


async def _rehost(
    bot: SoraBot, image: ImageInput, aspect_ratio: str, fit: str
) -> tuple[str, str | None]:
    """The uploaded image's URL and what fitting did to it (None: it already fit)."""
    try:
        data = await image.read()
    except discord.HTTPException as exc:
        log.info("start image unreadable (%s)", exc)
        raise AttachmentUnreadable(
            "I couldn't download that image from Discord (the link may have expired). "
            "Please attach it again."
        ) from None
    # Decoded once, in a worker thread (so the gateway heartbeat never stalls), and only as
    # many at a time as the service allows. The filename and declared type are not trusted.
    fitted = await bot.services.images.prepare(data, aspect_ratio, fit)
    url = await bot.services.sora.upload_start_image(fitted.image)
    return url, fitted.note
