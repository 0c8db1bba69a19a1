"""The app under gunicorn, configured as in production, for the tests that need a
real server: a free loopback port, its own cache directory and log file."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess  # nosec B404
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A running server: its address, its gunicorn master and its log."""

    base: str
    proc: subprocess.Popen
    log: Path


@contextlib.contextmanager
def gunicorn(
    folder: Path,
    env: Mapping[str, str] | None = None,
    *,
    probe: bool = True,
    timeout: float = 90,
    port: int | None = None,
) -> Iterator[Served]:
    """Serve the app from ``gunicorn.conf.py`` with ``env`` over the defaults
    (a cache in ``folder``, warnings only, no Redis); stop it on the way out.

    ``probe=False`` waits for the port only, leaving the first HTTP request to
    the test; ``port`` (default: a free one) serves a server again where a
    browser knew it (its local storage is per address).
    """
    port = port or free_port()
    settings = dict(os.environ, LOG_LEVEL="warning", CACHE_DIR=str(folder / "cache"))
    settings.pop("REDIS_URL", None)
    settings.update(env or {}, PORT=str(port))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "gunicorn.log"
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--config",
        "gunicorn.conf.py",
        "app.app:create_server()",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(  # nosec B603 - this venv's gunicorn
            command, cwd=PROJECT, env=settings, stdout=out, stderr=subprocess.STDOUT
        )
    served = Served(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait(served, port, probe, timeout)
        yield served
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(served: Served, port: int, probe: bool, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and served.proc.poll() is None:
        try:
            if probe:
                if requests.get(f"{served.base}/healthz", timeout=2).ok:
                    return
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                time.sleep(0.5)
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.2)
    served.proc.kill()
    pytest.fail(f"gunicorn did not start:\n{served.log.read_text()[-3000:]}")
