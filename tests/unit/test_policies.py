"""IAM policy parsing and evaluation (domain/policies.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.domain.policies import (
    AccessRequest,
    Decision,
    PolicyError,
    context_key,
    evaluate,
    parse_policy,
)

SERVER = "ecs:cn-north-4:acc1:instance:srv-1"
DETACH = "ecs:cloudServers:detachVolume"


def policy(*statements: dict[str, Any], version: str = "1.1") -> Any:
    return parse_policy({"Version": version, "Statement": list(statements)})


def allow(action: Any = "*:*:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, **extra}


def deny(action: Any = "*:*:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, **extra}


def request(
    action: str = DETACH,
    resource: str | None = SERVER,
    aliases: tuple[str, ...] = (),
    **context: Any,
) -> AccessRequest:
    values = {
        context_key(k.replace("__", "/").replace("_", ":", 1)): v if isinstance(v, tuple) else (v,)
        for k, v in context.items()
    }
    return AccessRequest(action, resource, values, aliases)


def decide(p: Any, r: AccessRequest) -> Decision:
    return evaluate([p], r)


# --- actions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        ("ecs:cloudServers:detachVolume", True),
        ("ECS:CLOUDSERVERS:DETACHVOLUME", True),  # IAM compares actions without case
        ("ecs:cloudServers:*", True),
        ("ecs:*:*", True),
        ("*:*:*", True),
        ("*", True),
        ("ecs:cloudServers:detach*", True),
        ("ecs:*", True),  # service:* covers every action of the service
        ("evs:*", False),
        ("ecs:cloudServers:attach", False),
        ("evs:*:*", False),
        ("ecs:cloudServers:list", False),
    ],
)
def test_action_patterns(pattern: str, allowed: bool) -> None:
    assert decide(policy(allow([pattern])), request()).allowed is allowed


def test_no_statement_means_deny_and_deny_wins() -> None:
    assert evaluate([], request()) is Decision.IMPLICIT_DENY
    p = policy(allow("ecs:*:*"), deny(DETACH))
    assert decide(p, request()) is Decision.EXPLICIT_DENY
    assert decide(p, request("ecs:cloudServers:list", None)) is Decision.ALLOW
    # a Deny in another policy wins as well
    assert evaluate([policy(allow()), policy(deny())], request()) is Decision.EXPLICIT_DENY


def test_aliases_match_as_the_action() -> None:
    p = policy(allow("ecs:cloudServers:put"))
    tags = request("ecs:cloudServers:batchCreateServerTags", aliases=("ecs:cloudServers:put",))
    assert decide(p, tags).allowed
    assert not decide(p, request("ecs:cloudServers:batchCreateServerTags")).allowed


# --- resources ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        ("*", True),
        (SERVER, True),
        ("ecs:*:*:instance:*", True),
        ("ecs:cn-north-4:acc1:instance:srv-*", True),
        ("ECS:CN-NORTH-4:ACC1:INSTANCE:srv-1", True),
        ("ecs:cn-north-4:acc1:instance:SRV-1", False),  # ids are exact
        ("ecs:cn-north-4:acc2:instance:*", False),
        ("ecs:*:*:instance:srv-2", False),
        ("evs:*:*:volume:*", False),
    ],
)
def test_resource_urns(resource: str, allowed: bool) -> None:
    p = policy(allow(DETACH, Resource=[resource]), version="5.0")
    assert decide(p, request()).allowed is allowed


def test_a_resourceless_action_needs_star() -> None:
    urn_only = policy(allow("*:*:*", Resource="ecs:*:*:instance:*"), version="5.0")
    assert not decide(urn_only, request("ecs:cloudServers:list", None)).allowed
    star = policy(allow("*:*:*", Resource=["*"]), version="5.0")
    assert decide(star, request("ecs:cloudServers:list", None)).allowed


def test_not_action_and_not_resource() -> None:
    p = policy(
        {"Effect": "Allow", "NotAction": ["ecs:cloudServers:delete*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "NotResource": ["ecs:*:*:instance:srv-1"]},
        version="5.0",
    )
    assert decide(p, request()).allowed
    assert not decide(p, request(resource="ecs:cn-north-4:acc1:instance:srv-2")).allowed
    assert not decide(p, request("ecs:cloudServers:deleteServers")).allowed


# --- conditions --------------------------------------------------------------------------


def cond(operator: str, key: str, values: Any) -> Any:
    return policy(allow(Condition={operator: {key: values}}))


TEAM = "g:ResourceTag/team"


@pytest.mark.parametrize(
    ("operator", "values", "actual", "expected"),
    [
        ("StringEquals", ["a"], "a", True),
        ("StringEquals", ["a", "b"], "b", True),
        ("StringEquals", ["A"], "a", False),
        ("StringNotEquals", ["a"], "b", True),
        ("StringNotEquals", ["a", "b"], "b", False),
        ("StringEqualsIgnoreCase", ["TEAM-A"], "team-a", True),
        ("StringNotEqualsIgnoreCase", ["TEAM-A"], "team-a", False),
        ("StringLike", ["te?m-*"], "team-alpha", True),
        ("StringLike", ["team-*"], "Team-alpha", False),
        ("StringNotLike", ["team-*"], "ops", True),
        ("StringMatch", ["^team-[0-9]+$"], "team-42", True),
        ("StringMatch", ["team-[0-9]+"], "team-42x", False),
        ("StringNotMatch", ["team-[0-9]+"], "ops", True),
        ("StringStartWith", ["team"], "team-a", True),
        ("StringStartWith", ["team"], "my-team", False),
        ("StringNotStartWith", ["team"], "my-team", True),
        ("StringEndWith", ["-a"], "team-a", True),
        ("StringNotEndWith", ["-a"], "team-a", False),
        ("StringStartWithIgnoreCase", ["TEAM"], "team-a", True),
        ("NumberEquals", [3], "3.0", True),
        ("NumberNotEquals", ["3"], "4", True),
        ("NumberLessThan", ["10"], "9", True),
        ("NumberLessThanEquals", ["10"], "10", True),
        ("NumberGreaterThan", ["10"], "10", False),
        ("NumberGreaterThanEquals", ["10"], "10", True),
        ("NumberEquals", ["3"], "three", False),
        ("Bool", [True], "true", True),
        ("Bool", ["false"], "true", False),
        ("IpAddress", ["10.0.0.0/8"], "10.1.2.3", True),
        ("NotIpAddress", ["10.0.0.0/8"], "10.1.2.3", False),
    ],
)
def test_operators(operator: str, values: list[Any], actual: str, expected: bool) -> None:
    assert (
        decide(cond(operator, TEAM, values), request(g_ResourceTag__team=actual)).allowed
        is expected
    )


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("StringEquals", False),
        ("StringNotEquals", True),  # nothing to match: the negated operators hold
        ("StringEqualsIfExists", True),
        ("StringLikeIfExists", True),
        ("ForAnyValue:StringEquals", False),
        ("ForAllValues:StringEquals", True),  # vacuously
    ],
)
def test_a_missing_key(operator: str, expected: bool) -> None:
    assert decide(cond(operator, TEAM, ["a"]), request()).allowed is expected


def test_if_exists_still_checks_a_present_key() -> None:
    p = cond("StringEqualsIfExists", TEAM, ["a"])
    assert decide(p, request(g_ResourceTag__team="a")).allowed
    assert not decide(p, request(g_ResourceTag__team="b")).allowed


def test_null_and_is_null_or_empty() -> None:
    absent = cond("Null", TEAM, ["true"])
    present = cond("Null", TEAM, "false")
    assert decide(absent, request()).allowed
    assert not decide(absent, request(g_ResourceTag__team="a")).allowed
    assert decide(present, request(g_ResourceTag__team="")).allowed
    empty = cond("IsNullOrEmpty", TEAM, ["true"])
    assert decide(empty, request(g_ResourceTag__team="")).allowed
    assert decide(empty, request()).allowed
    assert not decide(empty, request(g_ResourceTag__team="a")).allowed


def test_multi_valued_keys() -> None:
    keys = ("team", "owner")
    any_team = cond("ForAnyValue:StringEquals", "g:TagKeys", ["team"])
    all_known = cond("ForAllValues:StringEquals", "g:TagKeys", ["team", "owner", "env"])
    only_team = cond("ForAllValues:StringEquals", "g:TagKeys", ["team"])
    assert decide(any_team, request(g_TagKeys=keys)).allowed
    assert decide(all_known, request(g_TagKeys=keys)).allowed
    assert not decide(only_team, request(g_TagKeys=keys)).allowed


def test_keys_are_case_insensitive_but_tag_keys_are_not() -> None:
    p = cond("StringEquals", "G:RESOURCETAG/team", ["a"])
    assert decide(p, request(g_ResourceTag__team="a")).allowed
    other_case = cond("StringEquals", "g:ResourceTag/Team", ["a"])
    assert not decide(other_case, request(g_ResourceTag__team="a")).allowed


def test_all_conditions_must_hold() -> None:
    p = policy(
        allow(
            Condition={
                "StringEquals": {TEAM: ["a"], "g:EnterpriseProjectId": ["ep-1"]},
                "StringStartWith": {"g:UserName": ["dev-"]},
            }
        )
    )
    full: dict[str, Any] = {
        "g_ResourceTag__team": "a",
        "g_EnterpriseProjectId": "ep-1",
        "g_UserName": "dev-x",
    }
    assert decide(p, request(**full)).allowed
    for missing in full:
        partial: dict[str, Any] = {k: v for k, v in full.items() if k != missing}
        assert not decide(p, request(**partial)).allowed


def test_a_conditional_deny_only_denies_where_it_holds() -> None:
    p = policy(allow(), deny(Condition={"StringEquals": {TEAM: ["prod"]}}))
    assert decide(p, request(g_ResourceTag__team="dev")).allowed
    assert decide(p, request(g_ResourceTag__team="prod")) is Decision.EXPLICIT_DENY


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"Version": "1.0", "Statement": [allow()]}, "Version"),
        ({"Version": "1.1"}, "Statement"),
        ({"Version": "1.1", "Statement": []}, "Statement"),
        ({"Version": "1.1", "Statement": [allow()], "Extra": 1}, "Extra"),
        ({"Version": "1.1", "Statement": ["x"]}, "Statement[0]"),
        ({"Version": "1.1", "Statement": [{"Effect": "Maybe", "Action": "*"}]}, "Effect"),
        ({"Version": "1.1", "Statement": [{"Effect": "Allow"}]}, "Action"),
        ({"Version": "1.1", "Statement": [allow("ecs")]}, "service:resourceType:action"),
        ({"Version": "1.1", "Statement": [allow("ecs:a:b:c")]}, "service:resourceType:action"),
        ({"Version": "1.1", "Statement": [allow("ecs:a b:c")]}, "service:resourceType:action"),
        ({"Version": "1.1", "Statement": [allow([])]}, "Action"),
        ({"Version": "1.1", "Statement": [allow(["ecs:a:b", 3])]}, "Action"),
        ({"Version": "1.1", "Statement": [allow(Colour="red")]}, "Colour"),
        ({"Version": "1.1", "Statement": [{"Effect": "Allow", "NotAction": "*"}]}, "5.0"),
        ({"Version": "5.0", "Statement": [allow(Resource="ecs:x")]}, "Resource"),
        (
            {"Version": "5.0", "Statement": [allow(Resource="*", NotResource="*")]},
            "NotResource",
        ),
        ({"Version": "1.1", "Statement": [allow(Condition=[])]}, "Condition"),
        (
            {"Version": "1.1", "Statement": [allow(Condition={"StringSmells": {"k": "v"}})]},
            "StringSmells",
        ),
        (
            {
                "Version": "1.1",
                "Statement": [allow(Condition={"ForSome:StringEquals": {"k": "v"}})],
            },
            "ForSome",
        ),
        ({"Version": "1.1", "Statement": [allow(Condition={"StringEquals": {}})]}, "non-empty"),
        (
            {"Version": "1.1", "Statement": [allow(Condition={"StringEquals": {"k": []}})]},
            "no values",
        ),
        (
            {"Version": "1.1", "Statement": [allow(Condition={"StringEquals": {"k": [{}]}})]},
            "strings",
        ),
        (
            {"Version": "1.1", "Statement": [allow(Condition={"NumberEquals": {"k": "x"}})]},
            "numbers",
        ),
        (
            {"Version": "1.1", "Statement": [allow(Condition={"Bool": {"k": "yes"}})]},
            "true or false",
        ),
        (
            {"Version": "1.1", "Statement": [allow(Condition={"NullIfExists": {"k": "true"}})]},
            "IfExists",
        ),
        (
            {"Version": "1.1", "Statement": [allow(Condition={"StringMatch": {"k": "("}})]},
            "pattern",
        ),
        ({"Version": "1.1", "Statement": [allow(Condition={"IpAddress": {"k": "x"}})]}, "CIDR"),
    ],
)
def test_invalid_policies_name_the_problem(document: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        parse_policy(document)


def test_a_typical_custom_policy_parses() -> None:
    parsed = parse_policy(
        {
            "Version": "1.1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ecs:cloudServers:detachVolume", "ecs:cloudServers:list"],
                    "Condition": {"StringEquals": {"g:ResourceTag/team": ["a"]}},
                }
            ],
        }
    )
    assert parsed.version == "1.1"
    (statement,) = parsed.statements
    assert statement.actions == ("ecs:cloudservers:detachvolume", "ecs:cloudservers:list")
    assert statement.resources == ("*",)
    # a lone statement object is accepted as a one-element list, as IAM does
    single = parse_policy({"Version": "5.0", "Statement": {"Sid": "s1", **allow()}})
    assert single.statements[0].sid == "s1"


# --- properties --------------------------------------------------------------------------

actions = st.sampled_from(
    [
        "ecs:cloudServers:detachVolume",
        "ecs:cloudServers:list",
        "evs:volumes:get",
        "ecs:*:*",
        "*:*:*",
        "evs:volumes:*",
    ]
)
conditions = st.one_of(
    st.none(),
    st.builds(
        lambda op, value: {op: {TEAM: [value]}},
        st.sampled_from(["StringEquals", "StringNotEquals", "StringLike", "StringStartWith"]),
        st.sampled_from(["a", "b", "*", ""]),
    ),
    st.builds(lambda v: {"Null": {TEAM: [v]}}, st.sampled_from(["true", "false"])),
)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        "Action": draw(st.lists(actions, min_size=1, max_size=3)),
    }
    condition = draw(conditions)
    if condition:
        statement["Condition"] = condition
    return statement


requests = st.builds(
    lambda action, team: request(action, **({} if team is None else {"g_ResourceTag__team": team})),
    st.sampled_from(["ecs:cloudServers:detachVolume", "ecs:cloudServers:list", "evs:volumes:get"]),
    st.one_of(st.none(), st.sampled_from(["a", "b", ""])),
)


@given(st.lists(statements(), min_size=1, max_size=4), statements("Deny"), requests)
def test_adding_a_deny_never_allows_more(
    base: list[dict[str, Any]], extra: dict[str, Any], req: AccessRequest
) -> None:
    before = decide(policy(*base), req)
    after = decide(policy(*base, extra), req)
    assert not (after.allowed and not before.allowed)


@given(st.lists(statements(), min_size=1, max_size=4), statements("Allow"), requests)
def test_adding_an_allow_never_overrides_a_deny(
    base: list[dict[str, Any]], extra: dict[str, Any], req: AccessRequest
) -> None:
    before = decide(policy(*base), req)
    after = decide(policy(*base, extra), req)
    if before is Decision.EXPLICIT_DENY:
        assert after is Decision.EXPLICIT_DENY
    if before.allowed:
        assert after.allowed


@given(st.lists(statements(), min_size=1, max_size=4), requests)
def test_the_order_of_statements_and_policies_does_not_matter(
    base: list[dict[str, Any]], req: AccessRequest
) -> None:
    forward = decide(policy(*base), req)
    assert decide(policy(*reversed(base)), req) is forward
    assert evaluate([policy(s) for s in base], req) is forward
