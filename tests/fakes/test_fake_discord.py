"""The fake Discord driven by the real discord.py 2.7.1 client: flows, clocks and faults."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.discord_harness import connected_client
from tests.fakes.discord_models import RecordedFile

USER_ID = 1_111_111_111_111_111_111
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(2000)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
FOLLOWUP = "/webhooks/{webhook_id}/{webhook_token}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(token="test-token")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    return fake.add_guild("Test Guild")


@pytest.fixture
async def bot(fake: FakeDiscord, guild: FakeGuild) -> AsyncIterator[commands.Bot]:
    client = commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        guild_ready_timeout=0.1,
    )
    async with connected_client(fake, client):
        yield client
    assert fake.response_schema_errors == []


async def until(predicate: Callable[[], bool], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def outcome() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def text_channel(bot: commands.Bot, guild: FakeGuild) -> discord.TextChannel:
    channel = bot.get_channel(guild.channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_client_logs_in_and_builds_the_guild_from_ready(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    built = bot.get_guild(guild.id)
    assert built is not None and built.name == "Test Guild"
    assert built.me is not None and built.me.id == fake.bot_id
    perms = text_channel(bot, guild).permissions_for(built.me)
    assert perms.send_messages and perms.attach_files and perms.embed_links
    assert bot.application_id == fake.application_id
    assert fake.identify_payloads[0]["token"] == "test-token"
    login = fake.requests[:2]
    assert [r.path for r in login] == ["/api/v10/users/@me", "/api/v10/oauth2/applications/@me"]
    assert {r.headers["Authorization"] for r in login} == {"Bot <redacted>"}
    assert fake.validation_errors == []


async def test_defer_edit_followup_with_file_and_channel_message(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    done = outcome()

    @bot.tree.command(name="sora", description="Make a video")
    async def sora(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content=f"Rendering: {prompt}")
        clip = discord.File(io.BytesIO(VIDEO), filename="clip.mp4")
        sent = await interaction.followup.send("Done", file=clip, wait=True)
        assert isinstance(interaction.channel, discord.TextChannel)
        await interaction.channel.send("Also posted here")
        done.set_result((interaction, sent))

    options = [{"name": "prompt", "type": 3, "value": "a cat"}]
    iid, _ = await fake.send_slash_command(guild, USER_ID, "sora", options=options)
    interaction, followup = await asyncio.wait_for(done, 5)

    traffic = fake.interaction_responses(iid)
    assert [(r.method, r.route, r.status) for r in traffic] == [
        ("POST", CALLBACK, 200),
        ("PATCH", ORIGINAL, 200),
        ("POST", FOLLOWUP, 200),
    ]
    assert traffic[0].json == {"type": 5} and traffic[0].query["with_response"] == "1"
    assert traffic[2].files == [
        RecordedFile("files[0]", "clip.mp4", "application/octet-stream", len(VIDEO))
    ]
    assert traffic[2].json["attachments"] == [{"id": 0, "filename": "clip.mp4"}]
    stored = fake.messages[guild.channel_id]
    assert [m.content for m in stored] == ["Rendering: a cat", "Done", "Also posted here"]
    assert stored[1].attachments[0]["content_type"] == "video/mp4"
    assert await followup.attachments[0].read() == VIDEO  # through the fake CDN
    assert interaction.user.id == USER_ID and interaction.guild_id == guild.id
    assert interaction.filesize_limit == 10 * 1024 * 1024
    assert fake.validation_errors == []


async def test_callback_after_three_seconds_is_unknown_interaction(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    go, done = asyncio.Event(), outcome()

    @bot.tree.command(name="slow", description="Too slow to answer")
    async def slow(interaction: discord.Interaction) -> None:
        await go.wait()
        try:
            await interaction.response.defer()
        except discord.NotFound as exc:
            done.set_result(exc)

    await fake.send_slash_command(guild, USER_ID, "slow")
    fake.advance(3.5)
    go.set()
    error = await asyncio.wait_for(done, 5)
    assert (error.status, error.code) == (404, 10062)


async def test_token_expires_after_fifteen_minutes_and_channel_send_still_works(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    go, done = asyncio.Event(), outcome()

    @bot.tree.command(name="long", description="A long job")
    async def long_job(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await go.wait()
        try:
            await interaction.edit_original_response(content="finished")
        except discord.HTTPException as exc:
            assert isinstance(interaction.channel, discord.TextChannel)
            await interaction.channel.send("finished (posted with the bot token)")
            done.set_result(exc)

    iid, _ = await fake.send_slash_command(guild, USER_ID, "long")
    await until(lambda: fake.interactions[iid].acknowledged)
    fake.advance(15 * 60 + 1)
    go.set()
    error = await asyncio.wait_for(done, 5)
    assert (error.status, error.code) == (401, 50027)
    loading, fallback = fake.messages[guild.channel_id]
    assert loading.loading and fallback.content == "finished (posted with the bot token)"


async def test_backdated_interaction_answered_with_a_file_then_edited(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    seen = outcome()

    @bot.tree.command(name="old", description="An old interaction")
    async def old(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("hi", file=discord.File(io.BytesIO(PNG), "a.png"))
        sent = await interaction.original_response()
        more = discord.File(io.BytesIO(VIDEO), "b.mp4")
        await interaction.edit_original_response(attachments=[*sent.attachments, more])
        seen.set_result(interaction)

    before = fake.now()
    iid, _ = await fake.send_slash_command(guild, USER_ID, "old", age=14 * 60)
    interaction = await asyncio.wait_for(seen, 5)
    assert abs(interaction.created_at.timestamp() - (before - 14 * 60)) < 1
    assert 50 < (interaction.expires_at.timestamp() - before) < 70
    (message,) = fake.messages[guild.channel_id]
    assert [a["filename"] for a in message.attachments] == ["a.png", "b.mp4"]
    edit = fake.interaction_responses(iid)[-1]
    assert edit.method == "PATCH" and [f.field for f in edit.files] == ["files[0]"]
    kept = message.attachments[0]["id"]
    assert [str(a["id"]) for a in edit.json["attachments"]] == [kept, "0"]
    assert fake.validation_errors == []


async def test_files_over_the_limit_get_413(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    done = outcome()

    @bot.tree.command(name="big", description="Too big")
    async def big(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        try:
            await interaction.followup.send(file=discord.File(io.BytesIO(bytes(2048)), "big.mp4"))
        except discord.HTTPException as exc:
            done.set_result((interaction.filesize_limit, exc))

    await fake.send_slash_command(guild, USER_ID, "big", attachment_size_limit=1024)
    limit, error = await asyncio.wait_for(done, 5)
    assert limit == 1024 and (error.status, error.code) == (413, 40005)

    guild.filesize_limit = 1024
    with pytest.raises(discord.HTTPException) as info:
        await text_channel(bot, guild).send(file=discord.File(io.BytesIO(bytes(2048)), "x.mp4"))
    assert (info.value.status, info.value.code) == (413, 40005)
    assert [m.loading for m in fake.messages[guild.channel_id]] == [True]


async def test_rate_limit_with_via_is_retried_and_without_is_a_ban(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    channel = text_channel(bot, guild)
    fake.inject_rate_limit("POST", CHANNEL_MESSAGES, retry_after=0.1)
    await channel.send("after the limit")
    assert [r.status for r in fake.requests_to("POST", CHANNEL_MESSAGES)] == [429, 200]
    assert [m.content for m in fake.messages[guild.channel_id]] == ["after the limit"]

    fake.inject_rate_limit("POST", CHANNEL_MESSAGES, retry_after=0.1, via=False)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("banned")
    assert info.value.status == 429


async def test_server_error_is_retried(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    fake.inject_status("POST", CHANNEL_MESSAGES, status=502)
    await text_channel(bot, guild).send("eventually")
    assert [r.status for r in fake.requests_to("POST", CHANNEL_MESSAGES)] == [502, 200]


async def test_denied_permission_is_forbidden_and_visible_to_the_bot(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    fake.deny_channel_permission(guild.channel_id, "SEND_MESSAGES")
    await fake.push_channel_update(guild.channel_id)
    channel = text_channel(bot, guild)
    await until(lambda: not channel.permissions_for(channel.guild.me).send_messages)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("hello?")
    assert info.value.code == 50013
    seen = outcome()

    @bot.tree.command(name="perm", description="Check permissions")
    async def perm(interaction: discord.Interaction) -> None:
        seen.set_result(interaction.app_permissions)
        await interaction.response.send_message("checked", ephemeral=True)

    await fake.send_slash_command(guild, USER_ID, "perm")
    app_permissions = await asyncio.wait_for(seen, 5)
    assert not app_permissions.send_messages and app_permissions.attach_files
    await until(lambda: len(fake.messages[guild.channel_id]) == 1)
    assert fake.messages[guild.channel_id][0].ephemeral


async def test_enforced_nonce_creates_one_message(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    channel = text_channel(bot, guild)
    first = await channel.send("video ready", nonce="job-42")
    second = await channel.send("video ready", nonce="job-42")
    assert first.id == second.id
    assert len(fake.messages[guild.channel_id]) == 1
    assert len(fake.requests_to("POST", CHANNEL_MESSAGES)) == 2


async def test_embed_over_the_limit_is_invalid_form_body(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    with pytest.raises(discord.HTTPException) as info:
        await text_channel(bot, guild).send(embed=discord.Embed(title="t" * 257))
    assert (info.value.status, info.value.code) == (400, 50035)
    assert len(fake.validation_errors) == 1 and "embeds.0.title" in fake.validation_errors[0]


async def test_tree_sync_is_a_valid_put_and_ids_carry_into_interactions(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    used = outcome()

    @app_commands.command(name="sora", description="Generate a video")
    @app_commands.describe(prompt="What to film", image="Optional start frame")
    @app_commands.default_permissions(send_messages=True)
    async def sora(
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        image: discord.Attachment | None = None,
    ) -> None:
        used.set_result(interaction.command)
        await interaction.response.send_message("ok")

    @sora.autocomplete("prompt")
    async def suggest(interaction: discord.Interaction, current: str) -> list[Any]:
        return [app_commands.Choice(name=f"{current} at dusk", value=f"{current} at dusk")]

    scope = discord.Object(guild.id)
    bot.tree.add_command(sora, guild=scope)
    synced = await bot.tree.sync(guild=scope)
    assert await bot.tree.sync() == []
    puts = fake.requests_to("PUT", "/applications/{app}/guilds/{guild}/commands")
    assert [r.status for r in puts] == [200]
    assert [o["name"] for o in puts[0].json[0]["options"]] == ["prompt", "image"]
    assert [c.name for c in synced] == ["sora"] and fake.commands[None] == []
    assert synced[0].id == int(fake.commands[guild.id][0]["id"])
    with pytest.raises(discord.Forbidden) as info:
        await bot.tree.sync(guild=discord.Object(1234))  # a guild the app is not in
    assert info.value.code == 50001
    iid, _ = await fake.send_slash_command(
        guild, USER_ID, "sora", options=[{"name": "prompt", "type": 3, "value": "x"}]
    )
    assert await asyncio.wait_for(used, 5) is sora
    assert fake.interactions[iid].payload["data"]["id"] == str(synced[0].id)
    typing = [{"name": "prompt", "type": 3, "value": "a cat", "focused": True}]
    ac_id, _ = await fake.send_autocomplete(guild, USER_ID, "sora", typing)
    await until(lambda: fake.interactions[ac_id].acknowledged)
    assert fake.interactions[ac_id].autocomplete_choices == [
        {"name": "a cat at dusk", "value": "a cat at dusk"}
    ]
    assert fake.validation_errors == []


async def test_attachment_option_and_expiring_cdn_url(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    go, done = asyncio.Event(), outcome()
    frame = fake.cdn.add(PNG, "frame.png", "image/png", expires_in=60, width=2, height=2)

    @bot.tree.command(name="animate", description="Animate an image")
    async def animate(interaction: discord.Interaction, image: discord.Attachment) -> None:
        await interaction.response.defer()
        first = await image.read()
        await go.wait()
        try:
            await image.read()
        except discord.NotFound as exc:
            done.set_result((image, first, exc))

    options = [{"name": "image", "type": 11, "value": frame}]
    await fake.send_slash_command(guild, USER_ID, "animate", options=options)
    await until(lambda: len(fake.requests_to("GET", "/cdn/attachments/{c}/{a}/{f}")) == 1)
    fake.advance(61)
    go.set()
    image, first, error = await asyncio.wait_for(done, 5)
    assert first == PNG and error.status == 404
    assert image.ephemeral and image.content_type == "image/png" and image.width == 2
    cdn = fake.requests_to("GET", "/cdn/attachments/{c}/{a}/{f}")
    assert [r.status for r in cdn] == [200, 404]


async def test_first_followup_after_defer_replaces_the_loading_message(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    done = outcome()

    @bot.tree.command(name="quick", description="Defer then follow up")
    async def quick(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        first = await interaction.followup.send("first", wait=True)
        second = await interaction.followup.send("second", wait=True)
        done.set_result((first, second))

    fake.inject_rate_limit("POST", FOLLOWUP, retry_after=0.05)  # the webhook adapter retries too
    iid, _ = await fake.send_slash_command(guild, USER_ID, "quick")
    first, second = await asyncio.wait_for(done, 5)
    assert [r.status for r in fake.interaction_responses(iid)] == [200, 429, 200, 200]
    assert first.id == fake.interactions[iid].original_message_id != second.id
    assert [m.content for m in fake.messages[guild.channel_id]] == ["first", "second"]


async def test_context_menu_button_and_modal(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    post = fake.post_user_message(
        guild, USER_ID, "look", attachments=[fake.cdn.add(PNG, "cat.png", ephemeral=False)]
    )
    submitted = outcome()

    class PromptModal(discord.ui.Modal, title="Describe the motion"):
        prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Prompt", custom_id="prompt"
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            submitted.set_result(self.prompt.value)
            await interaction.response.send_message("queued")

    async def go(interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content="Rendering…", view=None)

    @app_commands.context_menu(name="Animate this image")
    async def animate(interaction: discord.Interaction, message: discord.Message) -> None:
        view = discord.ui.View()
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(label="Go", custom_id="go")
        button.callback = go  # type: ignore[method-assign]
        view.add_item(button)
        await interaction.response.send_message(f"{len(message.attachments)} image(s)", view=view)

    @bot.tree.command(name="describe", description="Open a form")
    async def describe(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(PromptModal(custom_id="describe-modal"))

    bot.tree.add_command(animate)
    menu_id, _ = await fake.send_context_menu(guild, USER_ID, "Animate this image", post)
    await until(lambda: fake.interactions[menu_id].acknowledged)
    reply = fake.messages[guild.channel_id][0]
    assert reply.content == "1 image(s)" and reply.components[0]["components"][0]["label"] == "Go"

    click_id, _ = await fake.send_component(guild, USER_ID, "go", reply)
    await until(lambda: fake.interactions[click_id].acknowledged)
    assert (reply.content, reply.components) == ("Rendering…", [])
    assert fake.interaction_responses(click_id)[0].json["type"] == 7

    form_id, _ = await fake.send_slash_command(guild, USER_ID, "describe")
    await until(lambda: fake.interactions[form_id].acknowledged)
    assert fake.interactions[form_id].modal is not None
    row = {"type": 1, "components": [{"type": 4, "custom_id": "prompt", "value": "a slow pan"}]}
    await fake.send_modal_submit(guild, USER_ID, "describe-modal", [row])
    assert await asyncio.wait_for(submitted, 5) == "a slow pan"
    await until(lambda: fake.messages[guild.channel_id][-1].content == "queued")
    assert fake.validation_errors == []


async def test_reconnect_resumes_the_session(
    fake: FakeDiscord, guild: FakeGuild, bot: commands.Bot
) -> None:
    await fake.request_reconnect()
    await fake.wait_for_resume(5)
    assert fake.connected and len(fake.identify_payloads) == 1
    answered = outcome()

    @bot.tree.command(name="ping", description="Still there?")
    async def ping(interaction: discord.Interaction) -> None:
        response = await interaction.response.send_message("pong")
        answered.set_result(response)

    await fake.send_slash_command(guild, USER_ID, "ping")
    response = await asyncio.wait_for(answered, 5)
    assert isinstance(response.resource, discord.InteractionMessage)
    assert response.resource.content == "pong"
