"""``[web]``: the HTTP listener inside the bot process (bot/web/), validated as strictly as the
rest of the config (bot/config.py includes it as ``Settings.web``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: A DNS name or an IPv4 address to listen on.
_HOST = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}"
                   r"[a-z0-9_])?)*$")
_URL = re.compile(r"^(https?)://(\[[^\]]+\]|[^\s/:?#@]+)(:\d+)?(/[^\s?#]*)?$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: config.example.toml's public_url: refused once the listener is enabled.
PLACEHOLDER_URL = "https://bot.example.com"


class WebConfig(BaseModel):
    """``[web]``: the HTTP listener inside the bot process (Apiframe webhooks, and the
    operations routes others mount on it)."""

    # As bot.config._Strict: unknown keys and quoted numbers are errors, not guesses.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    #: The https URL the operator exposes for this listener (a reverse proxy's), without a
    #: query; webhooks are sent to ``<public_url>/webhooks/apiframe``.
    public_url: str | None = None
    #: Webhooks are on when this is true (the default), the listener is enabled and
    #: ``public_url`` is set.
    webhooks: bool = True
    #: Larger request bodies are refused (413) before they are read.
    max_body_bytes: Annotated[int, Field(ge=1024, le=10 * 1024 * 1024)] = 64 * 1024
    #: How often a running job is still polled while webhooks arrive (the safety net).
    webhook_poll_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: Without a verified webhook for this long, polling returns to its normal interval.
    webhook_quiet_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = 300.0

    @field_validator("host")
    @classmethod
    def _bind_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOST.match(value.lower()):
                raise ValueError("must be an IP address or host name to listen on, e.g. "
                                 "127.0.0.1 or 0.0.0.0") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = _URL.match(value)
        if match is None:
            raise ValueError("must be an https URL without query or fragment, e.g. "
                             "https://bot.example.com")
        host = match.group(2).strip("[]").lower()
        if match.group(1) == "http" and host not in _LOOPBACK:
            # The URL carries per-job tokens: only a loopback test may go without TLS.
            raise ValueError("must be https (http only for 127.0.0.1 or localhost)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhooks_need_url(self) -> WebConfig:
        if not self.enabled:
            return self
        if self.public_url == PLACEHOLDER_URL and self.webhooks:
            raise ValueError("web.public_url: still the example's placeholder; put the https "
                             "URL Apiframe can reach (or set web.webhooks = false)")
        if self.public_url is None and self.webhooks and "webhooks" in self.model_fields_set:
            raise ValueError("web.public_url: required when web.webhooks = true (the https "
                             "URL Apiframe can reach)")
        return self

    @property
    def webhooks_on(self) -> bool:
        """Whether submissions ask Apiframe for webhooks (and the listener takes them)."""
        return self.enabled and self.webhooks and self.public_url is not None
