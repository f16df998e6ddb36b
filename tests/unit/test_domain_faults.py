"""Fault and latency rules: parsing, matching, and decisions that replay."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.domain.faults import (
    MAX_DELAY_SECONDS,
    Action,
    Delay,
    Target,
    delay_seconds,
    draw,
    fires,
    parse_spec,
    spec_from_json,
    task_operations,
)
from localecs.domain.latency import REALISTIC, LatencySetting, Profile, parse_setting
from localecs.errors import ApiError

API = {"batchDetachVolumes", "showServer", "detachServerVolume", "attachServerVolume"}


def test_a_spec_round_trips_through_its_stored_form() -> None:
    spec = parse_spec(
        {
            "action": "delay",
            "operation": "detach_volume",
            "server_id": "s-1",
            "delay": {"distribution": "uniform", "low": 1, "high": 2},
            "times": 3,
            "probability": 0.5,
            "seed": 11,
        },
        API,
    )
    assert spec.operation == "detachVolume"  # the SDK's snake_case is accepted
    assert spec_from_json(spec.to_json()) == spec


def test_defaults_per_action() -> None:
    fail = parse_spec({"action": "fail"}, API)
    assert (fail.error_code, fail.fail_reason) == ("Ecs.1000", "Injected fault.")
    busy = parse_spec({"action": "http", "status": 503}, API)
    assert (busy.error_code, busy.status) == ("Common.1503", 503)
    throttled = parse_spec({"action": "http", "status": 429}, API)
    assert throttled.error_code == "APIG.0308"
    # For an http fault, a job type names the API call that starts that job on its own.
    alias = parse_spec({"action": "http", "operation": "detachVolume", "status": 500}, API)
    assert alias.operation == "detachServerVolume"


@pytest.mark.parametrize(
    "data",
    [
        {"action": "fail", "operation": "showServer"},
        {"action": "http", "operation": "teleport", "status": 500},
        {"action": "delay", "delay": {"distribution": "lognormal", "median": 0, "sigma": 1}},
        {"action": "delay", "delay": {"distribution": "uniform", "low": 3, "high": 1}},
        {"action": "delay", "delay": {"seconds": True}},
        {"action": "delay", "delay": {"seconds": 1, "extra": 2}},
        {"action": "hang", "error_code": "Ecs.1000"},
        {"action": "fail", "probability": True},
        {"action": "fail", "times": 1.5},
    ],
)
def test_bad_specs_are_refused_with_a_400(data: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as raised:
        parse_spec(data, API)
    assert (raised.value.status, raised.value.code) == (400, "LocalEcs.0005")


def test_a_task_answers_to_its_own_type_its_parent_and_the_call_that_made_it() -> None:
    in_batch = task_operations("detachVolume", "batchDetachVolumes")
    assert in_batch == {"detachVolume", "batchDetachVolumes"}
    assert task_operations("detachVolume", None) == {"detachVolume", "detachServerVolume"}
    assert "createServers" in task_operations("createSingleServer", "createServer")


def test_matching_needs_every_given_criterion() -> None:
    spec = parse_spec({"action": "hang", "operation": "detachVolume", "server_id": "a"}, API)
    target = Target(frozenset({"detachVolume"}), "p", "a", "v")
    assert spec.matches(target)
    assert not spec.matches(Target(frozenset({"detachVolume"}), "p", "b", "v"))
    assert not spec.matches(Target(frozenset({"attachVolume"}), "p", "a", "v"))


def test_times_caps_how_often_a_fault_fires() -> None:
    spec = parse_spec({"action": "fail", "times": 2}, API)
    assert fires(spec, "f", 1, 0) and fires(spec, "f", 2, 1)
    assert not fires(spec, "f", 3, 2)


@given(st.integers(0, 2**63 - 1), st.text(min_size=1, max_size=8), st.integers(1, 10**6))
def test_a_decision_depends_only_on_seed_fault_and_match_number(
    seed: int, fault_id: str, n: int
) -> None:
    assert draw(seed, fault_id, n) == draw(seed, fault_id, n)
    assert 0 <= draw(seed, fault_id, n) < 1


def test_a_probability_fires_about_that_often_and_differs_by_seed() -> None:
    spec = parse_spec({"action": "fail", "probability": 0.3, "seed": 1}, API)
    other = parse_spec({"action": "fail", "probability": 0.3, "seed": 2}, API)
    first = [fires(spec, "fault-1", n, 0) for n in range(1, 2001)]
    assert 0.25 < sum(first) / len(first) < 0.35
    assert first != [fires(other, "fault-1", n, 0) for n in range(1, 2001)]


@pytest.mark.parametrize(
    "delay",
    [
        {"seconds": 2},
        {"distribution": "uniform", "low": 1, "high": 3},
        {"distribution": "normal", "mean": 1, "sd": 5},
        {"distribution": "lognormal", "median": 5, "sigma": 3},
    ],
)
def test_delays_stay_in_bounds_and_replay(delay: dict[str, Any]) -> None:
    spec = parse_spec({"action": "delay", "delay": delay}, API)
    samples = [delay_seconds(spec, "f", n) for n in range(1, 200)]
    assert all(0 <= s <= MAX_DELAY_SECONDS for s in samples)
    assert samples == [delay_seconds(spec, "f", n) for n in range(1, 200)]


def test_a_fixed_delay_is_exact() -> None:
    assert Delay.parse({"seconds": 1.25}).sample(random.Random(0)) == 1.25


def test_latency_profiles() -> None:
    rng = random.Random(0)
    assert LatencySetting(Profile.INSTANT).task_delay("detachVolume", rng) == 0
    assert LatencySetting(Profile.DEFAULT).task_delay("detachVolume", rng) == 0
    assert LatencySetting(Profile.DEFAULT).uses_driver_latency
    realistic = LatencySetting(Profile.REALISTIC)
    samples = sorted(realistic.task_delay("detachVolume", rng) for _ in range(999))
    assert 3 < samples[499] < 8  # the median is near the documented 5 s
    assert not realistic.uses_driver_latency
    assert set(REALISTIC) == {
        "attachVolume", "detachVolume", "createSingleServer", "deleteSingleServer",
        "startServer", "stopServer", "createVolume", "deleteVolume",
    }  # fmt: skip
    setting = parse_setting({"profile": "manual", "operations": {"attachVolume": {"seconds": 2}}})
    assert setting.manual and setting.task_delay("attachVolume", rng) == 2
    assert parse_setting(setting.to_json()) == setting


def test_actions_say_where_they_apply() -> None:
    assert [a.value for a in Action if a.on_tasks] == ["fail", "delay", "hang"]
