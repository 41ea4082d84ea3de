"""Policy (SPEC §6): every number of the rules, loaded from one TOML file.

The policy's ``name`` is stamped on every verdict, so a backtest can run one history under two
policies and compare. Rates are held as ``Fraction`` and compared on integers (SPEC §1).

The file is checked against a declarative schema (msgspec structs with ranges, unknown keys
refused) before anything runs, so a typo or an absurd number is a one-line error naming the
setting as written in the TOML, never a crash mid-run or a run that takes hours (issue #8).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

import msgspec
from msgspec import Meta

from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.campaigns import Campaign, CampaignError, parse_campaigns

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DAY_MS = 86_400_000

#: Upper bounds of the schema: far beyond any real rule, small enough that a run stays bounded.
MAX_DURATION_MS = 400 * _DAY_MS
MAX_DAYS = 366
MAX_COUNT = 1_000_000
MAX_CENTS = 10**9
MAX_RECORD_BYTES = 64 << 20


class PolicyError(ValueError):
    """A policy file that cannot be used, with the setting at fault in the message."""


def parse_duration_ms(value: object, setting: str = "duration") -> int:
    """Milliseconds of ``"5m"``, ``"48h"``, ``"30d"``, ``"250ms"`` or a bare int of ms.

    At most :data:`MAX_DURATION_MS` (400 days): no rule reads further back, and a larger
    number would only make a run crash or crawl later.
    """
    try:
        return _duration_ms(value)
    except ValueError as exc:
        raise PolicyError(f"{setting}: {exc}") from None


def _duration_ms(value: object) -> int:
    ms: int | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        ms = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        ms = int(match.group(1)) * _UNITS_MS[match.group(2)]
    if ms is None:
        raise ValueError(f"expected a duration like '5m', '48h', '30d', got {value!r}")
    if ms > MAX_DURATION_MS:
        raise ValueError(f"at most 400 days, got {value!r}")
    return ms


# -- the schema's value types: each parses and bounds itself in the msgspec decode hook ----------


class Duration(int):
    """Milliseconds, written ``"48h"`` (or a bare int of ms); 0 … 400 days."""


class WholeDays(Duration):
    """A duration of whole days (rules evaluated at local midnight ``E_T``)."""


class Clock(tuple[int, int]):
    """Local wall-clock time ``"HH:MM"``."""


class Zone(str):
    """An IANA time zone name that exists in the tz database (``Asia/Shanghai``)."""

    __slots__ = ()


class Rate(Fraction):
    """A number held exactly (``0.85`` is 85/100), within ``[LOW, HIGH]``."""

    LOW: ClassVar[Fraction] = Fraction(0)
    HIGH: ClassVar[Fraction] = Fraction(1)


class Ratio(Rate):
    """A multiple, such as the quality-refund ratio against the category."""

    HIGH = Fraction(1000)


class DailyAverage(Rate):
    """Sub-orders a day."""

    HIGH = Fraction(MAX_COUNT)


def _hook(kind: type, value: Any) -> Any:
    """Decode one schema value type; a ValueError becomes a ValidationError with its path."""
    if issubclass(kind, Duration):
        ms = _duration_ms(value)
        if issubclass(kind, WholeDays) and ms % _DAY_MS:
            raise ValueError(f"must be whole days (evaluated at local midnight), got {value!r}")
        return kind(ms)
    if kind is Clock:
        if isinstance(value, str) and (match := _CLOCK.match(value)):
            return Clock((int(match.group(1)), int(match.group(2))))
        raise ValueError(f"expected local time 'HH:MM', got {value!r}")
    if kind is Zone:
        return Zone(_zone(value))
    if issubclass(kind, Rate):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            rate = Fraction(str(value))
        except ValueError:
            raise ValueError(f"expected a finite number, got {value!r}") from None
        if not kind.LOW <= rate <= kind.HIGH:
            raise ValueError(f"expected a number in [{kind.LOW}, {kind.HIGH}], got {value!r}")
        return kind(rate)
    raise TypeError(f"no decoder for {kind.__name__}")  # only the schema's own types reach here


def _zone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an IANA time zone name, got {value!r}")
    try:
        ZoneInfo(value)
    except Exception:  # noqa: BLE001 - ZoneInfo raises KeyError, ValueError or OSError ("Asia")
        raise ValueError(
            f"unknown time zone {value!r} (an IANA name such as 'Asia/Shanghai')"
        ) from None
    return value


Days = Annotated[int, Meta(ge=1, le=MAX_DAYS)]
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
Cents = Annotated[int, Meta(ge=0, le=MAX_CENTS)]
Categories = Annotated[list[Annotated[str, Meta(min_length=1)]], Meta(max_length=100_000)]


class _Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A TOML table: unknown keys are refused (a typo must not fall back to a default)."""


class _TierDoc(_Table):
    min_daily_avg: DailyAverage
    cents_per_package: Cents


class _ExemptionDoc(_Table):
    report_within: Duration = Duration(48 * 3_600_000)


class _SameDayShipDoc(_Table):
    cutoff: Clock = Clock((17, 0))
    ship_by: Clock = Clock((20, 0))
    min_rate: Rate = Rate(85, 100)
    tiers: Annotated[list[_TierDoc], Meta(min_length=1, max_length=100)] = msgspec.field(
        default_factory=lambda: [
            _TierDoc(min_daily_avg=DailyAverage(1000), cents_per_package=30),
            _TierDoc(min_daily_avg=DailyAverage(300), cents_per_package=20),
        ]
    )
    settle_delay: WholeDays = WholeDays(2 * _DAY_MS)
    enrollment_delay: WholeDays = WholeDays(2 * _DAY_MS)


class _Ship48Pickup24Doc(_Table):
    ship_within: Duration = Duration(48 * 3_600_000)
    pickup_within: Duration = Duration(24 * 3_600_000)
    window_days: Days = 7
    lag_days: Days = 4
    max_rate: Rate = Rate(90, 100)
    min_orders: Annotated[int, Meta(ge=1, le=MAX_COUNT)] = 1
    excluded_categories: Categories = msgspec.field(default_factory=list)


class _Pickup48Doc(_Table):
    pickup_within: Duration = Duration(48 * 3_600_000)
    lag_days: Days = 3
    tag_above: Rate = Rate(98, 100)
    excluded_categories: Categories = msgspec.field(default_factory=list)


class _QualityRefundDoc(_Table):
    refund_within: Duration = Duration(30 * _DAY_MS)
    window_days: Days = 30
    ratio: Ratio = Ratio(3, 2)
    min_quality_refunds: Count = 6
    observe_days: Days = 7
    strikes: Annotated[int, Meta(ge=1, le=MAX_DAYS)] = 3
    fine_cents: Cents = 20_000
    scope_after_exit: Duration = Duration(30 * _DAY_MS)


class _PolicyDoc(_Table):
    """The policy file as written (SPEC §6); the defaults are the SPEC's."""

    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    timezone: Zone = Zone("Asia/Shanghai")
    allowed_lateness: Duration = Duration(5 * 60_000)
    orphan_retention: Duration = Duration(7 * _DAY_MS)
    dedupe_horizon: Duration = Duration(_DAY_MS)
    order_horizon: Duration = Duration(35 * _DAY_MS)
    max_record_bytes: Annotated[int, Meta(ge=1, le=MAX_RECORD_BYTES)] = 1 << 20
    exemption: _ExemptionDoc = msgspec.field(default_factory=_ExemptionDoc)
    same_day_ship: _SameDayShipDoc = msgspec.field(default_factory=_SameDayShipDoc)
    ship48_pickup24: _Ship48Pickup24Doc = msgspec.field(default_factory=_Ship48Pickup24Doc)
    pickup48: _Pickup48Doc = msgspec.field(default_factory=_Pickup48Doc)
    quality_refund: _QualityRefundDoc = msgspec.field(default_factory=_QualityRefundDoc)
    #: SPEC §4.6 ``[[campaign]]`` tables, checked by :mod:`streams.campaigns`.
    campaign: list[Any] | None = None


@dataclass(frozen=True)
class Tier:
    """Incentive tier: from ``min_daily_avg`` sub-orders a day, ``cents_per_package``."""

    min_daily_avg: Fraction
    cents_per_package: int


@dataclass(frozen=True)
class SameDayShip:
    """§4.1 settings."""

    cutoff: tuple[int, int] = (17, 0)
    ship_by: tuple[int, int] = (20, 0)
    min_rate: Fraction = Fraction(85, 100)
    tiers: tuple[Tier, ...] = (Tier(Fraction(1000), 30), Tier(Fraction(300), 20))
    settle_delay_days: int = 2
    enrollment_delay_days: int = 2


@dataclass(frozen=True)
class Ship48Pickup24:
    """§4.2 settings."""

    ship_within_ms: int = 48 * 3_600_000
    pickup_within_ms: int = 24 * 3_600_000
    window_days: int = 7
    lag_days: int = 4
    max_rate: Fraction = Fraction(90, 100)
    min_orders: int = 1
    excluded_categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Pickup48:
    """§4.3 settings."""

    pickup_within_ms: int = 48 * 3_600_000
    lag_days: int = 3
    tag_above: Fraction = Fraction(98, 100)
    excluded_categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class QualityRefund:
    """§4.4 settings."""

    refund_within_ms: int = 30 * 86_400_000
    window_days: int = 30
    ratio: Fraction = Fraction(3, 2)
    min_quality_refunds: int = 6
    observe_days: int = 7
    strikes: int = 3
    fine_cents: int = 20_000
    scope_after_exit_ms: int = 30 * 86_400_000


@dataclass(frozen=True)
class Policy:
    """All settings of one policy (SPEC §6); the defaults are the SPEC's."""

    name: str = "default"
    timezone: str = "Asia/Shanghai"
    allowed_lateness_ms: int = 5 * 60_000
    orphan_retention_ms: int = 7 * 86_400_000
    #: How long an event id is remembered after its event's ts (duplicates older than that
    #: are behind the watermark anyway and are counted late).
    dedupe_horizon_ms: int = 86_400_000
    #: How long a paid order id is remembered (SPEC §7): a payment for it within this much
    #: event time is a second payment (rejected); after it, a new order under the same id.
    order_horizon_ms: int = 35 * 86_400_000
    #: Records longer than this are rejected ``too_large`` before parsing (SPEC §5).
    max_record_bytes: int = 1024 * 1024
    exemption_report_within_ms: int = 48 * 3_600_000
    same_day_ship: SameDayShip = field(default_factory=SameDayShip)
    ship48_pickup24: Ship48Pickup24 = field(default_factory=Ship48Pickup24)
    pickup48: Pickup48 = field(default_factory=Pickup48)
    quality_refund: QualityRefund = field(default_factory=QualityRefund)
    #: SPEC §4.6: the campaigns' promises (``[[campaign]]`` tables; none by default).
    campaigns: tuple[Campaign, ...] = ()

    def calendar(self) -> Calendar:
        """A calendar in this policy's time zone."""
        return Calendar(self.timezone)


_AT = re.compile(r"^(.*?)(?: - at `\$\.?([^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]*)`$")


_WORDS = {
    "`int`": "an integer",
    "`float`": "a number",
    "`str`": "a string",
    "`array`": "a list",
    "`object`": "a table",
    "`bool`": "a boolean",
}
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()


def _value_at(doc: object, path: str) -> object:
    """The value a msgspec path (``a.b[0].c``) points at in the parsed TOML, if any."""
    for key, index in _STEP.findall(path):
        if key and isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif index and isinstance(doc, list) and int(index) < len(doc):
            doc = doc[int(index)]
        else:
            return _MISSING
    return doc


def _message(exc: msgspec.ValidationError, doc: dict[str, Any]) -> str:
    """msgspec's message, rewritten to name the setting as written in the TOML."""
    match = _AT.match(str(exc))
    assert match is not None  # noqa: S101 - the pattern matches any string
    text, path = match.group(1), match.group(2) or ""
    if unknown := _UNKNOWN.match(text):
        where = f"[{path}]" if path else "the top level"
        return f"unknown setting `{unknown.group(1)}` in {where}"
    if text.startswith("Expected"):
        text = "expected" + text[len("Expected") :]
        for word, plain in _WORDS.items():
            text = text.replace(word, plain)
        value = _value_at(doc, path)
        if "got" not in text and value is not _MISSING and not isinstance(value, dict | list):
            text += f", got {value!r}"
    return f"{path or 'policy'}: {text}"


def _check(doc: _PolicyDoc) -> None:
    """The cross-field rules a per-field range cannot say."""
    same_day = doc.same_day_ship
    if tuple(same_day.cutoff) >= tuple(same_day.ship_by):
        raise PolicyError(
            "same_day_ship.cutoff: must be before same_day_ship.ship_by "
            f"(got {_hhmm(same_day.cutoff)} and {_hhmm(same_day.ship_by)})"
        )
    # Tiers may be listed in any order (the highest one that applies wins); two tiers of one
    # min_daily_avg would leave the amount ambiguous.
    averages = sorted(Fraction(tier.min_daily_avg) for tier in same_day.tiers)
    if any(a == b for a, b in zip(averages, averages[1:], strict=False)):
        shown = ", ".join(str(float(a)).removesuffix(".0") for a in averages)
        raise PolicyError(
            f"same_day_ship.tiers: each tier needs its own min_daily_avg (got {shown})"
        )


def _hhmm(clock: tuple[int, int]) -> str:
    return f"{clock[0]:02d}:{clock[1]:02d}"


def policy_from_dict(doc: dict[str, Any], default_name: str = "default") -> Policy:
    """Build a policy from parsed TOML, checking every setting; raises ``PolicyError``."""
    try:
        parsed = msgspec.convert(doc, _PolicyDoc, strict=True, dec_hook=_hook)
    except msgspec.ValidationError as exc:
        raise PolicyError(_message(exc, doc)) from None
    _check(parsed)
    s, sp, p, q = (
        parsed.same_day_ship,
        parsed.ship48_pickup24,
        parsed.pickup48,
        parsed.quality_refund,
    )
    return Policy(
        name=parsed.name if parsed.name is not None else default_name,
        timezone=str(parsed.timezone),
        allowed_lateness_ms=int(parsed.allowed_lateness),
        orphan_retention_ms=int(parsed.orphan_retention),
        dedupe_horizon_ms=int(parsed.dedupe_horizon),
        order_horizon_ms=int(parsed.order_horizon),
        max_record_bytes=parsed.max_record_bytes,
        exemption_report_within_ms=int(parsed.exemption.report_within),
        same_day_ship=SameDayShip(
            cutoff=(s.cutoff[0], s.cutoff[1]),
            ship_by=(s.ship_by[0], s.ship_by[1]),
            min_rate=Fraction(s.min_rate),
            tiers=tuple(
                sorted(
                    (Tier(Fraction(t.min_daily_avg), t.cents_per_package) for t in s.tiers),
                    key=lambda tier: tier.min_daily_avg,
                    reverse=True,
                )
            ),
            settle_delay_days=int(s.settle_delay) // _DAY_MS,
            enrollment_delay_days=int(s.enrollment_delay) // _DAY_MS,
        ),
        ship48_pickup24=Ship48Pickup24(
            ship_within_ms=int(sp.ship_within),
            pickup_within_ms=int(sp.pickup_within),
            window_days=sp.window_days,
            lag_days=sp.lag_days,
            max_rate=Fraction(sp.max_rate),
            min_orders=sp.min_orders,
            excluded_categories=frozenset(sp.excluded_categories),
        ),
        pickup48=Pickup48(
            pickup_within_ms=int(p.pickup_within),
            lag_days=p.lag_days,
            tag_above=Fraction(p.tag_above),
            excluded_categories=frozenset(p.excluded_categories),
        ),
        quality_refund=QualityRefund(
            refund_within_ms=int(q.refund_within),
            window_days=q.window_days,
            ratio=Fraction(q.ratio),
            min_quality_refunds=q.min_quality_refunds,
            observe_days=q.observe_days,
            strikes=q.strikes,
            fine_cents=q.fine_cents,
            scope_after_exit_ms=int(q.scope_after_exit),
        ),
        campaigns=_campaigns(parsed.campaign, str(parsed.timezone), int(parsed.order_horizon)),
    )


def _campaigns(value: object, tz: str, order_horizon_ms: int) -> tuple[Campaign, ...]:
    try:
        return parse_campaigns(value, tz, order_horizon_ms)
    except CampaignError as exc:
        raise PolicyError(str(exc)) from None


def load_policy(path: str | Path) -> Policy:
    """Load and check a TOML policy file; the name defaults to the file's stem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"policy file {path} is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    return policy_from_dict(doc, default_name=path.stem)
