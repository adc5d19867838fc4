"""What the launch use case needs from Discord, as a Protocol, and the values it hands over.

:class:`bot.launch.usecase.Launcher` decides the order of a launch; whoever calls it (a slash
command, a context menu, a button, a test) supplies a :class:`DiscordPort` that performs the
few visible steps. The Discord implementation is ``cogs.adapters.InteractionPort``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.errors import UserError
from bot.jobs.model import Job
from bot.policy.held import PendingRequest
from bot.policy.rules import GuildPolicy, MemberSpending

NO_AUDIT_CHANNEL = (
    "This video needs a moderator's approval, but no audit channel is configured — ask a "
    "moderator to set one with `/budget audit`. Nothing was charged."
)
AUDIT_UNREACHABLE = (
    "This video needs a moderator's approval, but I can't post in the audit channel — ask a "
    "moderator to check my permissions there. Nothing was charged."
)


class AttachmentUnreadable(UserError):
    """Discord no longer serves the image."""


class ImageUploadFailed(UserError):
    """The start image could not be handed to the video service; nothing was charged."""


@dataclass(frozen=True, slots=True)
class ImageInput:
    """A start image not yet read: what its source says of it, and how to fetch it.

    ``read`` raises a :class:`bot.errors.UserError` (such as :class:`AttachmentUnreadable`)
    when the source no longer serves it.
    """

    read: Callable[[], Awaitable[bytes]]
    filename: str
    content_type: str | None
    size: int


@dataclass(frozen=True, slots=True)
class PreviewFacts:
    """What the member's preview shows beside the request: the money before and after."""

    balance: int
    spending: MemberSpending
    policy: GuildPolicy


class DiscordPort(Protocol):
    """The visible steps of one launch, in the order the use case calls them."""

    async def acknowledge(self) -> int | None:
        """The public "thinking…" reply; the id of its message, which shows the job's status
        (None if Discord did not say)."""

    async def acknowledge_privately(self) -> None:
        """A private "thinking…": the request is being held, only the member sees it."""

    async def show_status(self, job: Job) -> None:
        """Turn the public acknowledgement into the job's status card."""

    async def show_preview(self, held: PendingRequest, facts: PreviewFacts) -> None:
        """Show the member their held request with its Confirm and Cancel buttons."""

    async def post_approval(self, channel_id: int, held: PendingRequest) -> int | None:
        """Post the held request with Approve and Deny to the audit channel; the message id,
        or None if the bot could not post there."""

    async def answer(self, text: str) -> None:
        """A private notice to whoever clicked or typed."""
