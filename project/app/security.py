"""HTTP hardening: security headers, request checks, friendly errors, optional login.

Installed on the Flask server by ``app.create_app``; imports nothing of the app
but its settings.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from typing import Any, Iterable, Mapping, Sequence

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash

log = logging.getLogger(__name__)

CALLBACK_PATH = "/_dash-update-component"
INTERNAL_HEADER = "X-Dashboard-Internal"
UNPROTECTED_PATHS = ("/healthz",)


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
) -> None:
    """Add headers, callback request checks, friendly errors and (optionally) a
    login to ``server``.

    ``internal_token`` (random, in this process's memory only) lets the app's own
    start-up request through the login. ``callbacks`` (Dash's callback map) lets
    callback requests be checked against the callbacks that exist.
    """
    csp = content_security_policy(script_hashes)

    @server.before_request
    def _login() -> Response | None:
        if not users or request.path in UNPROTECTED_PATHS:
            return None
        given = request.headers.get(INTERNAL_HEADER, "")
        if internal_token and hmac.compare_digest(given, internal_token):
            return None
        if authorized(request.headers.get("Authorization", ""), users):
            return None
        return Response(
            "Log in to use this dashboard.",
            401,
            {"WWW-Authenticate": 'Basic realm="Dashboard", charset="UTF-8"'},
            mimetype="text/plain",
        )

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
        log.exception("unexpected error on %s %s", request.method, request.path)
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

    Hashes are werkzeug password hashes (``python -m app.auth`` makes one).
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


def authorized(header: str, users: Mapping[str, str]) -> bool:
    """Whether an HTTP Basic ``Authorization`` header names a user and password."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        name, _, password = (
            base64.b64decode(encoded, validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    hashed = users.get(name)
    if hashed is None:
        # Spend the same time as a real check, so names cannot be guessed by timing.
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(hashed, password)


_DUMMY_HASH = (
    "pbkdf2:sha256:600000$dummysaltdummysa$"
    "5f0b7a9bd6f3f0e4a4b0f4c2e3b1c6d8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4"
)
