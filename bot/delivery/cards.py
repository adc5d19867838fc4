"""The cards members see about a job, as Discord Components V2 messages (``ui.LayoutView``).

One container per card: the progress card (title, bar, elapsed time and estimate, model,
options and price, the prompt), the result card (the video inline in a media gallery over the
uploaded ``attachment://`` file, or the link when it could not be uploaded, then prompt, model,
options, cost, requester and the result buttons) and the failure card (what failed, that the
credits came back). Every word comes from the ``cards`` domain of the catalog, in the guild's
language: these are channel posts, seen by everyone there.

Discord's rules for such a message (components.mdx): the ``IS_COMPONENTS_V2`` flag (discord.py
sets it when the view holds V2 items), no ``content`` and no ``embeds`` beside it, at most 40
components in all, text displays holding at most 4000 characters together, a media gallery
of 1 to 10 items. A text display's mentions are parsed like content, so the caller's
``allowed_mentions`` decides who is pinged (the requester at most; the prompt never pings).

Each card's container carries a fixed ``id`` (:data:`PROGRESS_ID` ...) so a later attempt can
tell from the message alone which card it shows, whatever language it was written in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import discord

from bot.catalog.lineup import Offer
from bot.delivery import render
from bot.delivery.buttons import ACTIONS, custom_id
from bot.i18n.catalog import Catalog
from bot.jobs.model import FailureKind, Job, JobState

#: Discord's limit on the characters of all text displays of one message together.
TEXT_TOTAL_LIMIT = 4000
#: The progress card only reminds the member which job it is; the result shows the prompt.
STATUS_PROMPT_LIMIT = render.STATUS_PROMPT_LIMIT
#: Alt text of a media gallery item: 1 to 1024 characters.
DESCRIPTION_LIMIT = 1024
#: The ``id`` of each card's container (unique within its message, as Discord requires).
PROGRESS_ID, RESULT_ID, FAILURE_ID, RETIRED_ID = 1000, 2000, 3000, 4000
#: At most this many model names after a retired model (the card stays short).
MAX_NAMED = 8

COLOR_FAILED = discord.Colour.red()
_FAILURE_KEYS = {kind: f"card.failure.{kind.value}" for kind in FailureKind}


@dataclass(frozen=True, slots=True)
class Words:
    """The catalog in one language: what a card is written with."""

    texts: Catalog
    locale: object

    def __call__(self, key: str, /, **params: object) -> str:
        return self.texts.text(self.locale, key, **params)

    def credits(self, count: int) -> str:
        return self.texts.plural(self.locale, "common.credits", count)


@dataclass(frozen=True, slots=True)
class LinkNote:
    """Why the result is a link rather than the file (``render.OVER_LIMIT`` needs the limit)."""

    reason: str
    limit_bytes: int | None = None

    def text(self, words: Words) -> str:
        if self.reason == render.OVER_LIMIT:
            if self.limit_bytes is None:
                raise ValueError("OVER_LIMIT needs limit_bytes")
            return words("card.link.too_large",
                         megabytes=render.megabytes(self.limit_bytes))
        if self.reason == render.UPLOAD_REFUSED:
            return words("card.link.upload_refused")
        if self.reason == render.UNAVAILABLE:
            return words("card.link.unavailable")
        raise ValueError(f"unknown link reason {self.reason!r}")

    def english(self) -> str:
        """The sentence of the cards posted before V2 (they stay in English)."""
        return render.link_note(self.reason, limit_bytes=self.limit_bytes)


class Card(discord.ui.LayoutView):
    """One container of V2 items. Never stored in discord.py's view store: the results cog's
    DynamicItems answer the buttons (also after a restart, when this object is long gone)."""

    def __init__(self, *items: discord.ui.Item[Any], colour: discord.Colour,
                 card_id: int) -> None:
        super().__init__(timeout=None)
        self.add_item(discord.ui.Container(*items, accent_colour=colour, id=card_id))

    def is_dispatchable(self) -> bool:
        # False keeps discord.py from routing clicks to these callback-less buttons (and lets
        # an interaction webhook without client state send them).
        return False


def _text(content: str) -> discord.ui.TextDisplay[Any]:
    return discord.ui.TextDisplay(content)


def _room(limit: int, *taken: str) -> int:
    """What the prompt may use of ``limit`` and of the message's 4000 after ``taken``."""
    used = sum(render.units(t) for t in taken)
    return max(1, min(limit, TEXT_TOTAL_LIMIT - used))


def _small(text: str) -> str:
    """Discord's subtext markdown (``-#``), for ids and timings."""
    return f"-# {text}"


def _remaining(words: Words, remaining: timedelta | None) -> str:
    if remaining is None:
        return words("card.progress.late")
    if remaining <= timedelta(0):
        return words("card.progress.any_moment")
    if remaining < timedelta(minutes=1):
        return words("card.progress.under_minute")
    return words("card.progress.minutes", minutes=math.ceil(remaining.total_seconds() / 60))


def _status_key(job: Job) -> str:
    if job.state is JobState.COMPLETED:
        return "card.progress.finishing"
    if job.state is JobState.SUBMITTED and job.progress is not None:
        return "card.progress.rendering"
    return "card.progress.queued"


def progress_card(
    job: Job, now: datetime, words: Words, offer: Offer | None = None, *,
    expected: timedelta | None = None,
) -> Card:
    """The status card: title, progress bar, elapsed time, estimate, variant, price, prompt.

    ``offer``/``expected`` as for :func:`bot.delivery.render.status_embed`."""
    percent = 100 if job.state is JobState.COMPLETED else (job.progress or 0)
    title = f"### {words(_status_key(job))}"
    bar = f"{render.progress_bar(percent)} {percent}%"
    timing = (f"{words('card.progress.elapsed', clock=render.clock_text(now - job.created_at))}"
              f" · {_remaining(words, render.estimate_remaining(job, now, expected))}")
    variant = f"{render.variant_text(job, offer)} · {words.credits(job.price)}"
    footer = _small(words("card.job", job_id=job.id))
    prompt = render.clip(job.prompt, _room(STATUS_PROMPT_LIMIT, title, bar, timing, variant,
                                           footer))
    return Card(_text(title), _text(bar), _text(timing), _text(variant),
                discord.ui.Separator(), _text(prompt), _text(footer),
                colour=render.COLOR_WORKING, card_id=PROGRESS_ID)


def result_buttons(job_id: str, words: Words, *, extend: bool = True) -> discord.ui.ActionRow[Any]:
    """The result buttons (custom ids as in :mod:`bot.delivery.buttons`), labelled in the
    guild's language; ``extend`` False leaves Extend out (the model takes no start image)."""
    row: discord.ui.ActionRow[Any] = discord.ui.ActionRow()
    for action, _label, style in ACTIONS:
        if action == "extend" and not extend:
            continue
        row.add_item(discord.ui.Button(label=words(f"card.button.{action}"), style=style,
                                       custom_id=custom_id(action, job_id)))
    return row


def _ids(job: Job, words: Words) -> str:
    if job.apiframe_job_id:
        return words("card.job_with_provider", provider_id=job.apiframe_job_id, job_id=job.id)
    return words("card.job", job_id=job.id)


def _timings(job: Job, words: Words) -> str:
    parts = []
    if job.submitted_at is not None and job.finished_at is not None:
        parts.append(words("card.result.rendered_in",
                           clock=render.clock_text(job.finished_at - job.submitted_at)))
    if job.finished_at is not None:
        parts.append(words("card.result.since_request",
                           clock=render.clock_text(job.finished_at - job.created_at)))
    return ", ".join(parts)


def result_card(
    job: Job, words: Words, offer: Offer | None = None, *, video: str | None,
    link: str | None = None, extend: bool = True,
) -> Card:
    """The finished video's card: ``video`` is the uploaded file's name (shown inline), else
    ``link`` is the sentence and URL shown instead (no attachment)."""
    if (video is None) == (link is None):
        raise ValueError("a result card shows either the uploaded video or its link")
    title = f"### {words('card.result.title')}"
    facts = (f"**{render.variant_text(job, offer)}**\n"
             f"{words('card.result.cost', credits=words.credits(job.price))} · "
             f"{words('card.result.requested_by', mention=f'<@{job.user_id}>')}")
    small = [_timings(job, words), _ids(job, words)]
    if job.start_image_note:
        small.insert(0, words("card.result.start_image",
                              note=render.clip(job.start_image_note, 1024)))
    footer = "\n".join(_small(s) for s in small if s)
    shown = link or ""
    prompt = render.clip(job.prompt, _room(TEXT_TOTAL_LIMIT, title, facts, footer, shown))
    media: discord.ui.Item[Any]
    if video is not None:
        media = discord.ui.MediaGallery(discord.MediaGalleryItem(
            f"attachment://{video}", description=render.clip(job.prompt, DESCRIPTION_LIMIT)))
    else:
        media = _text(shown)
    return Card(_text(title), media, _text(prompt), _text(facts), _text(footer),
                discord.ui.Separator(), result_buttons(job.id, words, extend=extend),
                colour=render.COLOR_DONE, card_id=RESULT_ID)


def failure_reason(job: Job, words: Words, offer: Offer | None = None) -> str:
    kind = job.failure_kind
    if kind is FailureKind.MODEL_RETIRED:
        return words(_FAILURE_KEYS[kind], model=render.model_name(job.model, offer))
    if kind is FailureKind.TIMEOUT:
        return words(_FAILURE_KEYS[kind], minutes=render.timeout_minutes(job))
    return words(_FAILURE_KEYS[kind] if kind is not None else "card.failure.unknown")


def instead(words: Words, labels: Sequence[str]) -> str:
    """Which models a member whose model retired can use now (their guild's)."""
    if not labels:
        return words("card.failure.instead_none")
    if len(labels) > MAX_NAMED:  # the card stays short
        more = words.texts.plural(words.locale, "card.failure.more", len(labels) - MAX_NAMED + 1)
        labels = [*labels[:MAX_NAMED - 1], more]
    if len(labels) == 1:
        return words("card.failure.instead_one", model=labels[0])
    return words("card.failure.instead_many", models=", ".join(labels[:-1]), last=labels[-1])


def failure_card(
    job: Job, words: Words, offer: Offer | None = None, *,
    usable: Sequence[str] | None = None, note: str | None = None,
) -> Card:
    """A failed job's card, always saying the credits came back. ``usable``: the models the
    guild may use instead of a retired one; ``note``: one more sentence for the requester (a
    strike). ``job.failure_detail`` is internal: never shown."""
    reason = failure_reason(job, words, offer)
    if usable is not None:
        reason = f"{reason}\n{instead(words, usable)}"
    if note:
        reason = f"{reason}\n{note}"
    return Card(
        _text(f"### {words('card.failure.title')}"), _text(reason),
        _text(refunded_text(job, words)),
        _text(words("card.result.requested_by", mention=f"<@{job.user_id}>")),
        _text(_small(words("card.job", job_id=job.id))),
        colour=COLOR_FAILED, card_id=FAILURE_ID,
    )


def refunded_text(job: Job, words: Words) -> str:
    return words.texts.plural(words.locale, "card.failure.refunded", job.price)


def failure_plain(
    job: Job, words: Words, offer: Offer | None = None, *,
    usable: Sequence[str] | None = None, note: str | None = None,
) -> str:
    """The failure card's words as one text (for a DM, where no card is sent)."""
    reason = failure_reason(job, words, offer)
    if usable is not None:
        reason = f"{reason} {instead(words, usable)}"
    if note:
        reason = f"{reason} {note}"
    return f"{reason} {refunded_text(job, words)} ({words('card.job', job_id=job.id)})"


def permission_hint(words: Words, channel_id: int) -> str:
    """How a server admin lets the bot post in ``channel_id`` (said in a direct message)."""
    return words("card.dm.permission_hint", channel=f"<#{channel_id}>")


def retired_card(words: Words, *, failed: bool) -> Card:
    """What an old V2 progress card says once the outcome went out as a new message."""
    key = "card.status.failed" if failed else "card.status.done"
    colour = COLOR_FAILED if failed else render.COLOR_DONE
    return Card(_text(words(key)), colour=colour, card_id=RETIRED_ID)


# -- reading cards back --------------------------------------------------------------------


def _walk(components: Sequence[Any]) -> list[Any]:
    found: list[Any] = []
    for component in components:
        found.append(component)
        found += _walk(getattr(component, "children", None) or [])
        accessory = getattr(component, "accessory", None)
        if accessory is not None:
            found.append(accessory)
    return found


def card_id(message: discord.Message) -> int | None:
    """The fixed id of the card ``message`` shows (:data:`RESULT_ID` ...), None if none."""
    for component in message.components:
        if isinstance(component, discord.components.Container):
            return component.id
    return None


def card_texts(message: discord.Message) -> list[str]:
    """Every text display's content of a V2 message (empty for other messages)."""
    return [c.content for c in _walk(message.components)
            if isinstance(c, discord.components.TextDisplay)]
