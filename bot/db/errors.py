"""The storage errors of :mod:`bot.db.database`, backend-neutral, and their one-line form for
operators."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class DatabaseError(Exception):
    """A storage failure. Messages never contain bound parameter values."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        #: SQLite's result code name (e.g. ``SQLITE_READONLY``), when SQLite gave one.
        self.code = code


class DatabaseClosed(DatabaseError):
    """The :class:`Database` (or a finished :class:`Transaction`) was used after closing."""


class ConstraintViolation(DatabaseError):
    """A CHECK, NOT NULL, FOREIGN KEY or trigger constraint refused a write."""


class UniqueViolation(ConstraintViolation):
    """A UNIQUE or PRIMARY KEY constraint refused a write."""


class DatabaseBusy(DatabaseError):
    """Another connection held the write lock for longer than ``busy_timeout``."""


class MigrationError(DatabaseError):
    """The migrations cannot be loaded or applied; nothing was changed."""


class SchemaTooNew(MigrationError):
    """The database was written by a newer version of the bot."""

    @classmethod
    def of(cls, path: Path, version: int, newest: int) -> SchemaTooNew:
        return cls(
            f"{path}: database schema version {version} is newer than this bot knows "
            f"(newest known: {newest}); run a newer release of the bot"
        )


def translate(exc: sqlite3.Error) -> DatabaseError:
    """Map driver errors onto this module's backend-neutral hierarchy."""
    name = getattr(exc, "sqlite_errorname", "")
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if name in {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}:
            return UniqueViolation(message, code=name)
        return ConstraintViolation(message, code=name)
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return DatabaseBusy(message, code=name)
    return DatabaseError(message, code=name)


def explain(path: Path, exc: DatabaseError) -> DatabaseError:
    """The same failure as one line for the operator: the file, and what to do about it."""
    if isinstance(exc, SchemaTooNew) or str(path) in str(exc):
        return exc
    if exc.code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return DatabaseError(
            f"{path}: the file is not a SQLite database or is damaged ({exc}); restore it from "
            "a backup, or move it away to start with an empty database", code=exc.code,
        )
    if exc.code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return DatabaseError(
            f"{path}: cannot open or write the database ({exc}); make the file and its "
            "folder writable by the user running the bot", code=exc.code,
        )
    if isinstance(exc, DatabaseBusy):
        return DatabaseBusy(
            f"{path}: the database stayed locked by another process ({exc}); stop the other "
            "sora-bot process or raise database.busy_timeout_ms", code=exc.code,
        )
    return type(exc)(f"{path}: {exc}", code=exc.code)
