"""Result buttons of jobs of other models than Sora: Reroll and Edit prompt run the job's own
model and options at that model's price, Extend puts the last frame into that model's image
field, and a model that takes no image has no Extend."""

from __future__ import annotations

import io
from contextlib import AsyncExitStack
from typing import Any

from PIL import Image

from bot.app import SoraBot, open_services
from bot.config import load_settings
from bot.delivery.buttons import custom_id
from bot.jobs.model import Job, JobState
from tests.delivery.test_results import MODAL, button_ids, click
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_harness import connected_client
from tests.fakes.discord_messages import card_texts
from tests.fakes.discord_validation import walk_components
from tests.launch.test_animate_models import one_image, pick_model, submit
from tests.sora_harness import FAST, GENERATE, MEMBER, UPLOAD, SoraHarness
from tests.support.lineup_sections import (
    GROK,
    GROK_PRICE,
    KLING,
    KLING_PRICES,
    SORA,
    VEO,
    VEO_PRICES,
    launch_model,
    several_models,
)


async def delivered_from_image(h: SoraHarness, model: str, **chosen: str
                               ) -> tuple[Job, StoredMessage]:
    """A job of ``model`` from a message image (the context menu), run to delivery."""
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    _step, modal = await pick_model(h, one_image(h), model)
    iid = await submit(h, modal, **chosen)
    job = await h.run_until((await h.created_job(iid)).id, JobState.DELIVERED)
    return job, delivered_message(h, job)


def delivered_message(h: SoraHarness, job: Job) -> StoredMessage:
    assert job.delivered_message_id is not None
    message = h.discord.get_message(job.delivered_message_id)
    assert message is not None
    return message


def block(h: SoraHarness, model: str, params: str) -> dict[str, Any]:
    """The parameter block of the last generate request, which must be for ``model``."""
    body = h.apiframe_requests(GENERATE)[-1].json
    assert body["model"] == model
    assert isinstance(body[params], dict)
    return body[params]


def card_variant(message: StoredMessage) -> str:
    """The result card's model and options line (bold, first line of its facts)."""
    facts = next(t for t in card_texts(message) if t.startswith("**"))
    return facts.splitlines()[0].strip("*")


async def test_reroll_of_a_kling_job_runs_kling_again_at_klings_price(start: Any) -> None:
    h = await start(**several_models())
    job, message = await delivered_from_image(h, KLING, duration="10", aspect_ratio="9:16")
    assert card_variant(message).startswith("Kling 2.6 · 10 s · 9:16")
    uploads, balance = len(h.apiframe_requests(UPLOAD)), await h.balance()

    iid = await click(h, message, "reroll", job.id)

    again = await h.created_job(iid)
    assert (again.model, again.options, again.price) == (KLING, job.options,
                                                         KLING_PRICES["10s"])
    assert await h.balance() == balance - KLING_PRICES["10s"]
    await h.run_until(again.id, JobState.SUBMITTED, step=0)
    assert block(h, KLING, "klingParams") == {**job.options.params,
                                              "start_image": job.start_image_url}
    assert len(h.apiframe_requests(UPLOAD)) == uploads  # the start image is reused


async def test_edit_prompt_of_a_veo_job_keeps_veo_and_its_options(start: Any) -> None:
    h = await start(**several_models())
    job, message = await delivered_from_image(h, VEO, duration="6", aspect_ratio="9:16")
    balance = await h.balance()

    iid = await click(h, message, "edit", job.id)
    await h.acked(iid)
    callback = h.discord.interaction_responses(iid)[0].json
    assert callback["type"] == MODAL
    modal = callback["data"]
    [row] = modal["components"]
    [text] = row.get("components", [row.get("component")])
    sid, _ = await h.discord.send_modal_submit(h.guild, MEMBER, modal["custom_id"], [
        {"type": 1, "components": [{"type": 4, "custom_id": text["custom_id"],
                                    "value": "the same dog, now at night"}]}])

    edited = await h.created_job(sid)
    assert (edited.model, edited.prompt, edited.price) == (
        VEO, "the same dog, now at night", VEO_PRICES["6s"])
    assert edited.options.params == job.options.params
    assert await h.balance() == balance - VEO_PRICES["6s"]
    await h.run_until(edited.id, JobState.SUBMITTED, step=0)
    assert block(h, VEO, "veoParams")["duration"] == 6
    # The audit trail names the model and only the options it has.
    texts = [event.text for event in await h.services.store.audit.events(h.guild.id)]
    assert any(f"started job `{edited.id}` (veo-3.1-fast, 720p, 6 s): -60 credits" in text
               for text in texts), texts
    assert any(f"Job `{job.id}` of <@{MEMBER}> (veo-3.1-fast) finished" in text
               for text in texts), texts


async def test_extend_of_a_veo_job_puts_the_last_frame_in_veos_image_field(start: Any) -> None:
    h = await start(**several_models())
    job, message = await delivered_from_image(h, VEO, duration="8", aspect_ratio="16:9")
    assert "extend" in [i.split(":")[2] for i in button_ids(message)]
    before = set(h.apiframe.uploads)

    iid = await click(h, message, "extend", job.id)

    extended = await h.created_job(iid)
    [frame] = [data for key, data in h.apiframe.uploads.items() if key not in before]
    assert Image.open(io.BytesIO(frame)).format == "PNG"
    assert (extended.model, extended.price) == (VEO, VEO_PRICES["8s"])
    assert extended.start_image_url not in (None, job.start_image_url)
    await h.run_until(extended.id, JobState.SUBMITTED, step=0)
    params = block(h, VEO, "veoParams")
    assert params["image"] == extended.start_image_url
    assert "start_image" not in params  # Veo's field is `image`, not Sora's or Kling's


async def test_a_grok_result_has_no_extend_and_rerolls_as_grok(start: Any) -> None:
    h = await start(**several_models())
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    job = await launch_model(h, GROK, "a paper boat on a river", {"duration": 10})
    job = await h.run_until(job.id, JobState.DELIVERED)
    message = delivered_message(h, job)

    assert [i.split(":")[2] for i in button_ids(message)] == [
        "reroll", "edit", "details", "delete"]
    assert card_variant(message) == "Grok Imagine · 10 s · 16:9"
    assert "klingParams" not in h.apiframe_requests(GENERATE)[-1].json

    # An Extend on a card posted before the button was left out: refused plainly.
    old_card = h.discord.message_json(message)
    [row] = [c for c in walk_components(old_card["components"]) if c["type"] == 1]
    row["components"].insert(2, {
        "type": 2, "style": 2, "label": "Extend", "custom_id": custom_id("extend", job.id)})
    refused, _ = await h.discord.send_component(h.guild, MEMBER, custom_id("extend", job.id),
                                                old_card)
    reply = await h.reply(refused)
    assert reply.content == "Grok Imagine does not take a start image, so its videos can't " \
                            "be extended."
    assert await h.job_of(refused) is None

    balance = await h.balance()
    iid = await click(h, message, "reroll", job.id)
    again = await h.created_job(iid)
    assert (again.model, again.price) == (GROK, GROK_PRICE)
    assert await h.balance() == balance - GROK_PRICE
    await h.run_until(again.id, JobState.SUBMITTED, step=0)
    assert block(h, GROK, "grokImagineVideoParams") == {"duration": 10, "aspect_ratio": "16:9"}


async def test_buttons_of_a_model_no_longer_offered_are_refused_naming_the_others(
    start: Any, write_config: Any,
) -> None:
    h = await start(**several_models())
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    job = await h.run_until((await launch_model(h, GROK, "a kite")).id, JobState.DELIVERED)
    message = delivered_message(h, job)
    await h.bot.close()

    # The operator drops Grok Imagine and restarts.
    sections = {name: dict(table) for name, table in FAST.items()} | several_models(SORA, VEO)
    settings = load_settings(write_config(**sections), env={})
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(open_services(settings, h.services.clock))
        bot = SoraBot(services, run_jobs=True, guild_ready_timeout=0.1)
        await stack.enter_async_context(connected_client(h.discord, bot))
        second = SoraHarness(h.discord, h.apiframe, services, bot, h.guild)
        balance = await second.balance()

        for action in ("reroll", "edit"):
            iid, _ = await h.discord.send_component(h.guild, MEMBER, custom_id(action, job.id),
                                                    message)
            reply = await second.reply(iid)
            assert reply.content == (
                "grok-imagine-video is not offered on this bot any more, so this video can't "
                "be made again with it. You can use sora-2-pro, Veo 3.1 Fast instead (/video).")
            assert await second.job_of(iid) is None
        assert await second.balance() == balance
