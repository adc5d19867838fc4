"""What the cogs may read and change of a guild's spending rules (/credits, /budget limits,
the result buttons), without holding the policy store.

Enforcing the rules is not here: that is the store's check inside the reserving transaction,
which only the launch use case calls.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.policy.rules import GuildPolicy, MemberSpending, ModelNames
from bot.policy.store import PolicyStore


class GuildRules:
    """Built once in ``open_services`` over the ``guild_policies`` store."""

    def __init__(self, policy: PolicyStore) -> None:
        self._policy = policy

    async def get(self, guild_id: int) -> GuildPolicy:
        """The guild's rules; the defaults when its moderators never set any."""
        return await self._policy.get(guild_id)

    async def spending(self, guild_id: int, user_id: int) -> MemberSpending:
        """What the member's jobs cost today, this ISO week and this month (UTC)."""
        return await self._policy.spending(guild_id, user_id)

    async def update(self, guild_id: int, *, actor: str, **changes: object) -> GuildPolicy:
        """Change caps, cooldown, limits and thresholds (see :meth:`PolicyStore.update`)."""
        return await self._policy.update(guild_id, actor=actor, **changes)

    async def set_roles(
        self, guild_id: int, role_ids: Iterable[int], *, actor: str
    ) -> GuildPolicy:
        return await self._policy.set_roles(guild_id, role_ids, actor=actor)

    async def set_channels(
        self, guild_id: int, channel_ids: Iterable[int], *, actor: str
    ) -> GuildPolicy:
        return await self._policy.set_channels(guild_id, channel_ids, actor=actor)

    @property
    def names(self) -> ModelNames:
        """The enabled models' labels in the bot's order, and which are Sora's."""
        return self._policy.names

    async def set_models(
        self, guild_id: int, models: Iterable[str] | None, *, actor: str
    ) -> GuildPolicy:
        """Which enabled models the guild may use (None: all of them)."""
        return await self._policy.set_models(guild_id, models, actor=actor)

    async def set_default_model(
        self, guild_id: int, model: str | None, *, actor: str
    ) -> GuildPolicy:
        """The guild's default model for /video (None: the bot's default)."""
        return await self._policy.set_default_model(guild_id, model, actor=actor)

    async def set_frozen(self, guild_id: int, frozen: bool, *, actor: str) -> GuildPolicy:
        return await self._policy.set_frozen(guild_id, frozen, actor=actor)

    async def set_buttons_open(
        self, guild_id: int, buttons_open: bool, *, actor: str
    ) -> GuildPolicy:
        return await self._policy.set_buttons_open(guild_id, buttons_open, actor=actor)
