"""Settings read once from the environment (the top layer: imports nothing else)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from typing import Mapping

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the app can be configured with, and its defaults.

    Attributes mirror the environment variables documented in the README
    (``MAX_UPLOAD_MB`` becomes ``max_upload_mb`` and so on).
    """

    port: int = 8050
    log_level: str = "INFO"
    max_upload_mb: float = 20.0
    max_rows: int = 1_000_000
    max_columns: int = 2_000
    # What one loaded table may cost, checked before the work (README, "Limits").
    max_table_mb: float = 256.0
    max_cells: int = 25_000_000
    max_excel_unpacked_mb: float = 64.0
    max_excel_cells: int = 2_000_000
    cache_dir: str = os.path.join(tempfile.gettempdir(), "dashboard-cache")
    cache_size_mb: int = 2_048
    session_ttl_hours: float = 6.0
    max_runs_per_session: int = 50
    session_quota_mb: int = 512
    job_slots: int = 0
    job_memory_mb: int = 2048
    job_seconds: int = 600
    job_queue_per_visitor: int = 8
    redis_url: str | None = None
    auth_users: str | None = None
    login_hours: float = 12.0
    login_failures: int = 5
    login_lockout_seconds: int = 300
    secret_key: str | None = None
    google_cloud_project: str | None = None

    @property
    def max_upload_bytes(self) -> int:
        """Largest accepted upload, in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_request_bytes(self) -> int:
        """Largest accepted HTTP request body: a base64 upload plus JSON overhead."""
        return int(self.max_upload_bytes * 4 / 3) + 1024 * 1024

    @property
    def job_concurrency(self) -> int:
        """How many background jobs compute at once per instance (0: one per CPU)."""
        return self.job_slots if self.job_slots > 0 else max(1, os.cpu_count() or 1)

    @property
    def session_ttl_seconds(self) -> int:
        """How long an idle visitor's data and runs are kept."""
        return int(self.session_ttl_hours * 3600)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> "Settings":
        """Settings from ``environ`` (default ``os.environ``), then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(field.name.upper())
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, raw, type(field.default))
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str, kind: type) -> object:
    """Convert one environment string to the type of the field's default."""
    try:
        if kind is bool:
            return raw.strip().lower() in _TRUE
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name.upper()} must be a number, got {raw!r}") from exc
    return raw
