"""The deterministic core: clock, calendar, order lifecycle, programs, rules, engine."""

from streams.accounting import Accounting, Outcome
from streams.engine import Engine
from streams.policy import Policy, PolicyError, load_policy

__all__ = ["Accounting", "Engine", "Outcome", "Policy", "PolicyError", "load_policy"]
