"""File routes of the fake: ``POST /v2/uploads`` and the CDN that serves results and uploads."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import BodyPartReader, web

from tests.fakes.apiframe_http import abort, error
from tests.fakes.apiframe_model import UploadRecord, iso
from tests.fakes.apiframe_schema import is_uuid, new_uuid
from tests.fakes.mp4 import aiter_padded

if TYPE_CHECKING:
    from tests.fakes.apiframe import FakeApiframe

# "25 MB" / "50 MB" in the OpenAPI text; decimal megabytes is the stricter reading.
IMAGE_AUDIO_MAX = 25_000_000
VIDEO_MAX = 50_000_000
UPLOAD_TTL = timedelta(hours=1)
_VIDEO_NAME = re.compile(r"^(?P<id>[0-9a-fA-F-]{36})\.mp4$")
_LAYER_III = 0b01  # the two layer bits of an MPEG audio frame header


def sniff(data: bytes) -> tuple[str, str] | None:
    """``(kind, content type)`` from magic bytes, or None for anything Apiframe refuses."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav"
    if head.startswith(b"OggS"):
        return "audio", "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head:
        return "video", "video/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio", "audio/mp4"
        if brand == b"qt  ":
            return "video", "video/quicktime"
        return "video", "video/mp4"
    if head[4:8] in (b"moov", b"wide", b"mdat") and len(head) >= 8:
        return "video", "video/quicktime"
    if head.startswith(b"ID3") or (
        len(head) >= 2
        and head[0] == 0xFF
        and head[1] & 0xE0 == 0xE0
        and (head[1] >> 1) & 0b11 == _LAYER_III
    ):
        return "audio", "audio/mpeg"
    return None


def add_routes(app: web.Application, fake: FakeApiframe) -> None:
    async def upload_route(request: web.Request) -> web.Response:
        return await upload(fake, request)

    async def video_route(request: web.Request) -> web.StreamResponse:
        return await cdn_video(fake, request)

    async def upload_file_route(request: web.Request) -> web.Response:
        return cdn_upload(fake, request)

    app.router.add_post("/v2/uploads", upload_route)
    app.router.add_get("/cdn/videos/{name}", video_route)
    app.router.add_get("/cdn/uploads/{id}", upload_file_route)


def _bad_upload(message: str) -> web.Response:
    return error(400, "Invalid upload", details={"file": [message]})


async def _read_capped(part: BodyPartReader, cap: int) -> tuple[bytes, bool]:
    """Up to ``cap`` bytes of the part; the rest is drained so the client can read our 400."""
    chunks: list[bytes] = []
    size, over = 0, False
    while chunk := await part.read_chunk(256 * 1024):
        if not over:
            size += len(chunk)
            if size > cap:
                over, chunks = True, []
            else:
                chunks.append(chunk)
    return b"".join(chunks), over


async def upload(fake: FakeApiframe, request: web.Request) -> web.Response:
    key = fake.authenticate(request)
    if isinstance(key, web.Response):
        return key
    if request.content_type != "multipart/form-data":
        return _bad_upload("Expected multipart/form-data with one 'file' part")
    reader = await request.multipart()
    data: bytes | None = None
    problem: str | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            problem = problem or "Nested multipart is not supported"
            continue
        if part.name != "file":
            problem = problem or f"Unexpected field {part.name!r}; send exactly one 'file' part"
            await _read_capped(part, 0)
            continue
        if data is not None:
            problem = problem or "Exactly one file may be uploaded"
            await _read_capped(part, 0)
            continue
        data, over = await _read_capped(part, VIDEO_MAX)
        if over:
            problem = problem or f"File exceeds the {VIDEO_MAX // 1_000_000} MB limit"
    if problem is not None:
        return _bad_upload(problem)
    if not data:
        return _bad_upload("No file uploaded")
    sniffed = sniff(data)
    if sniffed is None:
        return _bad_upload(
            "Unsupported file type (PNG, JPEG, WebP, GIF, MP4, WebM, MOV, "
            "MP3, WAV, OGG or M4A expected)"
        )
    kind, content_type = sniffed
    limit = VIDEO_MAX if kind == "video" else IMAGE_AUDIO_MAX
    if len(data) > limit:
        return _bad_upload(f"File exceeds the {limit // 1_000_000} MB limit for {kind}")
    upload_id = new_uuid()
    record = UploadRecord(
        upload_id, kind, content_type, len(data), fake.clock.now() + UPLOAD_TTL, key
    )
    fake.uploads[upload_id] = data
    fake.upload_records[upload_id] = record
    return web.json_response(
        {
            "id": upload_id,
            "url": f"{fake.base_url}/cdn/uploads/{upload_id}",
            "kind": kind,
            "contentType": content_type,
            "byteSize": len(data),
            "expiresAt": iso(record.expires_at),
        },
        status=201,
    )


def _servable_job_id(fake: FakeApiframe, name: str) -> str | None:
    match = _VIDEO_NAME.match(name)
    if match is None or not is_uuid(match["id"]):
        return None
    job = fake.jobs.get(match["id"].lower())
    if job is None:
        return None
    state = job.state_at(fake.clock.now())
    if state.status != "COMPLETED" or fake.is_expired(job, state):
        return None
    return job.id


async def cdn_video(fake: FakeApiframe, request: web.Request) -> web.StreamResponse:
    """A real MP4 of exactly ``fake.video_size`` bytes, streamed in 64 KiB chunks.

    ``fake.cdn_redirect`` and ``fake.cdn_body`` make it a CDN that redirects elsewhere or
    serves something that is not a video.
    """
    if _servable_job_id(fake, request.match_info["name"]) is None:
        return error(404, "Not found")
    if fake.cdn_redirect is not None and fake.cdn_redirect != f"{request.scheme}://{request.host}":
        raise web.HTTPFound(fake.cdn_redirect + request.path_qs)
    if fake.cdn_body is not None:
        return web.Response(body=fake.cdn_body, content_type="video/mp4")
    response = web.StreamResponse(status=200, headers={"Content-Type": "video/mp4"})
    response.content_length = fake.video_size
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in aiter_padded(fake.mp4, fake.video_size):
            await response.write(chunk)
    await response.write_eof()
    return response


async def truncated_video(fake: FakeApiframe, request: web.Request) -> web.StreamResponse:
    """200 promising ``video_size`` bytes, then the connection dies partway through."""
    if _servable_job_id(fake, request.match_info["name"]) is None:
        return error(404, "Not found")
    response = web.StreamResponse(status=200, headers={"Content-Type": "video/mp4"})
    response.content_length = fake.video_size
    await response.prepare(request)
    budget = min(fake.video_size // 2, 256 * 1024)
    async for chunk in aiter_padded(fake.mp4, fake.video_size):
        if budget <= 0:
            break
        await response.write(chunk[:budget])
        budget -= len(chunk)
    abort(request)
    return response


def cdn_upload(fake: FakeApiframe, request: web.Request) -> web.Response:
    upload_id = request.match_info["id"].lower()
    record = fake.upload_records.get(upload_id)
    if record is None or fake.clock.now() >= record.expires_at:
        return error(404, "Not found")
    return web.Response(body=fake.uploads[upload_id], content_type=record.content_type)
