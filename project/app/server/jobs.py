"""Background jobs: where long callbacks (training, explanations, big loads) run.

Without ``REDIS_URL``: Dash's DiskcacheManager keeps progress and results in a
local disk cache, and the job runner (:mod:`app.server.runner`) queues the jobs fairly
and runs each one in a process of its own; web workers never fork. With
``REDIS_URL``: Celery workers on Redis, so that a job started through one
instance can be followed from any other; a Celery worker that dies mid-job stops
its heartbeat, and the job is then reported as stopped instead of leaving the
visitor's progress bar waiting forever.

Either way every job runs under a :class:`Budget` (memory and wall time). A
callback that can say something useful about running out catches
:data:`OVER_BUDGET` itself; anything else that runs out is ended with a notice.

Either way, too, a poll of a job that has not ended waits in the server (up to
:data:`POLL_WAIT_SECONDS`) for the job's result, so that a result reaches the
page as soon as it is written while the page asks often
(``app.ui.tabs._background.JOB_POLL_MS``) without asking more often than before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from app.config import Settings
from app.server.runner import (
    INTERRUPTED,
    OVER_MEMORY,
    OVER_TIME,
    UNAVAILABLE,
    WORKERS_VARIABLE,
    Runner,
    duration,
)
from app.server.store import open_private_cache

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2
HEARTBEAT_TTL_SECONDS = 10
_RUNNING_STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "PROGRESS")
RESULT_KEPT_SECONDS = 60
KILL_GRACE_SECONDS = 10
EXTENSION = "dashboard.jobs"
_MB = 1024 * 1024
#: What a job stripped from the request context before handing it on.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
#: How long a poll of a job that has not ended waits for its result, how often it
#: looks (the result in the cache: every 10 ms at first, backing off to 50 ms) and
#: asks the job's state meanwhile. The page asks again JOB_POLL_MS after each
#: answer; progress shows at that pace.
POLL_WAIT_SECONDS = 0.4
POLL_LOOK_SECONDS = 0.01
POLL_LOOK_MAX_SECONDS = 0.05
POLL_ASK_SECONDS = 0.2


def _held_polls() -> int:
    """Polls one web process may hold at once: half of its threads (gunicorn's
    ``GUNICORN_THREADS``, 4 by default), so that the others serve the rest."""
    try:
        threads = int(os.environ.get("GUNICORN_THREADS", "4"))
    except ValueError:
        threads = 4
    return max(0, threads // 2)


_HELD = threading.BoundedSemaphore(max(1, _held_polls()))
_HOLDING = _held_polls() > 0


class JobTimeout(BaseException):
    """A job ran out of its time budget (a BaseException, so that libraries'
    ``except Exception`` blocks do not swallow it)."""


#: What a job's work raises when it runs out of its budget.
OVER_BUDGET = (MemoryError, JobTimeout)


def heartbeat_key(job: str) -> str:
    """The result-backend key a running Celery job keeps alive."""
    return f"dashboard-heartbeat-{job}"


@dataclass(frozen=True)
class Budget:
    """What one job may use: memory (beyond what its process held at the start)
    and wall time; and where a job that runs out says so (a component id).
    """

    memory_mb: int
    seconds: int
    notice: str | None = None

    @classmethod
    def of(cls, settings: Settings, notice: str | None = None) -> "Budget":
        """The budget the settings give every job."""
        return cls(settings.job_memory_mb, settings.job_seconds, notice)

    def message(self, exc: BaseException) -> str:
        """The sentence for a visitor whose job ran out."""
        if isinstance(exc, MemoryError):
            return OVER_MEMORY.format(limit=self.memory_mb)
        return OVER_TIME.format(limit=duration(self.seconds))

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Enforce the budget on the enclosed work, in the job's process.

        Memory: the data segment limit (RLIMIT_DATA) is set to what the process
        holds now plus the budget, so that an allocation past it raises
        MemoryError. Time: an alarm raises :class:`JobTimeout` in the main thread.
        scikit-learn's chunked computations are sized to a part of the budget.
        """
        import resource

        from sklearn import config_context

        main = threading.current_thread() is threading.main_thread()
        previous_limit = resource.getrlimit(resource.RLIMIT_DATA)
        data = _data_bytes()
        if data:
            soft = data + self.memory_mb * _MB
            hard = previous_limit[1]
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
        previous_alarm, outer, started = None, 0.0, time.monotonic()
        if main:  # within an outer budget (a search's candidate): the sooner end
            previous_alarm = signal.signal(signal.SIGALRM, _time_is_up)
            outer = signal.getitimer(signal.ITIMER_REAL)[0]
            seconds = min(self.seconds, outer) if outer > 0 else self.seconds
            signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            with config_context(working_memory=max(64, self.memory_mb // 8)):
                yield
        finally:
            if main:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous_alarm or signal.SIG_DFL)
                if outer > 0:
                    left = outer - (time.monotonic() - started)
                    signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_DATA, previous_limit)

    def guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` run under the budget; running out ends it with a notice."""
        from dash import set_props
        from dash.exceptions import PreventUpdate

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self.applied():
                try:
                    return fn(*args, **kwargs)
                except OVER_BUDGET as exc:
                    log.warning("a job ran out of its budget: %r", exc)
                    if self.notice:
                        set_props(self.notice, notice_props(self.message(exc)))
                    raise PreventUpdate from None

        return run


@contextlib.contextmanager
def candidate_budget(memory_mb: int, seconds: int) -> Iterator[None]:
    """One search candidate's budget (a training's), wherever it runs; running
    out raises TimeoutError or MemoryError saying so, for its leaderboard row."""
    budget = Budget(memory_mb, seconds)
    with budget.applied():
        try:
            yield
        except JobTimeout as exc:
            raise TimeoutError(budget.message(exc)) from None
        except MemoryError as exc:
            raise MemoryError(budget.message(exc)) from None


def wide(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a background callback whose job may use several processes (its
    visitor's share of the job slots, see :func:`granted_workers`)."""
    fn.wide_job = True  # type: ignore[attr-defined]
    return fn


def granted_workers() -> int:
    """Processes the running job may use (its share of the job slots; 1 when the
    runner granted none, as under Celery)."""
    try:
        return max(1, int(os.environ.get(WORKERS_VARIABLE, "1")))
    except ValueError:
        return 1


def notice_props(text: str) -> dict[str, Any]:
    """The props that show ``text`` in the page's notice."""
    return {"children": text, "is_open": True}


def _time_is_up(*_: Any) -> None:
    raise JobTimeout("the job ran out of time")


def _data_bytes() -> int:
    """This process's data segment (VmData) in bytes; 0 where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def make_manager(
    settings: Settings,
    *,
    session_id: str,
    notice: str,
    retry: str | None = None,
    warm_up: Callable[[], Any] | None = None,
    on_job_start: Callable[[], Any] | None = None,
    on_job_end: Callable[[], Any] | None = None,
) -> tuple[Any, Any]:
    """The background callback manager, and the Celery app (None without Redis).

    ``session_id`` names the component whose value identifies a visitor (jobs are
    shared fairly between visitors); ``notice`` the component where a job that
    ran out of budget, or was refused, says so; ``retry`` a store given the id of
    the button that started a job that was interrupted (to click it again);
    ``on_job_start`` and ``on_job_end`` are called in a job's process first,
    and once its result is written.
    """
    budget = Budget.of(settings, notice)
    if settings.redis_url:
        celery_app = make_celery(settings)
        return _watched_celery_manager(celery_app, budget), celery_app
    directory = os.path.join(settings.cache_dir, "jobs")
    cache = open_private_cache(directory, size_limit=256 * _MB)
    manager = _runner_manager(cache, budget, session_id, notice, retry)
    manager.runner = Runner(
        directory,
        slots=settings.job_concurrency,
        memory_mb=settings.job_memory_mb,
        seconds=settings.job_seconds,
        grace=KILL_GRACE_SECONDS,
        per_visitor=settings.job_queue_per_visitor,
        jobs=lambda: manager.func_registry,
        warm_up=warm_up,
        on_job_start=functools.partial(_job_starts, cache, on_job_start),
        on_job_end=on_job_end,
        prepare=functools.partial(prepare_job, warm_up) if warm_up else None,
    )
    return manager, None


def _job_starts(cache: Any, then: Callable[[], Any] | None) -> None:
    cache.close()  # the job opens its own database connection
    if then is not None:
        then()


def prepare_job(warm_up: Callable[[], Any]) -> None:
    """What a spare job process does before it gets its job (see
    :mod:`app.server.runner`): the warm-up training, and a small Parquet frame
    read as the store reads a dataset, so that the memory a job then writes is
    mostly the spare's own copy already."""
    import io

    import pandas as pd

    warm_up()
    frame = pd.DataFrame({"x": [0.5, 1.5, 2.5], "label": ["a", "b", "a"]})
    pd.read_parquet(io.BytesIO(frame.to_parquet(engine="pyarrow")), engine="pyarrow")


def start(server: Any) -> None:
    """Start the job runner of the app served by ``server`` (a Flask app), when
    it has one. Call it before serving (gunicorn's ``on_starting``, a test)."""
    manager = server.extensions.get(EXTENSION)
    runner = getattr(manager, "runner", None)
    if runner is not None:
        runner.start()


def stop(server: Any) -> None:
    """Stop the job runner (and its jobs) that :func:`start` started."""
    manager = server.extensions.get(EXTENSION)
    runner = getattr(manager, "runner", None)
    if runner is not None:
        runner.stop()


def visitor_of(context: Mapping[str, Any], session_id: str) -> str:
    """The visitor a callback request comes from: its session id, else its
    address (jobs are shared between visitors, not requests)."""
    for item in context.get("states_list") or []:
        if isinstance(item, dict) and item.get("id") == session_id:
            value = item.get("value")
            if isinstance(value, str) and value:
                return "session:" + value[:64]
    return "address:" + str(context.get("remote") or "unknown")


def nothing_to_do(context: Mapping[str, Any]) -> bool:
    """Whether a background callback was called with no value in any of its
    inputs: what a store given ``data=None`` sends as it mounts, an input
    without even a ``null`` (the page's stores are given no data, so that they
    send nothing; this keeps a stray one from costing a job). Every background
    callback of this app does nothing then (it raises PreventUpdate first
    thing), so it is answered "no update" at once, without a job or a poll."""
    inputs: list[Any] = []
    for item in context.get("inputs_list") or []:
        inputs.extend(item if isinstance(item, list) else [item])
    return bool(inputs) and all(
        isinstance(item, dict) and "value" not in item for item in inputs
    )


def portable(context: Mapping[str, Any]) -> dict[str, Any]:
    """The callback context as JSON data a job can be handed, without the
    request's credentials."""
    kept = {k: v for k, v in context.items() if k != "cookies"}
    headers = context.get("headers")
    if isinstance(headers, Mapping):
        kept["headers"] = {
            k: v for k, v in headers.items() if str(k).lower() not in _PRIVATE_HEADERS
        }
    data: dict[str, Any] = json.loads(json.dumps(kept, default=str))
    return data


def wait_for_result(ready: Callable[[], bool], running: Callable[[], bool]) -> None:
    """Hold a poll until ``ready()`` (its job's result is written) or the job is
    no longer ``running()``, for at most :data:`POLL_WAIT_SECONDS`; at once when
    this process already holds as many polls as it may (see :func:`_held_polls`).
    """
    if not _HOLDING or not _HELD.acquire(blocking=False):
        return
    try:
        now = time.monotonic()
        deadline, ask, look = now + POLL_WAIT_SECONDS, now, POLL_LOOK_SECONDS
        while now < deadline:
            if ready():
                return
            if now >= ask:
                if not running():
                    return
                ask = now + POLL_ASK_SECONDS
            # Looking costs the web worker CPU: often at first, when a short
            # job's result is due, then every 50 ms (a poll held 0.4 s cost 16 ms
            # of CPU looking every 10 ms and asking every 100 ms; now 7.8 ms).
            time.sleep(min(look, max(deadline - now, 0)))
            look = min(look * 2, POLL_LOOK_MAX_SECONDS)
            now = time.monotonic()
    finally:
        _HELD.release()


def _trigger(ctx: Any) -> str | None:
    """The id of the component whose change started this callback (a string
    id only), or None outside a callback."""
    try:
        trigger = ctx.triggered_id
    except Exception:  # noqa: BLE001 - dash raises its own outside a callback
        return None
    return trigger if isinstance(trigger, str) else None


def _runner_manager(
    cache: Any, budget: Budget, session_id: str, notice: str, retry: str | None
) -> Any:
    from dash import DiskcacheManager, ctx
    from dash.exceptions import PreventUpdate
    from flask import g, has_request_context

    class RunnerManager(DiskcacheManager):
        """Dash's DiskcacheManager whose jobs the job runner starts and watches.

        Overrides: where a job starts (``call_job_fn``; not at all when there
        is nothing to do) and how it is asked about or stopped (``job_running``,
        ``terminate_job``); a queued job's progress; a poll that waits for its
        result; a result kept for a repeated poll; a notice when a job ended for
        a reason.
        """

        runner: Runner

        def make_job_fn(self, fn: Any, progress: Any, key: Any = None) -> Any:
            job_fn = super().make_job_fn(budget.guard(fn), progress, key)
            job_fn.callback_key = key
            job_fn.wide_job = bool(getattr(fn, "wide_job", False))
            return job_fn

        def call_job_fn(self, key: Any, job_fn: Any, args: Any, context: Any) -> Any:
            if nothing_to_do(context):
                raise PreventUpdate
            try:
                answer = self.runner.submit(
                    callback=job_fn.callback_key,
                    key=key,
                    progress_key=self._make_progress_key(key),
                    args=args,
                    context=portable(context),
                    visitor=visitor_of(context, session_id),
                    wide=job_fn.wide_job,
                )
            except OSError as exc:
                log.error("the job runner does not answer: %r", exc)
                return "unavailable-" + secrets.token_hex(8)
            return answer["job"]

        def job_running(self, job: Any) -> bool:
            if not job or str(job).startswith("unavailable-"):
                return False
            return self._status(str(job))["state"] in ("queued", "running")

        def _status(self, job: str) -> dict[str, Any]:
            """The runner's answer about ``job``, asked once per request (see
            ``get_result``)."""
            if not has_request_context():
                return self.runner.status(job)
            known = g.setdefault("dashboard_job_status", {})
            if job not in known:
                known[job] = self.runner.status(job)
            return dict(known[job])

        def terminate_job(self, job: Any) -> None:
            """Stop a job, unless this request read its result: such a job is
            done and exits by itself once it has written what it left for after
            its answer (the durable store); its time budget still bounds it."""
            if not job or str(job).startswith("unavailable-"):
                return
            if has_request_context() and str(job) in g.get("dashboard_answered", ()):
                return
            self.runner.cancel(job)

        def terminate_unhealthy_job(self, job: Any) -> bool:
            return False

        def get_progress(self, key: Any) -> Any:
            progress = super().get_progress(key)
            if progress:
                return self._if_changed(key, progress)
            status = self.runner.status_of_key(key)
            if status.get("state") == "queued":
                return [0, status.get("label", "")]
            return progress

        def _if_changed(self, key: Any, progress: Any) -> Any:
            """The job's progress when it changed since the last poll was sent
            it, else None (nothing to send, nothing for the page to draw)."""
            digest = hashlib.blake2b(
                json.dumps(progress, default=str).encode(), digest_size=16
            ).hexdigest()
            sent = f"{key}-progress-sent"
            if self.handle.get(sent) == digest:
                return None
            self.handle.set(sent, digest, expire=RESULT_KEPT_SECONDS * 10)
            return progress

        def get_result(self, key: Any, job: Any) -> Any:
            if job and not str(job).startswith("unavailable-"):
                wait_for_result(
                    lambda: key in self.handle,
                    lambda: self.runner.status(str(job))["state"]
                    in ("queued", "running"),
                )
            # The job's state first, then its result: a job seen ended wrote its
            # result (if any) before; one seen running is polled again. Dash then
            # asks job_running, which gives the same answer for this request, so
            # that a job ending in between does not look ended without a result.
            if job and has_request_context():
                g.setdefault("dashboard_job_status", {}).pop(str(job), None)
            self.job_running(job)
            result = self._read_result(key, job)
            if result is self.UNDEFINED and job:
                self._note_why_it_ended(str(job))
            return result

        def _read_result(self, key: Any, job: Any) -> Any:
            """Dash's read of a result, which is then kept a while for that job.

            A poll whose answer is lost (its web worker killed mid-response) is
            sent again by the visitor with the same job and must still find the
            result; a later job with the same inputs must not.
            """
            result = self.handle.get(key, self.UNDEFINED)
            kept = f"{key}-kept-{job}"
            if result is self.UNDEFINED:
                return self.handle.get(kept, self.UNDEFINED) if job else result
            if job:
                self.handle.set(kept, result, expire=RESULT_KEPT_SECONDS)
            self.clear_cache_entry(key)
            self.clear_cache_entry(self._make_progress_key(key))
            self.clear_cache_entry(f"{key}-progress-sent")
            if job and has_request_context():
                g.setdefault("dashboard_answered", set()).add(str(job))
            return result

        def _note_why_it_ended(self, job: str) -> None:
            if job.startswith("unavailable-"):
                reason: str | None = UNAVAILABLE
            else:
                status = self._status(job)
                reason = status.get("reason") if status["state"] == "ended" else None
                if status["state"] == "unknown":  # lost with a runner that went
                    reason = INTERRUPTED
            if reason and has_request_context():
                g.dashboard_job_notice = reason

        def get_updated_props(self, key: Any) -> Any:
            props = super().get_updated_props(key)
            reason = (
                g.pop("dashboard_job_notice", None) if has_request_context() else None
            )
            if reason:
                props = {**props, notice: notice_props(reason)}
                if retry and reason == INTERRUPTED:
                    trigger = _trigger(ctx)  # a poll names what started its job
                    if trigger:
                        props[retry] = {"data": trigger}
            return props

    return RunnerManager(cache, expire=3600)


#: The Celery app made for each Redis URL (one per process), for the jobs that
#: send tasks of their own (a search's folds).
_CELERY_APPS: dict[str, Any] = {}


def celery_app(settings: Settings) -> Any:
    """This process's Celery app for ``settings`` (None without ``REDIS_URL``)."""
    if not settings.redis_url:
        return None
    return _CELERY_APPS.get(settings.redis_url)


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
        # Each job's own budget (jobs.Budget) ends it first; these are backstops.
        task_time_limit=settings.job_seconds + KILL_GRACE_SECONDS,
        worker_max_memory_per_child=settings.job_memory_mb * 1024,
    )
    beats: dict[str, threading.Event] = {}

    def start_beat(task_id: str | None = None, **_: Any) -> None:
        if not task_id:
            return
        stop_event = threading.Event()
        beats[task_id] = stop_event
        backend = app.backend

        def beat() -> None:
            while True:
                try:
                    backend.client.set(
                        heartbeat_key(task_id), b"1", ex=HEARTBEAT_TTL_SECONDS
                    )
                except Exception:  # noqa: BLE001 - a missed beat is not fatal
                    log.warning("heartbeat of job %s failed", task_id, exc_info=True)
                if stop_event.wait(HEARTBEAT_SECONDS):
                    return

        threading.Thread(target=beat, name=f"heartbeat-{task_id}", daemon=True).start()

    def finish(task_id: str | None = None, **_: Any) -> None:
        stop_event = beats.pop(task_id or "", None)
        if stop_event is not None:
            stop_event.set()
        try:
            app.backend.client.delete(heartbeat_key(task_id or ""))
        except Exception:  # noqa: BLE001 - the key expires anyway
            log.warning("could not clear the heartbeat of job %s", task_id)

    signals.task_prerun.connect(start_beat, weak=False)
    signals.task_postrun.connect(finish, weak=False)
    _CELERY_APPS[str(settings.redis_url)] = app
    return app


def _watched_celery_manager(celery_app: Any, budget: Budget) -> Any:
    from dash import CeleryManager
    from dash.exceptions import PreventUpdate

    class WatchedCeleryManager(CeleryManager):
        """A CeleryManager whose jobs run under a budget (and are not started
        with nothing to do), whose polls wait a while for their result, and
        which knows that a started job whose worker died is over."""

        def make_job_fn(self, fn: Any, progress: Any, key: Any = None) -> Any:
            return super().make_job_fn(budget.guard(fn), progress, key)

        def call_job_fn(self, key: Any, job_fn: Any, args: Any, context: Any) -> Any:
            if nothing_to_do(context):
                raise PreventUpdate
            return super().call_job_fn(key, job_fn, args, context)

        def get_result(self, key: Any, job: Any) -> Any:
            if job:
                wait_for_result(
                    lambda: self.result_ready(key), lambda: self.job_running(job)
                )
            return super().get_result(key, job)

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
