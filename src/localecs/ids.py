"""Identifier formats used on the wire.

Job and attachment ids are ordered by creation time, as the cloud's own job ids are. Besides
fidelity, this is what keeps admission cheap: every admission inserts up to 17 job ids and 16
attachment ids into unique indexes, and random ids put each one on a page of its own (on SQLite,
each page is then written out whole to the WAL at commit); ordered ids land on the index's last
page or two.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
import uuid


def new_resource_id() -> str:
    """Servers, volumes and projects are UUIDs in the real cloud."""
    return str(uuid.uuid4())


def new_attachment_id() -> str:
    """A UUID still (attachment ids are UUIDs on the wire), of version 7 (RFC 9562): 48 bits of
    Unix milliseconds first, then random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    # Version 7 in bits 76-79, the RFC's variant (0b10) in bits 62-63.
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


class _JobIds:
    """Job ids in the shape of the cloud's (`ff80808288d41e1b018990260955686a`, contract 3.3):
    Hibernate's UUIDHexGenerator, 8 hex digits naming the node, 8 its process, 12 the time in
    milliseconds and 4 a counter. Here the node and process are random per process, the time
    never goes back within a process, and the counter runs within a millisecond, so ids are
    unique and, within a process, increasing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._restart()
        # A forked child is another process: it must not repeat its parent's ids.
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._millis = 0
        self._counter = itertools.count()

    def __call__(self) -> str:
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now > self._millis:
                self._millis = now
                self._counter = itertools.count()
            count = next(self._counter)
            if count > 0xFFFF:  # 65,536 ids in one millisecond: borrow the next one
                self._millis += 1
                self._counter = itertools.count(1)
                count = 0
            millis = self._millis
        return f"{self._prefix}{millis:012x}{count:04x}"


# Current Huawei job ids are 32 lowercase hex characters, ordered by time.
new_job_id = _JobIds()


def new_request_id() -> str:
    return secrets.token_hex(16)
