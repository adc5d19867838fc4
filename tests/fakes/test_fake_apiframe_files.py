"""The fake's uploads (magic-byte sniffing, limits) and its CDN's real, padded MP4s."""

from __future__ import annotations

import io
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.apiframe import FakeApiframe, Fault
from tests.fakes.apiframe_files import IMAGE_AUDIO_MAX, sniff
from tests.fakes.apiframe_schema import component
from tests.fakes.mp4 import DEFAULT_COLOURS, build_mp4, iter_padded, padded_mp4, rgb_to_ycbcr

KEY = "afk_test_key_0000000000"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiframe]:
    async with FakeApiframe(api_key=KEY) as server:
        yield server


async def upload(
    fake: FakeApiframe, http: aiohttp.ClientSession, *parts: tuple[str, bytes, str, str]
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    for name, data, filename, content_type in parts:
        form.add_field(name, io.BytesIO(data), filename=filename, content_type=content_type)
    async with http.post(
        f"{fake.base_url}/v2/uploads", data=form, headers={"X-API-Key": KEY}
    ) as response:
        return response.status, await response.json()


async def completed_job(fake: FakeApiframe, http: aiohttp.ClientSession) -> str:
    fake.script_next_job(queued_s=0, processing_s=1)
    async with http.post(
        f"{fake.base_url}/v2/videos/generate",
        headers={"X-API-Key": KEY},
        json={"prompt": "p", "model": "sora-2-pro"},
    ) as response:
        job_id: str = (await response.json())["jobId"]
    fake.clock.advance(1)
    return job_id


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each ISO-BMFF box in ``data[start:end]``."""
    end = len(data) if end is None else end
    found = []
    while start < end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        assert size >= 8, "box size too small"
        found.append((kind, start + 8, start + size))
        start += size
    assert start == end, "boxes overrun their parent"
    return found


def child(data: bytes, parent: tuple[bytes, int, int], *path: bytes) -> tuple[bytes, int, int]:
    node = parent
    for kind in path:
        node = next(b for b in boxes(data, node[1], node[2]) if b[0] == kind)
    return node


# -- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, ("image", "image/png")),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", ("image", "image/jpeg")),
        (b"GIF89a\x01\x00", ("image", "image/gif")),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", ("image", "image/webp")),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", ("audio", "audio/wav")),
        (b"OggS\x00\x02", ("audio", "audio/ogg")),
        (b"ID3\x04\x00", ("audio", "audio/mpeg")),
        (b"\xff\xfb\x90\x00", ("audio", "audio/mpeg")),
        (b"\x00\x00\x00\x20ftypM4A \x00", ("audio", "audio/mp4")),
        (b"\x00\x00\x00\x14ftypqt  \x00", ("video", "video/quicktime")),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", ("video", "video/webm")),
        (build_mp4(), ("video", "video/mp4")),
        (b"hello, I am text", None),
        (b"%PDF-1.7", None),
        (b"\xff\xf1\x50\x80", None),  # AAC ADTS: frame sync, but not MPEG layer III
        (b"", None),
    ],
)
def test_sniff_by_magic_bytes(data: bytes, expected: tuple[str, str] | None) -> None:
    assert sniff(data) == expected


async def test_png_named_txt_is_an_image(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    status, body = await upload(fake, http, ("file", PNG, "notes.txt", "text/plain"))
    assert status == 201
    assert not list(component("Upload").iter_errors(body))
    assert (body["kind"], body["contentType"], body["byteSize"]) == ("image", "image/png", len(PNG))
    assert fake.uploads[body["id"]] == PNG
    async with http.get(body["url"]) as response:
        assert response.content_type == "image/png" and await response.read() == PNG


@pytest.mark.parametrize(
    "parts",
    [
        [("file", b"just some text", "photo.png", "image/png")],
        [],
        [("file", PNG, "a.png", "image/png"), ("file", PNG, "b.png", "image/png")],
        [("image", PNG, "a.png", "image/png")],
        [("file", PNG, "a.png", "image/png"), ("note", b"hi", "n.txt", "text/plain")],
        [("file", b"", "empty.png", "image/png")],
    ],
)
async def test_bad_uploads_are_400(
    fake: FakeApiframe, http: aiohttp.ClientSession, parts: list[tuple[str, bytes, str, str]]
) -> None:
    if not parts:
        async with http.post(
            f"{fake.base_url}/v2/uploads", data=b"{}", headers={"X-API-Key": KEY}
        ) as response:
            status, body = response.status, await response.json()
    else:
        status, body = await upload(fake, http, *parts)
    assert status == 400 and body["details"]["file"]
    assert not list(component("ValidationError").iter_errors(body))
    assert fake.uploads == {}


async def test_size_limits_depend_on_the_detected_kind(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    big_image = PNG + bytes(IMAGE_AUDIO_MAX + 1 - len(PNG))
    status, body = await upload(fake, http, ("file", big_image, "big.png", "image/png"))
    assert status == 400 and "25 MB" in body["details"]["file"][0]
    big_video = padded_mp4(IMAGE_AUDIO_MAX + 1)
    status, body = await upload(fake, http, ("file", big_video, "big.bin", "application/x"))
    assert (status, body["kind"], body["byteSize"]) == (201, "video", IMAGE_AUDIO_MAX + 1)


# -- CDN and MP4 ---------------------------------------------------------------------------


async def test_cdn_serves_exactly_video_size_of_real_mp4(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.video_size = 12 * 1024 * 1024
    job_id = await completed_job(fake, http)
    async with http.get(f"{fake.base_url}/cdn/videos/{job_id}.mp4") as response:
        assert response.status == 200 and response.content_type == "video/mp4"
        assert response.content_length == 12 * 1024 * 1024
        data = await response.read()
    assert len(data) == 12 * 1024 * 1024
    assert [kind for kind, _, _ in boxes(data)] == [b"ftyp", b"moov", b"mdat", b"free"]
    async with http.head(f"{fake.base_url}/cdn/videos/{job_id}.mp4") as response:
        assert response.content_length == 12 * 1024 * 1024 and await response.read() == b""


def test_last_frame_is_the_last_colour() -> None:
    # Walks the sample tables to the last sample, as a decoder would, then finds the
    # I_PCM luma of the expected colour in it.
    data = padded_mp4(300_000)
    moov = next(b for b in boxes(data) if b[0] == b"moov")
    stbl = child(data, moov, b"trak", b"mdia", b"minf", b"stbl")
    stsz = child(data, stbl, b"stsz")
    count = struct.unpack(">I", data[stsz[1] + 8 : stsz[1] + 12])[0]
    sizes = struct.unpack(f">{count}I", data[stsz[1] + 12 : stsz[2]])
    stco = child(data, stbl, b"stco")
    first = struct.unpack(">I", data[stco[1] + 8 : stco[1] + 12])[0]
    assert count == len(DEFAULT_COLOURS)
    start = first + sum(sizes[:-1])
    sample = data[start : start + sizes[-1]]
    nal_len = struct.unpack(">I", sample[:4])[0]
    assert nal_len == len(sample) - 4 and sample[4] & 0x1F == 5  # one IDR slice
    luma = rgb_to_ycbcr(DEFAULT_COLOURS[-1])[0]
    assert bytes([luma]) * 256 in sample
    assert bytes([rgb_to_ycbcr(DEFAULT_COLOURS[0])[0]]) * 256 not in sample


def test_mp4_decodes_with_pyav() -> None:
    import av  # a test dependency: the fake's MP4 must carry real, decodable frames

    with av.open(io.BytesIO(padded_mp4(500_000))) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == len(DEFAULT_COLOURS)
    pixel = frames[-1].to_image().convert("RGB").getpixel((10, 10))
    assert isinstance(pixel, tuple)
    assert all(
        abs(int(got) - want) <= 3 for got, want in zip(pixel, DEFAULT_COLOURS[-1], strict=True)
    )


def test_padding_streams_in_bounded_chunks() -> None:
    base = build_mp4()
    chunks = list(iter_padded(base, 60 * 1024 * 1024, chunk=64 * 1024))
    assert sum(map(len, chunks)) == 60 * 1024 * 1024 and max(map(len, chunks)) <= 64 * 1024
    assert b"".join(iter_padded(base, len(base))) == base
    for impossible in (len(base) - 1, len(base) + 7):
        with pytest.raises(ValueError):
            list(iter_padded(base, impossible))


async def test_cdn_404s_unfinished_and_unknown_jobs(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{fake.base_url}/v2/videos/generate",
        headers={"X-API-Key": KEY},
        json={"prompt": "p", "model": "sora-2-pro"},
    ) as response:
        running = (await response.json())["jobId"]
    for name in (f"{running}.mp4", "b2c3d4e5-f6a7-8901-bcde-f23456789012.mp4", "x.mp4"):
        async with http.get(f"{fake.base_url}/cdn/videos/{name}") as response:
            assert response.status == 404


async def test_cdn_faults(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    job_id = await completed_job(fake, http)
    url = f"{fake.base_url}/cdn/videos/{job_id}.mp4"
    fake.inject("GET /cdn/videos/{name}", Fault.malformed(), times=1)
    async with http.get(url) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    fake.inject("GET /cdn/videos/{name}", Fault.reset(), times=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.get(url)
    async with http.get(url) as response:
        assert len(await response.read()) == fake.video_size


def test_video_size_must_fit_the_mp4() -> None:
    fake = FakeApiframe()
    with pytest.raises(ValueError):
        fake.video_size = 100
