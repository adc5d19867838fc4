"""The pieces of "Animate with Sora": finding a message's images and the options modal.

The modal keeps the :class:`discord.Message` that the context-menu interaction resolved, so on
submit the chosen image is read through the freshly signed URLs of that payload (Discord
re-signs attachment URLs in every payload it sends).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
import discord
from discord import app_commands

from bot.config import ASPECT_RATIOS, DURATIONS, RESOLUTIONS, Settings
from bot.launch.port import AttachmentUnreadable, ImageInput
from bot.launch.validation import InvalidRequest, parse_options
from cogs.adapters import image_from_attachment, launch
from cogs.errors import handle_app_command_error

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

#: Where Discord serves attachments and embed media from. An embed URL may point anywhere on
#: the internet; the bot only downloads from Discord itself.
DISCORD_MEDIA_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Discord's cap on a select menu's options.
MAX_CHOICES = 25
NO_IMAGE = (
    "That message has no PNG, JPEG or WebP image (as an attachment or an embedded image) to "
    "animate. Use it on a message with an image, or attach one to `/sora`."
)
_ASPECT_NAMES = {"16:9": "16:9 landscape", "9:16": "9:16 portrait"}
_RESOLUTION_NAMES = {"standard": "Standard", "high": "High (costs more)"}


@dataclass(frozen=True, slots=True)
class FoundImage:
    """One image of the target message, as offered in the modal."""

    label: str
    image: ImageInput


def media_hosts() -> frozenset[str]:
    """Discord's media hosts plus the API host: both are Discord's own, and tests point the
    API (and with it the CDN) at a loopback fake."""
    api_host = urlsplit(discord.http.Route.BASE).hostname
    return DISCORD_MEDIA_HOSTS | ({api_host} if api_host else set())


def _is_image_attachment(attachment: discord.Attachment) -> bool:
    content_type = (attachment.content_type or "").split(";", 1)[0].strip().lower()
    return content_type in IMAGE_TYPES or attachment.filename.lower().endswith(IMAGE_SUFFIXES)


def _embed_image_urls(message: discord.Message, hosts: frozenset[str]) -> list[str]:
    urls: list[str] = []
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            # The proxy copy is on Discord's media host even when the original is not.
            for url in (media.proxy_url, media.url):
                if url and urlsplit(url).hostname in hosts and url not in urls:
                    urls.append(url)
                    break
    return urls


def _url_reader(
    http: aiohttp.ClientSession, url: str, max_bytes: int
) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        try:
            async with http.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise AttachmentUnreadable(
                        "I couldn't download that embedded image from Discord. "
                        "Please attach the image instead."
                    )
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    # Past the limit is enough for the validator to refuse it.
                    if len(data) > max_bytes:
                        break
                return bytes(data)
        except aiohttp.ClientError as exc:
            log.info("embedded image unreadable (%s)", type(exc).__name__)
            raise AttachmentUnreadable(
                "I couldn't download that embedded image from Discord. "
                "Please attach the image instead."
            ) from None

    return read


def find_images(
    message: discord.Message, http: aiohttp.ClientSession, max_bytes: int
) -> list[FoundImage]:
    """The message's image attachments, then its embedded images (Discord hosts only)."""
    found = [
        FoundImage(f"Attachment {n}: {a.filename}"[:100], image_from_attachment(a))
        for n, a in enumerate((a for a in message.attachments if _is_image_attachment(a)), 1)
    ]
    for url in _embed_image_urls(message, media_hosts()):
        name = urlsplit(url).path.rsplit("/", 1)[-1] or "image"
        # The size is unknown until downloaded; the read is capped and the validator judges
        # the real bytes, so 1 only gets it past the cheap metadata check.
        image = ImageInput(read=_url_reader(http, url, max_bytes), filename=name,
                           content_type=None, size=1)
        found.append(FoundImage(f"Embedded image {len(found) + 1}: {name}"[:100], image))
    return found[:MAX_CHOICES]


def _select(custom_id: str, options: list[discord.SelectOption]) -> discord.ui.Select[AnimateModal]:
    return discord.ui.Select(custom_id=custom_id, options=options, min_values=1, max_values=1)


def _price_line(settings: Settings, duration: int) -> str:
    return " · ".join(
        f"{_RESOLUTION_NAMES[r].split(' ')[0]} {settings.price(r, duration)} credits"
        for r in RESOLUTIONS
    )


def modal_title(settings: Settings) -> str:
    prices = [settings.price(r, d) for r in RESOLUTIONS for d in DURATIONS]
    return f"Animate with Sora · {min(prices)}–{max(prices)} credits"[:45]


class AnimateModal(discord.ui.Modal):
    """Prompt, duration, aspect ratio, resolution and (with several) which image."""

    def __init__(
        self, bot: SoraBot, menu: app_commands.ContextMenu, images: Sequence[FoundImage],
        *, custom_id: str,
    ) -> None:
        settings = bot.services.settings
        super().__init__(title=modal_title(settings), custom_id=custom_id, timeout=900)
        self.bot, self.menu, self.images = bot, menu, list(images)
        self.prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="prompt", style=discord.TextStyle.paragraph, min_length=1, max_length=4000,
            placeholder="What should happen in the video",
        )
        self.duration = _select("duration", [
            discord.SelectOption(label=f"{d} seconds", value=str(d), default=d == DURATIONS[0],
                                 description=_price_line(settings, d))
            for d in DURATIONS
        ])
        self.aspect_ratio = _select("aspect_ratio", [
            discord.SelectOption(label=_ASPECT_NAMES[a], value=a, default=a == ASPECT_RATIOS[0])
            for a in ASPECT_RATIOS
        ])
        self.resolution = _select("resolution", [
            discord.SelectOption(label=_RESOLUTION_NAMES[r], value=r, default=r == RESOLUTIONS[0])
            for r in RESOLUTIONS
        ])
        self.add_item(discord.ui.Label(text="Prompt", component=self.prompt))
        self.add_item(discord.ui.Label(
            text="Duration", component=self.duration,
            description="The price depends on the length and the resolution.",
        ))
        self.add_item(discord.ui.Label(text="Aspect ratio", component=self.aspect_ratio))
        self.add_item(discord.ui.Label(text="Resolution", component=self.resolution))
        self.image: discord.ui.Select[AnimateModal] | None = None
        if len(self.images) > 1:
            self.image = _select("image", [
                discord.SelectOption(label=found.label, value=str(n), default=n == 0)
                for n, found in enumerate(self.images)
            ])
            self.add_item(discord.ui.Label(text="Image to animate", component=self.image))

    def _chosen(self) -> ImageInput:
        if self.image is None:
            return self.images[0].image
        value = self.image.values[0] if self.image.values else ""
        if not value.isdecimal() or not 0 <= int(value) < len(self.images):
            raise InvalidRequest(f"Choose one of the message's {len(self.images)} images.")
        return self.images[int(value)].image

    async def on_submit(self, interaction: discord.Interaction[SoraBot]) -> None:  # type: ignore[override]
        def one(select: discord.ui.Select[AnimateModal]) -> str | None:
            return select.values[0] if select.values else None

        duration = one(self.duration)
        # The wire value is a string; anything not a plain number stays a string and is refused.
        options = parse_options(
            self.prompt.value,
            int(duration) if duration is not None and duration.isdecimal() else duration,
            one(self.aspect_ratio),
            one(self.resolution),
        )
        model = self.bot.launcher.sora_model()
        options = self.bot.launcher.options(model, options.prompt, options.params)
        await launch(self.bot, interaction, options, self._chosen(), model=model)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[SoraBot], error: Exception
    ) -> None:
        # Same table-driven replies as /sora: the modal is part of the context-menu command.
        await handle_app_command_error(
            interaction, app_commands.CommandInvokeError(self.menu, error)
        )
