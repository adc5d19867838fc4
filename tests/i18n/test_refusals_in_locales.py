"""Refusals reach each member in their Discord's language (``interaction.locale``), through
the real client and the fake Discord, and still cost nothing and ping no one."""

from __future__ import annotations

from bot.i18n.catalog import load
from bot.launch import port
from bot.launch.validation import InvalidRequest, check_prompt, parse_options
from tests.launch.test_sora_refusals import refused
from tests.sora_harness import MEMBER, SoraHarness, Starter, string
from tests.support.video import Priced, lineup

OTHER = 2_000_000_000_000_000_007


async def test_the_same_empty_prompt_is_refused_in_english_and_in_german(start: Starter) -> None:
    h = await start()
    english = await refused(h, await h.send_options([string("prompt", "   ")], locale="en-US"))
    assert english.content == "The prompt is empty. Describe the video you want."
    german = await refused(h, await h.send_options([string("prompt", "   ")], locale="de"))
    assert german.content == "Die Beschreibung ist leer. Beschreib das Video, das du möchtest."
    # A language the bot does not speak gets English.
    other = await refused(h, await h.send_options([string("prompt", " ")], locale="ja"))
    assert other.content == english.content


async def test_a_refusal_with_numbers_and_lists_reads_naturally(start: Starter) -> None:
    h = await start()
    answer = await refused(h, await h.send_sora(duration=5, locale="fr"))
    assert answer.content == "La durée doit être de 4, 8, 10, 12 ou 15 secondes."
    answer = await refused(h, await h.send_sora(aspect_ratio="4:3", locale="pt-BR"))
    assert answer.content == "A proporção precisa ser 16:9 ou 9:16."


async def test_rules_speak_the_members_language_with_plurals(start: Starter) -> None:
    h = await start()
    await h.services.rules.update(h.guild.id, actor="test", cooldown_seconds=300)
    await h.created_job(await h.send_sora(user_id=OTHER))
    await h.created_job(await h.send_sora())
    answer = await refused_later(h, await h.send_sora(locale="es-419"))
    assert answer.startswith("Este servidor tiene una espera de 5 minutos entre tus vídeos. "
                             "Podrás crear otro <t:"), answer
    assert answer.endswith("No se ha cobrado nada.")
    await h.services.rules.update(h.guild.id, actor="test", cooldown_seconds=0,
                                  max_in_flight_member=1)
    answer = await refused_later(h, await h.send_sora(locale="de"))
    assert answer == ("Du hast 1 Video in Arbeit (das Limit ist 1). "
                      "Bitte warte, bis eins fertig ist.")


async def refused_later(h: SoraHarness, iid: int) -> str:
    """The private answer once jobs already exist (so :func:`refused`'s 'nothing at all'
    does not apply): its text."""
    answer = await h.reply(iid, ephemeral=True)
    assert answer.allowed_mentions == {"parse": []}
    assert await h.job_of(iid) is None
    return answer.content


def test_english_words_of_a_keyed_refusal_match_its_log_text() -> None:
    """The catalog's English is the refusal's own message (kept for logs and the CLI)."""
    texts = load()
    for bad in (lambda: check_prompt(""), lambda: check_prompt("x" * 4001),
                lambda: parse_options("a", 5, "16:9", "standard"),
                lambda: parse_options("a", 4, "4:3", "standard")):
        try:
            bad()
        except InvalidRequest as exc:
            assert exc.key is not None
            assert texts.render("en-US", exc.key, exc.params) == str(exc)
        else:
            raise AssertionError("not refused")


async def test_a_video_option_refusal_names_the_option_in_the_members_language(
        start: Starter) -> None:
    h = await start(**lineup(Priced("veo-3.1-fast", per_second=5, label="Veo 3.1 Fast")))
    options = [string("prompt", "a fox"), string("model", "veo-3.1-fast"),
               string("duration", "7")]
    iid, _token = await h.discord.send_slash_command(h.guild, MEMBER, "video", options=options,
                                                     locale="de")
    answer = await refused(h, iid)
    assert answer.content == ("Die Dauer für Veo 3.1 Fast muss 4, 6 oder 8 Sekunden sein "
                              "(gesendet: 7).")
    iid, _token = await h.discord.send_slash_command(h.guild, MEMBER, "video", options=[
        string("prompt", "a fox"), string("model", "veo-3.1-fast"), string("sound", "loud")],
        locale="es-ES")
    assert (await refused(h, iid)).content.startswith("El sonido para Veo 3.1 Fast debe ser ")


def test_every_keyed_refusal_of_the_launcher_reads_the_same_in_english() -> None:
    """The catalog's English of the launcher's refusals is the text they log."""
    texts = load()
    assert texts.text("en-US", "refusal.no_audit_channel") == port.NO_AUDIT_CHANNEL
    assert texts.text("en-US", "refusal.audit_unreachable") == port.AUDIT_UNREACHABLE
