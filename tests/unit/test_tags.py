"""Server tag rules (domain/tags.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.domain import tags
from localecs.errors import ApiError


@pytest.mark.parametrize("key", ["", "k" * 37, "a b", "a.b", "a=b", "ké"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(ApiError) as bad:
        tags.check_request([(key, "v")])
    assert (bad.value.status, bad.value.code) == (400, "Ecs.0005")


@pytest.mark.parametrize("value", ["v" * 44, "a b", "a=b", "a/b"])
def test_bad_values(value: str) -> None:
    with pytest.raises(ApiError):
        tags.check_request([("k", value)])


def test_good_tags_and_duplicates() -> None:
    tags.check_request([("k" * 36, "v" * 43), ("项目_-1", "v.1-_"), ("empty", ""), ("x", None)])
    with pytest.raises(ApiError, match="more than once"):
        tags.check_request([("a", "1"), ("a", "2")])


def test_add_overwrites_in_place_and_limits_to_ten() -> None:
    current = {"a": "1", "b": "2"}
    assert list(tags.added(current, {"a": "9", "c": "3"}).items()) == [
        ("a", "9"),
        ("b", "2"),
        ("c", "3"),
    ]
    ten = {f"k{i}": "" for i in range(10)}
    assert tags.added(ten, {"k0": "x"})["k0"] == "x"
    with pytest.raises(ApiError, match="at most 10"):
        tags.added(ten, {"new": "x"})


def test_remove_by_key_or_by_key_and_value() -> None:
    current = {"a": "1", "b": "2", "c": "3"}
    assert tags.removed(current, [("a", None), ("b", "wrong"), ("c", ""), ("zz", "1")]) == {
        "b": "2"
    }


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True),
        st.from_regex(r"[a-z.=]{0,6}", fullmatch=True),
        max_size=10,
    )
)
def test_stored_form_round_trips(pairs: dict[str, str]) -> None:
    # values may hold '=': only the first one separates key from value
    assert tags.from_stored(tags.as_stored(pairs)) == pairs
