"""A lineup of several enabled video models, as settings tables and as config sections."""

from __future__ import annotations

from typing import Any

SORA, VEO, KLING, HAILUO = "sora-2-pro", "veo-3.1-fast", "kling-2.6", "hailuo-2.3-fast"

#: ``[video.models."<id>"]`` tables of the three models enabled besides Sora.
MODELS: dict[str, dict[str, Any]] = {
    VEO: {"label": "Veo 3.1 Fast", "price_by": ["resolution", "duration"]},
    KLING: {"label": "Kling 2.6", "price_by": ["duration", "generate_audio"]},
    HAILUO: {"label": "Hailuo 2.3 Fast", "price_by": []},
}
PRICING: dict[str, dict[str, int]] = {
    VEO: {"720p-4s": 40, "720p-6s": 60, "720p-8s": 80,
          "1080p-4s": 60, "1080p-6s": 90, "1080p-8s": 120},
    KLING: {"5s-no_generate_audio": 20, "5s-generate_audio": 30,
            "10s-no_generate_audio": 40, "10s-generate_audio": 60},
    HAILUO: {"flat": 15},
}
ENABLED = [SORA, VEO, KLING, HAILUO]


def settings_tables() -> dict[str, dict[str, Any]]:
    """For ``settings_with(**settings_tables())``."""
    return {
        "video": {"enabled": list(ENABLED), "default": SORA,
                  "models": {"sora-2-pro": {"label": "Sora 2 Pro"}, **MODELS}},
        "pricing": dict(PRICING),
    }


def config_sections() -> dict[str, dict[str, Any]]:
    """For the harness' ``start(**config_sections())``: one flat TOML table per section."""
    sections: dict[str, dict[str, Any]] = {
        "video": {"enabled": list(ENABLED), "default": SORA},
        'video.models."sora-2-pro"': {"label": "Sora 2 Pro"},
    }
    for model, table in MODELS.items():
        sections[f'video.models."{model}"'] = dict(table)
        sections[f'pricing."{model}"'] = dict(PRICING[model])
    return sections
