"""Server-side, per-visitor state: datasets and trained runs, keyed by session id.

Gunicorn workers (and Cloud Run instances) share no memory, so everything a visitor
owns lives here: on a local disk cache by default (shared by all workers of one
machine, no extra service), or on Redis when ``REDIS_URL`` is set (shared by all
instances), bounded in size and expiring when idle. Frames are stored once per
content (parquet bytes, addressed by their SHA-256).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os

# Unpickling is limited to values this server wrote itself (see RedisBackend._decode).
import pickle  # nosec B403
import re
import secrets
import threading
import time
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator

import pandas as pd

from .config import Settings
from .forksafe import GUARD, close_after_fork

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


class StoreUnavailable(SessionExpired, RuntimeError):
    """The shared data store cannot be reached (or is busy); the visitor may retry.

    A subclass of :class:`SessionExpired`, so that the callbacks, which catch that,
    show its message instead of failing with a server error.
    """

    MESSAGE = (
        "The server's data store is not reachable right now; try again in a moment."
    )

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise a frame to compressed parquet bytes.

    Dictionary encoding is kept for the columns it helps (text, integers) and
    skipped for floats, where trying it costs seconds on a million rows and
    saves nothing.
    """
    buffer = io.BytesIO()
    dictionary = [
        str(c) for c in frame.columns if not pd.api.types.is_float_dtype(frame[c])
    ]
    frame.to_parquet(
        buffer,
        engine="pyarrow",
        compression="zstd",
        compression_level=1,
        use_dictionary=dictionary,
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
        close_after_fork(self._forget_inherited)

    def _forget_inherited(self) -> None:
        """In a forked child: close the parent's connection before opening one."""
        self._lock = threading.Lock()
        if self._cache is not None:
            self._cache.close()

    @property
    def cache(self) -> Any:
        """The diskcache handle of this process (reopened after a fork)."""
        if self._pid != os.getpid():
            with self._lock, GUARD.using():
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
        with GUARD.using():
            return self.cache.get(key)

    def set(self, key: str, value: Any, expire: int) -> None:
        """Store ``value`` at ``key`` for ``expire`` seconds."""
        with GUARD.using():
            self.cache.set(key, value, expire=expire)

    def touch(self, key: str, expire: int) -> bool:
        """Extend the life of ``key``; False when it is gone."""
        with GUARD.using():
            return bool(self.cache.touch(key, expire=expire))

    def shared_secret(self) -> str:
        """A random secret made once and read by every process of this machine.

        Kept in a file beside the cache (never evicted, readable by its owner only).
        """
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, "secret-key")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):  # another process is writing it right now
                with open(path, encoding="ascii") as handle:
                    secret = handle.read().strip()
                if secret:
                    return secret
                time.sleep(0.01)
            raise RuntimeError(f"{path} stays empty") from None
        secret = secrets.token_urlsafe(32)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret)
        return secret

    def open(self, key: str) -> BinaryIO | None:
        """A readable file of the bytes at ``key`` (large values are not copied)."""
        with GUARD.using():
            value = self.cache.get(key, read=True)
        return io.BytesIO(value) if isinstance(value, bytes) else value

    @contextmanager
    def transaction(self, key: str) -> Iterator[None]:
        """Make the enclosed read-modify-write of ``key`` atomic across processes."""
        with GUARD.using(), self.cache.transact():
            yield

    def close(self) -> None:
        """Close this process's handle."""
        if self._cache is not None:
            self._cache.close()
            self._pid = -1


def _kind(key: str) -> str:
    """What a key names, for logs: ``session:*`` (session ids are secrets)."""
    return key.split(":", 1)[0] + ":*"


class RedisBackend:
    """A Redis database shared by every process of every instance.

    Values are stored under ``namespace + key``: bytes as they are (frames are
    already compressed parquet), anything else pickled and zlib-compressed, each
    behind a one-byte type tag. Every key has a TTL. Content-addressed keys
    (``frame:<sha256>``) are written once: setting one that exists only extends
    its life. Redis errors surface as :class:`StoreUnavailable`.

    The app configures nothing on the server. The Redis instance must be capped,
    or it fills up: run it with ``maxmemory`` set and ``maxmemory-policy
    volatile-lru`` (or ``allkeys-lru``). Prefer ``volatile-lru`` when the same
    instance is also the Celery broker (as with a single ``REDIS_URL``): every key
    of this store expires, so it can all be evicted, whereas Celery's queues, which
    have no TTL, cannot (``allkeys-lru`` could drop queued jobs).

    Parameters
    ----------
    url : str
        A ``redis://`` or ``rediss://`` URL, passed to ``redis.Redis.from_url``.
    namespace : str
        Prefix of every key, to share an instance with other users (Celery).
    socket_timeout, connect_timeout : float
        Seconds before a silent server counts as unreachable.
    """

    #: Keys named by a hash of their value: never rewritten once stored.
    CONTENT_PREFIXES = ("frame:",)
    #: Zlib level of pickled values (1: fast, most of the gain on numeric arrays).
    COMPRESS_LEVEL = 1
    _RAW = b"b"
    _PICKLED = b"z"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "dashboard:",
        socket_timeout: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        self._pid = -1
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Not the URL: it may hold a password.
        return f"RedisBackend(namespace={self.namespace!r})"

    @property
    def client(self) -> Any:
        """The ``redis.Redis`` client of this process (a new pool after a fork)."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    import redis
                    from redis.backoff import ExponentialWithJitterBackoff
                    from redis.retry import Retry

                    self._client = redis.Redis.from_url(
                        self.url,
                        socket_timeout=self.socket_timeout,
                        socket_connect_timeout=self.connect_timeout,
                        health_check_interval=30,
                        # Ride over a blip, but answer a visitor within seconds
                        # when the server is down (the default waits up to 14 s).
                        retry=Retry(
                            ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2
                        ),
                    )
                    self._pid = os.getpid()
        return self._client

    @contextmanager
    def _reachable(self, action: str, key: str) -> Iterator[None]:
        """Turn Redis connection errors into :class:`StoreUnavailable`, logged."""
        from redis import exceptions

        try:
            yield
        except (exceptions.ConnectionError, exceptions.TimeoutError) as exc:
            log.error("session store: %s %s failed: %r", action, _kind(key), exc)
            raise StoreUnavailable() from exc
        except exceptions.OutOfMemoryError as exc:
            log.error(
                "session store: %s %s failed: Redis is full and evicts nothing; "
                "set maxmemory-policy volatile-lru: %r",
                action,
                _kind(key),
                exc,
            )
            raise StoreUnavailable() from exc

    @staticmethod
    def _seconds(expire: float | None) -> int | None:
        return None if expire is None else max(1, int(expire))

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._RAW + bytes(value)
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return self._PICKLED + zlib.compress(data, self.COMPRESS_LEVEL)

    def _decode(self, data: bytes | None) -> Any:
        if data is None:
            return None
        tag, body = data[:1], memoryview(data)[1:]
        if tag == self._RAW:
            return bytes(body)
        if tag == self._PICKLED:
            # Safe: only this server writes this store, and only what it produced
            # itself (frames, profiles, reports, fitted pipelines); no visitor
            # input is ever stored as a pickle, and keys are namespaced.
            return pickle.loads(zlib.decompress(body))  # nosec B301
        raise ValueError(f"Unknown value format {tag!r} in the session store")

    def get(self, key: str) -> Any:
        """The value at ``key``, or None."""
        with self._reachable("get", key):
            data = self.client.get(self.namespace + key)
        return self._decode(data)

    def set(self, key: str, value: Any, expire: int) -> None:
        """Store ``value`` at ``key`` for ``expire`` seconds (content keys: once)."""
        name, seconds = self.namespace + key, self._seconds(expire)
        with self._reachable("set", key):
            if key.startswith(self.CONTENT_PREFIXES):
                if self._extend(name, seconds):
                    return
                # NX: a concurrent writer of the same content may have won; same bytes.
                self.client.set(name, self._encode(value), ex=seconds, nx=True)
            else:
                self.client.set(name, self._encode(value), ex=seconds)

    def _extend(self, name: str, seconds: int | None) -> bool:
        if seconds is None:
            return bool(self.client.persist(name)) or bool(self.client.exists(name))
        return bool(self.client.expire(name, seconds))

    def touch(self, key: str, expire: int) -> bool:
        """Extend the life of ``key``; False when it is gone."""
        with self._reachable("touch", key):
            return self._extend(self.namespace + key, self._seconds(expire))

    def shared_secret(self) -> str:
        """A random secret made once and read by every process of every instance.

        Stored without a TTL, so ``volatile-lru`` never evicts it.
        """
        name = self.namespace + "secret-key"
        with self._reachable("set", "secret-key"):
            self.client.set(name, secrets.token_urlsafe(32).encode(), nx=True)
            return self.client.get(name).decode("ascii")

    def open(self, key: str) -> BinaryIO | None:
        """A readable file of the bytes at ``key``, or None."""
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise TypeError(f"{key} does not hold bytes")
        return io.BytesIO(value)

    @contextmanager
    def transaction(self, key: str) -> Iterator[None]:
        """Make the enclosed read-modify-write of ``key`` atomic across processes.

        A Redis lock, held at most 10 s (the enclosed work takes milliseconds),
        waited for at most 10 s.
        """
        from redis.exceptions import LockError, RedisError

        name = f"{self.namespace}lock:{key}"
        lock = self.client.lock(name, timeout=10, blocking_timeout=10, sleep=0.01)
        with self._reachable("lock", key):
            acquired = lock.acquire()
        if not acquired:
            log.error("session store: waited 10 s for the lock of %s", _kind(key))
            raise StoreUnavailable("The server is busy; try again in a moment.")
        try:
            yield
        finally:
            try:
                lock.release()
            except LockError as exc:
                log.warning("session store: a %s lock had expired: %r", _kind(key), exc)
            except RedisError as exc:  # it expires on its own
                log.warning("session store: could not unlock %s: %r", _kind(key), exc)

    def close(self) -> None:
        """Close this process's connections."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None
        self._pid = -1


TOUCH_EVERY = 60.0


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
        self._touched: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "SessionStore":
        """The store the settings describe: Redis at ``redis_url``, else on disk."""
        backend: DiskBackend | RedisBackend
        if settings.redis_url:
            backend = RedisBackend(settings.redis_url)
        else:
            backend = DiskBackend(
                settings.cache_dir, size_limit=settings.cache_size_mb * 1024 * 1024
            )
        return cls(
            backend,
            ttl_seconds=settings.session_ttl_seconds,
            max_runs=settings.max_runs_per_session,
        )

    def shared_secret(self) -> str:
        """A secret shared by every process that uses this store (made once)."""
        return self.backend.shared_secret()

    # -- session records -------------------------------------------------------
    def _session_key(self, sid: str) -> str:
        if not valid_session_id(sid):
            raise SessionExpired("This page's session is not valid; reload the page.")
        return f"session:{sid}"

    def session(self, sid: str) -> dict[str, Any]:
        """The session's record: ``{"dataset": meta or None, "runs": [ids], "seq"}``.

        Reading it keeps the session alive; the expiry is pushed back at most once a
        minute per process, so that frequent reads (what-if) do not each write.
        """
        key = self._session_key(sid)
        record = self.backend.get(key)
        if record is None:
            return {"dataset": None, "runs": [], "seq": 0}
        now = time.monotonic()
        with self._models_lock:
            due = now - self._touched.get(key, -TOUCH_EVERY) >= TOUCH_EVERY
            if due:
                self._touched[key] = now
                while len(self._touched) > 10_000:
                    self._touched.pop(next(iter(self._touched)))
        if due:
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
