"""Forking job processes safely from a process that uses SQLite (diskcache).

A child forked while another thread is inside an SQLite statement inherits that
connection's locks as bookkeeping only: SQLite in the child then believes it holds
locks it does not, and reads a database other processes are changing (seen under
load as "file is not a database"). So a fork waits until no thread is inside
SQLite (``GUARD.forking``), every SQLite use holds ``GUARD.using``, and the child
closes the connections it inherited before it opens its own (``after_fork``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class ForkGuard:
    """Many threads may use SQLite at once; a fork waits until none does."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._forking = False
        self._depth = threading.local()

    @contextmanager
    def using(self) -> Iterator[None]:
        """Hold while this thread runs SQLite statements (re-entrant)."""
        depth = getattr(self._depth, "n", 0)
        if depth == 0:
            with self._cond:
                while self._forking:
                    self._cond.wait()
                self._active += 1
        self._depth.n = depth + 1
        try:
            yield
        finally:
            self._depth.n = depth
            if depth == 0:
                with self._cond:
                    self._active -= 1
                    if self._active == 0:
                        self._cond.notify_all()

    @contextmanager
    def forking(self) -> Iterator[None]:
        """Hold while forking: no thread is inside SQLite meanwhile."""
        with self._cond:
            while self._forking:
                self._cond.wait()
            self._forking = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._forking = False
                self._cond.notify_all()


GUARD = ForkGuard()
_INHERITED: list[Callable[[], Any]] = []


def close_after_fork(close: Callable[[], Any]) -> None:
    """Call ``close`` in every child forked from now on, before anything else."""
    _INHERITED.append(close)


def _after_fork_in_child() -> None:
    GUARD._reset()
    for close in _INHERITED:
        with contextlib.suppress(Exception):  # one that cannot close is gone anyway
            close()


os.register_at_fork(after_in_child=_after_fork_in_child)
