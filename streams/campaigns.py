"""Campaign promises (SPEC §4.6) as policy data: each ``[[campaign]]`` table of the policy file.

A campaign is data, not code: the next one (Double 11, a category festival) is a policy edit.
Its paid window is read in the policy's time zone and held as epoch-ms instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sellerwatch.streams.calendar import Calendar

_CAMPAIGN_KEYS = {
    "name",
    "channel",
    "paid_from",
    "paid_before",
    "ship_within",
    "pickup_within",
    "update_within",
    "fine_cents",
}
_CHANNELS = ("taote", "taobao", "tmall")
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class CampaignError(ValueError):
    """A ``[[campaign]]`` table that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class Campaign:
    """One campaign's promise: who is judged (channel, paid window) and the three limits."""

    name: str
    channel: str
    paid_from_ms: int  # inclusive
    paid_before_ms: int  # exclusive
    ship_within_ms: int = 48 * 3_600_000
    pickup_within_ms: int = 48 * 3_600_000  # from payment
    update_within_ms: int = 24 * 3_600_000  # from pickup
    fine_cents: int = 0


def _local_ms(value: object, setting: str, calendar: Calendar) -> int:
    expected = f"{setting}: expected 'YYYY-MM-DD HH:MM:SS' (local), got {value!r}"
    if not isinstance(value, str) or not _LOCAL.match(value):
        raise CampaignError(expected)
    try:
        return calendar.parse_local(value)
    except ValueError:
        raise CampaignError(expected) from None


def parse_campaigns(value: object, timezone: str, order_horizon_ms: int) -> tuple[Campaign, ...]:
    """The campaigns of a policy document's ``campaign`` array (none when absent)."""
    from sellerwatch.streams.policy import parse_duration_ms  # the policy imports this module

    if value is None:
        return ()
    if not isinstance(value, list):
        raise CampaignError("campaign: expected [[campaign]] tables")
    calendar = Calendar(timezone)
    campaigns: list[Campaign] = []
    for i, table in enumerate(value):
        where = f"campaign[{i}]"
        if not isinstance(table, dict):
            raise CampaignError(f"{where}: expected a table")
        unknown = set(table) - _CAMPAIGN_KEYS
        if unknown:
            raise CampaignError(f"{where}: unknown setting(s) {sorted(unknown)}")
        name = table.get("name")
        if not isinstance(name, str) or not name:
            raise CampaignError(f"{where}.name: expected a non-empty string, got {name!r}")
        where = f"campaign {name!r}"
        channel = table.get("channel")
        if channel not in _CHANNELS:
            raise CampaignError(f"{where}.channel: one of {_CHANNELS}, got {channel!r}")
        for key in ("paid_from", "paid_before"):
            if key not in table:
                raise CampaignError(f"{where}.{key}: required")
        paid_from = _local_ms(table["paid_from"], f"{where}.paid_from", calendar)
        paid_before = _local_ms(table["paid_before"], f"{where}.paid_before", calendar)
        if paid_before <= paid_from:
            raise CampaignError(f"{where}.paid_before: must be after paid_from")
        if paid_before - paid_from > order_horizon_ms:
            raise CampaignError(
                f"{where}: the paid window is longer than order_horizon "
                f"({order_horizon_ms // 86_400_000} days, SPEC §4.6)"
            )
        fine = table.get("fine_cents", 0)
        if isinstance(fine, bool) or not isinstance(fine, int) or not 0 <= fine <= 10**9:
            raise CampaignError(f"{where}.fine_cents: expected an integer 0..1e9, got {fine!r}")
        durations = {}
        limits = (("ship_within", "48h"), ("pickup_within", "48h"), ("update_within", "24h"))
        for key, default in limits:
            try:
                durations[key] = parse_duration_ms(table.get(key, default), f"{where}.{key}")
            except ValueError as exc:
                raise CampaignError(str(exc)) from None
        campaigns.append(
            Campaign(
                name=name,
                channel=channel,
                paid_from_ms=paid_from,
                paid_before_ms=paid_before,
                ship_within_ms=durations["ship_within"],
                pickup_within_ms=durations["pickup_within"],
                update_within_ms=durations["update_within"],
                fine_cents=fine,
            )
        )
    names = [c.name for c in campaigns]
    if len(set(names)) != len(names):
        raise CampaignError(f"campaign: names must be unique, got {names}")
    return tuple(campaigns)
