"""A held request as a value: its kinds, states and buttons' custom_id, and which gate applies.

No storage here (:mod:`bot.policy.approvals` owns the ``pending_requests`` table), so the cogs
that show and click held requests import this without importing the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.db.database import Row
from bot.errors import UserError
from bot.policy.rules import GuildPolicy
from bot.request import VideoOptions

#: ``sora:p:<action>:<request id>``: the custom_id of the preview and approval buttons.
CUSTOM_ID_TEMPLATE = r"sora:p:(?P<action>confirm|cancel|approve|deny):(?P<id>[0-9a-f]{32})"


#: ``decided_by`` of a started request ended because its job was never written.
ABANDONED = "abandoned"

GONE = "This request was already decided or has expired; nothing was charged. Run /sora again."


class RequestGone(UserError):
    """The held request is no longer startable (decided, expired or abandoned)."""

    def __init__(self) -> None:
        super().__init__(GONE)


def custom_id(action: str, request_id: str) -> str:
    return f"sora:p:{action}:{request_id}"


class PendingKind(StrEnum):
    PREVIEW = "preview"
    APPROVAL = "approval"


class PendingStatus(StrEnum):
    PENDING = "pending"
    STARTED = "started"
    CANCELLED = "cancelled"
    DENIED = "denied"
    EXPIRED = "expired"


def gate_for(policy: GuildPolicy, price: int) -> PendingKind | None:
    """Which gate, if any, a request of this price must pass (approval wins over preview)."""
    if policy.approval_above is not None and price > policy.approval_above:
        return PendingKind.APPROVAL
    if policy.preview_above is not None and price > policy.preview_above:
        return PendingKind.PREVIEW
    return None


@dataclass(frozen=True, slots=True)
class PendingRequest:
    id: str
    kind: PendingKind
    status: PendingStatus
    guild_id: int
    channel_id: int
    user_id: int
    role_ids: tuple[int, ...]
    #: None for requests held before models were named: the /sora model.
    model: str | None
    options: VideoOptions
    start_image_url: str | None
    start_image_note: str | None
    price: int
    created_at: datetime
    expires_at: datetime
    audit_message_id: int | None
    decided_by: str | None

    @property
    def abandoned(self) -> bool:
        """Started, but its job was never written (see
        :meth:`bot.policy.approvals.PendingStore.abandon_stale`)."""
        return self.decided_by == ABANDONED

    @classmethod
    def from_row(cls, row: Row) -> PendingRequest:
        roles = str(row["role_ids"])
        return cls(
            id=row["id"], kind=PendingKind(row["kind"]), status=PendingStatus(row["status"]),
            guild_id=row["guild_id"], channel_id=row["channel_id"], user_id=row["user_id"],
            role_ids=tuple(int(r) for r in roles.split(",") if r),
            model=row["model"],
            options=(VideoOptions.from_json(row["prompt"], row["params"]) if row["params"]
                     else VideoOptions.sora(row["prompt"], row["duration"],
                                            row["aspect_ratio"], row["resolution"])),
            start_image_url=row["start_image_url"],
            start_image_note=row["start_image_note"], price=row["price"],
            created_at=datetime.fromisoformat(row["created_at"]),
            expires_at=datetime.fromisoformat(row["expires_at"]),
            audit_message_id=row["audit_message_id"], decided_by=row["decided_by"],
        )
