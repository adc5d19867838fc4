"""Logging set-up with a last line of defence against leaked secrets."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replace any configured secret that reaches a log record with ``[redacted]``.

    The code never logs secrets on purpose; this catches the accidents (a library that logs a
    URL or header, an exception that echoes a request) before they reach an operator's log files.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Short strings would redact innocent text; real tokens and keys are long.
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        text = message
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now so it can be scrubbed, then drop the raw exc_info.
            formatter = logging.Formatter()
            text = f"{message}\n{formatter.formatException(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        scrubbed = text
        for secret in self._secrets:
            scrubbed = scrubbed.replace(secret, REDACTED)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def setup_logging(level: str, secrets: Iterable[str]) -> logging.Handler:
    """Log to stderr at ``level``; every record passes through :class:`RedactSecrets`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's DEBUG output carries raw gateway payloads and webhook URLs, which hold
    # interaction tokens (15-minute credentials); keep the library at INFO or quieter.
    # aiosqlite's DEBUG output is one line per SQL statement: noise, not diagnosis.
    quiet = max(logging.getLevelName(level), logging.INFO)
    for name in ("discord", "aiosqlite"):
        logging.getLogger(name).setLevel(quiet)
    return handler
