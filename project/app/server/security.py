"""HTTP hardening: security headers, request checks, friendly errors, optional login,
and a Dash app whose pages name no versions.

Installed on the Flask server by ``app.create_app``; imports nothing of the app
but its settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import re
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from typing import Any, Callable, Iterable, Mapping, Sequence

import dash
from flask import Flask, Response, g, request
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash

from app.config import Settings
from app.server import logs

log = logging.getLogger(__name__)

CALLBACK_PATH = "/_dash-update-component"
INTERNAL_HEADER = "X-Dashboard-Internal"
UNPROTECTED_PATHS = ("/healthz", "/assets/00-bootstrap.min.css")
#: Paths with their own access control (a published run's token, API keys).
OWN_ACCESS_PREFIXES = ("/api/v1/", "/r/", "/_mcp")
LOGOUT_PATH = "/logout"
LOGIN_COOKIE = "dashboard_login"
LOGIN_SALT = "dashboard-login"


def content_security_policy(script_hashes: Iterable[str]) -> str:
    """The Content-Security-Policy of every response.

    Scripts: only this origin and Dash's own inline scripts, by hash; no
    'unsafe-inline' and no 'unsafe-eval' for scripts.
    """
    script = ["'self'", *script_hashes]
    directives = {
        "default-src": ["'self'"],
        "script-src": script,
        # Plotly and Dash components set inline styles and <style> elements.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(
        f"{name} {' '.join(values)}" for name, values in directives.items()
    )


def security_headers(csp: str, *, https: bool) -> dict[str, str]:
    """The headers set on every response (HSTS only over HTTPS)."""
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def _is_https() -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return request.is_secure or forwarded.split(",")[0].strip().lower() == "https"


def install(
    server: Flask,
    *,
    script_hashes: Sequence[str],
    users: Mapping[str, str] | None = None,
    internal_token: str | None = None,
    callbacks: Mapping[str, Any] | None = None,
    login_hours: float = Settings.login_hours,
    login_failures: int = Settings.login_failures,
    login_lockout_seconds: int = Settings.login_lockout_seconds,
) -> None:
    """Add headers, callback request checks, friendly errors and (optionally) a
    login to ``server``.

    ``internal_token`` (random, in this process's memory only) lets the app's own
    start-up request through the login. ``callbacks`` (Dash's callback map) lets
    callback requests be checked against the callbacks that exist. The
    ``login_*`` arguments are the settings of the same names (see ``Login``).
    """
    csp = content_security_policy(script_hashes)
    login = (
        Login(
            users,
            hours=login_hours,
            failures=login_failures,
            lockout_seconds=login_lockout_seconds,
        )
        if users
        else None
    )

    @server.before_request
    def _login() -> Response | None:
        if login is None or request.path in UNPROTECTED_PATHS:
            return None
        if request.path.startswith(OWN_ACCESS_PREFIXES):
            return None
        given = request.headers.get(INTERNAL_HEADER, "")
        if internal_token and hmac.compare_digest(given, internal_token):
            return None
        return login.check(server)

    @server.after_request
    def _login_cookie(response: Response) -> Response:
        if login is not None:
            login.finish(response)
        return response

    @server.before_request
    def _check_callback() -> Response | None:
        if request.path != CALLBACK_PATH or request.method != "POST":
            return None
        problem = callback_problem(
            request.get_data(cache=True, as_text=False), callbacks
        )
        if problem:
            log.info("refused a malformed callback request: %s", problem)
            return _json_error(400, "The request was not understood.")
        return None

    @server.after_request
    def _headers(response: Response) -> Response:
        for name, value in security_headers(csp, https=_is_https()).items():
            response.headers.setdefault(name, value)
        return response

    @server.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        if error.code == 413:
            return _json_error(413, "That is more data than this server accepts.")
        return _json_error(error.code or 500, error.description or error.name)

    @server.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception(
            "unexpected error on %s %s", request.method, logs.redact(request.path)
        )
        return _json_error(500, "Something went wrong on our side; please try again.")


def _json_error(status: int, message: str) -> Response:
    return Response(
        json.dumps({"error": message}), status=status, mimetype="application/json"
    )


def callback_problem(
    body: bytes, callbacks: Mapping[str, Any] | None = None
) -> str | None:
    """Why a callback request body is malformed, or None when it is well formed.

    With ``callbacks``, the output must name a callback of the app and the inputs
    and state must match its dependencies.
    """
    try:
        payload = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep too
        return "not JSON"
    if not isinstance(payload, dict):
        return "not a JSON object"
    if not isinstance(payload.get("output"), str):
        return "no output"
    outputs = payload.get("outputs")
    if not isinstance(outputs, (dict, list)):
        return "no outputs"
    for name in ("inputs", "state"):
        items = payload.get(name, [])
        if not isinstance(items, list):
            return f"{name} is not a list"
        for item in items:
            flat = item if isinstance(item, list) else [item]
            for dep in flat:
                if (
                    not isinstance(dep, dict)
                    or "id" not in dep
                    or "property" not in dep
                ):
                    return f"malformed {name}"
    changed = payload.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "malformed changedPropIds"
    if callbacks is None:
        return None
    spec = callbacks.get(payload["output"])
    if spec is None or "callback" not in spec:  # clientside ones run in the browser
        return "unknown callback"
    if not spec.get("no_output") and not _outputs_match(payload["output"], outputs):
        return "outputs do not match the callback"
    for name in ("inputs", "state"):
        if not _deps_match(spec.get(name, []), payload.get(name, [])):
            return f"{name} do not match the callback"
    return None


def _outputs_match(key: str, outputs: Any) -> bool:
    """Whether ``outputs`` names the outputs of the callback ``key``, in order.

    ``key`` is Dash's output key: ``id.prop`` (``@hash`` for duplicates), or
    ``..a.x...b.y..`` for several outputs, which then arrive as a list.
    """
    multi = key.startswith("..")
    parts = key[2:-2].split("...") if multi else [key]
    given = outputs if multi else [outputs]
    if not isinstance(given, list) or len(given) != len(parts):
        return False
    for part, got in zip(parts, given):
        name, _, prop = part.rpartition(".")
        pattern = name.startswith("{")  # pattern-matching: any id of that shape
        if isinstance(got, list) and not pattern:
            return False  # only a wildcard output is a list of matches
        items = got if isinstance(got, list) else [got]
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("property"), str):
                return False
            if item["property"].split("@")[0] != prop.split("@")[0]:
                return False
            if pattern:
                if not isinstance(item.get("id"), dict):
                    return False
            elif item.get("id") != name:
                return False
    return True


def _deps_match(expected: list[dict], given: list[Any]) -> bool:
    if len(expected) != len(given):
        return False
    for want, got in zip(expected, given):
        wanted_id = want.get("id")
        pattern = isinstance(wanted_id, dict) or str(wanted_id).startswith("{")
        if pattern:  # pattern-matching dependencies arrive as a list of matches
            items = got if isinstance(got, list) else [got]
            if not all(
                isinstance(i, dict) and isinstance(i.get("id"), dict) for i in items
            ):
                return False
        elif not (
            isinstance(got, dict)
            and got.get("id") == want.get("id")
            and got.get("property") == want.get("property")
        ):
            return False
    return True


def parse_users(text: str | None) -> dict[str, str]:
    """``user:hash`` pairs, one per line (or separated by commas), to a dict.

    Hashes are werkzeug password hashes (``python -m app.server.auth`` makes one).
    """
    users: dict[str, str] = {}
    for line in (text or "").replace(",", "\n").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name or not hashed:
            raise ValueError("AUTH_USERS entries must look like user:password-hash")
        if not hashed.startswith(("pbkdf2:", "scrypt:")):
            raise ValueError(f"The password of {name!r} is not a password hash")
        users[name] = hashed
    return users


def basic_credentials(header: str) -> tuple[str, str] | None:
    """The user and password of an HTTP Basic ``Authorization`` header, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


def hash_method(hashed: str) -> str:
    """The method part of a werkzeug hash: algorithm and parameters.

    ``scrypt:32768:8:1$salt$hash`` gives ``scrypt:32768:8:1``.
    """
    return hashed.split("$", 1)[0]


def dummy_hash(hashes: Iterable[str]) -> str:
    """A hash of a random password made like the configured ``hashes``.

    Checking a password against it costs what checking a real user's costs, so
    an unknown name cannot be told from a wrong password by timing. With mixed
    methods the most common one is used (the first configured on a tie); users
    of the other methods then differ in timing, so keep one method for all.
    """
    methods = Counter(hash_method(h) for h in hashes)
    method = methods.most_common(1)[0][0] if methods else "scrypt"
    return generate_password_hash(secrets.token_urlsafe(24), method=method)


def client_key(remote_addr: str | None, forwarded_for: str, hops: int = 1) -> str:
    """Whose login failures a request counts towards: the client's address.

    Behind Cloud Run, the proxy appends the address it saw to
    ``X-Forwarded-For``; anything to its left was written by the client and can
    be forged, so the ``hops``-th entry from the right is used (1: Cloud Run
    alone; 2: a Google load balancer in front, which appends its own address
    after the client's). Without the header, the peer address. IPv6 clients
    count per /64, the block one subscriber usually holds.
    """
    entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
    chosen = entries[-hops] if 0 < hops <= len(entries) else remote_addr or ""
    try:
        address = ipaddress.ip_address(chosen)
    except ValueError:
        return chosen[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class FailureThrottle:
    """At most ``failures`` failed logins per client in any ``window`` seconds.

    An attempt is recorded as failed *before* its password is checked and
    forgiven on success, so concurrent attempts cannot slip past the limit.
    State lives in this process (each gunicorn worker and instance counts on its
    own) and holds at most ``max_clients`` clients, the least recent dropped.
    """

    def __init__(
        self,
        failures: int,
        window: float,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = max(1, failures)
        self.window = window
        self.max_clients = max_clients
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._seen.get(key)
        if stamps is None:
            stamps = self._seen[key] = deque(maxlen=self.failures)
            while len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def reserve(self, key: str) -> tuple[float | None, int]:
        """Record an attempt as failed: ``(stamp, 0)``, or ``(None, seconds to
        wait)`` when ``key`` is locked out (nothing recorded then)."""
        with self._lock:
            now = self.clock()
            stamps = self._recent(key, now)
            if len(stamps) >= self.failures:
                return None, max(1, math.ceil(stamps[0] + self.window - now))
            stamps.append(now)
            return now, 0

    def forgive(self, key: str, stamp: float) -> None:
        """Take back the attempt ``stamp`` (it succeeded, or no check ran)."""
        with self._lock:
            stamps = self._seen.get(key)
            if stamps is not None and stamp in stamps:
                stamps.remove(stamp)

    def locked(self, key: str) -> bool:
        """Whether ``key`` has used up its failures for now."""
        with self._lock:
            return len(self._recent(key, self.clock())) >= self.failures


class Login:
    """HTTP Basic login, remembered by a signed cookie, with a throttle.

    - A good user and password sets ``dashboard_login``: the user and a digest
      of their password hash, signed with the server's ``secret_key`` by
      itsdangerous (salted for this use), valid for ``hours``. Requests with it
      pass without hashing; a changed password or removed user voids it.
      HttpOnly, SameSite=Lax, Secure whenever the request came over HTTPS.
    - An unknown user is checked against a dummy hash made the same way as the
      users' hashes: one hash, same cost as a wrong password.
    - After ``failures`` failed checks from one client within
      ``lockout_seconds``, its attempts get 429 with Retry-After, unhashed.
    - At most ``hash_slots`` passwords are hashed at once in a process (scrypt
      takes ~32 MiB and ~0.1 s each); one more attempt gets 503, so hashing can
      never take every thread from ``/healthz`` and logged-in visitors.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        hours: float = Settings.login_hours,
        failures: int = Settings.login_failures,
        lockout_seconds: int = Settings.login_lockout_seconds,
        forwarded_hops: int = 1,
        hash_slots: int = 1,
    ) -> None:
        self.users = dict(users)
        self.max_age = max(1, int(hours * 3600))
        self.dummy_hash = dummy_hash(self.users.values())
        self.throttle = FailureThrottle(failures, lockout_seconds)
        self.forwarded_hops = forwarded_hops
        self._hashing = threading.BoundedSemaphore(max(1, hash_slots))

    def check(self, server: Flask) -> Response | None:
        """None when the request may go on, else the response refusing it."""
        if request.path == LOGOUT_PATH:
            response = _ask_login("You are logged out.")
            response.delete_cookie(
                LOGIN_COOKIE, path="/", secure=_is_https(), httponly=True
            )
            return response
        serializer = _serializer(server)
        cookie = request.cookies.get(LOGIN_COOKIE)
        if cookie and serializer and self.cookie_user(serializer, cookie):
            return None
        given = basic_credentials(request.headers.get("Authorization", ""))
        if given is None:
            return _ask_login()
        key = client_key(
            request.remote_addr,
            ",".join(request.headers.getlist("X-Forwarded-For")),
            self.forwarded_hops,
        )
        stamp, wait = self.throttle.reserve(key)
        if stamp is None:
            return _plain(
                429,
                f"Too many failed logins; try again in {math.ceil(wait / 60)} min.",
                {"Retry-After": str(wait)},
            )
        if not self._hashing.acquire(blocking=False):
            self.throttle.forgive(key, stamp)
            return _plain(503, "Busy; try again in a moment.", {"Retry-After": "1"})
        try:
            name = self.verify(*given)
        finally:
            self._hashing.release()
        if name is None:
            if self.throttle.locked(key):
                log.warning("login: too many failures from one client; locked out")
            return _ask_login()
        self.throttle.forgive(key, stamp)
        if serializer:
            g.dashboard_login = serializer.dumps([name, self._mark(name)])
        return None

    def verify(self, name: str, password: str) -> str | None:
        """``name`` when ``password`` is theirs; always exactly one hash check."""
        hashed = self.users.get(name)
        if hashed is None:
            check_password_hash(self.dummy_hash, password)
            return None
        return name if check_password_hash(hashed, password) else None

    def cookie_user(self, serializer: URLSafeTimedSerializer, value: str) -> str | None:
        """The user a login cookie names, when it is genuine, fresh and current."""
        try:
            payload = serializer.loads(value, max_age=self.max_age)
        except BadData:  # tampered, expired, signed with another key, malformed
            return None
        if not (
            isinstance(payload, list)
            and len(payload) == 2
            and all(isinstance(p, str) for p in payload)
        ):
            return None
        name, mark = payload
        if name not in self.users or not hmac.compare_digest(mark, self._mark(name)):
            return None
        return name

    def finish(self, response: Response) -> None:
        """Set the login cookie on the response of a request that just logged in."""
        value = g.pop("dashboard_login", None)
        if value is None:
            return
        response.set_cookie(
            LOGIN_COOKIE,
            value,
            max_age=self.max_age,
            path="/",
            secure=_is_https(),
            httponly=True,
            samesite="Lax",
        )
        response.cache_control.private = True  # never kept by a shared cache

    def _mark(self, name: str) -> str:
        # A digest of the stored hash, not the hash: the cookie is readable.
        return hashlib.sha256(self.users[name].encode()).hexdigest()[:32]


def _serializer(server: Flask) -> URLSafeTimedSerializer | None:
    """Signs login cookies with the server's key (old keys still verify)."""
    if not server.secret_key:
        return None
    keys = [*(server.config.get("SECRET_KEY_FALLBACKS") or []), server.secret_key]
    return URLSafeTimedSerializer(keys, salt=LOGIN_SALT)


def _plain(status: int, text: str, headers: Mapping[str, str]) -> Response:
    return Response(text, status, dict(headers), mimetype="text/plain")


def _ask_login(text: str = "Log in to use this dashboard.") -> Response:
    return _plain(
        401, text, {"WWW-Authenticate": 'Basic realm="Dashboard", charset="UTF-8"'}
    )


_VERSIONED_CONFIG = (
    "python_version",
    "dash_version",
    "dash_version_url",
    "ddk_version",
    "plotly_version",
)
_CONFIG = re.compile(
    r'(<script id="_dash-config" type="application/json">)(.*?)(</script>)', re.S
)
# Dash's fingerprint: the second dot-part of a component-suite file name,
# ``name.v<version>m<mtime>.ext``; Dash strips any ``v<...>m<hex>`` when serving.
_FINGERPRINT = re.compile(
    r"(/_dash-component-suites/(?:[^\"'\s/]+/)+[^\"'\s/.]+)\.(v[\w-]+m[0-9a-fA-F]+)\."
)
_VERSION_QUERY = re.compile(r"((?:src|href)=\"[^\"]*?[?&])v=([^\"&]+)")


class DashWithoutVersions(dash.Dash):
    """``dash.Dash`` whose pages name no Python, Dash, Plotly or component versions.

    Through ``interpolate_index``, Dash's documented hook for the page: the
    version fields leave ``_dash-config``, and each script's cache-busting
    fingerprint (``v4_4_1m<mtime>``, ``?v=4.4.1``) becomes an HMAC of it under
    the server's secret key: opaque, the same in every process, and new when a
    file or version changes, so browsers still cache scripts for a year.
    """

    def interpolate_index(self, **kwargs: str) -> str:
        """The page as Dash makes it, without version strings."""
        page = super().interpolate_index(**kwargs)
        page = _CONFIG.sub(lambda m: m[1] + _without_versions(m[2]) + m[3], page)
        page = _FINGERPRINT.sub(lambda m: f"{m[1]}.v_m{self._opaque(m[0])}.", page)
        return _VERSION_QUERY.sub(lambda m: f"{m[1]}v={self._opaque(m[0])}", page)

    def _opaque(self, text: str) -> str:
        key = self.server.secret_key or b""
        key = key.encode() if isinstance(key, str) else key
        message = b"dashboard-asset-fingerprint\0" + text.encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def _without_versions(config_json: str) -> str:
    config = json.loads(config_json)
    for name in _VERSIONED_CONFIG:
        config.pop(name, None)
    text = json.dumps(config, separators=(",", ":"))
    # Inside <script>: no "</script>" or "<!--" can be spelled by a value.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
