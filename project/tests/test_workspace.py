"""'Forget my data': the whole workspace deleted at once, through the callback."""

from __future__ import annotations

import hashlib
import json

import pytest

from app import services
from app.app import create_app
from app.ml import TARGET, TrainConfig
from app.server.store import SessionStore, new_session_id
from app.services import sharing, tuning, workspace
from app.ui import ids
from app.ui.shell import serve_layout

CSV = b"a,b,label\n" + b"".join(
    f"{i},{i % 7},{'yes' if i % 3 else 'no'}\n".encode() for i in range(60)
)


def _train(store: SessionStore, sid: str, target: str = TARGET) -> str:
    features = tuple(c for c in store.dataset(sid)["columns"] if c != target)
    config = TrainConfig(
        target=target,
        features=features,
        task="classification",
        model="logistic_regression",
        cv_folds=0,
        random_state=0,
    )
    run_id, _ = services.train(store, sid, config)
    return run_id


def _keys_of(store: SessionStore, sid: str) -> list[str]:
    """The store's keys that name the session (its id or the digest of it)."""
    digest = hashlib.sha256(sid.encode()).hexdigest()[:20]
    found = []
    for key in store.backend.cache.iterkeys():
        value = store.backend.get(key)
        text = key + (json.dumps(value, default=str) if isinstance(value, dict) else "")
        if sid in text or digest in text:
            found.append(key)
    return found


def _forget_body(sid: str, clicks: int = 1) -> dict:
    return {
        "output": f"..{ids.FORGET_BODY}.children...{ids.FORGET_CONFIRM}.disabled"
        f"...{ids.FORGET_CANCEL}.disabled..",
        "outputs": [
            {"id": ids.FORGET_BODY, "property": "children"},
            {"id": ids.FORGET_CONFIRM, "property": "disabled"},
            {"id": ids.FORGET_CANCEL, "property": "disabled"},
        ],
        "inputs": [{"id": ids.FORGET_CONFIRM, "property": "n_clicks", "value": clicks}],
        "state": [{"id": ids.APP_SESSION, "property": "data", "value": sid}],
        "changedPropIds": [f"{ids.FORGET_CONFIRM}.n_clicks"],
    }


@pytest.fixture
def app(settings):
    return create_app(settings)


def test_forget_my_data_deletes_the_workspace_and_says_what_went(app, settings):
    store = SessionStore.from_settings(settings)
    shares = app.server.extensions["shares"]
    sid, other = new_session_id(), new_session_id()
    services.load_file(store, settings, sid, CSV, "mine.csv")
    uploaded = store.dataset(sid)["frame"]
    _train(store, sid, target="label")
    services.load_dataset(store, sid, "iris", {})
    run_id = _train(store, sid)
    token, _ = sharing.publish(store, shares, sid, run_id)
    key = sharing.create_key(store, shares, sid)
    tuning._save(store, sid, {"state": "done"})
    services.load_dataset(store, other, "iris", {})  # another visitor, same data
    theirs = _train(store, other)
    client = app.server.test_client()
    assert client.get(f"/r/{token}").status_code == 200

    answer = client.post("/_dash-update-component", json=_forget_body(sid))

    assert answer.status_code == 200
    out = answer.get_json()["response"]
    said = json.dumps(out[ids.FORGET_BODY]["children"])
    assert (
        "Your data was deleted from this server: 2 datasets, 2 runs, 1 published "
        "link and 1 API key." in said
    )
    assert out[ids.FORGET_CONFIRM]["disabled"] and out[ids.FORGET_CANCEL]["disabled"]
    assert '"href": "/"' in said  # the way back: the page opened again, empty
    assert store.run_ids(sid) == [] and services.current_dataset(store, sid) is None
    assert tuning.latest_search(store, sid) is None
    assert not store.has_frame(uploaded)  # held by nobody else: deleted
    assert _keys_of(store, sid) == []
    assert client.get(f"/r/{token}").status_code == 404
    assert shares.key_owner(key) is None
    # The other visitor keeps everything, the shared iris frame included.
    assert store.run_ids(other) == [theirs]
    assert store.dataset_frame(other)[1].shape == (150, 5)


def test_forgetting_an_empty_workspace_says_so(store, sid):
    said = workspace.forget(store, None, sid)
    assert said.startswith("Your data was deleted from this server: 0 datasets and 0")


def test_a_forged_session_is_refused_politely_and_nothing_is_deleted(app, settings):
    store = SessionStore.from_settings(settings)
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    client = app.server.test_client()
    answer = client.post("/_dash-update-component", json=_forget_body("../" + sid))
    assert answer.status_code == 200
    out = answer.get_json()["response"]
    assert "session is not valid" in json.dumps(out[ids.FORGET_BODY]["children"])
    assert services.current_dataset(store, sid) is not None


def test_the_storage_failing_deletes_nothing_and_says_so(app, settings, monkeypatch):
    store = SessionStore.from_settings(settings)
    shares = app.server.extensions["shares"]
    sid = new_session_id()
    services.load_dataset(store, sid, "iris", {})
    token, _ = sharing.publish(store, shares, sid, _train(store, sid))

    def fails(*args, **kwargs):
        raise OSError("the bucket did not answer")

    monkeypatch.setattr(shares, "revoke", fails)
    client = app.server.test_client()
    answer = client.post("/_dash-update-component", json=_forget_body(sid))
    assert answer.status_code == 200
    out = answer.get_json()["response"]
    assert "Nothing was deleted" in json.dumps(out[ids.FORGET_BODY]["children"])
    assert not out[ids.FORGET_CONFIRM]["disabled"]  # it can be tried again
    assert len(store.run_ids(sid)) == 1 and store.shares(sid)[0]["token"] == token


def test_the_session_id_lives_in_the_browsers_local_storage(settings):
    layout = serve_layout(settings)
    stores = [c for c in layout.children if getattr(c, "id", None) == ids.APP_SESSION]
    assert stores and stores[0].storage_type == "local"
