"""Jobs shared fairly, through gunicorn as in production: what an abuser did to
other visitors before (issue "Bounded and fair"), tried again.

One gunicorn server with the project's config, two job slots. Every test here
failed before the job runner: a visitor's two long jobs held both slots, and
synthetic datasets were made inside the web request.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from gunicorn_fixture import gunicorn

from app.server import scheduler as fair
from app.server.store import new_session_id
from app.ui import ids
from tools.dashclient import DashClient, Job, prop_id
from tools.outputs import CHAINS, LOAD, TRAIN

IRIS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    env = {"WEB_CONCURRENCY": "2", "JOB_SLOTS": "2", "JOB_MEMORY_MB": "1024"}
    with gunicorn(tmp_path_factory.mktemp("fair"), env) as served:
        yield served.base


def _synthetic(key: str, rows: int, features: int, seed: int, sid: str) -> dict:
    return {
        f"{ids.DATA_SOURCE}.value": key,
        f"{ids.DATA_SYNTH_ROWS}.value": rows,
        f"{ids.DATA_SYNTH_FEATURES}.value": features,
        f"{ids.DATA_SYNTH_SEED}.value": seed,
        f"{ids.APP_SESSION}.data": sid,
    }


def _load(client: DashClient, values: dict[str, Any]) -> str:
    """Load a dataset as the page does (following the job it may hand over)."""
    out = client.call_chained(
        LOAD, values, changed=[f"{ids.DATA_SOURCE}.value"], chains=CHAINS
    )
    return str(out[ids.DATA_STATUS]["children"])


def _train_body(
    client: DashClient,
    sid: str,
    features: list[str],
    model: str,
    task: str = "classification",
    seed: int = 0,
    **params: Any,
) -> dict:
    values = {
        f"{ids.TRAIN_BUTTON}.n_clicks": 1,
        f"{ids.APP_SESSION}.data": sid,
        f"{ids.TARGET_COLUMN}.value": "target",
        f"{ids.TRAIN_TASK}.value": task,
        f"{ids.TRAIN_FEATURES}.value": features,
        f"{ids.MODEL_NAME}.value": model,
        f"{ids.TRAIN_TEST_SIZE}.value": 0.25,
        f"{ids.TRAIN_STRATIFY}.value": True,
        f"{ids.TRAIN_SEED}.value": seed,
        f"{ids.TRAIN_CV_FOLDS}.value": 0,
    }
    for name, value in params.items():  # the model's parameter inputs (ALL)
        values[prop_id({"type": ids.PARAM_INPUT, "name": name}, "value")] = value
    return client.body(TRAIN, values, changed=[f"{ids.TRAIN_BUTTON}.n_clicks"])


def _start(client: DashClient, body: dict) -> Job:
    """Start a background callback; its job."""
    answer = client.post(body)
    assert answer.status_code == 200, answer.text[:300]
    job = client.job(body, answer.json())
    assert job is not None, answer.text[:300]
    return job


def _poll(client: DashClient, job: Job) -> dict:
    answer = client.poll(job)
    assert answer.status_code in (200, 204), answer.text[:300]
    return {} if answer.status_code == 204 else answer.json()


def test_one_visitors_long_jobs_do_not_make_another_wait(base):
    """Before: a visitor's two long trainings held both slots; another visitor's
    50 ms iris training still said "Queued" after 30 s."""
    abuser, visitor = DashClient(base), DashClient(base)
    heavy, light = new_session_id(), new_session_id()
    status = _load(abuser, _synthetic("classification", 60_000, 10, 1, heavy))
    assert "60,000 rows" in status
    features = [f"x{i}" for i in range(1, 11)]
    bodies = [
        _train_body(abuser, heavy, features, "random_forest", seed=s, n_estimators=1000)
        for s in (1, 2)  # two jobs, told apart by their seed
    ]
    long_jobs = [_start(abuser, body) for body in bodies]
    time.sleep(1)
    second = _poll(abuser, long_jobs[1])
    label = second.get("progress", {}).get(f"{ids.TRAIN_PROGRESS}.label")
    assert label == fair.QUEUED_OWN  # behind its own first job, not in a slot

    iris = {f"{ids.DATA_SOURCE}.value": "iris", f"{ids.APP_SESSION}.data": light}
    assert "150 rows" in _load(visitor, iris)
    started = time.monotonic()
    out = _finish(visitor, _train_body(visitor, light, IRIS, "logistic_regression"))
    waited = time.monotonic() - started
    assert "Run 1: Logistic regression trained" in str(out)
    assert waited < 10, f"the light training took {waited:.1f} s"
    still = _poll(abuser, long_jobs[0])
    assert "response" not in still  # the abuser's first job is still running


def _finish(client: DashClient, body: dict, timeout: float = 60) -> dict:
    job = _start(client, body)
    job.interval = 0.1
    answer = client.follow(job, timeout=timeout)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["response"]


def test_big_generations_leave_the_web_requests_and_health_fast(base):
    """Before: 8 concurrent 1,000,000 × 50 generations ran inside the requests
    (49–78 s each) and /healthz took up to 60 s."""
    client = DashClient(base)
    client.deps  # noqa: B018 - fetched once, before the threads

    def generate(seed: int) -> tuple[float, Any]:
        sid = new_session_id()
        values = _synthetic("classification", 1_000_000, 50, seed, sid)
        started = time.monotonic()
        out = client.call(LOAD, values, changed=[f"{ids.DATA_SOURCE}.value"])
        return time.monotonic() - started, out

    def health(_: int) -> float:
        started = time.monotonic()
        assert requests.get(f"{base}/healthz", timeout=30).ok
        return time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(generate, range(100, 108)))
    with ThreadPoolExecutor(4) as pool:
        healths = list(pool.map(health, range(40)))
    assert max(seconds for seconds, _ in answers) < 3
    for _, out in answers:
        assert out[ids.DATA_JOB]["data"]["kind"] == "bundled"
        assert "Generating the dataset" in str(out[ids.DATA_STATUS])
    assert statistics.median(healths) < 0.2 and max(healths) < 1.0, healths


def test_the_oversized_forest_is_refused_with_what_it_would_need(base):
    """Before: 1,000 unlimited trees on 1,000,000 rows grew ~21 MB/s without bound."""
    client = DashClient(base)
    sid = new_session_id()
    status = _load(client, _synthetic("regression", 1_000_000, 2, 3, sid))
    assert "1,000,000 rows" in status
    body = _train_body(
        client,
        sid,
        ["x1", "x2"],
        "random_forest",
        "regression",
        n_estimators=1000,
        max_depth=None,
        min_samples_leaf=1,
        max_features=1.0,
    )
    started = time.monotonic()
    out = _finish(client, body)
    text = str(out[ids.TRAIN_STATUS]["children"])
    assert "1,000 trees of unlimited depth on 750,000 rows would need about" in text
    assert "this server allows 1.0 GB per job" in text
    assert time.monotonic() - started < 20
