"""The log filter scrubs secrets that reach a record by accident, tracebacks included."""

from __future__ import annotations

import io
import logging

from bot.logs import REDACTED, RedactSecrets

SECRET = "afk_super_secret_key_1234"


def make_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets([SECRET, "short"]))
    logger = logging.getLogger(f"test-redact-{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_secret_in_message_and_args_is_redacted() -> None:
    logger, stream = make_logger()
    logger.info("calling with key=%s", SECRET)
    logger.info(f"inline {SECRET}")
    text = stream.getvalue()
    assert SECRET not in text
    assert text.count(REDACTED) == 2


def test_secret_in_a_traceback_is_redacted() -> None:
    logger, stream = make_logger()
    try:
        raise RuntimeError(f"request failed with header X-API-Key: {SECRET}")
    except RuntimeError:
        logger.exception("boom")
    text = stream.getvalue()
    assert SECRET not in text
    assert "RuntimeError" in text and REDACTED in text


def test_ordinary_records_are_untouched_and_short_secrets_ignored() -> None:
    logger, stream = make_logger()
    logger.info("a short message about %d jobs", 3)
    assert stream.getvalue() == "a short message about 3 jobs\n"


def test_debug_level_keeps_chatty_libraries_at_info() -> None:
    """discord.py's DEBUG lines carry interaction tokens; aiosqlite's are one per statement."""
    from bot.logs import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("DEBUG", [SECRET])
        assert root.level == logging.DEBUG
        assert logging.getLogger("discord").level == logging.INFO
        assert logging.getLogger("aiosqlite").level == logging.INFO
        setup_logging("WARNING", [SECRET])
        assert logging.getLogger("discord").level == logging.WARNING
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name in ("discord", "aiosqlite"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_the_database_url_and_its_password_are_scrubbed_too() -> None:
    from bot.config import parse_settings

    url = "postgresql://bot:p%40ss-w0rd-long@db.example:5432/sora"
    settings = parse_settings({"discord": {"token": "x.y.z"}, "apiframe": {"api_key": "afk_k"},
                               "database": {"url": url}}, env={})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(settings.database.secrets))
    logger = logging.getLogger("test-redact-database")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.warning("could not reach %s", url)
    logger.warning("a driver echoing p@ss-w0rd-long or p%40ss-w0rd-long")
    text = stream.getvalue()
    assert "w0rd" not in text
    assert text.count(REDACTED) == 3
