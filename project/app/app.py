"""The Dash app: creates it and registers its layout and callbacks.

Importing this module builds nothing: gunicorn serves ``app.app:create_server()``.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from functools import partial
from typing import Any

import dash
import flask

from app import agents, api, viewer
from app.config import Settings
from app.server import jobs, logs, security
from app.server.shares import Shares
from app.server.store import SessionStore
from app.services import tuning as search
from app.ui import ids
from app.ui.shell import serve_layout
from app.ui.tabs import register_callbacks

log = logging.getLogger(__name__)

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
        retry=ids.APP_RETRY_TARGET,
        warm_up=_warm_up_jobs,
        on_job_start=store.defer,  # a run's model is written after its result
        on_job_end=store.flush,
    )
    app = security.DashWithoutVersions(
        __name__,
        title="Dashboard · explore data and train models",
        index_string=INDEX,
        update_title=None,
        compress=True,
        suppress_callback_exceptions=True,
        background_callback_manager=manager,
        enable_mcp=settings.enable_mcp,
        meta_tags=[
            {"name": "viewport", "content": "width=device-width, initial-scale=1"}
        ],
    )
    app.layout = partial(serve_layout, settings)
    shares = Shares(settings.shares_location)
    register_callbacks(app, store, settings, shares)
    server = app.server
    # Signs background-job handles; every process of every instance must agree.
    server.secret_key = settings.secret_key or store.shared_secret()
    server.extensions[jobs.EXTENSION] = manager
    if celery_app is not None:
        server.extensions["celery"] = celery_app
        search.register_fold_task(
            celery_app,
            store,
            partial(
                jobs.candidate_budget, settings.job_memory_mb, settings.job_seconds
            ),
        )
    server.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    server.add_url_rule("/healthz", "healthz", _healthz)
    server.extensions["shares"] = shares
    server.extensions["store"] = store
    limit = api.rate_limit(settings)  # API and pages' predictions alike
    server.register_blueprint(api.blueprint(shares, settings, limit))
    server.register_blueprint(viewer.blueprint(shares, settings, limit))
    warm_up_token = secrets.token_urlsafe(32)
    if settings.enable_mcp:
        agents.install(app, shares, settings, internal_token=warm_up_token)
    logs.install(server, project=settings.google_cloud_project)
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
    _warm_up(app, warm_up_token)
    return app


def create_server() -> flask.Flask:
    """The Flask server of a new app, for gunicorn: ``app.app:create_server()``.

    With ``preload_app`` (gunicorn.conf.py) gunicorn calls it once, in the master,
    before it forks the workers.
    """
    started = time.perf_counter()
    server = create_app().server
    log.info(
        "app built in %.2f s by process %d", time.perf_counter() - started, os.getpid()
    )
    return server


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


def _warm_up_jobs() -> None:
    """What the job runner imports and runs once, so that every job starts warm."""
    from app.ml import warm_up

    warm_up()
    import skops.io  # noqa: F401 - a run's model is written with it (in the job)


def _healthz() -> Any:
    return flask.jsonify(status="ok")
