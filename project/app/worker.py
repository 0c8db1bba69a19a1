"""Entry point of the Celery workers of the multi-instance mode.

Run with ``REDIS_URL`` set, from the ``project`` folder::

    celery --app app.worker worker --loglevel INFO

Building the app here, at import, registers every background callback as a
Celery task (Celery's entry point is a module; only this one builds at import).
"""

from app.app import create_app

dash_app = create_app()

celery = dash_app.server.extensions.get("celery")
if celery is None:
    raise RuntimeError("Set REDIS_URL to run a Celery worker.")
