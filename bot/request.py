"""One request for a video, from whichever entry point, as every layer below the cogs sees it.

:class:`Origin` is where it came from (the guild, channel and member, and the interaction whose
token later delivers the result); :class:`VideoRequest` adds which model, what to make and what
it costs. A job row, a held request and the guild policy's checks are all made from this one
value.

:class:`VideoOptions` is every model's options alike: the prompt and the option values sent in
the model's parameter block, as :meth:`bot.catalog.lineup.Offer.resolve` checked them. The
policy, the ledger and the job journal read only what most models have (duration, aspect
ratio, quality); the request body is built from :attr:`VideoOptions.params`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """A prompt and the option values of one model's block (without the start image)."""

    prompt: str
    #: (option, value) pairs sorted by option: hashable, and equal for equal options.
    values: tuple[tuple[str, Scalar], ...]

    @classmethod
    def of(cls, prompt: str, params: Mapping[str, Scalar]) -> VideoOptions:
        return cls(prompt, tuple(sorted(params.items())))

    @classmethod
    def sora(cls, prompt: str, duration: int, aspect_ratio: str,
             resolution: str) -> VideoOptions:
        """A Sora model's options (the /sora command's four)."""
        return cls.of(prompt, {"duration": duration, "aspect_ratio": aspect_ratio,
                               "resolution": resolution})

    @classmethod
    def from_json(cls, prompt: str, text: str) -> VideoOptions:
        """As :meth:`to_json` stored them (a job or held request row)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("stored video options are not an object")
        return cls.of(prompt, data)

    def to_json(self) -> str:
        return json.dumps(dict(self.values), sort_keys=True, separators=(",", ":"))

    @property
    def params(self) -> dict[str, Scalar]:
        return dict(self.values)

    def _get(self, name: str) -> Scalar | None:
        return next((value for key, value in self.values if key == name), None)

    @property
    def duration(self) -> int:
        """Seconds, or 0 when the model chooses (it has no duration option)."""
        value = self._get("duration")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def aspect_ratio(self) -> str:
        """``16:9`` …, or "" when the model follows its image (it has no aspect ratio)."""
        value = self._get("aspect_ratio")
        return value if isinstance(value, str) else ""

    @property
    def resolution(self) -> str:
        """The quality chosen: the model's ``resolution``, else its ``mode``; else ""."""
        for name in ("resolution", "mode"):
            value = self._get(name)
            if isinstance(value, str):
                return value
        return ""


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked, where, and through which interaction (its token reaches the member later)."""

    guild_id: int
    channel_id: int
    user_id: int
    #: The member's roles, for the guild policy's role rule (not stored with the job).
    role_ids: tuple[int, ...]
    application_id: int
    interaction_id: int
    interaction_token: str
    token_expires_at: datetime
    attachment_size_limit: int
    #: The member's Discord locale (``de``, ``pt-BR``), for words written to them later.
    locale: str | None = None

    def __repr__(self) -> str:  # the token is a credential
        return f"<Origin guild={self.guild_id} user={self.user_id} {self.interaction_id}>"


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """One member's request: its origin, the model and its options, and the price.

    Its properties make it a :class:`bot.policy.rules.PolicySubject`.
    """

    origin: Origin
    model: str
    options: VideoOptions
    price: int
    #: The start image, already on the provider (Discord's URLs expire), and what fitting did
    #: to it (see bot/launch/imagefit.py; None if nothing).
    start_image_url: str | None = None
    start_image_note: str | None = None

    def with_image(self, url: str | None, note: str | None) -> VideoRequest:
        return replace(self, start_image_url=url, start_image_note=note)

    @property
    def guild_id(self) -> int:
        return self.origin.guild_id

    @property
    def channel_id(self) -> int:
        return self.origin.channel_id

    @property
    def user_id(self) -> int:
        return self.origin.user_id

    @property
    def role_ids(self) -> tuple[int, ...]:
        return self.origin.role_ids

    @property
    def resolution(self) -> str:
        return self.options.resolution

    @property
    def duration(self) -> int:
        return self.options.duration

    @property
    def prompt(self) -> str:
        """What the guild's word list is checked against (bot/policy/words.py)."""
        return self.options.prompt

    @property
    def variant(self) -> str:
        """``high-8s``: the quality and length, for journal reasons and audit lines."""
        return "-".join(part for part in (
            self.options.resolution, f"{self.duration}s" if self.duration else "") if part)
