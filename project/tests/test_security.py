"""Security headers on every kind of response, request checks, errors, login."""

from __future__ import annotations

import base64
import json

import pytest
from werkzeug.security import generate_password_hash

from app import security
from app.app import create_app
from app.config import Settings

HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
)


@pytest.fixture
def client(settings):
    return create_app(settings).server.test_client()


def _layout_fetch(client):
    return client.get("/_dash-layout")


@pytest.mark.parametrize(
    "request_",
    [
        lambda c: c.get("/"),
        lambda c: c.get("/healthz"),
        lambda c: c.get("/_dash-layout"),
        lambda c: c.get("/_dash-dependencies"),
        lambda c: c.get("/assets/style.css"),
        lambda c: c.get("/no/such/file.js"),
        lambda c: c.post("/_dash-update-component", data=b"not json"),
        lambda c: c.post("/_dash-update-component", data=b"x" * (4 * 2**20)),
        lambda c: c.get("/", headers={"X-Forwarded-Proto": "https"}),
    ],
    ids=["page", "health", "layout", "deps", "asset", "404", "400", "413", "https"],
)
def test_every_response_carries_the_security_headers(client, request_):
    response = request_(client)
    for name in HEADERS:
        assert response.headers.get(name), name
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-eval" not in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "unsafe-inline" not in script_src


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_csp_allows_every_inline_script_of_the_page(settings):
    app = create_app(settings)
    page = app.server.test_client().get("/").get_data(as_text=True)
    hashes = set(app.csp_hashes())
    csp = app.server.test_client().get("/").headers["Content-Security-Policy"]
    assert all(h in csp for h in hashes)
    # Every executable inline script of the page is one of the hashed ones.
    import re

    inline = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert inline, "the page has inline scripts"
    import base64 as b64
    import hashlib

    for script in inline:
        digest = b64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in hashes


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'"text"',
        b"{}",
        b'{"output": 1}',
        b'{"output": "a.b", "outputs": 3}',
        b'{"output": "a.b", "outputs": {}, "inputs": "x"}',
        b'{"output": "a.b", "outputs": {}, "inputs": [1]}',
        b'{"output": "a.b", "outputs": {}, "inputs": [{"id": "x"}]}',
        b'{"output": "a.b", "outputs": {}, "inputs": [], "changedPropIds": [1]}',
        b"\xff\xfe\x00",
    ],
)
def test_malformed_callback_requests_are_400_not_500(client, body):
    response = client.post(
        "/_dash-update-component", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "The request was not understood."}


def test_unknown_callback_outputs_and_wrong_types_are_not_500(client):
    body = {
        "output": "no-such-thing.children",
        "outputs": {"id": "no-such-thing", "property": "children"},
        "inputs": [{"id": "x", "property": "value", "value": 1}],
        "changedPropIds": ["x.value"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code < 500
    deps = client.get("/_dash-dependencies").get_json()
    upload = next(
        d
        for d in deps
        if d["output"].startswith("..data-version.data")
        and "data-upload-buffer.data@" in d["output"]
    )
    body = {
        "output": upload["output"],
        "outputs": [
            {"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
            for o in upload["output"].strip(".").split("...")
        ],
        "inputs": [
            {
                "id": "data-upload-buffer",
                "property": "data",
                "value": {"contents": 12, "filename": ["x"]},
            }
        ],
        "state": [
            {"id": "app-session", "property": "data", "value": {"not": "a session"}}
        ],
        "changedPropIds": ["data-upload-buffer.data"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code < 500, response.data[:300]


def test_errors_are_friendly_and_never_a_traceback(client):
    response = client.post("/_dash-update-component", data=b"x" * (4 * 2**20))
    assert response.status_code == 413
    assert response.get_json() == {
        "error": "That is more data than this server accepts."
    }
    missing = client.get("/definitely/not/here")
    assert b"Traceback" not in missing.data


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def locked(tmp_path):
    users = f"ada:{generate_password_hash('correct horse battery')}"
    settings = Settings(cache_dir=str(tmp_path / "cache"), auth_users=users)
    return create_app(settings).server.test_client()


def test_with_users_configured_every_page_and_callback_needs_a_login(locked):
    for response in (
        locked.get("/"),
        locked.get("/_dash-layout"),
        locked.get("/assets/style.css"),
        locked.post("/_dash-update-component", json={}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert locked.get("/", headers=_basic("ada", "wrong password")).status_code == 401
    assert (
        locked.get("/", headers=_basic("bob", "correct horse battery")).status_code
        == 401
    )
    assert (
        locked.get("/", headers=_basic("ada", "correct horse battery")).status_code
        == 200
    )
    assert locked.get("/healthz").status_code == 200  # probes need no login


@pytest.mark.parametrize(
    "text, message",
    [("ada:plaintext", "not a password hash"), ("nocolon", "user:password-hash")],
)
def test_plain_passwords_are_refused_in_the_configuration(text, message):
    with pytest.raises(ValueError, match=message):
        security.parse_users(text)


def test_users_parse_from_lines_or_commas():
    a, b = generate_password_hash("x" * 12), generate_password_hash("y" * 12)
    assert security.parse_users(f"# team\nada:{a}\n\nbob:{b}") == {"ada": a, "bob": b}
    assert security.parse_users(f"ada:{a},bob:{b}") == {"ada": a, "bob": b}
    assert json.dumps(security.parse_users(None)) == "{}"


def test_pattern_matching_dependencies_pass_the_request_check(settings):
    """The train callback's hyperparameters are ALL-pattern states: lists of matches."""
    app = create_app(settings)
    key = next(k for k in app.callback_map if "train-status.children" in k)
    spec = app.callback_map[key]
    state = []
    for dep in spec["state"]:
        if dep["id"].startswith("{"):
            state.append(
                [
                    {
                        "id": {"type": "param-input", "name": "C"},
                        "property": dep["property"],
                        "value": 1,
                    }
                ]
            )
        else:
            state.append({"id": dep["id"], "property": dep["property"], "value": None})
    outputs = [
        {"id": part.rpartition(".")[0], "property": part.rpartition(".")[2]}
        for part in key[2:-2].split("...")
    ]
    body = {
        "output": key,
        "outputs": outputs,
        "inputs": [{"id": "train-button", "property": "n_clicks", "value": 1}],
        "state": state,
        "changedPropIds": ["train-button.n_clicks"],
    }
    assert (
        security.callback_problem(json.dumps(body).encode(), app.callback_map) is None
    )
    body["state"][5] = {"id": "model-name", "property": "value", "value": 1}
    assert security.callback_problem(json.dumps(body).encode(), app.callback_map)
