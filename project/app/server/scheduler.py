"""The job runner's fair queue: which job runs next, which waits and what its
progress bar says, and which have become heavy. Pure bookkeeping on a clock;
the runner (:mod:`app.server.runner`) starts and stops the processes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

#: Background slots beside the ordinary ones, where heavy jobs run.
BACKGROUND_SLOTS = 1
#: A visitor's use of the job slots is remembered with this half-life (seconds).
USAGE_HALF_LIFE = 300.0
#: Past this many recent job-seconds, a visitor is heavy: its jobs run at the
#: lowest priority, first in the background slot(s) beside the ordinary ones.
HEAVY_SECONDS = 30.0
#: A job running longer than this is moved the same way (short jobs go first).
LONG_JOB_SECONDS = 5.0
ENDED_KEPT_SECONDS = 600
QUEUED = "Queued: starts when one of the running jobs ends"
QUEUED_BEHIND = "Queued behind {ahead} other job(s)"
QUEUED_OWN = "Queued: starts when your other job ends"
TOO_MANY = (
    "You already have {count} jobs running or waiting; wait for them to finish "
    "(or cancel one) before starting another."
)


@dataclass
class Job:
    """A job as the runner sees it."""

    id: str
    visitor: str
    callback: str
    key: str
    progress_key: str
    args: Any
    context: Any
    arrived: float
    state: str = "queued"  # queued, running, ended
    pid: int = 0
    started: float = 0.0
    base_rss: int = 0
    reason: str | None = None
    ended: float = 0.0
    killed: bool = False
    heavy: bool = False
    wide: bool = False  # may use several processes: its visitor's share of slots
    width: int = 1  # the job slots it holds (granted as it starts)


@dataclass
class Scheduler:
    """Which job runs next: one per visitor, in order of arrival, except that a
    visitor's recent job time (seconds of running jobs, halving every
    :data:`USAGE_HALF_LIFE` seconds, the running ones included) counts as
    arriving that much later: whoever used the slots least lately goes first, and
    no job waits more than its visitor's recent job time behind later arrivals.

    At most ``slots`` ordinary jobs run at once, plus ``background`` heavy jobs:
    those of visitors over :data:`HEAVY_SECONDS`, and jobs that have run longer
    than :data:`LONG_JOB_SECONDS`. Heavy jobs run at the lowest priority, so that
    neither a visitor who keeps the slots busy nor a long job takes the others'
    turns or slots; a heavy job takes an ordinary slot only when the background
    slots are full and nobody lighter waits for it.

    Pure bookkeeping, no processes: the runner asks it and acts.
    """

    slots: int
    per_visitor: int
    background: int = BACKGROUND_SLOTS
    clock: Callable[[], float] = time.monotonic
    jobs: dict[str, Job] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    usage: dict[str, tuple[float, float]] = field(default_factory=dict)

    def submit(self, job: Job) -> None:
        """Queue ``job``, or end it at once when its visitor has too many."""
        self.jobs[job.id] = job
        self.by_key[job.key] = job.id
        mine = [
            j
            for j in self.jobs.values()
            if j.visitor == job.visitor and j.state != "ended" and j is not job
        ]
        if len(mine) >= self.per_visitor:
            self.end(job, TOO_MANY.format(count=len(mine)))

    def running(self) -> list[Job]:
        """The jobs computing now."""
        return [j for j in self.jobs.values() if j.state == "running"]

    def used(self, visitor: str) -> float:
        """Seconds of job time ``visitor`` used recently, running jobs included."""
        now = self.clock()
        seconds, since = self.usage.get(visitor, (0.0, now))
        past = seconds * 0.5 ** ((now - since) / USAGE_HALF_LIFE)
        return past + sum(
            now - j.started
            for j in self.jobs.values()
            if j.visitor == visitor and j.state == "running"
        )

    def order(self) -> list[Job]:
        """Queued jobs in the order they would start (see the class)."""
        queued = [j for j in self.jobs.values() if j.state == "queued"]
        used = {v: self.used(v) for v in {j.visitor for j in queued}}
        return sorted(queued, key=lambda j: (j.arrived + used[j.visitor], j.arrived))

    def start(self, job: Job) -> None:
        """Mark ``job`` running, from now; a wide job gets its visitor's fair
        share of the ordinary slots (the slots over the visitors with jobs
        running or waiting), at most the free ones, at least one."""
        job.heavy = self.used(job.visitor) > HEAVY_SECONDS
        if job.wide:
            visitors = {j.visitor for j in self.jobs.values() if j.state != "ended"}
            free = self.slots - self._ordinary_in_use(self.running())
            job.width = max(1, min(self.slots // max(1, len(visitors)), free))
        job.state, job.started = "running", self.clock()

    def _ordinary_in_use(self, running: list[Job]) -> int:
        """Ordinary slots the running jobs hold: each its width, except the
        heavy ones that fit the background slots."""
        heavy = [j for j in running if j.heavy][: self.background]
        return sum(j.width for j in running) - sum(j.width for j in heavy)

    def newly_heavy(self) -> list[Job]:
        """Running jobs that have just become heavy (now marked so)."""
        now, found = self.clock(), []
        for job in self.running():
            long_job = now - job.started > LONG_JOB_SECONDS
            if not job.heavy and (long_job or self.used(job.visitor) > HEAVY_SECONDS):
                job.heavy = True
                found.append(job)
        return found

    def next_job(self) -> Job | None:
        """The job to start now, or None (no free slot, or nothing eligible)."""
        running = self.running()
        busy = {j.visitor for j in running}
        in_background = min(sum(1 for j in running if j.heavy), self.background)
        ordinary = self._ordinary_in_use(running)
        for job in self.order():
            if job.visitor in busy:
                continue
            if (
                self.used(job.visitor) > HEAVY_SECONDS
                and in_background < self.background
            ):
                return job
            if ordinary < self.slots:
                return job  # lighter visitors come first in the order
        return None

    def waiting_label(self, job: Job) -> str:
        """What a queued job's progress bar says."""
        busy = {j.visitor for j in self.running()}
        if job.visitor in busy:
            return QUEUED_OWN
        ahead = 0
        for other in self.order():
            if other is job:
                break
            if other.visitor not in busy and other.visitor != job.visitor:
                ahead += 1
        return QUEUED_BEHIND.format(ahead=ahead) if ahead else QUEUED

    def end(self, job: Job, reason: str | None = None) -> None:
        """Mark ``job`` ended (keeping the first reason given)."""
        if job.state != "ended":
            if job.state == "running":  # its time now counts as the visitor's past
                self.usage[job.visitor] = (self.used(job.visitor), self.clock())
            job.state, job.ended = "ended", self.clock()
            job.args = job.context = None
        if reason and not job.reason:
            job.reason = reason

    def forget_old(self, now: float) -> None:
        """Drop ended jobs older than :data:`ENDED_KEPT_SECONDS`, and the usage of
        visitors who have not used the slots for a long while."""
        for job in list(self.jobs.values()):
            if job.state == "ended" and now - job.ended > ENDED_KEPT_SECONDS:
                del self.jobs[job.id]
                if self.by_key.get(job.key) == job.id:
                    del self.by_key[job.key]
        for visitor in list(self.usage):
            if self.used(visitor) < 0.1:
                del self.usage[visitor]

    def status(self, job: Job | None) -> dict[str, Any]:
        """The answer to a status question about ``job``."""
        if job is None:
            return {"state": "unknown"}
        answer: dict[str, Any] = {"state": job.state, "reason": job.reason}
        if job.state == "queued":
            answer["label"] = self.waiting_label(job)
        return answer
