#!/usr/bin/env python3
"""Check a built Dashboard image from the outside, as Cloud Run and a developer use it.

    python3 deploy/container_check.py IMAGE [--engine "docker"] [--run-arg ARG ...]

Starts the image with the container engine (Docker, or podman with its options) and
checks, each printed as PASS or FAIL with what was seen:

- it starts with no environment given and ``GET /healthz`` answers 200 {"status": "ok"};
- ``GET /`` serves the Dash page;
- the server process (PID 1, gunicorn) runs as a non-root user, with no control socket;
- no tests, dev tools or dev requirements are in the image, and every module the app
  imports (including those imported inside functions or named as "module:attr")
  imports in the image;
- a ``PORT`` given in the environment is the one it listens on;
- SIGTERM stops it cleanly (exit code 0) in under 8 seconds, with an idle keep-alive
  connection open as a browser would leave one;
- a visitor's work outlives its container: with ``STORE_URL`` on a mounted
  directory, a dataset and a run made in one container are read back, and
  predict the same, in a new container with an empty cache.

Then prints the image size. Exits 1 if any check failed. Standard library only, so
that it runs on a CI runner's Python as it is. Every container it starts is removed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shlex
import socket

# subprocess runs the container engine, never a shell.
import subprocess  # nosec B404
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1] / "project"
sys.path.insert(0, str(PROJECT / "docker"))
from warm_bytecode import app_imports  # noqa: E402 - the build's own list

DEV_MODULES = ("pytest", "selenium", "black", "flake8", "isort", "bandit", "pre_commit")
STOP_LIMIT_S = 8.0
CUSTOM_PORT = 9123


class Checks:
    """Collects the results and prints each as it comes."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.count = 0

    def record(self, name: str, ok: bool, detail: str = "") -> bool:
        self.count += 1
        status = "PASS" if ok else "FAIL"
        print(f"{status}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
        if not ok:
            self.failed.append(name)
        return ok


class Engine:
    """The container engine command line (``docker`` or ``podman`` with options)."""

    def __init__(self, command: str, run_args: list[str]) -> None:
        self.base = shlex.split(command)
        self.run_args = run_args

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        # A fixed argv, no shell.
        proc = subprocess.run(  # nosec B603
            [*self.base, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.base + list(args))} failed ({proc.returncode}):\n"
                f"{proc.stderr.strip()}"
            )
        return proc.stdout.strip()

    def start(
        self,
        image: str,
        port: int,
        env: dict[str, str],
        inner: int,
        volumes: tuple[str, ...] = (),
    ) -> str:
        args = ["run", "--detach", *self.run_args, "-p", f"127.0.0.1:{port}:{inner}"]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        for volume in volumes:
            args += ["--volume", volume]
        return self(*args, image).splitlines()[-1]

    def logs(self, cid: str) -> str:
        # A fixed argv, no shell.
        proc = subprocess.run(  # nosec B603
            [*self.base, "logs", cid], capture_output=True, text=True, timeout=60
        )
        return proc.stdout + proc.stderr

    def remove(self, cid: str) -> None:
        self("rm", "--force", cid, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec B310
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def wait_healthy(port: int, limit_s: float = 120) -> tuple[bool, float, str]:
    """Poll /healthz until it answers 200; return (ok, seconds, last body or error)."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < limit_s:
        try:
            status, body = http_get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            last = f"{status} {body.strip()}"
            if status == 200:
                return True, time.monotonic() - start, body
        except OSError as err:
            last = str(err)
        time.sleep(0.5)
    return False, time.monotonic() - start, last


IMPORT_PROBE = """
import importlib, json, sys
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception as err:  # report every failure, not just the first
        failed[name] = f"{type(err).__name__}: {err}"
print(json.dumps(failed))
"""

DEV_PROBE = """
import importlib.util, json, sys
print(json.dumps([m for m in json.loads(sys.argv[1])
                  if importlib.util.find_spec(m) is not None]))
"""


def check_running(engine: Engine, checks: Checks, image: str) -> None:
    """Start with no environment: health, page, user, contents, then SIGTERM."""
    port = free_port()
    cid = engine.start(image, port, {}, 8050)
    try:
        ok, took, last = wait_healthy(port)
        healthy = checks.record(
            "GET /healthz answers 200 {'status': 'ok'} on the default port 8050",
            ok and json.loads(last) == {"status": "ok"},
            f"first answer after {took:.1f} s: {last.strip()}",
        )
        if not healthy:
            print(engine.logs(cid)[-4000:])
            return
        status, body = http_get(f"http://127.0.0.1:{port}/")
        checks.record(
            "GET / serves the Dash app",
            status == 200 and "_dash-config" in body and "react-entry-point" in body,
            f"{status}, {len(body)} bytes",
        )
        proc1 = engine("exec", cid, "cat", "/proc/1/status")
        fields = dict(line.split(":", 1) for line in proc1.splitlines() if ":" in line)
        uids = fields.get("Uid", "").split()
        name = fields.get("Name", "").strip()
        checks.record(
            "the server (PID 1) runs as a non-root user",
            bool(uids) and all(uid != "0" for uid in uids) and name == "gunicorn",
            f"PID 1 is {name!r}, uids {' '.join(uids)}",
        )
        sockets = engine("exec", cid, "cat", "/proc/net/unix")
        checks.record(
            "no gunicorn control socket",
            "gunicorn" not in sockets and ".ctl" not in sockets,
            "no gunicorn socket in /proc/net/unix",
        )
        found = json.loads(
            engine("exec", cid, "python", "-c", DEV_PROBE, json.dumps(DEV_MODULES))
        )
        workdir = engine("exec", cid, "ls", "-A").split()
        dev_files = engine(  # unreadable folders make find exit 1: not a failure
            "exec", cid, "find", "/", "-xdev", "-name", "requirements-dev*", check=False
        ).split()
        checks.record(
            "no tests, dev tools or dev requirements in the image",
            not found and not dev_files and not {"tests", "tools"} & set(workdir),
            f"working directory: {' '.join(workdir)}; importable dev tools: "
            f"{', '.join(found) or 'none'}; dev requirements: "
            f"{', '.join(dev_files) or 'none'}",
        )
        modules = app_imports(PROJECT / "app")
        failed = json.loads(
            engine("exec", cid, "python", "-c", IMPORT_PROBE, json.dumps(modules))
        )
        checks.record(
            "every module the app imports is in the image",
            not failed,
            f"{len(modules)} modules" + (f"; failed: {failed}" if failed else ""),
        )
        check_sigterm(engine, checks, cid, port)
        logs = engine.logs(cid)
        checks.record(
            "no traceback in the logs",
            "Traceback" not in logs,
            f"{len(logs.splitlines())} log lines",
        )
    finally:
        engine.remove(cid)


def check_sigterm(engine: Engine, checks: Checks, cid: str, port: int) -> None:
    # An idle keep-alive connection, as a browser leaves one open between requests.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/healthz")
    conn.getresponse().read()
    start = time.monotonic()
    engine("kill", "--signal", "TERM", cid)
    code = engine("wait", cid, timeout=60).splitlines()[-1].strip()
    took = time.monotonic() - start
    conn.close()
    checks.record(
        f"SIGTERM stops it cleanly in under {STOP_LIMIT_S:.0f} s",
        code == "0" and took < STOP_LIMIT_S,
        f"exit code {code} after {took:.1f} s",
    )


def check_port(engine: Engine, checks: Checks, image: str) -> None:
    """PORT from the environment (as Cloud Run sets it) is where it listens."""
    port = free_port()
    cid = engine.start(image, port, {"PORT": str(CUSTOM_PORT)}, CUSTOM_PORT)
    try:
        ok, took, last = wait_healthy(port)
        logs = engine.logs(cid)
        checks.record(
            f"PORT={CUSTOM_PORT} is honoured",
            ok and f":{CUSTOM_PORT}" in logs,
            f"/healthz on {CUSTOM_PORT} after {took:.1f} s: {last.strip()}",
        )
    finally:
        engine.remove(cid)


#: Run in the container, as the app's user and with the server's settings: make
#: (``make``) or read back (``read``) a session's iris dataset and one run, then
#: predict with the run; prints what it found.
WORKSPACE_PROBE = """
import json, sys
from app import services
from app.config import Settings
from app.ml import TrainConfig
from app.server.store import SessionStore
store = SessionStore.from_settings(Settings.from_env())
sid, step = sys.argv[1], sys.argv[2]
empty_cache = store.backend.get("session:" + sid) is None
if step == "make":
    meta = services.load_dataset(store, sid, "iris", {})
    target = meta["default_target"]
    features = tuple(c for c in meta["columns"] if c != target)
    services.train(store, sid, TrainConfig(target=target, features=features,
        task="classification", model="logistic_regression", cv_folds=0))
meta, frame = store.dataset_frame(sid)
(run, report), = store.runs(sid)
features = list(report["config"]["features"])
store.flush()
print(json.dumps({"empty_cache": empty_cache, "rows": meta["rows"],
    "number": report["number"], "metrics": report["metrics"],
    "predicted": store.model(sid, run).predict(frame[features]).tolist()}))
"""


def check_workspace(engine: Engine, checks: Checks, image: str) -> None:
    """A session's work made in one container is there in the next one, which
    starts with an empty cache but the same ``STORE_URL`` (a mounted folder)."""
    sid = secrets.token_urlsafe(16)
    # What the app's user wrote there may not be this user's to delete.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:
        # The app's user (another uid) makes its own 0700 folder in this throwaway one.
        os.chmod(folder, 0o1777)  # nosec B103 - a test folder, sticky, removed after
        env = {"STORE_URL": "/data/workspaces"}
        seen = []
        for step in ("make", "read"):
            port = free_port()
            cid = engine.start(image, port, env, 8050, (f"{folder}:/data",))
            try:
                ok, _, last = wait_healthy(port)
                if not ok:
                    print(engine.logs(cid)[-4000:])
                    break
                out = engine(
                    "exec", cid, "python", "-c", WORKSPACE_PROBE, sid, step, check=False
                )
                try:
                    seen.append(json.loads(out.splitlines()[-1]))
                except (IndexError, ValueError):
                    print(out[-2000:] + engine.logs(cid)[-2000:])
                    break
            finally:
                engine.remove(cid)
    made, read = (seen + [{}, {}])[:2]
    checks.record(
        "a visitor's work outlives its container (STORE_URL on a mounted folder)",
        len(seen) == 2
        and read.get("empty_cache") is True
        and read.get("rows") == 150
        and read.get("number") == 1
        and read.get("metrics") == made.get("metrics")
        and read.get("predicted") == made.get("predicted"),
        f"made run {made.get('number')} on {made.get('rows')} rows; a new "
        f"container (empty cache: {read.get('empty_cache')}) read back run "
        f"{read.get('number')}, same metrics and predictions: "
        f"{bool(read) and read.get('predicted') == made.get('predicted')}",
    )


def check_config(engine: Engine, checks: Checks, image: str) -> None:
    raw = engine("image", "inspect", image)
    config = json.loads(raw)[0].get("Config", {})
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    cmd = config.get("Cmd") or []
    user = config.get("User") or ""
    checks.record(
        "image config: non-root USER, exec-form gunicorn CMD, Python env flags",
        user not in {"", "0", "root"}
        and not user.startswith(("0:", "root:"))
        and cmd[:1] == ["gunicorn"]
        and env.get("PYTHONUNBUFFERED") == "1"
        and env.get("PYTHONDONTWRITEBYTECODE") == "1",
        f"USER {user or '(none)'}, CMD {cmd}",
    )


def image_size(engine: Engine, image: str, base: str | None) -> str:
    size = int(engine("image", "inspect", "--format", "{{.Size}}", image))
    text = f"image size: {size / 1e6:.0f} MB ({image})"
    if base:
        base_size = engine(
            "image", "inspect", "--format", "{{.Size}}", base, check=False
        )
        if base_size.isdigit():
            text += (
                f"; base {base} {int(base_size) / 1e6:.0f} MB, "
                f"added by the Dockerfile {(size - int(base_size)) / 1e6:.0f} MB"
            )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("--engine", default="docker", help="engine command line")
    parser.add_argument(
        "--run-arg",
        action="append",
        default=[],
        help="extra option for `run` (repeat for more)",
    )
    parser.add_argument("--base", help="base image, to show what the build added")
    parser.add_argument(
        "--max-mb", type=float, help="fail when the image is larger (MB, 10^6 bytes)"
    )
    args = parser.parse_args(argv)

    engine = Engine(args.engine, args.run_arg)
    checks = Checks()
    print(f"== container checks: {args.image}", flush=True)
    started = time.monotonic()
    check_config(engine, checks, args.image)
    check_running(engine, checks, args.image)
    check_port(engine, checks, args.image)
    check_workspace(engine, checks, args.image)
    print(image_size(engine, args.image, args.base))
    if args.max_mb:
        size = int(engine("image", "inspect", "--format", "{{.Size}}", args.image))
        checks.record(
            f"the image is at most {args.max_mb:g} MB",
            size <= args.max_mb * 1e6,
            f"{size / 1e6:.0f} MB",
        )
    print(
        f"== {args.image}: {checks.count - len(checks.failed)} of {checks.count}"
        f" checks passed in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
