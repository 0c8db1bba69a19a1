"""Security headers on every kind of response, request checks, errors, login."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import platform
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import dash
import plotly
import pytest
from werkzeug.security import generate_password_hash

from app.app import create_app
from app.config import Settings
from app.server import security

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


_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)
_JS_TYPES = ("", "text/javascript", "application/javascript", "module")


def _inline_scripts(page):
    """The executable inline scripts of a page, and its inline data blocks."""
    code, data = [], []
    for attributes, body in _SCRIPT.findall(page):
        if re.search(r"\bsrc=", attributes):
            continue
        kind = re.search(r'\btype="([^"]*)"', attributes)
        (code if (kind[1] if kind else "") in _JS_TYPES else data).append(
            (attributes, body)
        )
    return code, data


def _page(client, **headers):
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    body = response.data
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return body.decode(), response.headers["Content-Security-Policy"]


def test_the_csp_allows_every_inline_script_of_the_page(settings):
    """Dash renders the page on every visit: every executable inline script of
    every rendering (plain or compressed) is allowed by its hash."""
    app = create_app(settings)
    client = app.server.test_client()
    hashes = set(app.csp_hashes())
    loads = [_page(client), _page(client, **{"Accept-Encoding": "gzip"})]
    loads += [_page(client) for _ in range(2)]
    assert len({csp for _, csp in loads}) == 1
    for page, csp in loads:
        script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
        assert all(h in script_src.split() for h in hashes)
        code, _ = _inline_scripts(page)
        assert len(code) >= 2, "the page has inline scripts (and Dash's renderer)"
        for _, script in code:
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest())
            assert f"'sha256-{digest.decode()}'" in script_src.split()


def test_page_loads_differ_only_by_dashs_page_load_token(client):
    """What Dash renders per visit: a new signed ``end_id`` in ``_dash-config``,
    a JSON data block that the browser never runs; so the script hashes hold."""
    pages = [_page(client)[0] for _ in range(3)]
    tokens = []
    for page in pages:
        code, data = _inline_scripts(page)
        assert [attrs for attrs, _ in data] == [
            ' id="_dash-config" type="application/json"'
        ]
        tokens.append(json.loads(data[0][1])["end_id"])
        assert all(tokens[-1] not in script for _, script in code)
    assert len(set(tokens)) == 3
    assert len({page.replace(token, "T") for page, token in zip(pages, tokens)}) == 1


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


# Login: a signed cookie after one check, same cost for unknown users, a throttle.

SECRET = "test-secret-key-for-login-cookies"
PASSWORD = "correct horse battery"


def _app_with_users(tmp_path, users: dict[str, str], **overrides):
    settings = Settings(
        cache_dir=str(tmp_path / "cache"),
        auth_users=",".join(f"{name}:{hashed}" for name, hashed in users.items()),
        secret_key=SECRET,
        **overrides,
    )
    return create_app(settings).server


@pytest.fixture
def hashes(monkeypatch):
    """Every password hash security.py checks, as the hash it was checked against."""
    seen: list[str] = []
    real = security.check_password_hash

    def counting(hashed: str, password: str) -> bool:
        seen.append(hashed)
        return real(hashed, password)

    monkeypatch.setattr(security, "check_password_hash", counting)
    return seen


def _login_cookie(response) -> str:
    """The login cookie's Set-Cookie header (fails when there is none)."""
    found = [
        h
        for h in response.headers.getlist("Set-Cookie")
        if h.startswith(f"{security.LOGIN_COOKIE}=")
    ]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    return found[0]


def _cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def _with_cookie(value: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"{security.LOGIN_COOKIE}={value}", **headers}


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_one_good_login_sets_a_cookie_and_later_requests_hash_nothing(
    tmp_path, hashes, https
):
    users = {"ada": generate_password_hash(PASSWORD)}
    client = _app_with_users(tmp_path, users, login_hours=2.0).test_client(
        use_cookies=False
    )
    proto = {"X-Forwarded-Proto": "https"} if https else {}
    first = client.get("/", headers={**_basic("ada", PASSWORD), **proto})
    assert first.status_code == 200
    assert len(hashes) == 1
    header = _login_cookie(first)
    attributes = [a.strip().lower() for a in header.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "max-age=7200" in attributes  # login_hours
    assert any(a.startswith("expires=") for a in attributes)
    assert ("secure" in attributes) is https
    assert "private" in first.headers["Cache-Control"]
    value = _cookie_value(header)
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/assets/style.css"):
        again = client.get(path, headers=_with_cookie(value, **proto))
        assert again.status_code == 200, path
        assert security.LOGIN_COOKIE not in again.headers.get("Set-Cookie", "")
    assert len(hashes) == 1  # the cookie alone: no password hashed
    # Browsers keep sending the Basic header too: the cookie still spares the hash.
    both = client.get("/", headers=_with_cookie(value, **_basic("ada", PASSWORD)))
    assert both.status_code == 200 and len(hashes) == 1


def test_a_tampered_expired_or_foreign_cookie_is_refused(tmp_path, monkeypatch):
    users = {
        "ada": generate_password_hash(PASSWORD),
        "bob": generate_password_hash("b" * 12),
    }
    server = _app_with_users(tmp_path, users, login_hours=1.0)
    client = server.test_client(use_cookies=False)
    value = _cookie_value(
        _login_cookie(client.get("/", headers=_basic("ada", PASSWORD)))
    )
    assert client.get("/", headers=_with_cookie(value)).status_code == 200

    def refused(cookie: str) -> bool:
        response = client.get("/", headers=_with_cookie(cookie))
        return response.status_code == 401 and "WWW-Authenticate" in response.headers

    payload, stamp, signature = value.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert refused(f"{payload}.{stamp}.{flipped}")
    assert refused("not a cookie")
    assert refused("")
    # Another user's name with ada's signature, or a cookie made with another key.
    signer = security.URLSafeTimedSerializer(SECRET, salt=security.LOGIN_SALT)
    name, mark = signer.loads(value)
    assert name == "ada"
    assert refused(f"{signer.dumps(['bob', 'x']).split('.')[0]}.{stamp}.{signature}")
    assert refused(signer.dumps(["bob", mark]))  # bound to bob's password hash
    other = security.URLSafeTimedSerializer("another key", salt=security.LOGIN_SALT)
    assert refused(other.dumps(["ada", mark]))
    assert not refused(signer.dumps(["ada", mark]))  # the control: genuine
    # A changed password or a removed user voids the cookie (same secret key).
    changed = _app_with_users(
        tmp_path / "2", {"ada": generate_password_hash("a new password!")}
    ).test_client(use_cookies=False)
    assert changed.get("/", headers=_with_cookie(value)).status_code == 401
    removed = _app_with_users(tmp_path / "3", {"bob": users["bob"]})
    assert (
        removed.test_client(use_cookies=False)
        .get("/", headers=_with_cookie(value))
        .status_code
        == 401
    )
    # Expired: one hour later (login_hours=1.0) the same cookie no longer passes.
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3600 + 5)
    assert refused(value)


@pytest.mark.parametrize("method", ["pbkdf2:sha256:1000", "scrypt:1024:8:1"])
def test_an_unknown_user_costs_one_hash_made_like_the_users(tmp_path, hashes, method):
    users = {"ada": generate_password_hash(PASSWORD, method=method)}
    client = _app_with_users(tmp_path, users).test_client(use_cookies=False)
    assert client.get("/", headers=_basic("nobody", PASSWORD)).status_code == 401
    assert len(hashes) == 1
    assert security.hash_method(hashes[0]) == method
    assert hashes[0] != users["ada"]
    assert client.get("/", headers=_basic("ada", "wrong password")).status_code == 401
    assert hashes[1:] == [users["ada"]]


def test_the_dummy_hash_follows_the_most_common_method():
    pbkdf2 = "pbkdf2:sha256:1000"
    made = [
        generate_password_hash("x" * 12, method=m)
        for m in (pbkdf2, "scrypt:1024:8:1", pbkdf2)
    ]
    assert security.hash_method(security.dummy_hash(made)) == pbkdf2
    default = security.hash_method(generate_password_hash("x" * 12))
    assert security.hash_method(security.dummy_hash([])) == default


def test_repeated_failures_lock_one_client_out_without_hashing(tmp_path, hashes):
    users = {"ada": generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")}
    server = _app_with_users(
        tmp_path, users, login_failures=3, login_lockout_seconds=120
    )
    client = server.test_client(use_cookies=False)
    mallory = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(3):
        wrong = client.get("/", headers={**_basic("ada", "guess"), **mallory})
        assert wrong.status_code == 401
        assert client.get("/healthz").status_code == 200
    assert len(hashes) == 3
    # Spoofed entries to the left do not help: the proxy's own entry counts.
    for headers in (mallory, {"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}):
        for password in ("guess", PASSWORD):
            refused = client.get("/", headers={**_basic("ada", password), **headers})
            assert refused.status_code == 429
            assert 0 < int(refused.headers["Retry-After"]) <= 120
    assert len(hashes) == 3  # refused before any hash
    assert client.get("/healthz", headers=mallory).status_code == 200
    # Another client logs in; a request without credentials is just asked to log in.
    alice = {"X-Forwarded-For": "198.51.100.8"}
    assert (
        client.get("/", headers={**_basic("ada", PASSWORD), **alice}).status_code == 200
    )
    assert client.get("/", headers=mallory).status_code == 401
    assert len(hashes) == 4


def test_the_throttle_window_slides_and_successes_do_not_count():
    now = [1000.0]
    throttle = security.FailureThrottle(2, 60, max_clients=3, clock=lambda: now[0])
    assert throttle.reserve("a") == (1000.0, 0)
    ok, _ = throttle.reserve("a")
    throttle.forgive("a", ok)  # a success is not a failure
    now[0] = 1010.0
    assert throttle.reserve("a") == (1010.0, 0)
    assert throttle.reserve("a") == (None, 50)  # locked: nothing recorded
    assert throttle.reserve("b")[0] is not None  # another client
    now[0] = 1040.0
    assert throttle.reserve("a") == (None, 20)
    now[0] = 1060.0  # the first failure leaves the window: one more try
    assert throttle.reserve("a") == (1060.0, 0)
    assert throttle.reserve("a") == (None, 10)
    for key in "cdef":  # bounded: the least recent clients are dropped
        throttle.reserve(key)
    assert len(throttle._seen) == 3


@pytest.mark.parametrize(
    "remote, forwarded, hops, key",
    [
        ("127.0.0.1", "", 1, "127.0.0.1"),
        ("169.254.1.1", "198.51.100.7", 1, "198.51.100.7"),
        ("169.254.1.1", "1.2.3.4, 198.51.100.7", 1, "198.51.100.7"),
        ("169.254.1.1", "1.2.3.4, 198.51.100.7, 35.191.0.1", 2, "198.51.100.7"),
        ("169.254.1.1", "198.51.100.7", 2, "169.254.1.1"),
        ("10.0.0.1", "2001:db8:1:2:3:4:5:6", 1, "2001:db8:1:2::/64"),
        ("10.0.0.1", "::ffff:198.51.100.7", 1, "198.51.100.7"),
        ("10.0.0.1", "garbage", 1, "garbage"),
        ("10.0.0.1", "198.51.100.7", 0, "10.0.0.1"),
    ],
)
def test_the_client_key_is_the_address_the_proxy_saw(remote, forwarded, hops, key):
    assert security.client_key(remote, forwarded, hops) == key


def test_only_one_password_is_hashed_at_a_time(tmp_path, monkeypatch):
    users = {"ada": generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")}
    server = _app_with_users(tmp_path, users)
    started, release = threading.Event(), threading.Event()
    real = security.check_password_hash

    def slow(hashed: str, password: str) -> bool:
        started.set()
        release.wait(10)
        return real(hashed, password)

    monkeypatch.setattr(security, "check_password_hash", slow)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            server.test_client().get, "/", headers=_basic("ada", PASSWORD)
        )
        assert started.wait(10)
        busy = server.test_client().get(
            "/", headers={**_basic("ada", PASSWORD), "X-Forwarded-For": "192.0.2.9"}
        )
        assert server.test_client().get("/healthz").status_code == 200
        release.set()
        assert first.result().status_code == 200
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"


def test_logout_forgets_the_cookie(tmp_path):
    server = _app_with_users(tmp_path, {"ada": generate_password_hash(PASSWORD)})
    client = server.test_client(use_cookies=False)
    response = client.get(security.LOGOUT_PATH)
    assert response.status_code == 401
    header = _login_cookie(response)
    assert _cookie_value(header) == "" and "Max-Age=0" in header


# No version strings in pages.


def test_the_page_names_no_versions_and_its_scripts_stay_cached(client):
    page = client.get("/").get_data(as_text=True)
    versions = {
        dash.__version__,
        plotly.__version__,
        platform.python_version(),
        sys.version.split()[0],
    }
    for version in versions:
        assert version not in page
        assert version.replace(".", "_") not in page
    config = json.loads(
        re.search(r'<script id="_dash-config"[^>]*>(.*?)</script>', page, re.S)[1]
    )
    assert not {k for k in config if "version" in k} - {"disable_version_check"}
    scripts = re.findall(r'<script src="(/_dash-component-suites/[^"]+)"', page)
    assert len(scripts) > 5
    for url in scripts:
        name = url.rsplit("/", 1)[1]
        assert re.fullmatch(r"[^.]+\.v_m[0-9a-f]{16}\..+", name), url
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.cache_control.max_age >= 365 * 24 * 3600, url
    favicon = re.search(r'href="(/_favicon\.ico\?v=[0-9a-f]{16})"', page)
    assert favicon and client.get(favicon[1]).status_code == 200
