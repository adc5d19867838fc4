"""What the cogs may do with held requests besides starting them: look one up, cancel or deny
it, expire the stale ones and tell members the outcome.

Starting one (Confirm, Approve) is the launch use case's: :class:`bot.launch.usecase.Launcher`.
Each decision is the store's compare-and-set, so a double click or two moderators at once
decide a request at most once; a None answer means it was decided or had expired already.
"""

from __future__ import annotations

from bot.policy.approvals import PendingStore
from bot.policy.held import PendingRequest, PendingStatus


class HoldService:
    """Built once in ``open_services`` over the ``pending_requests`` store."""

    def __init__(self, pending: PendingStore) -> None:
        self._pending = pending

    async def get(self, request_id: str) -> PendingRequest | None:
        return await self._pending.get(request_id)

    async def cancel(self, request_id: str, *, actor: str) -> PendingRequest | None:
        """The member's Cancel of their preview."""
        return await self._pending.decide(request_id, PendingStatus.CANCELLED, actor=actor)

    async def deny(self, request_id: str, *, actor: str) -> PendingRequest | None:
        """A moderator's Deny; the member is told later (see :meth:`untold`)."""
        return await self._pending.decide(request_id, PendingStatus.DENIED, actor=actor)

    async def expire_due(self) -> list[PendingRequest]:
        return await self._pending.expire_due()

    async def abandon_stale(self) -> list[PendingRequest]:
        return await self._pending.abandon_stale()

    async def untold(self) -> list[PendingRequest]:
        return await self._pending.untold()

    async def mark_told(self, request_id: str) -> None:
        await self._pending.mark_told(request_id)
