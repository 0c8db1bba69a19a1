"""A million rows × 20 columns through the app served as in production.

Every figure sent to the browser stays under 1 MB, training runs in the
background with progress, an uploaded Parquet of that size loads within the
upload limit, and the whole process tree stays under 1.5 GiB. Times are printed
(see `make bench`), not asserted.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import psutil
import pytest
import requests
from gunicorn_fixture import gunicorn

from app.ml import load_bundled
from app.server.store import new_session_id
from tools.dashclient import DashClient
from tools.outputs import CHAINS, DESCRIBE, LOAD, SHOW_RUN, TRAIN, UPLOAD

MB = 1024 * 1024
FIGURE_LIMIT = 1_000_000
MEMORY_LIMIT = 1.5 * 1024 * MB
ROWS = 1_000_000


class TreeMemory(threading.Thread):
    """Samples the proportional memory (PSS) of a process and its children."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def current(self) -> int:
        total = 0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, self.current())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {
        "WEB_CONCURRENCY": "2",
        "MAX_UPLOAD_MB": "128",
        # sized as deploy/deploy.sh sizes a Cloud Run instance (4 GiB, 1 CPU)
        "MEMORY_MB": "4096",
        "JOB_SLOTS": "1",
    }
    with gunicorn(tmp_path_factory.mktemp("big"), env) as served:
        memory = TreeMemory(served.proc.pid)
        memory.start()
        yield served.base, memory
        memory.stop.set()


def _sizes(response: dict) -> dict[str, int]:
    """Bytes of each figure in a callback response, as sent to the browser."""
    out = {}
    for cid, props in response.items():
        for prop, value in props.items():
            if prop == "figure":
                out[cid] = len(json.dumps(value))
    return out


def _timed(label: str, fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - started:.3f} s")
    return result


def test_a_million_rows_end_to_end(server):
    base, memory = server
    client = DashClient(base)
    sid = new_session_id()
    loaded = _timed(
        "load 1,000,000 × 20 (a background job)",
        client.call_chained,
        LOAD,
        {
            "data-source.value": "classification",
            "data-synth-rows.value": ROWS,
            "data-synth-features.value": 20,
            "data-synth-seed.value": 0,
            "app-session.data": sid,
        },
        changed=["data-source.value"],
        chains=CHAINS,
        poll=0.25,
    )
    assert "1,000,000 rows × 21 columns" in json.dumps(
        loaded["data-status"], ensure_ascii=False
    )
    version = loaded["data-version"]["data"]

    described = _timed(
        "describe",
        client.call,
        DESCRIBE,
        {"data-version.data": version, "app-session.data": sid},
        changed=["data-version.data"],
    )
    assert len(described["data-preview"]["rowData"]) == 100
    sizes = _sizes(described)

    dist = _timed(
        "distribution",
        client.call,
        ["data-dist-graph.figure"],
        {
            "data-dist-column.value": "x3",
            "data-version.data": version,
            "app-session.data": sid,
        },
        changed=["data-dist-column.value"],
    )
    scatter = _timed(
        "scatter",
        client.call,
        ["data-scatter-graph.figure"],
        {
            "data-scatter-x.value": "x1",
            "data-scatter-y.value": "x2",
            "target-column.value": "target",
            "app-session.data": sid,
        },
        changed=["data-scatter-x.value"],
    )
    sizes.update(_sizes(dist))
    sizes.update(_sizes(scatter))
    traces = scatter["data-scatter-graph"]["figure"]["data"]
    assert {t["type"] for t in traces} == {"scattergl"}
    assert "a random sample of 10,000 of 1,000,000 rows" in json.dumps(
        scatter["data-scatter-graph"]["figure"]["layout"]
    )

    progress: list = []
    trained = _timed(
        "train logistic regression, 2-fold CV (background)",
        client.call,
        TRAIN,
        {
            "train-button.n_clicks": 1,
            "app-session.data": sid,
            "target-column.value": "target",
            "train-task.value": "classification",
            "train-features.value": [f"x{i}" for i in range(1, 21)],
            "model-name.value": "logistic_regression",
            "train-test-size.value": 0.25,
            "train-stratify.value": True,
            "train-seed.value": 0,
            "train-cv-folds.value": 2,
        },
        changed=["train-button.n_clicks"],
        progress=progress,
        poll=0.25,
    )
    run_id = trained["eval-run"]["data"]
    assert "Run 1: Logistic regression trained" in json.dumps(trained["train-status"])
    labels = json.dumps(progress)
    assert "Cross-validation fold 1 of 2" in labels or "Final model" in labels

    shown = _timed(
        "show the run",
        client.call,
        SHOW_RUN,
        {
            "eval-run.data": run_id,
            "eval-normalize.value": False,
            "app-session.data": sid,
        },
        changed=["eval-run.data"],
    )
    run_payload = len(json.dumps(shown))
    print("figure payloads (bytes):", sizes, "run figures:", run_payload)
    assert all(size < FIGURE_LIMIT for size in sizes.values()), sizes
    assert run_payload < FIGURE_LIMIT
    print(f"peak memory of the process tree so far: {memory.peak / MB:.0f} MiB")
    assert memory.peak < MEMORY_LIMIT


def test_a_million_row_parquet_upload_within_the_limit(server):
    base, memory = server
    frame = load_bundled("classification", n_samples=ROWS, n_features=20)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    del frame, buffer
    assert len(data) < 128 * MB
    client = DashClient(base)
    sid = new_session_id()
    contents = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    print(
        f"parquet of 1,000,000 × 21: {len(data) / MB:.1f} MiB, "
        f"request {len(contents) / MB:.1f} MiB"
    )
    uploaded = _timed(
        "upload and load the Parquet (a background job)",
        client.call_chained,
        UPLOAD,
        {
            "data-upload-buffer.data": {
                "filename": "big.parquet",
                "contents": contents,
            },
            "app-session.data": sid,
        },
        changed=["data-upload-buffer.data"],
        chains=CHAINS,
        poll=0.25,
    )
    assert "big.parquet: 1,000,000 rows × 21 columns" in json.dumps(
        uploaded["data-status"], ensure_ascii=False
    )
    print(f"peak memory of the process tree: {memory.peak / MB:.0f} MiB")
    assert memory.peak < MEMORY_LIMIT


def test_uploads_above_the_limit_are_refused_clearly(server):
    base, _ = server
    client = DashClient(base)
    sid = new_session_id()
    refused = client.call(
        UPLOAD,
        {
            "data-upload-buffer.data": {
                "filename": "huge.parquet",
                "too_large": 300 * MB,
            },
            "app-session.data": sid,
        },
        changed=["data-upload-buffer.data"],
    )
    assert "huge.parquet is 300.0 MB; the limit is 128 MB" in json.dumps(
        refused["data-status"]
    )
    body = b"x" * (int(128 * MB * 4 / 3) + 2 * MB)
    response = requests.post(
        f"{base}/_dash-update-component",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    assert response.status_code == 413
