"""Reading the migrations: numbered ``NNNN_name.sql`` files, split into single statements.

Applying them (all pending ones in one transaction) is :mod:`bot.db.database`'s job; this
module only reads and checks the files, so a misnumbered file fails before any connection.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from bot.db.errors import MigrationError

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(
    source: Traversable | None = None, *, baseline: bool = False
) -> tuple[Migration, ...]:
    """Read ``NNNN_name.sql`` files from ``source`` (default: the packaged ``bot/db/migrations``).

    Versions must run 1, 2, 3... without gaps, so a missing or misnumbered file is caught at
    start-up rather than silently skipped. With ``baseline`` the first file may carry any
    number: it creates at once the schema of every step up to it (a newer backend that never
    had those steps one by one), and the numbers run on from it without gaps.
    """
    folder = source if source is not None else resources.files("bot.db").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            raise MigrationError(
                f"migration file {entry.name!r} is not named like '0001_description.sql'"
            )
        found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    start = found[0].version if baseline and found else 1
    for expected, migration in enumerate(found, start=start):
        if migration.version != expected:
            raise MigrationError(
                f"migration {migration.name!r} is out of sequence (expected number {expected:04d})"
            )
    return tuple(found)


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (trigger bodies stay whole).

    ``executescript`` would COMMIT any open transaction first, which would break the
    all-migrations-in-one-transaction guarantee, so statements are run one by one instead.
    """
    statements: list[str] = []
    current = ""
    for char in script:
        current += char
        if char == ";" and sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip() and not _only_comments(current):
        raise MigrationError("the script ends with an incomplete statement (missing ';'?)")
    return statements


def _only_comments(text: str) -> bool:
    lines = (line.strip() for line in text.splitlines())
    return all(not line or line.startswith("--") for line in lines)
