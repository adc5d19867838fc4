"""A read-only look at the database file for ``sora-bot check``.

Nothing is created, migrated or written: a missing file is reported as "will be created", and
the schema version is compared with the migrations this release ships.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bot.db.database import load_migrations
from bot.db.errors import DatabaseError, SchemaTooNew, explain, translate

_RESTORE = "restore it from a backup, or move it away to start with an empty database"


def inspect_database(path: Path) -> str:
    """One line describing a healthy database; a :class:`DatabaseError` line otherwise."""
    newest = len(load_migrations())
    if not path.exists():
        return f"database: {path} does not exist yet; it will be created"
    # os.access honours read-only mounts and the immutable flag, even for root. The bot writes
    # the file and creates its -wal/-shm companions next to it, so both must be writable.
    if not (os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        raise DatabaseError(
            f"{path}: the database or its folder is read-only for this user; make the file "
            "and its folder writable by the user running the bot", code="SQLITE_READONLY",
        )
    # Without a -wal file no connection is open (the last to close removes it) and the main
    # file holds everything, so "immutable" reads it without leaving the -wal/-shm files a
    # WAL reader creates. With one, a running bot may be writing: read it the normal way.
    immutable = not Path(f"{path}-wal").exists()
    uri = path.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise explain(path, translate(exc)) from None
    try:
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise explain(path, translate(exc)) from None
        if version > newest:
            raise SchemaTooNew.of(path, version, newest)
        try:
            problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(3)")]
        except sqlite3.Error as exc:
            problems = [str(exc)]
    finally:
        conn.close()
    if problems != ["ok"]:
        raise DatabaseError(
            f"{path}: the integrity check failed ({problems[0]}); {_RESTORE}",
            code="SQLITE_CORRUPT",
        )
    pending = newest - version
    plural = "s" if pending != 1 else ""
    note = f" ({pending} migration{plural} to apply at the next start)" if pending else ""
    return f"database: ok ({path}), integrity check passed, schema version {version}{note}"
