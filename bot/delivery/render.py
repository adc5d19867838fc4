"""What members see about a job: progress, result, link notes and failure texts.

Pure functions of a :class:`~bot.jobs.model.Job` row (``discord.Embed`` is only a data class here),
so every word can be tested without Discord. Limits are Discord's (message.mdx "Embed Limits"):
description 4096, field value 1024, footer 2048, all embeds of a message together 6000. They
are measured in UTF-16 code units, which is never less than the number of characters, so a
prompt full of emoji stays inside the limit whichever way Discord counts.

Internal failure details never appear here: they go to the log with the job id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

import discord

from bot.catalog.lineup import Offer
from bot.catalog.options import show
from bot.jobs.model import FailureKind, Job, JobState
from bot.request import VideoOptions

DESCRIPTION_LIMIT = 4096
EMBED_TOTAL_LIMIT = 6000
#: A progress message only reminds the member which job it is; the result shows the prompt.
STATUS_PROMPT_LIMIT = 1000
ELLIPSIS = "…"

BAR_FILLED, BAR_EMPTY = "▰", "▱"
#: Below this percentage the rate since submission says little; the typical duration is used.
MIN_PROGRESS_FOR_RATE = 5

COLOR_WORKING = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()

# Typical render times are a guess: Apiframe documents only "videos take 1-5 minutes".
# Standard renders are taken to need about a minute plus 12 s per second of video (4 s ->
# 1.8 min, 15 s -> 4 min); high resolution a quarter longer (15 s -> 5 min).
_BASE_SECONDS = 60.0
_SECONDS_PER_VIDEO_SECOND = 12.0
_HIGH_FACTOR = 1.25
#: A model that chooses its own length (no duration option) is guessed at this many seconds.
_UNKNOWN_LENGTH = 8
#: Qualities taken as "high" across models (Sora's ``high``, resolutions, Kling's modes).
_HIGH_QUALITIES = frozenset({"high", "1080p", "1440p", "2160p", "4k", "pro"})


def units(text: str) -> int:
    """Length in UTF-16 code units (astral characters such as emoji count twice)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, ending in an ellipsis if it was cut."""
    if limit < 1:
        return ""
    if units(text) <= limit:
        return text
    budget = limit - 1  # the ellipsis is one unit
    kept: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > budget:
            break
        kept.append(char)
        used += size
    return "".join(kept).rstrip() + ELLIPSIS


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def credits(count: int) -> str:
    """``"45 credits"`` / ``"1 credit"``."""
    return _plural(count, "credit")


def progress_bar(percent: int, width: int = 20) -> str:
    """``▰▰▰▱▱…`` with ``width`` cells; the percentage is clamped to 0..100.

    Cells fill only when fully earned, so 99 % never looks finished.
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    filled = max(0, min(100, percent)) * width // 100
    return BAR_FILLED * filled + BAR_EMPTY * (width - filled)


def clock_text(span: timedelta) -> str:
    """``mm:ss`` (minutes keep counting past 59); negative spans show as 00:00."""
    seconds = max(0, int(span.total_seconds()))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def typical_duration(resolution: str, duration: int) -> timedelta:
    """A guess at how long a variant takes to render (see the constants above).

    ``resolution`` is whatever quality the model has ("" if none), ``duration`` 0 when the
    model chooses the length.
    """
    seconds = _BASE_SECONDS + _SECONDS_PER_VIDEO_SECOND * (duration or _UNKNOWN_LENGTH)
    if resolution.lower() in _HIGH_QUALITIES:
        seconds *= _HIGH_FACTOR
    return timedelta(seconds=seconds)


def estimate_remaining(
    job: Job, now: datetime, expected: timedelta | None = None
) -> timedelta | None:
    """How long the render probably still takes; None when there is no basis for a guess.

    From the progress rate since submission once Apiframe reports at least
    :data:`MIN_PROGRESS_FOR_RATE` percent; before that the variant's expected run time
    (``expected``: what its latest jobs took, else the typical duration) minus the time spent
    so far. A job past that without progress gets None.
    """
    if job.state in (JobState.FAILED, JobState.REFUNDED):
        return None
    if job.state in (JobState.COMPLETED, JobState.DELIVERED) or (job.progress or 0) >= 100:
        return timedelta(0)
    options = job.options
    typical = expected or typical_duration(options.resolution, options.duration)
    if job.submitted_at is None:
        return typical
    elapsed = max(now - job.submitted_at, timedelta(0))
    progress = job.progress or 0
    if progress >= MIN_PROGRESS_FOR_RATE and elapsed > timedelta(0):
        return elapsed * (100 - progress) / progress
    left = typical - elapsed
    return left if left > timedelta(0) else None


def remaining_text(remaining: timedelta | None) -> str:
    if remaining is None:
        return "taking longer than usual"
    if remaining <= timedelta(0):
        return "any moment now"
    if remaining < timedelta(minutes=1):
        return "less than a minute left"
    return f"about {math.ceil(remaining.total_seconds() / 60)} min left"


def model_name(model: str, offer: Offer | None) -> str:
    """What members call the model: its label while the operator offers it, else its id."""
    return offer.label if offer is not None and offer.id == model else model


def describe(options: VideoOptions | Mapping[str, object], offer: Offer | None = None) -> str:
    """``Standard · 8 s · 16:9``: the options a member chooses, only those the model has.

    With the model's :class:`Offer` its own description (which knows its sound switch);
    without (a model no longer offered), the quality, length and shape the values carry.
    """
    params = options.params if isinstance(options, VideoOptions) else dict(options)
    if offer is not None:
        return offer.describe(params)
    values = VideoOptions.of("", {k: v for k, v in params.items()
                                  if isinstance(v, str | int | float | bool)})
    parts = [values.resolution.capitalize(),
             f"{show(values.duration)} s" if values.duration else "", values.aspect_ratio]
    return " · ".join(part for part in parts if part)


def variant_text(job: Job, offer: Offer | None = None) -> str:
    """``Sora 2 Pro · Standard · 8 s · 16:9``: the model and what was asked of it.

    ``offer`` is the job's model as the operator offers it now (None: no longer offered).
    """
    name = model_name(job.model, offer)
    shown = describe(job.options, offer if offer is not None and offer.id == job.model
                     else None)
    return f"{name} · {shown}" if shown else name


def _status_title(job: Job) -> str:
    if job.state is JobState.COMPLETED:
        return "Finishing"
    if job.state is JobState.SUBMITTED and job.progress is not None:
        return "Rendering"
    return "Queued"


def _with_description(embed: discord.Embed, prompt: str, limit: int) -> discord.Embed:
    """Put the prompt in the description, within what the rest of the embed leaves."""
    room = EMBED_TOTAL_LIMIT - _embed_units(embed)
    embed.description = clip(prompt, min(limit, DESCRIPTION_LIMIT, room))
    return embed


def _embed_units(embed: discord.Embed) -> int:
    """Discord's total: title, description, field names and values, footer, author name."""
    parts = [embed.title or "", embed.description or "", embed.footer.text or "",
             embed.author.name or ""]
    for field in embed.fields:
        parts += [field.name or "", field.value or ""]
    return sum(units(p) for p in parts)


def status_embed(
    job: Job, now: datetime, offer: Offer | None = None, *, expected: timedelta | None = None
) -> discord.Embed:
    """The status message: title, progress bar, elapsed time, estimate, variant and price.

    ``offer``: the job's model as offered now, for its label (see :func:`variant_text`).
    ``expected``: how long the variant's latest jobs ran; the estimate counts down against it
    while the provider has not been asked yet (jobs are first looked at near that time)."""
    percent = job.progress or 0
    if job.state is JobState.COMPLETED:
        percent = 100
    embed = discord.Embed(title=_status_title(job), colour=COLOR_WORKING)
    embed.add_field(name="Progress", value=f"{progress_bar(percent)} {percent}%", inline=False)
    embed.add_field(name="Elapsed", value=clock_text(now - job.created_at))
    embed.add_field(name="Estimate",
                    value=remaining_text(estimate_remaining(job, now, expected)))
    embed.add_field(name="Video", value=f"{variant_text(job, offer)} · {credits(job.price)}",
                    inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return _with_description(embed, job.prompt, STATUS_PROMPT_LIMIT)


def result_embed(job: Job, offer: Offer | None = None) -> discord.Embed:
    """The finished video's card: model, prompt, options, cost, requester, ids and timings.

    ``offer``: the job's model as offered now, for its label (see :func:`variant_text`)."""
    embed = discord.Embed(title="Your video is ready", colour=COLOR_DONE)
    embed.add_field(name="Video", value=variant_text(job, offer))
    embed.add_field(name="Cost", value=credits(job.price))
    # A mention inside an embed never pings; it only shows who asked.
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    timings = _timings(job)
    if timings:
        embed.add_field(name="Time", value=timings, inline=False)
    if job.start_image_note:
        embed.add_field(name="Start image", value=clip(job.start_image_note, 1024),
                        inline=False)
    ids = f"Job {job.id}"
    if job.apiframe_job_id:
        ids = f"Apiframe job {job.apiframe_job_id} · {ids}"
    embed.set_footer(text=clip(ids, 2048))
    if job.finished_at is not None:
        embed.timestamp = job.finished_at
    return _with_description(embed, job.prompt, DESCRIPTION_LIMIT)


def _timings(job: Job) -> str:
    parts = []
    if job.submitted_at is not None and job.finished_at is not None:
        parts.append(f"rendered in {clock_text(job.finished_at - job.submitted_at)}")
    if job.finished_at is not None:
        parts.append(f"{clock_text(job.finished_at - job.created_at)} since the request")
    return ", ".join(parts)


# -- links ---------------------------------------------------------------------------------

#: Reasons :func:`link_note` knows.
OVER_LIMIT = "over_limit"
UPLOAD_REFUSED = "upload_refused"
UNAVAILABLE = "unavailable"


def megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def link_note_too_large(limit_bytes: int) -> str:
    return (f"The video is larger than this server's upload limit ({megabytes(limit_bytes)} MB),"
            " so here is the link instead.")


def link_note_upload_refused() -> str:
    return "Discord refused the upload (too large), so here is the link instead."


def link_note_unavailable() -> str:
    return "The video file could not be fetched for upload, so here is the link instead."


def link_note(reason: str, *, limit_bytes: int | None = None) -> str:
    """The sentence posted above a result link: ``OVER_LIMIT`` needs ``limit_bytes``."""
    if reason == OVER_LIMIT:
        if limit_bytes is None:
            raise ValueError("OVER_LIMIT needs limit_bytes")
        return link_note_too_large(limit_bytes)
    if reason == UPLOAD_REFUSED:
        return link_note_upload_refused()
    if reason == UNAVAILABLE:
        return link_note_unavailable()
    raise ValueError(f"unknown link reason {reason!r}")


# -- failures and permissions --------------------------------------------------------------


def timeout_minutes(job: Job) -> int:
    return max(1, round((job.deadline_at - job.created_at).total_seconds() / 60))


def _failure_reason(job: Job, offer: Offer | None) -> str:
    kind = job.failure_kind
    if kind is FailureKind.CONTENT_POLICY:
        return ("Apiframe's content policy rejected this prompt, so no video was made."
                " Try rewording it.")
    if kind is FailureKind.PROVIDER_ERROR:
        return "The video service had a problem and could not make this video."
    if kind is FailureKind.RESULT_UNAVAILABLE:
        return "The video service had a problem: the finished video could not be retrieved."
    if kind is FailureKind.MODEL_RETIRED:
        return (f"The video model {model_name(job.model, offer)} has been retired by the video"
                " service, so no video was made.")
    if kind is FailureKind.RESULT_REFUSED:
        return ("The video service's answer could not be retrieved safely (it was not a video"
                " from the service's own servers), so nothing was posted.")
    if kind is FailureKind.PROVIDER_OUT_OF_CREDITS:
        return ("The bot's provider account is out of credits — please tell the bot's operator."
                " No video was made.")
    if kind is FailureKind.PROVIDER_UNAVAILABLE:
        return ("The video service could not be reached, so no video was made."
                " Please try again later.")
    if kind is FailureKind.REJECTED:
        return ("The video service rejected the request (for example the start image or an"
                " option), so no video was made.")
    if kind is FailureKind.CANCELLED:
        return "The video job was cancelled at the video service, so no video was made."
    if kind is FailureKind.UNDELIVERABLE:
        return "The video was made, but the bot could not post it here or send it to you."
    if kind is FailureKind.TIMEOUT:
        return (f"The video took longer than {timeout_minutes(job)} min, so the bot gave up"
                " on it.")
    return "Something went wrong and no video was made."


def failure_text(job: Job, offer: Offer | None = None) -> str:
    """Plain words for a failed job, always saying the credits came back (``offer``: the job's
    model as offered now, for its label).

    ``job.failure_detail`` is internal (provider messages, stack hints) and never shown.
    """
    refund = (f"The {credits(job.price)} {'was' if job.price == 1 else 'were'} refunded to"
              " this server.")
    return f"{_failure_reason(job, offer)} {refund} (Job {job.id})"


def permission_hint(channel_id: int) -> str:
    """How a server admin lets the bot post results in ``channel_id``."""
    return (f"I can't post in <#{channel_id}>. A server admin can fix this by giving me View"
            " Channel, Send Messages, Attach Files and Embed Links there (channel settings →"
            " Permissions).")


def status_retired_text(*, failed: bool) -> str:
    """What the old status message says once the outcome was posted as a new message."""
    if failed:
        return "This video could not be made — see the message below."
    return "Done — the video was posted below."


#: Shown in place of a "thinking…" placeholder whose request a restart lost before recording.
ORPHAN_TEXT = (
    "The bot restarted before this request was recorded. Nothing was charged; please try "
    "again."
)
