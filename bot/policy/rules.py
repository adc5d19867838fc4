"""A guild's spending policy and the pure rules that judge one video request against it.

No I/O here: :class:`bot.policy.store.PolicyStore` reads the policy and the member's spending
(inside the reserving transaction) and hands them to :func:`evaluate`, so every rule can be tested
with plain values and a fixed clock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.config import RESOLUTIONS
from bot.errors import UserError, one_of
from bot.i18n.catalog import Listing, Phrase

#: The rule names a :class:`PolicyRefusal` can carry.
RULES: tuple[str, ...] = (
    "frozen", "role", "channel", "model", "variant", "cooldown", "daily_cap", "weekly_cap",
    "guild_jobs", "member_jobs",
    # bot/policy/strikes.py: a member's automatic cooldown after content-policy refusals, and a
    # prompt containing a word of the guild's list.
    "strike_cooldown", "word_list",
)

NOTHING_CHARGED = "Nothing was charged."


class PolicyRefusal(UserError):
    """The guild's policy refused a request before anything was charged.

    ``rule`` names the rule (one of :data:`RULES`); ``retry_at`` is when the same request can
    succeed at the earliest, or None when waiting alone will not help (or cannot be known,
    e.g. until another video finishes).
    """

    def __init__(self, rule: str, message: str, *, retry_at: datetime | None = None,
                 key: str | None = None, params: dict[str, object] | None = None) -> None:
        if rule not in RULES:
            raise ValueError(f"unknown policy rule {rule!r}")
        self.rule, self.retry_at = rule, retry_at
        super().__init__(message, key=key, params=params)


class InvalidPolicy(UserError):
    """A moderator asked for a policy value that cannot work; nothing was changed."""


@dataclass(frozen=True, slots=True)
class GuildPolicy:
    guild_id: int
    daily_cap: int | None = None
    weekly_cap: int | None = None
    cooldown_seconds: int = 0
    max_in_flight_guild: int | None = None
    max_in_flight_member: int | None = None
    max_resolution: str | None = None
    max_duration: int | None = None
    allowed_role_ids: frozenset[int] = frozenset()
    allowed_channel_ids: frozenset[int] = frozenset()
    frozen: bool = False
    #: Whether anyone, not only the requester, may Reroll/Edit/Extend a delivered video.
    buttons_open: bool = False
    #: Above this price /sora shows a preview to confirm; above the next, a moderator approves.
    preview_above: int | None = None
    approval_above: int | None = None
    #: The enabled models the guild's members may use (None: every model the bot enables,
    #: including ones its operator enables later).
    models: frozenset[str] | None = None
    #: The model /video uses when a member picks none (None: the bot's default).
    default_model: str | None = None


@dataclass(frozen=True, slots=True)
class MemberSpending:
    """Credits of the member's jobs that were not refunded, per UTC day / ISO week / month."""

    today: int
    week: int
    month: int


class PolicySubject(Protocol):
    """What the rules need to know about a request (:class:`bot.request.VideoRequest` is one)."""

    @property
    def guild_id(self) -> int: ...
    @property
    def channel_id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def role_ids(self) -> tuple[int, ...]: ...
    @property
    def model(self) -> str: ...
    @property
    def resolution(self) -> str: ...
    @property
    def duration(self) -> int: ...
    @property
    def price(self) -> int: ...


# -- time windows (UTC) --------------------------------------------------------------------


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week containing ``now``."""
    start = day_start(now)
    return start - timedelta(days=start.weekday())


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


# -- wording ---------------------------------------------------------------------------------


def when(moment: datetime) -> str:
    """A moment as Discord shows it to each reader: relative, in their own time zone."""
    return f"<t:{int(moment.timestamp())}:R>"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def describe_seconds(seconds: int) -> str:
    if seconds % 3600 == 0:
        return plural(seconds // 3600, "hour")
    if seconds % 60 == 0:
        return plural(seconds // 60, "minute")
    return plural(seconds, "second")


def seconds_phrase(seconds: int) -> Phrase:
    """:func:`describe_seconds` for the catalog, in the reader's language."""
    if seconds % 3600 == 0:
        return Phrase("common.hours", seconds // 3600)
    if seconds % 60 == 0:
        return Phrase("common.minutes", seconds // 60)
    return Phrase("common.seconds", seconds)


def credits(count: int) -> Phrase:
    return Phrase("common.credits", count)


# -- the rules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelNames:
    """What the rules need to know of the bot's enabled models (pure data, from the config)."""

    #: Enabled model id -> the label members see, in the order the bot lists them.
    labels: Mapping[str, str]
    #: The enabled models whose quality is Sora's standard/high scale (``max_resolution``).
    sora: frozenset[str] = frozenset()

    def named(self, models: Collection[str]) -> str:
        """``Sora 2 Pro and Veo 3.1 Fast``: the enabled ones among ``models``, in bot order."""
        names = [label for model, label in self.labels.items() if model in models]
        if not names:
            return "none"
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    def label(self, model: str) -> str:
        return self.labels.get(model, model)


def allowed_models(policy: GuildPolicy, lineup: ModelNames) -> tuple[str, ...]:
    """The enabled models the guild may use, in bot order (ids the operator has since
    disabled are ignored, never revived)."""
    return tuple(m for m in lineup.labels if policy.models is None or m in policy.models)


def variant_allowed(policy: GuildPolicy, *, sora: bool, resolution: str, duration: int) -> bool:
    """Whether the guild's variant limits allow this quality and length.

    ``max_duration`` limits every model that has a duration (0: the model picks its own, which
    no limit can judge). ``max_resolution`` is Sora's standard/high scale: it limits Sora
    models only, as other models' qualities (720p, pro, …) are not on that scale.
    """
    if policy.max_duration is not None and duration > policy.max_duration:
        return False
    return not (
        sora and policy.max_resolution is not None and resolution in RESOLUTIONS
        and RESOLUTIONS.index(resolution) > RESOLUTIONS.index(policy.max_resolution)
    )


def evaluate(
    policy: GuildPolicy,
    subject: PolicySubject,
    spending: MemberSpending,
    last_job_at: datetime | None,
    now: datetime,
    lineup: ModelNames | None = None,
) -> None:
    """Raise :class:`PolicyRefusal` for the first rule ``subject`` breaks.

    The order puts rules that waiting cannot fix first, then the caps (weekly before daily: its
    reset is never earlier), then the cooldown, so the answer names the rule that matters most.
    ``lineup`` names the enabled models (None: only the subject's, taken as a Sora model).
    """
    if lineup is None:
        lineup = ModelNames({subject.model: subject.model}, frozenset({subject.model}))
    if policy.frozen:
        raise PolicyRefusal(
            "frozen",
            "The moderators have paused video generation on this server. You can try again "
            f"once they resume it. {NOTHING_CHARGED}",
            key="refusal.frozen",
        )
    if policy.allowed_channel_ids and subject.channel_id not in policy.allowed_channel_ids:
        where = ", ".join(f"<#{c}>" for c in sorted(policy.allowed_channel_ids))
        raise PolicyRefusal(
            "channel",
            f"Videos can't be made in this channel. Try again in {where}. {NOTHING_CHARGED}",
            key="refusal.channel", params={"channels": where},
        )
    if policy.allowed_role_ids and not policy.allowed_role_ids.intersection(subject.role_ids):
        roles = ", ".join(f"<@&{r}>" for r in sorted(policy.allowed_role_ids))
        raise PolicyRefusal(
            "role",
            f"On this server videos are for members with one of these roles: {roles}. "
            f"{NOTHING_CHARGED}",
            key="refusal.role", params={"roles": roles},
        )
    _check_model(policy, subject, lineup)
    _check_variant(policy, subject, subject.model in lineup.sora)
    _check_cap("weekly_cap", policy.weekly_cap, spending.week, subject.price,
               week_start(now) + timedelta(days=7), "this week", "weekly")
    _check_cap("daily_cap", policy.daily_cap, spending.today, subject.price,
               day_start(now) + timedelta(days=1), "today", "daily")
    if policy.cooldown_seconds and last_job_at is not None:
        ready = last_job_at + timedelta(seconds=policy.cooldown_seconds)
        if now < ready:
            raise PolicyRefusal(
                "cooldown",
                f"This server has a cooldown of {describe_seconds(policy.cooldown_seconds)} "
                f"between your videos. You can start another {when(ready)}. {NOTHING_CHARGED}",
                retry_at=ready, key="refusal.cooldown",
                params={"cooldown": seconds_phrase(policy.cooldown_seconds),
                        "ready": when(ready)},
            )


def _check_model(policy: GuildPolicy, subject: PolicySubject, lineup: ModelNames) -> None:
    if policy.models is None or subject.model in policy.models:
        return
    usable = allowed_models(policy, lineup)
    instead = (f"You can use {lineup.named(usable)} (/video)." if usable
               else "No video model is allowed here right now; ask the moderators.")
    names = [label for model, label in lineup.labels.items() if model in usable]
    raise PolicyRefusal(
        "model",
        f"{lineup.label(subject.model)} is not allowed on this server. {instead} "
        f"{NOTHING_CHARGED}",
        key="refusal.model_not_allowed" if names else "refusal.model_none_allowed",
        params={"model": lineup.label(subject.model), "usable": Listing(names, "and")},
    )


def _check_variant(policy: GuildPolicy, subject: PolicySubject, sora: bool) -> None:
    if variant_allowed(policy, sora=sora, resolution=subject.resolution,
                       duration=subject.duration):
        return
    limits, asked = [], []
    said: list[object] = []
    wanted: list[object] = []
    if sora and policy.max_resolution is not None:
        limits.append(f"{policy.max_resolution} resolution")
        asked.append(subject.resolution)
        said.append(Phrase("refusal.variant_resolution",
                           params={"resolution": policy.max_resolution}))
        wanted.append(subject.resolution)
    if policy.max_duration is not None:
        limits.append(f"{policy.max_duration} seconds")
        asked.append(f"{subject.duration} seconds")
        said.append(Phrase("common.seconds", policy.max_duration))
        wanted.append(Phrase("common.seconds", subject.duration))
    raise PolicyRefusal(
        "variant",
        f"This server allows at most {' and '.join(limits)}; you asked for "
        f"{', '.join(asked)}. Try again with a smaller variant. {NOTHING_CHARGED}",
        key="refusal.variant",
        params={"limits": Listing(said, "and"), "asked": Listing(wanted, ",")},
    )


def _check_cap(
    rule: str, cap: int | None, spent: int, price: int, resets: datetime, period: str,
    adjective: str,
) -> None:
    if cap is None or spent + price <= cap:
        return
    if price > cap:
        raise PolicyRefusal(
            rule,
            f"This video costs {plural(price, 'credit')}, more than your {adjective} cap of "
            f"{plural(cap, 'credit')}. Try again with a shorter or standard-resolution video. "
            f"{NOTHING_CHARGED}",
            key=f"refusal.cap_too_high_{adjective}",
            params={"price": credits(price), "cap": credits(cap)},
        )
    left = cap - spent
    cheaper = f", or pick a cheaper video that fits the {left:,} left" if left > 0 else ""
    raise PolicyRefusal(
        rule,
        f"This video costs {plural(price, 'credit')} and you have spent {spent:,} of your "
        f"{adjective} cap of {plural(cap, 'credit')} {period}. You can try again "
        f"{when(resets)}{cheaper}. {NOTHING_CHARGED}",
        retry_at=resets, key=f"refusal.cap_spent_{adjective}",
        params={"price": credits(price), "spent": spent, "cap": credits(cap),
                "when": when(resets),
                "cheaper": Phrase("refusal.cap_cheaper", params={"left": left})
                if left > 0 else ""},
    )


def validate_variant_limits(
    max_resolution: object, max_duration: object, durations: Collection[int]
) -> None:
    """``durations``: the lengths a maximum may be (the schema holds them to Sora's)."""
    if max_resolution is not None and max_resolution not in RESOLUTIONS:
        raise InvalidPolicy("The maximum resolution must be standard or high.",
                            key="refusal.max_resolution_choice")
    if max_duration is not None and (
        isinstance(max_duration, bool) or max_duration not in durations
    ):
        raise InvalidPolicy(
            f"The maximum duration must be one of {one_of(tuple(sorted(durations)))} seconds.",
            key="refusal.max_duration_choice",
            params={"choices": Listing(tuple(sorted(durations)))},
        )
