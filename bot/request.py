"""One request for a video, from whichever entry point, as every layer below the cogs sees it.

:class:`Origin` is where it came from (the guild, channel and member, and the interaction whose
token later delivers the result); :class:`VideoRequest` adds what to make and what it costs. A
job row, a held request and the guild policy's checks are all made from this one value.

The options are a per-model value behind the :class:`ModelOptions` Protocol: the policy, the
ledger and the job journal read only what every model has. :class:`SoraOptions` is the first
kind; another model brings its own class with the same properties.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol


class ModelOptions(Protocol):
    """What every video model's options say: the rules and the job row need no more."""

    @property
    def prompt(self) -> str: ...
    @property
    def duration(self) -> int: ...
    @property
    def aspect_ratio(self) -> str: ...
    @property
    def resolution(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SoraOptions:
    """Sora 2 Pro's options, as :func:`bot.launch.validation.parse_options` checked them."""

    prompt: str
    duration: int
    aspect_ratio: str
    resolution: str


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

    def __repr__(self) -> str:  # the token is a credential
        return f"<Origin guild={self.guild_id} user={self.user_id} {self.interaction_id}>"


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """One member's request: its origin, the model and its options, and the price.

    Its properties make it a :class:`bot.policy.rules.PolicySubject`.
    """

    origin: Origin
    model: str
    options: ModelOptions
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
