"""The only code that posts job output to Discord.

It works from a :class:`~bot.jobs.model.Job` row alone, because after a restart there is no
Interaction object: the interaction token routes go through ``discord.Webhook.partial`` and the
bot-token routes through the client's HTTP client. Which route is used:

* while the interaction token is usable (with a safety margin), the status message (the
  deferred original response) is EDITED, so a retry shows the same single message;
* otherwise a new channel message that mentions only the requester and carries a nonce derived
  from the job with ``enforce_nonce`` (discord.py sets it with every nonce), so a retry after a
  crash within Discord's nonce window returns the first message instead of posting twice;
* if the bot may not post in the channel, the requester gets a DM with the link and a hint on
  fixing the permissions; if even that fails, the outcome is logged.

Transient errors (5xx after discord.py's own retries, connection errors) propagate so the
scheduler retries later; everything permanent is decided here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, cast

import aiohttp
import discord

from bot.clock import Clock
from bot.delivery import render
from bot.delivery.buttons import ResultButtons
from bot.delivery.evidence import Evidence, ResultFinder, shows_result
from bot.jobs.acks import OpenAck
from bot.jobs.model import Job

log = logging.getLogger(__name__)

DeliveryMode = Literal["attachment", "link", "dm", "undeliverable"]

#: Discord's "Request entity too large".
PAYLOAD_TOO_LARGE = 40005
#: Discord caps a nonce at 25 characters.
NONCE_LENGTH = 25


@dataclass(frozen=True, slots=True)
class Delivered:
    """How the result reached the member and the message that shows it (None if nowhere)."""

    mode: DeliveryMode
    message_id: int | None


class _CannotPost(Exception):
    """The bot may not post in the job's channel (or the channel is gone)."""


def job_nonce(job: Job, purpose: str) -> str:
    """A nonce unique to the job and purpose (``d`` result, ``f`` failure), 25 characters."""
    return (purpose + job.id)[:NONCE_LENGTH]


def requester_only(user_id: int) -> discord.AllowedMentions:
    """Ping the requester and nobody else, whatever the text contains."""
    return discord.AllowedMentions(
        users=[discord.Object(id=user_id)], everyone=False, roles=False, replied_user=False
    )


def _too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == PAYLOAD_TOO_LARGE


def _transient(exc: discord.HTTPException) -> bool:
    return exc.status >= 500 or exc.status == 429


class JobPublisher:
    def __init__(
        self, client: discord.Client, *, token_margin: timedelta, clock: Clock
    ) -> None:
        self._client, self._margin, self._clock = client, token_margin, clock
        self._finder = ResultFinder(client, token_margin=token_margin, clock=clock)

    async def find_result(self, job: Job) -> Evidence:
        """What an earlier attempt already shows of the result (bot/delivery/evidence.py)."""
        return await self._finder.find(job)

    async def settle_found(self, job: Job, evidence: Evidence) -> None:
        """Finish what the attempt that posted ``evidence`` was stopped before doing."""
        if evidence.message_id is not None and evidence.message_id != job.status_message_id:
            await self._retire_status(job, failed=False)  # the progress card is still up

    # -- progress ------------------------------------------------------------------------

    async def show_progress(self, job: Job, embed: discord.Embed) -> bool:
        """Edit the status message while the token is usable; return whether it was shown.

        Progress is cosmetic: a refused, expired, rate-limited or failed edit is logged and
        reported as not shown, never raised.
        """
        webhook = self._webhook(job)
        if webhook is None or job.status_message_id is None:
            return False
        try:
            await webhook.edit_message(
                job.status_message_id, embed=embed,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            # Expiry, a deleted message and throttling are expected; anything else is a bug.
            expected = exc.status in (401, 403, 404) or _transient(exc)
            log.log(logging.INFO if expected else logging.ERROR,
                    "job %s: progress not shown (%s %s)", job.id, exc.status, exc.code)
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("job %s: progress not shown (%s)", job.id, type(exc).__name__)
            return False
        return True

    # -- results -------------------------------------------------------------------------

    async def deliver(
        self, job: Job, *, video: Path | None, embed: discord.Embed, note: str | None,
        extend: bool = True,
    ) -> Delivered:
        """Post the finished video (``video``) or its link (``job.result_url``) with ``note``.

        ``extend`` False leaves the Extend button out (the model takes no start image)."""
        if video is not None:
            try:
                message_id = await self._post_result(job, embed, video=video, note=note,
                                                     extend=extend)
            except _CannotPost:
                return await self._dm_result(job)
            except discord.HTTPException as exc:
                if not _too_large(exc):
                    raise
                log.info("job %s: upload refused as too large; posting the link", job.id)
                note = render.link_note_upload_refused()
            else:
                return Delivered("attachment", message_id)
        try:
            message_id = await self._post_result(job, embed, video=None, note=note,
                                                     extend=extend)
        except _CannotPost:
            return await self._dm_result(job)
        return Delivered("link", message_id)

    async def _post_result(
        self, job: Job, embed: discord.Embed, *, video: Path | None, note: str | None,
        extend: bool = True,
    ) -> int:
        text = note if video is not None else self._link_text(job, note)
        buttons = ResultButtons(job.id, extend=extend)
        webhook = self._webhook(job)
        if webhook is not None and job.status_message_id is not None:
            try:
                edited = await webhook.edit_message(
                    job.status_message_id, content=text, embed=embed,
                    attachments=[self._file(job, video)] if video is not None else [],
                    allowed_mentions=discord.AllowedMentions.none(), view=buttons,
                )
            except discord.HTTPException as exc:
                if _too_large(exc) or _transient(exc):
                    raise
                log.info("job %s: original response not editable (%s %s); posting in the"
                         " channel", job.id, exc.status, exc.code)
            else:
                return edited.id
        else:
            shown = await self._status_shows(job, lambda m: self._shows_result(job, m))
            if shown is not None:
                return shown
        ready = f"<@{job.user_id}> your video is ready."
        content = ready if text is None else f"{ready}\n{text}"
        files = [self._file(job, video)] if video is not None else []
        message_id = await self._send_channel(
            job, content=content, embed=embed, files=files, purpose="d", view=buttons
        )
        await self._retire_status(job, failed=False)
        return message_id

    @staticmethod
    def _link_text(job: Job, note: str | None) -> str:
        if job.result_url is None:
            raise ValueError(f"job {job.id} has neither a video file nor a result URL")
        return f"{note}\n{job.result_url}" if note else job.result_url

    @staticmethod
    def _file(job: Job, video: Path) -> discord.File:
        return discord.File(video, filename=f"sora-{job.id}.mp4")

    async def _dm_result(self, job: Job) -> Delivered:
        text = (f"Your video is ready: {self._link_text(job, None)}\n\n"
                f"{render.permission_hint(job.channel_id)}")
        message_id = await self._send_dm(job, text, purpose="d")
        if message_id is None:
            return Delivered("undeliverable", None)
        return Delivered("dm", message_id)

    # -- failures ------------------------------------------------------------------------

    async def notify_failure(self, job: Job, text: str) -> None:
        """Tell the requester their job failed: same route choice as :meth:`deliver`."""
        webhook = self._webhook(job)
        if webhook is not None and job.status_message_id is not None:
            try:
                await webhook.edit_message(
                    job.status_message_id, content=text, embeds=[], attachments=[],
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            except discord.HTTPException as exc:
                if _transient(exc):
                    raise
                log.info("job %s: original response not editable (%s %s); posting in the"
                         " channel", job.id, exc.status, exc.code)
            else:
                return
        elif await self._status_shows(job, lambda m: m.content == text) is not None:
            return
        try:
            await self._send_channel(job, content=f"<@{job.user_id}> {text}", embed=None,
                                     files=[], purpose="f")
        except _CannotPost:
            hint = render.permission_hint(job.channel_id)
            if await self._send_dm(job, f"{text}\n\n{hint}", purpose="f") is None:
                log.error("job %s: failure notice could not be delivered anywhere", job.id)
            return
        await self._retire_status(job, failed=True)

    async def retire_orphan(self, ack: OpenAck) -> None:
        """Replace a placeholder whose request a killed run never recorded (best effort)."""
        if self._clock() + self._margin >= ack.expires_at:
            return  # Discord itself tells the member the interaction failed
        webhook = discord.Webhook.partial(ack.application_id, ack.token, client=self._client)
        # The run that acknowledged may have died before learning the message's id; Discord's
        # "@original" alias names it all the same (discord.py passes the id through as is).
        original = cast(int, "@original")
        try:
            await webhook.edit_message(original, content=render.ORPHAN_TEXT, embeds=[],
                                       allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("placeholder of interaction %s left as is (%s)", ack.interaction_id,
                     type(exc).__name__)

    # -- routes --------------------------------------------------------------------------

    def _webhook(self, job: Job) -> discord.Webhook | None:
        """The interaction webhook while its token will outlive the margin, else None."""
        if job.interaction_token is None or not job.token_usable(self._clock(), self._margin):
            return None
        return discord.Webhook.partial(job.application_id, job.interaction_token,
                                       client=self._client)

    async def _send_channel(
        self, job: Job, *, content: str, embed: discord.Embed | None,
        files: list[discord.File], purpose: str, view: discord.ui.View | None = None,
    ) -> int:
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        extra: dict[str, Any] = {}  # only what is present, so the request body stays minimal
        if embed is not None:
            extra["embed"] = embed
        if files:
            extra["files"] = files
        if view is not None:
            extra["view"] = view
        try:
            message = await channel.send(
                content, nonce=job_nonce(job, purpose),
                allowed_mentions=requester_only(job.user_id), **extra,
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning("job %s: cannot post in channel %s (%s %s)", job.id, job.channel_id,
                        exc.status, exc.code)
            raise _CannotPost from exc
        finally:
            for file in files:
                file.close()
        return message.id

    async def _send_dm(self, job: Job, text: str, *, purpose: str) -> int | None:
        """DM the requester; None if Discord refuses (DMs closed, user unknown)."""
        try:
            dm = await self._client.create_dm(discord.Object(id=job.user_id))
            message = await dm.send(text, nonce=job_nonce(job, purpose),
                                    allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            if _transient(exc):
                raise
            log.error("job %s: could not DM the requester either (%s %s)", job.id,
                      exc.status, exc.code)
            return None
        return message.id

    @staticmethod
    def _shows_result(job: Job, message: discord.Message) -> bool:
        return shows_result(job, message)

    async def _status_shows(
        self, job: Job, done: Callable[[discord.Message], bool]
    ) -> int | None:
        """The status message's id if an earlier run already put the outcome there.

        A crash between editing the original response and recording it, followed by a
        restart after the token expired, would otherwise post the outcome a second time.
        """
        if job.status_message_id is None:
            return None
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            message = await channel.fetch_message(job.status_message_id)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError):
            return None  # deleted, or no Read Message History: nothing to reuse
        return message.id if done(message) else None

    async def _retire_status(self, job: Job, *, failed: bool) -> None:
        """Replace a stale progress card after the outcome went out as a new message.

        Best effort with the bot token (the interaction token is no longer usable): the
        outcome is already posted, so nothing here may fail the delivery.
        """
        if job.status_message_id is None:
            return
        message = self._client.get_partial_messageable(
            job.channel_id, guild_id=job.guild_id
        ).get_partial_message(job.status_message_id)
        try:
            await message.edit(content=render.status_retired_text(failed=failed), embeds=[],
                               allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("job %s: old status message left as is (%s)", job.id, type(exc).__name__)
