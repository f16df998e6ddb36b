"""IAM policies: parsing (Version 1.1 fine-grained and 5.0 identity policies) and evaluation.

Pure rules, no I/O. The semantics are those of docs/authorization.md:

* a statement applies to a request when its Action (or NotAction) matches the request's action
  or one of its aliases, its Resource (or NotResource) matches the request's resource URN, and
  every condition holds;
* an applicable Deny anywhere wins; otherwise an applicable Allow allows; otherwise the request is
  denied (there is no implicit allow).

Names are matched as IAM matches them: actions, condition operators and condition key names
without regard to case; the tag key after ``g:ResourceTag/`` and condition values as written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

VERSIONS = ("1.1", "5.0")
_STATEMENT_KEYS = {"sid", "effect", "action", "notaction", "resource", "notresource", "condition"}
# service:resourceType:action, or service:* (every action of a service)
_ACTION = re.compile(r"^[\w*?-]+:[\w*?-]+(:[\w*?-]+)?$", re.ASCII)


class PolicyError(ValueError):
    """A policy document that is not a valid policy; the message names what is wrong."""


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True)
class AccessRequest:
    """One action on one resource (or on none: ``resource`` is None for actions without a
    resource type, such as list and create) with the request's condition keys.

    ``context`` maps condition key names (see ``context_key``) to their values; a key that is
    absent is not in the mapping. Multi-valued keys (g:TagKeys) hold several values."""

    action: str
    resource: str | None = None
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def context_key(name: str) -> str:
    """The normal form of a condition key name: case-insensitive, except the tag key after
    the slash of ``g:ResourceTag/<key>``-like keys (tag keys are case-sensitive)."""
    prefix, slash, rest = name.partition("/")
    return prefix.lower() + slash + rest


# --- conditions ---------------------------------------------------------------------------

Comparator = Callable[[str, str], bool]


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _numeric(test: Callable[[float, float], bool]) -> Comparator:
    def compare(actual: str, expected: str) -> bool:
        a, e = _number(actual), _number(expected)
        return a is not None and e is not None and test(a, e)

    return compare


@lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _in_network(actual: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


# operator -> (comparator, negated). A negated operator holds when the request value matches
# none of the policy values; the others when it matches any of them.
_OPERATORS: dict[str, tuple[Comparator, bool]] = {
    "stringequals": (lambda a, e: a == e, False),
    "stringnotequals": (lambda a, e: a == e, True),
    "stringequalsignorecase": (lambda a, e: a.casefold() == e.casefold(), False),
    "stringnotequalsignorecase": (lambda a, e: a.casefold() == e.casefold(), True),
    "stringlike": (lambda a, e: bool(_glob(e, False).match(a)), False),
    "stringnotlike": (lambda a, e: bool(_glob(e, False).match(a)), True),
    "stringmatch": (lambda a, e: bool(_regex(e).fullmatch(a)), False),
    "stringnotmatch": (lambda a, e: bool(_regex(e).fullmatch(a)), True),
    "stringstartwith": (lambda a, e: a.startswith(e), False),
    "stringnotstartwith": (lambda a, e: a.startswith(e), True),
    "stringendwith": (lambda a, e: a.endswith(e), False),
    "stringnotendwith": (lambda a, e: a.endswith(e), True),
    "stringstartwithignorecase": (lambda a, e: a.casefold().startswith(e.casefold()), False),
    "stringnotstartwithignorecase": (lambda a, e: a.casefold().startswith(e.casefold()), True),
    "stringendwithignorecase": (lambda a, e: a.casefold().endswith(e.casefold()), False),
    "stringnotendwithignorecase": (lambda a, e: a.casefold().endswith(e.casefold()), True),
    "numberequals": (_numeric(lambda a, e: a == e), False),
    "numbernotequals": (_numeric(lambda a, e: a == e), True),
    "numberlessthan": (_numeric(lambda a, e: a < e), False),
    "numberlessthanequals": (_numeric(lambda a, e: a <= e), False),
    "numbergreaterthan": (_numeric(lambda a, e: a > e), False),
    "numbergreaterthanequals": (_numeric(lambda a, e: a >= e), False),
    "bool": (lambda a, e: a.lower() == e.lower(), False),
    "ipaddress": (_in_network, False),
    "notipaddress": (_in_network, True),
}
# Operators about whether a key is there at all, not about its values.
_PRESENCE = ("null", "isnullorempty")
_QUALIFIERS = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}


@dataclass(frozen=True)
class Condition:
    operator: str  # normal form: lower case, without qualifier or IfExists
    key: str  # normal form, see context_key
    values: tuple[str, ...]
    qualifier: str = ""  # "", "ForAnyValue" or "ForAllValues"
    if_exists: bool = False

    def holds(self, context: Mapping[str, tuple[str, ...]]) -> bool:
        present = context.get(self.key)
        if self.operator == "null":
            # "Null": "true" asks for the key to be absent, "false" for it to be present.
            wanted_absent = self.values[0].lower() == "true"
            return (present is None) == wanted_absent
        if self.operator == "isnullorempty":
            empty = present is None or all(v == "" for v in present)
            return empty == (self.values[0].lower() == "true")
        compare, negated = _OPERATORS[self.operator]

        def one(actual: str) -> bool:
            matched = any(compare(actual, expected) for expected in self.values)
            return not matched if negated else matched

        if self.qualifier == "ForAllValues":
            return all(one(v) for v in present or ())
        if present is None:
            # A missing key satisfies IfExists, and the negated operators (nothing to match).
            return self.if_exists or (negated and self.qualifier == "")
        if self.qualifier == "ForAnyValue":
            return any(one(v) for v in present)
        # A single-valued operator on a multi-valued key: every value must pass.
        return all(one(v) for v in present)


def _parse_operator(raw: str) -> tuple[str, str, bool]:
    qualifier = ""
    head, colon, tail = raw.partition(":")
    if colon:
        if head.lower() not in _QUALIFIERS:
            raise PolicyError(f"unknown condition operator qualifier {head!r} in {raw!r}")
        qualifier, raw = _QUALIFIERS[head.lower()], tail
    name = raw.lower()
    if_exists = name.endswith("ifexists") and name not in _PRESENCE
    if if_exists:
        name = name[: -len("ifexists")]
    if name not in _OPERATORS and name not in _PRESENCE:
        raise PolicyError(f"unknown condition operator {raw!r}")
    if name in _PRESENCE and (qualifier or if_exists):
        raise PolicyError(f"condition operator {raw!r} takes no qualifier or IfExists")
    return name, qualifier, if_exists


def _condition_values(operator: str, key: str, raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise PolicyError(f"condition {operator} on {key!r} has no values")
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            values.append(str(item))
        else:
            raise PolicyError(f"condition {operator} on {key!r}: values must be strings")
    return tuple(values)


def _check_values(name: str, operator: str, key: str, values: tuple[str, ...]) -> None:
    if name.startswith("number") and any(_number(v) is None for v in values):
        raise PolicyError(f"condition {operator} on {key!r}: values must be numbers")
    if name in ("bool", *_PRESENCE) and any(v.lower() not in ("true", "false") for v in values):
        raise PolicyError(f"condition {operator} on {key!r}: values must be true or false")
    if name in _PRESENCE and len(values) != 1:
        raise PolicyError(f"condition {operator} on {key!r} takes one value")
    if name in ("stringmatch", "stringnotmatch"):
        for value in values:
            try:
                _regex(value)
            except re.error as error:
                raise PolicyError(
                    f"condition {operator} on {key!r}: bad pattern {value!r}: {error}"
                ) from None
    if name in ("ipaddress", "notipaddress"):
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise PolicyError(
                    f"condition {operator} on {key!r}: {value!r} is not an address or CIDR"
                ) from None


def _parse_conditions(raw: Any, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}.Condition must be an object")
    conditions = []
    for operator, keys in raw.items():
        name, qualifier, if_exists = _parse_operator(str(operator))
        if not isinstance(keys, Mapping) or not keys:
            raise PolicyError(f"{where}.Condition.{operator} must be a non-empty object")
        for key, raw_values in keys.items():
            if not isinstance(key, str) or not key:
                raise PolicyError(f"{where}.Condition.{operator}: a key must be a string")
            values = _condition_values(str(operator), key, raw_values)
            _check_values(name, str(operator), key, values)
            conditions.append(Condition(name, context_key(key), values, qualifier, if_exists))
    return tuple(conditions)


# --- actions and resources ----------------------------------------------------------------


def _strings(raw: Any, what: str) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise PolicyError(f"{what} must be a string or a non-empty list of strings")
    if not all(isinstance(item, str) and item for item in items):
        raise PolicyError(f"{what} must hold non-empty strings")
    return tuple(items)


def _parse_actions(raw: Any, what: str) -> tuple[str, ...]:
    actions = _strings(raw, what)
    for action in actions:
        if action != "*" and not _ACTION.match(action):
            raise PolicyError(f"{what}: {action!r} is not of the form service:resourceType:action")
    return tuple(a.lower() for a in actions)


def _parse_resources(raw: Any, what: str) -> tuple[str, ...]:
    resources = _strings(raw, what)
    for resource in resources:
        if resource != "*" and resource.count(":") < 4:
            raise PolicyError(f"{what}: {resource!r} is not * or service:region:account:type:id")
    return resources


def _action_matches(patterns: Iterable[str], names: Sequence[str]) -> bool:
    return any(_glob(p, True).match(name) for p in patterns for name in names)


def _resource_matches(patterns: Iterable[str], resource: str | None) -> bool:
    for pattern in patterns:
        if pattern == "*":
            return True
        if resource is None:
            continue  # a URN pattern never names "no resource"
        head, _, ident = pattern.rpartition(":")
        r_head, _, r_ident = resource.rpartition(":")
        # service, region, account and type as IAM does (case-insensitive); ids exactly.
        if _glob(head, True).match(r_head) and _glob(ident, False).match(r_ident):
            return True
    return False


# --- statements and policies --------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ("*",)
    not_resources: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    sid: str = ""

    def applies(self, request: AccessRequest) -> bool:
        names = (request.action.lower(), *(a.lower() for a in request.aliases))
        if self.actions and not _action_matches(self.actions, names):
            return False
        if self.not_actions and _action_matches(self.not_actions, names):
            return False
        if self.not_resources:
            if _resource_matches(self.not_resources, request.resource):
                return False
        elif not _resource_matches(self.resources, request.resource):
            return False
        return all(c.holds(request.context) for c in self.conditions)


@dataclass(frozen=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]


def _parse_statement(raw: Any, index: int, version: str) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where} must be an object")
    keys = {str(k).lower(): k for k in raw}
    unknown = sorted(str(raw_key) for k, raw_key in keys.items() if k not in _STATEMENT_KEYS)
    if unknown:
        raise PolicyError(f"{where} has unknown element(s) {', '.join(unknown)}")

    def get(name: str) -> Any:
        return raw[keys[name]] if name in keys else None

    effect_raw = get("effect")
    effects = {e.value.lower(): e for e in Effect}
    if not isinstance(effect_raw, str) or effect_raw.lower() not in effects:
        raise PolicyError(f"{where}.Effect must be Allow or Deny")
    if ("action" in keys) == ("notaction" in keys):
        raise PolicyError(f"{where} needs exactly one of Action and NotAction")
    if "resource" in keys and "notresource" in keys:
        raise PolicyError(f"{where} has both Resource and NotResource")
    if version == "1.1" and ("notaction" in keys or "notresource" in keys):
        raise PolicyError(f"{where}: NotAction and NotResource need Version 5.0")
    sid = get("sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(f"{where}.Sid must be a string")
    return Statement(
        effect=effects[effect_raw.lower()],
        actions=_parse_actions(get("action"), f"{where}.Action") if "action" in keys else (),
        not_actions=(
            _parse_actions(get("notaction"), f"{where}.NotAction") if "notaction" in keys else ()
        ),
        resources=(
            _parse_resources(get("resource"), f"{where}.Resource") if "resource" in keys else ("*",)
        ),
        not_resources=(
            _parse_resources(get("notresource"), f"{where}.NotResource")
            if "notresource" in keys
            else ()
        ),
        conditions=_parse_conditions(get("condition"), where),
        sid=sid or "",
    )


def parse_policy(document: Mapping[str, Any]) -> Policy:
    """A policy from its JSON document; PolicyError names the first thing wrong with it."""
    if not isinstance(document, Mapping):
        raise PolicyError("a policy must be a JSON object")
    unknown = sorted(str(k) for k in document if k not in ("Version", "Statement"))
    if unknown:
        raise PolicyError(f"policy has unknown element(s) {', '.join(unknown)}")
    version = document.get("Version")
    if version not in VERSIONS:
        raise PolicyError(
            f"Version must be one of {', '.join(VERSIONS)} (got {version!r}); "
            "Version 1.0 roles are not supported"
        )
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Statement must be a non-empty list of statements")
    return Policy(
        str(version),
        tuple(_parse_statement(s, i, str(version)) for i, s in enumerate(statements)),
    )


def evaluate(policies: Iterable[Policy], request: AccessRequest) -> Decision:
    """Deny wins over Allow; without an applicable Allow the answer is an (implicit) deny."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if not statement.applies(request):
                continue
            if statement.effect is Effect.DENY:
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
