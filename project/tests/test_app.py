"""The app through HTTP (Flask test client): pages, health, callback endpoint."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.app import create_app
from app.server.store import new_session_id, valid_session_id
from app.ui import ids

PROJECT = Path(__file__).resolve().parents[1]

CONTRACT_IDS = [
    ids.DATA_SOURCE,
    ids.DATA_UPLOAD,
    ids.DATA_STATUS,
    ids.TARGET_COLUMN,
    ids.MODEL_NAME,
    ids.TRAIN_BUTTON,
    ids.METRICS_TABLE,
    ids.RUNS_TABLE,
]


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.server.test_client()


def test_healthz_answers_ok_without_touching_models(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_index_page_is_served_compressed(client):
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == "gzip"
    plain = client.get("/")
    assert b"Dashboard" in plain.data


def test_layout_holds_every_contract_id_and_a_fresh_session(client):
    first = client.get("/_dash-layout").get_data(as_text=True)
    second = client.get("/_dash-layout").get_data(as_text=True)
    for component_id in CONTRACT_IDS:
        assert f'"{component_id}"' in first
    session_a = json.loads(first)
    session_b = json.loads(second)
    assert (
        _find(session_a, ids.APP_SESSION)["data"]
        != _find(session_b, ids.APP_SESSION)["data"]
    )


def test_each_layout_load_plain_or_gzip_is_the_same_page_with_a_new_session(client):
    plain = client.get("/_dash-layout")
    assert "Content-Encoding" not in plain.headers
    answers = [
        client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})
        for _ in range(2)
    ]
    pages = [json.loads(plain.get_data(as_text=True))]
    for answer in answers:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in answer.headers["Vary"]
        pages.append(json.loads(gzip.decompress(answer.data)))
    sessions = [_find(page, ids.APP_SESSION)["data"] for page in pages]
    assert len(set(sessions)) == 3 and all(valid_session_id(s) for s in sessions)
    for page in pages[1:]:
        _find(page, ids.APP_SESSION)["data"] = sessions[0]
        assert page == pages[0]


def test_importing_the_app_module_builds_nothing(tmp_path):
    """gunicorn serves the factory ``app.app:create_server()``: importing the module
    creates no file (not even the secret key) and starts no thread or process."""
    cache = tmp_path / "cache"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(
        os.environ,
        CACHE_DIR=str(cache),
        TMPDIR=str(scratch),
        PYTHONDONTWRITEBYTECODE="1",
    )
    for var in ("REDIS_URL", "SECRET_KEY"):
        env.pop(var, None)
    imported = _run_python(IMPORT_APP, env)
    assert not cache.exists() and not any(scratch.iterdir())
    assert imported["threads"] == ["MainThread"]
    assert imported["children"] == []
    assert "server" not in imported["names"] and "app" not in imported["names"]
    # Native threads: only those its libraries start when imported (OpenBLAS's
    # pool, Arrow's allocator), none more.
    libraries = _run_python(IMPORT_LIBRARIES, env, *imported["libraries"])
    assert imported["native_threads"] == libraries["native_threads"]


IMPORT_APP = """
import json, os, sys, threading
import psutil
import app.app
print(json.dumps({
    "threads": [t.name for t in threading.enumerate()],
    "children": [p.pid for p in psutil.Process().children(recursive=True)],
    "native_threads": len(os.listdir("/proc/self/task")),
    "names": sorted(vars(app.app)),
    "libraries": sorted(
        {name.split(".")[0] for name in sys.modules}
        - set(sys.stdlib_module_names) - {"app", "psutil"}
    ),
}))
"""

IMPORT_LIBRARIES = """
import importlib, json, os, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:  # a helper module that cannot be imported on its own
        pass
print(json.dumps({"native_threads": len(os.listdir("/proc/self/task"))}))
"""


def _run_python(code: str, env: dict, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _find(tree, component_id):
    if isinstance(tree, dict):
        props = tree.get("props", {})
        if props.get("id") == component_id:
            return props
        for value in list(tree.values()):
            found = _find(value, component_id)
            if found:
                return found
    elif isinstance(tree, list):
        for item in tree:
            found = _find(item, component_id)
            if found:
                return found
    return None


def _output_key(client, outputs):
    """The output key Dash registered for the callback with exactly these outputs."""
    wanted = [f"{o[0]}.{o[1]}" for o in outputs]
    for dep in client.get("/_dash-dependencies").get_json():
        names = [part.split("@")[0] for part in dep["output"].strip(".").split("...")]
        if names == wanted:
            return dep["output"]
    raise AssertionError(f"no callback outputs {wanted}")


def _post(client, outputs, inputs, state, changed):
    body = {
        "output": _output_key(client, outputs),
        "outputs": [{"id": o[0], "property": o[1]} for o in outputs],
        "inputs": [{"id": i[0], "property": i[1], "value": i[2]} for i in inputs],
        "state": [{"id": s[0], "property": s[1], "value": s[2]} for s in state],
        "changedPropIds": [f"{c}" for c in changed],
    }
    return client.post("/_dash-update-component", json=body)


def _load_iris(client, sid):
    outputs = [
        (ids.DATA_VERSION, "data"),
        (ids.DATA_STATUS, "children"),
        (ids.DATA_NOTES, "children"),
        (ids.DATA_JOB, "data"),
        (ids.DATA_SYNTH, "is_open"),
    ]
    inputs = [
        (ids.DATA_SOURCE, "value", "iris"),
        (ids.DATA_SYNTH_ROWS, "value", 1000),
        (ids.DATA_SYNTH_NOISE, "value", None),
        (ids.DATA_SYNTH_FEATURES, "value", None),
        (ids.DATA_SYNTH_SEED, "value", 0),
    ]
    return _post(
        client,
        outputs,
        inputs,
        [(ids.APP_SESSION, "data", sid)],
        [f"{ids.DATA_SOURCE}.value"],
    )


def test_callback_endpoint_loads_a_dataset_into_the_session(client):
    sid = new_session_id()
    response = _load_iris(client, sid)
    assert response.status_code == 200, response.data[:500]
    payload = response.get_json()["response"]
    assert "150 rows × 5 columns" in json.dumps(
        payload[ids.DATA_STATUS], ensure_ascii=False
    )


def test_callback_endpoint_with_a_forged_session_id_is_refused_politely(client):
    response = _load_iris(client, "../../../etc/passwd")
    assert response.status_code == 200
    assert "session is not valid" in response.get_data(as_text=True)


def test_oversized_request_bodies_are_refused_before_the_app(client, settings):
    body = b"x" * (settings.max_request_bytes + 1)
    response = client.post(
        "/_dash-update-component", data=body, content_type="application/json"
    )
    assert response.status_code == 413


def test_unknown_paths_are_404_not_500(client):
    assert client.get("/no/such/page.php").status_code in (200, 404)
    assert client.get("/assets/../../etc/passwd").status_code == 404


class _TestClientSession:
    """requests' ``get`` over Flask's test client, for tools.dashclient."""

    def __init__(self, client) -> None:
        self.client = client
        self.headers: dict[str, str] = {}

    def get(self, url: str, **_):
        answer = self.client.get(url)
        assert answer.status_code == 200
        return SimpleNamespace(raise_for_status=lambda: None, json=answer.get_json)


def test_every_output_list_the_tools_name_is_one_callback_of_the_app(client):
    """The load test, the bench and the distributed tests find callbacks by
    their whole output lists (tools/outputs.py): each names exactly one."""
    from tools import outputs
    from tools.dashclient import DashClient

    dash = DashClient("http://localhost", session=_TestClientSession(client))
    named = {
        name: value
        for name, value in vars(outputs).items()
        if name.isupper() and isinstance(value, list)
    }
    assert {"LOAD", "OPEN_PAGE", "DESCRIBE", "TRAIN", "SHOW_RUN"} <= set(named)
    for name, wanted in named.items():
        assert dash.find(wanted), name  # LookupError unless exactly one
    for wanted in outputs.CHAINS.values():
        assert dash.find(wanted)
