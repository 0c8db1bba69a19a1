"""Run the multi-instance set locally, in the foreground: ``make run-distributed``.

Starts a redis-server on 127.0.0.1 (port ``REDIS_PORT``, default 6379; none when
``REDIS_URL`` is already given), two instances of the app with gunicorn on ``PORT``
(default 8050) and ``PORT + 1``, each with its own ``CACHE_DIR`` so that only Redis
is shared, and one Celery worker. Output lines are prefixed with the service's
name. Ctrl-C (or SIGTERM) stops everything; so does any service exiting.

Environment: ``PORT``, ``REDIS_PORT``, ``REDIS_URL``, ``CELERY_CONCURRENCY``
(default 2), and every app setting (``WEB_CONCURRENCY``, ``LOG_LEVEL``, ...), which
is passed on.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STOP_SECONDS = 15
_print_lock = threading.Lock()


def say(text: str) -> None:
    with _print_lock:
        print(f"[run-distributed] {text}", flush=True)


class Service:
    """A child process in its own session (so Ctrl-C reaches only this script)."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], ready: str = ""
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_line = ready
        self.ready = threading.Event()

    def start(self) -> "Service":
        self.proc = subprocess.Popen(  # nosec B603
            self.argv,
            cwd=PROJECT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None  # nosec B101 - stdout=PIPE above
        threading.Thread(
            target=self._relay, args=(self.proc.stdout,), daemon=True
        ).start()
        return self

    def _relay(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            if self.ready_line and self.ready_line in line:
                self.ready.set()
            with _print_lock:
                print(f"[{self.name}] {line}", flush=True)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        if self.running():
            assert self.proc is not None  # nosec B101 - running() says so
            self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for it to exit; then SIGKILL whatever is left of its group."""
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in {STOP_SECONDS} s: killing it")
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_for(check, what: str, services: list[Service], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        dead = [s.name for s in services if not s.running()]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


def healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(64).split(b" ")[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


def main() -> int:
    port = int(os.environ.get("PORT") or 8050)
    ports = [port, port + 1]
    base_env = {k: v for k, v in os.environ.items() if k not in ("PORT", "CACHE_DIR")}
    services: list[Service] = []
    redis_url = os.environ.get("REDIS_URL")
    redis_port = 0

    for number in ports:
        if port_in_use(number):
            say(f"port {number} is in use; choose another with PORT=...")
            return 2
    if not redis_url:
        redis_port = int(os.environ.get("REDIS_PORT") or 6379)
        exe = shutil.which("redis-server")
        if exe is None:
            say("redis-server is not installed: `make services` installs it")
            return 2
        if port_in_use(redis_port):
            say(
                f"port {redis_port} is in use: set REDIS_PORT for another one, or "
                f"REDIS_URL=redis://127.0.0.1:{redis_port}/0 to use that server"
            )
            return 2
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        services.append(
            Service(
                "redis",
                [
                    exe,
                    *("--port", str(redis_port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no"),
                    *("--maxmemory", "256mb", "--maxmemory-policy", "volatile-lru"),
                    *("--dir", tempfile.gettempdir()),
                ],
                base_env,
            )
        )
    base_env["REDIS_URL"] = redis_url
    cache_root = Path(tempfile.gettempdir())
    for number in ports:
        env = dict(
            base_env,
            PORT=str(number),
            CACHE_DIR=str(cache_root / f"dashboard-cache-{number}"),
        )
        argv = [
            str(BIN / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "app.app:create_server()",
        ]
        services.append(Service(f"web-{number}", argv, env))
    concurrency = os.environ.get("CELERY_CONCURRENCY") or "2"
    worker_env = dict(base_env, CACHE_DIR=str(cache_root / "dashboard-cache-worker"))
    argv = [
        str(BIN / "celery"),
        *("--app", "app.worker", "worker", "--loglevel", "INFO"),
        *("--concurrency", concurrency),
    ]
    # Celery logs "celery@HOST ready." once it consumes the queue.
    services.append(Service("worker", argv, worker_env, ready=" ready."))

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status = 0
    try:
        if services[0].name == "redis":
            services[0].start()
            wait_for(lambda: redis_answers(redis_port), "redis-server", services[:1])
        for service in services:
            if service.proc is None:
                service.start()
        for number in ports:
            wait_for(lambda n=number: healthy(n), f"web-{number}", services)
        wait_for(services[-1].ready.is_set, "the Celery worker", services)
        say(
            f"ready: http://127.0.0.1:{ports[0]} and http://127.0.0.1:{ports[1]} "
            f"(Redis at {redis_url.split('@')[-1]}); Ctrl-C stops everything"
        )
        while not stop.wait(0.5):
            dead = [s for s in services if not s.running()]
            if dead:
                say(f"{dead[0].name} exited ({dead[0].proc.returncode}): stopping")
                status = 1
                break
    except RuntimeError as exc:
        say(str(exc))
        status = 1
    finally:
        say("stopping")
        # The app and the worker first (they drain), Redis last.
        redis = [s for s in services if s.name == "redis"]
        for group in ([s for s in services if s not in redis], redis):
            for service in group:
                service.terminate()
            deadline = time.monotonic() + STOP_SECONDS
            for service in group:
                service.wait_or_kill(deadline)
        say("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
