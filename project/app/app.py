"""The Dash app: creates it, registers layout and callbacks, exposes ``server``."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Any

import dash
from flask import Response, jsonify
from plotly.io.json import to_json_plotly as to_json

from . import logs, security
from .callbacks import register_callbacks
from .config import Settings
from .jobs import make_manager
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
    manager, celery_app = make_manager(settings)
    app = dash.Dash(
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
    )
    _serve_layout_once(app, settings)
    _warm_up(app, warm_up_token)
    return app


def _serve_layout_once(app: dash.Dash, settings: Settings) -> None:
    """Answer ``/_dash-layout`` from JSON serialised once, with a fresh session id.

    The page is the same for every visit but for its session id; serialising
    its few hundred components on every page load cost ~20 ms of CPU.
    """
    placeholder = new_session_id()
    page = to_json(serve_layout(settings, session_id=placeholder))
    if page.count(placeholder) != 1:
        raise RuntimeError("The layout must hold the session id exactly once")

    def layout() -> Response:
        return Response(
            page.replace(placeholder, new_session_id()), mimetype="application/json"
        )

    app.server.view_functions["/_dash-layout"] = layout


def _warm_up(app: dash.Dash, token: str) -> None:
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


def _healthz() -> Any:
    return jsonify(status="ok")


app = create_app()
server = app.server
