"""Result buttons under a delivered video, clicked through the fake Discord (cogs/results.py)."""

from __future__ import annotations

import io
import json
import secrets
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import SoraBot, open_services
from bot.delivery import render
from bot.delivery.buttons import ACTION_NAMES, custom_id, parse_custom_id
from bot.delivery.frames import NoFrame, read_last_frame
from bot.jobs.model import Job, JobState
from cogs.results import DELETE_REFUSED, DELETED, NOT_ITS_MESSAGE, UNKNOWN_JOB
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_harness import connected_client
from tests.fakes.discord_messages import buttons
from tests.fakes.discord_models import PERMISSIONS
from tests.fakes.mp4 import DEFAULT_COLOURS
from tests.sora_harness import GENERATE, MEMBER, UPLOAD, SoraHarness, Starter, png

STRANGER = 2_000_000_000_000_000_777
MODAL = 9


async def delivered(h: SoraHarness, **sora: Any) -> tuple[Job, StoredMessage]:
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    iid = await h.send_sora(**sora)
    job = await h.created_job(iid)
    job = await h.run_until(job.id, JobState.DELIVERED)
    assert job.delivered_message_id is not None
    message = h.discord.get_message(job.delivered_message_id)
    assert message is not None
    return job, message


def button_ids(message: StoredMessage) -> list[str]:
    return [custom for _label, custom in buttons(message)]


async def click(
    h: SoraHarness, message: StoredMessage, action: str, job_id: str, *,
    user_id: int = MEMBER, **context: Any,
) -> int:
    iid, _token = await h.discord.send_component(
        h.guild, user_id, custom_id(action, job_id), message, **context
    )
    return iid


async def test_custom_ids_round_trip_and_refuse_foreign_ids() -> None:
    job_id = secrets.token_hex(16)
    for action in ACTION_NAMES:
        assert parse_custom_id(custom_id(action, job_id)) == (action, job_id)
    assert parse_custom_id(f"sora:p:approve:{job_id}") is None
    assert parse_custom_id(f"sora:r:reroll:{job_id}x") is None


async def test_delivered_video_carries_the_five_buttons(start: Starter) -> None:
    h = await start()
    job, message = await delivered(h)

    assert button_ids(message) == [custom_id(a, job.id) for a in ACTION_NAMES]
    assert [label for label, _custom in buttons(message)] == [
        "Reroll", "Edit prompt", "Extend", "Details", "Delete"]


async def test_details_is_ephemeral_with_prompt_price_and_ids(start: Starter) -> None:
    h = await start()
    prompt = "a lighthouse keeper feeding gulls " * 40  # longer than the result card shows
    job, message = await delivered(h, prompt=prompt.strip(), duration=8)

    iid = await click(h, message, "details", job.id, user_id=STRANGER)

    reply = await h.reply(iid, ephemeral=True)
    embed = reply.embeds[0]
    assert embed["description"] == prompt.strip()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Video"] == render.variant_text(job)
    assert fields["Price"] == render.credits(job.price)
    assert fields["Job"] == f"`{job.id}`"
    assert fields["Apiframe job"] == f"`{job.apiframe_job_id}`"
    assert "delivered <t:" in fields["Timings"]
    assert h.channel_messages()[-1].id == message.id  # nothing new in the channel


async def test_delete_refused_for_a_stranger_allowed_for_requester_and_moderator(
    start: Starter,
) -> None:
    h = await start()
    job, message = await delivered(h)
    balance = await h.balance()

    refused = await click(h, message, "delete", job.id, user_id=STRANGER)
    assert (await h.reply(refused)).content == DELETE_REFUSED
    assert h.discord.get_message(message.id) is not None

    allowed = await click(h, message, "delete", job.id)
    assert (await h.reply(allowed)).content == DELETED
    assert h.discord.get_message(message.id) is None
    assert await h.balance() == balance  # no refund

    other, other_message = await delivered(h)
    moderator = await click(h, other_message, "delete", other.id, user_id=STRANGER,
                            permissions=PERMISSIONS["MANAGE_MESSAGES"]
                            | PERMISSIONS["SEND_MESSAGES"] | PERMISSIONS["VIEW_CHANNEL"])
    assert (await h.reply(moderator)).content == DELETED
    assert h.discord.get_message(other_message.id) is None


async def test_a_delete_naming_another_job_deletes_nothing(start: Starter) -> None:
    h = await start()
    mine, my_message = await delivered(h)
    theirs, their_message = await delivered(h, user_id=STRANGER)
    assert theirs.user_id == STRANGER

    # A crafted interaction: the custom_id (and the buttons it claims to come from) name my
    # job, so I pass the permission check; the message it arrives on is someone else's video.
    forged = h.discord.message_json(their_message)
    forged["components"] = h.discord.message_json(my_message)["components"]
    crafted, _token = await h.discord.send_component(
        h.guild, MEMBER, custom_id("delete", mine.id), forged)

    assert (await h.reply(crafted)).content == NOT_ITS_MESSAGE
    assert h.discord.get_message(their_message.id) is not None
    assert h.discord.get_message(my_message.id) is not None
    assert h.discord.requests_to("DELETE", "/channels/{channel_id}/messages/{message_id}") == []


async def test_reroll_charges_again_with_the_same_settings_and_start_image(
    start: Starter,
) -> None:
    h = await start()
    image = h.discord.cdn.add(png(64, 36), "still.png", "image/png")
    job, message = await delivered(h, duration=8, aspect_ratio="16:9", resolution="high",
                                   start_image=image)
    uploads = len(h.apiframe_requests(UPLOAD))
    balance = await h.balance()

    iid = await click(h, message, "reroll", job.id)

    again = await h.created_job(iid)
    assert again.id != job.id
    assert (again.prompt, again.duration, again.aspect_ratio, again.resolution) == (
        job.prompt, job.duration, job.aspect_ratio, job.resolution)
    assert again.start_image_url == job.start_image_url
    assert len(h.apiframe_requests(UPLOAD)) == uploads  # reused, not uploaded again
    assert await h.balance() == balance - job.price
    await h.run_until(again.id, JobState.DELIVERED)


async def test_paid_buttons_are_the_requesters_unless_the_guild_opens_them(
    start: Starter,
) -> None:
    h = await start()
    job, message = await delivered(h)
    balance = await h.balance()

    refused = await click(h, message, "reroll", job.id, user_id=STRANGER)
    assert "Only <@" in (await h.reply(refused)).content
    assert await h.job_of(refused) is None
    assert await h.balance() == balance

    await h.services.rules.set_buttons_open(h.guild.id, True, actor="user:1")
    allowed = await click(h, message, "reroll", job.id, user_id=STRANGER)
    rerolled = await h.created_job(allowed)
    assert rerolled.user_id == STRANGER
    assert await h.balance() == balance - job.price


async def test_edit_prompt_opens_a_prefilled_modal_and_starts_the_new_prompt(
    start: Starter,
) -> None:
    h = await start()
    job, message = await delivered(h, prompt="a cat on a piano", duration=8)

    iid = await click(h, message, "edit", job.id)

    await h.acked(iid)
    callback = h.discord.interaction_responses(iid)[0].json
    assert callback["type"] == MODAL
    modal = callback["data"]
    inputs = [c for row in modal["components"]
              for c in row.get("components", [row.get("component")]) if c]
    assert len(inputs) == 1 and inputs[0]["value"] == "a cat on a piano"
    submitted = [{"type": 1, "components": [
        {"type": 4, "custom_id": inputs[0]["custom_id"], "value": "a dog on a piano"}]}]
    if modal["components"][0]["type"] == 18:  # a Label wrapping the input
        submitted = [{"type": 18, "component":
                      {"type": 4, "custom_id": inputs[0]["custom_id"],
                       "value": "a dog on a piano"}}]
    sid, _ = await h.discord.send_modal_submit(h.guild, MEMBER, modal["custom_id"], submitted)

    edited = await h.created_job(sid)
    assert (edited.prompt, edited.duration) == ("a dog on a piano", 8)


async def test_extend_uploads_the_last_frame_of_the_delivered_video(start: Starter) -> None:
    h = await start()
    job, message = await delivered(h, aspect_ratio="16:9")
    uploads_before = set(h.apiframe.uploads)

    iid = await click(h, message, "extend", job.id)

    extended = await h.created_job(iid)
    new = [data for key, data in h.apiframe.uploads.items() if key not in uploads_before]
    assert len(new) == 1
    frame = Image.open(io.BytesIO(new[0]))
    assert frame.format == "PNG" and frame.size == (64, 36)
    # The fake MP4's frames are solid colours; the last differs from the others. I_PCM keeps
    # the samples exact, so only the YCbCr round trip's rounding is left.
    pixel = frame.convert("RGB").getpixel((32, 18))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 4 for a, b in zip(pixel, DEFAULT_COLOURS[-1], strict=True))
    assert extended.start_image_url is not None
    assert (extended.duration, extended.aspect_ratio, extended.resolution) == (
        job.duration, job.aspect_ratio, job.resolution)
    await h.run_until(extended.id, JobState.SUBMITTED, step=0)
    generate = h.apiframe_requests(GENERATE)[-1]
    assert extended.start_image_url in json.dumps(generate.json)


async def test_a_button_of_an_unknown_job_gets_a_clear_answer(start: Starter) -> None:
    h = await start()
    job, message = await delivered(h)
    # As if the database had been restored from before the job: the message outlived its row.
    unknown = secrets.token_hex(16)
    wire = json.loads(json.dumps(h.discord.message_json(message)).replace(job.id, unknown))

    iid, _token = await h.discord.send_component(h.guild, MEMBER,
                                                 custom_id("reroll", unknown), wire)

    assert (await h.reply(iid)).content == UNKNOWN_JOB
    assert await h.job_of(iid) is None


async def test_buttons_work_after_a_full_restart(start: Starter) -> None:
    h = await start()
    job, message = await delivered(h)
    await h.bot.close()  # the first bot is gone: no view, no cache survives

    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(
            open_services(h.services.settings, h.services.clock))
        bot = SoraBot(services, run_jobs=True, guild_ready_timeout=0.1)
        await stack.enter_async_context(connected_client(h.discord, bot))
        second = SoraHarness(h.discord, h.apiframe, services, bot, h.guild)
        balance = await second.balance()

        details = await click(second, message, "details", job.id)
        assert job.id in str((await second.reply(details)).embeds[0]["fields"])

        reroll = await click(second, message, "reroll", job.id)
        again = await second.created_job(reroll)
        assert await second.balance() == balance - job.price
        done = await second.run_until(again.id, JobState.DELIVERED)
        assert done.delivered_message_id is not None


async def test_budget_limits_set_buttons_open_is_stored_and_shown(start: Starter) -> None:
    h = await start()
    moderator = 2_000_000_000_000_000_002
    h.guild.add_member(moderator, permissions="MANAGE_GUILD")
    option = {"name": "limits", "type": 2, "options": [{"name": "set", "type": 1, "options": [
        {"name": "buttons_open", "type": 5, "value": True}]}]}

    iid, _token = await h.discord.send_slash_command(h.guild, moderator, "budget",
                                                     options=[option])

    answer = await h.reply(iid, ephemeral=True)
    assert answer.content == "Saved."
    shown = {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}
    assert shown["Result buttons"] == "anyone"
    assert (await h.services.rules.get(h.guild.id)).buttons_open is True


def test_a_file_without_frames_is_refused_as_no_frame(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(64))

    with pytest.raises(NoFrame):
        read_last_frame(broken)
