"""/sora end to end through the real discord.py client: the paths that end in a video."""

from __future__ import annotations

import itertools
import json
from typing import Any

from bot.delivery.cards import PROGRESS_ID
from bot.jobs.model import JobState
from tests.conftest import DISCORD_TOKEN
from tests.fakes.discord import FakeDiscord, RecordedRequest
from tests.fakes.discord_messages import buttons, card_text, card_texts, gallery_urls, is_v2
from tests.fakes.discord_validation import walk_components
from tests.sora_harness import (
    CALLBACK,
    CHANNEL_MESSAGES,
    GENERATE,
    LIST,
    MEMBER,
    ORIGINAL,
    POLL,
    SMALL_VIDEO,
    STARTING_CREDITS,
    UPLOAD,
    SoraHarness,
    Starter,
    png,
)

WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
#: Only the forced edit at submission happens: later polls are inside the throttle window,
#: so the next PATCH of the status message is the delivery itself.
NO_PROGRESS_EDITS = {"progress_edit_interval_seconds": 600}


def body_texts(body: dict[str, Any]) -> list[str]:
    """The text displays of a V2 message body, in order."""
    return [c["content"] for c in walk_components(body.get("components")) if c["type"] == 10]


def status_edits(fake: FakeDiscord, iid: int) -> list[RecordedRequest]:
    """Successful edits of the job's status card (not the final result) for one interaction."""
    return [
        r
        for r in fake.interaction_responses(iid)
        if r.method == "PATCH"
        and r.status == 200
        and isinstance(r.json, dict)
        and any(c.get("id") == PROGRESS_ID for c in r.json.get("components") or [])
    ]


async def submitted(h: SoraHarness, iid: int) -> str:
    """Wait for the job of ``iid`` to reach Apiframe and its status card to show; its id."""
    job = await h.created_job(iid)
    job = await h.run_until(job.id, JobState.SUBMITTED, step=0)
    # Both edits of the card: the cog's (via @original) and the scheduler's at submission.
    await h.until(
        lambda: {ORIGINAL, WEBHOOK_MESSAGE} <= {r.route for r in status_edits(h.discord, iid)},
        what="both status card edits",
    )
    return job.id


async def test_text_to_video_debits_the_exact_price_and_posts_the_video(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=30)
    prompt = "a paper boat sailing down a rainy city gutter, macro lens"
    iid = await h.send_sora(prompt, duration=8, aspect_ratio="9:16", resolution="high")

    await h.acked(iid)
    interaction = h.discord.interactions[iid]
    callback = h.discord.interaction_responses(iid)[0]
    assert (callback.route, callback.json, callback.status) == (CALLBACK, {"type": 5}, 200)
    assert callback.time - interaction.dispatched_at < 3.0

    job = await h.created_job(iid)
    price = h.services.settings.pricing["sora-2-pro"]["high-8s"]
    assert (job.price, price) == (40, 40)
    assert await h.balance() == STARTING_CREDITS - price
    assert (job.status_message_id, job.user_id) == (interaction.original_message_id, MEMBER)

    job = await h.run_until(job.id, JobState.DELIVERED, step=1.0, pause=0.1)

    generate = h.apiframe_requests(GENERATE)
    assert len(generate) == 1 and h.apiframe.created_count == 1
    assert generate[0].headers["Idempotency-Key"] == job.idempotency_key
    assert generate[0].json == {
        "prompt": prompt,
        "model": "sora-2-pro",
        "soraParams": {"duration": 8, "aspect_ratio": "9:16", "resolution": "high"},
    }
    assert job.apiframe_job_id in h.apiframe.jobs

    # Progress: many polls, few edits, never two within the configured interval.
    interval = h.services.settings.jobs.progress_edit_interval_seconds
    edits = status_edits(h.discord, iid)
    scheduled = [r for r in edits if r.route == WEBHOOK_MESSAGE]
    polls = len(h.apiframe_requests(LIST)) + len(h.apiframe_requests(POLL))
    assert polls >= 8 and 3 <= len(scheduled) < polls
    gaps = [b.time - a.time for a, b in itertools.pairwise(scheduled)]
    assert min(gaps) >= interval * 0.95, gaps
    assert {r.route for r in edits} <= {ORIGINAL, WEBHOOK_MESSAGE}
    assert all(r.json["flags"] & (1 << 15) and "content" not in r.json for r in scheduled)
    shown = [body_texts(r.json)[1] for r in scheduled]  # the bar, under the title
    assert shown[0].endswith(" 0%") and any(not p.endswith(" 0%") for p in shown), shown

    # The result replaces the status card: one public message with the MP4 and its card.
    public = h.channel_messages()
    assert [m.id for m in public] == [job.status_message_id]
    result = public[0]
    assert job.delivery_mode == "attachment" and job.delivered_message_id == result.id
    [video] = result.attachments
    assert video["filename"] == f"sora-{job.id}.mp4" and video["content_type"] == "video/mp4"
    assert len(h.discord.cdn.read(video["url"])) == SMALL_VIDEO
    # One V2 card: the uploaded MP4 inline, then prompt, model, options, cost and requester.
    assert is_v2(result) and result.content == "" and result.embeds == []
    assert gallery_urls(result) == [f"attachment://sora-{job.id}.mp4"]
    texts = card_texts(result)
    assert texts[0] == "### Your video is ready" and prompt in texts
    assert "**sora-2-pro · High · 8 s · 9:16**" in texts[2]
    assert f"Cost: 40 credits · Requested by <@{MEMBER}>" in texts[2]
    assert job.id in texts[3] and job.apiframe_job_id in texts[3]
    assert [label for label, _ in buttons(result)] == [
        "Reroll", "Edit prompt", "Extend", "Details", "Delete"]
    assert await h.journal() == [
        ("initial", STARTING_CREDITS, None),
        ("reserve", -price, job.id),
    ]
    assert job.interaction_token is None  # a credential is not kept after it is needed
    assert h.discord.validation_errors == []


async def test_image_to_video_rehosts_the_attachment_on_apiframe(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    image = png(128, 72)  # already 16:9, so it is uploaded byte for byte (no fitting)
    attachment = h.discord.cdn.add(image, "first-frame.png", "image/png")
    iid = await h.send_sora("the fox in the picture starts to run", start_image=attachment)

    job = await h.created_job(iid)
    job = await h.run_until(job.id, JobState.DELIVERED)

    cdn_reads = [r for r in h.discord.requests if r.path.startswith("/cdn/attachments/")]
    assert [r.status for r in cdn_reads] == [200]
    [upload] = h.apiframe_requests(UPLOAD)
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    [upload_id] = h.apiframe.uploads
    assert h.apiframe.uploads[upload_id] == image
    assert job.start_image_url == f"{h.apiframe.base_url}/cdn/uploads/{upload_id}"
    [generate] = h.apiframe_requests(GENERATE)
    assert generate.json["soraParams"]["start_image"] == job.start_image_url
    assert h.discord.base_url not in json.dumps(generate.json)
    assert await h.balance() == STARTING_CREDITS - job.price
    assert h.channel_messages()[0].attachments[0]["content_type"] == "video/mp4"
    assert h.discord.validation_errors == []


async def test_everyone_in_the_prompt_is_charged_but_never_pings(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=6)
    prompt = "@everyone look: a <@&123> cat and @here dancing"
    iid = await h.send_sora(prompt)

    job = await h.created_job(iid)
    job = await h.run_until(job.id, JobState.DELIVERED)

    assert await h.balance() == STARTING_CREDITS - job.price
    assert h.apiframe_requests(GENERATE)[0].json["prompt"] == prompt
    echoing = [
        r
        for r in h.discord.requests
        if r.method in ("POST", "PATCH") and "@everyone" in json.dumps(r.json)
    ]
    assert len(echoing) >= 2  # the status card and the result at least
    for request in echoing:
        assert request.json["allowed_mentions"]["parse"] == [], request.path
        assert not request.json["allowed_mentions"].get("users"), request.path
    for message in h.channel_messages():
        assert message.allowed_mentions is not None
        assert message.allowed_mentions["parse"] == []
    assert prompt in card_texts(h.channel_messages()[0])


async def test_result_over_the_upload_limit_is_posted_as_a_link(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    iid = await h.send_sora(attachment_size_limit=SMALL_VIDEO // 2)

    job = await h.created_job(iid)
    assert job.attachment_size_limit == SMALL_VIDEO // 2
    job = await h.run_until(job.id, JobState.DELIVERED)

    assert job.delivery_mode == "link"
    [result] = h.channel_messages()
    assert result.attachments == []
    url = f"{h.apiframe.base_url}/cdn/videos/{job.apiframe_job_id}.mp4"
    assert job.result_url == url and url in card_text(result)
    assert "larger than this server's upload limit" in card_text(result)
    assert is_v2(result) and card_texts(result)[0] == "### Your video is ready"
    assert gallery_urls(result) == []  # no attachment to show inline: the link instead
    assert not any(r.files for r in h.discord.requests)
    assert h.discord.validation_errors == []


async def test_discord_413_on_the_upload_falls_back_to_the_link(start: Starter) -> None:
    h = await start(jobs=NO_PROGRESS_EDITS)
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    iid = await h.send_sora()
    job_id = await submitted(h, iid)
    too_large = {"message": "Request entity too large", "code": 40005}
    h.discord.inject_status("PATCH", WEBHOOK_MESSAGE, 413, body=too_large)

    job = await h.run_until(job_id, JobState.DELIVERED, step=10)

    uploads = [r for r in h.discord.interaction_responses(iid) if r.files]
    assert [r.status for r in uploads] == [413]
    assert job.delivery_mode == "link"
    [result] = h.channel_messages()
    assert result.attachments == [] and job.result_url and job.result_url in card_text(result)
    assert "Discord refused the upload" in card_text(result)


async def test_discord_429_on_delivery_is_retried_and_delivered_once(start: Starter) -> None:
    h = await start(jobs=NO_PROGRESS_EDITS)
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    iid = await h.send_sora()
    job_id = await submitted(h, iid)
    h.discord.inject_rate_limit("PATCH", WEBHOOK_MESSAGE, retry_after=0.2)

    job = await h.run_until(job_id, JobState.DELIVERED, step=10)

    uploads = [r for r in h.discord.interaction_responses(iid) if r.files]
    assert [r.status for r in uploads] == [429, 200]
    assert job.delivery_mode == "attachment"
    [result] = h.channel_messages()
    assert len(result.attachments) == 1 and result.id == job.delivered_message_id
    assert h.apiframe.created_count == 1


async def test_after_the_token_expires_the_result_goes_to_the_channel(start: Starter) -> None:
    h = await start(jobs={"timeout_minutes": 60})
    h.apiframe.script_next_job(queued_s=1, processing_s=30)
    iid = await h.send_sora("@everyone a lighthouse in a storm")
    job_id = await submitted(h, iid)

    h.discord.advance(16 * 60)  # Discord's, discord.py's and the bot's clocks alike
    webhook_calls = len(h.discord.requests_to("*", "/webhooks/{a}/{b}/messages/{c}"))
    job = await h.run_until(job_id, JobState.DELIVERED, step=10)

    # Nothing was tried with the dead token: the bot knew it had expired.
    assert len(h.discord.requests_to("*", "/webhooks/{a}/{b}/messages/{c}")) == webhook_calls
    posts = h.discord.requests_to("POST", CHANNEL_MESSAGES)
    assert [r.status for r in posts] == [200]
    assert posts[0].headers["Authorization"] == "Bot <redacted>"
    assert DISCORD_TOKEN not in json.dumps(posts[0].json)
    result = h.discord.get_message(job.delivered_message_id or 0)
    assert result is not None and result.interaction_id is None
    assert f"Requested by <@{MEMBER}>" in card_text(result) and result.content == ""
    assert result.allowed_mentions is not None
    assert result.allowed_mentions["parse"] == []
    assert [int(u) for u in result.allowed_mentions["users"]] == [MEMBER]
    assert posts[0].json["enforce_nonce"] is True and result.nonce
    assert len(result.attachments) == 1
    assert "@everyone a lighthouse in a storm" in card_texts(result)
    # The old status card says where the video went instead of showing stale progress.
    status = h.discord.get_message(job.status_message_id or 0)
    assert status is not None and is_v2(status) and status.embeds == []
    assert "posted below" in card_text(status)
