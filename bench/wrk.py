"""Load from wrk: a Lua script replays a pool of pre-built raw requests.

Each wrk thread takes its own share of the pool (request i goes to thread i mod threads) and
walks it in order, so a pool in which every request is valid once stays valid under any number
of connections. The summary (rate, latency percentiles, non-2xx answers) comes back as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

INSTALL_HINT = "wrk is needed for load generation: apt-get install -y wrk (Debian/Ubuntu)"
SEPARATOR = b"\0"

_SCRIPT = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local handle = io.open(args[1], "rb")
  local data = handle:read("*a")
  handle:close()
  local count = tonumber(args[2])
  local all = {}
  for piece in string.gmatch(data, "([^%z]+)") do
    table.insert(all, piece)
  end
  pool = {}
  for i = 1, #all do
    if (i - 1) % count == thread_id then
      table.insert(pool, all[i])
    end
  end
  position = 0
  repeats = 0
  if #pool == 0 then
    pool = all
  end
end

-- Each thread replays its own share of the pool: once one has sent all of it, what it sends
-- again is counted, since a request valid once (a batch) may be refused the second time.
function request()
  position = position + 1
  if position > #pool then
    position = 1
    wrapped = 1
  end
  if wrapped == 1 then
    repeats = repeats + 1
  end
  return pool[position]
end

function done(summary, latency, requests)
  local errors = summary.errors
  local repeated = 0
  for _, thread in ipairs(threads) do
    repeated = repeated + (thread:get("repeats") or 0)
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d, "repeated": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max, repeated))
end
"""


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    # Requests sent again after a wrk thread had sent its whole share of the pool.
    repeated: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "rate": self.rate}


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(INSTALL_HINT)
    return path


def run(
    endpoint: str,
    pool: Sequence[bytes],
    *,
    seconds: float,
    connections: int,
    threads: int = 2,
) -> LoadResult:
    """Replays `pool` against `endpoint` for `seconds` with `connections` open connections."""
    wrk = require_wrk()
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory(prefix="localecs-wrk-") as tmp:
        data = Path(tmp) / "requests.bin"
        data.write_bytes(SEPARATOR.join(pool))
        script = Path(tmp) / "replay.lua"
        script.write_text(_SCRIPT)
        completed = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                endpoint,
                "--",
                str(data),
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    return LoadResult(
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        non_2xx=summary["status_errors"],
        socket_errors=summary["socket_errors"],
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        repeated=summary.get("repeated", 0),
    )
