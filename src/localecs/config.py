"""Settings: built once by the command line (flags, then LOCALECS_* variables, then defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path(".localecs")
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class BootstrapCredential:
    """The first access key, fixed by the environment so scripts and CI know it in advance."""

    access_key: str | None = None
    secret_key: str | None = None
    project_id: str | None = None


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    driver: str = "simulated"
    driver_latency: float = 0.3
    latency_profile: str = "default"
    workers: int = 4
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    job_retention_seconds: float = 86400.0
    max_body_bytes: int = 1024 * 1024
    region: str = "cn-north-4"
    bootstrap: BootstrapCredential = field(default_factory=BootstrapCredential)
