"""Published runs: the durable store behind the links, and the prediction API
(through the Flask app, checked against its own OpenAPI document)."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
from gcs_fixture import BUCKET, gcs_emulator  # noqa: F401 - a fixture

from app import services
from app.app import create_app
from app.ml import TARGET, TrainConfig
from app.ml.predict import model_from_skops
from app.server.shares import ShareNotFound, Shares, valid_token
from app.server.store import SessionStore, new_session_id
from app.services import sharing

TOKEN_CHARS = 32


@pytest.fixture(params=["local", "memory", "gcs"])
def shares(request, tmp_path):
    folder = f"shares-{os.urandom(4).hex()}"
    if request.param == "local":
        return Shares(str(tmp_path / folder))
    if request.param == "memory":
        return Shares(f"memory://{folder}")
    request.getfixturevalue("gcs_emulator")  # a bucket on a local Cloud Storage API
    return Shares(f"gs://{BUCKET}/{folder}", token="anon")


def test_a_published_run_is_read_back_and_revoked_only_by_its_owner(shares):
    token = shares.publish("owner-sid", {"a.json": b"{}", "b.bin": b"\0\1"}, {"n": 1})
    assert valid_token(token) and len(token) == TOKEN_CHARS
    assert shares.read(token, "b.bin") == b"\0\1"
    manifest = shares.manifest(token)
    assert manifest["files"] == {"a.json": 2, "b.bin": 2} and manifest["about"] == {
        "n": 1
    }
    assert "owner-sid" not in json.dumps(manifest)  # only its hash
    names = shares.fs.find(shares.root)
    assert names and not any(token in name for name in names)  # hashed names
    with pytest.raises(ShareNotFound):
        shares.read(token, "c.txt")  # not one of its files
    assert shares.revoke(token, "someone-else") is False
    assert shares.read(token, "a.json") == b"{}"
    assert shares.revoke(token, "owner-sid") is True
    with pytest.raises(ShareNotFound):
        shares.manifest(token)
    assert shares.fs.find(shares.root) == []  # nothing left behind


@pytest.mark.parametrize("token", ["", "../../etc/passwd", "a" * 31, "a/" * 16, None])
def test_a_malformed_token_is_simply_not_found(shares, token):
    with pytest.raises(ShareNotFound):
        shares.manifest(token)


def test_file_names_are_checked(shares):
    for name in ("../x", "manifest.json", "A.json", ""):
        with pytest.raises(ValueError):
            shares.publish("o", {name: b""}, {})


@pytest.fixture(params=["local", "gcs"])
def app_and_sid(request, settings, sid):
    """The app, a session and its run 1 (iris), with published runs kept in a
    local directory, or in a bucket of a local Cloud Storage API."""
    import dataclasses

    if request.param == "gcs":
        request.getfixturevalue("gcs_emulator")
        folder = f"gs://{BUCKET}/app-{os.urandom(4).hex()}"
        settings = dataclasses.replace(settings, share_url=folder)
    app = create_app(settings)
    store = SessionStore.from_settings(settings)
    run_id, report = _iris_run(store, sid, folds=3)
    return app, store, sid, run_id, report


def _iris_run(store, sid, folds):
    """A logistic regression trained on iris in the session: (run id, report)."""
    services.load_dataset(store, sid, "iris", {})
    features = tuple(c for c in store.dataset(sid)["columns"] if c != TARGET)
    config = TrainConfig(
        target=TARGET,
        features=features,
        task="classification",
        model="logistic_regression",
        cv_folds=folds,
        random_state=0,
    )
    return services.train(store, sid, config)


def _openapi(client):
    from openapi_core import OpenAPI

    document = client.get("/api/v1/openapi.json").get_json()
    return OpenAPI.from_dict(document)


def _checked(api, client, method, path, **kwargs):
    """The response, checked (request and response) against the OpenAPI document."""
    from openapi_core.contrib.werkzeug import (
        WerkzeugOpenAPIRequest,
        WerkzeugOpenAPIResponse,
    )
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    response = getattr(client, method)(path, **kwargs)
    environ = EnvironBuilder(path=path, method=method.upper(), **kwargs).get_environ()
    request = WerkzeugOpenAPIRequest(Request(environ))
    api.validate_response(request, WerkzeugOpenAPIResponse(response))
    return response


def test_the_api_gives_a_published_runs_schema_and_predictions(app_and_sid, caplog):
    app, store, sid, run_id, report = app_and_sid
    shares = app.server.extensions["shares"]
    caplog.set_level(logging.INFO)
    token, _ = sharing.publish(store, shares, sid, run_id)
    client = app.server.test_client()
    api = _openapi(client)

    got = _checked(api, client, "get", f"/api/v1/runs/{token}")
    schema = got.get_json()
    assert got.status_code == 200 and schema["task"] == "classification"
    assert schema["run"] == report["number"] and schema["target"] == TARGET
    names = [f["name"] for f in schema["features"]]
    assert names == list(report["config"]["features"])
    assert {f["type"] for f in schema["features"]} == {"number"}
    assert schema["classes"] == report["classes"]
    holdout = {m["name"]: m["holdout"] for m in schema["metrics"]}
    assert holdout["accuracy"] == next(
        m["holdout"] for m in report["metrics"] if m["name"] == "accuracy"
    )

    frame = store.get_frame(store.dataset(sid)["frame"]).head(5)
    rows = frame.drop(columns=[TARGET]).to_dict(orient="records")
    rows[0]["extra"] = "ignored"
    got = _checked(
        api, client, "post", f"/api/v1/runs/{token}/predict", json={"rows": rows}
    )
    body = got.get_json()
    assert got.status_code == 200, body
    model = store.model(sid, run_id)
    expected = model.predict(frame.drop(columns=[TARGET]))
    assert body["predictions"] == expected.tolist()
    proba = model.predict_proba(frame.drop(columns=[TARGET]))
    for row, want in zip(body["probabilities"], proba):
        assert [row[c] for c in body["classes"]] == pytest.approx(list(want), abs=1e-12)
    assert body["notes"] == ["Ignored 1 column(s) the model does not use."]

    csv = frame.to_csv(index=False).encode()
    got = client.post(
        f"/api/v1/runs/{token}/predict", data=csv, content_type="text/csv"
    )
    assert got.status_code == 200
    assert got.get_json()["predictions"] == expected.tolist()
    assert "POST /api/v1/runs/…/predict 200" in caplog.text  # the access log
    assert token not in caplog.text  # never logged


@pytest.mark.parametrize(
    "body, kind, status, says",
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b'{"rows": 3}', "application/json", 422, 'Send JSON of the form {"rows"'),
        (b'{"rows": []}', "application/json", 422, "no rows"),
        (b'{"rows": [{"sepal_length_cm": 1}]}', "application/json", 422, "lacks 3"),
        (b"a,b\n1,2\n", "text/csv", 422, "lacks 4 column(s)"),
        (b"rows", "text/plain", 415, "JSON (application/json) or CSV"),
        (b'{"rows": [' + b"{}," * 3_000_000 + b"{}]}", "application/json", 413, ""),
    ],
)
def test_bad_requests_get_a_json_error(app_and_sid, body, kind, status, says):
    app, store, sid, run_id, _ = app_and_sid
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    client = app.server.test_client()
    got = client.post(f"/api/v1/runs/{token}/predict", data=body, content_type=kind)
    assert got.status_code == status
    assert says in got.get_json()["error"]


def test_too_many_rows_are_refused(app_and_sid):
    app, store, sid, run_id, _ = app_and_sid
    token, _ = sharing.publish(store, app.server.extensions["shares"], sid, run_id)
    rows = [{"sepal_length_cm": 1.0}] * 10_001
    got = app.server.test_client().post(
        f"/api/v1/runs/{token}/predict", json={"rows": rows}
    )
    assert got.status_code == 422
    assert "10,001 rows is more than the 10,000" in got.get_json()["error"]


def test_a_revoked_link_answers_404_at_once(app_and_sid):
    app, store, sid, run_id, _ = app_and_sid
    shares = app.server.extensions["shares"]
    token, _ = sharing.publish(store, shares, sid, run_id)
    client = app.server.test_client()
    rows = {"rows": [{"sepal_length_cm": 5.0}]}
    assert client.post(f"/api/v1/runs/{token}/predict", json=rows).status_code == 422
    (link,) = sharing.links(store, shares, sid)
    assert (link["token"], link["number"], link["private"]) == (token, 1, False)
    other = new_session_id()
    assert sharing.revoke(store, shares, other, token) is False
    assert sharing.revoke(store, shares, sid, token) is True
    assert sharing.links(store, shares, sid) == []
    for path in (f"/api/v1/runs/{token}", f"/api/v1/runs/{token}/predict"):
        method = client.get if path.endswith(token) else client.post
        got = method(path, json=rows)
        assert (
            got.status_code == 404 and "No run is published" in got.get_json()["error"]
        )


def test_a_response_unlike_the_document_fails_the_check(app_and_sid):
    from openapi_core.contrib.werkzeug import (
        WerkzeugOpenAPIRequest,
        WerkzeugOpenAPIResponse,
    )
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request, Response

    api = _openapi(app_and_sid[0].server.test_client())
    path = "/api/v1/runs/" + "a" * TOKEN_CHARS
    request = WerkzeugOpenAPIRequest(Request(EnvironBuilder(path=path).get_environ()))
    wrong = Response(json.dumps({"run": "one"}), mimetype="application/json")
    with pytest.raises(Exception, match="validation|Invalid|invalid"):
        api.validate_response(request, WerkzeugOpenAPIResponse(wrong))


def test_the_openapi_document_is_valid_and_names_every_route(app_and_sid):
    from openapi_spec_validator import validate

    app = app_and_sid[0]
    document = app.server.test_client().get("/api/v1/openapi.json").get_json()
    validate(document)
    routes = {
        (rule.rule, method)
        for rule in app.server.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/runs")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        ("/api/v1" + path.replace("{token}", "<token>"), method.upper())
        for path, item in document["paths"].items()
        for method in item
    }
    assert routes == documented


def test_the_published_code_and_report_are_the_runs(app_and_sid):
    app, store, sid, run_id, report = app_and_sid
    shares = app.server.extensions["shares"]
    token, _ = sharing.publish(store, shares, sid, run_id)
    assert shares.read(token, sharing.CODE_FILE).decode() == services.code_file(
        store, sid, run_id
    )
    kept = sharing.published_run(shares, token)
    assert kept["number"] == report["number"] and kept["metrics"] == json.loads(
        json.dumps(sharing._finite(report["metrics"]))
    )
    model = shares.cached(token, sharing.MODEL_FILE, model_from_skops)
    frame = store.get_frame(store.dataset(sid)["frame"]).drop(columns=[TARGET])
    assert (model.predict(frame) == store.model(sid, run_id).predict(frame)).all()
    # The explanation the Explain tab shows, in the files and in the report.
    explained = json.loads(shares.read(token, sharing.EXPLAIN_FILE))["permutation"]
    shown = services.explanation(store, sid, run_id, "permutation")
    assert explained["features"] == shown["features"]
    assert explained["mean"] == pytest.approx(shown["mean"], abs=1e-12)
    page = shares.read(token, sharing.REPORT_FILE).decode()
    assert "Permutation importance" in page and "Permutation importance" not in (
        services.report_file(store, sid, run_id)
    )


def test_a_links_page_shows_the_run_read_only_with_its_downloads(app_and_sid):
    app, store, sid, run_id, report = app_and_sid
    shares = app.server.extensions["shares"]
    token, _ = sharing.publish(store, shares, sid, run_id)
    client = app.server.test_client()
    page = client.get(f"/r/{token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert f"Run {report['number']}: Logistic regression" in text
    assert f'src="/r/{token}/report.html?view=1"' in text
    framed = client.get(f"/r/{token}/report.html?view=1")
    policy = framed.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox allow-scripts;") and "'self'" in policy
    assert framed.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert framed.get_data() == shares.read(token, sharing.REPORT_FILE)
    model = client.get(f"/r/{token}/model.skops")
    assert model.headers["Content-Disposition"] == (
        'attachment; filename="model-run-1.skops"'
    )
    frame = store.get_frame(store.dataset(sid)["frame"]).drop(columns=[TARGET])
    loaded = model_from_skops(model.get_data())
    assert (loaded.predict(frame) == store.model(sid, run_id).predict(frame)).all()
    assert client.get(f"/r/{token}/secrets.txt").status_code == 404
    assert client.get(f"/r/{token}/code.py").get_data(as_text=True) == (
        services.code_file(store, sid, run_id)
    )
    sharing.revoke(store, shares, sid, token)
    for path in (f"/r/{token}", f"/r/{token}/model.skops"):
        assert client.get(path).status_code == 404


def test_with_a_login_the_app_is_closed_but_a_link_and_its_api_are_open(
    settings, sid, tmp_path
):
    import dataclasses

    from werkzeug.security import generate_password_hash

    users = f"ada:{generate_password_hash('correct horse battery')}"
    locked = create_app(dataclasses.replace(settings, auth_users=users))
    store = SessionStore.from_settings(settings)
    run_id, _ = _iris_run(store, sid, folds=0)
    token, _ = sharing.publish(store, locked.server.extensions["shares"], sid, run_id)
    client = locked.server.test_client()
    assert client.get("/").status_code == 401
    assert client.get(f"/r/{token}").status_code == 200
    assert client.get("/assets/00-bootstrap.min.css").status_code == 200
    assert client.get(f"/api/v1/runs/{token}").status_code == 200
    assert client.get("/api/v1/runs/" + "b" * TOKEN_CHARS).status_code == 404


def test_the_share_button_publishes_the_shown_run_and_revoke_removes_it(
    app_and_sid, settings, monkeypatch
):
    from app.ui.tabs import export as export_tab

    app, store, sid, run_id, _ = app_and_sid
    shares = app.server.extensions["shares"]
    export = export_tab.ExportCallbacks(store, settings, shares)

    def text(shown):
        return json.dumps(
            shown, default=lambda c: c.to_plotly_json(), ensure_ascii=False
        )

    shown = export.publish(1, False, run_id, sid)
    (link,) = store.shares(sid)
    assert f"/r/{link['token']}" in text(shown) and "Run 1: " in text(shown)
    key = {"type": "share-revoke", "key": link["token"][:8]}
    monkeypatch.setattr(export_tab, "triggered_id", lambda: key)
    assert "Run 1's link is revoked." in text(export.revoke([1], sid))
    assert store.shares(sid) == []
    with pytest.raises(ShareNotFound):
        shares.manifest(link["token"])
    assert "already revoked" in text(export.revoke([1], sid))

    shown = text(export.publish(1, True, run_id, sid))
    assert "(needs a key)" in shown
    shown = text(export.new_key(1, sid))
    (kept,) = store.keys(sid)
    key = re.search(r"dk_[A-Za-z0-9_-]{43}", shown).group(0)
    assert key.startswith("dk_") and kept["hint"] == key[:7] + "…"
    assert key not in text(export.publish(1, True, run_id, sid))  # shown once
    private = store.shares(sid)[-1]["token"]
    assert shares.allows(private, key) and not shares.allows(private, None)
    monkeypatch.setattr(
        export_tab,
        "triggered_id",
        lambda: {"type": "share-key-revoke", "key": kept["id"][:12]},
    )
    assert f"API key {kept['hint']} is revoked." in text(export.revoke_key([1], sid))
    assert not shares.allows(private, key)


def test_a_private_runs_api_needs_a_key_of_its_owner(app_and_sid):
    app, store, sid, run_id, _ = app_and_sid
    shares = app.server.extensions["shares"]
    token, _ = sharing.publish(store, shares, sid, run_id, private=True)
    public, _ = sharing.publish(store, shares, sid, run_id)
    client = app.server.test_client()
    api = _openapi(client)
    path = f"/api/v1/runs/{token}"
    refused = _checked(api, client, "get", path)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    key = sharing.create_key(store, shares, sid)
    assert key.startswith("dk_") and len(key) == 46
    (kept,) = store.keys(sid)
    assert key not in json.dumps(store.session(sid))  # only its hint and hash id
    assert key not in json.dumps(shares.fs.find(shares.root, detail=True), default=str)
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        answer = _checked(api, client, "get", path, headers=headers)
        assert answer.status_code == 200 and answer.get_json()["run"] == 1
    other_key = sharing.create_key(store, shares, new_session_id())
    wrong = _checked(api, client, "get", path, headers={"X-API-Key": other_key})
    assert wrong.status_code == 403
    forged = _checked(api, client, "get", path, headers={"X-API-Key": "dk_" + "a" * 43})
    assert forged.status_code == 403
    rows = {"rows": [{"sepal_length_cm": 5.0}]}
    assert client.post(f"{path}/predict", json=rows).status_code == 401
    answer = client.post(f"{path}/predict", json=rows, headers={"X-API-Key": key})
    assert answer.status_code == 422  # past the key, to the rows
    assert client.get(f"/api/v1/runs/{public}").status_code == 200  # no key needed
    assert sharing.revoke_key(store, shares, new_session_id(), kept["id"]) is False
    assert sharing.revoke_key(store, shares, sid, kept["id"]) is True
    assert store.keys(sid) == []
    assert client.get(path, headers={"X-API-Key": key}).status_code == 403


def test_the_api_is_rate_limited_per_key_or_client(app_and_sid, settings):
    import dataclasses

    app, store, sid, run_id, _ = app_and_sid
    tight = create_app(dataclasses.replace(settings, api_rate_per_minute=3))
    shares = tight.server.extensions["shares"]
    token, _ = sharing.publish(store, shares, sid, run_id)
    client = tight.server.test_client()
    path = f"/api/v1/runs/{token}"
    assert [client.get(path).status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = client.get(path)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "Too many requests" in limited.get_json()["error"]
    key = sharing.create_key(store, shares, sid)  # a key is counted on its own
    assert client.get(path, headers={"X-API-Key": key}).status_code == 200


def test_published_runs_count_in_the_owners_quota_until_revoked(app_and_sid):
    app, store, sid, run_id, _ = app_and_sid
    shares = app.server.extensions["shares"]
    services.explanation(store, sid, run_id, "permutation")  # kept with the run
    before = store.usage(sid)
    token, notice = sharing.publish(store, shares, sid, run_id)
    files = (sharing.RUN_FILE, sharing.MODEL_FILE, sharing.REPORT_FILE)
    files += (sharing.CODE_FILE, sharing.EXPLAIN_FILE)
    published = sum(len(shares.read(token, name)) for name in files)
    assert notice == "" and store.usage(sid) == before + published
    sharing.revoke(store, shares, sid, token)
    assert store.usage(sid) == before


def test_a_published_run_makes_room_or_is_refused_whole(settings, sid, tmp_path):
    from app.server.store import QuotaExceeded

    store = SessionStore.from_settings(settings)
    shares = Shares(str(tmp_path / "links"))
    first, _ = _iris_run(store, sid, folds=0)
    second, _ = _iris_run(store, sid, folds=0)  # the same data: held once
    token, _ = sharing.publish(store, shares, sid, second)
    size = store.shares(sid)[0]["bytes"]
    sharing.revoke(store, shares, sid, token)

    store.quota = store.usage(sid) + size - 1  # one byte short: run 1 goes
    token, notice = sharing.publish(store, shares, sid, second)
    assert "Run 1 was removed" in notice, notice
    assert store.run_ids(sid) == [second] and shares.manifest(token)

    store.quota = store.usage(sid) + size // 2  # not even alone: refused whole
    with pytest.raises(QuotaExceeded, match="This published run .* needs"):
        sharing.publish(store, shares, sid, second)
    assert [s["token"] for s in store.shares(sid)] == [token]
    manifests = [p for p in shares.fs.find(shares.root) if p.endswith("manifest.json")]
    assert len(manifests) == 1  # the refused one left nothing published
    del first


def test_a_session_holds_at_most_so_many_links_and_keys(app_and_sid, monkeypatch):
    from app.server.store import QuotaExceeded

    app, store, sid, run_id, _ = app_and_sid
    shares = app.server.extensions["shares"]
    monkeypatch.setattr(SessionStore, "MAX_SHARES", 2)
    tokens = [sharing.publish(store, shares, sid, run_id)[0] for _ in range(2)]
    with pytest.raises(QuotaExceeded, match="2 published links.*revoke one first"):
        sharing.publish(store, shares, sid, run_id)
    manifests = [p for p in shares.fs.find(shares.root) if p.endswith("manifest.json")]
    assert len(manifests) == 2  # none left behind that nobody could revoke
    sharing.revoke(store, shares, sid, tokens[0])
    assert sharing.publish(store, shares, sid, run_id)[0]

    keys = [sharing.create_key(store, shares, sid) for _ in range(2)]
    with pytest.raises(QuotaExceeded, match="2 API keys"):
        sharing.create_key(store, shares, sid)
    assert all(shares.key_owner(k) for k in keys)
    assert len(shares.fs.find(f"{shares.root}/keys")) == 2


def test_the_share_button_says_why_not_one_more_link(
    app_and_sid, settings, monkeypatch
):
    from app.ui.tabs import export as export_tab

    app, store, sid, run_id, _ = app_and_sid
    export = export_tab.ExportCallbacks(
        store, settings, app.server.extensions["shares"]
    )
    monkeypatch.setattr(SessionStore, "MAX_SHARES", 1)
    export.publish(1, False, run_id, sid)
    shown = json.dumps(
        export.publish(2, False, run_id, sid), default=lambda c: c.to_plotly_json()
    )
    assert "revoke one first" in shown and "Run 1: " in shown  # the link still listed
