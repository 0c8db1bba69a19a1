"""The app served as in production: gunicorn with the project's config, 2 workers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from gunicorn_fixture import gunicorn

from app.server.store import new_session_id
from app.ui import ids

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"WEB_CONCURRENCY": "2", "LOG_LEVEL": "info", "LOG_FORMAT": "json"}
    # the port only: the first HTTP requests belong to the tests
    with gunicorn(tmp_path_factory.mktemp("served"), env, probe=False) as served:
        yield served.base, served.proc, served.log


def _messages(log: Path) -> list[str]:
    """The messages of the server's JSON log lines."""
    lines = log.read_text().splitlines()
    return [json.loads(line)["message"] for line in lines if line.startswith("{")]


def _script_urls(base: str) -> list[str]:
    page = requests.get(f"{base}/", timeout=10)
    assert page.status_code == 200
    return re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css)[^"]*)"', page.text)


def test_every_script_loads_at_once_from_a_cold_start(server):
    base, *_ = server
    urls = _script_urls(base)
    assert len(urls) > 5
    with ThreadPoolExecutor(16) as pool:
        codes = list(
            pool.map(lambda u: requests.get(base + u, timeout=30).status_code, urls * 3)
        )
    assert codes == [200] * len(codes)


def _load_iris(base: str, sid: str) -> requests.Response:
    deps = requests.get(f"{base}/_dash-dependencies", timeout=10).json()
    wanted = [
        "data-version.data",
        "data-status.children",
        "data-notes.children",
        "data-job.data",
        "data-synth.is_open",
    ]
    output = next(
        d["output"]
        for d in deps
        if [p.split("@")[0] for p in d["output"].strip(".").split("...")] == wanted
    )
    values = {
        ids.DATA_SOURCE: "iris",
        ids.DATA_SYNTH_ROWS: 1000,
        ids.DATA_SYNTH_NOISE: None,
        ids.DATA_SYNTH_FEATURES: None,
        ids.DATA_SYNTH_SEED: 0,
    }
    body = {
        "output": output,
        "outputs": [
            {"id": w.split(".")[0], "property": w.split(".")[1]} for w in wanted
        ],
        "inputs": [
            {"id": k, "property": "value", "value": v} for k, v in values.items()
        ],
        "state": [{"id": ids.APP_SESSION, "property": "data", "value": sid}],
        "changedPropIds": [f"{ids.DATA_SOURCE}.value"],
    }
    return requests.post(f"{base}/_dash-update-component", json=body, timeout=30)


def test_a_session_is_shared_by_all_workers(server):
    base, *_ = server
    sid = new_session_id()
    assert _load_iris(base, sid).status_code == 200
    deps = requests.get(f"{base}/_dash-dependencies", timeout=10).json()
    output = next(
        d["output"] for d in deps if d["output"] == f"{ids.DATA_DIST_GRAPH}.figure"
    )
    body = {
        "output": output,
        "outputs": {"id": ids.DATA_DIST_GRAPH, "property": "figure"},
        "inputs": [
            {"id": ids.DATA_DIST_COLUMN, "property": "value", "value": "target"}
        ],
        "state": [
            {"id": ids.DATA_VERSION, "property": "data", "value": "v"},
            {"id": ids.APP_SESSION, "property": "data", "value": sid},
        ],
        "changedPropIds": [f"{ids.DATA_DIST_COLUMN}.value"],
    }
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(
                lambda _: requests.post(
                    f"{base}/_dash-update-component", json=body, timeout=30
                ),
                range(24),
            )
        )
    assert [r.status_code for r in responses] == [200] * 24
    assert all("setosa" in r.text for r in responses)


def _built(log: Path) -> list[str]:
    return [m for m in _messages(log) if m.startswith("app built in ")]


def _keeper(log: Path) -> int:
    started = [m for m in _messages(log) if m.startswith("job runner started")]
    assert len(started) == 1, started
    return int(re.search(r"keeper pid (\d+)", started[0])[1])


def _workers(proc: subprocess.Popen, keeper: int) -> set[int]:
    alive = set()
    for child in psutil.Process(proc.pid).children():
        try:
            if child.pid != keeper and child.status() != psutil.STATUS_ZOMBIE:
                alive.add(child.pid)
        except psutil.Error:
            continue
    return alive


def test_the_factory_runs_once_in_the_master_which_starts_the_job_runner(server):
    """``app.app:create_server()`` with preload_app: built once, by the master,
    before on_starting started the job runner there (its keeper is the master's)."""
    _, proc, log = server
    built = _built(log)
    assert len(built) == 1 and built[0].endswith(f" by process {proc.pid}")
    assert psutil.Process(_keeper(log)).ppid() == proc.pid
    assert len(_workers(proc, _keeper(log))) == 2


def test_a_killed_worker_is_replaced_by_a_fork_of_the_built_app(server):
    base, proc, log = server
    keeper = _keeper(log)
    before = _workers(proc, keeper)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _workers(proc, keeper)
        if victim not in now and len(now) == 2:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no worker replaced {victim}:\n{log.read_text()[-4000:]}")
    assert len(_built(log)) == 1  # forked from the master's app, not built again
    urls = _script_urls(base)
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda u: requests.get(base + u, timeout=30).status_code,
                ["/", "/_dash-layout", "/healthz", *urls] * 4,
            )
        )
    assert codes == [200] * len(codes)
    assert psutil.Process(keeper).is_running()  # the job runner did not restart


def test_sigterm_stops_the_server_within_eight_seconds(server):
    _, proc, _ = server
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    assert time.monotonic() - started < 8
    assert proc.returncode == 0


def test_http2_cleartext_serves_big_bodies_when_enabled(tmp_path):
    """With HTTP2=1 gunicorn speaks h2c (Cloud Run's --use-http2) as well as HTTP/1."""
    env = {"WEB_CONCURRENCY": "1", "HTTP2": "1", "MAX_UPLOAD_MB": "64"}
    with gunicorn(tmp_path, env) as served:
        base = served.base
        out = subprocess.run(
            [
                "curl",
                "-s",
                "--http2-prior-knowledge",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                f"{base}/healthz",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert out.stdout == "2 200"
        body = tmp_path / "body.json"
        body.write_bytes(b'{"output": "x"}' + b" " * (40 * 1024 * 1024))
        out = subprocess.run(
            [
                "curl",
                "-s",
                "--http2-prior-knowledge",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                f"@{body}",
                f"{base}/_dash-update-component",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        # 40 MiB over HTTP/2 reaches the app, which answers: not a known callback.
        assert out.stdout == "2 400"
