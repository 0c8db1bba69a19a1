"""The app served as in production: gunicorn with the project's config, 2 workers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app import ids
from app.store import new_session_id

PROJECT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        WEB_CONCURRENCY="2",
        CACHE_DIR=str(tmp_path_factory.mktemp("cache")),
        LOG_LEVEL="warning",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "--config", "gunicorn.conf.py", "app.app:server"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:  # a TCP connection only: the first HTTP requests belong to the tests
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(0.5)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"gunicorn did not start:\n{proc.communicate()[0]}")
    yield base, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_every_script_loads_at_once_from_a_cold_start(server):
    base, _ = server
    page = requests.get(f"{base}/", timeout=10)
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css)[^"]*)"', page.text)
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
    base, _ = server
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


def test_sigterm_stops_the_server_within_eight_seconds(server):
    _, proc = server
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    assert time.monotonic() - started < 8
    assert proc.returncode == 0


def test_http2_cleartext_serves_big_bodies_when_enabled(tmp_path):
    """With HTTP2=1 gunicorn speaks h2c (Cloud Run's --use-http2) as well as HTTP/1."""
    port = _free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        WEB_CONCURRENCY="1",
        HTTP2="1",
        MAX_UPLOAD_MB="64",
        CACHE_DIR=str(tmp_path),
        LOG_LEVEL="warning",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "--config", "gunicorn.conf.py", "app.app:server"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
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
    finally:
        proc.terminate()
        proc.wait(timeout=15)
