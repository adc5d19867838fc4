"""A lineup of several video models for end-to-end tests, as config sections for the harness's
``start(**sections)``, and a way to start a job of a model no Discord entry point of these tests
reaches (a text-only model) through the real launcher.

The lineup: Sora (the seed's grid, the default), Veo 3.1 Fast and Kling 2.6, which take a start
image, and Grok Imagine, which does not. Prices differ per model so a debit shows which one ran.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.jobs.model import Job
from bot.launch.port import PreviewFacts
from bot.policy.held import PendingRequest
from bot.request import Origin, VideoOptions
from tests.sora_harness import MEMBER, SoraHarness

VEO, KLING, GROK, SORA = "veo-3.1-fast", "kling-2.6", "grok-imagine-video", "sora-2-pro"
VEO_PRICES = {"4s": 40, "6s": 60, "8s": 80}
KLING_PRICES = {"5s": 20, "10s": 40}
GROK_PRICE = 15


def several_models(*enabled: str) -> dict[str, dict[str, Any]]:
    """Config sections enabling ``enabled`` (default: all four), each with a label and grid."""
    ids = list(enabled or (SORA, VEO, KLING, GROK))
    sections: dict[str, dict[str, Any]] = {"video": {"enabled": ids, "default": ids[0]}}
    if VEO in ids:
        sections |= {
            f'video.models."{VEO}"': {"label": "Veo 3.1 Fast", "price_by": ["duration"]},
            # Veo takes any "w:h": offer the two it makes; no sound unless asked.
            f'video.models."{VEO}".offer': {"aspect_ratio": ["16:9", "9:16"]},
            f'video.models."{VEO}".defaults': {"generate_audio": False, "resolution": "720p"},
            f'pricing."{VEO}"': VEO_PRICES,
        }
    if KLING in ids:
        sections |= {
            f'video.models."{KLING}"': {"label": "Kling 2.6", "price_by": ["duration"]},
            f'pricing."{KLING}"': KLING_PRICES,
        }
    if GROK in ids:
        sections |= {
            f'video.models."{GROK}"': {"label": "Grok Imagine", "price_by": []},
            f'pricing."{GROK}"': {"flat": GROK_PRICE},
        }
    return sections


class QuietPort:
    """A :class:`bot.launch.port.DiscordPort` for a launch no interaction carries: no status
    message, so the scheduler posts the result in the channel as a new message."""

    def __init__(self) -> None:
        self.answers: list[str] = []

    async def acknowledge(self) -> int | None:
        return None

    async def acknowledge_privately(self) -> None:
        return None

    async def show_status(self, job: Job) -> None:
        return None

    async def show_preview(self, held: PendingRequest, facts: PreviewFacts) -> None:
        raise AssertionError("no preview expected")

    async def post_approval(self, channel_id: int, held: PendingRequest) -> int | None:
        raise AssertionError("no approval expected")

    async def answer(self, text: str) -> None:
        self.answers.append(text)


async def launch_model(h: SoraHarness, model: str, prompt: str,
                       chosen: dict[str, object] | None = None, *, serial: int = 1) -> Job:
    """Start a job of ``model`` through the bot's launcher, checked and charged as any other."""
    options: VideoOptions = h.bot.launcher.options(model, prompt, chosen or {})
    application_id = h.bot.application_id
    assert application_id is not None
    origin = Origin(
        guild_id=h.guild.id, channel_id=h.guild.channel_id, user_id=MEMBER, role_ids=(),
        application_id=application_id, interaction_id=9_000_000_000_000_000_000 + serial,
        # Lapsed: the result goes out with the bot token, as a new channel message.
        interaction_token="lapsed", token_expires_at=h.now() - timedelta(minutes=1),
        attachment_size_limit=10 * 1024 * 1024,
    )
    job = await h.bot.launcher.launch(origin, options, QuietPort(), model=model)
    assert job is not None
    return job
