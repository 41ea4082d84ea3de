"""SPEC §6: the policy file — defaults, overrides, and clear errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from streams.policy import Policy, PolicyError, load_policy

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
