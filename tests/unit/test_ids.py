"""Identifier formats: what the wire shows, and the order admission's indexes rely on."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

import pytest

from localecs import ids


def test_job_ids_have_the_clouds_shape_and_increase() -> None:
    made = [ids.new_job_id() for _ in range(5000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", job_id) for job_id in made)
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    # Hibernate's layout: node and process (16 digits) fixed within a process, then time.
    assert len({job_id[:16] for job_id in made}) == 1


def test_job_ids_carry_the_time_they_were_made_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    job_id = ids.new_job_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(job_id[16:28], 16) <= after + 1


def test_job_ids_made_on_many_threads_are_unique() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def make(into: list[str]) -> None:
        into.extend(ids.new_job_id() for _ in range(2000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [job_id for into in made for job_id in into]
    assert len(set(everything)) == len(everything)
    for into in made:  # each thread sees them increase
        assert into == sorted(into)


def test_more_than_a_counters_worth_in_one_millisecond_stays_unique_and_ordered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = 1_800_000_000_000 * 1_000_000
    monkeypatch.setattr(time, "time_ns", lambda: frozen)
    generator = ids._JobIds()
    made = [generator() for _ in range(0x10000 + 10)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert int(made[-1][16:28], 16) == frozen // 1_000_000 + 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_forked_child_makes_ids_of_its_own() -> None:
    read, write = os.pipe()
    parent_prefix = ids.new_job_id()[:16]
    pid = os.fork()
    if pid == 0:  # the child: report its prefix and leave at once
        os.write(write, ids.new_job_id()[:16].encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_prefix = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child_prefix and child_prefix != parent_prefix


def test_attachment_ids_are_version_7_uuids_in_time_order() -> None:
    made = [ids.new_attachment_id() for _ in range(2000)]
    parsed = [uuid.UUID(value) for value in made]
    assert all(str(value) == text for value, text in zip(parsed, made, strict=True))
    assert {value.version for value in parsed} == {7}
    assert {value.variant for value in parsed} == {uuid.RFC_4122}
    # Ordered by their millisecond; within one they are random.
    millis = [value.int >> 80 for value in parsed]
    assert millis == sorted(millis)
    assert len(set(made)) == len(made)
