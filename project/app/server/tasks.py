"""Plain tasks, not callbacks, run where the app's jobs run (the job runner, or a
Celery worker with ``REDIS_URL``) under a job's memory and time budget, for a
caller that waits for the result in its request (the tools for AI agents).

A task is a function of one JSON payload returning JSON; a refusal it raises as
a ``ValueError`` (or a budget running out) comes back as :class:`TaskFailed`
with its sentence.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Callable

from app.config import Settings
from app.server.jobs import EXTENSION, OVER_BUDGET, RESULT_KEPT_SECONDS, Budget
from app.server.store import SessionExpired

log = logging.getLogger(__name__)

Task = Callable[[dict[str, Any]], Any]
FAILED = "The task failed; try again, or with lighter settings."
#: How often a waiting request looks for its task's result (seconds).
LOOK_SECONDS = 0.05


class TaskFailed(RuntimeError):
    """A task was refused, ran out of its budget, or stopped (a sentence)."""


def register_task(server: Any, settings: Settings, name: str, fn: Task) -> None:
    """Let ``name`` run ``fn`` where the jobs of the app on ``server`` run."""
    budget = Budget.of(settings)
    celery_app = server.extensions.get("celery")
    if celery_app is not None:

        def task(payload: dict[str, Any]) -> dict[str, Any]:
            return _under(budget, fn, payload)

        celery_app.task(name=name)(task)
        return
    manager = server.extensions[EXTENSION]
    cache = manager.handle

    def job(key: str, _progress: str, payload: Any, _context: Any) -> None:
        cache.set(key, _under(budget, fn, payload), expire=RESULT_KEPT_SECONDS)

    manager.func_registry[name] = job


def _under(budget: Budget, fn: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """``{"result": ...}``, or ``{"error": sentence}``."""
    try:
        with budget.applied():
            return {"result": fn(payload)}
    except OVER_BUDGET as exc:
        log.warning("a task ran out of its budget: %r", exc)
        return {"error": budget.message(exc)}
    except (ValueError, SessionExpired) as exc:  # a refusal, said as it is
        return {"error": str(exc)}
    except Exception:  # noqa: BLE001 - the caller gets a sentence, the log the rest
        log.exception("a task failed")
        return {"error": FAILED}


def run_task(
    server: Any, name: str, payload: dict[str, Any], *, visitor: str, timeout: float
) -> Any:
    """Run the task ``name`` on ``payload`` (queued fairly among ``visitor``'s
    and others' jobs) and return its result.

    Raises
    ------
    TaskFailed
        It was refused, ran out of its budget, stopped, or did not end within
        ``timeout`` seconds (then it is cancelled).
    """
    celery_app = server.extensions.get("celery")
    if celery_app is not None:
        answer = _on_celery(celery_app, name, payload, timeout)
    else:
        answer = _on_runner(
            server.extensions[EXTENSION], name, payload, visitor, timeout
        )
    if "error" in answer:
        raise TaskFailed(str(answer["error"]))
    return answer["result"]


def _on_runner(
    manager: Any, name: str, payload: dict[str, Any], visitor: str, timeout: float
) -> dict[str, Any]:
    runner, cache = manager.runner, manager.handle
    key = f"task-{secrets.token_hex(12)}"
    try:
        job = runner.submit(
            callback=name,
            key=key,
            progress_key=key + "-progress",
            args=payload,
            context={},
            visitor=visitor,
            wide=False,
        )["job"]
    except OSError as exc:
        log.error("the job runner does not answer: %r", exc)
        raise TaskFailed("Jobs cannot run right now; try again shortly.") from None
    deadline = time.monotonic() + timeout
    while True:
        status = runner.status(job)  # before the result: an ended job wrote it
        answer = cache.pop(key, default=None)
        if answer is not None:
            return dict(answer)
        if status.get("state") not in ("queued", "running"):
            raise TaskFailed(status.get("reason") or "The task stopped before its end.")
        if time.monotonic() > deadline:
            runner.cancel(job)
            raise TaskFailed(f"The task did not end within {timeout:.0f} s.")
        time.sleep(LOOK_SECONDS)


def _on_celery(
    celery_app: Any, name: str, payload: dict[str, Any], timeout: float
) -> dict[str, Any]:
    from celery.exceptions import TimeoutError as CeleryTimeout

    pending = celery_app.send_task(name, args=[payload])
    try:
        return dict(pending.get(timeout=timeout, propagate=True))
    except CeleryTimeout:
        pending.revoke(terminate=True)
        raise TaskFailed(f"The task did not end within {timeout:.0f} s.") from None
    except Exception as exc:  # noqa: BLE001 - the worker's failure, as a sentence
        log.warning("a task failed on its worker: %r", exc)
        raise TaskFailed(FAILED) from None
    finally:
        pending.forget()
