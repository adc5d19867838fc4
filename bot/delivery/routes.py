"""How the publisher reaches Discord for a job: the interaction webhook while its token is
usable, the channel with the bot token, the requester's DMs; and the language its cards are
written in. :class:`bot.delivery.publisher.JobPublisher` decides what to post on top of this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import discord

from bot.clock import Clock
from bot.db.errors import DatabaseError
from bot.delivery import cards, render
from bot.delivery.cards import Words
from bot.delivery.evidence import shows_result
from bot.delivery.locales import GuildLocales
from bot.i18n.catalog import Catalog
from bot.i18n.catalog import load as load_catalog
from bot.jobs.model import Job

log = logging.getLogger(__name__)

#: Discord's "Request entity too large".
PAYLOAD_TOO_LARGE = 40005
#: Discord caps a nonce at 25 characters.
NONCE_LENGTH = 25


class CannotPost(Exception):
    """The bot may not post in the job's channel (or the channel is gone)."""


def job_nonce(job: Job, purpose: str) -> str:
    """A nonce unique to the job and purpose (``d`` result, ``f`` failure), 25 characters."""
    return (purpose + job.id)[:NONCE_LENGTH]


def requester_only(user_id: int) -> discord.AllowedMentions:
    """Ping the requester and nobody else, whatever the text contains."""
    return discord.AllowedMentions(
        users=[discord.Object(id=user_id)], everyone=False, roles=False, replied_user=False
    )


def too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == PAYLOAD_TOO_LARGE


def transient(exc: discord.HTTPException) -> bool:
    return exc.status >= 500 or exc.status == 429


def is_legacy(job: Job) -> bool:
    """A job whose status card was posted as an embed, before V2 cards: it stays one."""
    return job.card == "embed"


class Routes:
    def __init__(
        self, client: discord.Client, *, token_margin: timedelta, clock: Clock,
        texts: Catalog | None = None, locales: GuildLocales | None = None,
    ) -> None:
        """``texts``: the catalog cards are written with; ``locales``: each guild's recorded
        language, for a process that has no gateway (English where neither knows)."""
        self._client, self._margin, self._clock = client, token_margin, clock
        self._texts = texts if texts is not None else load_catalog()
        self._locales = locales

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
            raise CannotPost from exc
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
            if transient(exc):
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
            if is_legacy(job):
                await message.edit(content=render.status_retired_text(failed=failed),
                                   embeds=[], allowed_mentions=discord.AllowedMentions.none())
            else:
                await message.edit(view=cards.retired_card(await self.words(job),
                                                           failed=failed),
                                   allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("job %s: old status message left as is (%s)", job.id, type(exc).__name__)
