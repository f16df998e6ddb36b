"""Injected faults: what one matches, what it does, and whether it fires this time.

Everything here is pure. Whether a fault fires is a function of (seed, fault id, match number)
only, and the match number is counted in the database, so a run replays identically in every
process and on every store.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from localecs.domain.jobs import JobType
from localecs.errors import ApiError

MAX_DELAY_SECONDS = 3600.0
CONTROL_INVALID = "LocalEcs.0005"


def invalid(message: str) -> ApiError:
    """A control-API input that cannot be accepted."""
    return ApiError(400, CONTROL_INVALID, message)


class Action(StrEnum):
    FAIL = "fail"  # the sub-job ends FAIL with error_code / fail_reason
    DELAY = "delay"  # the sub-job waits, then runs
    HANG = "hang"  # the sub-job waits until a test releases it
    HTTP = "http"  # the API call itself is answered with an error, before any change

    @property
    def on_tasks(self) -> bool:
        return self is not Action.HTTP


class Distribution(StrEnum):
    FIXED = "fixed"
    UNIFORM = "uniform"
    NORMAL = "normal"
    LOGNORMAL = "lognormal"


_PARAMETERS = {
    Distribution.FIXED: ("seconds",),
    Distribution.UNIFORM: ("low", "high"),
    Distribution.NORMAL: ("mean", "sd"),
    Distribution.LOGNORMAL: ("median", "sigma"),
}


@dataclass(frozen=True)
class Delay:
    """A duration: fixed, or drawn from a distribution (clamped to [0, MAX_DELAY_SECONDS])."""

    distribution: Distribution
    params: Mapping[str, float]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Delay:
        try:
            distribution = Distribution(data.get("distribution", "fixed"))
        except ValueError:
            kinds = ", ".join(d.value for d in Distribution)
            raise invalid(f"Invalid parameter delay.distribution: one of {kinds}.") from None
        names = _PARAMETERS[distribution]
        unknown = set(data) - {"distribution", *names}
        if unknown:
            raise invalid(f"Invalid parameter delay.{sorted(unknown)[0]}: unknown field.")
        params: dict[str, float] = {}
        for name in names:
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise invalid(f"Invalid parameter delay.{name}: a number is required.")
            if not 0 <= value <= MAX_DELAY_SECONDS:
                raise invalid(f"Invalid parameter delay.{name}: must be in [0, 3600].")
            params[name] = float(value)
        if distribution is Distribution.UNIFORM and params["low"] > params["high"]:
            raise invalid("Invalid parameter delay.low: must not exceed delay.high.")
        if distribution is Distribution.LOGNORMAL and params["median"] <= 0:
            raise invalid("Invalid parameter delay.median: must be positive.")
        return cls(distribution, params)

    def sample(self, rng: random.Random) -> float:
        p = self.params
        if self.distribution is Distribution.FIXED:
            value = p["seconds"]
        elif self.distribution is Distribution.UNIFORM:
            value = rng.uniform(p["low"], p["high"])
        elif self.distribution is Distribution.NORMAL:
            value = rng.gauss(p["mean"], p["sd"])
        else:
            value = rng.lognormvariate(math.log(p["median"]), p["sigma"])
        return min(max(value, 0.0), MAX_DELAY_SECONDS)

    def to_json(self) -> dict[str, Any]:
        return {"distribution": self.distribution.value, **self.params}


@dataclass(frozen=True)
class Target:
    """What a fault is matched against: an API call or a task (sub-job)."""

    operations: frozenset[str]
    project_id: str | None
    server_id: str | None = None
    volume_id: str | None = None


@dataclass(frozen=True)
class FaultSpec:
    action: Action
    operation: str | None = None
    project_id: str | None = None
    server_id: str | None = None
    volume_id: str | None = None
    error_code: str | None = None
    fail_reason: str | None = None
    status: int | None = None
    error_msg: str | None = None
    delay: Delay | None = None
    times: int | None = None
    probability: float | None = None
    seed: int = 0

    def matches(self, target: Target) -> bool:
        return (
            (self.operation is None or self.operation in target.operations)
            and _same(self.project_id, target.project_id)
            and _same(self.server_id, target.server_id)
            and _same(self.volume_id, target.volume_id)
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action.value,
            "operation": self.operation,
            "project_id": self.project_id,
            "server_id": self.server_id,
            "volume_id": self.volume_id,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
        }
        if self.action is Action.FAIL:
            data |= {"error_code": self.error_code, "fail_reason": self.fail_reason}
        elif self.action is Action.DELAY:
            assert self.delay is not None
            data["delay"] = self.delay.to_json()
        elif self.action is Action.HTTP:
            data |= {"status": self.status, "error_code": self.error_code}
            data["error_msg"] = self.error_msg
        return data


def _same(wanted: str | None, actual: str | None) -> bool:
    return wanted is None or wanted == actual


# --- Operation names ----------------------------------------------------------------------------
# A fault names an operation the way the SDK does (camelCase of the SDK method: batchDetachVolumes,
# detachServerVolume) or a job type as ShowJob reports it (detachVolume, attachVolume). A task
# answers to its own job type, its parent's, and the API operation that created it.

_API_OPERATIONS_OF_JOB: dict[str, tuple[str, ...]] = {
    JobType.BATCH_DETACH_VOLUMES: ("batchDetachVolumes",),
    JobType.BATCH_ATTACH_VOLUMES: ("batchAttachSharableVolumes",),
    JobType.CREATE_SERVER: ("createServers", "createPostPaidServers"),
    JobType.DELETE_SERVERS: ("deleteServers",),
    JobType.BATCH_START_SERVERS: ("batchStartServers",),
    JobType.BATCH_STOP_SERVERS: ("batchStopServers",),
    JobType.BATCH_CREATE_VOLUME: ("createVolume",),
}
_API_OPERATIONS_OF_SINGLE_JOB: dict[str, tuple[str, ...]] = {
    JobType.ATTACH_VOLUME: ("attachServerVolume",),
    JobType.DETACH_VOLUME: ("detachServerVolume",),
    JobType.CREATE_VOLUME: ("createVolume",),
    JobType.DELETE_VOLUME: ("deleteVolume",),
}
TASK_OPERATIONS: frozenset[str] = frozenset(
    {t.value for t in JobType}
    | {name for names in _API_OPERATIONS_OF_JOB.values() for name in names}
    | {name for names in _API_OPERATIONS_OF_SINGLE_JOB.values() for name in names}
)


# For an `http` fault, a job type names the API call that starts such a job on its own.
_HTTP_ALIASES = {
    JobType.ATTACH_VOLUME.value: "attachServerVolume",
    JobType.DETACH_VOLUME.value: "detachServerVolume",
    JobType.BATCH_ATTACH_VOLUMES.value: "batchAttachSharableVolumes",
}


def task_operations(job_type: str, parent_job_type: str | None) -> frozenset[str]:
    if parent_job_type is None:
        return frozenset({job_type, *_API_OPERATIONS_OF_SINGLE_JOB.get(job_type, ())})
    return frozenset({job_type, parent_job_type, *_API_OPERATIONS_OF_JOB.get(parent_job_type, ())})


def camel_case(name: str) -> str:
    """`batch_detach_volumes` (the SDK's Python method) -> `batchDetachVolumes`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- Parsing a fault ----------------------------------------------------------------------------

_DEFAULT_HTTP_CODES = {429: "APIG.0308", 500: "Common.0001", 503: "Common.1503"}
_DEFAULT_HTTP_MESSAGES = {
    429: "The throttling threshold has been reached.",
    500: "System error.",
    503: "API flow control: the service is busy, try again later.",
}
_FIELDS = {
    "id", "operation", "project_id", "server_id", "volume_id", "action", "error_code",
    "fail_reason", "status", "error_msg", "delay", "times", "probability", "seed",
}  # fmt: skip


def parse_spec(data: Mapping[str, Any], known_operations: Iterable[str]) -> FaultSpec:
    """A fault from its JSON form, or a 400 naming the first thing wrong with it."""
    unknown = set(data) - _FIELDS
    if unknown:
        raise invalid(f"Invalid parameter {sorted(unknown)[0]}: unknown field.")
    try:
        action = Action(str(data.get("action")))
    except ValueError:
        kinds = ", ".join(a.value for a in Action)
        raise invalid(f"Invalid parameter action: one of {kinds} is required.") from None
    operation = _operation(data.get("operation"), action, frozenset(known_operations))
    spec = FaultSpec(
        action,
        operation,
        project_id=_optional_text(data, "project_id"),
        server_id=_optional_text(data, "server_id"),
        volume_id=_optional_text(data, "volume_id"),
        times=_times(data.get("times")),
        probability=_probability(data.get("probability")),
        seed=_seed(data.get("seed", 0)),
    )
    return _with_action_fields(spec, data)


def _with_action_fields(spec: FaultSpec, data: Mapping[str, Any]) -> FaultSpec:
    allowed = {
        Action.FAIL: {"error_code", "fail_reason"},
        Action.DELAY: {"delay"},
        Action.HANG: set(),
        Action.HTTP: {"status", "error_code", "error_msg"},
    }[spec.action]
    stray = {"error_code", "fail_reason", "status", "error_msg", "delay"} - allowed
    present = sorted(key for key in stray if data.get(key) is not None)
    if present:
        raise invalid(f"Invalid parameter {present[0]}: not used by action {spec.action.value}.")
    if spec.action is Action.FAIL:
        code = _optional_text(data, "error_code") or "Ecs.1000"
        reason = _optional_text(data, "fail_reason") or "Injected fault."
        return replace(spec, error_code=code, fail_reason=reason)
    if spec.action is Action.DELAY:
        delay = data.get("delay")
        if not isinstance(delay, Mapping):
            raise invalid("Invalid parameter delay: an object is required for action delay.")
        return replace(spec, delay=Delay.parse(delay))
    if spec.action is Action.HTTP:
        status = data.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise invalid("Invalid parameter status: an HTTP error status (400-599) is required.")
        http_code = _optional_text(data, "error_code") or _DEFAULT_HTTP_CODES.get(status)
        if http_code is None:
            raise invalid(f"Invalid parameter error_code: required for status {status}.")
        message = _optional_text(data, "error_msg") or _DEFAULT_HTTP_MESSAGES.get(
            status, "Injected fault."
        )
        return replace(spec, status=status, error_code=http_code, error_msg=message)
    return spec


def _operation(value: Any, action: Action, known: frozenset[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid("Invalid parameter operation: a string is required.")
    name = camel_case(value)
    if action is Action.HTTP:
        name = _HTTP_ALIASES.get(name, name)
    allowed = known if action is Action.HTTP else TASK_OPERATIONS
    if name not in allowed:
        hint = "API operation" if action is Action.HTTP else "operation that runs as a job"
        raise invalid(
            f"Invalid parameter operation: {value!r} is not an {hint}; "
            f"known: {', '.join(sorted(allowed))}."
        )
    return name


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 255:
        raise invalid(f"Invalid parameter {key}: a non-empty string is required.")
    return value


def _times(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid("Invalid parameter times: a positive integer is required.")
    return value


def _probability(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise invalid("Invalid parameter probability: a number in [0, 1] is required.")
    return float(value)


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise invalid("Invalid parameter seed: a non-negative integer is required.")
    return value


def spec_from_json(data: Mapping[str, Any]) -> FaultSpec:
    """A stored spec (already validated when it was added) back as a FaultSpec."""
    delay = data.get("delay")
    return FaultSpec(
        action=Action(data["action"]),
        operation=data.get("operation"),
        project_id=data.get("project_id"),
        server_id=data.get("server_id"),
        volume_id=data.get("volume_id"),
        error_code=data.get("error_code"),
        fail_reason=data.get("fail_reason"),
        status=data.get("status"),
        error_msg=data.get("error_msg"),
        delay=Delay.parse(delay) if delay is not None else None,
        times=data.get("times"),
        probability=data.get("probability"),
        seed=int(data.get("seed", 0)),
    )


# --- Firing -------------------------------------------------------------------------------------


def draw(seed: int, fault_id: str, match_number: int, purpose: str = "fire") -> float:
    """A number in [0, 1) fixed by its arguments: the same in every process and every run."""
    digest = hashlib.sha256(f"{seed}:{fault_id}:{match_number}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fires(spec: FaultSpec, fault_id: str, match_number: int, applied: int) -> bool:
    """Whether the `match_number`-th match (from 1) of a fault that fired `applied` times fires."""
    if spec.times is not None and applied >= spec.times:
        return False
    if spec.probability is None:
        return True
    return draw(spec.seed, fault_id, match_number) < spec.probability


def delay_seconds(spec: FaultSpec, fault_id: str, match_number: int) -> float:
    assert spec.delay is not None
    rng = random.Random(f"{spec.seed}:{fault_id}:{match_number}:delay")
    return spec.delay.sample(rng)
