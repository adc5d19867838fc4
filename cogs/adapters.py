"""The Discord side of the launch use case, shared by every entry point (not a cog).

:class:`InteractionPort` performs the visible steps :class:`bot.launch.usecase.Launcher` asks
for, on one interaction; :func:`launch` is what /sora, the context menu, the result buttons and
the edit modal call. The preview and approval buttons (:class:`PendingButton`) live here too:
their clicks start a launch, and a launch can post them.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.delivery.cards import Words, progress_card
from bot.i18n.catalog import Voice
from bot.jobs.model import Job
from bot.launch.imagefit import CROP
from bot.launch.port import AttachmentUnreadable, ImageInput, PreviewFacts
from bot.policy.held import CUSTOM_ID_TEMPLATE, PendingKind, PendingRequest, custom_id
from bot.request import VideoOptions
from cogs.approval_views import approval_embed, offer_of, on_click, preview_embed
from cogs.errors import report_error
from cogs.origin import origin_of

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()

_STYLES: dict[str, discord.ButtonStyle] = {
    "confirm": discord.ButtonStyle.success,
    "cancel": discord.ButtonStyle.secondary,
    "approve": discord.ButtonStyle.success,
    "deny": discord.ButtonStyle.danger,
}


def image_from_attachment(attachment: discord.Attachment) -> ImageInput:
    async def read() -> bytes:
        try:
            return await attachment.read()
        except discord.HTTPException as exc:
            log.info("start image unreadable (%s)", exc)
            raise AttachmentUnreadable(
                "I couldn't download that image from Discord (the link may have expired). "
                "Please attach it again.", key="refusal.attachment_unreadable",
            ) from None

    return ImageInput(read=read, filename=attachment.filename,
                      content_type=attachment.content_type, size=attachment.size)


class InteractionPort:
    """A :class:`bot.launch.port.DiscordPort` over one interaction."""

    def __init__(self, bot: SoraBot, interaction: discord.Interaction[Any]) -> None:
        self._bot, self._interaction = bot, interaction

    async def acknowledge(self) -> int | None:
        # Public, so the finished video can replace this "thinking…" message.
        callback = await self._interaction.response.defer(thinking=True)
        return callback.message_id if callback else None

    async def acknowledge_privately(self) -> None:
        await self._interaction.response.defer(ephemeral=True, thinking=True)

    async def show_status(self, job: Job) -> None:
        # A V2 card from the first edit (the job row says so: job.card), in the guild's
        # language, since the channel sees it; the scheduler's edits keep that form.
        words = Words(self._bot.services.texts, self._interaction.guild_locale)
        await self._interaction.edit_original_response(
            view=progress_card(job, discord.utils.utcnow(), words,
                               self._bot.services.settings.lineup.get(job.model)),
            allowed_mentions=NO_MENTIONS,
        )

    async def show_preview(self, held: PendingRequest, facts: PreviewFacts) -> None:
        # Private to the member: their language.
        voice = Voice(self._bot.services.texts, self._interaction.locale)
        await self._interaction.followup.send(embed=preview_embed(held, facts,
                                                                  offer_of(self._bot, held),
                                                                  voice=voice),
                                              view=buttons(held, voice), ephemeral=True,
                                              allowed_mentions=NO_MENTIONS)

    async def post_approval(self, channel_id: int, held: PendingRequest) -> int | None:
        try:
            # Posted for the moderators: the server's language.
            voice = Voice(self._bot.services.texts, self._interaction.guild_locale)
            posted = await self._bot.get_partial_messageable(channel_id).send(
                embed=approval_embed(held, offer_of(self._bot, held), voice=voice),
                view=buttons(held, voice), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            return None
        return posted.id

    async def answer(self, text: str) -> None:
        # Private to whoever clicked or typed: their language, when the text names its words.
        text = Voice(self._bot.services.texts, self._interaction.locale).words(text)
        response = self._interaction.response
        if response.is_done():
            await self._interaction.followup.send(text, ephemeral=True,
                                                  allowed_mentions=NO_MENTIONS)
        else:
            await response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def launch(
    bot: SoraBot, interaction: discord.Interaction[SoraBot], options: VideoOptions,
    image: ImageInput | None = None, *, model: str, fit: str = CROP,
    image_url: str | None = None,
) -> Job | None:
    """Start a video from this interaction (see :meth:`bot.launch.usecase.Launcher.launch`)."""
    return await bot.launcher.launch(origin_of(interaction), options,
                                     InteractionPort(bot, interaction), model=model,
                                     image=image, fit=fit, image_url=image_url)


class PendingButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
                    template=CUSTOM_ID_TEMPLATE):
    """One of Confirm/Cancel (preview) or Approve/Deny (approval) of one held request.

    A DynamicItem keyed by the request id, so it works after a restart.
    """

    def __init__(self, action: str, request_id: str, label: str | None = None) -> None:
        # The label matters only when the button is sent; one rebuilt from a click (after a
        # restart) only routes it, so it needs none.
        super().__init__(discord.ui.Button(label=label or action.title(), style=_STYLES[action],
                                           custom_id=custom_id(action, request_id)))
        self.action, self.request_id = action, request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
        match: re.Match[str], /,
    ) -> PendingButton:
        return cls(match["action"], match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: SoraBot = interaction.client
        try:
            await on_click(bot, interaction, InteractionPort(bot, interaction), self.action,
                           self.request_id)
        except Exception as exc:  # every failure is answered privately
            await report_error(interaction, exc)


def buttons(request: PendingRequest, voice: Voice) -> discord.ui.View:
    actions = ("confirm", "cancel") if request.kind is PendingKind.PREVIEW else ("approve", "deny")
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(PendingButton(action, request.id, voice.say(f"approval.button.{action}")))
    return view
