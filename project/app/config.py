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
    cache_size_mb: int = 0  # 0: an eighth of the memory (see __post_init__)
    session_ttl_hours: float = 6.0
    max_runs_per_session: int = 50
    session_quota_mb: int = -1  # -1: a quarter of the store, at most 512
    memory_mb: int = 0  # 0: the machine's or container's limit
    job_slots: int = 0
    job_memory_mb: int = 0  # 0: what is left, shared by the jobs that may run
    job_seconds: int = 600
    job_queue_per_visitor: int = 8
    redis_url: str | None = None
    auth_users: str | None = None
    login_hours: float = 12.0
    login_failures: int = 5
    login_lockout_seconds: int = 300
    secret_key: str | None = None
    google_cloud_project: str | None = None
    # Where published runs are kept (fsspec URL; default: beside the cache).
    share_url: str | None = None
    # Where visitors' work is kept durably (fsspec URL; default: beside the
    # cache; "off": only in the cache), and for how long.
    store_url: str | None = None
    retention_days: float = 30.0
    api_max_rows: int = 10_000
    api_rate_per_minute: int = 120
    enable_mcp: bool = False

    def __post_init__(self) -> None:
        """Size the memory settings left unset to ``memory_mb`` (by default the
        memory this process may use): the store an eighth of it (on Cloud Run it
        lives in memory), a session a quarter of the store, and a job an equal
        share of what the web processes (:data:`WEB_RESERVE_MB`) and the store
        leave to the jobs that may run at once (the slots and a background slot)."""
        memory = self.memory_mb or memory_limit_mb()
        cache = self.cache_size_mb or _clamp(memory // 8, 64, 2_048)
        quota = self.session_quota_mb
        if quota < 0:
            quota = _clamp(cache // 4, 1, 512)
        jobs = self.job_concurrency + 1
        job = self.job_memory_mb or _clamp(
            (memory - WEB_RESERVE_MB - cache) // jobs, 128, 2_048
        )
        for name, value in (
            ("memory_mb", memory),
            ("cache_size_mb", cache),
            ("session_quota_mb", quota),
            ("job_memory_mb", job),
        ):
            object.__setattr__(self, name, value)  # frozen: set once, here

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
    def shares_location(self) -> str:
        """The fsspec URL of the published runs: ``SHARE_URL``, or a local
        directory in the cache directory."""
        return self.share_url or os.path.join(self.cache_dir, "shares")

    @property
    def store_location(self) -> str:
        """The fsspec URL of the durable workspaces: ``STORE_URL``, or a local
        directory in the cache directory."""
        return self.store_url or os.path.join(self.cache_dir, "workspaces")

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


#: Memory kept for the web workers, the job runner and the master (MiB).
WEB_RESERVE_MB = 512
#: Where a container's memory limit is read (cgroup v2, then v1).
CGROUP_MEMORY_LIMITS = (
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
)


def memory_limit_mb() -> int:
    """The memory this process may use (MiB): the machine's, or its container's
    limit (cgroup v2 or v1) when lower."""
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in CGROUP_MEMORY_LIMITS:
        try:
            with open(path, encoding="ascii") as handle:
                limit = min(limit, int(handle.read().strip()))
        except (OSError, ValueError):  # absent, or "max" (no limit)
            continue
    return int(limit // (1024 * 1024))


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


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
