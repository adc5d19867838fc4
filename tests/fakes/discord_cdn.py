"""The fake's attachment CDN: signed, expiring URLs like ``cdn.discordapp.com`` hands out.

Discord signs every attachment URL with ``ex`` (expiry, hex unix time), ``is`` (issue time) and
``hm`` (an HMAC); after ``ex`` the CDN answers 404 (reference.mdx "Signed Attachment CDN URLs").
A bot that keeps a URL for later — e.g. hands a slash-option image URL to a video API that
fetches it minutes later — fails here exactly as it would in production.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web


@dataclass
class CdnEntry:
    id: int
    channel_id: int
    filename: str
    content_type: str
    data: bytes
    ephemeral: bool
    width: int | None = None
    height: int | None = None
    description: str | None = None


class FakeCdn:
    """Stores uploaded and test-provided files and serves them under ``/cdn/attachments``."""

    def __init__(
        self, *, now: Callable[[], float], new_id: Callable[[], int], base_url: Callable[[], str]
    ) -> None:
        self._now = now
        self._new_id = new_id
        self._base_url = base_url
        self._key = secrets.token_bytes(32)
        self.entries: dict[int, CdnEntry] = {}

    def add(
        self,
        data: bytes,
        filename: str = "image.png",
        content_type: str | None = "image/png",
        expires_in: float = 3600,
        *,
        channel_id: int | None = None,
        ephemeral: bool = True,
        width: int | None = None,
        height: int | None = None,
    ) -> dict[str, Any]:
        """Store ``data``; return the Attachment object (as in ``resolved.attachments``).

        Slash-option attachments are ephemeral in Discord, hence the default.
        """
        entry = self.store(data, filename, content_type, channel_id=channel_id, ephemeral=ephemeral)
        entry.width, entry.height = width, height
        return self.attachment_object(entry.id, expires_in)

    def store(
        self,
        data: bytes,
        filename: str,
        content_type: str | None,
        *,
        channel_id: int | None = None,
        ephemeral: bool = False,
        description: str | None = None,
    ) -> CdnEntry:
        if content_type is None:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        entry = CdnEntry(
            id=self._new_id(),
            channel_id=channel_id if channel_id is not None else self._new_id(),
            filename=filename,
            content_type=content_type,
            data=data,
            ephemeral=ephemeral,
            description=description,
        )
        self.entries[entry.id] = entry
        return entry

    def attachment_object(self, entry_id: int, expires_in: float = 86400) -> dict[str, Any]:
        """A Message Attachment object with a freshly signed URL."""
        entry = self.entries[entry_id]
        url = self.signed_url(entry, expires_in)
        obj: dict[str, Any] = {
            "id": str(entry.id),
            "filename": entry.filename,
            "size": len(entry.data),
            "url": url,
            "proxy_url": url,
            "content_type": entry.content_type,
        }
        if entry.ephemeral:
            obj["ephemeral"] = True
        if entry.width is not None and entry.height is not None:
            obj["width"], obj["height"] = entry.width, entry.height
        if entry.description is not None:
            obj["description"] = entry.description
        return obj

    def signed_url(self, entry: CdnEntry, expires_in: float) -> str:
        path = self._path(entry)
        issued = int(self._now())
        ex, is_ = f"{int(issued + expires_in):x}", f"{issued:x}"
        return f"{self._base_url()}{path}?ex={ex}&is={is_}&hm={self._sign(path, ex, is_)}"

    def read(self, url_or_id: str | int) -> bytes:
        """The stored bytes behind an attachment URL or id (for assertions, ignores expiry)."""
        if isinstance(url_or_id, int) or str(url_or_id).isdigit():
            return self.entries[int(url_or_id)].data
        parts = urlsplit(str(url_or_id)).path.split("/")
        return self.entries[int(parts[-2])].data

    async def handle(self, request: web.Request) -> web.Response:
        """GET /cdn/attachments/{channel}/{id}/{filename}?ex=&is=&hm= — 404 once expired."""
        gone = web.Response(status=404, text="This content is no longer available.")
        path = request.raw_path.split("?", 1)[0]
        parts = path.split("/")
        if len(parts) != 6 or not parts[4].isdigit():
            return web.Response(status=404, text="Not Found")
        entry = self.entries.get(int(parts[4]))
        if entry is None or path != self._path(entry):
            return web.Response(status=404, text="Not Found")
        ex, is_, hm = (request.query.get(k, "") for k in ("ex", "is", "hm"))
        if not hmac.compare_digest(hm, self._sign(path, ex, is_)):
            return gone
        try:
            expired = int(ex, 16) <= self._now()
        except ValueError:
            return gone
        if expired:
            return gone
        return web.Response(body=entry.data, content_type=entry.content_type)

    def _path(self, entry: CdnEntry) -> str:
        return f"/cdn/attachments/{entry.channel_id}/{entry.id}/{quote(entry.filename)}"

    def _sign(self, path: str, ex: str, is_: str) -> str:
        msg = f"{path}|{ex}|{is_}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()
