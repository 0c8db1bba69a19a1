"""Where the session store keeps its bytes: a size-capped disk cache shared by
the processes of one machine, in a directory private to the service user, or a
Redis shared by every instance. Both offer the same small key-value interface to
:class:`app.server.store.SessionStore`."""

from __future__ import annotations

import io
import logging
import os

# Unpickling is limited to values this server wrote itself (see RedisBackend._decode).
import pickle  # nosec B403
import secrets
import stat
import threading
import time
import zlib
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator

log = logging.getLogger(__name__)
#: How the disk cache makes room (the size cap is the store's).
EVICTION_POLICY = "least-recently-used"


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


class UnsafeCacheDirectory(RuntimeError):
    """The cache directory is a symbolic link or another user's (start-up error)."""


def private_directory(path: str) -> str:
    """Create ``path`` as a directory only its owner can enter (0700), or check it.

    An existing directory is tightened to 0700 when it is this user's own; a
    symbolic link, a file, or a directory of another user is refused (the default
    path is in the shared temporary directory, where anyone can create it first).

    Raises
    ------
    UnsafeCacheDirectory
        With what is wrong and what to do, for the start-up log.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    advice = "remove it, or set CACHE_DIR to a directory of the user running the app"
    if os.path.islink(path):
        raise UnsafeCacheDirectory(
            f"The cache directory {path} is a symbolic link; refusing to keep "
            f"visitors' data there: {advice}."
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:  # replaced by a link or a file meanwhile
        raise UnsafeCacheDirectory(
            f"The cache directory {path} is not a directory: {advice}."
        ) from exc
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise UnsafeCacheDirectory(
                f"The cache directory {path} belongs to another user (uid "
                f"{info.st_uid}); refusing to keep visitors' data there: {advice}."
            )
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return path


def _private_file(path: str, *, create: bool = False) -> None:
    """Make a file of the cache readable and writable by its owner only (0600).

    A file that exists is changed by its path, never opened: closing any handle
    of an SQLite file would drop the locks this process's connection holds on it.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
            )
        except FileExistsError:  # another process made it meanwhile
            return _private_file(path)
        os.fchmod(fd, 0o600)  # whatever the umask
        os.close(fd)
        return
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeCacheDirectory(f"{path} is not a regular file; remove it.")
    if stat.S_IMODE(info.st_mode) != 0o600:
        os.chmod(path, 0o600)


def _private_disk_class() -> type:
    """A ``diskcache.Disk`` whose value files are private, and that tells sizes.

    diskcache creates its value files and their two levels of folders with the
    process umask (usually 0644 and 0755); these are set to 0600 and 0700 as soon
    as written. The size of the last value stored by this thread is kept, so the
    store can account it without serialising it twice.
    """
    import diskcache

    class PrivateDisk(diskcache.Disk):
        def __init__(self, directory: str, **kwargs: Any) -> None:
            super().__init__(directory, **kwargs)
            self.root = directory
            self.sizes = threading.local()

        def store(self, value: Any, read: bool, *args: Any, **kwargs: Any) -> Any:
            size, mode, filename, inline = super().store(value, read, *args, **kwargs)
            if filename:
                full = os.path.join(self.root, filename)
                os.chmod(full, 0o600)
                folder = os.path.dirname(full)
                os.chmod(folder, 0o700)
                os.chmod(os.path.dirname(folder), 0o700)
            else:
                size = (
                    len(inline) if isinstance(inline, (bytes, str, memoryview)) else 8
                )
            self.sizes.last = size
            return size, mode, filename, inline

        def last_size(self) -> int:
            """Bytes of the value this thread stored last."""
            return int(getattr(self.sizes, "last", 0))

    return PrivateDisk


def open_private_cache(directory: str, **settings: Any) -> Any:
    """A ``diskcache.Cache`` in a private directory, with private files.

    The directory is checked by :func:`private_directory`; the SQLite database is
    created 0600 before SQLite opens it (its journal files copy its mode), and
    value files are made private as they are written.
    """
    import diskcache

    private_directory(directory)
    database = os.path.join(directory, diskcache.core.DBNAME)
    _private_file(database, create=True)
    cache = diskcache.Cache(directory, disk=_private_disk_class(), **settings)
    for suffix in ("-wal", "-shm"):
        _private_file(database + suffix)
    return cache


class DiskBackend:
    """A size-capped diskcache shared by the processes of one machine.

    Its directory and files are private to the service user (0700 and 0600,
    whatever the umask); a directory that is a link or another user's is refused
    when the backend is made (at start-up).
    """

    def __init__(self, directory: str, size_limit: int) -> None:
        self.directory = directory
        self.size_limit = size_limit
        self._pid = -1
        self._cache: Any = None
        self._locks: tuple[int, threading.Lock] = (-1, threading.Lock())
        private_directory(directory)

    @property
    def cache(self) -> Any:
        """The diskcache handle of this process (opened anew in a forked process,
        which leaves its parent's handle alone)."""
        if self._pid != os.getpid():
            owner, lock = self._locks
            if owner != os.getpid():  # a lock made here, never one held at a fork
                self._locks = (os.getpid(), threading.Lock())
                lock = self._locks[1]
            with lock:
                if self._pid != os.getpid():
                    self._cache = open_private_cache(
                        self.directory,
                        size_limit=self.size_limit,
                        eviction_policy=EVICTION_POLICY,
                        cull_limit=10,
                    )
                    self._pid = os.getpid()
        return self._cache

    def get(self, key: str) -> Any:
        """The value at ``key``, or None."""
        return self.cache.get(key)

    def set(self, key: str, value: Any, expire: int) -> int:
        """Store ``value`` at ``key`` for ``expire`` seconds; returns bytes stored."""
        cache = self.cache
        cache.set(key, value, expire=expire)
        return int(cache.disk.last_size())

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing when it is gone already)."""
        self.cache.delete(key)

    def touch(self, key: str, expire: int) -> bool:
        """Extend the life of ``key``; False when it is gone."""
        return bool(self.cache.touch(key, expire=expire))

    def shared_secret(self) -> str:
        """A random secret made once and read by every process of this machine.

        Kept in a file beside the cache (never evicted, readable by its owner only).
        """
        private_directory(self.directory)
        path = os.path.join(self.directory, "secret-key")
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
            )
        except FileExistsError:
            _private_file(path)
            for _ in range(50):  # another process is writing it right now
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, encoding="ascii") as handle:
                    secret = handle.read().strip()
                if secret:
                    return secret
                time.sleep(0.01)
            raise RuntimeError(f"{path} stays empty") from None
        os.fchmod(fd, 0o600)
        secret = secrets.token_urlsafe(32)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret)
        return secret

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


def key_kind(key: str) -> str:
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
            log.error("session store: %s %s failed: %r", action, key_kind(key), exc)
            raise StoreUnavailable() from exc
        except exceptions.OutOfMemoryError as exc:
            log.error(
                "session store: %s %s failed: Redis is full and evicts nothing; "
                "set maxmemory-policy volatile-lru: %r",
                action,
                key_kind(key),
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

    def set(self, key: str, value: Any, expire: int) -> int:
        """Store ``value`` at ``key`` for ``expire`` seconds (content keys: once).

        Returns the bytes stored.
        """
        name, seconds = self.namespace + key, self._seconds(expire)
        with self._reachable("set", key):
            if key.startswith(self.CONTENT_PREFIXES):
                if self._extend(name, seconds):
                    return len(value) if isinstance(value, bytes) else 0
                data = self._encode(value)
                # NX: a concurrent writer of the same content may have won; same bytes.
                self.client.set(name, data, ex=seconds, nx=True)
            else:
                data = self._encode(value)
                self.client.set(name, data, ex=seconds)
        return len(data)

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing when it is gone already)."""
        with self._reachable("delete", key):
            self.client.delete(self.namespace + key)

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
            log.error("session store: waited 10 s for the lock of %s", key_kind(key))
            raise StoreUnavailable("The server is busy; try again in a moment.")
        try:
            yield
        finally:
            try:
                lock.release()
            except LockError as exc:
                log.warning(
                    "session store: a %s lock had expired: %r", key_kind(key), exc
                )
            except RedisError as exc:  # it expires on its own
                log.warning(
                    "session store: could not unlock %s: %r", key_kind(key), exc
                )

    def close(self) -> None:
        """Close this process's connections."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None
        self._pid = -1
