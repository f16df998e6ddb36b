"""Job statuses, job types and how a parent's status follows its sub-jobs (contract 3, 8)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    INIT = "INIT"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAIL)


class JobType(StrEnum):
    BATCH_DETACH_VOLUMES = "batchDetachVolumes"
    DETACH_VOLUME = "detachVolume"
    BATCH_ATTACH_VOLUMES = "batchAttachVolumes"
    ATTACH_VOLUME = "attachVolume"
    CREATE_SERVER = "createServer"
    CREATE_SINGLE_SERVER = "createSingleServer"
    DELETE_SERVERS = "deleteVMs"
    DELETE_SINGLE_SERVER = "deleteSingleServer"
    BATCH_START_SERVERS = "batchStartServers"
    START_SERVER = "startServer"
    BATCH_STOP_SERVERS = "batchStopServers"
    STOP_SERVER = "stopServer"
    CREATE_VOLUME = "createVolume"
    BATCH_CREATE_VOLUME = "batchCreateVolume"
    DELETE_VOLUME = "deleteVolume"


@dataclass(frozen=True)
class SubJobOutcome:
    status: JobStatus
    error_code: str | None
    fail_reason: str | None


@dataclass(frozen=True)
class RollUp:
    status: JobStatus
    error_code: str | None = None
    fail_reason: str | None = None


def roll_up(sub_jobs: Iterable[SubJobOutcome]) -> RollUp:
    """The parent's status given its sub-jobs, in their creation order.

    A parent is final only when every sub-job is; a failed parent copies the first failing
    sub-job's code and summarises how many failed. Successful sub-jobs stay applied.
    """
    outcomes = list(sub_jobs)
    if any(not o.status.is_final for o in outcomes):
        started = any(o.status is not JobStatus.INIT for o in outcomes)
        return RollUp(JobStatus.RUNNING if started else JobStatus.INIT)
    failed = [o for o in outcomes if o.status is JobStatus.FAIL]
    if not failed:
        return RollUp(JobStatus.SUCCESS)
    first = failed[0]
    summary = f"{len(failed)} of {len(outcomes)} sub-jobs failed; first: {first.fail_reason}"
    return RollUp(JobStatus.FAIL, first.error_code, summary)
