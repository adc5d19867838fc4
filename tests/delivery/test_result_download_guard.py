"""Result downloads through both fakes: only allowed hosts, public addresses and real MP4s.

A refused download (host, redirect, address, not an MP4) is never retried and never posted as
a link: the job fails, the guild is refunded exactly once and the member is told plainly.
The test config allows 127.0.0.1 and loopback addresses explicitly (tests/conftest.py); each
test here narrows or sidesteps that on purpose.
"""

from __future__ import annotations

from yarl import URL

from bot.jobs.model import FailureKind, Job, JobState
from bot.launch.lastframe import VIDEO_REFUSED, VIDEO_TOO_LARGE
from tests.delivery.test_results import click, delivered
from tests.fakes.discord_messages import card_text
from tests.launch.test_sora_failures import refunded_once
from tests.sora_harness import MEMBER, SoraHarness, Starter

CDN = "GET /cdn/videos/{name}"


def elsewhere(h: SoraHarness) -> str:
    """The same fake server under another host name, which the test config does not allow."""
    return f"http://localhost:{URL(h.apiframe.base_url).port}"


async def finished_job(h: SoraHarness) -> Job:
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    job = await h.created_job(await h.send_sora())
    return await h.run_until(job.id, JobState.REFUNDED, JobState.DELIVERED)


async def refused(h: SoraHarness, job: Job) -> None:
    """Nothing posted, refunded once, one plain notice with no link in it."""
    assert job.state is JobState.REFUNDED, job.delivery_mode
    assert [m for m in h.discord.messages[h.guild.channel_id] if m.attachments] == []
    assert len(h.channel_messages()) == 1  # the status message, turned into the notice
    assert job.failure_kind is FailureKind.RESULT_REFUSED
    status = await refunded_once(h, job)
    assert "could not be retrieved safely" in card_text(status)
    assert "http" not in card_text(status) and "/cdn/" not in card_text(status)


async def test_a_result_url_on_a_host_not_allowed_is_never_fetched(start: Starter) -> None:
    h = await start()
    h.apiframe.result_base = elsewhere(h)

    job = await finished_job(h)

    await refused(h, job)
    assert h.apiframe_requests(CDN) == []


async def test_a_cdn_redirect_to_another_host_is_refused(start: Starter) -> None:
    h = await start()
    h.apiframe.cdn_redirect = elsewhere(h)

    job = await finished_job(h)

    await refused(h, job)
    # The first hop only: the redirect's target was never asked, and nothing was retried.
    assert [r.headers["Host"] for r in h.apiframe_requests(CDN)] == [
        URL(h.apiframe.base_url).raw_authority]


async def test_a_redirect_between_allowed_hosts_is_followed(start: Starter) -> None:
    h = await start(apiframe={"download_hosts": ["127.0.0.1", "localhost"]})
    h.apiframe.result_base = elsewhere(h)
    h.apiframe.cdn_redirect = h.apiframe.base_url

    job = await finished_job(h)

    assert job.state is JobState.DELIVERED and job.delivery_mode == "attachment"
    assert len(h.apiframe_requests(CDN)) == 2


async def test_an_allowed_host_resolving_to_loopback_is_refused(start: Starter) -> None:
    # "localhost" is allowed by name, but resolves to a loopback address, now not allowed.
    h = await start(apiframe={"download_hosts": ["127.0.0.1", "localhost"],
                              "allow_private_addresses": False})
    h.apiframe.result_base = elsewhere(h)

    job = await finished_job(h)

    await refused(h, job)
    assert h.apiframe_requests(CDN) == []  # refused before connecting


async def test_a_loopback_address_literal_is_refused(start: Starter) -> None:
    h = await start(apiframe={"allow_private_addresses": False})

    job = await finished_job(h)

    await refused(h, job)
    assert h.apiframe_requests(CDN) == []


async def test_a_body_that_is_not_an_mp4_is_not_posted(start: Starter) -> None:
    h = await start()
    h.apiframe.cdn_body = b"<html><body>router admin: password=hunter2</body></html>"

    job = await finished_job(h)

    await refused(h, job)
    assert len(h.apiframe_requests(CDN)) == 1  # not retried


async def test_extend_refuses_a_result_url_not_allowed(start: Starter) -> None:
    h = await start()
    job, message = await delivered(h)
    # As if delivered under an older, looser configuration: the stored URL is not allowed now.
    async with h.services.store.db.transaction() as tx:
        await tx.execute("UPDATE jobs SET result_url = ? WHERE id = ?",
                         (f"{elsewhere(h)}/cdn/videos/{job.apiframe_job_id}.mp4", job.id))
    balance, jobs, cdn = await h.balance(), await h.job_count(), len(h.apiframe_requests(CDN))

    iid = await click(h, message, "extend", job.id)

    answer = await h.reply(iid)
    assert answer.content == VIDEO_REFUSED
    assert await h.job_of(iid) is None and await h.job_count() == jobs
    assert await h.balance() == balance
    assert len(h.apiframe_requests(CDN)) == cdn


async def test_extend_refuses_a_video_over_its_own_cap(start: Starter) -> None:
    h = await start(apiframe={"extend_max_video_bytes": 32 * 1024})  # the video is 64 KiB
    job, message = await delivered(h)
    balance, jobs = await h.balance(), await h.job_count()

    iid = await click(h, message, "extend", job.id, user_id=MEMBER)

    answer = await h.reply(iid)
    assert answer.content == VIDEO_TOO_LARGE
    assert await h.job_of(iid) is None and await h.job_count() == jobs
    assert await h.balance() == balance
