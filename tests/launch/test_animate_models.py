""""Animate into video" with several models enabled: the private model step, each model's own
modal, and the start image in that model's field of the request Apiframe receives."""

from __future__ import annotations

from typing import Any

from bot.jobs.model import JobState
from cogs.animate import MENU_NAME
from cogs.animate_modal import NO_MODEL, PICK_MODEL
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_messages import card_texts
from tests.launch.test_animate import POSTER, PROMPT, answer, labelled
from tests.sora_harness import EPHEMERAL, GENERATE, MEMBER, STARTING_CREDITS, SoraHarness, png
from tests.support.lineup_sections import GROK, KLING, KLING_PRICES, SORA, VEO, several_models

STRING_SELECT = 3


def options_of(select: dict[str, Any]) -> list[str]:
    return [option["value"] for option in select["options"]]


async def pick_model(h: SoraHarness, target: StoredMessage, model: str
                     ) -> tuple[StoredMessage, dict[str, Any]]:
    """Open the menu on ``target``, choose ``model`` in the private step; its modal."""
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, target)
    step = await h.reply(iid)
    assert step.content == PICK_MODEL and step.flags & EPHEMERAL
    [select] = [c for row in step.components for c in row["components"]]
    pid, _ = await h.discord.send_component(h.guild, MEMBER, select["custom_id"], step,
                                            STRING_SELECT, values=[model])
    await h.acked(pid)
    modal = h.discord.interactions[pid].modal
    assert modal is not None, "choosing a model did not open its modal"
    return step, modal


async def submit(h: SoraHarness, modal: dict[str, Any], prompt: str = PROMPT,
                 **chosen: str) -> int:
    """Submit the modal with ``prompt`` and these selects (option name -> wire value)."""
    labels = [answer("prompt", value=prompt),
              *(answer(name, values=[value]) for name, value in chosen.items())]
    iid, _ = await h.discord.send_modal_submit(h.guild, MEMBER, modal["custom_id"], labels)
    return iid


def one_image(h: SoraHarness) -> StoredMessage:
    return h.discord.post_user_message(h.guild, POSTER, "a still", attachments=[
        h.discord.cdn.add(png(96, 54), "still.png", ephemeral=False)])


async def test_the_model_step_lists_only_models_that_take_an_image(start: Any) -> None:
    h = await start(**several_models())
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, one_image(h))
    step = await h.reply(iid)
    [select] = [c for row in step.components for c in row["components"]]
    # Grok Imagine makes video from text only: it cannot animate an image.
    assert options_of(select) == [SORA, VEO, KLING]
    labels = {o["value"]: (o["label"], o.get("description"), o.get("default"))
              for o in select["options"]}
    assert labels[KLING] == ("Kling 2.6", "20–40 credits", False)
    assert labels[SORA][2] is True  # the default model comes preselected
    assert h.discord.interactions[iid].modal is None
    assert await h.job_count() == 0


async def test_a_kling_job_from_a_message_image_puts_it_in_start_image(start: Any) -> None:
    h = await start(**several_models())
    _step, modal = await pick_model(h, one_image(h), KLING)

    assert modal["title"] == "Animate · Kling 2.6 · 20–40 credits"
    selects = {name: label["component"] for name, label in labelled(modal).items()
               if name != "prompt"}
    # Only Kling 2.6's own values: no resolution, no 8 s, no 4:3.
    assert {name: options_of(s) for name, s in selects.items()} == {
        "duration": ["5", "10"], "aspect_ratio": ["16:9", "9:16", "1:1"],
        "generate_audio": ["false", "true"]}
    assert [o.get("description") for o in selects["duration"]["options"]] == [
        "20 credits", "40 credits"]

    iid = await submit(h, modal, duration="10", aspect_ratio="1:1", generate_audio="true")
    job = await h.created_job(iid)
    assert (job.model, job.price) == (KLING, KLING_PRICES["10s"])
    assert job.options.params == {"duration": 10, "aspect_ratio": "1:1",
                                  "generate_audio": True}
    assert await h.balance() == STARTING_CREDITS - KLING_PRICES["10s"]

    job = await h.run_until(job.id, JobState.DELIVERED)
    body = h.apiframe_requests(GENERATE)[-1].json
    assert body["model"] == KLING
    assert body["klingParams"] == {"duration": 10, "aspect_ratio": "1:1",
                                   "generate_audio": True, "start_image": job.start_image_url}
    card = h.discord.get_message(job.delivered_message_id or 0)
    assert card is not None
    assert "**Kling 2.6 · 10 s · 1:1 · sound**" in card_texts(card)[2]
    assert h.discord.validation_errors == []


async def test_a_value_the_model_rejects_is_refused_privately_and_costs_nothing(
    start: Any,
) -> None:
    h = await start(**several_models())
    _step, modal = await pick_model(h, one_image(h), VEO)
    assert options_of(labelled(modal)["duration"]["component"]) == ["4", "6", "8"]

    # A raw submission with Sora's 10 s, which Veo does not make.
    iid = await submit(h, modal, duration="10")
    reply = await h.reply(iid)
    assert reply.flags & EPHEMERAL
    assert reply.content.startswith("Duration for Veo 3.1 Fast must be 4, 6 or 8 seconds")
    assert await h.job_count() == 0 and await h.balance() == STARTING_CREDITS
    assert h.apiframe.uploads == {}


async def test_one_image_model_needs_no_model_step(start: Any) -> None:
    h = await start(**several_models(GROK, KLING))
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, one_image(h))
    await h.acked(iid)
    modal = h.discord.interactions[iid].modal
    assert modal is not None and modal["title"].startswith("Animate · Kling 2.6")


async def test_no_model_that_takes_an_image_is_a_private_refusal(start: Any) -> None:
    h = await start(**several_models(GROK))
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, one_image(h))
    reply = await h.reply(iid)
    assert reply.content == NO_MODEL and reply.flags & EPHEMERAL
    assert h.discord.interactions[iid].modal is None
    assert await h.job_count() == 0
