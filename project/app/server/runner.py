"""The job runner: one process per server that queues background jobs fairly and
runs each one in a child process with a memory and time budget.

Started once, before the server takes requests (gunicorn's ``on_starting`` hook;
tests call :meth:`Runner.start` themselves), by forking the process that holds the
app. Web workers never fork: they hand jobs to the runner over a Unix socket and
ask it how they are doing. So:

- a *keeper* (the forked copy) imports and warms scikit-learn once, then forks the
  runner and forks it again if it ever dies;
- the *runner* (single-threaded) holds the queue: at most ``slots`` jobs at once,
  one per visitor, visitors served in turn (a visitor's second job waits behind
  every other visitor's first); it forks each job from its warm, quiescent self,
  watches its memory (resident size of the job's process group) and wall time,
  and kills what goes over, remembering why. It answers a submit before it
  forks, and a job's end wakes it at once (SIGCHLD), so that the next job starts
  without waiting for its tick;
- a *spare*: when no job runs or waits, the runner forks one job process ahead
  and prepares it (``prepare``: a small training, so that the pages a training
  writes are already its own copies), and the next job runs in it, without the
  fork and the first-touch costs of a fresh copy (about half of a small
  training's time); when it is busy, jobs are forked as they start;
- a *job* runs in its own process group at a lower CPU priority, dies with the
  runner, and gets its budget enforced from inside too (see ``jobs.Budget``).

Messages on the socket are one JSON object per line each way; the socket lives in
the cache directory (0700) and only the service user can reach it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import secrets
import selectors
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from app.server.scheduler import BACKGROUND_SLOTS, Job, Scheduler

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2
JOB_NICE = 10
HEAVY_NICE = 19
#: A spare that died before it got a job is not replaced before this many seconds.
SPARE_RETRY_SECONDS = 1.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
START_WAIT_SECONDS = 30.0
#: How long a stopping runner lets its jobs end by themselves before it kills them.
STOP_GRACE_SECONDS = 2.0  # a job submitted while the runner (re)starts waits
#: Tells a job how many processes it may use (the job slots it holds).
WORKERS_VARIABLE = "DASHBOARD_JOB_WORKERS"

OVER_MEMORY = (
    "This job needed more than the {limit:,} MB of memory this server allows one "
    "job, so it was stopped. Use fewer rows or features, or lighter settings."
)
OVER_TIME = (
    "This job ran longer than the {limit} this server allows one job, so it was "
    "stopped. Use fewer rows or folds, or lighter settings."
)
CRASHED = (
    "This job stopped unexpectedly (the server may have run short of memory). "
    "Try again, with less data or lighter settings."
)
UNAVAILABLE = (
    "Background jobs are not available on this server right now; try again in a "
    "moment."
)
#: What a poll of a job the runner does not know says: the job was lost with the
#: runner that had it (a server restarted, or an instance replaced).
INTERRUPTED = (
    "The last job was interrupted: the server restarted before it finished, and "
    "its work was lost. Start it again."
)


def duration(seconds: float) -> str:
    """``90`` -> ``"1.5 minutes"``, ``45`` -> ``"45 seconds"``."""
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return "1 second" if seconds == 1 else f"{seconds:g} seconds"


class Runner:
    """The job runner's settings, its client (any process) and its lifecycle.

    Parameters
    ----------
    directory : str
        A private directory (0700) for the socket.
    slots : int
        Jobs computing at once.
    memory_mb, seconds : int
        Each job's budget: growth of its resident memory, and wall time.
    grace : float
        Seconds past its time budget before the runner kills a job (which may
        have been told by its own alarm first).
    per_visitor : int
        Jobs one visitor may have running or waiting.
    jobs : callable
        Returns the job functions by callback key (read when the runner starts).
    warm_up : callable, optional
        Imports and runs what jobs need, once, so that every job starts warm.
    on_job_start : callable, optional
        Called first in each job's process (to let go of inherited handles).
    on_job_end : callable, optional
        Called in each job's process after its job returned (and wrote its
        result), before the process exits (to finish writes left for later).
    prepare : callable, optional
        Run in a spare job process before it is given a job (see the module's
        docstring); without it, no spare is kept.
    """

    def __init__(
        self,
        directory: str,
        *,
        slots: int,
        memory_mb: int,
        seconds: int,
        per_visitor: int,
        grace: float = 0.0,
        jobs: Callable[[], Mapping[str, Callable[..., Any]]],
        warm_up: Callable[[], Any] | None = None,
        on_job_start: Callable[[], Any] | None = None,
        on_job_end: Callable[[], Any] | None = None,
        prepare: Callable[[], Any] | None = None,
    ) -> None:
        self.directory = directory
        self.socket_path = os.path.join(directory, "runner.sock")
        self.slots = max(1, slots)
        self.memory_mb = memory_mb
        self.seconds = seconds
        self.per_visitor = max(1, per_visitor)
        self.grace = grace
        self.jobs = jobs
        self.warm_up = warm_up
        self.on_job_start = on_job_start
        self.on_job_end = on_job_end
        self.prepare = prepare
        self._keeper = 0
        self._lock = threading.Lock()

    # -- client ---------------------------------------------------------------------
    def request(self, message: dict[str, Any], *, wait: float = 0.0) -> dict[str, Any]:
        """Send one message and return the answer; waits up to ``wait`` seconds for
        a runner that is (re)starting. Raises ``OSError`` when none answers."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return self._exchange(message)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(30)
            conn.connect(self.socket_path)
            conn.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            with conn.makefile("rb") as reader:
                line = reader.readline(MAX_MESSAGE_BYTES)
        if not line:
            raise ConnectionResetError("the job runner closed the connection")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def submit(self, **job: Any) -> dict[str, Any]:
        """Queue a job (see :class:`Job` for the fields); returns its status and
        ``job``, its id. Starts the runner first when this process may."""
        if not self.started():
            self.start_if_safe()
        # Wait for a runner being (re)started by its keeper, not for one never coming.
        wait = START_WAIT_SECONDS if self.started() else 0.0
        return self.request({"op": "submit", **job}, wait=wait)

    def status(self, job: str) -> dict[str, Any]:
        """``{"state": queued|running|ended|unknown, "reason", "label"}``."""
        try:
            return self.request({"op": "status", "job": str(job)})
        except OSError:
            return {"state": "unknown"}

    def status_of_key(self, key: str) -> dict[str, Any]:
        """The status of the newest job with this cache key."""
        try:
            return self.request({"op": "status", "key": str(key)})
        except OSError:
            return {"state": "unknown"}

    def cancel(self, job: str) -> None:
        """Stop a job (queued or running); quiet when it already ended."""
        with contextlib.suppress(OSError):
            self.request({"op": "cancel", "job": str(job)})

    def ping(self) -> dict[str, Any]:
        """The runner's counts; raises ``OSError`` when it does not answer."""
        return self.request({"op": "ping"})

    # -- lifecycle (the process that starts it) --------------------------------------
    def started(self) -> bool:
        """Whether this process started a runner that is still there."""
        return bool(self._keeper) and _alive_child(self._keeper)

    def start(self) -> int:
        """Fork the keeper (which forks the runner); returns its pid.

        Call it while this process is quiescent: before it serves requests and
        with no other thread busy (a forked copy inherits the memory of every
        thread, locks included).
        """
        with self._lock:
            if self.started():
                return self._keeper
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            owner = os.getpid()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the keeper, measured by its tests
                _exit_after(lambda: _Keeper(self, owner).run())
            self._keeper = pid
            log.info(
                "job runner started (keeper pid %d): %d job slot(s) and %d "
                "background, %d MB and %d s per job",
                pid,
                self.slots,
                BACKGROUND_SLOTS,
                self.memory_mb,
                self.seconds,
            )
            return pid

    def start_if_safe(self) -> None:
        """Start the runner from here when no other thread could be mid-work."""
        if threading.active_count() == 1:
            self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the keeper, the runner and every job (from the starting process)."""
        pid, self._keeper = self._keeper, 0
        if not pid:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive_child(pid):
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _alive_child(pid: int) -> bool:
    """Whether a child of this process is still running (reaping it if not)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (or reaped elsewhere): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return done == 0


def _exit_after(run: Callable[[], Any]) -> None:
    """Run ``run`` in a forked child and leave without the parent's exit handlers."""
    code = 0
    try:
        run()
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        log.exception("a job process failed")
        code = 1
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent process exits (no-op elsewhere)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Stop(Exception):
    """Raised by the signal handlers of the keeper and the runner."""


def _raise_stop(*_: Any) -> None:
    raise _Stop()


class _Keeper:
    """Warms up once, then keeps one runner alive until told to stop."""

    def __init__(self, runner: Runner, owner: int) -> None:
        self.runner = runner
        self.owner = owner

    def run(self) -> None:
        signal.signal(signal.SIGTERM, _raise_stop)
        signal.signal(signal.SIGINT, _raise_stop)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent()
        child = 0
        try:
            self._warm_up()
            while os.getppid() == self.owner:
                child = os.fork()
                if child == 0:  # pragma: no cover - the runner
                    _exit_after(lambda: _Loop(self.runner, os.getppid()).run())
                while os.getppid() == self.owner:
                    done, status = os.waitpid(child, os.WNOHANG)
                    if done:
                        log.error(
                            "the job runner exited (%s); starting it again", status
                        )
                        child = 0
                        time.sleep(1)
                        break
                    time.sleep(0.5)
        except _Stop:
            pass
        finally:
            if child:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)
                with contextlib.suppress(ChildProcessError, _Stop):
                    _wait(child, 5)

    def _warm_up(self) -> None:
        warm_up = self.runner.warm_up
        if warm_up is None:
            return
        with contextlib.suppress(OSError):
            os.nice(JOB_NICE)
        started = time.perf_counter()
        try:
            warm_up()
        except Exception:  # noqa: BLE001 - jobs then warm up by themselves
            log.warning("warming up the job runner failed", exc_info=True)
            return
        finally:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, 0)
        log.info("job runner warmed up in %.2f s", time.perf_counter() - started)


def _wait(pid: int, timeout: float) -> None:
    """Wait for a child; kill it after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@dataclass
class _Spare:
    """A job process forked and prepared ahead, waiting for its job on ``conn``
    (the runner's end of a socket pair); ``ready`` once it said so."""

    pid: int
    conn: socket.socket
    ready: bool = False


def _ignore(*_: Any) -> None:
    """A handler that lets a signal wake the runner's loop (its wakeup fd)."""


class _Loop:
    """The runner process: a select loop over the socket and a tick."""

    def __init__(self, runner: Runner, parent: int) -> None:
        self.runner = runner
        self.parent = parent
        self.scheduler = Scheduler(runner.slots, runner.per_visitor)
        self.jobs = runner.jobs()
        self.by_pid: dict[int, Job] = {}
        self.listener: socket.socket | None = None
        self.selector: selectors.BaseSelector | None = None
        self.wakeup: tuple[int, int] | None = None  # SIGCHLD's self-pipe
        self.spare: _Spare | None = None
        self.spare_lost = -SPARE_RETRY_SECONDS  # when a spare last died unused
        self.checked = 0.0  # when budgets were last checked
        self.submitted = False  # a job came in: start what fits after answering
        self.stopping = False

    def _stop_soon(self, *_: Any) -> None:
        """SIGTERM, SIGINT: the loop ends at its next turn (the signal wakes it).
        Not an exception raised wherever the loop is, which a fork's handlers
        (logging's) would swallow."""
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop_soon)
        signal.signal(signal.SIGINT, self._stop_soon)
        _die_with_parent()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.runner.socket_path)
        listener = self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            listener.bind(self.runner.socket_path)
        finally:
            os.umask(old)
        listener.listen(64)
        selector = self.selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ, "request")
        # A job's end wakes the loop at once: its slot is free, the next one starts.
        self.wakeup = os.pipe()
        for end in self.wakeup:
            os.set_blocking(end, False)
        try:
            signal.set_wakeup_fd(self.wakeup[1], warn_on_full_buffer=False)
            signal.signal(signal.SIGCHLD, _ignore)
        except ValueError:  # not the main thread: ends are seen at the next tick
            log.warning("job runner: ended jobs are seen at its tick only")
        selector.register(self.wakeup[0], selectors.EVENT_READ, "child")
        try:
            while os.getppid() == self.parent and not self.stopping:
                for key, _ in selector.select(TICK_SECONDS):
                    if key.data == "request":
                        self._serve_one(listener)
                    elif key.data == "child":
                        with contextlib.suppress(OSError):
                            os.read(self.wakeup[0], 512)
                    elif key.data == "spare":
                        self._hear_spare()
                self._tick()
        finally:
            self._stop_all()

    # -- requests --------------------------------------------------------------------
    def _serve_one(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                with conn.makefile("rb") as reader:
                    line = reader.readline(MAX_MESSAGE_BYTES)
                answer = self._answer(json.loads(line))
                conn.sendall(json.dumps(answer).encode() + b"\n")
            except (OSError, ValueError) as exc:
                log.warning("job runner: a bad request: %r", exc)
        if self.submitted:  # after the answer: the web worker does not wait on a fork
            self.submitted = False
            self._start_what_fits()

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        jobs = self.scheduler.jobs
        if op == "submit":
            job = Job(
                id=secrets.token_hex(8),
                visitor=str(message.get("visitor") or "anonymous"),
                callback=str(message["callback"]),
                key=str(message["key"]),
                progress_key=str(message["progress_key"]),
                args=message.get("args"),
                context=message.get("context"),
                arrived=time.monotonic(),
                wide=bool(message.get("wide")),
            )
            if job.callback not in self.jobs:
                self.scheduler.jobs[job.id] = job
                self.scheduler.end(job, UNAVAILABLE)
                log.error("job runner: unknown callback %s", job.callback[:12])
            else:
                self.scheduler.submit(job)
                self.submitted = True
            return {"job": job.id, **self.scheduler.status(job)}
        if op == "status":
            if "key" in message:
                job_id = self.scheduler.by_key.get(str(message["key"]), "")
            else:
                job_id = str(message.get("job"))
            return self.scheduler.status(jobs.get(job_id))
        if op == "cancel":
            job = jobs.get(str(message.get("job")))
            if job is not None:
                self._cancel(job)
            return {"ok": True}
        if op == "ping":
            return {
                "pid": os.getpid(),
                "running": len(self.scheduler.running()),
                "queued": len(self.scheduler.order()),
                "spare": self.spare.pid if self.spare and self.spare.ready else 0,
            }
        return {"error": "unknown op"}

    def _cancel(self, job: Job) -> None:
        if job.state == "running":
            job.killed = True
            _kill_group(job.pid)
        self.scheduler.end(job)

    # -- the tick --------------------------------------------------------------------
    def _tick(self) -> None:
        """After each request or job's end, and every :data:`TICK_SECONDS`: reap
        the jobs that ended, check budgets (at most every tick), start what fits."""
        self._reap()
        now = time.monotonic()
        if now - self.checked >= TICK_SECONDS:
            self.checked = now
            for job in self.scheduler.running():
                self._check_budget(job, now)
            for job in self.scheduler.newly_heavy():  # others' jobs and pages first
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PGRP, job.pid, HEAVY_NICE)
            self.scheduler.forget_old(now)
        self._start_what_fits()
        self._keep_spare()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare.pid:
                log.warning("job runner: the spare job process exited (%s)", status)
                self._drop_spare()
                continue
            job = self.by_pid.pop(pid, None)
            if job is None:
                continue
            reason = None
            if os.WIFSIGNALED(status) and not job.killed:
                reason = CRASHED
                log.error("job %s ended by signal %d", job.id, os.WTERMSIG(status))
            self.scheduler.end(job, reason)
            log.info(
                "job %s ended after %.2f s", job.id, time.monotonic() - job.started
            )

    def _check_budget(self, job: Job, now: float) -> None:
        limit = self.runner.seconds
        if now - job.started > limit + self.runner.grace:
            log.warning("job %s over its time budget: stopped", job.id)
            self._kill(job, OVER_TIME.format(limit=duration(limit)))
            return
        grown = _tree_rss(job.pid) - job.base_rss
        if grown > self.runner.memory_mb * job.width * 1024 * 1024:
            log.warning(
                "job %s over its memory budget (%d MB more): stopped",
                job.id,
                grown // 2**20,
            )
            limit = self.runner.memory_mb * job.width
            self._kill(job, OVER_MEMORY.format(limit=limit))

    def _kill(self, job: Job, reason: str) -> None:
        job.killed = True
        _kill_group(job.pid)
        self.scheduler.end(job, reason)

    def _start_what_fits(self) -> None:
        while True:
            job = self.scheduler.next_job()
            if job is None:
                return
            self._launch(job)

    def _launch(self, job: Job) -> None:
        self.scheduler.start(job)
        pid, base = self._hand_to_spare(job)
        if not pid:
            base = _rss(os.getpid())
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the job
                _exit_after(lambda: self._run_job(job))
            with contextlib.suppress(OSError):  # as the child does: no race with a kill
                os.setpgid(pid, pid)
        job.pid, job.base_rss = pid, base
        self.by_pid[pid] = job
        log.info("job %s started (pid %d)", job.id, pid)

    def _become_job(self, nice: int) -> None:
        """In a job's (or a spare's) process: let go of the runner's state."""
        os.setpgid(0, 0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        _die_with_parent()
        if self.selector is not None:
            self.selector.close()
        if self.listener is not None:
            self.listener.close()
        for end in self.wakeup or ():
            with contextlib.suppress(OSError):
                os.close(end)
        if self.spare is not None:
            self.spare.conn.close()
        with contextlib.suppress(OSError):
            os.nice(nice)
        if self.runner.on_job_start is not None:
            self.runner.on_job_start()

    def _run_job(self, job: Job) -> None:
        """In the job's process: let go of the runner's state, then run it."""
        self._become_job(HEAVY_NICE if job.heavy else JOB_NICE)
        os.environ[WORKERS_VARIABLE] = str(job.width)
        self._call(job.callback, job.key, job.progress_key, job.args, job.context)

    def _call(self, callback: str, *args: Any) -> None:
        """Run a job's function, then the runner's ``on_job_end``."""
        try:
            self.jobs[callback](*args)
        finally:
            if self.runner.on_job_end is not None:
                self.runner.on_job_end()

    # -- the spare -------------------------------------------------------------------
    def _keep_spare(self) -> None:
        """Fork a spare when there is none and the runner is idle (no job runs or
        waits): preparing it never takes CPU from a job."""
        if self.runner.prepare is None or self.spare is not None:
            return
        if any(job.state != "ended" for job in self.scheduler.jobs.values()):
            return
        if time.monotonic() - self.spare_lost < SPARE_RETRY_SECONDS:
            return
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the spare
            mine.close()
            _exit_after(lambda: self._be_spare(theirs))
        theirs.close()
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        mine.settimeout(5)
        self.spare = _Spare(pid, mine)
        if self.selector is not None:
            self.selector.register(mine, selectors.EVENT_READ, "spare")

    def _be_spare(self, conn: socket.socket) -> None:
        """In the spare: prepare, say so, then run the job the runner sends."""
        self._become_job(JOB_NICE)
        if self.runner.prepare is not None:
            try:
                self.runner.prepare()
            except Exception:  # noqa: BLE001 - the job then runs unprepared
                log.warning("preparing a spare job process failed", exc_info=True)
        conn.sendall(b"R")
        with conn.makefile("rb") as reader:
            line = reader.readline(MAX_MESSAGE_BYTES)
        conn.close()
        if not line:
            return  # the runner let it go
        job = json.loads(line)
        if job["heavy"]:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, HEAVY_NICE)
        os.environ[WORKERS_VARIABLE] = str(job.get("width", 1))
        self._call(
            job["callback"],
            job["key"],
            job["progress_key"],
            job["args"],
            job["context"],
        )

    def _hear_spare(self) -> None:
        """The spare said it is ready, or closed its end (it died)."""
        spare = self.spare
        if spare is None:
            return
        try:
            said = spare.conn.recv(1)
        except OSError:
            said = b""
        if said:
            spare.ready = True
        else:
            self._drop_spare()

    def _hand_to_spare(self, job: Job) -> tuple[int, int]:
        """Give ``job`` to the ready spare: its pid and resident bytes, or (0, 0)."""
        spare = self.spare
        if spare is None or not spare.ready:
            return 0, 0
        base = _rss(spare.pid)
        message = {
            "callback": job.callback,
            "key": job.key,
            "progress_key": job.progress_key,
            "args": job.args,
            "context": job.context,
            "heavy": job.heavy,
            "width": job.width,
        }
        self._drop_spare(lost=False)
        try:
            spare.conn.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            _kill_group(spare.pid)
            return 0, 0
        finally:
            spare.conn.close()
        return spare.pid, base

    def _drop_spare(self, lost: bool = True) -> None:
        """Forget the spare (its process is reaped, or now runs a job)."""
        spare, self.spare = self.spare, None
        if spare is None:
            return
        if self.selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(spare.conn)
        if lost:
            spare.conn.close()
            self.spare_lost = time.monotonic()

    def _stop_all(self) -> None:
        """Stop every job: each gets :data:`STOP_GRACE_SECONDS` to end by itself
        (one that has answered may still be writing its work to the durable
        store), then is killed."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        running = {job.pid for job in self.scheduler.running()}
        while running and time.monotonic() < deadline:
            for pid in list(running):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        running.discard(pid)
                        self.by_pid.pop(pid, None)
            time.sleep(0.05)
        for job in self.scheduler.running():
            job.killed = True
            _kill_group(job.pid)
        if self.spare is not None:
            _kill_group(self.spare.pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.spare.pid, 0)
        for pid in list(self.by_pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            os.unlink(self.runner.socket_path)


def _kill_group(pid: int) -> None:
    """SIGKILL a job and whatever it started (its own process group)."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _rss(pid: int) -> int:
    """Resident bytes of one process (0 when it is gone)."""
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for each in procs:
        with contextlib.suppress(psutil.Error):
            total += each.memory_info().rss
    return total
