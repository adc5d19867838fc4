"""Response helpers shared by the fake's routes: the error envelope and broken answers."""

from __future__ import annotations

import json
import socket
import struct
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.apiframe_model import RecordedRequest

_SUCCESS = {"POST /v2/videos/generate": 202, "POST /v2/uploads": 201}


def error(status: int, message: str, **extra: Any) -> web.Response:
    """Apiframe's error envelope: ``{"error": ...}`` plus route-specific fields."""
    return web.json_response({"error": message, **extra}, status=status)


def abort(request: web.Request) -> None:
    """Close the TCP connection with an RST, so the client sees a reset, not an answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def reset_connection(request: web.Request) -> web.Response:
    abort(request)
    # aiohttp drops this response: its transport is already gone.
    return web.Response(status=500)


def malformed_json(route: str) -> web.Response:
    """The route's success status with JSON cut off mid-value."""
    field = "jobId" if route == "POST /v2/videos/generate" else "id"
    return web.Response(
        status=_SUCCESS.get(route, 200),
        body=f'{{"{field}": "3f2a'.encode(),
        content_type="application/json",
    )


async def record(request: web.Request, route: str | None, at: datetime) -> RecordedRequest:
    """The request as the fake received it, body and parsed JSON included."""
    body, parsed = b"", None
    if not request.content_type.startswith("multipart/"):
        # Uploads stream up to 50 MB; everything else is small enough to keep.
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = b""
        if body and request.content_type == "application/json":
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers=CIMultiDict(request.headers),
        json=parsed,
        body=body,
        route=route,
        at=at,
    )
