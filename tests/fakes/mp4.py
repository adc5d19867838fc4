"""A real, decodable MP4 built in pure Python, padded to any size and streamed in chunks.

The video track is H.264 (Constrained Baseline) whose macroblocks are all ``I_PCM``: raw
YCbCr samples that any H.264 decoder (ffmpeg, browsers, Discord's player) reconstructs
exactly, without us having to implement prediction or entropy coding. Every frame is an IDR
picture filled with one solid colour, so a test that decodes the *last* frame can tell it
apart from the others. Padding is a trailing ``free`` box, which every ISO-BMFF reader skips.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

Rgb = tuple[int, int, int]

#: Distinct frame colours; the last one is what "decode the final frame" should see.
DEFAULT_COLOURS: tuple[Rgb, ...] = ((220, 40, 40), (40, 200, 60), (30, 60, 220))
FREE_BOX_HEADER = 8
_CHUNK = 64 * 1024


class _Bits:
    """MSB-first bit writer with the Exp-Golomb codes H.264 headers use."""

    def __init__(self) -> None:
        self._bits: list[int] = []

    def u(self, width: int, value: int) -> None:
        self._bits.extend((value >> (width - 1 - i)) & 1 for i in range(width))

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() * 2 - 1, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self._bits) % 8:
            self._bits.append(0)

    def raw(self, data: bytes) -> None:
        if len(self._bits) % 8:
            raise ValueError("raw bytes must start byte-aligned")
        for byte in data:
            self.u(8, byte)

    def trailing(self) -> bytes:
        self._bits.append(1)
        self.align_zero()
        out = bytearray()
        for i in range(0, len(self._bits), 8):
            byte = 0
            for bit in self._bits[i : i + 8]:
                byte = (byte << 1) | bit
            out.append(byte)
        return bytes(out)


def _nal(ref_idc: int, nal_type: int, rbsp: bytes) -> bytes:
    # Emulation prevention: a payload must never contain 00 00 0x (x <= 3).
    out = bytearray([(ref_idc << 5) | nal_type])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def rgb_to_ycbcr(rgb: Rgb) -> tuple[int, int, int]:
    """BT.601 limited range, the colour space an H.264 stream without VUI is decoded in."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return (round(y), round(cb), round(cr))


@dataclass(frozen=True)
class _Geometry:
    width: int
    height: int

    @property
    def mbs_w(self) -> int:
        return (self.width + 15) // 16

    @property
    def mbs_h(self) -> int:
        return (self.height + 15) // 16


def _sps(geo: _Geometry) -> bytes:
    bits = _Bits()
    bits.u(8, 66)  # profile_idc: Baseline
    bits.u(8, 0xC0)  # constraint_set0 + set1: Constrained Baseline
    bits.u(8, 30)  # level 3.0
    bits.ue(0)  # seq_parameter_set_id
    bits.ue(0)  # log2_max_frame_num_minus4
    bits.ue(2)  # pic_order_cnt_type 2: output order == decode order
    bits.ue(1)  # max_num_ref_frames
    bits.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    bits.ue(geo.mbs_w - 1)
    bits.ue(geo.mbs_h - 1)
    bits.u(1, 1)  # frame_mbs_only_flag
    bits.u(1, 1)  # direct_8x8_inference_flag
    crop_right = (geo.mbs_w * 16 - geo.width) // 2
    crop_bottom = (geo.mbs_h * 16 - geo.height) // 2
    if crop_right or crop_bottom:
        bits.u(1, 1)
        for offset in (0, crop_right, 0, crop_bottom):
            bits.ue(offset)
    else:
        bits.u(1, 0)
    bits.u(1, 0)  # vui_parameters_present_flag: timing comes from the MP4
    return _nal(3, 7, bits.trailing())


def _pps() -> bytes:
    bits = _Bits()
    bits.ue(0)  # pic_parameter_set_id
    bits.ue(0)  # seq_parameter_set_id
    bits.u(1, 0)  # CAVLC
    bits.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    bits.ue(0)  # num_slice_groups_minus1
    bits.ue(0)
    bits.ue(0)
    bits.u(1, 0)  # weighted_pred_flag
    bits.u(2, 0)  # weighted_bipred_idc
    bits.se(0)  # pic_init_qp_minus26
    bits.se(0)  # pic_init_qs_minus26
    bits.se(0)  # chroma_qp_index_offset
    bits.u(1, 1)  # deblocking_filter_control_present_flag, so slices can switch it off
    bits.u(1, 0)  # constrained_intra_pred_flag
    bits.u(1, 0)  # redundant_pic_cnt_present_flag
    return _nal(3, 8, bits.trailing())


def _idr_slice(geo: _Geometry, colour: Rgb, idr_pic_id: int) -> bytes:
    y, cb, cr = rgb_to_ycbcr(colour)
    pcm = bytes([y]) * 256 + bytes([cb]) * 64 + bytes([cr]) * 64
    bits = _Bits()
    bits.ue(0)  # first_mb_in_slice
    bits.ue(7)  # slice_type: I (all slices of the picture)
    bits.ue(0)  # pic_parameter_set_id
    bits.u(4, 0)  # frame_num
    bits.ue(idr_pic_id)  # consecutive IDR pictures must differ here
    bits.u(1, 0)  # no_output_of_prior_pics_flag
    bits.u(1, 0)  # long_term_reference_flag
    bits.se(0)  # slice_qp_delta
    bits.ue(1)  # disable_deblocking_filter_idc: PCM samples are shown as coded
    for _ in range(geo.mbs_w * geo.mbs_h):
        bits.ue(25)  # mb_type I_PCM
        bits.align_zero()  # pcm_alignment_zero_bit
        bits.raw(pcm)
    return _nal(3, 5, bits.trailing())


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _moov(
    geo: _Geometry, sps: bytes, pps: bytes, sizes: Sequence[int], fps: int, chunk_offset: int
) -> bytes:
    timescale, delta = fps * 512, 512
    duration = len(sizes) * delta
    movie_ms = len(sizes) * 1000 // fps
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, movie_ms),
        struct.pack(">IH", 0x10000, 0x100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 2),
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        3,
        struct.pack(">IIIII", 0, 0, 1, 0, movie_ms),
        bytes(8),
        struct.pack(">HHHH", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", geo.width << 16, geo.height << 16),
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\0")
    avcc = _box(
        b"avcC",
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]),
        struct.pack(">H", len(sps)),
        sps,
        bytes([1]),
        struct.pack(">H", len(pps)),
        pps,
    )
    avc1 = _box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),
        bytes(16),
        struct.pack(">HHIIIH", geo.width, geo.height, 0x480000, 0x480000, 0, 1),
        bytes(32),
        struct.pack(">Hh", 0x18, -1),
        avcc,
    )
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(sizes), delta)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(sizes), 1)),
        _full_box(b"stsz", 0, 0, struct.pack(f">II{len(sizes)}I", 0, len(sizes), *sizes)),
        _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    vmhd = _full_box(b"vmhd", 0, 1, bytes(8))
    minf = _box(b"minf", vmhd, dinf, stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    return _box(b"moov", mvhd, trak)


def build_mp4(
    width: int = 64, height: int = 36, colours: Sequence[Rgb] = DEFAULT_COLOURS, fps: int = 10
) -> bytes:
    """A minimal MP4 (ftyp, moov, mdat): one solid-colour H.264 frame per entry of ``colours``."""
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError("width and height must be even and at least 2 (4:2:0 chroma)")
    if not colours:
        raise ValueError("at least one frame is needed")
    if fps < 1:
        raise ValueError("fps must be positive")
    geo = _Geometry(width, height)
    sps, pps = _sps(geo), _pps()
    nals = [_idr_slice(geo, colour, i % 2) for i, colour in enumerate(colours)]
    samples = [struct.pack(">I", len(nal)) + nal for nal in nals]
    sizes = [len(s) for s in samples]
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    # The moov's size does not depend on the offset value, so measure it with a placeholder.
    moov_len = len(_moov(geo, sps, pps, sizes, fps, 0))
    moov = _moov(geo, sps, pps, sizes, fps, len(ftyp) + moov_len + 8)
    return ftyp + moov + _box(b"mdat", *samples)


def padded_size_ok(base: bytes, size: int) -> bool:
    """Whether ``base`` can be padded to exactly ``size`` bytes (a free box needs 8)."""
    return size == len(base) or size >= len(base) + FREE_BOX_HEADER


def iter_padded(base: bytes, size: int, chunk: int = _CHUNK) -> Iterator[bytes]:
    """``base`` followed by a ``free`` box, ``size`` bytes in all, in chunks of at most ``chunk``.

    Nothing larger than ``chunk`` is held in memory, so a 60 MB body costs 64 KiB.
    """
    if not padded_size_ok(base, size):
        raise ValueError(
            f"cannot pad a {len(base)}-byte MP4 to {size} bytes "
            f"(need exactly {len(base)} or at least {len(base) + FREE_BOX_HEADER})"
        )
    if size >= 2**32:
        raise ValueError("padding beyond 4 GiB would need a 64-bit box size")
    for start in range(0, len(base), chunk):
        yield base[start : start + chunk]
    pad = size - len(base)
    if not pad:
        return
    yield struct.pack(">I", pad) + b"free"
    remaining = pad - FREE_BOX_HEADER
    zeros = bytes(chunk)
    while remaining > 0:
        step = min(chunk, remaining)
        yield zeros if step == chunk else bytes(step)
        remaining -= step


async def aiter_padded(base: bytes, size: int, chunk: int = _CHUNK) -> AsyncIterator[bytes]:
    """Async form of :func:`iter_padded` for streaming HTTP bodies."""
    for piece in iter_padded(base, size, chunk):
        yield piece


def padded_mp4(
    size: int,
    width: int = 64,
    height: int = 36,
    colours: Sequence[Rgb] = DEFAULT_COLOURS,
    fps: int = 10,
) -> bytes:
    """A whole padded MP4 in memory; for small sizes in tests only."""
    return b"".join(iter_padded(build_mp4(width, height, colours, fps), size))
