"""Server-side, per-visitor state: datasets and trained runs, keyed by session id.

Gunicorn workers (and Cloud Run instances) share no memory, so everything a visitor
owns lives here: on a local disk cache by default (shared by all workers of one
machine, no extra service), bounded in size and expiring when idle. Frames are
stored once per content (parquet bytes, addressed by their SHA-256).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator

import pandas as pd

from .config import Settings

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


def new_session_id() -> str:
    """A fresh, unguessable session id (128 bits of randomness)."""
    return secrets.token_urlsafe(16)


def valid_session_id(value: Any) -> bool:
    """Whether ``value`` has the shape of an id made by :func:`new_session_id`."""
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


class SessionExpired(LookupError):
    """The visitor's session id is malformed, or its data has expired."""


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise a frame to compressed parquet bytes."""
    buffer = io.BytesIO()
    frame.to_parquet(
        buffer,
        engine="pyarrow",
        compression="zstd",
        index=False,
        row_group_size=262_144,
    )
    return buffer.getvalue()


class DiskBackend:
    """A size-capped diskcache shared by the processes of one machine."""

    def __init__(self, directory: str, size_limit: int) -> None:
        self.directory = directory
        self.size_limit = size_limit
        self._pid = -1
        self._cache: Any = None
        self._lock = threading.Lock()

    @property
    def cache(self) -> Any:
        """The diskcache handle of this process (reopened after a fork)."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    import diskcache

                    self._cache = diskcache.Cache(
                        self.directory,
                        size_limit=self.size_limit,
                        eviction_policy="least-recently-stored",
                        cull_limit=10,
                    )
                    self._pid = os.getpid()
        return self._cache

    def get(self, key: str) -> Any:
        """The value at ``key``, or None."""
        return self.cache.get(key)

    def set(self, key: str, value: Any, expire: int) -> None:
        """Store ``value`` at ``key`` for ``expire`` seconds."""
        self.cache.set(key, value, expire=expire)

    def touch(self, key: str, expire: int) -> bool:
        """Extend the life of ``key``; False when it is gone."""
        return bool(self.cache.touch(key, expire=expire))

    def open(self, key: str) -> BinaryIO | None:
        """A readable file of the bytes at ``key`` (large values are not copied)."""
        value = self.cache.get(key, read=True)
        return io.BytesIO(value) if isinstance(value, bytes) else value

    @contextmanager
    def transaction(self, key: str) -> Iterator[None]:
        """Make the enclosed read-modify-write of ``key`` atomic across processes."""
        with self.cache.transact():
            yield

    def close(self) -> None:
        """Close this process's handle."""
        if self._cache is not None:
            self._cache.close()
            self._pid = -1


class SessionStore:
    """Datasets and runs of each visitor session, with expiry and a size cap.

    Fitted pipelines read back are also kept in a small per-process LRU, so that
    live what-if predictions do not deserialise a model on every keystroke.
    """

    MODEL_CACHE_SIZE = 8

    def __init__(self, backend: Any, *, ttl_seconds: int, max_runs: int) -> None:
        self.backend = backend
        self.ttl = ttl_seconds
        self.max_runs = max_runs
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._models_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "SessionStore":
        """The store the settings describe (a local disk cache)."""
        backend = DiskBackend(
            settings.cache_dir, size_limit=settings.cache_size_mb * 1024 * 1024
        )
        return cls(
            backend,
            ttl_seconds=settings.session_ttl_seconds,
            max_runs=settings.max_runs_per_session,
        )

    # -- session records -------------------------------------------------------
    def _session_key(self, sid: str) -> str:
        if not valid_session_id(sid):
            raise SessionExpired("This page's session is not valid; reload the page.")
        return f"session:{sid}"

    def session(self, sid: str) -> dict[str, Any]:
        """The session's record: ``{"dataset": meta or None, "runs": [ids], "seq"}``."""
        key = self._session_key(sid)
        record = self.backend.get(key)
        if record is None:
            return {"dataset": None, "runs": [], "seq": 0}
        self.backend.touch(key, self.ttl)
        return record

    def _update(self, sid: str, change: Any) -> dict[str, Any]:
        key = self._session_key(sid)
        with self.backend.transaction(key):
            record = self.backend.get(key) or {"dataset": None, "runs": [], "seq": 0}
            result = change(record)
            self.backend.set(key, record, self.ttl)
        return result

    # -- frames ------------------------------------------------------------------
    def put_frame(self, frame: pd.DataFrame) -> str:
        """Store a frame once per content; returns its content key."""
        data = frame_to_bytes(frame)
        key = "frame:" + hashlib.sha256(data).hexdigest()
        if not self.backend.touch(key, self.ttl):
            self.backend.set(key, data, self.ttl)
        return key

    def has_frame(self, key: str) -> bool:
        """Whether a frame is still stored (and keep it alive if so)."""
        return key.startswith("frame:") and self.backend.touch(key, self.ttl)

    def get_frame(self, key: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a stored frame, or only some of its columns (not reading the rest)."""
        handle = self.backend.open(key) if key.startswith("frame:") else None
        if handle is None:
            raise SessionExpired("The data of this session has expired; load it again.")
        with handle:
            return pd.read_parquet(handle, engine="pyarrow", columns=columns)

    def remember(self, key: str, value: Any) -> None:
        """Store a derived value (a profile, a cached lookup) for the session TTL."""
        self.backend.set(key, value, self.ttl)

    def recall(self, key: str) -> Any:
        """A value stored by :meth:`remember`, or None."""
        return self.backend.get(key)

    # -- the session's dataset ---------------------------------------------------
    def set_dataset(self, sid: str, meta: dict[str, Any]) -> None:
        """Make ``meta`` (which names a stored frame) the session's current dataset."""

        def change(record: dict[str, Any]) -> None:
            record["dataset"] = meta

        self._update(sid, change)

    def dataset(self, sid: str) -> dict[str, Any]:
        """The current dataset's metadata; raises SessionExpired when there is none."""
        meta = self.session(sid).get("dataset")
        if meta is None:
            raise SessionExpired("No data is loaded in this session.")
        return meta

    def dataset_frame(
        self, sid: str, columns: list[str] | None = None
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        """The current dataset's metadata and frame."""
        meta = self.dataset(sid)
        return meta, self.get_frame(meta["frame"], columns)

    # -- runs ----------------------------------------------------------------------
    def add_run(self, sid: str, report: dict[str, Any], pipeline: Any) -> str:
        """Keep a trained run; returns its id (``"1"``, ``"2"``, ...).

        The oldest runs are forgotten beyond ``max_runs``.
        """

        def change(record: dict[str, Any]) -> str:
            record["seq"] = record.get("seq", 0) + 1
            run_id = str(record["seq"])
            record["runs"] = (record.get("runs", []) + [run_id])[-self.max_runs :]
            return run_id

        run_id = self._update(sid, change)
        self.backend.set(f"run:{sid}:{run_id}", report, self.ttl)
        self.backend.set(f"model:{sid}:{run_id}", pipeline, self.ttl)
        return run_id

    def remove_runs(self, sid: str, run_ids: list[str]) -> None:
        """Forget some runs of a session."""
        drop = {str(r) for r in run_ids}

        def change(record: dict[str, Any]) -> None:
            record["runs"] = [r for r in record.get("runs", []) if r not in drop]

        self._update(sid, change)
        with self._models_lock:
            for run_id in drop:
                self._models.pop(f"{sid}:{run_id}", None)

    def runs(self, sid: str) -> list[tuple[str, dict[str, Any]]]:
        """The session's runs, oldest first, as ``(id, report)`` pairs."""
        out = []
        for run_id in self.session(sid).get("runs", []):
            report = self.backend.get(f"run:{sid}:{run_id}")
            if report is not None:
                out.append((run_id, report))
        return out

    def run(self, sid: str, run_id: str) -> dict[str, Any]:
        """One run's report; raises SessionExpired when it is not (or no more) here."""
        if str(run_id) not in self.session(sid).get("runs", []):
            raise SessionExpired(f"Run {run_id} is no longer available.")
        report = self.backend.get(f"run:{sid}:{run_id}")
        if report is None:
            raise SessionExpired(f"Run {run_id} is no longer available.")
        return report

    def model(self, sid: str, run_id: str) -> Any:
        """One run's fitted pipeline."""
        if str(run_id) not in self.session(sid).get("runs", []):
            raise SessionExpired(f"Run {run_id} is no longer available.")
        key = f"{sid}:{run_id}"
        with self._models_lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        pipeline = self.backend.get(f"model:{key}")
        if pipeline is None:
            raise SessionExpired(f"Run {run_id} is no longer available.")
        with self._models_lock:
            self._models[key] = pipeline
            while len(self._models) > self.MODEL_CACHE_SIZE:
                self._models.popitem(last=False)
        return pipeline
