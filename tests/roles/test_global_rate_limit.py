"""Discord's global rate limit is per bot token: every process behind one token shares it.

When it is hit mid-delivery, the bot waits as told (discord.py pauses every request of the
client behind one global lock) and the scheduler retries what discord.py gave up on, so every
video is still posted, exactly once (the channel post carries the job's enforced nonce).
"""

from __future__ import annotations

from bot.jobs.model import JobState
from tests.sora_harness import CHANNEL_MESSAGES, MEMBER, STARTING_CREDITS, Starter

JOBS = 4
PRICE = 12
WINDOW, RETRY_AFTER = 4.0, 0.25


async def test_global_429s_during_deliveries_delay_but_never_drop_a_video(
    start: Starter,
) -> None:
    h = await start(jobs={"max_in_flight_per_guild": 10, "max_in_flight_per_member": 10})
    iids = [await h.send_sora(f"a paper boat, take {n}", user_id=MEMBER + n)
            for n in range(JOBS)]
    jobs = [await h.created_job(iid) for iid in iids]
    # Past the interaction tokens' life: results go to the channel with the bot token, the
    # route the global limit covers (interaction webhooks are exempt from it).
    h.discord.advance(16 * 60)
    h.discord.limit_globally(WINDOW, retry_after=RETRY_AFTER)
    limited_from = h.discord.now()

    for job in jobs:
        await h.run_until(job.id, JobState.DELIVERED, timeout=30)

    posts = h.discord.requests_to("POST", CHANNEL_MESSAGES)
    refused = [r for r in posts if r.status == 429]
    assert refused, "the deliveries never met the global limit"
    # Backed off: each refusal made the client wait RETRY_AFTER before its next attempt,
    # so a few rounds over the window, not a storm of retries.
    assert h.discord.global_429s <= JOBS * (WINDOW / RETRY_AFTER + 2)
    accepted = [r for r in posts if r.status == 200]
    assert all(r.time >= limited_from + WINDOW - 0.05 for r in accepted)
    for job in jobs:
        shown = [m for m in h.channel_messages()
                 if any(a.get("filename") == f"sora-{job.id}.mp4" for a in m.attachments)]
        assert len(shown) == 1, f"job {job.id} posted {len(shown)} times"
    assert await h.balance() == STARTING_CREDITS - JOBS * PRICE
    assert sum(delta for _, delta, _ in await h.journal()) == await h.balance()
