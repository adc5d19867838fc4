"""The HTTP listener inside the bot process: aiohttp's server, started and stopped with the bot.

Routes come from whoever serves something on it: the Apiframe webhook receiver
(bot/web/webhooks.py) and the operations routes. Add them with ``routes=[...]`` or
:meth:`WebServer.add_routes` before :meth:`WebServer.start`.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

from bot.config_web import WebConfig

log = logging.getLogger(__name__)


class ListenerError(Exception):
    """The listener could not start; the message is one line naming the key to change."""


class WebServer:
    """One aiohttp application on ``[web] host:port``."""

    def __init__(self, config: WebConfig, *, routes: Iterable[web.AbstractRouteDef] = ()) -> None:
        self._config = config
        # client_max_size also caps what a handler may read, whatever it checked first.
        self._app = web.Application(client_max_size=config.max_body_bytes)
        self._app.add_routes(list(routes))
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Serve more routes (before :meth:`start`; aiohttp freezes the router then)."""
        if self._runner is not None:
            raise RuntimeError("add routes before the listener starts")
        self._app.add_routes(list(routes))

    @property
    def port(self) -> int:
        """The port actually bound (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the listener has not started")
        return self._port

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        if self._runner is not None:
            return
        # No access log: webhook URLs carry per-job tokens in their query string.
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        host, port = self._config.host, self._config.port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise ListenerError(f"web.port: {port} on {host} is already in use (choose"
                                    " another port, or stop what listens there)") from None
            if exc.errno == errno.EACCES:
                raise ListenerError(f"web.port: not allowed to listen on {port} (use a port"
                                    " above 1023, or give the bot that right)") from None
            raise ListenerError(f"web.host: cannot listen on {host}:{port}"
                                f" ({exc.strerror or exc})") from None
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("HTTP listener on %s:%d", host, self._port)

    async def stop(self) -> None:
        """Stop taking requests and finish (or cancel) the ones under way."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


async def check_listener(config: WebConfig) -> list[str]:
    """``sora-bot check``'s lines about an enabled listener: where it listens and is reached,
    a warning each for what would keep webhooks from working, and a bind of its port, released
    at once (raises :class:`ListenerError` when the port cannot be bound)."""
    url = config.public_url
    lines = [f"web: listener on {config.host}:{config.port}, public URL {url or '(none)'},"
             f" webhooks {'on' if config.webhooks_on else 'off'}"]
    if config.webhooks and url is None:
        lines.append("web: WARNING webhooks are on but [web] public_url is not set, so Apiframe"
                     " cannot reach the bot and every job is polled; set public_url (or"
                     " web.webhooks = false)")
    elif url is not None and config.webhooks and _loopback(url):
        # (Any other http URL is refused when the config loads: the URLs carry job tokens.)
        lines.append(f"web: WARNING public_url {url} is a loopback address Apiframe cannot"
                     " reach (fine for a local test); set the https URL your proxy exposes")
    probe = WebServer(config)
    await probe.start()  # raises ListenerError, worded for the operator
    await probe.stop()
    return lines


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
