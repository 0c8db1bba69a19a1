"""Background jobs without Redis: the runner's queue, budgets and lifecycle."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import psutil
import pytest

from app.config import Settings
from app.server import jobs, runner
from app.server import scheduler as fair
from app.server.runner import Runner
from app.server.scheduler import Job as _Job
from app.server.scheduler import Scheduler

# -- the scheduler (pure bookkeeping) ------------------------------------------------


START = 1000.0


def _job(n: int, visitor: str, arrived: float | None = None) -> _Job:
    """Job ``n`` of ``visitor``, arrived at ``arrived`` (by default at START, the
    jobs n milliseconds apart)."""
    when = START + n / 1000 if arrived is None else arrived
    return _Job(str(n), visitor, "cb", f"key-{n}", f"key-{n}-progress", [], {}, when)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _start_all(scheduler: Scheduler, clock: Clock) -> list[str]:
    """Start jobs as slots free up, each running one second."""
    order = []
    while True:
        job = scheduler.next_job()
        if job is None:
            running = scheduler.running()
            if not running:
                return order
            clock.now += 1
            scheduler.end(running[0])
            continue
        scheduler.start(job)
        order.append(job.id)


def test_visitors_take_turns_and_each_runs_one_job_at_a_time():
    clock = Clock()
    scheduler = Scheduler(slots=1, per_visitor=10, clock=clock)
    for n, visitor in enumerate("aaab", start=1):  # a's three jobs, then b's one
        scheduler.submit(_job(n, visitor))
    assert _start_all(scheduler, clock) == ["1", "4", "2", "3"]


def test_a_visitor_who_kept_the_slots_busy_yields_to_others():
    clock = Clock()
    scheduler = Scheduler(slots=1, per_visitor=10, clock=clock)
    scheduler.submit(_job(1, "heavy"))
    scheduler.start(scheduler.next_job())
    clock.now += 100  # a long job
    scheduler.end(scheduler.jobs["1"])
    assert scheduler.used("heavy") == pytest.approx(100)
    scheduler.submit(_job(2, "heavy", clock.now))  # first in line...
    scheduler.submit(_job(3, "light", clock.now))  # ...but the light visitor goes first
    assert [j.id for j in scheduler.order()] == ["3", "2"]
    clock.now += fair.USAGE_HALF_LIFE  # usage halves with time
    assert scheduler.used("heavy") == pytest.approx(50)
    first = scheduler.next_job()
    scheduler.start(first)
    assert first.id == "3" and not first.heavy
    clock.now += 1
    scheduler.end(first)
    second = scheduler.next_job()
    scheduler.start(second)
    assert second.id == "2" and second.heavy  # over HEAVY_SECONDS: lowest priority
    scheduler.end(second)
    clock.now += 30 * fair.USAGE_HALF_LIFE  # long forgotten
    scheduler.forget_old(clock.now)
    assert "heavy" not in scheduler.usage and "light" not in scheduler.usage


def test_a_visitor_who_used_the_slots_waits_that_long_at_most():
    clock = Clock()
    scheduler = Scheduler(slots=1, per_visitor=10, background=0, clock=clock)
    scheduler.usage["busy"] = (20.0, clock.now)  # 20 s of jobs just now
    scheduler.submit(_job(0, "busy", clock.now))
    waited = None
    for n in range(1, 60):  # a new visitor every second, each job one second
        scheduler.submit(_job(n, f"visitor-{n}", clock.now))
        job = scheduler.next_job()
        scheduler.start(job)
        if job.visitor == "busy":
            waited = clock.now - START
            break
        clock.now += 1
        scheduler.end(job)
    # behind the visitors who came in the next ~20 s (its usage, a little
    # decayed), not behind everyone who keeps coming
    assert waited is not None and 17 <= waited <= 20


def test_a_heavy_visitors_job_runs_beside_the_others_not_in_their_slot():
    clock = Clock()
    scheduler = Scheduler(slots=1, per_visitor=10, background=1, clock=clock)
    scheduler.usage["heavy"] = (500.0, clock.now)  # kept the slots busy lately
    for n, visitor in enumerate(["heavy", "light", "other"], start=1):
        scheduler.submit(_job(n, visitor))
    started = []
    while (job := scheduler.next_job()) is not None:
        scheduler.start(job)
        started.append((job.id, job.heavy))
    # light takes the one ordinary slot, heavy the background slot; other waits
    assert started == [("2", False), ("1", True)]
    assert scheduler.waiting_label(scheduler.jobs["3"]) == fair.QUEUED
    scheduler.end(scheduler.jobs["1"])
    # alone, a heavy visitor may use an ordinary slot too
    lone = Scheduler(slots=1, per_visitor=10, background=1, clock=clock)
    lone.usage["heavy"] = (500.0, clock.now)
    for n in (1, 2):
        lone.submit(_job(n, ["heavy", "heavier"][n - 1]))
    lone.usage["heavier"] = (900.0, clock.now)
    both = [lone.next_job(), None]
    lone.start(both[0])
    both[1] = lone.next_job()
    assert [j.id for j in both] == ["1", "2"]


def test_a_long_job_moves_to_the_background_and_frees_its_slot():
    clock = Clock()
    scheduler = Scheduler(slots=1, per_visitor=10, background=1, clock=clock)
    scheduler.submit(_job(1, "a"))
    scheduler.start(scheduler.next_job())
    scheduler.submit(_job(2, "b"))
    assert scheduler.next_job() is None  # the one ordinary slot is taken
    clock.now += fair.LONG_JOB_SECONDS + 1
    assert scheduler.newly_heavy() == [scheduler.jobs["1"]]
    assert scheduler.newly_heavy() == []  # once
    assert scheduler.next_job().id == "2"  # a's long job now runs in the background


def test_one_visitor_never_holds_two_slots():
    scheduler = Scheduler(slots=2, per_visitor=10)
    for n in (1, 2, 3):
        scheduler.submit(_job(n, "a"))
    scheduler.start(scheduler.next_job())
    assert scheduler.next_job() is None  # a slot is free, but a already runs one
    scheduler.submit(_job(4, "b"))
    assert scheduler.next_job().id == "4"


def _wide(n: int, visitor: str):
    job = _job(n, visitor)
    job.wide = True
    return job


def test_a_wide_job_gets_its_visitors_share_of_the_slots():
    """A search alone takes every slot; with others waiting, its share; never
    more than the slots free; and what it holds counts against the slots."""
    scheduler = Scheduler(slots=4, per_visitor=10)
    scheduler.submit(_wide(1, "a"))
    scheduler.start(scheduler.next_job())
    assert scheduler.jobs["1"].width == 4
    scheduler.submit(_job(2, "b"))
    assert scheduler.next_job() is None  # a's search holds the four slots
    scheduler.end(scheduler.jobs["1"])
    scheduler.start(scheduler.next_job())  # b's
    scheduler.submit(_wide(3, "c"))
    scheduler.submit(_job(4, "d"))
    scheduler.start(scheduler.next_job())
    assert scheduler.jobs["3"].width == 1  # 4 slots over b, c and d: one each
    scheduler.start(scheduler.next_job())
    assert [j.id for j in scheduler.running()] == ["2", "3", "4"]
    lone = Scheduler(slots=4, per_visitor=10)
    for n, visitor in ((1, "a"), (2, "b"), (3, "c")):
        lone.submit(_job(n, visitor))
        lone.start(lone.next_job())
    lone.end(lone.jobs["1"])
    lone.end(lone.jobs["2"])
    lone.submit(_wide(4, "d"))
    lone.start(lone.next_job())
    assert lone.jobs["4"].width == 2  # c and d: two each, and two are free


def test_a_long_wide_job_moves_to_the_background_with_all_its_slots():
    clock = Clock()
    scheduler = Scheduler(slots=2, per_visitor=10, background=1, clock=clock)
    scheduler.submit(_wide(1, "a"))
    scheduler.start(scheduler.next_job())
    scheduler.submit(_job(2, "b"))
    assert scheduler.next_job() is None
    clock.now += fair.LONG_JOB_SECONDS + 1
    scheduler.newly_heavy()
    assert scheduler.next_job().id == "2"  # the search no longer holds the slots


def test_a_queued_job_says_what_it_waits_for():
    clock = Clock()
    scheduler = Scheduler(slots=1, per_visitor=10, clock=clock)
    jobs_ = [_job(n, v) for n, v in enumerate("abca", start=1)]
    for job in jobs_:
        scheduler.submit(job)
    scheduler.start(scheduler.next_job())  # a's first
    clock.now += 1
    labels = [scheduler.waiting_label(j) for j in jobs_[1:]]
    assert labels == [
        fair.QUEUED,  # b: next in line
        fair.QUEUED_BEHIND.format(ahead=1),  # c: behind b
        fair.QUEUED_OWN,  # a's second: behind a's own running job
    ]


def test_a_visitor_with_too_many_jobs_is_refused_with_a_sentence():
    scheduler = Scheduler(slots=1, per_visitor=2)
    for n in (1, 2, 3):
        scheduler.submit(_job(n, "a"))
    refused = scheduler.jobs["3"]
    assert refused.state == "ended"
    assert refused.reason == fair.TOO_MANY.format(count=2)
    scheduler.submit(_job(4, "b"))  # another visitor is not affected
    assert scheduler.jobs["4"].state == "queued"


def test_ended_jobs_are_forgotten_after_a_while():
    scheduler = Scheduler(slots=1, per_visitor=2)
    job = _job(1, "a")
    scheduler.submit(job)
    scheduler.end(job, "why")
    scheduler.forget_old(job.ended + 1)
    assert scheduler.status(scheduler.jobs.get("1"))["reason"] == "why"
    scheduler.forget_old(job.ended + fair.ENDED_KEPT_SECONDS + 1)
    assert scheduler.status(scheduler.jobs.get("1")) == {"state": "unknown"}
    assert "key-1" not in scheduler.by_key


# -- the runner process ---------------------------------------------------------------


def _write(path: str, text: str) -> None:
    with open(path, "a", encoding="ascii") as handle:
        handle.write(text + "\n")


def _make_jobs(log: Path) -> dict[str, Callable[..., Any]]:
    """Job functions with Dash's signature (key, progress key, args, context)."""

    def sleep(key: str, progress_key: str, args: Any, context: Any) -> None:
        _write(str(log), f"start {args[0]} {time.monotonic()}")
        time.sleep(float(args[1]))
        _write(str(log), f"end {args[0]}")

    def hog(key: str, progress_key: str, args: Any, context: Any) -> None:
        held = []
        while True:  # grows ~20 MB every 50 ms, without limit
            held.append(bytearray(20 * 1024 * 1024))
            time.sleep(0.05)

    def report(key: str, progress_key: str, args: Any, context: Any) -> None:
        _write(str(log), f"nice {os.nice(0)} pgid {os.getpgid(0) == os.getpid()}")

    def warm(key: str, progress_key: str, args: Any, context: Any) -> None:
        warmed_in = int(os.environ.get("DASHBOARD_TEST_WARMED_IN", "0"))
        _write(str(log), f"warm {warmed_in not in (0, os.getpid())}")

    def prepared(key: str, progress_key: str, args: Any, context: Any) -> None:
        prepared_in = int(os.environ.get("DASHBOARD_TEST_PREPARED_IN", "0"))
        _write(
            str(log),
            f"prepared {prepared_in == os.getpid()} nice {os.nice(0)} "
            f"pgid {os.getpgid(0) == os.getpid()} pid {os.getpid()}",
        )

    def workers(key: str, progress_key: str, args: Any, context: Any) -> None:
        _write(str(log), f"workers {jobs.granted_workers()}")

    return {
        "workers": workers,
        "sleep": sleep,
        "hog": hog,
        "report": report,
        "warm": warm,
        "prepared": prepared,
    }


@pytest.fixture
def make_runner(tmp_path):
    made: list[Runner] = []

    def make(**overrides: Any) -> tuple[Runner, Path]:
        log = tmp_path / f"log-{len(made)}"
        log.touch()
        options = dict(slots=1, memory_mb=200, seconds=30, per_visitor=4)
        options.update(overrides)
        job_functions = _make_jobs(log)
        made_runner = Runner(
            str(tmp_path / f"runner-{len(made)}"), jobs=lambda: job_functions, **options
        )
        made.append(made_runner)
        made_runner.start()
        made_runner.request({"op": "ping"}, wait=10)
        return made_runner, log

    yield make
    for each in made:
        each.stop()


def _submit(job_runner: Runner, callback: str, visitor: str, *args: Any) -> str:
    answer = job_runner.submit(
        callback=callback,
        key=f"{callback}-{visitor}-{args}",
        progress_key="p",
        args=list(args),
        context={},
        visitor=visitor,
    )
    return str(answer["job"])


def _wait_for(predicate: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _ended(job_runner: Runner, job: str) -> dict[str, Any] | None:
    status = job_runner.status(job)
    return status if status["state"] == "ended" else None


def test_the_runner_serves_visitors_in_turn(make_runner):
    job_runner, log = make_runner(slots=1)
    ids = [
        _submit(job_runner, "sleep", "a", "a1", 0.4),
        _submit(job_runner, "sleep", "a", "a2", 0.1),
        _submit(job_runner, "sleep", "b", "b1", 0.1),
    ]
    assert job_runner.status(ids[1])["label"] == fair.QUEUED_OWN
    for job in ids:
        _wait_for(lambda job=job: _ended(job_runner, job))
    starts = [
        line.split()[1] for line in log.read_text().splitlines() if "start" in line
    ]
    assert starts == ["a1", "b1", "a2"]  # b's first job before a's second


def test_a_job_runs_in_its_own_group_at_a_lower_priority(make_runner):
    job_runner, log = make_runner()
    job = _submit(job_runner, "report", "a")
    _wait_for(lambda: _ended(job_runner, job))
    assert log.read_text().split() == ["nice", str(runner.JOB_NICE), "pgid", "True"]


def test_a_wide_job_is_told_how_many_processes_it_may_use(make_runner):
    job_runner, log = make_runner(slots=3)
    for wide in (True, False):
        answer = job_runner.submit(
            callback="workers",
            key=f"workers-{wide}",
            progress_key="p",
            args=[],
            context={},
            visitor="a",
            wide=wide,
        )
        _wait_for(lambda answer=answer: _ended(job_runner, str(answer["job"])))
    assert log.read_text().split() == ["workers", "3", "workers", "1"]


def _warm_up() -> None:
    os.environ["DASHBOARD_TEST_WARMED_IN"] = str(os.getpid())


def test_jobs_start_warm_and_the_starting_process_stays_cold(make_runner):
    """The warm-up runs once, in the keeper, before any job is forked."""
    job_runner, log = make_runner(warm_up=_warm_up)
    job = _submit(job_runner, "warm", "a")
    _wait_for(lambda: _ended(job_runner, job), timeout=60)
    assert log.read_text().split() == ["warm", "True"]
    assert "DASHBOARD_TEST_WARMED_IN" not in os.environ


def _prepare() -> None:
    os.environ["DASHBOARD_TEST_PREPARED_IN"] = str(os.getpid())


def test_a_job_runs_in_a_spare_process_prepared_ahead(make_runner):
    job_runner, log = make_runner(prepare=_prepare)
    spare = int(_wait_for(lambda: job_runner.ping()["spare"]))
    job = _submit(job_runner, "prepared", "a")
    _wait_for(lambda: _ended(job_runner, job))
    assert log.read_text().split() == [
        "prepared",
        "True",
        "nice",
        str(runner.JOB_NICE),
        "pgid",
        "True",
        "pid",
        str(spare),
    ]
    # The next job gets a spare of its own.
    _wait_for(lambda: job_runner.ping()["spare"] not in (0, spare))
    assert "DASHBOARD_TEST_PREPARED_IN" not in os.environ


def test_no_spare_is_kept_while_a_job_runs_or_waits(make_runner):
    job_runner, log = make_runner(slots=1, prepare=_prepare)
    _wait_for(lambda: job_runner.ping()["spare"])
    running = _submit(job_runner, "sleep", "a", "a1", 1.5)
    queued = _submit(job_runner, "sleep", "b", "b1", 0)
    _wait_for(lambda: "start a1" in log.read_text())
    time.sleep(0.5)
    assert job_runner.ping()["spare"] == 0  # the CPU goes to the jobs
    for job in (running, queued):
        _wait_for(lambda job=job: _ended(job_runner, job))
    _wait_for(lambda: job_runner.ping()["spare"])


def test_a_spare_that_dies_is_replaced_and_jobs_still_run(make_runner):
    job_runner, _ = make_runner(prepare=_prepare)
    spare = int(_wait_for(lambda: job_runner.ping()["spare"]))
    os.kill(spare, signal.SIGKILL)
    _wait_for(lambda: job_runner.ping()["spare"] != spare)
    job = _submit(job_runner, "report", "a")
    assert _wait_for(lambda: _ended(job_runner, job))["reason"] is None
    _wait_for(lambda: job_runner.ping()["spare"] not in (0, spare))


def test_a_queued_job_starts_as_soon_as_the_one_before_ends(make_runner, monkeypatch):
    """A job's end wakes the runner (SIGCHLD): the next job does not wait for a
    tick, or for a request to come."""
    monkeypatch.setattr(runner, "TICK_SECONDS", 10.0)  # inherited by the runner
    job_runner, log = make_runner(slots=1)
    _submit(job_runner, "sleep", "a", "a1", 0.2)
    _submit(job_runner, "sleep", "b", "b1", 0)
    time.sleep(2)  # no request meanwhile
    starts = {
        line.split()[1]: float(line.split()[2])
        for line in log.read_text().splitlines()
        if line.startswith("start")
    }
    assert starts["b1"] - starts["a1"] < 1.5


def test_a_job_over_its_memory_is_stopped_and_says_so(make_runner):
    job_runner, _ = make_runner(memory_mb=150)
    started = time.monotonic()
    job = _submit(job_runner, "hog", "a")
    status = _wait_for(lambda: _ended(job_runner, job), timeout=30)
    assert status["reason"] == runner.OVER_MEMORY.format(limit=150)
    assert time.monotonic() - started < 10
    # The slot is free again: the next job runs.
    other = _submit(job_runner, "sleep", "b", "b1", 0)
    assert _wait_for(lambda: _ended(job_runner, other))["reason"] is None


def test_a_job_over_its_time_is_stopped_and_says_so(make_runner):
    job_runner, _ = make_runner(seconds=1)
    job = _submit(job_runner, "sleep", "a", "a1", 60)
    status = _wait_for(lambda: _ended(job_runner, job), timeout=10)
    assert status["reason"] == runner.OVER_TIME.format(limit=runner.duration(1))


def test_cancel_stops_a_running_job_and_drops_a_queued_one(make_runner):
    job_runner, log = make_runner(slots=1)
    running = _submit(job_runner, "sleep", "a", "a1", 60)
    queued = _submit(job_runner, "sleep", "b", "b1", 0)
    _wait_for(lambda: "start a1" in log.read_text())
    job_runner.cancel(queued)
    job_runner.cancel(running)
    assert _wait_for(lambda: _ended(job_runner, running))["reason"] is None
    assert job_runner.status(queued)["state"] == "ended"
    time.sleep(0.5)
    assert "b1" not in log.read_text()


def test_a_runner_that_dies_is_started_again(make_runner):
    job_runner, _ = make_runner()
    first = job_runner.ping()["pid"]
    os.kill(first, signal.SIGKILL)
    second = _wait_for(lambda: _ping_pid(job_runner, first), timeout=15)
    assert second != first


def _ping_pid(job_runner: Runner, old: int) -> int | None:
    try:
        pid = job_runner.ping()["pid"]
    except OSError:
        return None
    return pid if pid != old else None


def test_nothing_outlives_the_process_that_started_the_runner(tmp_path):
    """The keeper, the runner and a running job all go when their owner is killed."""
    read, write = os.pipe()
    owner = os.fork()
    if owner == 0:  # pragma: no cover - the owner reports the runner's pids
        os.close(read)
        log = tmp_path / "log"
        job_functions = _make_jobs(log)
        job_runner = Runner(
            str(tmp_path / "runner"),
            slots=1,
            memory_mb=100,
            seconds=60,
            per_visitor=2,
            jobs=lambda: job_functions,
        )
        job_runner.start()
        runner_pid = job_runner.request({"op": "ping"}, wait=10)["pid"]
        _submit(job_runner, "sleep", "a", "a1", 60)
        _wait_for(lambda: log.exists() and "start" in log.read_text())
        job_pid = [c.pid for c in psutil.Process(runner_pid).children()][0]
        os.write(write, f"{job_runner._keeper} {runner_pid} {job_pid}".encode())
        time.sleep(60)
        os._exit(0)
    os.close(write)
    pids = [int(p) for p in os.read(read, 100).split()]
    os.kill(owner, signal.SIGKILL)
    os.waitpid(owner, 0)
    _wait_for(lambda: not any(_running(pid) for pid in pids), timeout=10)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- the budget, inside a job's process -----------------------------------------


def _in_child(work: Callable[[], str]) -> str:
    """Run ``work`` in a forked child and return what it reports."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            answer = work()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            answer = type(exc).__name__
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1000).decode()
    os.waitpid(pid, 0)
    return answer


def test_the_budget_turns_an_allocation_past_it_into_a_memory_error():
    import numpy as np

    def work() -> str:
        with jobs.Budget(memory_mb=100, seconds=60).applied():
            np.ones(50 * 1024 * 1024 // 8)  # 50 MB: fits
            np.ones(200 * 1024 * 1024 // 8)  # 200 MB: does not
        return "allocated"

    assert _in_child(work) == "MemoryError"


def test_the_budget_raises_job_timeout_when_time_is_up():
    def work() -> str:
        with jobs.Budget(memory_mb=100, seconds=1).applied():
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                sum(range(1000))
        return "finished"

    assert _in_child(work) == "JobTimeout"


def test_a_budget_inside_another_ends_first_and_gives_the_rest_back():
    """A search candidate's budget inside its job's: the sooner end applies, and
    the job's own alarm is left running afterwards, less the time spent."""

    def work() -> str:
        with jobs.Budget(memory_mb=100, seconds=30).applied():
            with jobs.Budget(memory_mb=100, seconds=1).applied():
                inner = signal.getitimer(signal.ITIMER_REAL)[0]
            outer = signal.getitimer(signal.ITIMER_REAL)[0]
            try:
                with jobs.candidate_budget(100, 1):
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        sum(range(1000))
            except TimeoutError as exc:
                said = str(exc)
        return f"{inner <= 1} {28 < outer <= 30} {'1 second' in said}"

    assert _in_child(work) == "True True True"


def test_the_budget_is_lifted_after_the_job():
    import resource

    def work() -> str:
        before = resource.getrlimit(resource.RLIMIT_DATA)
        with jobs.Budget(memory_mb=100, seconds=5).applied():
            during = resource.getrlimit(resource.RLIMIT_DATA)
        after = resource.getrlimit(resource.RLIMIT_DATA)
        same = before == after and during != before
        return f"{same} {signal.getitimer(signal.ITIMER_REAL)[0]}"

    assert _in_child(work) == "True 0.0"


# -- the manager: context handed to jobs ------------------------------------------


def test_a_job_gets_the_request_context_without_credentials():
    context = {
        "headers": {"Authorization": "Basic c2VjcmV0", "Cookie": "a=b", "Host": "x"},
        "cookies": {"a": "b"},
        "states_list": [{"id": "app-session", "property": "data", "value": "s" * 22}],
        "remote": "10.0.0.1",
    }
    handed = jobs.portable(context)
    assert handed["headers"] == {"Host": "x"}
    assert "cookies" not in handed
    assert jobs.visitor_of(context, "app-session") == "session:" + "s" * 22
    assert jobs.visitor_of({"remote": "10.0.0.1"}, "app-session") == "address:10.0.0.1"


@pytest.fixture
def manager(tmp_path):
    settings = Settings.from_env({}, cache_dir=str(tmp_path), job_slots=1)
    manager, celery_app = jobs.make_manager(
        settings, session_id="app-session", notice="app-notice"
    )
    assert celery_app is None
    yield manager
    manager.handle.close()


def test_a_result_is_still_there_for_a_poll_sent_again(manager):
    job, later_job = "job-1", "job-2"  # unknown to the runner: ended
    manager.handle.set("key-1", {"outputs": 1})
    assert manager.get_result("key-1", job) == {"outputs": 1}
    # The first answer was lost with its worker: the visitor's retry finds it.
    assert manager.get_result("key-1", job) == {"outputs": 1}
    # A later job with the same inputs (same key) does not get the old result.
    assert manager.get_result("key-1", later_job) is manager.UNDEFINED
    assert manager.get_result("key-2", job) is manager.UNDEFINED


class _Runner:
    """A stand-in for the runner: answers from a table, records what it is told."""

    def __init__(self, states: dict[str, dict[str, Any]]) -> None:
        self.states = states
        self.told: list[tuple[str, Any]] = []

    def submit(self, **job: Any) -> dict[str, Any]:
        self.told.append(("submit", job))
        return {"job": "job-9", "state": "queued"}

    def status(self, job: str) -> dict[str, Any]:
        return self.states.get(job, {"state": "unknown"})

    def status_of_key(self, key: str) -> dict[str, Any]:
        return self.states.get(key, {"state": "unknown"})

    def cancel(self, job: str) -> None:
        self.told.append(("cancel", job))


def test_the_manager_hands_jobs_to_the_runner_and_asks_it_about_them(manager):
    manager.runner = _Runner(
        {
            "job-1": {"state": "running"},
            "job-2": {"state": "ended", "reason": "why it ended"},
            "key-q": {"state": "queued", "label": fair.QUEUED_OWN},
        }
    )
    job_fn = manager.make_job_fn(lambda: None, True, "callback-key")
    context = {"states_list": [{"id": "app-session", "value": "s" * 22}]}
    assert manager.call_job_fn("key-1", job_fn, [1], context) == "job-9"
    _, sent = manager.runner.told[0]
    assert sent["callback"] == "callback-key" and sent["key"] == "key-1"
    assert sent["progress_key"] == "key-1-progress"
    assert sent["visitor"] == "session:" + "s" * 22
    assert manager.job_running("job-1") and not manager.job_running("job-2")
    assert not manager.terminate_unhealthy_job("job-1")
    manager.terminate_job("job-1")
    assert manager.runner.told[-1] == ("cancel", "job-1")
    assert manager.get_progress("key-q") == [0, fair.QUEUED_OWN]
    assert manager.get_progress("key-1") is None


def test_a_job_that_ended_for_a_reason_says_it_in_the_notice(manager):
    from flask import Flask

    manager.runner = _Runner({"job-2": {"state": "ended", "reason": "why it ended"}})
    with Flask(__name__).test_request_context():
        assert manager.get_result("key-2", "job-2") is manager.UNDEFINED
        props = manager.get_updated_props("key-2")
    assert props == {"app-notice": {"children": "why it ended", "is_open": True}}
    with Flask(__name__).test_request_context():
        manager.get_result("key-3", "unavailable-1234")
        props = manager.get_updated_props("key-3")
    assert props["app-notice"]["children"] == runner.UNAVAILABLE
    assert not manager.job_running("unavailable-1234")
    # A job the runner does not know (lost with a runner that was replaced).
    with Flask(__name__).test_request_context():
        assert manager.get_result("key-4", "job-4") is manager.UNDEFINED
        props = manager.get_updated_props("key-4")
    assert props["app-notice"]["children"] == runner.INTERRUPTED


def test_a_runner_that_does_not_answer_gives_a_job_that_says_so(manager, tmp_path):
    manager.runner = Runner(
        str(tmp_path / "nobody"),
        slots=1,
        memory_mb=10,
        seconds=1,
        per_visitor=1,
        jobs=dict,
    )
    manager.runner.start_if_safe = lambda: None  # as from a threaded web worker
    job_fn = manager.make_job_fn(lambda: None, False, "callback-key")
    started = time.monotonic()
    job = manager.call_job_fn("key-1", job_fn, [], {})
    assert job.startswith("unavailable-")
    assert time.monotonic() - started < 1  # no runner is coming: no wait


def test_the_budget_guard_turns_running_out_into_a_notice():
    """In the job's process: a callback that does not catch MemoryError itself
    ends with the notice (Dash's set_props) instead of an error."""
    import dash
    from dash.exceptions import PreventUpdate

    def callback() -> None:
        raise MemoryError()

    def work() -> str:
        shown: list[Any] = []
        dash.set_props = lambda component, props: shown.append((component, props))
        budget = jobs.Budget(memory_mb=100, seconds=60, notice="app-notice")
        try:
            budget.guard(callback)()
        except PreventUpdate:
            return f"prevented {shown}"
        return "returned"

    answer = _in_child(work)  # the patch of dash stays in the child
    assert answer.startswith("prevented [('app-notice',")
    assert runner.OVER_MEMORY.format(limit=100) in answer


def test_a_job_ending_between_the_reads_of_a_poll_is_polled_again(manager, monkeypatch):
    """Dash reads the result, then asks whether the job runs: a job that wrote its
    result and ended in between must not look ended without a result (a 204).
    (The poll's wait for a result, which asks too, is the next tests'.)"""
    from flask import Flask

    monkeypatch.setattr(jobs, "POLL_WAIT_SECONDS", 0)
    answers = iter([{"state": "running"}, {"state": "ended", "reason": None}])

    class Ending(_Runner):
        def status(self, job: str) -> dict[str, Any]:
            return next(answers)

    manager.runner = Ending({})
    with Flask(__name__).test_request_context():
        assert manager.get_result("key-5", "job-5") is manager.UNDEFINED
        manager.handle.set("key-5", {"outputs": 5})  # written as the job ends
        assert manager.job_running("job-5")  # the answer of this request: poll again
    with Flask(__name__).test_request_context():  # the next poll finds it
        assert manager.get_result("key-5", "job-5") == {"outputs": 5}


def test_a_poll_waits_for_the_result_and_answers_when_it_is_written(
    manager, monkeypatch
):
    from flask import Flask

    monkeypatch.setattr(jobs, "POLL_WAIT_SECONDS", 10)
    manager.runner = _Runner({"job-6": {"state": "running"}})
    writer = threading.Timer(0.2, manager.handle.set, ("key-6", {"outputs": 6}))
    writer.start()
    started = time.monotonic()
    with Flask(__name__).test_request_context():
        assert manager.get_result("key-6", "job-6") == {"outputs": 6}
    waited = time.monotonic() - started
    writer.join()
    assert 0.2 <= waited < 5  # when written, not at the end of the wait


def test_a_poll_of_a_job_that_goes_on_is_answered_after_the_wait(manager):
    manager.runner = _Runner({"job-7": {"state": "running"}})
    started = time.monotonic()
    assert manager.get_result("key-7", "job-7") is manager.UNDEFINED
    assert time.monotonic() - started >= jobs.POLL_WAIT_SECONDS


def test_a_poll_of_a_job_that_ended_without_a_result_does_not_wait(
    manager, monkeypatch
):
    monkeypatch.setattr(jobs, "POLL_WAIT_SECONDS", 10)
    manager.runner = _Runner({"job-8": {"state": "ended", "reason": None}})
    started = time.monotonic()
    assert manager.get_result("key-8", "job-8") is manager.UNDEFINED
    assert time.monotonic() - started < 5


def test_a_process_holds_only_some_polls_at_once(manager, monkeypatch):
    """Polls wait only while the process has threads to spare (half of them):
    the others are answered at once."""
    monkeypatch.setattr(jobs, "_HELD", threading.BoundedSemaphore(1))
    monkeypatch.setattr(jobs, "POLL_WAIT_SECONDS", 2)
    manager.runner = _Runner({"job-9": {"state": "running"}})
    holding = threading.Thread(target=manager.get_result, args=("key-9", "job-9"))
    holding.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert manager.get_result("key-10", "job-9") is manager.UNDEFINED
    assert time.monotonic() - started < 1
    holding.join()


def test_a_web_process_holds_polls_in_half_of_its_threads(monkeypatch):
    monkeypatch.setenv("GUNICORN_THREADS", "4")
    assert jobs._held_polls() == 2
    monkeypatch.setenv("GUNICORN_THREADS", "1")
    assert jobs._held_polls() == 0


def test_a_background_callback_with_no_input_value_starts_no_job(manager):
    """What an empty store sends as the page mounts (an input without a value) has
    nothing for a job to do: no job, and "no update" at once (a 204)."""
    from dash.exceptions import PreventUpdate

    manager.runner = _Runner({})
    job_fn = manager.make_job_fn(lambda: None, True, "callback-key")
    mounted = {"inputs_list": [{"id": "data-job", "property": "data"}]}
    with pytest.raises(PreventUpdate):
        manager.call_job_fn("key-1", job_fn, [None], mounted)
    assert manager.runner.told == []
    emptied = {"inputs_list": [{"id": "data-job", "property": "data", "value": None}]}
    assert manager.call_job_fn("key-1", job_fn, [None], emptied) == "job-9"
