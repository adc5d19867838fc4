"""The app-command error handler, driven by the real discord.py client against the fake Discord.

Each test registers commands that fail in one way, sends a slash command as a member would and
asserts what Discord received: an ephemeral answer (flag 64), its text, mentions disabled, and
for bugs a code that also appears next to the traceback in the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError
from bot.i18n.catalog import load as load_catalog
from bot.jobs.model import JobLimitReached
from bot.launch.validation import check_prompt, parse_options
from bot.ledger.types import InsufficientCredits, NotReserved
from cogs.errors import STALE_COMMAND, handle_app_command_error, install_error_handler
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.discord_harness import connected_client
from tests.fakes.discord_models import RecordedRequest

STALE = load_catalog().text("en-US", STALE_COMMAND)
USER_ID = 2_222_222_222_222_222_222
EPHEMERAL = 64
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
FOLLOWUP = "/webhooks/{webhook_id}/{webhook_token}"
CODE = re.compile(
    r"^Something went wrong \(error code `([0-9a-f]{6})`\)\. "
    r"The bot's operator can look it up in the logs\.$"
)


@dataclass
class Harness:
    """The fake, its guild, a connected bot with the handler installed, and a spy on it."""

    fake: FakeDiscord
    guild: FakeGuild
    bot: commands.Bot
    #: One entry per handler run: None, or what it raised (it must not raise).
    handled: asyncio.Queue[BaseException | None] = field(default_factory=asyncio.Queue)

    def command(self, name: str) -> Callable[[Any], Any]:
        return self.bot.tree.command(name=name, description=f"Test command {name}")

    async def send(self, name: str, **kwargs: Any) -> int:
        iid, _ = await self.fake.send_slash_command(self.guild, USER_ID, name, **kwargs)
        return iid

    async def handler_done(self) -> None:
        outcome = await asyncio.wait_for(self.handled.get(), 5)
        assert outcome is None, f"the error handler raised {outcome!r}"

    async def invoke(self, name: str, **kwargs: Any) -> int:
        iid = await self.send(name, **kwargs)
        await self.handler_done()
        return iid

    def traffic(self, iid: int) -> list[tuple[str, str | None, int]]:
        return [(r.method, r.route, r.status) for r in self.fake.interaction_responses(iid)]

    def callback_answer(self, iid: int) -> dict[str, Any]:
        """The only request for ``iid`` was an ephemeral message callback; return its data."""
        assert self.traffic(iid) == [("POST", CALLBACK, 200)]
        body = self.fake.interaction_responses(iid)[0].json
        assert body["type"] == 4
        data: dict[str, Any] = body["data"]
        assert data["flags"] & EPHEMERAL and data["allowed_mentions"]["parse"] == []
        return data

    def followup_answer(self, iid: int) -> str:
        """The last request for ``iid`` was an ephemeral followup; return its text."""
        request: RecordedRequest = self.fake.interaction_responses(iid)[-1]
        assert (request.method, request.route, request.status) == ("POST", FOLLOWUP, 200)
        assert request.json["flags"] & EPHEMERAL
        assert request.json["allowed_mentions"]["parse"] == []
        content: str = request.json["content"]
        return content

    def channel(self) -> list[Any]:
        return self.fake.messages[self.guild.channel_id]


@pytest.fixture
async def h(fake_discord: FakeDiscord) -> AsyncIterator[Harness]:
    guild = fake_discord.add_guild("Test Guild")
    client = commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        guild_ready_timeout=0.1,
    )
    install_error_handler(client.tree)
    installed = client.tree.on_error
    assert installed is handle_app_command_error
    harness = Harness(fake_discord, guild, client)

    async def spy(interaction: discord.Interaction[Any], error: Exception) -> None:
        try:
            await installed(interaction, error)  # type: ignore[arg-type]
        except BaseException as exc:
            harness.handled.put_nowait(exc)
            raise
        harness.handled.put_nowait(None)

    client.tree.on_error = spy  # type: ignore[method-assign]
    async with connected_client(fake_discord, client):
        yield harness
    assert fake_discord.validation_errors == []
    assert fake_discord.response_schema_errors == []


def _raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


# -- the table, before any response ---------------------------------------------------------

CASES: list[tuple[str, Callable[[], BaseException], str]] = [
    ("user-error", lambda: UserError("Pick a shorter prompt."), "Pick a shorter prompt."),
    (
        "invalid-request",
        lambda: _raised(lambda: parse_options("a cat", 7, "16:9", "standard")),
        "Duration must be one of 4, 8, 10, 12 or 15 seconds.",
    ),
    (
        "insufficient",
        lambda: InsufficientCredits(balance=5, price=12),
        "This needs 12 credits but the server only has 5.",
    ),
    (
        "job-limit",
        lambda: JobLimitReached(scope="member", running=2, limit=2),
        "You have 2 videos in progress (the limit is 2). Please wait for one to finish.",
    ),
    ("no-dm", app_commands.NoPrivateMessage, "This command only works in a server."),
    ("check", app_commands.CheckFailure, "You can't use this command here."),
    (
        "role",
        lambda: app_commands.MissingRole("Video maker"),
        "You don't have the role this command needs.",
    ),
    (
        "bot-perms",
        lambda: app_commands.BotMissingPermissions(["attach_files", "embed_links"]),
        "I'm missing the Attach Files, Embed Links permission(s) here. "
        "Ask a server admin to grant them to my role.",
    ),
]


@pytest.mark.parametrize(("name", "make", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_table_rows_answer_ephemerally_before_any_response(
    h: Harness, name: str, make: Callable[[], BaseException], expected: str
) -> None:
    @h.command(name)
    async def fail(interaction: discord.Interaction) -> None:
        raise make()

    iid = await h.invoke(name)
    assert h.callback_answer(iid)["content"] == expected
    (message,) = h.channel()
    assert message.ephemeral and message.content == expected


async def test_echoed_user_text_pings_no_one(h: Harness) -> None:
    @h.command("loud")
    async def loud(interaction: discord.Interaction) -> None:
        raise UserError("Your prompt '@everyone <@&123> <@456>' was refused.")

    data = h.callback_answer(await h.invoke("loud"))
    assert data["content"] == "Your prompt '@everyone <@&123> <@456>' was refused."
    assert data["allowed_mentions"] == {"parse": []}


# -- real checks, cooldowns and stale commands ----------------------------------------------


async def test_member_without_the_permission_gets_canned_text(h: Harness) -> None:
    @h.command("admin")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def admin(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("should not run")

    assert h.callback_answer(await h.invoke("admin"))["content"] == (
        "You need the Manage Server permission(s) to use this command."
    )


async def test_cooldown_says_how_long_to_wait(h: Harness) -> None:
    ran = asyncio.Event()

    @h.command("busy")
    @app_commands.checks.cooldown(1, 30.0)
    async def busy(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok")
        ran.set()

    await h.send("busy")
    await asyncio.wait_for(ran.wait(), 5)
    iid = await h.invoke("busy")
    assert h.callback_answer(iid)["content"] == "Slow down — try again in 30 s."


async def test_group_invoked_without_subcommand_is_a_stale_command(h: Harness) -> None:
    group = app_commands.Group(name="credits", description="Credit commands")

    @group.command(name="show", description="Show the balance")
    async def show(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("0")

    h.bot.tree.add_command(group)
    assert h.callback_answer(await h.invoke("credits"))["content"] == STALE


async def test_unknown_command_is_a_stale_command(h: Harness) -> None:
    assert h.callback_answer(await h.invoke("removed-yesterday"))["content"] == STALE


async def test_option_that_cannot_be_converted_is_a_stale_command(h: Harness) -> None:
    @h.command("gift")
    async def gift(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message("should not run")

    # A user option without its resolved member: what an outdated command shape produces.
    options = [{"name": "member", "type": 6, "value": "123456789012345678"}]
    assert h.callback_answer(await h.invoke("gift", options=options))["content"] == STALE


class PromptTransformer(app_commands.Transformer):
    async def transform(self, interaction: discord.Interaction, value: Any) -> str:
        return check_prompt(value)


async def test_user_error_from_a_transformer_shows_its_message(h: Harness) -> None:
    @h.command("film")
    async def film(
        interaction: discord.Interaction, prompt: app_commands.Transform[str, PromptTransformer]
    ) -> None:
        await interaction.response.send_message("should not run")

    iid = await h.invoke("film", options=[{"name": "prompt", "type": 3, "value": "   "}])
    assert h.callback_answer(iid)["content"] == "The prompt is empty. Describe the video you want."


# -- errors after the interaction was answered ----------------------------------------------


async def test_user_error_after_public_defer_replaces_the_placeholder_privately(
    h: Harness,
) -> None:
    @h.command("late")
    async def late(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        raise UserError("That file is not a PNG, JPEG or WebP image.")

    iid = await h.invoke("late")
    assert h.traffic(iid) == [
        ("POST", CALLBACK, 200),
        ("GET", ORIGINAL, 200),
        ("DELETE", ORIGINAL, 204),
        ("POST", FOLLOWUP, 200),
    ]
    assert h.followup_answer(iid) == "That file is not a PNG, JPEG or WebP image."
    # The public "thinking…" message is gone; only the member sees the explanation.
    (message,) = h.channel()
    assert message.ephemeral and not message.loading


async def test_error_after_ephemeral_defer_keeps_the_private_placeholder(h: Harness) -> None:
    @h.command("quiet")
    async def quiet(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        raise InsufficientCredits(balance=0, price=45)

    iid = await h.invoke("quiet")
    assert h.traffic(iid) == [
        ("POST", CALLBACK, 200),
        ("GET", ORIGINAL, 200),
        ("POST", FOLLOWUP, 200),
    ]
    assert h.followup_answer(iid) == "This needs 45 credits but the server only has 0."
    (message,) = h.channel()
    assert message.ephemeral and message.content == h.followup_answer(iid)


async def test_error_after_the_placeholder_was_edited_leaves_it_and_adds_a_private_note(
    h: Harness,
) -> None:
    @h.command("edited")
    async def edited(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="Queued…")
        raise UserError("You have 2 videos in progress.")

    iid = await h.invoke("edited")
    assert [method for method, _, _ in h.traffic(iid)] == ["POST", "PATCH", "GET", "POST"]
    h.followup_answer(iid)
    status, note = h.channel()
    assert (status.content, status.ephemeral) == ("Queued…", False)
    assert (note.content, note.ephemeral) == ("You have 2 videos in progress.", True)


async def test_error_after_the_command_deleted_the_placeholder_still_reaches_the_member(
    h: Harness,
) -> None:
    @h.command("tidy")
    async def tidy(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.delete_original_response()
        raise UserError("Not enough credits.")

    iid = await h.invoke("tidy")
    assert h.traffic(iid) == [
        ("POST", CALLBACK, 200),
        ("DELETE", ORIGINAL, 204),
        ("GET", ORIGINAL, 404),
        ("POST", FOLLOWUP, 200),
    ]
    assert h.followup_answer(iid) == "Not enough credits."
    (message,) = h.channel()
    assert message.ephemeral


async def test_error_after_a_message_response_is_a_private_followup(h: Harness) -> None:
    @h.command("chatty")
    async def chatty(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Working on it")
        raise UserError("Then it failed.")

    iid = await h.invoke("chatty")
    assert h.traffic(iid) == [("POST", CALLBACK, 200), ("POST", FOLLOWUP, 200)]
    assert h.followup_answer(iid) == "Then it failed."


# -- unexpected errors ----------------------------------------------------------------------


@pytest.mark.parametrize("defer_first", [False, True], ids=["before-defer", "after-defer"])
async def test_unexpected_error_shows_only_a_code_that_is_in_the_log(
    h: Harness, caplog: pytest.LogCaptureFixture, defer_first: bool
) -> None:
    @h.command("explode")
    async def explode(interaction: discord.Interaction) -> None:
        if defer_first:
            await interaction.response.defer(thinking=True)
        raise RuntimeError("database at /srv/secret-path refused password hunter2")

    caplog.set_level(logging.INFO, logger="cogs.errors")
    iid = await h.invoke("explode")
    text = h.followup_answer(iid) if defer_first else h.callback_answer(iid)["content"]
    found = CODE.match(text)
    assert found is not None, text
    code = found.group(1)

    sent = json.dumps([r.json for r in h.fake.requests if r.json is not None])
    for leak in ("hunter2", "secret-path", "RuntimeError", "Traceback"):
        assert leak not in sent
    (record,) = [r for r in caplog.records if code in r.getMessage()]
    assert record.levelno == logging.ERROR and record.name == "cogs.errors"
    assert "/explode" in record.getMessage() and str(iid) in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "in explode" in caplog.text and "hunter2" in caplog.text  # traceback for the operator
    (message,) = h.channel()
    assert message.ephemeral and message.content == text


async def test_a_ledger_invariant_is_a_bug_and_each_occurrence_gets_its_own_code(
    h: Harness,
) -> None:
    @h.command("bug")
    async def bug(interaction: discord.Interaction) -> None:
        raise NotReserved("job-1")

    codes = set()
    for _ in range(3):
        found = CODE.match(h.callback_answer(await h.invoke("bug"))["content"])
        assert found is not None
        codes.add(found.group(1))
    assert len(codes) == 3


# -- the handler never raises ---------------------------------------------------------------


async def test_too_late_to_answer_is_logged_not_raised(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    started, go = asyncio.Event(), asyncio.Event()

    @h.command("slow")
    async def slow(interaction: discord.Interaction) -> None:
        started.set()
        await go.wait()
        raise UserError("Too late to hear this.")

    iid = await h.send("slow")
    await asyncio.wait_for(started.wait(), 5)
    h.fake.advance(3.5)  # past Discord's 3 s: the callback is now "Unknown interaction"
    go.set()
    await h.handler_done()
    assert h.traffic(iid) == [("POST", CALLBACK, 404)]
    assert "Could not deliver an error message for /slow" in caplog.text
    assert h.channel() == []


async def test_expired_token_after_defer_is_logged_not_raised(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    deferred, go = asyncio.Event(), asyncio.Event()

    @h.command("long")
    async def long(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        deferred.set()
        await go.wait()
        raise UserError("Fifteen minutes later.")

    iid = await h.send("long")
    await asyncio.wait_for(deferred.wait(), 5)
    h.fake.advance(15 * 60 + 1)
    go.set()
    await h.handler_done()
    assert h.traffic(iid) == [("POST", CALLBACK, 200), ("GET", ORIGINAL, 401)]
    assert "Could not deliver an error message for /long" in caplog.text


async def test_error_after_a_modal_cannot_be_answered_and_is_logged(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    class Form(discord.ui.Modal, title="Describe it"):
        prompt: discord.ui.TextInput[Form] = discord.ui.TextInput(label="Prompt")

    @h.command("form")
    async def form(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Form())
        raise UserError("Never shown.")

    iid = await h.invoke("form")
    assert h.traffic(iid) == [("POST", CALLBACK, 200)]
    assert "Cannot tell the member about an error in /form" in caplog.text


# -- installation ---------------------------------------------------------------------------


async def test_extension_installs_and_unloading_restores_the_default() -> None:
    client = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    default = client.tree.on_error
    await client.load_extension("cogs.errors")
    # load_extension executes the module afresh, so compare by name, not identity.
    installed = client.tree.on_error
    assert (installed.__module__, installed.__name__) == ("cogs.errors", "handle_app_command_error")
    await client.unload_extension("cogs.errors")
    assert client.tree.on_error == default
    await client.close()


# -- languages -------------------------------------------------------------------------------


async def test_a_keyed_refusal_and_a_canned_answer_follow_the_members_locale(h: Harness) -> None:
    @h.command("keyed")
    async def keyed(interaction: discord.Interaction) -> None:
        raise UserError("This needs 45 credits but the server only has 30.",
                        key="refusal.insufficient_credits", params={"price": 45, "balance": 30})

    @h.command("admin2")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def admin2(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("should not run")

    german = h.callback_answer(await h.invoke("keyed", locale="de"))
    assert german["content"] == "Das braucht 45 Credits, aber der Server hat nur 30."
    english = h.callback_answer(await h.invoke("keyed", locale="en-GB"))
    assert english["content"] == "This needs 45 credits but the server only has 30."
    french = h.callback_answer(await h.invoke("admin2", locale="fr"))
    assert french["content"] == ("Il te faut la ou les permissions Gérer le serveur pour "
                                 "utiliser cette commande.")


async def test_a_key_whose_placeholders_were_not_given_falls_back_to_english(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    @h.command("half")
    async def half(interaction: discord.Interaction) -> None:
        raise UserError("This needs 45 credits.", key="refusal.insufficient_credits",
                        params={"price": 45})

    with caplog.at_level(logging.WARNING, logger="cogs.errors"):
        data = h.callback_answer(await h.invoke("half", locale="es-ES"))
    assert data["content"] == "This needs 45 credits."
    assert "refusal.insufficient_credits could not be filled" in caplog.text
