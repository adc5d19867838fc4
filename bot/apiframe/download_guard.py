"""Where result downloads may come from, and what they must be.

A job's result URL is whatever the provider (or a redirect from its CDN) names, and the bytes
end up in a Discord channel. So a download goes only to the operator's allowed hosts, each
redirect hop is checked again, and, unless the operator allows it, never to a loopback,
private, link-local or otherwise non-public address. That last check runs inside the
connector's resolver, on the very addresses the connection will use, so a DNS answer that
changes between a check and the connect (rebinding) cannot slip past it. Host names that are
IP literals never reach a resolver and are checked from the URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.apiframe.errors import DownloadRefused, ResponseTooLarge
from bot.config import ApiframeConfig

#: Redirects followed before a download is refused (each one checked like the first URL).
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 256 * 1024
#: An ISO-BMFF file starts with a box: 4-byte size, then the type, ``ftyp`` for MP4.
MP4_HEAD_BYTES = 16


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local use


class AddressRefused(OSError):
    """Raised by :class:`GuardedResolver`; an ``OSError`` because aiohttp expects one there."""


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP literal) is a globally routable unicast address.

    Loopback, private, link-local, shared (CGNAT), reserved, unspecified and multicast
    addresses are not, and neither is an IPv6 form of an IPv4 address (mapped, NAT64, 6to4)
    that is not public itself.
    """
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        # IPv6 forms that reach an IPv4 address are judged by that address.
        if ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    return ip.is_global and not ip.is_multicast


def parse_url(text: str) -> URL:
    """``text`` as a URL; one that cannot even be parsed is refused, not a crash to retry."""
    try:
        return URL(text)
    except ValueError:
        raise DownloadRefused("download refused: the URL cannot be parsed") from None


def _literal(host: str) -> str | None:
    """``host`` as an IP address string if it is one, else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DownloadPolicy:
    """Allowed host names (lower case, exact) and whether non-public addresses are allowed."""

    hosts: frozenset[str]
    allow_private: bool = False

    @classmethod
    def from_config(cls, config: ApiframeConfig) -> DownloadPolicy:
        """base_url's own host plus ``[apiframe] download_hosts``."""
        api_host = URL(config.base_url).host or ""
        return cls(hosts=frozenset({api_host.lower(), *config.download_hosts}),
                   allow_private=config.allow_private_addresses)

    def check_url(self, url: URL) -> None:
        """Refuse a URL this policy does not allow; no network involved."""
        if url.scheme not in ("http", "https") or not url.host:
            raise DownloadRefused("download refused: the result URL is not an absolute http(s) URL")
        host = url.host.lower().rstrip(".")
        if host not in self.hosts:
            raise DownloadRefused(
                f"download refused: host {host!r} is not in [apiframe] download_hosts")
        literal = _literal(host)
        if literal is not None and not self.allow_private and not is_public(literal):
            raise DownloadRefused(
                f"download refused: {literal} is not a public address (see [apiframe] "
                "allow_private_addresses)")


class GuardedResolver(AbstractResolver):
    """Resolve as usual, then refuse the host if any answer is not a public address."""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            if not is_public(answer["host"]):
                raise AddressRefused(
                    f"download refused: {host!r} resolves to {answer['host']}, not a public "
                    "address (see [apiframe] allow_private_addresses)")
        return answers

    async def close(self) -> None:
        await self._inner.close()


class DownloadGate:
    """The policy and the HTTP session that enforces it, built and closed together.

    The session is the downloads' own: its connector resolves through
    :class:`GuardedResolver` (unless private addresses are allowed), it ignores proxy
    settings from the environment, and it never carries the API key.
    """

    def __init__(self, policy: DownloadPolicy) -> None:
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("DownloadGate is not open (use it as `async with`)")
        return self._session

    @asynccontextmanager
    async def get(
        self, url: URL, *, client_timeout: aiohttp.ClientTimeout, headers: Mapping[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The first non-redirect response for ``url``, every hop checked before it is asked."""
        for _hop in range(MAX_REDIRECTS + 1):
            self.policy.check_url(url)
            async with self.session.get(url, headers=headers, timeout=client_timeout,
                                        allow_redirects=False, raise_for_status=False) as response:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    url = url.join(parse_url(location))
                    continue
                yield response
                return
        raise DownloadRefused(f"download refused: more than {MAX_REDIRECTS} redirects")

    async def __aenter__(self) -> DownloadGate:
        resolver = None if self.policy.allow_private else GuardedResolver()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver), trust_env=False)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def check_mp4_head(head: bytes) -> None:
    """Refuse a file whose first bytes are not an ISO-BMFF ``ftyp`` box (an MP4 file)."""
    size = int.from_bytes(head[:4], "big")
    if len(head) < MP4_HEAD_BYTES or head[4:8] != b"ftyp" or size < MP4_HEAD_BYTES:
        raise DownloadRefused("download refused: the result is not an MP4 file (no ftyp box)")


async def stream_mp4(
    response: aiohttp.ClientResponse, part: Path, max_bytes: int, where: str
) -> int:
    """Write the body to ``part``, at most ``max_bytes``, refusing it unless it starts as MP4."""
    written = 0
    head = b""
    # File I/O runs in a thread so a slow disk cannot stall the event loop (and Discord's
    # heartbeat with it).
    fh = await asyncio.to_thread(part.open, "wb")
    try:
        async for chunk in response.content.iter_chunked(_CHUNK):
            if len(head) < MP4_HEAD_BYTES:
                # Judged as soon as the first bytes are in, so junk is never read to the end.
                head += chunk[: MP4_HEAD_BYTES - len(head)]
                if len(head) == MP4_HEAD_BYTES:
                    check_mp4_head(head)
            written += len(chunk)
            if written > max_bytes:
                raise ResponseTooLarge(f"{where} sent more than {max_bytes} bytes")
            await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)
    if len(head) < MP4_HEAD_BYTES:
        check_mp4_head(head)
    return written
