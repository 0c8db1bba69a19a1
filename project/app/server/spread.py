"""A search's folds spread over every Celery worker (with ``REDIS_URL``).

The search's job (itself a Celery task) sends each fold as a task of its own
(:data:`FOLD_TASK`, JSON: which data, settings, candidate, fold and rows) and
yields each result as it arrives. It never just waits: when nothing arrived, it
takes back a fold no worker has started yet (revoking it) and scores it itself,
so that a search makes progress with one worker of one process as with many,
and adding workers shortens it. A fold whose worker died (it was started, and
its heartbeat, see :func:`app.server.jobs.make_celery`, is gone) is scored again
here; what the lost worker would have answered is ignored.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator, Mapping

from app.server.jobs import HEARTBEAT_SECONDS, heartbeat_key

log = logging.getLogger(__name__)

#: The Celery task that scores one fold of a search (registered by the app).
FOLD_TASK = "dashboard.search_fold"
#: A started fold whose heartbeat has been missing this long lost its worker.
LOST_AFTER_SECONDS = 2 * HEARTBEAT_SECONDS
#: How often the search looks at its folds when it has nothing to score itself.
LOOK_SECONDS = 0.05

Here = Callable[[Mapping[str, Any]], dict[str, Any]]


def celery_spread(
    celery_app: Any, context: Mapping[str, Any]
) -> Callable[[list[dict[str, Any]], Here], Iterator[dict[str, Any]]]:
    """A spread (see :data:`app.ml.tuning.Spread`) of folds over ``celery_app``'s
    workers; ``context`` (JSON: the data and settings) goes with every fold."""

    def spread(tasks: list[dict[str, Any]], here: Here) -> Iterator[dict[str, Any]]:
        sent: dict[str, tuple[dict[str, Any], Any]] = {}
        for task in tasks:
            result = celery_app.send_task(FOLD_TASK, args=[{**context, **task}])
            sent[result.id] = (task, result)
        missing: dict[str, float] = {}
        try:
            while sent:
                moved, waiting = False, []
                for task_id, (task, result) in list(sent.items()):
                    state = result.state
                    if state == "SUCCESS":
                        del sent[task_id]
                        moved = True
                        answer = dict(result.result, **task)
                        _forget(result)
                        yield answer
                    elif state in ("FAILURE", "REVOKED"):
                        del sent[task_id]
                        moved = True
                        log.warning("a search fold failed on its worker: %s", state)
                        _forget(result)
                        yield here(task)
                    elif state == "STARTED":
                        if _lost(celery_app, task_id, missing):
                            del sent[task_id]
                            moved = True
                            log.warning("a search fold lost its worker: scored here")
                            _forget(result)
                            yield dict(here(task), worker="here (its worker was lost)")
                    else:
                        waiting.append(task_id)
                if moved:
                    continue
                if waiting:  # the last sent: the one workers would take last
                    task, result = sent.pop(waiting[-1])
                    result.revoke()
                    _forget(result)
                    yield dict(here(task), worker="here")
                else:
                    time.sleep(LOOK_SECONDS)
        finally:
            for _, result in sent.values():  # stopped early: withdraw the rest
                result.revoke()
                _forget(result)

    return spread


def _forget(result: Any) -> None:
    """Drop a fold's result from Redis and stop listening for it, now (Celery
    would otherwise do it when the result is garbage-collected, whenever that
    is, and then wait for Redis if it is gone)."""
    backend = result.backend
    try:
        result.forget()
        backend.remove_pending_result(result)
    except Exception:  # noqa: BLE001 - it expires anyway
        log.warning("could not forget a search fold's result", exc_info=True)
    result.backend = None


def _lost(celery_app: Any, task_id: str, missing: dict[str, float]) -> bool:
    """Whether a started fold's heartbeat has been gone :data:`LOST_AFTER_SECONDS`
    (a fold just started may not have written its first one yet)."""
    try:
        alive = celery_app.backend.client.exists(heartbeat_key(task_id))
    except Exception:  # noqa: BLE001 - Redis hiccup: ask again next time
        return False
    if alive:
        missing.pop(task_id, None)
        return False
    since = missing.setdefault(task_id, time.monotonic())
    return time.monotonic() - since > LOST_AFTER_SECONDS
