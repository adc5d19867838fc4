"""JobPublisher through the real discord.py client against the loopback fake Discord.

A test-only ``/probe`` command defers publicly, like ``/sora``, so every test starts from a
real interaction token and status message; jobs are built from those by hand (no database).
The publisher's clock is the fake's clock, so ``fake.advance`` moves both past 15 minutes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands

from bot.delivery import render
from bot.delivery.cards import LinkNote, Words, failure_plain
from bot.delivery.publisher import Delivered, JobPublisher, job_nonce
from bot.i18n.catalog import load as load_catalog
from bot.jobs.acks import OpenAck
from bot.jobs.model import FailureKind, Job, JobState
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.discord_harness import connected_client
from tests.fakes.discord_messages import card_text, card_texts, gallery_urls, is_v2
from tests.fakes.discord_models import StoredMessage
from tests.fakes.mp4 import build_mp4

USER_ID = 444_555_666_777_888_999
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
RESULT_URL = "https://cdn.apiframe.example/videos/af-1.mp4"
PROMPT = "@everyone <@&42> a fox " + "in deep snow " * 300
EXPIRE = 15 * 60 + 1
ONLY_REQUESTER = {"parse": [], "users": [USER_ID]}  # replied_user false is the default
NO_MENTIONS: dict[str, Any] = {"parse": []}


@dataclasses.dataclass(frozen=True)
class Probe:
    """What a /sora-like command knows right after its public defer."""

    interaction_id: int
    token: str
    expires_at: datetime
    status_message_id: int


@pytest.fixture
def guild(fake_discord: FakeDiscord) -> FakeGuild:
    return fake_discord.add_guild("Publisher Guild")


@pytest.fixture
async def bot(fake_discord: FakeDiscord, guild: FakeGuild) -> AsyncIterator[commands.Bot]:
    client = commands.Bot(command_prefix=commands.when_mentioned,
                          intents=discord.Intents.default(), guild_ready_timeout=0.1)
    async with connected_client(fake_discord, client):
        yield client
    assert fake_discord.response_schema_errors == []


@pytest.fixture
async def probe(
    fake_discord: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> Callable[..., Awaitable[Probe]]:
    deferred: asyncio.Queue[Probe] = asyncio.Queue()

    @bot.tree.command(name="probe", description="Defer like /sora")
    async def probe_command(interaction: discord.Interaction) -> None:
        response = await interaction.response.defer(thinking=True)
        assert response is not None and response.message_id is not None
        await deferred.put(Probe(interaction.id, interaction.token, interaction.expires_at,
                                 response.message_id))

    async def run(**context: Any) -> Probe:
        await fake_discord.send_slash_command(guild, USER_ID, "probe", **context)
        return await asyncio.wait_for(deferred.get(), 5)

    return run


@pytest.fixture
def publisher(fake_discord: FakeDiscord, bot: commands.Bot) -> JobPublisher:
    return JobPublisher(bot, token_margin=timedelta(seconds=60),
                        clock=lambda: fake_now(fake_discord))


def fake_now(fake: FakeDiscord) -> datetime:
    return datetime.fromtimestamp(fake.now(), UTC)


def make_job(fake: FakeDiscord, guild: FakeGuild, probe: Probe, **overrides: Any) -> Job:
    now = fake_now(fake)
    job = Job(
        id="f00dfeedcafebabe0123456789abcdef", guild_id=guild.id, channel_id=guild.channel_id,
        user_id=USER_ID, application_id=fake.application_id,
        interaction_id=probe.interaction_id, interaction_token=probe.token,
        token_expires_at=probe.expires_at, status_message_id=probe.status_message_id,
        attachment_size_limit=10 * 1024 * 1024, model="sora-2-pro", prompt=PROMPT, duration=8,
        aspect_ratio="16:9", resolution="standard", start_image_url=None, price=24,
        idempotency_key="sora-f00d", state=JobState.COMPLETED, apiframe_job_id="af-1",
        progress=100, progress_shown_at=None, result_url=RESULT_URL, failure_kind=None,
        failure_detail=None, delivery_mode=None, delivered_message_id=None, attempts=0,
        next_action_at=now, deadline_at=now + timedelta(minutes=20), created_at=now,
        submitted_at=now, finished_at=now, delivered_at=None, notified_at=None,
    )
    return dataclasses.replace(job, **overrides)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "result.mp4"
    path.write_bytes(build_mp4())
    return path


def channel_messages(fake: FakeDiscord, guild: FakeGuild) -> list[StoredMessage]:
    return list(fake.messages[guild.channel_id])


def status_message(fake: FakeDiscord, probe: Probe) -> StoredMessage:
    message = fake.get_message(probe.status_message_id)
    assert message is not None
    return message


# -- progress ----------------------------------------------------------------------------


async def test_progress_edits_the_status_message_until_the_token_runs_out(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started, state=JobState.SUBMITTED, progress=40,
                   result_url=None)
    assert status_message(fake_discord, started).loading

    assert await publisher.show_progress(job, now=fake_now(fake_discord))
    shown = status_message(fake_discord, started)
    assert not shown.loading and is_v2(shown) and card_texts(shown)[0] == "### Rendering"
    assert shown.embeds == [] and "40%" in card_texts(shown)[1]
    edit = fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE)
    assert [r.status for r in edit] == [200]
    assert edit[0].json["allowed_mentions"] == NO_MENTIONS

    fake_discord.advance(EXPIRE)
    assert not await publisher.show_progress(job, now=fake_now(fake_discord))
    assert len(fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE)) == 1  # not even tried
    assert len(channel_messages(fake_discord, guild)) == 1
    assert fake_discord.validation_errors == []


async def test_progress_refused_by_discord_is_reported_not_raised(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    bot: commands.Bot,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started, state=JobState.SUBMITTED, progress=10)
    # A clock that lags Discord's: the token looks usable here but Discord says 50027.
    lagging = JobPublisher(bot, token_margin=timedelta(0),
                           clock=lambda: fake_now(fake_discord) - timedelta(hours=1))
    fake_discord.advance(EXPIRE)
    assert not await lagging.show_progress(job, now=fake_now(fake_discord))
    assert [r.status for r in fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE)] == [401]

    second = await probe()
    fake_discord.remove_message(status_message(fake_discord, second))  # deleted by a moderator
    job = make_job(fake_discord, guild, second, state=JobState.SUBMITTED, progress=10)
    assert not await lagging.show_progress(job, now=fake_now(fake_discord))
    assert [r.status for r in fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE)] == [401, 404]

    third = await probe()
    job = make_job(fake_discord, guild, third, state=JobState.SUBMITTED, progress=10)
    # discord.py's webhook adapter gives up after five 429s in a row.
    fake_discord.inject_rate_limit("PATCH", WEBHOOK_MESSAGE, retry_after=0.01, times=5)
    assert not await lagging.show_progress(job, now=fake_now(fake_discord))
    statuses = [r.status for r in fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE)]
    assert statuses == [401, 404] + [429] * 5


# -- delivery while the token is usable --------------------------------------------------


async def test_deliver_attachment_edits_the_original_once_even_when_retried(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, video: Path,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started)

    first = await publisher.deliver(job, video=video)
    again = await publisher.deliver(job, video=video)

    assert first == again == Delivered("attachment", started.status_message_id)
    [message] = channel_messages(fake_discord, guild)
    assert message.id == started.status_message_id and not message.loading
    assert [a["filename"] for a in message.attachments] == [f"sora-{job.id}.mp4"]
    assert message.attachments[0]["content_type"] == "video/mp4"
    assert is_v2(message) and card_texts(message)[0] == "### Your video is ready"
    assert gallery_urls(message) == [f"attachment://sora-{job.id}.mp4"]
    edits = fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE)
    assert [(f.field, f.size) for f in edits[0].files] == [("files[0]", video.stat().st_size)]
    assert edits[0].json["allowed_mentions"] == NO_MENTIONS
    assert fake_discord.requests_to("POST", CHANNEL_MESSAGES) == []
    assert fake_discord.validation_errors == []


async def test_a_result_already_in_the_original_is_not_posted_again_after_expiry(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, video: Path,
) -> None:
    """A crash between editing the original and recording it, then a restart after expiry."""
    started = await probe()
    job = make_job(fake_discord, guild, started)
    first = await publisher.deliver(job, video=video)
    fake_discord.advance(EXPIRE)

    again = await publisher.deliver(job, video=video)

    assert again == first == Delivered("attachment", started.status_message_id)
    assert fake_discord.requests_to("POST", CHANNEL_MESSAGES) == []
    [message] = channel_messages(fake_discord, guild)
    assert [a["filename"] for a in message.attachments] == [f"sora-{job.id}.mp4"]


async def test_upload_refused_as_too_large_is_retried_as_a_link(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, video: Path,
) -> None:
    started = await probe(attachment_size_limit=1024)  # smaller than the video
    job = make_job(fake_discord, guild, started)

    delivered = await publisher.deliver(job, video=video)

    assert delivered == Delivered("link", started.status_message_id)
    assert [r.status for r in fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE)] == [413, 200]
    [message] = channel_messages(fake_discord, guild)
    assert message.attachments == []
    assert f"{render.link_note_upload_refused()}\n{RESULT_URL}" in card_texts(message)
    assert gallery_urls(message) == []
    assert fake_discord.validation_errors == []


async def test_link_with_note_and_a_deleted_status_message_goes_to_the_channel(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher,
) -> None:
    started = await probe()
    fake_discord.remove_message(status_message(fake_discord, started))
    job = make_job(fake_discord, guild, started)
    link = LinkNote(render.OVER_LIMIT, 10 * 1024 * 1024)
    note = render.link_note_too_large(10 * 1024 * 1024)

    delivered = await publisher.deliver(job, video=None, link=link)

    [message] = channel_messages(fake_discord, guild)
    assert delivered == Delivered("link", message.id)
    assert f"{note}\n{RESULT_URL}" in card_texts(message) and message.content == ""
    assert f"Requested by <@{USER_ID}>" in card_text(message)
    assert message.allowed_mentions == ONLY_REQUESTER


# -- delivery after the token expired ----------------------------------------------------


async def test_after_expiry_one_channel_message_pings_only_the_requester(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, video: Path,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started)
    fake_discord.advance(EXPIRE)

    first = await publisher.deliver(job, video=video)
    retry = await publisher.deliver(job, video=video)

    assert first == retry and first.mode == "attachment"
    status, posted = channel_messages(fake_discord, guild)  # the nonce kept it to one post
    assert posted.id == first.message_id
    assert is_v2(posted) and f"Requested by <@{USER_ID}>" in card_text(posted)
    assert [a["filename"] for a in posted.attachments] == [f"sora-{job.id}.mp4"]
    posts = fake_discord.requests_to("POST", CHANNEL_MESSAGES)
    assert len(posts) == 2
    for post in posts:
        assert post.json["nonce"] == job_nonce(job, "d") and len(post.json["nonce"]) <= 25
        assert post.json["enforce_nonce"] is True
        assert post.json["allowed_mentions"] == ONLY_REQUESTER
        assert post.headers["Authorization"] == "Bot <redacted>"
    assert fake_discord.requests_to("PATCH", WEBHOOK_MESSAGE) == []  # token not even tried
    # The stale progress card no longer claims to be rendering.
    assert status.id == started.status_message_id
    assert card_text(status) == render.status_retired_text(failed=False)
    assert is_v2(status) and status.embeds == []
    assert fake_discord.validation_errors == []


async def test_channel_upload_over_the_guild_limit_becomes_a_link(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, video: Path,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started)
    guild.filesize_limit = 1024
    fake_discord.advance(EXPIRE)

    delivered = await publisher.deliver(job, video=video)

    assert delivered.mode == "link"
    assert [r.status for r in fake_discord.requests_to("POST", CHANNEL_MESSAGES)] == [413, 200]
    posted = channel_messages(fake_discord, guild)[-1]
    assert posted.id == delivered.message_id and posted.attachments == []
    assert render.link_note_upload_refused() in card_text(posted)
    assert RESULT_URL in card_text(posted)


async def test_rate_limited_channel_post_is_retried_by_discord_py(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, video: Path,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started)
    fake_discord.advance(EXPIRE)
    fake_discord.inject_rate_limit("POST", CHANNEL_MESSAGES, retry_after=0.05)

    delivered = await publisher.deliver(job, video=video)

    assert delivered.mode == "attachment"
    posts = fake_discord.requests_to("POST", CHANNEL_MESSAGES)
    assert [r.status for r in posts] == [429, 200]
    assert [f.size for f in posts[1].files] == [video.stat().st_size]  # the file re-sent whole
    assert len(channel_messages(fake_discord, guild)) == 2


async def test_channel_forbidden_sends_the_requester_a_dm_with_the_fix(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, video: Path,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started)
    fake_discord.advance(EXPIRE)
    fake_discord.deny_channel_permission(guild.channel_id, "SEND_MESSAGES")

    delivered = await publisher.deliver(job, video=video)

    [dm] = fake_discord.dm_messages(USER_ID)
    assert delivered == Delivered("dm", dm.id)
    assert RESULT_URL in dm.content and render.permission_hint(guild.channel_id) in dm.content
    assert [r.status for r in fake_discord.requests_to("POST", CHANNEL_MESSAGES)] == [403, 200]
    assert fake_discord.validation_errors == []


async def test_no_channel_and_no_dm_is_undeliverable(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started)
    fake_discord.advance(EXPIRE)
    fake_discord.deny_channel_permission(guild.channel_id, "VIEW_CHANNEL")
    fake_discord.dms_closed.add(USER_ID)

    delivered = await publisher.deliver(job, video=None)

    assert delivered == Delivered("undeliverable", None)
    assert fake_discord.dm_messages(USER_ID) == []


@pytest.mark.parametrize("fault", ["cloudflare-429", "400"])
async def test_other_errors_propagate_for_the_scheduler_to_retry(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, fault: str,
) -> None:
    started = await probe()
    job = make_job(fake_discord, guild, started)
    fake_discord.advance(EXPIRE)
    # (discord.py itself retries 5xx after 1 s, 3 s, …: too slow to wait for here.)
    if fault == "cloudflare-429":  # no Via header: discord.py raises at once
        fake_discord.inject_rate_limit("POST", CHANNEL_MESSAGES, retry_after=0.05, via=False)
    else:
        fake_discord.inject_status("POST", CHANNEL_MESSAGES, status=400,
                                   body={"message": "Bad request", "code": 0})

    with pytest.raises(discord.HTTPException) as caught:
        await publisher.deliver(job, video=None)

    assert caught.value.status == (429 if fault == "cloudflare-429" else 400)
    assert started.token not in str(caught.value)
    assert fake_discord.dm_messages(USER_ID) == []  # not mistaken for a permission problem
    assert len(channel_messages(fake_discord, guild)) == 1  # only the status message


# -- failure notices ---------------------------------------------------------------------


def failed(job: Job) -> Job:
    return dataclasses.replace(job, state=JobState.REFUNDED, result_url=None,
                               failure_kind=FailureKind.CONTENT_POLICY,
                               failure_detail="internal: moderation flagged")


async def test_failure_notice_edits_the_original_while_the_token_is_usable(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher,
) -> None:
    started = await probe()
    job = failed(make_job(fake_discord, guild, started))
    assert await publisher.show_progress(job, now=fake_now(fake_discord))

    await publisher.notify_failure(job)

    [message] = channel_messages(fake_discord, guild)
    assert message.id == started.status_message_id
    assert is_v2(message) and message.content == "" and message.embeds == []
    assert "content policy rejected this prompt" in card_text(message)
    assert f"{job.price} credits were refunded to this server." in card_texts(message)
    assert "moderation" not in card_text(message)
    assert fake_discord.validation_errors == []


async def test_failure_notice_after_expiry_is_one_channel_message(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher,
) -> None:
    started = await probe()
    job = failed(make_job(fake_discord, guild, started))
    fake_discord.advance(EXPIRE)

    await publisher.notify_failure(job)
    await publisher.notify_failure(job)

    status, posted = channel_messages(fake_discord, guild)
    assert is_v2(posted) and f"Requested by <@{USER_ID}>" in card_text(posted)
    assert "credits were refunded" in card_text(posted)
    assert posted.allowed_mentions == ONLY_REQUESTER
    assert posted.nonce == job_nonce(job, "f") != job_nonce(job, "d")
    assert card_text(status) == render.status_retired_text(failed=True)
    assert fake_discord.validation_errors == []


async def test_failure_notice_falls_back_to_a_dm_and_then_only_logs(
    fake_discord: FakeDiscord, guild: FakeGuild, probe: Callable[..., Awaitable[Probe]],
    publisher: JobPublisher, caplog: pytest.LogCaptureFixture,
) -> None:
    started = await probe()
    job = failed(make_job(fake_discord, guild, started))
    text = failure_plain(job, Words(load_catalog(), None))
    fake_discord.advance(EXPIRE)
    fake_discord.deny_channel_permission(guild.channel_id, "SEND_MESSAGES")

    await publisher.notify_failure(job)
    [dm] = fake_discord.dm_messages(USER_ID)
    assert dm.content == f"{text}\n\n{render.permission_hint(guild.channel_id)}"

    fake_discord.dms_closed.add(USER_ID)
    other = dataclasses.replace(job, id="0" * 32)
    await publisher.notify_failure(other)  # must not raise
    assert len(fake_discord.dm_messages(USER_ID)) == 1
    assert "could not be delivered anywhere" in caplog.text
    assert job.interaction_token is not None and job.interaction_token not in caplog.text


async def test_a_lost_request_is_explained_in_the_language_its_member_used(
    fake_discord: FakeDiscord, probe: Callable[..., Awaitable[Probe]], bot: commands.Bot,
) -> None:
    """A restart lost the request between its "thinking…" and its job: the placeholder says
    nothing was charged, in the locale the acknowledgement noted (English without one)."""
    publisher = JobPublisher(bot, token_margin=timedelta(seconds=60),
                             clock=lambda: fake_now(fake_discord), texts=load_catalog())
    for locale, words in (("de", "Es wurde nichts abgebucht"), (None, render.ORPHAN_TEXT)):
        started = await probe(locale=locale or "en-US")
        await publisher.retire_orphan(OpenAck(started.interaction_id, fake_discord.application_id,
                                              started.token, started.expires_at, locale))
        placeholder = fake_discord.get_message(started.status_message_id)
        assert placeholder is not None and words in placeholder.content
    assert fake_discord.validation_errors == []
