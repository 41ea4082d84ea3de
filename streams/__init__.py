"""The deterministic core: clock, calendar, order lifecycle, programs, rules, engine."""

from sellerwatch.streams.accounting import Accounting, Outcome
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.policy import Policy, PolicyError, load_policy

__all__ = ["Accounting", "Engine", "Outcome", "Policy", "PolicyError", "load_policy"]
