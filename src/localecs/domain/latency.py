"""Latency profiles: how long each kind of task takes before the data plane acts.

- ``instant``: no wait at all.
- ``default``: the simulated driver's own ``--driver-latency`` per data-plane step (what
  localecs always did).
- ``realistic``: a per-operation lognormal spread, modelled on the real cloud (the numbers
  and their sources are in docs/faults-and-time.md).
- ``manual``: no wait; instead every task waits for a test to release it (see services/control).

A setting can override any operation's duration with a fixed value or a distribution.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from localecs.domain.faults import Delay, Distribution, invalid
from localecs.domain.jobs import JobType


class Profile(StrEnum):
    INSTANT = "instant"
    DEFAULT = "default"
    REALISTIC = "realistic"
    MANUAL = "manual"


def _lognormal(median: float, sigma: float) -> Delay:
    return Delay(Distribution.LOGNORMAL, {"median": median, "sigma": sigma})


# Median seconds and spread per task type (see docs/faults-and-time.md for where they come from).
REALISTIC: Mapping[str, Delay] = {
    JobType.ATTACH_VOLUME: _lognormal(6.0, 0.5),
    JobType.DETACH_VOLUME: _lognormal(5.0, 0.5),
    JobType.CREATE_SINGLE_SERVER: _lognormal(45.0, 0.35),
    JobType.DELETE_SINGLE_SERVER: _lognormal(20.0, 0.4),
    JobType.START_SERVER: _lognormal(12.0, 0.4),
    JobType.STOP_SERVER: _lognormal(15.0, 0.4),
    JobType.CREATE_VOLUME: _lognormal(5.0, 0.4),
    JobType.DELETE_VOLUME: _lognormal(4.0, 0.4),
}
TASK_TYPES = frozenset(REALISTIC)


@dataclass(frozen=True)
class LatencySetting:
    profile: Profile = Profile.DEFAULT
    operations: Mapping[str, Delay] = field(default_factory=dict)

    @property
    def manual(self) -> bool:
        return self.profile is Profile.MANUAL

    @property
    def uses_driver_latency(self) -> bool:
        """Only `default` leaves the wait to the simulated driver's per-step latency."""
        return self.profile is Profile.DEFAULT

    def task_delay(self, job_type: str, rng: random.Random) -> float:
        """Seconds a task of this type waits before its data-plane steps."""
        override = self.operations.get(job_type)
        if override is not None:
            return override.sample(rng)
        if self.profile is Profile.REALISTIC and job_type in REALISTIC:
            return REALISTIC[job_type].sample(rng)
        return 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile.value,
            "operations": {name: delay.to_json() for name, delay in self.operations.items()},
        }


def parse_setting(data: Mapping[str, Any]) -> LatencySetting:
    unknown = set(data) - {"profile", "operations"}
    if unknown:
        raise invalid(f"Invalid parameter {sorted(unknown)[0]}: unknown field.")
    profile = parse_profile(data.get("profile", Profile.DEFAULT.value))
    operations = data.get("operations")
    if operations is None:
        operations = {}
    if not isinstance(operations, Mapping):
        raise invalid("Invalid parameter operations: an object is required.")
    parsed: dict[str, Delay] = {}
    for name, delay in operations.items():
        if name not in TASK_TYPES:
            known = ", ".join(sorted(TASK_TYPES))
            raise invalid(f"Invalid parameter operations.{name}: not a task type; known: {known}.")
        if not isinstance(delay, Mapping):
            raise invalid(f"Invalid parameter operations.{name}: an object is required.")
        parsed[name] = Delay.parse(delay)
    return LatencySetting(profile, parsed)


def parse_profile(value: Any) -> Profile:
    try:
        return Profile(value)
    except ValueError:
        names = ", ".join(p.value for p in Profile)
        raise invalid(f"Invalid parameter profile: one of {names}.") from None
