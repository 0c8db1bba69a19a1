"""A throwaway ``redis-server`` for the tests, on a free loopback port.

Tests that need Redis fail (they are not skipped) when ``redis-server`` is missing:
the multi-instance mode is part of what the app promises.
"""

from __future__ import annotations

import shutil
import socket
import subprocess  # nosec B404
import time
from pathlib import Path
from types import TracebackType

import pytest
import redis


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` process with no persistence and a memory cap.

    Parameters
    ----------
    directory : Path
        Its working directory (and log file).
    maxmemory : str
        Its ``maxmemory`` (``"64mb"``).
    policy : str
        Its ``maxmemory-policy``.
    """

    def __init__(
        self, directory: Path, *, maxmemory: str = "64mb", policy: str = "allkeys-lru"
    ) -> None:
        self.directory = Path(directory)
        self.maxmemory = maxmemory
        self.policy = policy
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of its database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 10.0) -> "RedisServer":
        """Start it (again on the same port if it ran before); wait for PING."""
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail(
                "redis-server is not installed; the Redis store tests need it "
                "(apt-get install -y redis-server)",
                pytrace=False,
            )
        for _ in range(3):  # another process may take a free port before us
            port = self.port or _free_port()
            log = (self.directory / "redis.log").open("ab")
            self.process = subprocess.Popen(  # nosec B603
                [
                    exe,
                    *("--port", str(port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no"),
                    *("--maxmemory", self.maxmemory),
                    *("--maxmemory-policy", self.policy),
                    *("--daemonize", "no", "--dir", str(self.directory)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
            log.close()
            self.port = port
            if self._wait(timeout):
                return self
            self.stop()
        tail = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"redis-server did not start:\n{tail}", pytrace=False)

    def _wait(self, timeout: float) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop it (the port stays reserved for :meth:`start`)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def client(self) -> redis.Redis:
        """A new client of its database 0."""
        return redis.Redis.from_url(self.url)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
