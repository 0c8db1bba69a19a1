"""The page of a published run, ``/r/<token>``: what-if and batch prediction
give what the app gives for the same run; bad input is a sentence on the page."""

from __future__ import annotations

import dataclasses
import io
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest
from test_shares import _iris_run

from app import services
from app.app import create_app
from app.ml import TARGET, TrainConfig
from app.server.store import SessionStore
from app.services import sharing
from app.viewer import FIELD, form_fields


@pytest.fixture
def app_and_sid(settings, sid):
    """The app, a session and its run 1 (iris); links kept in a local folder
    (the bucket's path is tested with the API's tests)."""
    app = create_app(settings)
    store = SessionStore.from_settings(settings)
    run_id, report = _iris_run(store, sid, folds=3)
    return app, store, sid, run_id, report


def _page_text(response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def _fields(html: str) -> dict[str, str]:
    """The what-if form's inputs and selected options: name -> value."""
    found = dict(
        re.findall(r'name="x\.([^"]+)"\s+type="[a-z]+"[^>]*value="([^"]*)"', html)
    )
    for name, body in re.findall(
        r'<select[^>]*name="x\.([^"]+)">(.*?)</select>', html, re.S
    ):
        found[name] = re.search(r'value="([^"]*)" selected', body).group(1)
    return {unescape(k): unescape(v) for k, v in found.items()}


def test_the_pages_what_if_predicts_as_the_app_does(app_and_sid):
    app, store, sid, run_id, report = app_and_sid
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    client = app.server.test_client()
    page = client.get(f"/r/{token}")
    html = page.get_data(as_text=True)
    defaults = _fields(html)
    assert list(defaults) == [i["name"] for i in report["inputs"]]
    assert 'id="whatif-result"' not in html  # nothing predicted yet

    values = dict(defaults, **{report["inputs"][0]["name"]: "6.9"})
    values[report["inputs"][2]["name"]] = "99"  # far outside training
    asked = client.get(
        f"/r/{token}",
        query_string={"predict": "1", **{FIELD + k: v for k, v in values.items()}},
    )
    assert asked.status_code == 200
    _, expected = services.whatif(store, sid, run_id, values)
    text = _page_text(asked)
    assert f"Prediction: {expected['prediction']}" in " ".join(text.split())
    best = max(expected["probabilities"].values())
    assert f"{best * 100:.1f}%" in text
    (note,) = expected["notes"].values()
    assert "outside the training range" in note and note in " ".join(text.split())
    assert _fields(asked.get_data(as_text=True)) == values  # the form keeps them


def test_the_pages_batch_prediction_returns_the_apps_csv(app_and_sid, settings):
    app, store, sid, run_id, _ = app_and_sid
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    client = app.server.test_client()
    frame = store.get_frame(store.dataset(sid)["frame"]).head(40)
    content = frame.drop(columns=[TARGET]).to_csv(index=False).encode()

    got = client.post(
        f"/r/{token}/predictions",
        data={"file": (io.BytesIO(content), "rows.csv")},
        content_type="multipart/form-data",
    )
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert "predictions-run-1.csv" in got.headers["Content-Disposition"]
    expected, rows, _ = services.predict_file(
        store, settings, sid, run_id, content, "rows.csv"
    )
    assert rows == 40 and got.get_data() == expected


@pytest.mark.parametrize(
    "content, status, says",
    [
        (b"a,b\n1,2\n", 422, "lacks 4 column(s)"),
        (b"\x00\x01\x02 not a table", 422, "does not look like a text table"),
        (None, 400, "Choose a file of rows first."),
        (b"x" * (5 * 1024 * 1024 + 10), 413, "larger than the 5 MB"),
    ],
)
def test_a_bad_file_is_a_sentence_on_the_page(app_and_sid, content, status, says):
    app, store, sid, run_id, _ = app_and_sid
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    client = app.server.test_client()
    data = {} if content is None else {"file": (io.BytesIO(content), "rows.csv")}
    got = client.post(
        f"/r/{token}/predictions", data=data, content_type="multipart/form-data"
    )
    assert got.status_code == status
    assert got.mimetype == "text/html"
    assert says in " ".join(_page_text(got).split())
    assert "Traceback" not in got.get_data(as_text=True)


def test_too_many_rows_are_refused_on_the_page(settings, sid):
    few = dataclasses.replace(settings, api_max_rows=10)
    app = create_app(few)
    store = SessionStore.from_settings(few)
    run_id, _ = _iris_run(store, sid, folds=0)
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    frame = store.get_frame(store.dataset(sid)["frame"]).head(11)
    got = app.server.test_client().post(
        f"/r/{token}/predictions",
        data={"file": (io.BytesIO(frame.to_csv(index=False).encode()), "r.csv")},
        content_type="multipart/form-data",
    )
    assert got.status_code == 422
    assert "more than the 10 a request may hold" in _page_text(got)


def test_a_revoked_links_page_and_predictions_are_gone(app_and_sid):
    app, store, sid, run_id, _ = app_and_sid
    shares = app.server.extensions["shares"]
    token, _ = sharing.publish(store, shares, sid, run_id)
    client = app.server.test_client()
    sharing.revoke(store, shares, sid, token)
    assert client.get(f"/r/{token}?predict=1").status_code == 404
    got = client.post(
        f"/r/{token}/predictions",
        data={"file": (io.BytesIO(b"a\n1\n"), "r.csv")},
        content_type="multipart/form-data",
    )
    assert got.status_code == 404


def test_the_pages_predictions_count_in_the_apis_rate(settings, sid):
    tight = dataclasses.replace(settings, api_rate_per_minute=3)
    app = create_app(tight)
    store = SessionStore.from_settings(tight)
    run_id, _ = _iris_run(store, sid, folds=0)
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    client = app.server.test_client()
    assert client.get(f"/r/{token}").status_code == 200  # viewing is not counted
    codes = [client.get(f"/r/{token}?predict=1").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert client.get(f"/api/v1/runs/{token}").status_code == 429  # same client
    limited = client.get(f"/r/{token}?predict=1")
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_a_mixed_runs_form_offers_categories_yes_no_and_dates(settings, sid):
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 2, n).round(2),
            "colour": rng.choice(["red", "green", "blue"], n),
            "member": rng.choice([True, False], n),
            "joined": pd.date_range("2024-01-01", periods=n, freq="D"),
            "bought": rng.choice(["yes", "no"], n),
        }
    )
    app = create_app(settings)
    store = SessionStore.from_settings(settings)
    services.load_file(
        store, settings, sid, frame.to_csv(index=False).encode(), "m.csv"
    )
    features = tuple(c for c in store.dataset(sid)["columns"] if c != "bought")
    config = TrainConfig(
        target="bought",
        features=features,
        task="classification",
        model="logistic_regression",
        cv_folds=0,
        random_state=0,
    )
    run_id, report = services.train(store, sid, config)
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    client = app.server.test_client()
    html = client.get(f"/r/{token}").get_data(as_text=True)
    assert re.search(r'<select[^>]*name="x\.colour">', html)
    assert re.search(r'<select[^>]*name="x\.member">', html)
    assert re.search(r'name="x\.joined"\s+type="text"', html)
    values = {
        "size": "11",
        "colour": "purple",
        "member": "False",
        "joined": "2024-02-03",
    }
    asked = client.get(
        f"/r/{token}",
        query_string={"predict": "1", **{FIELD + k: v for k, v in values.items()}},
    )
    _, expected = services.whatif(store, sid, run_id, values)
    text = " ".join(_page_text(asked).split())
    assert f"Prediction: {expected['prediction']}" in text
    assert expected["notes"]["colour"] in text  # a value never seen, said so


def test_form_fields_keep_what_was_sent_and_fill_the_rest():
    inputs = [
        {"name": "n", "kind": "number", "default": 1.5, "min": 0.0, "max": 3.0},
        {"name": "c", "kind": "category", "default": "a", "options": ["a", "b"]},
        {"name": "b", "kind": "bool", "default": True, "options": ["True", "False"]},
    ]
    fields = form_fields(inputs, {"c": "zzz"}, {"c": "never seen"})
    assert [f["value"] for f in fields] == ["1.5", "zzz", "True"]
    assert (
        fields[1]["choices"] == ["a", "b", "zzz"] and fields[1]["note"] == "never seen"
    )
    assert fields[0]["help"] == "0 to 3 in training"


def test_the_page_has_the_apps_security_headers_and_no_script(app_and_sid):
    app, store, sid, run_id, _ = app_and_sid
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    client = app.server.test_client()
    for page in (client.get(f"/r/{token}"), client.get(f"/r/{token}?predict=1")):
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert "<script" not in page.get_data(as_text=True)
