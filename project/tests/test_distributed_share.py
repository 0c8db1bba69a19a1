"""A published run on many instances: two gunicorn instances on one Redis and one
``SHARE_URL``. A link published through one opens on both; revoked through the
other, it answers 404 on both at once."""

from __future__ import annotations

import asyncio
import time

import requests
from test_agents import _calls, _result
from test_distributed import (  # noqa: F401 - fixtures
    Page,
    _click_train,
    _load_bundled,
    _prepare_training,
    _services_stay_up,
    cluster,
)

from app.server.shares import Shares
from app.services import sharing
from app.ui import ids
from tools.dashclient import components, prop_id, text

SHARES = f"{ids.SHARE_LIST}.children"
ROW = {
    "sepal_length_cm": 6.3,
    "sepal_width_cm": 3.3,
    "petal_length_cm": 6.0,
    "petal_width_cm": 2.5,
}


def _answers(link: str) -> list[int]:
    """What the link's page, schema and prediction answer."""
    api = link.replace("/r/", "/api/v1/runs/")
    return [
        requests.get(link, timeout=30).status_code,
        requests.get(api, timeout=30).status_code,
        requests.post(f"{api}/predict", json={"rows": [ROW]}, timeout=30).status_code,
    ]


def test_a_link_revoked_on_one_instance_is_gone_on_every_other_at_once(
    cluster,  # noqa: F811 - the fixture
):
    a, b = cluster.a.base, cluster.b.base
    page = Page(a)
    assert "150 rows" in _load_bundled(page, a, "iris")
    _prepare_training(page, a)
    page.finish(page.follow([a], _click_train(page, a)))

    page.set(ids.SHARE_BUTTON, n_clicks=1)
    job = page.start(a, SHARES, f"{ids.SHARE_BUTTON}.n_clicks")  # on a worker
    shown = page.finish(page.follow([a], job))
    assert "Run 1:" in text(shown[ids.SHARE_LIST])
    path = next(p["href"] for p in components(shown[ids.SHARE_LIST]) if "href" in p)
    assert path.startswith("/r/"), path
    for base in (a, b):  # published on A, open on B too
        assert _answers(base + path) == [200, 200, 200]
    answer = requests.post(
        f"{b}{path.replace('/r/', '/api/v1/runs/')}/predict",
        json={"rows": [ROW]},
        timeout=30,
    )
    assert answer.json()["predictions"] == ["virginica"]

    # The visitor's page goes on on B, which revokes the link.
    revoke = next(
        p["id"]
        for p in components(shown[ids.SHARE_LIST])
        if isinstance(p.get("id"), dict) and p["id"]["type"] == ids.SHARE_REVOKE
    )
    page.set(revoke, n_clicks=1)
    out = page.call(b, SHARES, prop_id(revoke, "n_clicks"))
    revoked = time.monotonic()
    assert "Run 1's link is revoked." in text(out[ids.SHARE_LIST])
    answers = {base: _answers(base + path) for base in (a, b)}
    elapsed = time.monotonic() - revoked
    assert answers == {a: [404, 404, 404], b: [404, 404, 404]}
    assert elapsed < 1.0, f"the six requests after revoking took {elapsed:.2f} s"


def test_an_agents_training_runs_on_a_celery_worker(cluster):  # noqa: F811
    store = cluster.store()
    shares = Shares(str(cluster.root / "shares"))
    key = sharing.create_key(store, shares, "agent-owner-0123456789ab")
    _, (trained, explained) = asyncio.run(
        _calls(
            cluster.a.base,
            key,
            [
                ("train_model", {"dataset": "wine", "model": "logistic_regression"}),
                ("explain_run", {"run": 1, "top": 3}),
            ],
        )
    )
    run = _result(trained)
    assert run["run"] == 1 and run["model"] == "Logistic regression"
    assert len(_result(explained)["features"]) == 3
    assert "agents.train" in cluster.worker.tail(200_000)  # the worker ran it
