"""Sizes read from Huawei-style flavor names."""

from __future__ import annotations

import pytest

from localecs.domain.flavors import FlavorSize, size_of


@pytest.mark.parametrize(
    ("flavor", "size"),
    [
        ("s6.small.1", FlavorSize(1, 1024)),
        ("s6.medium.2", FlavorSize(1, 2048)),
        ("s6.large.2", FlavorSize(2, 4096)),
        ("c6.xlarge.2", FlavorSize(4, 8192)),
        ("c6.4xlarge.4", FlavorSize(16, 65536)),
        ("m7.16xlarge.8", FlavorSize(64, 524288)),
    ],
)
def test_sizes_follow_the_naming_scheme(flavor: str, size: FlavorSize) -> None:
    assert size_of(flavor) == size


@pytest.mark.parametrize("flavor", ["custom", "s6.huge.2", "s6.2large.2", "s6.large", ""])
def test_names_outside_the_scheme_have_no_size(flavor: str) -> None:
    assert size_of(flavor) is None
