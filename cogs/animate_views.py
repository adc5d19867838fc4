"""The first piece of "Animate into video": finding a message's images.

The images are read from the :class:`discord.Message` that the context-menu interaction
resolved, so on submit the chosen image is read through the freshly signed URLs of that payload
(Discord re-signs attachment URLs in every payload it sends). The model step and the options
modal are in :mod:`cogs.animate_modal`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import discord

from bot.launch.port import AttachmentUnreadable, ImageInput
from cogs.adapters import image_from_attachment

log = logging.getLogger(__name__)

#: Where Discord serves attachments and embed media from. An embed URL may point anywhere on
#: the internet; the bot only downloads from Discord itself.
DISCORD_MEDIA_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Discord's cap on a select menu's options.
MAX_CHOICES = 25
#: The English words (the catalog's ``animate.no_image``).
NO_IMAGE = (
    "That message has no PNG, JPEG or WebP image (as an attachment or an embedded image) to "
    "animate. Use it on a message with an image, or give /video a start image."
)


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
                        "Please attach the image instead.",
                        key="refusal.embedded_image_unreadable",
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
                "Please attach the image instead.",
                key="refusal.embedded_image_unreadable",
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
