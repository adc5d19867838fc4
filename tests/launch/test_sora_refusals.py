"""/sora requests that are refused: a clear private answer, nothing charged, nothing sent on."""

from __future__ import annotations

from typing import Any

import pytest

from bot.jobs.model import JobState
from tests.fakes.apiframe import JobScript
from tests.fakes.discord import StoredMessage
from tests.launch.test_validation import png_header_only
from tests.sora_harness import (
    CALLBACK,
    EPHEMERAL,
    GENERATE,
    MEMBER,
    STARTING_CREDITS,
    UPLOAD,
    SoraHarness,
    Starter,
    integer,
    png,
    string,
    uncompressed_png,
)


async def refused(h: SoraHarness, iid: int) -> StoredMessage:
    """The private answer to ``iid``, after checking that the request cost nothing at all."""
    answer = await h.reply(iid, ephemeral=True)
    assert answer.flags & EPHEMERAL
    assert answer.allowed_mentions is not None and answer.allowed_mentions["parse"] == []
    assert await h.job_count() == 0
    assert await h.balance() == STARTING_CREDITS
    assert [kind for kind, _delta, _job in await h.journal()] == ["initial"]
    assert h.apiframe_requests(GENERATE) == [] and h.apiframe.created_count == 0
    # No public trace: a deferred "thinking…" placeholder must have been removed.
    assert [m for m in h.channel_messages() if m.interaction_id == iid] == []
    return answer


def answered_before_deferring(h: SoraHarness, iid: int) -> bool:
    """Whether the refusal was the interaction's first and only response (a type 4)."""
    callback = h.discord.interaction_responses(iid)[0]
    return callback.route == CALLBACK and callback.json["type"] == 4


async def test_not_enough_credits_names_the_price_and_the_balance(start: Starter) -> None:
    h = await start(ledger={"starting_credits": 30})
    iid = await h.send_sora(duration=15)  # standard-15s costs 45
    answer = await h.reply(iid)
    assert answer.flags & EPHEMERAL
    assert answer.content == "This needs 45 credits but the server only has 30."
    assert answered_before_deferring(h, iid)
    assert await h.job_count() == 0 and await h.balance() == 30
    assert h.apiframe_requests(GENERATE) == []


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ([string("prompt", "")], "prompt is empty"),
        ([string("prompt", "   \n\t ")], "prompt is empty"),
        ([string("prompt", "x" * 4001)], "too long (4,001 characters); the limit is 4,000"),
        (
            [string("prompt", "a cat"), integer("duration", 5)],
            "Duration must be one of 4, 8, 10, 12 or 15 seconds",
        ),
        (
            [string("prompt", "a cat"), string("aspect_ratio", "4:3")],
            "Aspect ratio must be 16:9 or 9:16",
        ),
        (
            [string("prompt", "a cat"), string("resolution", "ultra")],
            "Resolution must be standard or high",
        ),
    ],
    ids=["empty", "blank", "4001-chars", "duration-5", "aspect-4:3", "resolution-ultra"],
)
async def test_bad_options_in_a_raw_interaction_are_refused(
    start: Starter, options: list[dict[str, Any]], words: str
) -> None:
    h = await start()
    iid = await h.send_options(options)
    answer = await refused(h, iid)
    assert words in answer.content
    assert answered_before_deferring(h, iid)


async def test_a_file_that_is_not_an_image_is_refused(start: Starter) -> None:
    h = await start()
    notes = h.discord.cdn.add(b"shopping list: eggs, milk", "notes.txt", "text/plain")
    iid = await h.send_sora(start_image=notes)
    answer = await refused(h, iid)
    assert answer.content == "That file is not a PNG, JPEG or WebP image."
    assert answered_before_deferring(h, iid)
    assert h.apiframe_requests(UPLOAD) == []


async def test_text_bytes_behind_a_png_name_are_refused(start: Starter) -> None:
    h = await start()
    spoof = h.discord.cdn.add(b"definitely a cat picture, trust me", "cat.png", "image/png")
    iid = await h.send_sora(start_image=spoof)
    answer = await refused(h, iid)
    assert answer.content == "That file is not a PNG, JPEG or WebP image."
    # The bytes were fetched and judged (after a public defer), never handed to Apiframe.
    assert [r.status for r in h.discord.requests if r.path.startswith("/cdn/")] == [200]
    assert h.apiframe_requests(UPLOAD) == []


async def test_an_image_over_the_size_cap_is_refused_before_downloading(start: Starter) -> None:
    h = await start(jobs={"max_start_image_bytes": 4096})
    big = uncompressed_png(64, 64)
    assert len(big) > 4096
    iid = await h.send_sora(start_image=h.discord.cdn.add(big, "big.png", "image/png"))
    answer = await refused(h, iid)
    assert "The start image is too large" in answer.content and "limit is" in answer.content
    assert answered_before_deferring(h, iid)
    assert [r for r in h.discord.requests if r.path.startswith("/cdn/")] == []


async def test_an_expired_attachment_url_asks_for_the_image_again(start: Starter) -> None:
    h = await start()
    stale = h.discord.cdn.add(png(), "frame.png", "image/png", expires_in=1)
    h.discord.advance(5)
    iid = await h.send_sora(start_image=stale)
    answer = await refused(h, iid)
    assert "couldn't download that image" in answer.content
    assert "attach it again" in answer.content
    assert [r.status for r in h.discord.requests if r.path.startswith("/cdn/")] == [404]
    assert h.apiframe_requests(UPLOAD) == []


async def test_a_member_over_the_in_flight_limit_is_told_how_many_run(start: Starter) -> None:
    h = await start(jobs={"max_in_flight_per_member": 2})
    h.apiframe.default_script = JobScript(processing_s=3600)
    first = await h.created_job(await h.send_sora("first"))
    second = await h.created_job(await h.send_sora("second"))
    for job in (first, second):
        await h.run_until(job.id, JobState.SUBMITTED, step=0)

    iid = await h.send_sora("third")
    answer = await h.reply(iid)
    assert answer.flags & EPHEMERAL
    assert answer.content.startswith("You have 2 videos in progress")
    assert answered_before_deferring(h, iid)
    assert await h.job_count() == 2
    assert await h.balance() == STARTING_CREDITS - first.price - second.price
    assert h.apiframe.created_count == 2

    # Another member is not held back by this member's jobs.
    other = await h.created_job(await h.send_sora("fourth", user_id=MEMBER + 1))
    assert other.user_id == MEMBER + 1


async def test_an_image_over_the_pixel_budget_is_refused_from_its_header(start: Starter) -> None:
    # 255 bytes whose header claims 8192 x 8192 (67 MP, a quarter of a gigabyte decoded). The
    # pixel data is a few zero bytes: had the bot tried to decode it, the answer would be the
    # "damaged" one, so the pixel message proves the refusal came from the header alone.
    h = await start()
    bomb = png_header_only(8192, 8192)
    iid = await h.send_sora(start_image=h.discord.cdn.add(bomb, "big.png", "image/png"))
    answer = await refused(h, iid)
    assert answer.content == (
        "The start image has too many pixels (8192 × 8192, 67.2 megapixels); the limit is "
        "16.7 megapixels. Please use a smaller image."
    )
    assert h.apiframe_requests(UPLOAD) == []


async def test_the_pixel_budget_is_the_operators_to_set(start: Starter) -> None:
    h = await start(jobs={"max_start_image_pixels": 160 * 90})
    over = h.discord.cdn.add(png(161, 90), "frame.png", "image/png")
    answer = await refused(h, await h.send_sora(start_image=over))
    assert answer.content == (
        "The start image has too many pixels (161 × 90, 14,490 pixels); the limit is 14,400 "
        "pixels. Please use a smaller image."
    )

    # Exactly the budget is fine: the image goes on to Apiframe and the job is made.
    at_budget = h.discord.cdn.add(png(160, 90), "frame.png", "image/png")
    job = await h.created_job(await h.send_sora(start_image=at_budget, aspect_ratio="16:9"))
    assert len(h.apiframe_requests(UPLOAD)) == 1
    assert job.start_image_url is not None
    assert await h.balance() == STARTING_CREDITS - job.price
