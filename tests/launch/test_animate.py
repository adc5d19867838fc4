"""The "Animate into video" message context menu with only Sora enabled (the seed's lineup), end
to end through the real discord.py client. Other models: test_animate_models.py."""

from __future__ import annotations

import io
from typing import Any

import discord
import pytest
from PIL import Image

from bot.jobs.model import JobState
from cogs.animate import MENU_NAME
from cogs.animate_views import NO_IMAGE
from tests.fakes.discord import StoredMessage
from tests.launch.test_validation import png_header_only
from tests.sora_harness import (
    EPHEMERAL,
    MEMBER,
    STARTING_CREDITS,
    UPLOAD,
    SoraHarness,
    Starter,
    png,
    uncompressed_png,
)

POSTER = 2_000_000_000_000_000_077
TEXT_INPUT, STRING_SELECT, LABEL, TEXT_DISPLAY = 4, 3, 18, 10
PROMPT = "the cat slowly turns its head toward the camera"


def labelled(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The modal's labels by their inner component's custom_id."""
    return {
        c["component"]["custom_id"]: c for c in modal["components"] if c["type"] == LABEL
    }


def answer(custom_id: str, *, value: str | None = None, values: list[str] | None = None
           ) -> dict[str, Any]:
    """A label as Discord sends it back in a MODAL_SUBMIT."""
    if value is not None:
        inner: dict[str, Any] = {"type": TEXT_INPUT, "custom_id": custom_id, "value": value}
    else:
        inner = {"type": STRING_SELECT, "custom_id": custom_id, "values": values or []}
    return {"type": LABEL, "component": inner}


def submission(prompt: str = PROMPT, *, duration: str = "8", aspect: str = "9:16",
               resolution: str = "standard", image: str | None = None) -> list[dict[str, Any]]:
    labels = [
        answer("prompt", value=prompt),
        answer("duration", values=[duration]),
        answer("aspect_ratio", values=[aspect]),
        answer("resolution", values=[resolution]),
    ]
    if image is not None:
        labels.append(answer("image", values=[image]))
    return labels


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def open_modal(h: SoraHarness, target: StoredMessage) -> tuple[int, dict[str, Any]]:
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, target)
    await h.acked(iid)
    modal = h.discord.interactions[iid].modal
    assert modal is not None, "the context menu did not answer with a modal"
    return iid, modal


async def test_the_menu_is_a_guild_only_message_command(start: Starter) -> None:
    h = await start()
    menu = h.bot.tree.get_command(MENU_NAME, type=discord.AppCommandType.message)
    assert menu is not None
    payload = menu.to_dict(h.bot.tree)
    assert payload["type"] == 3 and payload["contexts"] == [0]


async def test_two_images_modal_then_the_second_one_is_animated(start: Starter) -> None:
    h = await start()
    first, second = png(64, 48), png(90, 160)
    post = h.discord.post_user_message(h.guild, POSTER, "two shots", attachments=[
        h.discord.cdn.add(first, "first.png", ephemeral=False),
        h.discord.cdn.add(second, "second.jpg.png", ephemeral=False),
    ])
    _menu_iid, modal = await open_modal(h, post)

    # The modal: price range in the title, selects inside labels, a choice of image.
    assert modal["title"] == "Animate · sora-2-pro · 12–75 credits"
    labels = labelled(modal)
    assert set(labels) == {"prompt", "duration", "aspect_ratio", "resolution", "image"}
    prompt = labels["prompt"]["component"]
    assert (prompt["type"], prompt["style"], prompt["min_length"], prompt["max_length"]) == (
        TEXT_INPUT, 2, 1, 4000)
    durations = labels["duration"]["component"]["options"]
    assert [o["value"] for o in durations] == ["4", "8", "10", "12", "15"]
    assert durations[1]["description"] == "Standard 24 credits · High 40 credits"
    images = labels["image"]["component"]["options"]
    assert [o["value"] for o in images] == ["0", "1"]
    assert "second.jpg.png" in images[1]["label"]

    iid, _ = await h.discord.send_modal_submit(
        h.guild, MEMBER, modal["custom_id"], submission(image="1")
    )
    job = await h.created_job(iid)
    assert (job.prompt, job.duration, job.aspect_ratio, job.resolution, job.price) == (
        PROMPT, 8, "9:16", "standard", 24)
    assert job.start_image_url is not None
    assert len(h.apiframe_requests(UPLOAD)) == 1
    [uploaded] = h.apiframe.uploads.values()
    assert size_of(uploaded) == (90, 160)  # already 9:16, so uploaded as it was

    job = await h.run_until(job.id, JobState.DELIVERED)
    assert await h.balance() == STARTING_CREDITS - 24
    # The status message is the modal submit's public response, now the delivered video.
    assert any(m.interaction_id == iid and not m.ephemeral for m in h.channel_messages())
    assert h.discord.validation_errors == []


async def test_one_image_needs_no_choice(start: Starter) -> None:
    h = await start()
    post = h.discord.post_user_message(h.guild, POSTER, attachments=[
        h.discord.cdn.add(png(45, 80), "only.webp", content_type=None, ephemeral=False),
        h.discord.cdn.add(b"%PDF-1.4", "notes.pdf", "application/pdf", ephemeral=False),
    ])
    _, modal = await open_modal(h, post)
    assert "image" not in labelled(modal)
    iid, _ = await h.discord.send_modal_submit(h.guild, MEMBER, modal["custom_id"], submission())
    job = await h.created_job(iid)
    assert job.start_image_url is not None
    [uploaded] = h.apiframe.uploads.values()
    assert size_of(uploaded) == (45, 80)


async def test_an_embedded_discord_image_is_offered_and_used(start: Starter) -> None:
    h = await start()
    # Large and uncompressed, so it arrives over several reads.
    picture = h.discord.cdn.add(uncompressed_png(288, 512), "preview.png", ephemeral=False)
    foreign = {"image": {"url": "https://images.example.com/x.png"}}
    hosted = {"image": {"url": "https://elsewhere.example/y.png", "proxy_url": picture["url"]}}
    post = h.discord.post_user_message(h.guild, POSTER, "look", embeds=[foreign, hosted])
    _, modal = await open_modal(h, post)
    assert "image" not in labelled(modal), "only the Discord-hosted copy is offered"
    iid, _ = await h.discord.send_modal_submit(h.guild, MEMBER, modal["custom_id"], submission())
    job = await h.created_job(iid)
    assert job.start_image_url is not None
    [uploaded] = h.apiframe.uploads.values()
    assert size_of(uploaded) == (288, 512)


async def test_an_unreadable_embedded_image_is_refused_before_any_charge(start: Starter) -> None:
    h = await start()
    picture = h.discord.cdn.add(png(45, 80), "gone.png", ephemeral=False)
    broken = {"image": {"url": picture["url"].replace("hm=", "hm=0")}}
    post = h.discord.post_user_message(h.guild, POSTER, embeds=[broken])
    _, modal = await open_modal(h, post)
    iid, _ = await h.discord.send_modal_submit(h.guild, MEMBER, modal["custom_id"], submission())
    reply = await h.reply(iid)
    assert "couldn't download that embedded image" in reply.content
    assert await h.job_count() == 0 and await h.balance() == STARTING_CREDITS
    assert h.apiframe.uploads == {}
    # The public "thinking…" placeholder was removed, not left hanging in the channel.
    await h.until(lambda: not any(m.interaction_id == iid for m in h.channel_messages()))


async def test_a_message_without_an_image_gets_a_clear_ephemeral(start: Starter) -> None:
    h = await start()
    post = h.discord.post_user_message(
        h.guild, POSTER, "just words",
        attachments=[h.discord.cdn.add(b"hello", "notes.txt", "text/plain", ephemeral=False)],
        embeds=[{"image": {"url": "https://images.example.com/x.png"}}],
    )
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, post)
    reply = await h.reply(iid)
    assert reply.content == NO_IMAGE and reply.flags & EPHEMERAL
    assert h.discord.interactions[iid].modal is None
    assert await h.job_count() == 0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"duration": "7"}, "Duration for sora-2-pro must be 4, 8, 10, 12 or 15 seconds"),
        ({"duration": "four"}, "Duration for sora-2-pro must be"),
        ({"aspect": "1:1"}, "Aspect ratio for sora-2-pro must be 16:9 or 9:16"),
        ({"resolution": "ultra"}, "Resolution for sora-2-pro must be standard or high"),
        ({"prompt": "   "}, "prompt"),
        ({"image": "5"}, "Choose one of the message's 2 images"),
        ({"image": "-1"}, "Choose one of the message's 2 images"),
    ],
)
async def test_bad_modal_values_are_refused_and_nothing_is_charged(
    start: Starter, values: dict[str, str], expected: str
) -> None:
    h = await start()
    post = h.discord.post_user_message(h.guild, POSTER, attachments=[
        h.discord.cdn.add(png(), "a.png", ephemeral=False),
        h.discord.cdn.add(png(), "b.png", ephemeral=False),
    ])
    _, modal = await open_modal(h, post)
    fields = {"image": "0", **values}
    iid, _ = await h.discord.send_modal_submit(
        h.guild, MEMBER, modal["custom_id"], submission(**fields)
    )
    reply = await h.reply(iid)
    assert expected.lower() in reply.content.lower(), reply.content
    assert reply.flags & EPHEMERAL
    assert await h.job_count() == 0
    assert await h.balance() == STARTING_CREDITS
    assert h.apiframe.uploads == {}
    assert h.discord.validation_errors == []


async def test_an_image_over_the_pixel_budget_is_refused_from_the_menu_too(
    start: Starter,
) -> None:
    h = await start()
    post = h.discord.post_user_message(h.guild, POSTER, attachments=[
        h.discord.cdn.add(png_header_only(8192, 8192), "huge.png", ephemeral=False),
    ])
    _, modal = await open_modal(h, post)
    iid, _ = await h.discord.send_modal_submit(h.guild, MEMBER, modal["custom_id"], submission())
    reply = await h.reply(iid)
    assert reply.flags & EPHEMERAL
    assert reply.content.startswith("The start image has too many pixels (8192 × 8192")
    assert await h.job_count() == 0 and await h.balance() == STARTING_CREDITS
    assert h.apiframe.uploads == {}
    await h.until(lambda: not any(m.interaction_id == iid for m in h.channel_messages()))
