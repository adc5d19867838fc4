"""Render a :class:`~bot.ledger.types.LedgerExport` as CSV or JSON text for the CLI."""

from __future__ import annotations

import csv
import io
import json

from bot.ledger.types import LedgerExport

CSV_COLUMNS = (
    "id", "guild_id", "kind", "delta", "balance_after", "actor", "reason", "job_id", "created_at",
)


def _csv_safe(value: str | None) -> str:
    # Spreadsheets run cells starting with these characters as formulas; actor and reason can
    # hold user-typed text, so such cells get a leading apostrophe.
    if value is None:
        return ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def render_csv(export: LedgerExport) -> str:
    """One row per journal entry, oldest first, after a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in export.entries:
        writer.writerow([
            e.id, e.guild_id, e.kind.value, e.delta, e.balance_after, _csv_safe(e.actor),
            _csv_safe(e.reason), _csv_safe(e.job_id), e.created_at.isoformat(),
        ])
    return out.getvalue()


def render_json(export: LedgerExport) -> str:
    """A JSON document; snowflake ids are strings, as in Discord's own API."""
    document = {
        "guild_id": str(export.guild_id),
        "balance": export.balance,
        "exported_at": export.exported_at.isoformat(),
        "entries": [
            {
                "id": e.id,
                "guild_id": str(e.guild_id),
                "kind": e.kind.value,
                "delta": e.delta,
                "balance_after": e.balance_after,
                "actor": e.actor,
                "reason": e.reason,
                "job_id": e.job_id,
                "created_at": e.created_at.isoformat(),
            }
            for e in export.entries
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
