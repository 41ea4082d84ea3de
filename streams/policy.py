"""Policy (SPEC §6): every number of the rules, loaded from one TOML file.

The policy's ``name`` is stamped on every verdict, so a backtest can run one history under two
policies and compare. Rates are held as ``Fraction`` and compared on integers (SPEC §1).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from streams.calendar import Calendar
from streams.campaigns import Campaign, CampaignError, parse_campaigns

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class PolicyError(ValueError):
    """A policy file that cannot be used, with the setting at fault in the message."""


def parse_duration_ms(value: object, setting: str = "duration") -> int:
    """Milliseconds of ``"5m"``, ``"48h"``, ``"30d"``, ``"250ms"`` or a bare int of ms."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNITS_MS[match.group(2)]
    raise PolicyError(f"{setting}: expected a duration like '5m', '48h', '30d', got {value!r}")


def _clock(value: object, setting: str) -> tuple[int, int]:
    if isinstance(value, str) and (match := _CLOCK.match(value)):
        return int(match.group(1)), int(match.group(2))
    raise PolicyError(f"{setting}: expected local time 'HH:MM', got {value!r}")


def _rate(value: object, setting: str) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PolicyError(f"{setting}: expected a number, got {value!r}")
    try:
        rate = Fraction(str(value))
    except ValueError as exc:
        raise PolicyError(f"{setting}: expected a number, got {value!r}") from exc
    if rate < 0:
        raise PolicyError(f"{setting}: must be >= 0, got {value!r}")
    return rate


def _int(value: object, setting: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PolicyError(f"{setting}: expected an integer >= {minimum}, got {value!r}")
    return value


def _categories(value: object, setting: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{setting}: expected a list of category ids, got {value!r}")
    return frozenset(value)


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


def _section(doc: dict[str, Any], name: str, known: set[str]) -> dict[str, Any]:
    section = doc.get(name, {})
    if not isinstance(section, dict):
        raise PolicyError(f"[{name}] must be a table")
    unknown = set(section) - known
    if unknown:
        raise PolicyError(f"[{name}]: unknown setting(s) {sorted(unknown)}")
    return section


def _tiers(value: object) -> tuple[Tier, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError("same_day_ship.tiers: expected a non-empty list of tables")
    tiers = []
    for i, tier in enumerate(value):
        if not isinstance(tier, dict) or set(tier) != {"min_daily_avg", "cents_per_package"}:
            raise PolicyError(
                f"same_day_ship.tiers[{i}]: expected {{min_daily_avg, cents_per_package}}"
            )
        tiers.append(
            Tier(
                _rate(tier["min_daily_avg"], f"same_day_ship.tiers[{i}].min_daily_avg"),
                _int(tier["cents_per_package"], f"same_day_ship.tiers[{i}].cents_per_package"),
            )
        )
    return tuple(sorted(tiers, key=lambda t: t.min_daily_avg, reverse=True))


def policy_from_dict(doc: dict[str, Any], default_name: str = "default") -> Policy:
    """Build a policy from parsed TOML, checking every setting; raises ``PolicyError``."""
    top = {
        "name",
        "timezone",
        "allowed_lateness",
        "orphan_retention",
        "dedupe_horizon",
        "order_horizon",
        "max_record_bytes",
        "exemption",
        "campaign",
    }
    sections = {"same_day_ship", "ship48_pickup24", "pickup48", "quality_refund"}
    unknown = set(doc) - top - sections
    if unknown:
        raise PolicyError(f"unknown setting(s) {sorted(unknown)}")
    base = Policy()
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise PolicyError(f"name: expected a non-empty string, got {name!r}")
    tz = doc.get("timezone", base.timezone)
    if not isinstance(tz, str):
        raise PolicyError(f"timezone: expected a string, got {tz!r}")
    try:
        Calendar(tz)
    except ValueError as exc:
        raise PolicyError(f"timezone: {exc}") from exc

    exemption = _section(doc, "exemption", {"report_within"})
    s = _section(
        doc,
        "same_day_ship",
        {"cutoff", "ship_by", "min_rate", "tiers", "settle_delay", "enrollment_delay"},
    )
    d = SameDayShip()
    settle_ms = parse_duration_ms(s.get("settle_delay", "48h"), "same_day_ship.settle_delay")
    enroll_ms = parse_duration_ms(s.get("enrollment_delay", "2d"), "same_day_ship.enrollment_delay")
    for setting, ms in (("settle_delay", settle_ms), ("enrollment_delay", enroll_ms)):
        if ms % 86_400_000:
            raise PolicyError(f"same_day_ship.{setting}: must be whole days (evaluated at E_T)")
    same_day = SameDayShip(
        cutoff=_clock(s.get("cutoff", "17:00"), "same_day_ship.cutoff"),
        ship_by=_clock(s.get("ship_by", "20:00"), "same_day_ship.ship_by"),
        min_rate=_rate(s.get("min_rate", d.min_rate), "same_day_ship.min_rate"),
        tiers=_tiers(s["tiers"]) if "tiers" in s else d.tiers,
        settle_delay_days=settle_ms // 86_400_000,
        enrollment_delay_days=enroll_ms // 86_400_000,
    )
    s = _section(
        doc,
        "ship48_pickup24",
        {
            "ship_within",
            "pickup_within",
            "window_days",
            "lag_days",
            "max_rate",
            "min_orders",
            "excluded_categories",
        },
    )
    sp = Ship48Pickup24()
    ship48 = Ship48Pickup24(
        ship_within_ms=parse_duration_ms(s.get("ship_within", "48h"), "ship48.ship_within"),
        pickup_within_ms=parse_duration_ms(s.get("pickup_within", "24h"), "ship48.pickup_within"),
        window_days=_int(s.get("window_days", sp.window_days), "ship48.window_days", 1),
        lag_days=_int(s.get("lag_days", sp.lag_days), "ship48.lag_days", 1),
        max_rate=_rate(s.get("max_rate", sp.max_rate), "ship48.max_rate"),
        min_orders=_int(s.get("min_orders", sp.min_orders), "ship48.min_orders", 1),
        excluded_categories=_categories(s.get("excluded_categories", []), "ship48.excluded"),
    )
    s = _section(doc, "pickup48", {"pickup_within", "lag_days", "tag_above", "excluded_categories"})
    p48 = Pickup48(
        pickup_within_ms=parse_duration_ms(s.get("pickup_within", "48h"), "pickup48.pickup_within"),
        lag_days=_int(s.get("lag_days", 3), "pickup48.lag_days", 1),
        tag_above=_rate(s.get("tag_above", Fraction(98, 100)), "pickup48.tag_above"),
        excluded_categories=_categories(s.get("excluded_categories", []), "pickup48.excluded"),
    )
    s = _section(
        doc,
        "quality_refund",
        {
            "refund_within",
            "window_days",
            "ratio",
            "min_quality_refunds",
            "observe_days",
            "strikes",
            "fine_cents",
            "scope_after_exit",
        },
    )
    q = QualityRefund()
    quality = QualityRefund(
        refund_within_ms=parse_duration_ms(s.get("refund_within", "30d"), "quality.refund_within"),
        window_days=_int(s.get("window_days", q.window_days), "quality.window_days", 1),
        ratio=_rate(s.get("ratio", q.ratio), "quality.ratio"),
        min_quality_refunds=_int(
            s.get("min_quality_refunds", q.min_quality_refunds), "quality.min_quality_refunds"
        ),
        observe_days=_int(s.get("observe_days", q.observe_days), "quality.observe_days", 1),
        strikes=_int(s.get("strikes", q.strikes), "quality.strikes", 1),
        fine_cents=_int(s.get("fine_cents", q.fine_cents), "quality.fine_cents"),
        scope_after_exit_ms=parse_duration_ms(
            s.get("scope_after_exit", "30d"), "quality.scope_after_exit"
        ),
    )
    return Policy(
        name=name,
        timezone=tz,
        allowed_lateness_ms=parse_duration_ms(
            doc.get("allowed_lateness", "5m"), "allowed_lateness"
        ),
        orphan_retention_ms=parse_duration_ms(
            doc.get("orphan_retention", "7d"), "orphan_retention"
        ),
        dedupe_horizon_ms=parse_duration_ms(doc.get("dedupe_horizon", "1d"), "dedupe_horizon"),
        order_horizon_ms=parse_duration_ms(doc.get("order_horizon", "35d"), "order_horizon"),
        max_record_bytes=_int(doc.get("max_record_bytes", 1024 * 1024), "max_record_bytes", 1),
        exemption_report_within_ms=parse_duration_ms(
            exemption.get("report_within", "48h"), "exemption.report_within"
        ),
        same_day_ship=same_day,
        ship48_pickup24=ship48,
        pickup48=p48,
        quality_refund=quality,
        campaigns=_campaigns(doc.get("campaign"), tz, doc.get("order_horizon", "35d")),
    )


def _campaigns(value: object, tz: str, order_horizon: object) -> tuple[Campaign, ...]:
    try:
        return parse_campaigns(value, tz, parse_duration_ms(order_horizon, "order_horizon"))
    except CampaignError as exc:
        raise PolicyError(str(exc)) from None


def load_policy(path: str | Path) -> Policy:
    """Load and check a TOML policy file; the name defaults to the file's stem."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from exc
    return policy_from_dict(doc, default_name=path.stem)
