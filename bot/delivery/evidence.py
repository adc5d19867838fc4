"""Whether an earlier attempt already put a job's result in front of the member.

A process can stop (or fail to record) after Discord accepted the video and before the job
says so. Its retry must not download again blindly: by then the provider's link may have
expired, and a 404 would refund — and post a failure notice under — a video the member has.
So before downloading again, and before giving up on a result, the scheduler asks here.

The two routes a result takes leave different traces:

* the interaction token EDITS the status message: the status message itself shows the video
  (its ``sora-<job>.mp4`` attachment) or the link;
* the bot token posts a NEW channel message with an enforced nonce. Discord remembers a nonce
  only for "a few minutes" and never returns it on later reads, so after a longer stop the
  message is found by reading the channel's history from ``result_post_at`` (stamped before
  every post): a message by the bot that shows this job's video or link.

Reading history needs Read Message History; without it Discord answers an empty list, which
proves nothing. The answer is therefore only *certain* when the status message could be read
through the channel (so history is readable) and the scan covered everything since the stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import discord

from bot.clock import Clock
from bot.delivery.cards import card_texts
from bot.jobs.model import Job

#: The bot's clock and Discord's may disagree; the history scan starts this much earlier.
CLOCK_SKEW = timedelta(minutes=2)
#: Messages read after the stamp before the scan gives up (and the answer is uncertain).
HISTORY_SCAN = 300

_LOOKUP_ERRORS = (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What Discord shows of earlier posts of a job's result.

    ``message_id`` is the message showing it (``mode`` says how), or None. ``certain`` is
    False when the bot could not look everywhere the result may have landed.
    """

    message_id: int | None
    mode: str | None
    certain: bool


def result_filename(job: Job) -> str:
    return f"sora-{job.id}.mp4"


def shows_result(job: Job, message: discord.Message) -> bool:
    """Whether ``message`` carries this job's video or its link (in its text, or in a V2
    card's text displays)."""
    shown = "\n".join([message.content, *card_texts(message)])
    linked = job.result_url is not None and job.result_url in shown
    return linked or any(a.filename == result_filename(job) for a in message.attachments)


def _mode(job: Job, message: discord.Message) -> str:
    name = result_filename(job)
    return "attachment" if any(a.filename == name for a in message.attachments) else "link"


class ResultFinder:
    def __init__(self, client: discord.Client, *, token_margin: timedelta, clock: Clock) -> None:
        self._client, self._margin, self._clock = client, token_margin, clock

    async def find(self, job: Job) -> Evidence:
        status, answered, readable = await self._status(job)
        if status is not None and shows_result(job, status):
            return Evidence(status.id, _mode(job, status), certain=True)
        status_known = answered or job.status_message_id is None
        if job.result_post_at is None:
            # Never posted through the channel: only the status message could show it.
            return Evidence(None, None, certain=status_known)
        found, complete = await self._scan_channel(job)
        if found is not None:
            return Evidence(found.id, _mode(job, found), certain=True)
        return Evidence(None, None, certain=status_known and readable and complete)

    async def _status(self, job: Job) -> tuple[discord.Message | None, bool, bool]:
        """The status message (None if gone or unreadable), whether Discord answered for it,
        and whether the bot may read the channel's history.

        Read with the bot token first: its answer (the message, or Unknown Message) also
        proves the bot may read this channel's history. If that is refused, the interaction
        token can still read its own original response while it is valid.
        """
        if job.status_message_id is None:
            return None, False, False
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            return await channel.fetch_message(job.status_message_id), True, True
        except discord.NotFound:
            return None, True, True
        except _LOOKUP_ERRORS:
            pass
        if job.interaction_token is None or not job.token_usable(self._clock(), self._margin):
            return None, False, False
        webhook = discord.Webhook.partial(job.application_id, job.interaction_token,
                                          client=self._client)
        try:
            return await webhook.fetch_message(job.status_message_id), True, False
        except discord.NotFound:
            return None, True, False
        except _LOOKUP_ERRORS:
            return None, False, False

    async def _scan_channel(self, job: Job) -> tuple[discord.Message | None, bool]:
        """The bot's message showing the result since ``result_post_at``, and whether the
        scan covered every message since then."""
        assert job.result_post_at is not None
        me = self._client.user
        if me is None:
            return None, False
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        seen = 0
        try:
            async for message in channel.history(
                limit=HISTORY_SCAN, after=job.result_post_at - CLOCK_SKEW, oldest_first=True
            ):
                seen += 1
                if message.author.id == me.id and shows_result(job, message):
                    return message, True
        except _LOOKUP_ERRORS:
            return None, False
        return None, seen < HISTORY_SCAN
