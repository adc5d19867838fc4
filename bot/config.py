"""Strict configuration: a TOML file validated by pydantic models.

Unknown keys are errors, values are strict (``"yes"`` is not a boolean, ``"3"`` is not a
number; only a TOML integer may stand for a float), secrets are ``SecretStr`` and the two
secrets can come from the environment (for Docker). Any problem becomes one
:class:`ConfigError` line naming the key.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.catalog.lineup import Lineup, build_lineup
from bot.catalog.video import Catalog
from bot.config_packs import PacksConfig
from bot.config_web import WebConfig
from bot.db.pg_text import parse_url

#: The largest credit amount or balance anywhere: JSON consumers (and JavaScript) lose precision
#: above it. Config bounds ``max_balance`` by it; the ledger (and its database triggers) too.
MAX_AMOUNT = 2**53 - 1

#: Environment variables that override the two secrets in the file.
ENV_DISCORD_TOKEN = "SORA_BOT_DISCORD_TOKEN"  # noqa: S105 (a variable name)
ENV_APIFRAME_KEY = "SORA_BOT_APIFRAME_API_KEY"
ENV_DATABASE_URL = "SORA_BOT_DATABASE_URL"

DURATIONS: tuple[int, ...] = (4, 8, 10, 12, 15)
RESOLUTIONS: tuple[str, ...] = ("standard", "high")
ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16")

# The secrets as shipped in config.example.toml: refused offline, so a new operator learns at
# `check` (or start-up) which key to fill in, not at the first network call.
_PLACEHOLDERS = frozenset({"put-your-discord-bot-token-here", "afk_put-your-apiframe-key-here"})

#: A DNS name or an IPv4 address (an IPv6 address is checked by ipaddress instead).
_HOST = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}"
                   r"[a-z0-9_])?)*$")
#: Apiframe's CDN hosts as its docs show them (newer cdn2, older cdn).
DEFAULT_DOWNLOAD_HOSTS: tuple[str, ...] = ("cdn.apiframe.ai", "cdn2.apiframe.ai")

# The seed's docs-v2 grid. Apiframe's newer docs show the same grid x17, which is why the
# grid lives in config: an operator whose account bills on the other scale edits the file.
DEFAULT_PRICING: dict[str, dict[str, int]] = {
    "sora-2-pro": {
        "standard-4s": 12,
        "high-4s": 20,
        "standard-8s": 24,
        "high-8s": 40,
        "standard-10s": 30,
        "high-10s": 50,
        "standard-12s": 36,
        "high-12s": 60,
        "standard-15s": 45,
        "high-15s": 75,
    },
    # sora-2 bills by duration only; providers may ignore the resolution.
    "sora-2": {f"{res}-{d}s": d for res in RESOLUTIONS for d in DURATIONS},
}


class ConfigError(Exception):
    """A configuration problem, rendered as one actionable line."""


class _Strict(BaseModel):
    # strict: TOML has real types, so a quoted value is a mistake to report, not to coerce.
    # Fields TOML cannot spell exactly (a Path from a string, a tuple from an array) opt out
    # with Field(strict=False); their items stay strict.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _not_placeholder(value: SecretStr, env_var: str) -> SecretStr:
    if value.get_secret_value() in _PLACEHOLDERS:
        raise ValueError(
            f"still the placeholder from config.example.toml; put your own value here "
            f"(or set {env_var})"
        )
    return value


class DiscordConfig(_Strict):
    token: SecretStr
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    dev_guild_id: Annotated[int, Field(gt=0)] | None = None
    #: Sharding for ``sora-bot gateway`` processes (discord.py's AutoShardedBot): the fixed
    #: total, and the shards this process owns. Both absent: one unsharded connection.
    shard_count: Annotated[int, Field(ge=1, le=100_000)] | None = None
    shard_ids: Annotated[tuple[int, ...], Field(strict=False)] | None = None

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(f"must not be empty (or set {ENV_DISCORD_TOKEN})")
        return _not_placeholder(value, ENV_DISCORD_TOKEN)

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not re.match(r"^wss?://[^\s/]+", value):
            raise ValueError("must be a ws(s) URL")
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> DiscordConfig:
        # Discord closes a session whose shard id is not below the count (4010), and two
        # processes owning one shard would each answer that shard's interactions.
        ids, count = self.shard_ids, self.shard_count
        if ids is None:
            return self
        if count is None:
            raise ValueError("shard_ids needs shard_count (the total over all processes)")
        if not ids:
            raise ValueError("shard_ids must list at least one shard (or be left out)")
        if len(set(ids)) != len(ids):
            raise ValueError(f"shard_ids lists a shard twice: {list(ids)}")
        outside = [i for i in ids if not 0 <= i < count]
        if outside:
            raise ValueError(f"shard_ids {outside} not in 0..{count - 1} (shard_count {count})")
        return self

    @property
    def sharded(self) -> bool:
        return self.shard_count is not None


class ApiframeConfig(_Strict):
    api_key: SecretStr
    base_url: str = "https://api.apiframe.ai"
    model: str = "sora-2-pro"
    request_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    poll_interval_seconds: Annotated[float, Field(gt=0, le=600)] = 7.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    # First look at a submitted job when its variant usually finishes (bot/jobs/runtimes.py),
    # not every poll interval from the start; false: look every interval from the start.
    expected_time_polling: bool = True
    expected_time_history: Annotated[int, Field(ge=1, le=500)] = 20
    default_run_seconds: Annotated[float, Field(ge=0, le=24 * 3600)] = 60.0
    default_run_seconds_per_video_second: Annotated[float, Field(ge=0, le=3600)] = 12.0
    # Results are fetched only from these hosts (and base_url's own host), never from a
    # loopback/private address unless allowed: a provider answer or a CDN redirect must not
    # make the bot fetch, and post in Discord, something from the operator's own network.
    download_hosts: Annotated[tuple[str, ...], Field(strict=False)] = DEFAULT_DOWNLOAD_HOSTS
    allow_private_addresses: Annotated[bool, Field(strict=True)] = False
    # Extend downloads the whole video to read its last frame on every click: keep that small.
    extend_max_video_bytes: Annotated[int, Field(ge=1024, strict=True)] = 64 * 1024 * 1024

    @field_validator("api_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("afk_"):
            # Never echo the value: it is a secret even when it is wrong.
            raise ValueError(f"must start with 'afk_' (or set {ENV_APIFRAME_KEY})")
        return _not_placeholder(value, ENV_APIFRAME_KEY)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("download_hosts")
    @classmethod
    def _bare_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        hosts = []
        for entry in value:
            host = entry.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
            if ":" in host:
                try:
                    host = str(ipaddress.IPv6Address(host))
                except ValueError:
                    host = ""
            if not _HOST.match(host) and ":" not in host:
                raise ValueError(f"{entry!r} is not a bare host name (no scheme, port or path)")
            hosts.append(host)
        return tuple(hosts)


class DatabaseConfig(_Strict):
    path: Annotated[Path, Field(strict=False)] = Path("data/sora-bot.sqlite3")
    #: PostgreSQL instead of the SQLite file: ``postgresql://user:password@host:5432/dbname``
    #: (a secret: it holds the password). Set this or ``path``, not both.
    url: SecretStr | None = None
    busy_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 5000
    #: Most connections one process opens to PostgreSQL.
    pool_size: Annotated[int, Field(ge=1, le=1000, strict=True)] = 10

    @model_validator(mode="after")
    def _one_backend(self) -> DatabaseConfig:
        if self.url is None:
            return self
        if "path" in self.model_fields_set:
            raise ValueError("set either path (SQLite) or url (PostgreSQL), not both")
        parse_url(self.url.get_secret_value())  # a ValueError that never repeats the URL
        return self

    @property
    def secrets(self) -> tuple[str, ...]:
        """What the log filter scrubs: the URL and its password (percent-encoded or not)."""
        if self.url is None:
            return ()
        url = self.url.get_secret_value()
        password = urlsplit(url).password or ""
        return tuple(dict.fromkeys(s for s in (url, password, unquote(password)) if s))

    @property
    def where(self) -> str:
        """The database as messages name it: the file, or the server without the password."""
        if self.url is None:
            return str(self.path)
        return str(parse_url(self.url.get_secret_value()))


class LedgerConfig(_Strict):
    starting_credits: Annotated[int, Field(ge=0, strict=True)] = 0
    # Above 2**53 - 1 a balance is no longer exact in JSON; see bot/ledger/limit.py.
    max_balance: Annotated[int, Field(gt=0, le=MAX_AMOUNT, strict=True)] = 1_000_000

    @model_validator(mode="after")
    def _start_within_max(self) -> LedgerConfig:
        if self.starting_credits > self.max_balance:
            raise ValueError("starting_credits must not exceed max_balance")
        return self


class JobsConfig(_Strict):
    max_in_flight_per_guild: Annotated[int, Field(ge=1, le=1000)] = 5
    max_in_flight_per_member: Annotated[int, Field(ge=1, le=100)] = 2
    timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 20.0
    progress_edit_interval_seconds: Annotated[float, Field(ge=1, le=600)] = 15.0
    max_start_image_bytes: Annotated[int, Field(ge=1024, le=25_000_000)] = 10 * 1024 * 1024
    # Up to 8192 x 8192, the largest side accepted at all; the default is explained in
    # bot/launch/validation.py (DEFAULT_MAX_PIXELS).
    max_start_image_pixels: Annotated[int, Field(ge=256, le=8192 * 8192, strict=True)] = (
        4096 * 4096
    )
    max_concurrent_start_images: Annotated[int, Field(ge=1, le=32, strict=True)] = 2
    max_concurrent_work: Annotated[int, Field(ge=1, le=100)] = 8
    token_margin_seconds: Annotated[float, Field(ge=0, le=600)] = 60.0
    token_grace_seconds: Annotated[float, Field(ge=0, le=600)] = 30.0
    max_result_bytes: Annotated[int, Field(ge=1024)] = 500 * 1024 * 1024
    #: How long a scheduler holds a job's step before another process may take it over
    #: (bot/jobs/leases.py); renewed every third of it while the step runs.
    lease_seconds: Annotated[float, Field(ge=0.5, le=3600)] = 30.0


class ModerationConfig(_Strict):
    moderators_can_mint: bool = True
    owner_ids: Annotated[tuple[Annotated[int, Field(gt=0, strict=True)], ...],
                         Field(strict=False)] = ()


class PolicyConfig(_Strict):
    """Protecting the shared provider account (bot/policy/strikes.py): the operator's defaults,
    which a guild's moderators may override with ``/budget strikes rules``."""

    #: Content-policy refusals within the window that start a member's cooldown (0: off).
    strike_limit: Annotated[int, Field(ge=0, le=100)] = 3
    strike_window_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 24
    #: How long the automatic cooldown lasts (0: strikes are counted but never cool down).
    strike_cooldown_hours: Annotated[int, Field(ge=0, le=24 * 90)] = 12


class LoggingConfig(_Strict):
    level: str = "INFO"

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper


PriceGrid = dict[str, Annotated[int, Field(gt=0, le=MAX_AMOUNT, strict=True)]]
OptionValue = str | int | float | bool


class ModelSettings(_Strict):
    """``[video.models."<id>"]``: how one enabled model is offered (see bot/catalog/lineup.py)."""

    #: The name members see (default: the model id).
    label: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    #: The options whose values change the price: the axes of ``[pricing."<id>"]``.
    price_by: Annotated[tuple[str, ...], Field(strict=False)] | None = None
    #: Values sent unless the member chooses another (any option of the model).
    defaults: dict[str, OptionValue] = Field(default_factory=dict)
    #: The values members may choose for a choice (default: every value the model takes).
    offer: dict[str, Annotated[tuple[OptionValue, ...], Field(strict=False)]] = Field(
        default_factory=dict)


class VideoConfig(_Strict):
    """``[video]``: which models members may use, beyond the /sora one."""

    #: Default: only ``apiframe.model`` (what /sora runs).
    enabled: Annotated[tuple[str, ...], Field(strict=False)] | None = None
    #: The model /video uses when a member picks none (default: the first enabled).
    default: str | None = None
    models: dict[str, ModelSettings] = Field(default_factory=dict)


class Settings(_Strict):
    discord: DiscordConfig
    apiframe: ApiframeConfig
    # Merged over the defaults: a file that prices another model keeps the seed's Sora grid.
    pricing: dict[str, PriceGrid] = Field(default_factory=lambda: dict(DEFAULT_PRICING))
    video: VideoConfig = Field(default_factory=VideoConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    moderation: ModerationConfig = Field(default_factory=ModerationConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    packs: PacksConfig = Field(default_factory=PacksConfig)
    _lineup: Lineup | None = PrivateAttr(default=None)
    _catalog: Catalog | None = PrivateAttr(default=None)

    @field_validator("pricing")
    @classmethod
    def _over_defaults(cls, value: dict[str, PriceGrid]) -> dict[str, PriceGrid]:
        return {**DEFAULT_PRICING, **value}

    @model_validator(mode="after")
    def _lineup_is_sound(self) -> Settings:
        # Checked against the packaged catalog, so a bad model, option or grid stops
        # start-up (and `check`) in one line naming its key.
        video = self.video
        self._catalog = catalog = Catalog.load()
        self._lineup = build_lineup(
            catalog, sora_model=self.apiframe.model, enabled=video.enabled,
            default=video.default,
            models={model_id: cfg.model_dump(exclude_none=True)
                    for model_id, cfg in video.models.items()},
            pricing=self.pricing,
        )
        return self

    @property
    def lineup(self) -> Lineup:
        """The enabled models as members are offered them (built at validation)."""
        assert self._lineup is not None
        return self._lineup

    @property
    def catalog(self) -> Catalog:
        """Every video model of the vendored contract (enabled or not)."""
        assert self._catalog is not None
        return self._catalog


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    for var, section, key in (
        (ENV_DISCORD_TOKEN, "discord", "token"),
        (ENV_APIFRAME_KEY, "apiframe", "api_key"),
        (ENV_DATABASE_URL, "database", "url"),
    ):
        value = env.get(var)
        if value:
            table = raw.setdefault(section, {})
            if isinstance(table, dict):
                table[key] = value
    return raw


# What strict validation refused, said the TOML way (the quoted "3" is the usual mistake).
_TYPE_HINTS = {
    "bool_type": "must be true or false, without quotes",
    "int_type": "must be a whole number, without quotes",
    "int_from_float": "must be a whole number, without quotes",
    "float_type": "must be a number, without quotes",
    "string_type": "must be text in quotes",
    "tuple_type": "must be a list, e.g. [1, 2]",
    "path_type": "must be a file path in quotes",
    "dict_type": "must be a table",
    "model_type": "must be a table",
}


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling against config.example.toml)"
    if kind == "missing":
        hint = {
            "discord.token": f" (or set {ENV_DISCORD_TOKEN})",
            "apiframe.api_key": f" (or set {ENV_APIFRAME_KEY})",
        }.get(loc, "")
        return f"{loc}: required key is missing{hint}"
    if kind in _TYPE_HINTS:
        return f"{loc}: {_TYPE_HINTS[kind]}"
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"] or message.startswith(f"{loc}."):
        return message  # a whole-table check (the video lineup, [web]) names its own key
    return f"{loc}: {message}"


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Validate already-parsed TOML data, with environment overrides for the secrets."""
    data = _apply_env({k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()},
                      os.environ if env is None else env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate ``path``; every failure is a :class:`ConfigError` with one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found (copy config.example.toml to {path} and fill it in)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_settings(raw, env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
