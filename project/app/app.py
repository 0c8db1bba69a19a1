"""The Dash app: creates it, registers layout and callbacks, exposes ``server``."""

from __future__ import annotations

import re
import secrets
import struct
import zlib
from functools import partial
from typing import Any

import dash
from dash import _callback_signing
from flask import Response, jsonify, request
from plotly.io.json import to_json_plotly as to_json

from . import ids, jobs, logs, security
from .callbacks import register_callbacks
from .config import Settings
from .layout import serve_layout
from .store import SessionStore, new_session_id

INDEX = """<!DOCTYPE html>
<html lang="en">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def create_app(settings: Settings | None = None) -> dash.Dash:
    """Build the Dash app for ``settings`` (default: read from the environment)."""
    settings = settings or Settings.from_env()
    logs.setup(settings.log_level)
    store = SessionStore.from_settings(settings)
    manager, celery_app = jobs.make_manager(
        settings,
        session_id=ids.APP_SESSION,
        notice=ids.APP_NOTICE,
        warm_up=_warm_up_jobs,
    )
    app = security.DashWithoutVersions(
        __name__,
        title="Dashboard · explore data and train models",
        index_string=INDEX,
        update_title=None,
        compress=True,
        suppress_callback_exceptions=True,
        background_callback_manager=manager,
        meta_tags=[
            {"name": "viewport", "content": "width=device-width, initial-scale=1"}
        ],
    )
    app.layout = partial(serve_layout, settings)
    register_callbacks(app, store, settings)
    server = app.server
    # Signs background-job handles; every process of every instance must agree.
    server.secret_key = settings.secret_key or store.shared_secret()
    server.extensions[jobs.EXTENSION] = manager
    if celery_app is not None:
        server.extensions["celery"] = celery_app
    server.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    server.add_url_rule("/healthz", "healthz", _healthz)
    logs.install(server, project=settings.google_cloud_project)
    warm_up_token = secrets.token_urlsafe(32)
    security.install(
        server,
        script_hashes=app.csp_hashes(),
        users=security.parse_users(settings.auth_users),
        internal_token=warm_up_token,
        callbacks=app.callback_map,
        login_hours=settings.login_hours,
        login_failures=settings.login_failures,
        login_lockout_seconds=settings.login_lockout_seconds,
    )
    _serve_layout_once(app, settings)
    _serve_index_once(app, _warm_up(app, warm_up_token))
    return app


def _serve_layout_once(app: dash.Dash, settings: Settings) -> None:
    """Answer ``/_dash-layout`` from JSON serialised (and compressed) once.

    The page is the same for every visit but for its session id; serialising
    its few hundred components on every page load cost ~20 ms of CPU, and
    compressing them ~2 ms. The compressed answer is spliced around each new id.
    """
    placeholder = new_session_id()
    page = to_json(serve_layout(settings, session_id=placeholder))
    if page.count(placeholder) != 1:
        raise RuntimeError("The layout must hold the session id exactly once")
    spliced = GzipSplice(page, placeholder)

    def layout() -> Response:
        sid = new_session_id()
        if "gzip" not in request.headers.get("Accept-Encoding", ""):
            return Response(page.replace(placeholder, sid), mimetype="application/json")
        response = Response(spliced.body(sid), mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        return response

    app.server.view_functions["/_dash-layout"] = layout


class GzipSplice:
    """A gzip body of ``text`` with ``placeholder`` replaced, compressed once.

    The text before the placeholder is compressed and flushed to a byte
    boundary, the text after it compressed on its own; each body puts the new
    value between them as a stored (uncompressed) deflate block.
    """

    HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

    def __init__(self, text: str, placeholder: str) -> None:
        head, tail = (part.encode() for part in text.split(placeholder))
        first = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        self.head = first.compress(head) + first.flush(zlib.Z_FULL_FLUSH)
        last = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        self.tail = last.compress(tail) + last.flush()
        self.head_crc = zlib.crc32(head)
        self.tail_raw = tail
        self.size = len(head) + len(tail)

    def body(self, value: str) -> bytes:
        """The gzip bytes of the text with ``value`` in place (under 64 KiB)."""
        raw = value.encode()
        stored = b"\x00" + struct.pack("<HH", len(raw), 0xFFFF ^ len(raw)) + raw
        crc = zlib.crc32(self.tail_raw, zlib.crc32(raw, self.head_crc))
        trailer = struct.pack("<II", crc, (self.size + len(raw)) & 0xFFFFFFFF)
        return b"".join((self.HEADER, self.head, stored, self.tail, trailer))


_END_ID = re.compile(r'"end_id":\s*"([^"]+)"')


def _serve_index_once(app: dash.Dash, page: str) -> None:
    """Answer ``/`` from the page Dash rendered once, with a fresh page-load token.

    Dash renders the same page on every visit but for ``end_id``, a signed token
    per page load that its callbacks echo; rendering and compressing it cost more
    than a one-div app's whole answer. Each answer signs a new token, as Dash does.
    """
    found = _END_ID.findall(page)
    if len(found) != 1 or page.count(found[0]) != 1:
        raise RuntimeError("The page must hold its end_id exactly once")
    placeholder = found[0]
    spliced = GzipSplice(page, placeholder)

    def index() -> Response:
        token = _callback_signing.sign(
            app._get_signing_secret(),
            _callback_signing.END_SCOPE,
            secrets.token_hex(12),
        )
        if "gzip" not in request.headers.get("Accept-Encoding", ""):
            return Response(page.replace(placeholder, token), mimetype="text/html")
        response = Response(spliced.body(token), mimetype="text/html")
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        return response

    app.server.view_functions["/"] = index


def _warm_up(app: dash.Dash, token: str) -> str:
    """Serve the index page once, in-process, before any real request arrives.

    Dash registers its script bundles lazily on a process's first request; with
    threaded workers, a second thread could ask for a bundle before the first one
    finished registering it (a 500). Doing it here, before gunicorn forks, also
    means every worker starts with the work done.
    """
    response = app.server.test_client().get(
        "/", headers={security.INTERNAL_HEADER: token}
    )
    if response.status_code != 200:
        raise RuntimeError(f"The app failed to render its page: {response.status}")
    return response.get_data(as_text=True)


def _warm_up_jobs() -> None:
    """What the job runner imports and runs once, so that every job starts warm."""
    from .functions import warm_up

    warm_up()


def _healthz() -> Any:
    return jsonify(status="ok")


app = create_app()
server = app.server
