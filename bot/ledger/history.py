"""The journal's read side: the query behind one page of a guild's history.

Pure (no database): it checks the arguments a moderator's filters pass in and builds the
statement; :meth:`bot.ledger.store.Ledger.history` runs it.
"""

from __future__ import annotations

from bot.ledger.types import EntryKind, InvalidArgument, check_guild_id

#: The largest page of history one call returns.
MAX_HISTORY = 1000

#: A guild's journal rows, in the columns :meth:`JournalEntry.from_row` reads.
SELECT_ENTRIES = (
    "SELECT id, guild_id, kind, delta, balance_after, actor, reason, job_id, created_at"
    " FROM ledger_journal WHERE guild_id = ?"
)


def history_query(
    guild_id: int,
    *,
    limit: int,
    before_id: int | None,
    kind: EntryKind | str | None,
    actor: str | None,
) -> tuple[str, list[object]]:
    """The statement and parameters for a page of entries, newest first."""
    guild = check_guild_id(guild_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_HISTORY:
        raise InvalidArgument(f"Limit must be a whole number from 1 to {MAX_HISTORY}.")
    sql = SELECT_ENTRIES
    params: list[object] = [guild]
    if before_id is not None:
        if isinstance(before_id, bool) or not isinstance(before_id, int):
            raise InvalidArgument("before_id must be a journal entry id.")
        sql += " AND id < ?"
        params.append(before_id)
    if kind is not None:
        try:
            params.append(EntryKind(kind).value)
        except ValueError:
            names = ", ".join(k.value for k in EntryKind)
            raise InvalidArgument(f"Kind must be one of: {names}.") from None
        sql += " AND kind = ?"
    if actor is not None:
        if not isinstance(actor, str):
            raise InvalidArgument("Actor must be text.")
        sql += " AND actor = ?"
        params.append(actor)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return sql, params
