"""``make loadtest``: the app under load and faults, on loopback, bounded in time.

1. Serve the app as in production: gunicorn with ``project/gunicorn.conf.py`` (2
   gthread workers), JSON logs to ``bench-results/loadtest-server.log``, and a
   ``CACHE_DIR`` of its own in a temporary directory (removed at the end).
2. Run locust headless: ``--users`` simulated visitors (``tools/locustfile.py``) for
   ``--duration`` seconds, each pausing ``--wait`` seconds between steps.
3. While they run, kill one gunicorn worker with SIGKILL (at ``--kill-at``): gunicorn
   must replace it (a new pid, two workers again), and no visitor may lose data.
4. Then SIGTERM the server while requests are in flight: it must answer them and
   exit within ``--drain-limit`` seconds (gunicorn's graceful_timeout, 8).
5. Print a summary table, write ``bench-results/loadtest.json``, and exit 1 when a
   criterion fails: any 5xx, a lost session, a failed request or step (a request
   cut by the SIGKILL counts apart when the visitor's one retry then succeeded), a
   worker not replaced, a slow or unclean drain, an unexpected error in the log.

Locust runs in its own process (it monkey-patches the standard library with gevent).
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from typing import Any

import psutil
import requests

from app import ids
from tools.dashclient import DashClient

PROJECT = Path(__file__).resolve().parents[1]
ROOT = PROJECT.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench-results"
START_TIMEOUT = 120  # seconds for gunicorn to serve
REPLACE_TIMEOUT = 30  # seconds for gunicorn to replace a killed worker
# A request sent before the SIGKILL (or within this many seconds after it, on a
# connection to the dead worker) whose connection then fails was cut by the kill.
KILL_SENT_WITHIN = 1.0
# A visitor still in one step this long at the end is stuck. Trainings queue for a
# job slot (2 on 2 cores): with 50 visitors training at once, the last in line
# waits ~25 s on a 2-core machine; a step with no answer for 45 s is not a queue.
STUCK_SECONDS = 45
EXPECTED_LOG_ERRORS = ("was sent SIGKILL",)  # the kill itself
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
    """gunicorn with the project's config, in its own process group."""

    def __init__(self, cache_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ENV_DROPPED}
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
        with log.open("ab") as out:
            self.proc = subprocess.Popen(  # nosec B603
                [
                    str(BIN / "gunicorn"),
                    "--config",
                    "gunicorn.conf.py",
                    "app.app:server",
                ],
                cwd=PROJECT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def workers(self) -> set[int]:
        """The live workers: the master's children (jobs are the workers')."""
        try:
            children = psutil.Process(self.pid).children()
        except psutil.Error:
            return set()
        alive = set()
        for child in children:
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    alive.add(child.pid)
            except psutil.Error:
                continue
        return alive

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
                    and len(self.workers()) == 2
                ):
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"gunicorn did not serve in {START_TIMEOUT} s:\n{self.tail()}"
        )

    def group(self) -> list[psutil.Process]:
        """The live processes of the server's process group (workers, jobs)."""
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
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
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
    try:
        jobs = [c.pid for c in psutil.Process(victim).children(recursive=True)]
    except psutil.Error:
        jobs = []
    result.update(pid=victim, its_job_processes=jobs)
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
    """

    ROWS = 50_000

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
    """Whether a dataset callback's answer says the data is loaded."""
    try:
        status = json.dumps(answer.json()["response"][ids.DATA_STATUS])
    except (ValueError, KeyError, TypeError):
        return False
    return bool(re.search(r"[\d,]+ rows", status))


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
    left = [_describe(p) for p in _alive(server.group())]
    in_flight = [r for r in probe.requests if "start" in r and r["start"] < term]
    in_flight = [r for r in in_flight if r["end"] > term]
    after = [r for r in probe.requests if "start" in r and r["start"] >= term]
    answered = [r for r in in_flight if r.get("status") == 200 and "error" not in r]
    before = [r for r in probe.requests if "end" in r and r["end"] <= term]
    return {
        "probe_threads": threads,
        "rows_per_request": DrainProbe.ROWS,
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


def read_log(path: Path) -> dict[str, Any]:
    """Errors, 5xx access lines and worker events from the JSON log."""
    errors, unexpected, five_xx, booted, not_json = [], [], 0, 0, 0
    statuses: dict[str, int] = {}
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
        if message.startswith("Booting worker"):
            booted += 1
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
        "lines_not_json": not_json,
    }


# -- locust -------------------------------------------------------------------------


def run_locust(
    base: str, args: argparse.Namespace, results: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        LOADTEST_RESULTS=str(results),
        LOADTEST_WAIT=f"{args.wait[0]},{args.wait[1]}",
        PYTHONPATH=str(PROJECT),
        PYTHONUNBUFFERED="1",
    )
    argv = [
        sys.executable,
        "-c",
        LOCUST_BOOT,
        *("-f", str(PROJECT / "tools" / "locustfile.py")),
        "--headless",
        *("--users", str(args.users)),
        *("--spawn-rate", str(args.spawn_rate)),
        *("--run-time", f"{args.duration}s"),
        *("--host", base),
        "--only-summary",
        *("--exit-code-on-error", "0"),
        *("--loglevel", "WARNING"),
    ]
    with log.open("wb") as out:
        return subprocess.Popen(  # nosec B603
            argv, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


# -- the verdict ------------------------------------------------------------------


def assess(
    locust: dict[str, Any],
    kill: dict[str, Any],
    drained: dict[str, Any],
    log: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The figures and the pass/fail of every criterion."""
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

    cut = [e for e in locust["connection_errors"] if by_kill(e)]
    other_cuts = [e for e in locust["connection_errors"] if not by_kill(e)]
    unrecovered_cuts = [e for e in cut if not e["retried"]]
    failures = locust["failures"]
    after_cut = [
        f
        for f in failures
        if f["after_connection_errors"]
        and all(by_kill(e) for e in f["after_connection_errors"])
    ]
    end = locust.get("written") or time.time()
    stuck = {
        name: {
            "step": v["step"],
            "request": v.get("http_step"),
            "for_s": end - v["step_started"],
        }
        for name, v in locust["visitors"].items()
        if v.get("step") and end - v["step_started"] > STUCK_SECONDS
    }
    other_failures = [f for f in failures if f not in after_cut]
    lost = locust["lost_sessions"]
    visitors = locust["visitors"]
    criteria = {
        "no 5xx (client and server log)": five_xx_client == 0 and log["five_xx"] == 0,
        "no lost session": not lost,
        "no failed step or request": not other_failures and not other_cuts,
        "requests cut by the SIGKILL answered on retry": not unrecovered_cuts
        and not after_cut,
        "every visitor trained a model": bool(visitors)
        and all(v["runs"] for v in visitors.values()),
        f"no visitor stuck in a step (> {STUCK_SECONDS} s)": not stuck,
        "no unexpected error in the server log": not log["unexpected_errors"]
        and not locust["exceptions"],
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
    return {
        "requests": requests_total,
        "rps": requests_total / max(locust["elapsed"], 1e-9),
        "http_failures": sum(e["failures"] for e in http),
        "statuses": status,
        "five_xx_client": five_xx_client,
        "five_xx_server_log": log["five_xx"],
        "stuck_visitors": stuck,
        "connection_errors_at_kill": cut,
        "cut_failed_after_s": max((e["time"] - killed_at for e in cut), default=None),
        "connection_errors_elsewhere": other_cuts,
        "failed_steps_after_kill": after_cut,
        "failed_steps": other_failures,
        "lost_sessions": len(lost),
        "lost_session_reasons": lost,
        "visitors": len(visitors),
        "rounds": sum(v["rounds"] for v in visitors.values()),
        "trainings": locust["trainings"],
        "checks": locust["checks"],
        "criteria": criteria,
        "passed": all(criteria.values()),
    }


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_summary(report: dict[str, Any]) -> None:
    figures, setup = report["figures"], report["setup"]
    kill, drained = report["sigkill"], report["sigterm"]
    print()
    print(
        f"Load test: {setup['users']} visitors for {setup['duration_s']} s "
        f"(pauses {setup['wait_s'][0]:g}-{setup['wait_s'][1]:g} s) on {setup['base']}"
        f" - gunicorn, 2 gthread workers, {setup['cpus']} CPU cores, loopback"
    )
    print(
        "Load average before / after (1 min): "
        f"{setup['load_average_before'][0]:.1f} / {setup['load_average_after'][0]:.1f}"
    )
    print()
    header = (
        f"{'request type':<30} {'requests':>8} {'fail':>5} {'p50':>7} {'p95':>7} "
        f"{'p99':>7} {'max':>7} {'rps':>6}"
    )
    print(header + "   (times in ms)")
    print("-" * len(header))
    order = {"GET": 0, "POST": 1, "FLOW": 2}
    entries = [e for e in report["locust"]["entries"] if e["type"] in order]
    for e in sorted(entries, key=lambda e: order[e["type"]]):
        label = e["name"] if e["type"] != "FLOW" else f"[flow] {e['name']}"
        print(
            f"{label[:30]:<30} {e['requests']:>8,} {e['failures']:>5} "
            f"{_ms(e['p50_ms']):>7} {_ms(e['p95_ms']):>7} {_ms(e['p99_ms']):>7} "
            f"{_ms(e['max_ms']):>7} {e['rps']:>6.1f}"
        )
    print("-" * len(header))
    print(
        f"{'HTTP total':<30} {figures['requests']:>8,} "
        f"{figures['http_failures']:>5} {'':>31} {figures['rps']:>6.1f}"
    )
    print()
    statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(figures["statuses"].items()))
    print(f"HTTP statuses seen by the visitors: {statuses}")
    print(
        f"5xx: {figures['five_xx_client']} (visitors), "
        f"{figures['five_xx_server_log']} (server log)"
    )
    cut = figures["connection_errors_at_kill"]
    print(
        f"Connections cut by the SIGKILL: {len(cut)} (sent again once: "
        f"{sum(1 for e in cut if e['retried'])}); failed steps after such a cut: "
        f"{len(figures['failed_steps_after_kill'])}"
    )
    if cut:
        print(
            f"  (the last of them failed {figures['cut_failed_after_s']:.1f} s "
            "after the kill)"
        )
    print(
        f"Other connection errors: {len(figures['connection_errors_elsewhere'])}; "
        f"failed steps: {len(figures['failed_steps'])}"
    )
    for failure in figures["failed_steps"][:10]:
        why = failure["why"].splitlines()[0][:200]
        print(f"  - {failure['visitor']} / {failure['step']}: {why}")
    print(
        f"Lost sessions: {figures['lost_sessions']} of {figures['visitors']} visitors "
        f"({figures['rounds']} rounds completed, "
        f"{figures['trainings']['confirmed']} trainings confirmed)"
    )
    for visitor, reasons in list(figures["lost_session_reasons"].items())[:10]:
        print(f"  - {visitor}: {reasons[0][:200]}")
    stuck = figures["stuck_visitors"]
    print(f"Visitors stuck in a step at the end: {len(stuck)}")
    for visitor, where in list(stuck.items())[:10]:
        print(
            f"  - {visitor}: {where['step']} ({where['request']}) "
            f"for {where['for_s']:.0f} s"
        )
    if kill.get("skipped"):
        print("SIGKILL: skipped (--no-kill)")
    elif "replaced_in_s" in kill:
        print(
            f"SIGKILL of worker {kill['pid']} at {kill['at_s']:.1f} s into the run: "
            f"replaced by {', '.join(map(str, kill['new_pid']))} in "
            f"{kill['replaced_in_s'] * 1000:.0f} ms; workers "
            f"{kill['workers_before']} -> {kill['workers_after']}"
        )
    else:
        print(f"SIGKILL: {kill.get('error', 'not done')}")
    exited = drained["exited_in_s"]
    print(
        f"SIGTERM with {drained['in_flight_at_sigterm']} requests in flight: "
        + (f"exited in {exited:.2f} s" if exited is not None else "did not exit")
        + f" (limit {drained['limit_s']:g} s), exit code {drained['exit_code']}, "
        f"{drained['in_flight_answered']}/{drained['in_flight_at_sigterm']} answered, "
        f"{len(drained['processes_left'])} processes left"
    )
    print()
    for name, ok in figures["criteria"].items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    print()
    print(f"{'PASSED' if figures['passed'] else 'FAILED'}: {report['json']}")


# -- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50, help="simulated visitors")
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
    parser.add_argument("--drain-threads", type=int, default=8)
    parser.add_argument("--drain-limit", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "loadtest.json")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.users < 1 or args.duration < 5:
        parser.error("at least 1 user and 5 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    random.seed(args.seed)
    RESULTS.mkdir(exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    server_log = RESULTS / "loadtest-server.log"
    locust_log = RESULTS / "loadtest-locust.log"
    server_log.write_bytes(b"")
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-loadtest-"))
    locust_results = tmp / "locust.json"
    started = time.monotonic()
    server = Server(tmp / "cache", server_log)
    locust_proc = None
    try:
        ready_in = server.wait_ready()
        print(
            f"gunicorn (pid {server.pid}) serves {server.base} after {ready_in:.1f} s;"
            f" workers {sorted(server.workers())}",
            flush=True,
        )
        print(
            f"locust: {args.users} visitors for {args.duration} s ...",
            flush=True,
        )
        locust_started = time.monotonic()
        locust_wall = time.time()
        locust_proc = run_locust(server.base, args, locust_results, locust_log)
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
        if locust_proc is not None and locust_proc.poll() is None:
            locust_proc.kill()
        leftovers = _alive(server.group()) if server.proc.poll() is None else []
        server.kill_group()
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.Error:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    log = read_log(server_log)
    report: dict[str, Any] = {
        "setup": {
            "users": args.users,
            "duration_s": args.duration,
            "spawn_rate": args.spawn_rate,
            "wait_s": list(args.wait),
            "base": server.base,
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "workers": 2,
            "gunicorn_config": "project/gunicorn.conf.py",
            "server_log": str(server_log.relative_to(ROOT)),
            "locust_log": str(locust_log.relative_to(ROOT)),
        },
        "sigkill": kill,
        "sigterm": drained,
        "server_log": log,
        "locust": locust,
        "total_seconds": time.monotonic() - started,
        "json": str(args.out),
    }
    report["figures"] = assess(locust, kill, drained, log, args)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print_summary(report)
    print(f"(whole run: {report['total_seconds']:.0f} s)")
    return 0 if report["figures"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
