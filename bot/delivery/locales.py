"""Each guild's language for channel posts (its Discord ``preferred_locale``), kept in the
database: a worker process without a gateway connection renders cards too, and knows a guild
only by its id.

The gateway process records the locale whenever Discord tells it (a guild becoming available,
joined or updated); cards read the live guild first and this record only without one.
"""

from __future__ import annotations

from bot.clock import Clock, to_db_time
from bot.db.database import Database


class GuildLocales:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock

    async def remember(self, guild_id: int, locale: str) -> None:
        # ON CONFLICT, not SQLite's INSERT OR REPLACE: both backends take it. Unchanged rows
        # are not rewritten, so a reconnect's burst of GUILD_CREATEs costs no writes.
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_locales (guild_id, locale, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET locale = excluded.locale,"
                " updated_at = excluded.updated_at"
                " WHERE guild_locales.locale <> excluded.locale",
                (guild_id, locale, to_db_time(self._clock())),
            )

    async def get(self, guild_id: int) -> str | None:
        row = await self._db.fetchone(
            "SELECT locale FROM guild_locales WHERE guild_id = ?", (guild_id,)
        )
        return str(row["locale"]) if row is not None else None
