"""Workload generator: a synthetic marketplace's events per SPEC §2, with faults on request."""

from sellerwatch.generator.pipeline import FaultOptions, Generator, Summary
from sellerwatch.generator.profiles import PROFILES, Anchor, Profile

__all__ = ["PROFILES", "Anchor", "FaultOptions", "Generator", "Profile", "Summary"]
