"""What ``/budget strikes`` and ``/budget words`` may read and change, without holding the
store (as :class:`bot.policy.guild_rules.GuildRules` is for the spending rules).

Enforcing is not here: the strike store's :meth:`~bot.policy.strikes.StrikeStore.judge` runs
inside the reserving transaction, and the worker counts strikes as jobs fail.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.policy.strikes import MemberStrikes, StrikeRules, StrikeStore, stamp
from bot.policy.words import MAX_WORDS, WordChange, split_entries

# What /budget strikes and /budget words show, without importing the store.
__all__ = ["MAX_WORDS", "MemberStrikes", "StrikeRules", "StrikeService", "WordChange", "stamp"]


class StrikeService:
    """Built once in ``open_services`` over the strike store."""

    def __init__(self, store: StrikeStore) -> None:
        self._store = store

    async def members(self, guild_id: int) -> list[MemberStrikes]:
        """Members with strikes that count, or a running cooldown."""
        return await self._store.members(guild_id)

    async def clear(self, guild_id: int, user_id: int, *, actor: str) -> bool:
        """Forgive a member's strikes and end their cooldown (False: nothing to clear)."""
        return await self._store.clear(guild_id, user_id, actor=actor)

    async def rules(self, guild_id: int) -> StrikeRules:
        return await self._store.rules(guild_id)

    async def set_rules(self, guild_id: int, *, actor: str, limit: int | None,
                        window_hours: int | None, cooldown_hours: int | None) -> StrikeRules:
        """The guild's own strike settings; None: the operator's default."""
        return await self._store.set_rules(guild_id, actor=actor, limit=limit,
                                           window_hours=window_hours,
                                           cooldown_hours=cooldown_hours)

    async def words(self, guild_id: int) -> Sequence[str]:
        return await self._store.words.entries(guild_id)

    async def add_words(self, guild_id: int, text: str, *, actor: str) -> WordChange:
        """List the comma- or line-separated words and phrases of ``text``."""
        return await self._store.words.add(guild_id, split_entries(text), actor=actor)

    async def remove_words(self, guild_id: int, text: str, *, actor: str) -> WordChange:
        return await self._store.words.remove(guild_id, split_entries(text), actor=actor)
