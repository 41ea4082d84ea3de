"""Exact rate comparisons on integers (SPEC §1): ``n/d ≥ r`` ⇔ ``n·den(r) ≥ num(r)·d``."""

from __future__ import annotations

from fractions import Fraction


def at_least(n: int, d: int, rate: Fraction) -> bool:
    """``n/d >= rate`` for ``d > 0``, without floats."""
    return n * rate.denominator >= rate.numerator * d


def above(n: int, d: int, rate: Fraction) -> bool:
    """``n/d > rate`` for ``d > 0``, without floats."""
    return n * rate.denominator > rate.numerator * d


def below(n: int, d: int, rate: Fraction) -> bool:
    """``n/d < rate`` for ``d > 0``, without floats."""
    return n * rate.denominator < rate.numerator * d


def ratio(n: int, d: int) -> float:
    """``n/d`` as the verdict's float, ``0.0`` when ``d = 0`` (SPEC §7)."""
    return n / d if d else 0.0
