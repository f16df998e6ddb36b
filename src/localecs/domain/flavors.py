"""What a flavor id says about its size.

localecs keeps no flavor catalogue; Huawei's flavor names encode the size instead:
`<series>.<size>.<memory per vCPU in GiB>`, e.g. `s6.large.2` is 2 vCPUs with 4 GiB, and
`c6.4xlarge.4` is 16 vCPUs with 64 GiB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIZES = {"small": 1, "medium": 1, "large": 2, "xlarge": 4}
_FLAVOR = re.compile(r"[a-z0-9]+\.(\d*)(small|medium|large|xlarge)\.(\d+)")


@dataclass(frozen=True)
class FlavorSize:
    vcpus: int
    ram_mib: int


def size_of(flavor_id: str) -> FlavorSize | None:
    """The size a Huawei-style flavor name encodes, or None for a name that encodes none."""
    match = _FLAVOR.fullmatch(flavor_id)
    if match is None:
        return None
    multiplier, size, ratio = match.groups()
    if multiplier and size != "xlarge":
        return None
    vcpus = _SIZES[size] * int(multiplier or 1)
    return FlavorSize(vcpus=vcpus, ram_mib=vcpus * int(ratio) * 1024)
