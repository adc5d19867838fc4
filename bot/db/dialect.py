"""What differs between the SQL dialects, as the few fragments the stores ask for by name.

Stores write one SQL text for both backends (``?`` placeholders, ``ON CONFLICT``,
``RETURNING``, text timestamps compared as ISO strings). Where SQLite and PostgreSQL have no
common spelling, a store takes the fragment from ``db.dialect`` (or ``tx.dialect``) instead of
keeping a copy of itself per backend.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    #: Appended to a claim's inner SELECT: PostgreSQL's row locks let concurrent claimers pass
    #: over each other's rows; SQLite's write transactions are serialised, so it needs none.
    skip_locked: str
    _id_list: str
    #: A write that changes nothing, for the health check's probe ('' on SQLite, where the
    #: probe rewrites PRAGMA user_version with its own value instead).
    write_probe: str

    def id_list(self, column: str) -> str:
        """An aggregate of ``column``'s values as one comma-separated text (NULL: no rows)."""
        return self._id_list.format(column)


SQLITE = Dialect("sqlite", "", "group_concat({})", "")
POSTGRESQL = Dialect(
    "postgresql", " FOR UPDATE SKIP LOCKED", "string_agg(({})::text, ',')",
    "UPDATE schema_version SET version = version"
    " WHERE version = (SELECT MAX(version) FROM schema_version)",
)
