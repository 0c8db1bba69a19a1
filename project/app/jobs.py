"""Background jobs: where long callbacks (training, importances) run.

Without ``REDIS_URL``: Dash's DiskcacheManager, which runs each job in a child
process of the web worker and keeps results in a local disk cache (no service
needed); at most ``JOB_SLOTS`` jobs (default: one per CPU) compute at once per
instance, the others wait their turn and say so in their progress bar. With
``REDIS_URL``: Celery workers on Redis, so that a job started through one
instance can be followed from any other. A Celery worker that dies
mid-job stops its heartbeat; the job is then reported as stopped instead of
leaving the visitor's progress bar waiting forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import stat
import threading
import time
from typing import Any, Callable, Iterator

from .config import Settings
from .forksafe import GUARD, close_after_fork

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2
HEARTBEAT_TTL_SECONDS = 10
_RUNNING_STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "PROGRESS")
QUEUED = "Queued: starts when one of the running jobs ends"
QUEUED_BEHIND = "Queued behind {ahead} other job(s)"
SLOT_POLL_SECONDS = 0.2
RESULT_KEPT_SECONDS = 60
WARM_UP_DELAY_SECONDS = 3.0  # after the first page's burst of callbacks


def heartbeat_key(job: str) -> str:
    """The result-backend key a running Celery job keeps alive."""
    return f"dashboard-heartbeat-{job}"


def make_manager(settings: Settings) -> tuple[Any, Any]:
    """The background callback manager, and the Celery app (None without Redis)."""
    if settings.redis_url:
        celery_app = make_celery(settings)
        return _watched_celery_manager(celery_app), celery_app
    import diskcache

    directory = os.path.join(settings.cache_dir, "jobs")
    cache = diskcache.Cache(directory, size_limit=256 * 1024 * 1024)
    slots = JobSlots(os.path.join(directory, "slots"), settings.job_concurrency)
    return _bounded_diskcache_manager(cache, slots), None


class JobSlots:
    """At most ``count`` holders at once among all the processes of one machine,
    served in their order of arrival.

    Each slot is a lock file, and each waiter a file named by its arrival time and
    pid; the kernel frees a dead holder's lock, and a dead waiter's file is
    skipped, so a job killed mid-way never blocks the others.
    """

    def __init__(self, directory: str, count: int) -> None:
        self.directory = directory
        self.queue = os.path.join(directory, "queue")
        self.count = max(1, count)

    @contextlib.contextmanager
    def hold(self, waiting: Callable[[int], None] | None = None) -> Iterator[int]:
        """Wait for a free slot; ``waiting(jobs ahead)`` each time that changes."""
        os.makedirs(self.queue, mode=0o700, exist_ok=True)
        me = f"{time.time_ns():020d}-{os.getpid()}"
        ticket = os.path.join(self.queue, me)
        with open(ticket, "x", encoding="ascii"):
            pass
        told = -1
        try:
            while True:
                ahead = self._ahead(me)
                if ahead < self.count:
                    fd = self._take()
                    if fd is not None:
                        os.unlink(ticket)
                        try:
                            yield fd
                        finally:
                            fcntl.flock(fd, fcntl.LOCK_UN)
                            os.close(fd)
                        return
                if waiting is not None and ahead != told:
                    waiting(ahead)
                    told = ahead
                time.sleep(SLOT_POLL_SECONDS)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(ticket)

    def _ahead(self, me: str) -> int:
        """How many live waiters arrived before ``me``."""
        ahead = 0
        for name in sorted(os.listdir(self.queue)):
            if name >= me:
                break
            if _alive(int(name.rsplit("-", 1)[1])):
                ahead += 1
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.queue, name))
        return ahead

    def _take(self) -> int | None:
        """A locked slot's file descriptor, or None when all are taken."""
        for number in range(self.count):
            path = os.path.join(self.directory, f"slot-{number}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bounded(fn: Callable[..., Any], slots: JobSlots, progress: bool) -> Any:
    """``fn`` run inside a job slot; a queued job shows it in its progress bar.

    The app's progress outputs are a (value, label) pair.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        drop_inherited_sockets()
        report = args[0] if progress and args else None

        def waiting(ahead: int) -> None:
            if report is not None:
                label = QUEUED_BEHIND.format(ahead=ahead) if ahead else QUEUED
                report((0, label))

        with slots.hold(waiting):
            return fn(*args, **kwargs)

    return run


def drop_inherited_sockets() -> None:
    """In a job process: let go of the web worker's sockets (listener, visitors).

    A forked job inherits them; if its web worker is then killed, the visitors'
    connections would stay open, unanswered, for as long as the job runs. Each is
    replaced by /dev/null rather than closed, so no number is reused under an
    object that still holds it.
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # not Linux: nothing to do
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for name in names:
            fd = int(name)
            try:
                is_socket = fd != null and stat.S_ISSOCK(os.fstat(fd).st_mode)
            except OSError:
                continue
            if is_socket:
                os.dup2(null, fd)
    finally:
        os.close(null)


def _bounded_diskcache_manager(cache: Any, slots: JobSlots) -> Any:
    import psutil
    from dash import DiskcacheManager

    close_after_fork(cache.close)

    class BoundedDiskcacheManager(DiskcacheManager):
        """Dash's DiskcacheManager with job slots, safe forks, a race-free kill.

        Every use of the cache in the web process holds ``GUARD.using`` and the
        fork of a job holds ``GUARD.forking`` (see ``app.forksafe``).
        """

        def make_job_fn(self, fn: Any, progress: Any, key: Any = None) -> Any:
            return super().make_job_fn(_bounded(fn, slots, bool(progress)), progress)

        def call_job_fn(self, key: Any, job_fn: Any, args: Any, context: Any) -> Any:
            with GUARD.forking():
                return super().call_job_fn(key, job_fn, args, context)

        def terminate_job(self, job: Any) -> None:
            # The job may end between Dash's liveness check and its kill.
            with GUARD.using(), contextlib.suppress(psutil.NoSuchProcess):
                super().terminate_job(job)

        def get_progress(self, key: Any) -> Any:
            with GUARD.using():
                return super().get_progress(key)

        def result_ready(self, key: Any) -> bool:
            with GUARD.using():
                return super().result_ready(key)

        def get_result(self, key: Any, job: Any) -> Any:
            with GUARD.using():
                result = self._read_result(key, job)
                if result is self.UNDEFINED and job and not self.job_running(job):
                    # It may have written its result and exited since the read.
                    result = self._read_result(key, job)
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
            if job:
                self.terminate_job(job)
            return result

        def get_updated_props(self, key: Any) -> Any:
            with GUARD.using():
                return super().get_updated_props(key)

        def clear_cache_entry(self, key: Any) -> None:
            with GUARD.using():
                super().clear_cache_entry(key)

        def get_or_create_signing_secret(self, generate: Any) -> Any:
            with GUARD.using():
                return super().get_or_create_signing_secret(generate)

    return BoundedDiskcacheManager(cache, expire=3600)


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


def release_child_jobs(recycled: bool) -> None:
    """Before a web worker exits: its background jobs go on, or stop.

    A worker recycled after its quota of requests leaves its jobs running (their
    results land in the shared cache, where any worker finds them) and exits
    without waiting for them. A worker shut down stops them, so that the server
    exits within its grace period and leaves no process behind.
    """
    import psutil

    try:
        from multiprocess import process as mp_process
    except ImportError:  # pragma: no cover - a dependency of dash[diskcache]
        mp_process = None
    children = psutil.Process().children(recursive=True)
    if recycled:
        if mp_process is not None:
            # Forget the jobs, or the interpreter would wait for them at exit.
            mp_process._children.clear()
        return
    _stop(children, "at shutdown")


def _stop(processes: list[Any], why: str) -> None:
    """Terminate ``processes``, then kill those still there after a second."""
    import psutil

    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(processes, timeout=1)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    if processes:
        log.info("stopped %d background job process(es) %s", len(processes), why)


class WarmUp:
    """Import and run training once, off-request, after a worker's first callback.

    Jobs forked afterwards start warm. Not at start-up: a worker that only serves
    pages (or is recycled under such load) never pays for it. It waits for the
    first page's burst of callbacks to pass and runs at a lower priority. No job
    is forked while it runs (a child must not inherit a half-imported module).
    With Celery the jobs run elsewhere and the app does not warm up at all.
    """

    def __init__(self, delay: float = WARM_UP_DELAY_SECONDS) -> None:
        self.delay = delay
        self._started_in: int | None = None
        self._lock = threading.Lock()

    def start(self) -> threading.Thread | None:
        """Start warming up in a thread, once per process; the thread or None."""
        if self._started_in == os.getpid():  # every later callback: no lock
            return None
        with self._lock:
            if self._started_in == os.getpid():
                return None
            self._started_in = os.getpid()
        thread = threading.Thread(target=self._run, name="warm-up", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: this thread only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        time.sleep(self.delay)
        from .functions import warm_up

        try:
            with GUARD.using():
                seconds = warm_up()
        except Exception:  # noqa: BLE001 - jobs then warm up by themselves
            log.warning("warming up training failed", exc_info=True)
            return
        log.info("training warmed up in %.2f s", seconds)


def stop_orphaned_jobs() -> None:
    """At server exit: stop the jobs that recycled workers left running.

    They are the processes of this server's process group started from the same
    command line (forked from a worker), whose worker has gone.
    """
    import psutil

    me = psutil.Process()
    group, command = os.getpgid(0), me.cmdline()
    left = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == me.pid or os.getpgid(proc.pid) != group:
                continue
            if proc.cmdline() == command:
                left.append(proc)
        except (psutil.Error, OSError):
            continue
    _stop(left, "left by workers")
