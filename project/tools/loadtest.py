"""``make loadtest``: the app under load, faults and abuse, on loopback, bounded
in time.

The normal load runs twice, on a fresh server each time, with the same visitors,
duration and seed: first alone, then with one abuser beside it. Each run:

1. Serve the app as in production: gunicorn with ``project/gunicorn.conf.py`` (2
   gthread workers and the job runner), JSON logs to ``bench-results/``
   (``loadtest-server.log``, ``loadtest-server-abuser.log``), a ``CACHE_DIR`` of
   its own in a temporary directory (removed at the end), and the limits that fit
   the memory ceiling (``--job-slots``, ``--job-memory-mb``, ``--cache-size-mb``,
   ``--session-quota-mb``; see :func:`server_settings`).
2. Run locust headless: ``--users`` simulated visitors (``tools/locustfile.py``)
   for ``--duration`` seconds, each pausing ``--wait`` seconds between steps; in
   the second run also the abuser (``tools/abuser.py``): one client sending the
   decompression bombs and oversized jobs of issue 10 in a loop.
3. Sample the memory of the server's process tree (PSS and RSS of gunicorn's
   master, workers, job runner and jobs) every ``--sample-every`` seconds, and the
   size of its cache directory (memory too on Cloud Run, whose disk is in memory).
4. While they run, kill one gunicorn worker with SIGKILL (at ``--kill-at``): gunicorn
   must replace it (a new pid, two workers again), and no visitor may lose data.
   Done in both runs, at the same moment, so that they differ by the abuser only.
5. Then SIGTERM the server while requests are in flight: it must answer them and
   exit within ``--drain-limit`` seconds (gunicorn's graceful_timeout, 8), leaving
   no process behind. Done at the end of both runs (it is how each server stops).

Then print each run's summary and a side-by-side table, write
``bench-results/loadtest.json``, and exit 1 when a criterion fails. In each run:
any 5xx (anyone's), a lost session (anyone's), a visitor's failed request or step
(a request cut by the SIGKILL counts apart when the visitor's one retry then
succeeded), a worker not replaced, a slow or unclean drain, an unexpected error in
the log, a peak of the tree's PSS plus the cache directory over
``--memory-ceiling-mb``, an abuser's send that a guard let through. Across the
runs: the visitors' p95 over all their requests, and their training's
click-to-result p50 and p95, each at most ``--max-slowdown`` (2) times the run
without the abuser.

``--no-abuser`` makes the first run only; ``--abuse-unread-uploads N`` has the
abuser also leave N uploads a loop unread (``tools/abuser.py``, (f)).

Locust runs in its own process (it monkey-patches the standard library with gevent).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess  # nosec B404 - starts gunicorn and locust from this venv
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import requests

from app.ui import ids
from tools import bombs
from tools.dashclient import DashClient
from tools.loadreport import TRAIN_FLOW, entry, print_comparison, print_summary

PROJECT = Path(__file__).resolve().parents[1]
ROOT = PROJECT.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench-results"
START_TIMEOUT = 120  # seconds for gunicorn to serve
REPLACE_TIMEOUT = 30  # seconds for gunicorn to replace a killed worker
# A request sent before the SIGKILL (or within this many seconds after it, on a
# connection to the dead worker) whose connection then fails was cut by the kill.
KILL_SENT_WITHIN = 1.0
#: A connection cut up to this many seconds after a worker said it restarts
#: (gunicorn's max requests) is that restart's, when the request sent again
#: got its answer (as a browser sends a request again on a closed keep-alive).
RECYCLE_WITHIN = 10.0
# A visitor whose step has brought no news this long at the end is stuck: no
# answer, or only polls answering the same. A training queued for a job slot (2
# on 2 cores) is told how many jobs are still ahead of it as they go, so a long
# line that moves is not stuck; how long the steps took is in the flows' times.
STUCK_SECONDS = 45
#: The visitors of a full run, chosen on a machine where the app trained the
#: default model on iris (``app.ml.train_model``, 5-fold CV) in this many ms
#: (``make bench``'s in-process reference, docs/performance.md). A slower machine
#: gets proportionally fewer, never fewer than MIN_USERS.
FULL_USERS = 50
REFERENCE_TRAIN_MS = 135
MIN_USERS = 15
EXPECTED_LOG_ERRORS = ("was sent SIGKILL",)  # the kill itself
MIB = 1024 * 1024
ENV_DROPPED = (
    "REDIS_URL",  # the disk cache, shared by the workers, is what is tested
    "AUTH_USERS",
    "HTTP2",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_MAX_REQUESTS",
    "SECRET_KEY",
    "JOB_SLOTS",
    "JOB_MEMORY_MB",
    "JOB_SECONDS",
    "JOB_QUEUE_PER_VISITOR",
    "CACHE_SIZE_MB",
    "SESSION_QUOTA_MB",
    "MAX_UPLOAD_MB",
)

# Locust 2.4x imports ``urllib3.util.create_urllib3_context``, which urllib3 1.26
# (pinned by dash[testing]'s selenium) only has in ``urllib3.util.ssl_``; plain HTTP
# on loopback never uses it. gevent patches first, as locust itself would.
LOCUST_BOOT = """
from gevent import monkey
monkey.patch_all()
import sys
import urllib3.util
import urllib3.util.ssl_
if not hasattr(urllib3.util, "create_urllib3_context"):
    urllib3.util.create_urllib3_context = urllib3.util.ssl_.create_urllib3_context
from locust.main import main
sys.argv[0] = "locust"
sys.exit(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the server -------------------------------------------------------------------


class Server:
    """gunicorn with the project's config, in its own process group.

    Its job runner (forked by the master before the workers) and the jobs run in
    process groups of their own: the *tree* (the master and its descendants) is
    what holds the server's memory; ``seen`` keeps every process of it that the
    sampler met, to check that none outlives the server.
    """

    def __init__(
        self, cache_dir: Path, log: Path, settings: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cache_dir = cache_dir
        env = {k: v for k, v in os.environ.items() if k not in ENV_DROPPED}
        env.update(settings or {})
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.port),
            WEB_CONCURRENCY="2",
            CACHE_DIR=str(cache_dir),
            LOG_FORMAT="json",
            LOG_LEVEL="info",
            PYTHONUNBUFFERED="1",
        )
        self.log = log
        self.keeper = 0  # the job runner's keeper: a child of the master, not a worker
        self.seen: dict[int, psutil.Process] = {}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(  # nosec B603
                [
                    str(BIN / "gunicorn"),
                    "--config",
                    "gunicorn.conf.py",
                    "app.app:create_server()",
                ],
                cwd=PROJECT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def workers(self) -> set[int]:
        """The live workers: the master's children but the job runner's keeper."""
        try:
            children = psutil.Process(self.pid).children()
        except psutil.Error:
            return set()
        alive = set()
        for child in children:
            try:
                if child.pid != self.keeper and child.status() != psutil.STATUS_ZOMBIE:
                    alive.add(child.pid)
            except psutil.Error:
                continue
        return alive

    def find_keeper(self) -> int:
        """The keeper's pid, from the log line the master writes when it forks it."""
        found = re.search(r"job runner started \(keeper pid (\d+)\)", self.tail(10**6))
        self.keeper = int(found.group(1)) if found else 0
        return self.keeper

    def tree(self) -> list[psutil.Process]:
        """The master and all its descendants (workers, job runner, jobs)."""
        try:
            master = psutil.Process(self.pid)
            procs = [master, *master.children(recursive=True)]
        except psutil.Error:
            return []
        for proc in procs:
            self.seen.setdefault(proc.pid, proc)
        return procs

    def listening(self) -> bool:
        try:
            sockets = psutil.Process(self.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(
            s.status == psutil.CONN_LISTEN and s.laddr.port == self.port
            for s in sockets
        )

    def wait_ready(self) -> float:
        started = time.monotonic()
        deadline = started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.tail()}")
            try:
                answer = requests.get(f"{self.base}/healthz", timeout=5)
                if (
                    answer.status_code == 200
                    and self.listening()
                    and self.find_keeper()
                    and len(self.workers()) == 2
                ):
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"gunicorn did not serve in {START_TIMEOUT} s:\n{self.tail()}"
        )

    def left(self) -> list[psutil.Process]:
        """Processes of the server still alive: of its group, or ever in its tree."""
        procs = {p.pid: p for p in self.group()}
        for pid, proc in self.seen.items():
            procs.setdefault(pid, proc)
        return _alive(list(procs.values()))

    def group(self) -> list[psutil.Process]:
        """The live processes of the server's process group (master, workers)."""
        found = []
        for proc in psutil.process_iter(["status"]):
            try:
                if (
                    os.getpgid(proc.pid) == self.pid
                    and proc.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    found.append(proc)
            except (OSError, psutil.Error):
                continue
        return found

    def kill_group(self) -> None:
        """SIGKILL the group and whatever of the tree is left; reap the master."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for proc in self.left():
            try:
                proc.kill()
            except psutil.Error:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# -- memory -----------------------------------------------------------------------


class MemorySampler(threading.Thread):
    """The server's process tree sampled every ``every`` seconds: the sum of its
    processes' proportional (PSS: shared pages split between their users, what the
    machine holds for them) and resident (RSS: shared pages counted in each) sizes;
    and, every few samples, the bytes in the cache directory (files there are memory
    on Cloud Run, whose disk is in memory, but belong to no process)."""

    CACHE_EVERY = 4  # samples between two walks of the cache directory

    def __init__(self, server: Server, every: float) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.every = every
        self.stop = threading.Event()
        self.started = time.monotonic()
        # [s, PSS MiB, RSS MiB, processes, cache directory MiB (last walked)]
        self.samples: list[list[float]] = []
        self.peak = {"pss_mib": 0.0, "rss_mib": 0.0, "pss_at_s": 0.0, "total_mib": 0.0}
        self.cache_peak_mib = 0.0
        self.cache_last_mib = 0.0

    def run(self) -> None:
        count = 0
        while True:
            self.sample(count % self.CACHE_EVERY == 0)
            count += 1
            if self.stop.wait(self.every):
                return

    def sample(self, cache: bool = False) -> None:
        """One sample of the tree (and of the cache directory when ``cache``)."""
        pss = rss = 0
        procs = self.server.tree()
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            pss += info.pss
            rss += info.rss
        if cache:
            self.cache_last_mib = _folder_bytes(self.server.cache_dir) / MIB
            self.cache_peak_mib = max(self.cache_peak_mib, self.cache_last_mib)
        at = time.monotonic() - self.started
        self.samples.append(
            [round(at, 2), pss / MIB, rss / MIB, len(procs), self.cache_last_mib]
        )
        if pss / MIB > self.peak["pss_mib"]:
            self.peak.update(pss_mib=pss / MIB, pss_at_s=at)
        self.peak["rss_mib"] = max(self.peak["rss_mib"], rss / MIB)
        total = pss / MIB + self.cache_last_mib
        self.peak["total_mib"] = max(self.peak["total_mib"], total)

    def figures(self) -> dict[str, Any]:
        """Peaks and the samples (PSS and RSS rounded to MiB)."""
        return {
            "every_s": self.every,
            "peak_pss_mib": round(self.peak["pss_mib"], 1),
            "peak_pss_at_s": round(self.peak["pss_at_s"], 1),
            "peak_rss_mib": round(self.peak["rss_mib"], 1),
            "peak_cache_dir_mib": round(self.cache_peak_mib, 1),
            "cache_dir_at_end_mib": round(self.cache_last_mib, 1),
            "peak_pss_and_cache_mib": round(self.peak["total_mib"], 1),
            "samples": [
                [t, round(p), round(r), n, round(c)] for t, p, r, n, c in self.samples
            ],
        }


def _folder_bytes(folder: Path) -> int:
    """Bytes in the files under ``folder`` (0 when it is gone)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


# -- the SIGKILL ------------------------------------------------------------------


def kill_a_worker(server: Server, at: float, result: dict[str, Any]) -> None:
    """At monotonic time ``at``, SIGKILL the busier worker; time its replacement."""
    time.sleep(max(0.0, at - time.monotonic()))
    before = server.workers()
    result["workers_before"] = sorted(before)
    if len(before) != 2:
        result["error"] = f"{len(before)} workers before the kill"
        return
    busy = {}
    for pid in before:
        try:
            busy[pid] = psutil.Process(pid).cpu_times()
        except psutil.Error:
            busy[pid] = None
    time.sleep(0.5)
    for pid, first in list(busy.items()):
        try:
            now = psutil.Process(pid).cpu_times()
            busy[pid] = (now.user + now.system) - (first.user + first.system)
        except (psutil.Error, AttributeError):
            busy[pid] = -1.0
    victim = max(busy, key=lambda p: busy[p])
    result["pid"] = victim
    killed_at = time.time()
    started = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    result["time"] = killed_at
    deadline = started + REPLACE_TIMEOUT
    while time.monotonic() < deadline:
        now = server.workers()
        if victim not in now and len(now) == 2 and now - before:
            result["replaced_in_s"] = time.monotonic() - started
            result["workers_after"] = sorted(now)
            result["new_pid"] = sorted(now - before)
            return
        time.sleep(0.01)
    result["error"] = f"not replaced within {REPLACE_TIMEOUT} s: {sorted(now)}"


# -- the SIGTERM ------------------------------------------------------------------


class DrainProbe:
    """Visitors loading synthetic datasets while the server is told to stop.

    Each thread is one page (its end id and session); it sends callback after
    callback, and stops sending new ones once SIGTERM has been sent (as the load
    balancer in front would stop routing to the instance), but its request in
    flight must be answered.

    Each request asks for a new dataset of ``ROWS`` × 10 features (a new seed each
    time), which the app makes inline, within the request: ``ROWS`` × 11 cells is
    under its 200,000-cell threshold (``session.INLINE_CELLS``) above which a
    generation is handed to a background job and the request returns at once. So
    the requests in flight at SIGTERM are real work (tens of milliseconds each),
    not the polls of a job.
    """

    ROWS = 18_000
    FEATURES = 10

    def __init__(self, base: str, threads: int) -> None:
        self.base = base
        self.threads = threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.requests: list[dict[str, Any]] = []
        self.workers = [
            threading.Thread(target=self._run, args=(i,), daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self.workers:
            thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.workers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, number: int) -> None:
        http = requests.Session()
        client = DashClient(self.base, session=http)
        try:
            page = http.get(f"{self.base}/", timeout=30).text
            end_id = json.loads(
                re.search(
                    r'<script id="_dash-config" type="application/json">(.*?)'
                    r"</script>",
                    page,
                    re.S,
                ).group(
                    1
                )  # type: ignore[union-attr]
            )["end_id"]
            layout = http.get(f"{self.base}/_dash-layout", timeout=30).json()
            session_id = _find_session(layout)
            outputs = [
                f"{ids.DATA_VERSION}.data",
                f"{ids.DATA_STATUS}.children",
                f"{ids.DATA_NOTES}.children",
                f"{ids.DATA_JOB}.data",
                f"{ids.DATA_SYNTH}.is_open",
            ]
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            with self.lock:
                self.requests.append({"thread": number, "setup_error": repr(exc)})
            return
        seed = number * 1000
        while not self.stop.is_set():
            seed += 1
            body = client.body(
                outputs,
                {
                    f"{ids.DATA_SOURCE}.value": "classification",
                    f"{ids.DATA_SYNTH_ROWS}.value": self.ROWS,
                    f"{ids.DATA_SYNTH_FEATURES}.value": self.FEATURES,
                    f"{ids.DATA_SYNTH_SEED}.value": seed,
                    f"{ids.APP_SESSION}.data": session_id,
                },
                changed=[f"{ids.DATA_SYNTH_SEED}.value"],
            )
            entry: dict[str, Any] = {"thread": number, "start": time.time()}
            with self.lock:
                self.in_flight += 1
            try:
                answer = client.post(body, {"endId": end_id})
                entry["status"] = answer.status_code
                if answer.status_code == 200 and not _loaded(answer):
                    entry["error"] = "no data status in the answer"
            except requests.RequestException as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                entry["end"] = time.time()
                with self.lock:
                    self.in_flight -= 1
                    self.requests.append(entry)


def _loaded(answer: requests.Response) -> bool:
    """Whether a dataset callback's answer says the data is loaded (inline: not
    handed to a background job)."""
    try:
        response = answer.json()["response"]
        status = json.dumps(response[ids.DATA_STATUS])
    except (ValueError, KeyError, TypeError):
        return False
    return ids.DATA_JOB not in response and bool(re.search(r"[\d,]+ rows", status))


def _find_session(layout: Any) -> str | None:
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and props.get("id") == ids.APP_SESSION:
                return props.get("data")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def drain(server: Server, threads: int, limit: float) -> dict[str, Any]:
    """SIGTERM the master while the probe's requests are in flight; time its exit."""
    probe = DrainProbe(server.base, threads)
    probe.start()
    deadline = time.monotonic() + 60
    # Every thread warm (one request answered), then a moment when most of them
    # are in the middle of a request.
    while time.monotonic() < deadline:
        with probe.lock:
            warm = {r["thread"] for r in probe.requests if "end" in r}
        if len(warm) == threads:
            break
        time.sleep(0.05)
    while time.monotonic() < deadline:
        with probe.lock:
            busy = probe.in_flight
        if busy >= max(1, threads * 3 // 4):
            break
        time.sleep(0.01)
    with probe.lock:
        busy_at_term = probe.in_flight
    server.tree()  # every process there is now is seen, to be checked gone later
    term = time.time()
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    probe.stop.set()
    try:
        code = server.proc.wait(timeout=limit + 30)
        exited_in = time.monotonic() - started
    except subprocess.TimeoutExpired:
        code, exited_in = None, None
    probe.join(30)
    left = [_describe(p) for p in server.left()]
    in_flight = [r for r in probe.requests if "start" in r and r["start"] < term]
    in_flight = [r for r in in_flight if r["end"] > term]
    after = [r for r in probe.requests if "start" in r and r["start"] >= term]
    answered = [r for r in in_flight if r.get("status") == 200 and "error" not in r]
    before = [r for r in probe.requests if "end" in r and r["end"] <= term]
    return {
        "probe_threads": threads,
        "rows_per_request": DrainProbe.ROWS,
        "cells_per_request": DrainProbe.ROWS * (DrainProbe.FEATURES + 1),
        "requests_before": len(before),
        "requests_before_ok": sum(
            1 for r in before if r.get("status") == 200 and "error" not in r
        ),
        "in_flight_at_sigterm": len(in_flight),
        "in_flight_counted_by_probe": busy_at_term,
        "in_flight_answered": len(answered),
        "in_flight_failed": [r for r in in_flight if r not in answered],
        "sent_after_sigterm": len(after),
        "setup_errors": [r for r in probe.requests if "setup_error" in r],
        "exit_code": code,
        "exited_in_s": exited_in,
        "limit_s": limit,
        "processes_left": left,
    }


def _describe(proc: psutil.Process) -> dict[str, Any]:
    """A process left behind: who, since when, doing what (py-spy, when given)."""
    out: dict[str, Any] = {"pid": proc.pid}
    try:
        out.update(
            ppid=proc.ppid(),
            status=proc.status(),
            started=proc.create_time(),
            cmdline=" ".join(proc.cmdline())[:200],
        )
    except psutil.Error:
        pass
    spy = os.environ.get("LOADTEST_PY_SPY")  # a py-spy binary: dump the stacks
    if spy:
        dump = subprocess.run(  # nosec B603
            [spy, "dump", "--pid", str(proc.pid)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        out["stack"] = (dump.stdout + dump.stderr)[-6000:]
    return out


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.Error:
            continue
    return out


# -- the server's log -------------------------------------------------------------


#: The User-Agents of the load's tabs (tools.loadpage): visitors and abuser.
AGENTS = {
    "dashboard-loadtest-visitor": "visitors",
    "dashboard-loadtest-abuser": "abuser",
}


def read_log(path: Path) -> dict[str, Any]:
    """Errors, 5xx access lines, worker events and, per kind of client, the
    server's own latencies, from the JSON log."""
    errors, unexpected, five_xx, booted, not_json = [], [], 0, 0, 0
    recycled: list[float] = []  # when a worker restarted after its max requests
    statuses: dict[str, int] = {}
    latencies: dict[str, list[float]] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            not_json += 1
            if "Traceback" in line:
                unexpected.append(line[:300])
            continue
        if not isinstance(entry, dict):
            continue
        message = str(entry.get("message", ""))
        http = entry.get("httpRequest")
        if isinstance(http, dict) and "status" in http:
            key = str(http["status"])
            statuses[key] = statuses.get(key, 0) + 1
            if int(http["status"]) >= 500:
                five_xx += 1
            group = AGENTS.get(str(http.get("userAgent")), "others")
            try:
                seconds = float(str(http.get("latency", "")).rstrip("s"))
            except ValueError:
                seconds = None
            if seconds is not None:
                latencies.setdefault(group, []).append(seconds * 1000)
        if message.startswith("Booting worker"):
            booted += 1
        if message.startswith("Autorestarting worker"):
            with contextlib.suppress(ValueError, TypeError):
                recycled.append(datetime.fromisoformat(entry["time"]).timestamp())
        if entry.get("severity") in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY"):
            errors.append(message[:500])
            if not any(e in message for e in EXPECTED_LOG_ERRORS):
                unexpected.append(message[:500])
    return {
        "access_statuses": statuses,
        "five_xx": five_xx,
        "errors": errors,
        "unexpected_errors": unexpected,
        "workers_booted": booted,
        "workers_recycled_at": recycled,
        "lines_not_json": not_json,
        "server_latency_ms": {
            group: _percentiles(times) for group, times in latencies.items()
        },
    }


def _percentiles(times: list[float]) -> dict[str, Any]:
    """Count, p50, p95 and p99 of milliseconds."""
    ordered = sorted(times)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1)

    return {
        "requests": len(ordered),
        "p50_ms": at(0.5),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
    }


# -- locust -------------------------------------------------------------------------


def run_locust(
    base: str,
    args: argparse.Namespace,
    results: Path,
    log: Path,
    *,
    abuser: bool,
    bombs_dir: Path,
) -> subprocess.Popen[bytes]:
    """Start locust headless: the visitors, and the abuser when ``abuser``."""
    env = dict(
        os.environ,
        LOADTEST_RESULTS=str(results),
        LOADTEST_WAIT=f"{args.wait[0]},{args.wait[1]}",
        LOADTEST_SEED=str(args.seed),
        LOADTEST_ABUSE_DIR=str(bombs_dir),
        LOADTEST_ABUSE_UNREAD=str(args.abuse_unread_uploads),
        PYTHONPATH=str(PROJECT),
        PYTHONUNBUFFERED="1",
    )
    users = ["Visitor", "Abuser"] if abuser else ["Visitor"]
    argv = [
        sys.executable,
        "-c",
        LOCUST_BOOT,
        *("-f", str(PROJECT / "tools" / "locustfile.py")),
        "--headless",
        *("--users", str(args.users + len(users) - 1)),  # the abuser: fixed_count 1
        *("--spawn-rate", str(args.spawn_rate)),
        *("--run-time", f"{args.duration}s"),
        *("--host", base),
        "--only-summary",
        *("--exit-code-on-error", "0"),
        *("--loglevel", "WARNING"),
        *users,
    ]
    with log.open("wb") as out:
        return subprocess.Popen(  # nosec B603
            argv, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


# -- one run -------------------------------------------------------------------------


def server_settings(args: argparse.Namespace) -> dict[str, str]:
    """The limits the server runs with, chosen to fit ``--memory-ceiling-mb``.

     On Cloud Run the disk is memory: the process tree and the cache directory
     share the instance's limit (2 GiB by default here). Measured on this machine,
     the tree holds about 0.3 GiB at rest and 0.7-0.8 GiB under the load (gunicorn's
     master, 2 workers, the job runner and small jobs). The defaults then add up to
     the ceiling at worst: 0.75 GiB + 2 job slots × 384 MiB (what each job may grow
     by) + 256 MiB of session store (``CACHE_SIZE_MB``) + at most 256 MiB of job
     results (fixed in ``app.server.jobs``) ≈ 2.0 GiB. ``SESSION_QUOTA_MB`` = 128 keeps
    one
     visitor to half the store. What is checked is the peak of the tree's PSS plus
     the bytes in the cache directory, sampled together.
    """
    return {
        "JOB_SLOTS": str(args.job_slots),
        "JOB_MEMORY_MB": str(args.job_memory_mb),
        "CACHE_SIZE_MB": str(args.cache_size_mb),
        "SESSION_QUOTA_MB": str(args.session_quota_mb),
    }


def one_run(
    args: argparse.Namespace, *, abuser: bool, tmp: Path, bombs_dir: Path
) -> dict[str, Any]:
    """A fresh server under the load (and the abuser): the run's full report."""
    label = "with the abuser" if abuser else "without the abuser"
    suffix = "-abuser" if abuser else ""
    server_log = RESULTS / f"loadtest-server{suffix}.log"
    locust_log = RESULTS / f"loadtest-locust{suffix}.log"
    server_log.write_bytes(b"")
    locust_results = tmp / f"locust{suffix}.json"
    load_before = os.getloadavg()
    started = time.monotonic()
    server = Server(tmp / f"cache{suffix}", server_log, server_settings(args))
    sampler = MemorySampler(server, args.sample_every)
    sampler.start()
    locust_proc = None
    try:
        ready_in = server.wait_ready()
        print(
            f"\n== {label}: gunicorn (pid {server.pid}) serves {server.base} after "
            f"{ready_in:.1f} s; workers {sorted(server.workers())}, job runner "
            f"{server.keeper}",
            flush=True,
        )
        print(f"locust: {args.users} visitors for {args.duration} s ...", flush=True)
        locust_started = time.monotonic()
        locust_wall = time.time()
        locust_proc = run_locust(
            server.base,
            args,
            locust_results,
            locust_log,
            abuser=abuser,
            bombs_dir=bombs_dir,
        )
        kill: dict[str, Any] = {"skipped": True} if args.no_kill else {}
        killer = None
        if not args.no_kill:
            ramp = args.users / args.spawn_rate
            at = args.kill_at * args.duration if args.kill_at < 1 else args.kill_at
            at = min(max(at, ramp + 2), args.duration - 3)
            killer = threading.Thread(
                target=kill_a_worker,
                args=(server, locust_started + at, kill),
                daemon=True,
            )
            killer.start()
        try:
            locust_proc.wait(timeout=args.duration + 90)
        except subprocess.TimeoutExpired:
            locust_proc.kill()
            locust_proc.wait()
            raise RuntimeError("locust did not stop in time") from None
        if killer is not None:
            killer.join(REPLACE_TIMEOUT + 5)
            if "time" in kill:
                kill["at_s"] = kill["time"] - locust_wall
        if not locust_results.exists():
            raise RuntimeError(
                "locust wrote no results:\n"
                + locust_log.read_text(errors="replace")[-3000:]
            )
        locust = json.loads(locust_results.read_text())
        print(
            f"locust done after {time.monotonic() - locust_started:.1f} s; "
            f"SIGTERM with {args.drain_threads} requests in flight ...",
            flush=True,
        )
        drained = drain(server, args.drain_threads, args.drain_limit)
    finally:
        sampler.stop.set()
        sampler.join(5)
        if locust_proc is not None and locust_proc.poll() is None:
            locust_proc.kill()
        server.kill_group()
    log = read_log(server_log)
    report: dict[str, Any] = {
        "setup": {
            "label": label,
            "abuser": abuser,
            "users": args.users,
            "duration_s": args.duration,
            "spawn_rate": args.spawn_rate,
            "wait_s": list(args.wait),
            "seed": args.seed,
            "base": server.base,
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "workers": 2,
            "server_settings": server_settings(args),
            "gunicorn_config": "project/gunicorn.conf.py",
            "server_log": str(server_log.relative_to(ROOT)),
            "locust_log": str(locust_log.relative_to(ROOT)),
        },
        "sigkill": kill,
        "sigterm": drained,
        "memory": sampler.figures(),
        "server_log": log,
        "locust": locust,
        "seconds": time.monotonic() - started,
    }
    report["figures"] = assess(report, args)
    return report


# -- the verdict ------------------------------------------------------------------


def assess(run: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The figures and the pass/fail of every criterion of one run."""
    locust, kill, drained, log = (
        run["locust"],
        run["sigkill"],
        run["sigterm"],
        run["server_log"],
    )
    http = [e for e in locust["entries"] if e["type"] in ("GET", "POST")]
    requests_total = sum(e["requests"] for e in http)
    status = locust["status"]
    five_xx_client = sum(n for code, n in status.items() if int(code) >= 500)
    killed_at = kill.get("time")

    def by_kill(event: dict[str, Any]) -> bool:
        return (
            killed_at is not None
            and event["sent"] <= killed_at + KILL_SENT_WITHIN
            and event["time"] >= killed_at
        )

    recycled_at = log.get("workers_recycled_at") or []

    def by_recycle(event: dict[str, Any]) -> bool:
        """Cut as a worker restarted after its max requests (gunicorn's planned
        recycling closes its idle keep-alive connections), and sent again."""
        return event["retried"] and any(
            at - 1 <= event["time"] <= at + RECYCLE_WITHIN for at in recycled_at
        )

    cut = [e for e in locust["connection_errors"] if by_kill(e)]
    recycle_cuts = [
        e for e in locust["connection_errors"] if not by_kill(e) and by_recycle(e)
    ]
    other_cuts = [
        e for e in locust["connection_errors"] if not by_kill(e) and not by_recycle(e)
    ]
    unrecovered_cuts = [e for e in cut if not e["retried"]]
    failures = locust["failures"]
    after_cut = [
        f
        for f in failures
        if f["after_connection_errors"]
        and all(by_kill(e) or by_recycle(e) for e in f["after_connection_errors"])
    ]
    end = locust.get("written") or time.time()
    stuck = {
        name: {
            "step": v["step"],
            "request": v.get("http_step"),
            "for_s": end - v["step_started"],
            "no_news_for_s": end - max(v["step_started"], v.get("news") or 0),
        }
        for name, v in locust["visitors"].items()
        if v.get("step")
        and end - max(v["step_started"], v.get("news") or 0) > STUCK_SECONDS
    }
    other_failures = [f for f in failures if f not in after_cut]
    lost = locust["lost_sessions"]
    visitors = locust["visitors"]
    memory = run["memory"]
    criteria = {
        "no 5xx (anyone's: client and server log)": five_xx_client == 0
        and log["five_xx"] == 0,
        "no lost session (anyone's)": not lost,
        "no failed step or request": not other_failures and not other_cuts,
        "requests cut by the SIGKILL answered on retry": not unrecovered_cuts
        and not after_cut,
        "every visitor trained a model": bool(visitors)
        and all(v["runs"] for v in visitors.values()),
        f"no visitor stuck in a step (no news for > {STUCK_SECONDS} s)": not stuck,
        "no unexpected error in the server log": not log["unexpected_errors"]
        and not locust["exceptions"],
        f"peak memory (tree PSS + cache directory) under {args.memory_ceiling_mb:,g} "
        "MiB": memory["peak_pss_and_cache_mib"] <= args.memory_ceiling_mb,
    }
    if not args.no_kill:
        criteria["killed worker replaced (new pid, 2 workers)"] = (
            "replaced_in_s" in kill and "error" not in kill
        )
    criteria[f"SIGTERM: exit 0 within {args.drain_limit:g} s"] = (
        drained["exit_code"] == 0
        and drained["exited_in_s"] is not None
        and drained["exited_in_s"] <= args.drain_limit
    )
    criteria["SIGTERM: requests in flight answered, no process left"] = (
        drained["in_flight_at_sigterm"] > 0
        and not drained["in_flight_failed"]
        and not drained["processes_left"]
        and not drained["setup_errors"]
    )
    abuse = abuse_outcomes(locust) if run["setup"]["abuser"] else {}
    if run["setup"]["abuser"]:
        criteria["abuser: every send refused, stopped or within its budget"] = bool(
            abuse
        ) and all(not kind["unexpected"] for kind in abuse.values())
    return {
        "requests": requests_total,
        "rps": requests_total / max(locust["elapsed"], 1e-9),
        "groups": locust.get("groups", {}),
        "http_failures": sum(e["failures"] for e in http),
        "statuses": status,
        "five_xx_client": five_xx_client,
        "five_xx_server_log": log["five_xx"],
        "stuck_visitors": stuck,
        "longest_open_step_s": max(
            (end - v["step_started"] for v in visitors.values() if v.get("step")),
            default=None,
        ),
        "connection_errors_at_kill": cut,
        "cut_failed_after_s": max((e["time"] - killed_at for e in cut), default=None),
        "connection_errors_elsewhere": other_cuts,
        "connection_errors_at_recycle": recycle_cuts,
        "failed_steps_after_kill": after_cut,
        "failed_steps": other_failures,
        "lost_sessions": len(lost),
        "lost_session_reasons": lost,
        "visitors": len(visitors),
        "rounds": sum(v["rounds"] for v in visitors.values()),
        "trainings": locust["trainings"],
        "checks": locust["checks"],
        "abuse": abuse,
        "abuser_at_the_end": _abuser_at_end(locust, end),
        "criteria": criteria,
        "passed": all(criteria.values()),
    }


def abuse_outcomes(locust: dict[str, Any]) -> dict[str, Any]:
    """What each kind of the abuser's sends got, and which of that was not
    expected (a guard let it through, or it failed)."""
    return {
        kind: {
            "sent": got["sent"],
            "outcomes": got["outcomes"],
            "unexpected": got.get("unexpected", []),
        }
        for kind, got in locust.get("abuse", {}).items()
    }


def _abuser_at_end(locust: dict[str, Any], end: float) -> dict[str, Any]:
    """What the abuser was sending when the load stopped (and for how long)."""
    record = locust.get("abuser") or {}
    if not record.get("step"):
        return {}
    return {
        "step": record["step"],
        "for_s": round(end - record.get("step_started", end), 1),
        "loops": record.get("loops", 0),
    }


def compare(
    without: dict[str, Any], with_abuser: dict[str, Any], limit: float
) -> dict[str, Any]:
    """The visitors' figures side by side; pass when each is at most ``limit``
    times the run without the abuser."""
    rows = []

    def row(name: str, a: Any, b: Any, bounded: bool) -> None:
        ratio = b / a if a and b is not None else None
        ok = None
        if bounded:
            ok = a is not None and b is not None and b <= limit * a
        rows.append(
            {"figure": name, "without": a, "with": b, "ratio": ratio, "passed": ok}
        )

    served = [
        r["server_log"].get("server_latency_ms", {}).get("visitors", {})
        for r in (without, with_abuser)
    ]
    groups = [
        r["figures"]["groups"].get("visitors", {}) for r in (without, with_abuser)
    ]
    row("visitors: all requests p50 (ms)", *(g.get("p50_ms") for g in groups), False)
    row("visitors: all requests p95 (ms)", *(g.get("p95_ms") for g in groups), True)
    for p in ("p50", "p95"):
        row(
            f"visitors: server time {p} (ms)",
            *(g.get(f"{p}_ms") for g in served),
            False,
        )
    flows = [entry(r, "FLOW", TRAIN_FLOW) for r in (without, with_abuser)]
    for p in ("p50", "p95"):
        row(f"{TRAIN_FLOW} {p} (ms)", *(f.get(f"{p}_ms") for f in flows), True)
    trainings = [r["figures"]["trainings"]["confirmed"] for r in (without, with_abuser)]
    row("visitors' trainings confirmed", *trainings, False)
    return {
        "limit": limit,
        "rows": rows,
        "passed": all(r["passed"] for r in rows if r["passed"] is not None),
    }


# -- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--users",
        type=int,
        default=None,
        help=f"simulated visitors (default: {FULL_USERS}, fewer on a machine slower "
        "than the reference, see --no-scale)",
    )
    parser.add_argument(
        "--no-scale",
        action="store_true",
        help=f"{FULL_USERS} visitors whatever this machine's speed",
    )
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--spawn-rate", type=float, default=10, help="visitors/s")
    parser.add_argument(
        "--wait",
        type=float,
        nargs=2,
        default=(1.0, 3.0),
        metavar=("MIN", "MAX"),
        help="seconds a visitor pauses between steps",
    )
    parser.add_argument(
        "--kill-at",
        type=float,
        default=0.4,
        help="when to SIGKILL a worker: a fraction of --duration (<1) or seconds",
    )
    parser.add_argument("--no-kill", action="store_true", help="kill no worker")
    parser.add_argument(
        "--no-abuser", action="store_true", help="one run, without the abuser"
    )
    parser.add_argument(
        "--abuse-unread-uploads",
        type=int,
        default=0,
        metavar="N",
        help="the abuser also sends N uploads a loop whose reading it never asks for",
    )
    parser.add_argument(
        "--max-slowdown",
        type=float,
        default=2.0,
        help="the visitors' p95 and trainings with the abuser, at most this many "
        "times those without",
    )
    parser.add_argument(
        "--memory-ceiling-mb",
        type=float,
        default=2048,
        help="the process tree's PSS must stay under it (a 2 GiB Cloud Run instance)",
    )
    parser.add_argument("--sample-every", type=float, default=0.5, help="seconds")
    parser.add_argument("--job-slots", type=int, default=2)
    parser.add_argument("--job-memory-mb", type=int, default=384)
    parser.add_argument("--cache-size-mb", type=int, default=256)
    parser.add_argument("--session-quota-mb", type=int, default=128)
    parser.add_argument("--drain-threads", type=int, default=8)
    parser.add_argument("--drain-limit", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "loadtest.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if (args.users is not None and args.users < 1) or args.duration < 5:
        parser.error("at least 1 user and 5 seconds")
    return args


def machine_speed() -> dict[str, Any]:
    """How fast this machine is now against the one where the load was chosen:
    the app's own training of the default model on iris (``train_model``, 5-fold
    CV), the median of 5 in this process, against :data:`REFERENCE_TRAIN_MS`."""
    from app.ml import train_model
    from tools.bench import CLICK_CASES, Reference

    reference = Reference(CLICK_CASES["small"])  # what REFERENCE_TRAIN_MS timed
    frame, config = reference.frame, reference.config
    train_model(frame, config)  # warm: imports and first calls
    times = []
    for _ in range(5):
        began = time.perf_counter()
        train_model(frame, config)
        times.append((time.perf_counter() - began) * 1000)
    measured = sorted(times)[2]
    return {"train_ms": round(measured, 1), "slower": measured / REFERENCE_TRAIN_MS}


def choose_users(args: argparse.Namespace) -> dict[str, Any]:
    """The visitors of this run: ``--users``; else :data:`FULL_USERS`, scaled down
    by how much slower this machine is than the reference (the same saturation of
    its cores, not more), at least :data:`MIN_USERS`."""
    if args.users is not None:
        return {"users": args.users, "scaled": False}
    if args.no_scale:
        return {"users": FULL_USERS, "scaled": False}
    speed = machine_speed()
    users = round(FULL_USERS / max(1.0, speed["slower"]))
    return {"users": max(MIN_USERS, users), "scaled": True, **speed}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    calibration = choose_users(args)
    args.users = calibration["users"]
    if calibration["scaled"]:
        print(
            f"this machine trained the reference model in {calibration['train_ms']:.0f}"
            f" ms ({REFERENCE_TRAIN_MS} ms where {FULL_USERS} visitors were chosen):"
            f" {args.users} visitors",
            flush=True,
        )
    random.seed(args.seed)
    RESULTS.mkdir(exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-loadtest-"))
    runs: dict[str, dict[str, Any]] = {}
    try:
        bombs_dir = tmp / "bombs"
        bombs_dir.mkdir()
        bombs.abuse_files(bombs_dir)  # before the load: no CPU taken from it
        runs["without"] = one_run(args, abuser=False, tmp=tmp, bombs_dir=bombs_dir)
        if not args.no_abuser:
            runs["with_abuser"] = one_run(
                args, abuser=True, tmp=tmp, bombs_dir=bombs_dir
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    comparison = None
    if "with_abuser" in runs:
        comparison = compare(runs["without"], runs["with_abuser"], args.max_slowdown)
    passed = all(r["figures"]["passed"] for r in runs.values()) and (
        comparison is None or comparison["passed"]
    )
    report = {
        "calibration": calibration,
        "runs": runs,
        "comparison": comparison,
        "memory_ceiling_mib": args.memory_ceiling_mb,
        "passed": passed,
        "total_seconds": time.monotonic() - started,
        "json": str(args.out),
    }
    args.out.write_text(json.dumps(report, indent=1, default=str))
    for run in runs.values():
        print_summary(run)
    if comparison is not None:
        print_comparison(runs, comparison, args.memory_ceiling_mb)
        print()
        for row in comparison["rows"]:
            if row["passed"] is not None:
                print(
                    f"  [{'PASS' if row['passed'] else 'FAIL'}] {row['figure']}: with "
                    f"the abuser at most {args.max_slowdown:g}x without"
                )
    print()
    print(f"{'PASSED' if passed else 'FAILED'}: {report['json']}")
    print(f"(whole run: {report['total_seconds']:.0f} s)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
