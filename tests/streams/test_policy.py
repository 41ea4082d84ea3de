"""SPEC §6: the policy file — defaults, overrides, and clear errors."""

from __future__ import annotations

import tomllib
from fractions import Fraction
from pathlib import Path

import pytest

from sellerwatch.streams.policy import Policy, PolicyError, Tier, load_policy, policy_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_default_policy_is_the_spec() -> None:
    assert load_policy(ROOT / "sellerwatch" / "policies" / "default.toml") == Policy()


def test_overrides_and_the_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "strict.toml"
    path.write_text('allowed_lateness = "1m"\n[ship48_pickup24]\nmax_rate = 0.95\n')
    policy = load_policy(path)
    assert policy.name == "strict"
    assert policy.allowed_lateness_ms == 60_000
    assert policy.ship48_pickup24.max_rate == Fraction(95, 100)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timezone = 'Mars/Base'", "timezone"),
        ("allowed_lateness = 'soon'", "allowed_lateness"),
        ("[pickup48]\ntag_above = 'high'", "pickup48.tag_above"),
        ("[pickup48]\nspeed = 1", "unknown setting"),
        ("[same_day_ship]\ncutoff = '25:00'", "same_day_ship.cutoff"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_a_bad_policy_names_the_setting(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_a_missing_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.toml")


def test_an_empty_policy_is_the_spec_defaults() -> None:
    assert policy_from_dict({}) == Policy()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timezone = 'Asia'", "timezone: unknown time zone 'Asia'"),
        ("timezone = ''", "timezone: unknown time zone"),
        ("timezone = '../../etc/passwd'", "timezone: unknown time zone"),
        ("[same_day_ship]\nenrollment_delay = '100000000d'", "same_day_ship.enrollment_delay"),
        ("[same_day_ship]\nsettle_delay = '36h'", "same_day_ship.settle_delay: must be whole days"),
        ("[ship48_pickup24]\nwindow_days = 100000000", "ship48_pickup24.window_days"),
        ("[ship48_pickup24]\nmax_rate = 1.5", "ship48_pickup24.max_rate"),
        ("[ship48_pickup24]\nmax_rate = nan", "ship48_pickup24.max_rate"),
        ("[ship48_pickup24]\nmax_rate = inf", "ship48_pickup24.max_rate"),
        ("[ship48_pickup24]\nmin_orders = 0", "ship48_pickup24.min_orders"),
        ("[ship48_pickup24]\nwindow_days = true", "ship48_pickup24.window_days"),
        ("[ship48_pickup24]\nexcluded_categories = [1]", "ship48_pickup24.excluded_categories"),
        ("[pickup48]\nlag_days = 0", "pickup48.lag_days"),
        ("[pickup48]\npickup_within = '401d'", "pickup48.pickup_within: at most 400 days"),
        ("[quality_refund]\nfine_cents = -1", "quality_refund.fine_cents"),
        ("[quality_refund]\nratio = 1e9", "quality_refund.ratio"),
        ("[quality_refund]\nobserve_days = 400", "quality_refund.observe_days"),
        ("[same_day_ship]\ncutoff = '21:00'", "same_day_ship.cutoff: must be before"),
        ("[same_day_ship]\ncutoff = '20:00'", "same_day_ship.cutoff: must be before"),
        ("[same_day_ship]\nmin_rate = -0.1", "same_day_ship.min_rate"),
        ("[same_day_ship]\ntiers = []", "same_day_ship.tiers"),
        (
            "[same_day_ship]\ntiers = [{min_daily_avg = 300, cents_per_package = 20},"
            " {min_daily_avg = 300, cents_per_package = 30}]",
            "same_day_ship.tiers: each tier needs its own min_daily_avg",
        ),
        ("[same_day_ship]\ntiers = [{min_daily_avg = 300}]", r"same_day_ship.tiers\[0\]"),
        ("allowed_lateness = ''", "allowed_lateness"),
        ("dedupe_horizon = -1", "dedupe_horizon"),
        ("max_record_bytes = 0", "max_record_bytes"),
        ("max_record_bytes = 1e6", "max_record_bytes"),
        ("name = ''", "name"),
        ("pickup48 = 3", "pickup48: expected a table"),
        ("colour = 'red'", "unknown setting `colour` in the top level"),
        ("[ship48]\nmax_rate = 0.9", "unknown setting `ship48`"),
    ],
)
def test_every_setting_has_a_range_and_the_error_names_it_as_written(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as raised:
        load_policy(path)
    assert "\n" not in str(raised.value)


def test_a_non_utf8_policy_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "café"\n'.encode("latin-1"))
    with pytest.raises(PolicyError, match="not UTF-8") as raised:
        load_policy(path)
    assert "\n" not in str(raised.value)


def test_the_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        "order_horizon = '400d'\n[ship48_pickup24]\nwindow_days = 366\nmax_rate = 1\n"
        "[same_day_ship]\nmin_rate = 0\ntiers = [{min_daily_avg = 5, cents_per_package = 1}]\n"
    )
    policy = load_policy(path)
    assert policy.order_horizon_ms == 400 * 86_400_000
    assert policy.ship48_pickup24.window_days == 366
    assert policy.ship48_pickup24.max_rate == 1
    assert policy.same_day_ship.tiers == (Tier(Fraction(5), 1),)


def test_the_policy_keeps_its_types_for_the_rules() -> None:
    policy = policy_from_dict({"same_day_ship": {"min_rate": 0.85}})
    assert type(policy.same_day_ship.min_rate) is Fraction
    assert type(policy.allowed_lateness_ms) is int
    assert type(policy.same_day_ship.cutoff) is tuple
    assert type(policy.timezone) is str
    assert policy.same_day_ship.min_rate == Fraction(85, 100)


def test_tiers_may_be_listed_in_any_order() -> None:
    """The highest tier that applies wins, however the file lists them (as before the schema)."""
    doc = tomllib.loads(
        "[same_day_ship]\ntiers = [{min_daily_avg = 300, cents_per_package = 20},"
        " {min_daily_avg = 1000, cents_per_package = 30}]"
    )
    assert policy_from_dict(doc).same_day_ship.tiers == Policy().same_day_ship.tiers
