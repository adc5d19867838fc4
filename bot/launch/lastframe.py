"""Extend's start image: the last frame of a delivered video, fetched again from its result URL.

A service, so the result button's cog never holds the Apiframe client. The download goes
through the same client method and rules as delivery (allowed hosts, MP4 only), with Extend's
own, smaller byte cap; each refusal becomes a member-facing :class:`UserError`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from bot.apiframe.client import ApiframeClient
from bot.apiframe.errors import ApiframeError, DownloadRefused, ResponseTooLarge
from bot.delivery.frames import NoFrame, read_last_frame
from bot.errors import UserError

log = logging.getLogger(__name__)

VIDEO_GONE = "I couldn't download that video again (its link may have expired)."
VIDEO_REFUSED = ("That video's link isn't one the bot may download from (or what it serves "
                 "isn't an MP4 video), so it can't be extended.")
VIDEO_TOO_LARGE = "That video is too large to extend."
NO_FRAME = "I couldn't read the last frame of that video."


class LastFrames:
    """Built once in ``open_services`` over the Apiframe client."""

    def __init__(self, apiframe: ApiframeClient, *, max_video_bytes: int) -> None:
        self._apiframe, self._max_bytes = apiframe, max_video_bytes

    async def of(self, result_url: str) -> bytes:
        """The PNG of the video's last frame; a :class:`UserError` says why there is none."""
        with tempfile.TemporaryDirectory(prefix="sora-extend-") as folder:
            path = Path(folder) / "video.mp4"
            try:
                await self._apiframe.download_to(result_url, path, max_bytes=self._max_bytes)
            except DownloadRefused as exc:
                log.warning("extend: %s", exc)
                raise UserError(VIDEO_REFUSED, key="refusal.extend_video_refused") from None
            except ResponseTooLarge as exc:
                log.info("extend: %s", exc)
                raise UserError(VIDEO_TOO_LARGE, key="refusal.extend_video_too_large") from None
            except ApiframeError as exc:
                log.info("extend: result download failed (%s)", type(exc).__name__)
                raise UserError(VIDEO_GONE, key="refusal.extend_video_gone") from None
            try:
                frame = await asyncio.to_thread(read_last_frame, path)
            except NoFrame as exc:
                log.info("extend: %s", exc)
                raise UserError(NO_FRAME, key="refusal.extend_no_frame") from None
            log.debug("extend: last frame found after decoding %d frame(s)", frame.decoded)
            return frame.png
