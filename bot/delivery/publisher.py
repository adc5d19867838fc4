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

What is posted is a Components V2 card (:mod:`bot.delivery.cards`) in the guild's language.
Jobs from before V2 cards (``job.card == "embed"``) keep their embed form to the end: their
status message is an embed, and the V2 flag is not put on a message that has one.

Transient errors (5xx after discord.py's own retries, connection errors) propagate so the
scheduler retries later; everything permanent is decided here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import aiohttp
import discord

from bot.catalog.lineup import Offer
from bot.clock import Clock
from bot.db.errors import DatabaseError
from bot.delivery import cards, render
from bot.delivery.buttons import ResultButtons
from bot.delivery.cards import LinkNote, Words
from bot.delivery.evidence import Evidence, ResultFinder, result_filename, shows_result
from bot.delivery.locales import GuildLocales
from bot.i18n.catalog import Catalog
from bot.i18n.catalog import load as load_catalog
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


def _legacy(job: Job) -> bool:
    """A job whose status card was posted as an embed, before V2 cards: it stays one."""
    return job.card == "embed"


class JobPublisher:
    def __init__(
        self, client: discord.Client, *, token_margin: timedelta, clock: Clock,
        texts: Catalog | None = None, locales: GuildLocales | None = None,
    ) -> None:
        """``texts``: the catalog cards are written with; ``locales``: each guild's recorded
        language, for a process that has no gateway (English where neither knows)."""
        self._client, self._margin, self._clock = client, token_margin, clock
        self._texts = texts if texts is not None else load_catalog()
        self._locales = locales
        self._finder = ResultFinder(client, token_margin=token_margin, clock=clock)

    async def words(self, job: Job) -> Words:
        """The catalog in the language of the job's guild (its channel posts are public)."""
        guild = self._client.get_guild(job.guild_id)
        locale: object = guild.preferred_locale if guild is not None else None
        if locale is None and self._locales is not None:
            try:
                locale = await self._locales.get(job.guild_id)
            except DatabaseError as exc:  # a card in English beats no card
                log.warning("job %s: guild language unknown (%s); writing in English",
                            job.id, exc)
        return Words(self._texts, locale)

    async def find_result(self, job: Job) -> Evidence:
        """What an earlier attempt already shows of the result (bot/delivery/evidence.py)."""
        return await self._finder.find(job)

    async def settle_found(self, job: Job, evidence: Evidence) -> None:
        """Finish what the attempt that posted ``evidence`` was stopped before doing."""
        if evidence.message_id is not None and evidence.message_id != job.status_message_id:
            await self._retire_status(job, failed=False)  # the progress card is still up

    # -- progress ------------------------------------------------------------------------

    async def show_progress(
        self, job: Job, *, now: datetime, offer: Offer | None = None,
        expected: timedelta | None = None,
    ) -> bool:
        """Edit the status message while the token is usable; return whether it was shown.

        ``offer``: the job's model as offered now (for its label); ``expected``: how long the
        variant's latest jobs ran (see :func:`bot.delivery.render.status_embed`). Progress is
        cosmetic: a refused, expired, rate-limited or failed edit is logged and reported as
        not shown, never raised.
        """
        webhook = self._webhook(job)
        if webhook is None or job.status_message_id is None:
            return False
        shown: dict[str, Any]
        if _legacy(job):
            shown = {"embed": render.status_embed(job, now, offer, expected=expected)}
        else:
            shown = {"view": cards.progress_card(job, now, await self.words(job), offer,
                                                 expected=expected)}
        try:
            await webhook.edit_message(
                job.status_message_id, allowed_mentions=discord.AllowedMentions.none(),
                **shown,
            )
        except discord.HTTPException as exc:
            # Expiry, a deleted message and throttling are expected; anything else is a bug.
            usual = exc.status in (401, 403, 404) or _transient(exc)
            log.log(logging.INFO if usual else logging.ERROR,
                    "job %s: progress not shown (%s %s)", job.id, exc.status, exc.code)
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("job %s: progress not shown (%s)", job.id, type(exc).__name__)
            return False
        return True

    # -- results -------------------------------------------------------------------------

    async def deliver(
        self, job: Job, *, video: Path | None, offer: Offer | None = None,
        link: LinkNote | None = None, extend: bool = True,
    ) -> Delivered:
        """Post the finished video (``video``) or its link (``job.result_url``, with why).

        ``offer``: the job's model as offered now (for its label); ``extend`` False leaves
        the Extend button out (the model takes no start image)."""
        if video is not None:
            try:
                message_id = await self._post_result(job, video=video, link=link, offer=offer,
                                                     extend=extend)
            except _CannotPost:
                return await self._dm_result(job)
            except discord.HTTPException as exc:
                if not _too_large(exc):
                    raise
                log.info("job %s: upload refused as too large; posting the link", job.id)
                link = LinkNote(render.UPLOAD_REFUSED)
            else:
                return Delivered("attachment", message_id)
        try:
            message_id = await self._post_result(job, video=None, link=link, offer=offer,
                                                 extend=extend)
        except _CannotPost:
            return await self._dm_result(job)
        return Delivered("link", message_id)

    async def _post_result(
        self, job: Job, *, video: Path | None, link: LinkNote | None, offer: Offer | None,
        extend: bool,
    ) -> int:
        if _legacy(job):
            return await self._post_legacy_result(job, video=video, link=link, offer=offer,
                                                  extend=extend)
        words = await self.words(job)
        note = link.text(words) if link is not None else None
        card = cards.result_card(
            job, words, offer, video=result_filename(job) if video is not None else None,
            link=self._link_text(job, note) if video is None else None, extend=extend,
        )
        webhook = self._webhook(job)
        if webhook is not None and job.status_message_id is not None:
            try:
                edited = await webhook.edit_message(
                    job.status_message_id, view=card,
                    attachments=[self._file(job, video)] if video is not None else [],
                    allowed_mentions=discord.AllowedMentions.none(),
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
        files = [self._file(job, video)] if video is not None else []
        # The card's "requested by" mention is the one ping (requester_only).
        message_id = await self._send_channel(job, content=None, embed=None, files=files,
                                              purpose="d", view=card)
        await self._retire_status(job, failed=False)
        return message_id

    async def _post_legacy_result(
        self, job: Job, *, video: Path | None, link: LinkNote | None, offer: Offer | None,
        extend: bool,
    ) -> int:
        """The result of a job from before V2 cards, as it was posted then (an embed)."""
        note = link.english() if link is not None else None
        embed = render.result_embed(job, offer)
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
        return discord.File(video, filename=result_filename(job))

    async def _dm_result(self, job: Job) -> Delivered:
        text = (f"Your video is ready: {self._link_text(job, None)}\n\n"
                f"{render.permission_hint(job.channel_id)}")
        message_id = await self._send_dm(job, text, purpose="d")
        if message_id is None:
            return Delivered("undeliverable", None)
        return Delivered("dm", message_id)

    # -- failures ------------------------------------------------------------------------

    async def notify_failure(
        self, job: Job, *, offer: Offer | None = None, usable: Sequence[str] | None = None,
    ) -> None:
        """Tell the requester their job failed: same route choice as :meth:`deliver`.

        ``offer``: the job's model as offered now; ``usable``: the models the guild may use
        instead of a retired one (said after the reason)."""
        words = await self.words(job)
        legacy = _legacy(job)
        english = Words(self._texts, None)
        text = render.failure_text(job, offer) if legacy else None
        if text is not None and usable is not None:
            text += " " + cards.instead(english, usable)
        card = None if legacy else cards.failure_card(job, words, offer, usable=usable)
        shown: dict[str, Any] = {"view": card} if card is not None else {
            "content": text, "embeds": []}
        webhook = self._webhook(job)
        if webhook is not None and job.status_message_id is not None:
            try:
                await webhook.edit_message(
                    job.status_message_id, attachments=[],
                    allowed_mentions=discord.AllowedMentions.none(), **shown,
                )
            except discord.HTTPException as exc:
                if _transient(exc):
                    raise
                log.info("job %s: original response not editable (%s %s); posting in the"
                         " channel", job.id, exc.status, exc.code)
            else:
                return
        elif await self._status_shows(
            job, lambda m: (m.content == text) if card is None
            else cards.card_id(m) == cards.FAILURE_ID,
        ) is not None:
            return
        try:
            if card is None:
                await self._send_channel(job, content=f"<@{job.user_id}> {text}", embed=None,
                                         files=[], purpose="f")
            else:
                await self._send_channel(job, content=None, embed=None, files=[],
                                         purpose="f", view=card)
        except _CannotPost:
            plain = text or cards.failure_plain(job, words, offer, usable=usable)
            hint = render.permission_hint(job.channel_id)
            if await self._send_dm(job, f"{plain}\n\n{hint}", purpose="f") is None:
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
        self, job: Job, *, content: str | None, embed: discord.Embed | None,
        files: list[discord.File], purpose: str,
        view: discord.ui.View | discord.ui.LayoutView | None = None,
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
        outcome is already posted, so nothing here may fail the delivery. A V2 card can only
        become another V2 card (Discord refuses content on it); an embed card stays text.
        """
        if job.status_message_id is None:
            return
        message = self._client.get_partial_messageable(
            job.channel_id, guild_id=job.guild_id
        ).get_partial_message(job.status_message_id)
        try:
            if _legacy(job):
                await message.edit(content=render.status_retired_text(failed=failed),
                                   embeds=[], allowed_mentions=discord.AllowedMentions.none())
            else:
                await message.edit(view=cards.retired_card(await self.words(job),
                                                           failed=failed),
                                   allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("job %s: old status message left as is (%s)", job.id, type(exc).__name__)
