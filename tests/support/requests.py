"""One :class:`bot.request.VideoRequest` from flat keyword arguments, for store-level tests
that used to spell out every field of a job."""

from __future__ import annotations

from datetime import datetime

from bot.request import Origin, VideoOptions, VideoRequest


def video_request(
    *, guild_id: int, token_expires_at: datetime, user_id: int = 7, price: int = 12,
    channel_id: int = 2002, role_ids: tuple[int, ...] = (), application_id: int = 3003,
    interaction_id: int = 4004, interaction_token: str = "secret-interaction-token",  # noqa: S107
    attachment_size_limit: int = 10 * 1024 * 1024, model: str = "sora-2-pro",
    prompt: str = "a cat", duration: int = 4, aspect_ratio: str = "16:9",
    resolution: str = "standard", start_image_url: str | None = None,
    start_image_note: str | None = None,
) -> VideoRequest:
    origin = Origin(
        guild_id=guild_id, channel_id=channel_id, user_id=user_id, role_ids=role_ids,
        application_id=application_id, interaction_id=interaction_id,
        interaction_token=interaction_token, token_expires_at=token_expires_at,
        attachment_size_limit=attachment_size_limit,
    )
    return VideoRequest(origin=origin, model=model,
                        options=VideoOptions.sora(prompt, duration, aspect_ratio, resolution),
                        price=price, start_image_url=start_image_url,
                        start_image_note=start_image_note)
