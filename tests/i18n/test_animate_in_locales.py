"""The "Animate into video" modal and its refusals in the member's language."""

from __future__ import annotations

from cogs.animate import MENU_NAME
from tests.launch.test_animate import POSTER, labelled
from tests.sora_harness import MEMBER, Starter, png


async def test_the_animate_modal_speaks_german(start: Starter) -> None:
    h = await start()
    post = h.discord.post_user_message(h.guild, POSTER, "zwei Bilder", attachments=[
        h.discord.cdn.add(png(64, 48), "a.png", ephemeral=False),
        h.discord.cdn.add(png(90, 160), "b.png", ephemeral=False),
    ])
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, post, locale="de")
    await h.acked(iid)
    modal = h.discord.interactions[iid].modal
    assert modal is not None
    assert modal["title"] == "Animieren · sora-2-pro · 12–75 Credits"
    labels = labelled(modal)
    assert labels["prompt"]["label"] == "Beschreibung"
    assert labels["duration"]["label"] == "Dauer"
    assert labels["duration"]["description"] == "Der Preis hängt davon ab."
    assert labels["image"]["label"] == "Zu animierendes Bild"
    durations = labels["duration"]["component"]["options"]
    assert durations[1]["label"] == "8 Sekunden"
    assert durations[1]["description"] == "Standard 24 Credits · Hoch 40 Credits"
    ratios = labels["aspect_ratio"]["component"]["options"]
    assert [o["label"] for o in ratios] == ["16:9 Querformat", "9:16 Hochformat"]


async def test_no_image_is_refused_in_portuguese(start: Starter) -> None:
    h = await start()
    post = h.discord.post_user_message(h.guild, POSTER, "só texto")
    iid, _ = await h.discord.send_context_menu(h.guild, MEMBER, MENU_NAME, post,
                                               locale="pt-BR")
    reply = await h.reply(iid, ephemeral=True)
    assert reply.content.startswith("Essa mensagem não tem imagem PNG, JPEG ou WebP")
    assert reply.allowed_mentions == {"parse": []}
