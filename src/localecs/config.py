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
    project_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class IdentitySettings:
    """Tokens, rate limits and the key that seals secret keys at rest (docs/identity.md)."""

    token_lifetime_seconds: float = 86400.0
    # Requests per second per credential, with bursts up to rate_burst; 0 turns it off.
    rate_limit: float = 5000.0
    rate_burst: float = 10000.0
    encryption_key: str | None = None  # URL-safe base64 of 32 bytes
    encryption_key_file: Path | None = None  # default: <data-dir>/secret.key


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
    drain_seconds: float = 30.0
    job_retention_seconds: float = 86400.0
    max_body_bytes: int = 1024 * 1024
    region: str = "cn-north-4"
    bootstrap: BootstrapCredential = field(default_factory=BootstrapCredential)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
