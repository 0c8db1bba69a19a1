"""Background jobs without Redis: slots, safe forks, results that survive a retry."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from app import jobs
from app.config import Settings
from app.forksafe import ForkGuard


def test_job_slots_hold_at_most_count_and_serve_in_order(tmp_path):
    slots = jobs.JobSlots(str(tmp_path), 1)
    order: list[int] = []
    waits: dict[int, list[int]] = {}
    holding = threading.Event()

    def job(number: int) -> None:
        with slots.hold(lambda ahead: waits.setdefault(number, []).append(ahead)):
            order.append(number)
            holding.set()
            time.sleep(0.3)

    first = threading.Thread(target=job, args=(0,))
    first.start()
    holding.wait(5)
    later = []
    for number in (1, 2):  # queued in this order, while 0 holds the only slot
        thread = threading.Thread(target=job, args=(number,))
        thread.start()
        later.append(thread)
        time.sleep(0.1)
    for thread in (first, *later):
        thread.join(10)
    assert order == [0, 1, 2]
    assert waits[1][0] == 0 and waits[2][0] == 1  # "queued behind N other job(s)"
    assert os.listdir(slots.queue) == []


def test_a_dead_waiter_does_not_block_the_queue(tmp_path):
    slots = jobs.JobSlots(str(tmp_path), 1)
    os.makedirs(slots.queue)
    dead = 2**22 + 12345  # above the default pid_max: no such process
    open(os.path.join(slots.queue, f"{1:020d}-{dead}"), "w").close()
    with slots.hold() as slot:
        assert slot >= 0
    assert os.listdir(slots.queue) == []


def test_a_fork_waits_until_no_thread_uses_sqlite():
    guard = ForkGuard()
    events: list[str] = []
    inside = threading.Event()

    def user() -> None:
        with guard.using():
            with guard.using():  # re-entrant
                inside.set()
                time.sleep(0.3)
                events.append("used")

    thread = threading.Thread(target=user)
    thread.start()
    inside.wait(5)
    with guard.forking():
        events.append("forked")
    thread.join(5)
    assert events == ["used", "forked"]


@pytest.fixture
def manager(tmp_path):
    settings = Settings.from_env({}, cache_dir=str(tmp_path), job_slots=1)
    manager, celery_app = jobs.make_manager(settings)
    assert celery_app is None
    yield manager
    manager.handle.close()


def test_a_result_is_still_there_for_a_poll_sent_again(manager):
    job, later_job = 2**22 + 1, 2**22 + 2  # ended jobs (no such processes)
    manager.handle.set("key-1", {"outputs": 1})
    assert manager.get_result("key-1", job) == {"outputs": 1}
    # The first answer was lost with its worker: the visitor's retry finds it.
    assert manager.get_result("key-1", job) == {"outputs": 1}
    # A later job with the same inputs (same key) does not get the old result.
    assert manager.get_result("key-1", later_job) is manager.UNDEFINED
    assert manager.get_result("key-2", job) is manager.UNDEFINED


def test_terminating_a_job_that_already_ended_is_quiet(manager):
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0)
    os.waitpid(pid, 0)
    manager.terminate_job(pid)
    assert not manager.job_running(pid)


def test_a_job_process_lets_go_of_the_workers_sockets():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports what it still holds
        jobs.drop_inherited_sockets()
        names = os.listdir("/proc/self/fd")
        held = sum(
            1
            for name in names
            if _is_socket(int(name)) and int(name) == listener.fileno()
        )
        os.write(write, str(held).encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    listener.close()
    assert answer == b"0"


def _is_socket(fd: int) -> bool:
    import stat

    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False


def test_jobs_left_by_recycled_workers_are_stopped_at_server_exit():
    """A forked process of this command line and group goes; the rest stay."""
    import multiprocessing

    import psutil

    context = multiprocessing.get_context("fork")
    orphan = context.Process(target=time.sleep, args=(60,))
    orphan.start()
    other = context.get_context("spawn").Process(target=time.sleep, args=(60,))
    other.start()  # another command line: not one of the server's jobs
    try:
        jobs.stop_orphaned_jobs()  # stops (and reaps) the forked one
        assert not psutil.pid_exists(orphan.pid)
        assert other.is_alive()
    finally:
        other.kill()
        other.join(5)
