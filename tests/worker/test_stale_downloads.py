"""The download folder at a scheduler's start: a crash's leftovers go, but not the files
another worker on the same machine is writing into the same folder right now."""

from __future__ import annotations

import os
import time

from tests.sora_harness import Starter


async def test_start_removes_only_downloads_nobody_touched_for_an_hour(start: Starter) -> None:
    h = await start()
    folder = h.services.settings.database.path.parent / "downloads"
    leftover, live = folder / "dead.mp4.part", folder / "busy.mp4.part"
    leftover.write_bytes(b"\0" * 10)
    live.write_bytes(b"\0" * 10)
    two_hours_ago = time.time() - 2 * 3600
    os.utime(leftover, (two_hours_ago, two_hours_ago))

    await h.bot.scheduler.stop()
    h.bot.scheduler.start()

    assert not leftover.exists()
    assert live.exists()
