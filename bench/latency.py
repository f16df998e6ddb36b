"""End-to-end job latency as a polling client sees it: submit, then ShowJob until SUCCESS."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.seed import BatchRequest
from bench.signer import Credentials, authorization
from localecs.auth import signing

POLL_INTERVAL = 0.001


@dataclass(frozen=True)
class Percentiles:
    p50_ms: float
    p99_ms: float
    samples: int


class SignedClient:
    def __init__(self, endpoint: str, credentials: Credentials) -> None:
        self._client = httpx.Client(base_url=endpoint, timeout=30)
        self._host = endpoint.split("://", 1)[1]
        self._credentials = credentials

    def call(self, method: str, path: str, body: bytes = b"") -> Any:
        headers = {"host": self._host, "x-project-id": self._credentials.project_id}
        if body:
            headers["content-type"] = "application/json;charset=utf-8"
        headers["x-sdk-date"] = datetime.now(UTC).strftime(signing.SDK_DATE_FORMAT)
        headers["authorization"] = authorization(self._credentials, method, path, "", headers, body)
        response = self._client.request(method, path, headers=headers, content=body)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def close(self) -> None:
        self._client.close()


def batch_path(project_id: str, request: BatchRequest) -> tuple[str, bytes]:
    verb = "attachvolumes" if request.action == "attach" else "detachvolumes"
    path = f"/v1/{project_id}/batchaction/{verb}/{request.volume_id}"
    servers: list[Any] = list(request.server_ids)
    if request.action == "attach":
        servers = [{"server_id": s} for s in request.server_ids]
    body = {"serverinfo": servers}
    return path, json.dumps(body).encode()


def end_to_end(
    endpoint: str, credentials: Credentials, cycle: BatchRequest, rounds: int
) -> Percentiles:
    """Detach then re-attach the disk of `cycle`, `rounds` times each, timing every job from
    the submission to the first ShowJob answer that says SUCCESS."""
    client = SignedClient(endpoint, credentials)
    project = credentials.project_id
    samples: list[float] = []
    action = cycle.action
    try:
        for _ in range(rounds * 2):
            request = BatchRequest(action, cycle.volume_id, cycle.server_ids)
            path, body = batch_path(project, request)
            started = time.perf_counter()
            job_id = client.call("POST", path, body)["job_id"]
            while True:
                status = client.call("GET", f"/v1/{project}/jobs/{job_id}")["status"]
                if status == "SUCCESS":
                    break
                if status == "FAIL":
                    raise RuntimeError(f"job {job_id} failed")
                time.sleep(POLL_INTERVAL)
            samples.append((time.perf_counter() - started) * 1000)
            action = "attach" if action == "detach" else "detach"
    finally:
        client.close()
    return percentiles(samples)


def percentiles(samples: list[float]) -> Percentiles:
    ordered = sorted(samples)
    p99_index = min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))
    return Percentiles(statistics.median(ordered), ordered[p99_index], len(ordered))
