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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import aiohttp
import discord

from bot.catalog.lineup import Offer
from bot.clock import Clock
from bot.delivery import cards, render
from bot.delivery.buttons import ResultButtons
from bot.delivery.cards import LinkNote, Words
from bot.delivery.evidence import Evidence, ResultFinder, result_filename
from bot.delivery.locales import GuildLocales
from bot.delivery.routes import CannotPost, Routes, is_legacy, too_large, transient
from bot.delivery.routes import job_nonce as job_nonce  # re-exported: where tests look for it
from bot.i18n.catalog import Catalog
from bot.jobs.acks import OpenAck
from bot.jobs.model import Job

log = logging.getLogger(__name__)

DeliveryMode = Literal["attachment", "link", "dm", "undeliverable"]


@dataclass(frozen=True, slots=True)
class Delivered:
    """How the result reached the member and the message that shows it (None if nowhere)."""

    mode: DeliveryMode
    message_id: int | None


class JobPublisher(Routes):
    def __init__(
        self, client: discord.Client, *, token_margin: timedelta, clock: Clock,
        texts: Catalog | None = None, locales: GuildLocales | None = None,
    ) -> None:
        super().__init__(client, token_margin=token_margin, clock=clock, texts=texts,
                         locales=locales)
        self._finder = ResultFinder(client, token_margin=token_margin, clock=clock)

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
        if is_legacy(job):
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
            usual = exc.status in (401, 403, 404) or transient(exc)
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
            except CannotPost:
                return await self._dm_result(job)
            except discord.HTTPException as exc:
                if not too_large(exc):
                    raise
                log.info("job %s: upload refused as too large; posting the link", job.id)
                link = LinkNote(render.UPLOAD_REFUSED)
            else:
                return Delivered("attachment", message_id)
        try:
            message_id = await self._post_result(job, video=None, link=link, offer=offer,
                                                 extend=extend)
        except CannotPost:
            return await self._dm_result(job)
        return Delivered("link", message_id)

    async def _post_result(
        self, job: Job, *, video: Path | None, link: LinkNote | None, offer: Offer | None,
        extend: bool,
    ) -> int:
        if is_legacy(job):
            return await self._post_legacy_result(job, video=video, link=link, offer=offer,
                                                  extend=extend)
        words = await self.words(job)
        note = link.text(words) if link is not None else None
        card = cards.result_card(
            job, words, offer, video=result_filename(job) if video is not None else None,
            link=self._link_text(job, note) if video is None else None, extend=extend,
        )
        shown = await self._result_in_status(job, video, view=card)
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
        shown = await self._result_in_status(job, video, content=text, embed=embed,
                                             view=buttons)
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

    async def _result_in_status(self, job: Job, video: Path | None, **shown: Any) -> int | None:
        """The status message turned into the result (``shown``: its card, or the embed form
        of older jobs); its id, or None when the result must be posted in the channel.

        With the interaction token still valid the status message is edited; without it, an
        earlier run may already have edited it (its id is then the result's)."""
        webhook = self._webhook(job)
        if webhook is None or job.status_message_id is None:
            return await self._status_shows(job, lambda m: self._shows_result(job, m))
        try:
            edited = await webhook.edit_message(
                job.status_message_id,
                attachments=[self._file(job, video)] if video is not None else [],
                allowed_mentions=discord.AllowedMentions.none(), **shown,
            )
        except discord.HTTPException as exc:
            if too_large(exc) or transient(exc):
                raise
            log.info("job %s: original response not editable (%s %s); posting in the"
                     " channel", job.id, exc.status, exc.code)
            return None
        return edited.id

    @staticmethod
    def _link_text(job: Job, note: str | None) -> str:
        if job.result_url is None:
            raise ValueError(f"job {job.id} has neither a video file nor a result URL")
        return f"{note}\n{job.result_url}" if note else job.result_url

    @staticmethod
    def _file(job: Job, video: Path) -> discord.File:
        return discord.File(video, filename=result_filename(job))

    async def _dm_result(self, job: Job) -> Delivered:
        # In the guild's language, as the card it replaces would have been.
        words = await self.words(job)
        text = (f"{words('card.dm.ready', link=self._link_text(job, None))}\n\n"
                f"{cards.permission_hint(words, job.channel_id)}")
        message_id = await self._send_dm(job, text, purpose="d")
        if message_id is None:
            return Delivered("undeliverable", None)
        return Delivered("dm", message_id)

    # -- failures ------------------------------------------------------------------------

    async def notify_failure(
        self, job: Job, *, offer: Offer | None = None, usable: Sequence[str] | None = None,
        note: str | None = None,
    ) -> None:
        """Tell the requester their job failed: same route choice as :meth:`deliver`.

        ``offer``: the job's model as offered now; ``usable``: the models the guild may use
        instead of a retired one (said after the reason); ``note``: one more sentence for the
        requester (a content-policy strike, a cooldown that began)."""
        words = await self.words(job)
        legacy = is_legacy(job)
        english = Words(self._texts, None)
        text = render.failure_text(job, offer) if legacy else None
        if text is not None and usable is not None:
            text += " " + cards.instead(english, usable)
        if text is not None and note:
            text += "\n" + note
        card = None if legacy else cards.failure_card(job, words, offer, usable=usable,
                                                       note=note)
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
                if transient(exc):
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
        except CannotPost:
            plain = text or cards.failure_plain(job, words, offer, usable=usable, note=note)
            hint = (render.permission_hint(job.channel_id) if legacy
                    else cards.permission_hint(words, job.channel_id))
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
            # In the member's language: the acknowledgement noted it (None: English).
            note = Words(self._texts, ack.locale)("card.orphan")
            await webhook.edit_message(original, content=note, embeds=[],
                                       allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("placeholder of interaction %s left as is (%s)", ack.interaction_id,
                     type(exc).__name__)
