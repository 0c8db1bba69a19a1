"""Entry point of the Celery workers of the multi-instance mode.

Run with ``REDIS_URL`` set, from the ``project`` folder::

    celery --app app.worker worker --loglevel INFO

Importing the app registers every background callback as a Celery task.
"""

from .app import app as dash_app

celery = dash_app.server.extensions.get("celery")
if celery is None:
    raise RuntimeError("Set REDIS_URL to run a Celery worker.")
