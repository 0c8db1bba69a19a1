"""Background jobs: where long callbacks (training, importances) run.

Without ``REDIS_URL``: Dash's DiskcacheManager, which runs each job in a child
process of the web worker and keeps results in a local disk cache (no service
needed). With ``REDIS_URL``: Celery workers on Redis, so that a job started
through one instance can be followed from any other. A Celery worker that dies
mid-job stops its heartbeat; the job is then reported as stopped instead of
leaving the visitor's progress bar waiting forever.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from .config import Settings

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2
HEARTBEAT_TTL_SECONDS = 10
_RUNNING_STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "PROGRESS")


def heartbeat_key(job: str) -> str:
    """The result-backend key a running Celery job keeps alive."""
    return f"dashboard-heartbeat-{job}"


def make_manager(settings: Settings) -> tuple[Any, Any]:
    """The background callback manager, and the Celery app (None without Redis)."""
    if settings.redis_url:
        celery_app = make_celery(settings)
        return _watched_celery_manager(celery_app), celery_app
    import diskcache
    from dash import DiskcacheManager

    cache = diskcache.Cache(
        os.path.join(settings.cache_dir, "jobs"), size_limit=256 * 1024 * 1024
    )
    return DiskcacheManager(cache, expire=3600), None


def make_celery(settings: Settings) -> Any:
    """A Celery app on the Redis at ``settings.redis_url`` (broker and results)."""
    from celery import Celery, signals

    app = Celery("dashboard", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_track_started=True,
        worker_prefetch_multiplier=1,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    beats: dict[str, threading.Event] = {}

    def start(task_id: str | None = None, **_: Any) -> None:
        if not task_id:
            return
        stop = threading.Event()
        beats[task_id] = stop
        backend = app.backend

        def beat() -> None:
            while True:
                try:
                    backend.client.set(
                        heartbeat_key(task_id), b"1", ex=HEARTBEAT_TTL_SECONDS
                    )
                except Exception:  # noqa: BLE001 - a missed beat is not fatal
                    log.warning("heartbeat of job %s failed", task_id, exc_info=True)
                if stop.wait(HEARTBEAT_SECONDS):
                    return

        threading.Thread(target=beat, name=f"heartbeat-{task_id}", daemon=True).start()

    def finish(task_id: str | None = None, **_: Any) -> None:
        stop = beats.pop(task_id or "", None)
        if stop is not None:
            stop.set()
        try:
            app.backend.client.delete(heartbeat_key(task_id or ""))
        except Exception:  # noqa: BLE001 - the key expires anyway
            log.warning("could not clear the heartbeat of job %s", task_id)

    signals.task_prerun.connect(start, weak=False)
    signals.task_postrun.connect(finish, weak=False)
    return app


def _watched_celery_manager(celery_app: Any) -> Any:
    from dash import CeleryManager

    class WatchedCeleryManager(CeleryManager):
        """A CeleryManager that knows a started job whose worker died is over."""

        def job_running(self, job: Any) -> bool:
            task = self.get_task(job)
            if not task:
                return False
            state = task.status
            if state not in _RUNNING_STATES:
                return False
            if state in ("STARTED", "PROGRESS"):
                alive = celery_app.backend.client.exists(heartbeat_key(str(job)))
                if not alive:
                    log.warning("job %s lost its worker", job)
                    return False
            return True

    return WatchedCeleryManager(celery_app, expire=3600)
