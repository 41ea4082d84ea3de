"""The deterministic core: clock, calendar, order lifecycle, programs, rules, engine."""

from streams.engine import Accounting, Engine, Outcome
from streams.policy import Policy, PolicyError, load_policy

__all__ = ["Accounting", "Engine", "Outcome", "Policy", "PolicyError", "load_policy"]
