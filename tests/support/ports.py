"""Ports for the processes and listeners the tests start.

Each pytest-xdist worker draws from a block of its own, below the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default): no other worker can pick the
same port between the probe and the service's bind, and no outgoing connection (whose source port
the kernel takes from the ephemeral range) can take it meanwhile. A probe still checks that
nothing else on the machine holds the port."""

from __future__ import annotations

import itertools
import os
import socket

_FIRST = 20000
_BLOCK = 500  # ports per worker, used in turn, so a port just freed is not handed out again soon
_BLOCKS = 20  # 20000-29999; more workers than that share blocks


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... under xdist
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


_start = _FIRST + (_worker_index() % _BLOCKS) * _BLOCK
_next = itertools.cycle(range(_start, _start + _BLOCK))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on or is bound to now, from this worker's block."""
    for _ in range(_BLOCK):
        port = next(_next)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_start}-{_start + _BLOCK - 1}")
