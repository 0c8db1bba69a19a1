"""What every simulated tab of ``make loadtest`` shares (``tools/locustfile.py``,
``tools/abuser.py``): the page as dash-renderer keeps it, its HTTP connection, and
the tally of the whole run, written as JSON when locust quits.

A tab loads the page (``/``, ``/_dash-layout``, ``/_dash-dependencies``), keeps the
layout and applies every callback response to it (``sideUpdate`` too); the
protocol is ``tools.dashclient``'s (``DashClient`` over the tab's :class:`Http`):
each callback request built from the dependencies and the values on its page, and
background callbacks followed (first POST, then a poll every ``interval`` ms with
plain input values nulled, until the outputs or a 204). A request whose connection
fails is sent once more after a short pause, as a reload would (see :class:`Http`).

``LOADTEST_RESULTS`` names the JSON file written when locust quits (statistics per
request type and per group of requests, the checks, lost sessions, connection
errors, what the abuser got).
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from typing import Any

import requests
from locust import events
from locust.stats import calculate_response_time_percentile

from app.ui import ids
from tools.dashclient import (
    DashClient,
    Job,
    NoComponent,
    ProtocolError,
    follow_ups,
    text,
)
from tools.outputs import CHAINS

PAGE_TIMEOUT = 30  # seconds for a page, its layout or its dependencies
CALLBACK_TIMEOUT = 60  # seconds for one callback answer
JOB_TIMEOUT = 120  # seconds for a background job to end
RETRY_PAUSE = 0.5  # seconds before the one retry of a request whose connection failed
#: Requests whose name starts with this are the abuser's (``tools/abuser.py``):
#: counted apart from the visitors' figures.
ABUSE = "abuse: "
#: The User-Agent of each kind of tab, so that the server's access log tells them
#: apart (``tools.loadtest.read_log``).
VISITOR_AGENT = "dashboard-loadtest-visitor"
ABUSER_AGENT = "dashboard-loadtest-abuser"

_SIGNED = re.compile(r"^[^~]+~[^~]+$")


class StepFailed(Exception):
    """A step of the visit went wrong; the visitor starts its next round."""


# -- what happened, across all tabs ------------------------------------------------


class Tally:
    """Counters and events of the whole run, written as JSON when locust quits."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: dict[str, int] = {}
        self.connection_errors: list[dict[str, Any]] = []
        self.checks: dict[str, int] = {}
        self.failures: list[dict[str, Any]] = []
        self.lost: dict[str, list[str]] = {}
        self.visitors: dict[str, dict[str, Any]] = {}
        self.trainings = {"confirmed": 0, "stopped": 0}
        self.abuse: dict[str, dict[str, Any]] = {}  # what the abuser's sends got
        self.abuser: dict[str, Any] = {}  # the abuser's record (loops, runs)

    def count_status(self, code: int) -> None:
        with self.lock:
            key = str(code)
            self.status[key] = self.status.get(key, 0) + 1

    def connection_error(
        self, step: str, sent: float, error: str, retried: bool
    ) -> dict[str, Any]:
        event = {
            "sent": sent,
            "time": time.time(),
            "step": step,
            "error": error,
            "retried": retried,
        }
        with self.lock:
            self.connection_errors.append(event)
        return event

    def check(self, name: str) -> None:
        with self.lock:
            self.checks[name] = self.checks.get(name, 0) + 1

    def failure(
        self, visitor: str, step: str, reason: str, after: list[dict[str, Any]]
    ) -> None:
        """A failed step; ``after``: the connection errors earlier in that step."""
        with self.lock:
            self.failures.append(
                {
                    "time": time.time(),
                    "visitor": visitor,
                    "step": step,
                    "why": reason,
                    "after_connection_errors": after,
                }
            )

    def lose(self, visitor: str, reason: str) -> None:
        with self.lock:
            self.lost.setdefault(visitor, []).append(reason)

    def abused(self, kind: str, outcome: str, said: str, expected: bool) -> None:
        """One send of the abuser of ``kind`` and what it got (``said``: the
        sentence the page showed, the last one kept per outcome; ``expected``:
        whether the abuser expects that outcome of that kind)."""
        with self.lock:
            entry = self.abuse.setdefault(
                kind, {"sent": 0, "outcomes": {}, "unexpected": []}
            )
            entry["sent"] += 1
            got = entry["outcomes"].setdefault(outcome, {"count": 0, "said": ""})
            got["count"] += 1
            if said:
                got["said"] = said[:400]
            if not expected and outcome not in entry["unexpected"]:
                entry["unexpected"].append(outcome)

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "abuse": copy.deepcopy(self.abuse),
                "abuser": copy.deepcopy(self.abuser),
                "status": dict(self.status),
                "connection_errors": list(self.connection_errors),
                "checks": dict(self.checks),
                "failures": list(self.failures),
                "lost_sessions": {k: list(v) for k, v in self.lost.items()},
                "visitors": copy.deepcopy(self.visitors),
                "trainings": dict(self.trainings),
            }


TALLY = Tally()


def fire(environment: Any, kind: str, name: str, seconds: float, error: Any) -> None:
    """Report a measured flow or a failed check to locust's statistics."""
    environment.events.request.fire(
        request_type=kind,
        name=name,
        response_time=seconds * 1000,
        response_length=0,
        exception=error,
        context={},
    )


@events.quitting.add_listener
def _write_results(environment: Any, **_: Any) -> None:
    path = os.environ.get("LOADTEST_RESULTS")
    if not path:
        return
    stats = environment.stats
    total = stats.total
    elapsed = max((total.last_request_timestamp or 0) - (total.start_time or 0), 1e-9)
    entries = []
    for entry in sorted(stats.entries.values(), key=lambda e: (e.method, e.name)):
        entries.append(
            {
                "type": entry.method,
                "name": entry.name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "p50_ms": entry.get_response_time_percentile(0.5),
                "p95_ms": entry.get_response_time_percentile(0.95),
                "p99_ms": entry.get_response_time_percentile(0.99),
                "max_ms": entry.max_response_time,
                "avg_ms": entry.avg_response_time,
                "rps": entry.num_requests / elapsed,
            }
        )
    errors = [
        {
            "type": e.method,
            "name": e.name,
            "error": str(e.error),
            "occurrences": e.occurrences,
        }
        for e in stats.errors.values()
    ]
    out = TALLY.as_json()
    out.update(
        written=time.time(),
        entries=entries,
        groups=_groups(stats),
        errors=errors,
        started=total.start_time,
        last_request=total.last_request_timestamp,
        elapsed=elapsed,
        exceptions=[
            {"count": e["count"], "msg": e["msg"], "traceback": e["traceback"]}
            for e in getattr(environment.runner, "exceptions", {}).values()
        ],
    )
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1, default=str)


def _groups(stats: Any) -> dict[str, dict[str, Any]]:
    """Percentiles over all HTTP requests of the visitors, and of the abuser."""
    merged: dict[str, dict[str, Any]] = {}
    for entry in stats.entries.values():
        if entry.method not in ("GET", "POST"):
            continue
        group = "abuser" if entry.name.startswith(ABUSE) else "visitors"
        into = merged.setdefault(group, {"times": {}, "requests": 0, "failures": 0})
        into["requests"] += entry.num_requests
        into["failures"] += entry.num_failures
        for rounded, count in entry.response_times.items():
            into["times"][rounded] = into["times"].get(rounded, 0) + count
    out = {}
    for group, got in merged.items():
        total = sum(got["times"].values())
        out[group] = {
            "requests": got["requests"],
            "failures": got["failures"],
            **{
                f"p{int(p * 100)}_ms": (
                    calculate_response_time_percentile(got["times"], total, p)
                    if total
                    else None
                )
                for p in (0.5, 0.95, 0.99)
            },
        }
    return out


# -- the page ----------------------------------------------------------------------


class Http:
    """The tab's HTTP connection: locust's session, each request named by the step,
    and sent once more when its connection failed (as a reload would).

    ``user`` is the locust user; its ``record`` (a dict) gets the request in flight.
    """

    def __init__(self, user: Any) -> None:
        self.user = user
        self.client = user.client
        self.headers = self.client.headers
        self.step = "?"
        self.prefix = ""  # before every request's name (the abuser's: ABUSE)
        self.expect = (200,)
        self.connection_errors: list[dict[str, Any]] = []  # of the current step

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = PAGE_TIMEOUT
        return self._send("GET", url, kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = CALLBACK_TIMEOUT
        return self._send("POST", url, kwargs)

    def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> Any:
        step = self.prefix + self.step
        self.user.record["http_step"] = step
        for attempt in (1, 2):
            sent = time.time()
            with self.client.request(
                method, url, name=step, catch_response=True, **kwargs
            ) as response:
                error = response.error if response.status_code == 0 else None
                if error is None and method == "POST" and not response.content:
                    # A callback always answers JSON (or 204): an empty 200 is an
                    # answer cut short, as by a worker killed while sending it.
                    error = ConnectionError("the answer ended before its body")
                if error is None:
                    TALLY.count_status(response.status_code)
                    if response.status_code in self.expect:
                        response.success()
                        if not step.endswith("(poll)"):
                            self.user.record["news"] = time.time()
                        return response
                    reason = f"HTTP {response.status_code}"
                    response.failure(reason)
                    raise StepFailed(f"{step}: {reason}: {response.text[:200]!r}")
                timeout = isinstance(error, requests.Timeout)
                retry = attempt == 1 and not timeout
                event = TALLY.connection_error(step, sent, _describe(error), retry)
                self.connection_errors.append(event)
                kind = "timed out" if timeout else "connection failed"
                again = " (sent again)" if retry else ""
                response.failure(f"{kind}{again}: {_short(error)}")
                if not retry:
                    raise StepFailed(f"{step}: {kind}: {_describe(error)}")
            time.sleep(RETRY_PAUSE)
        raise AssertionError("unreachable")


def _json(step: str, answer: requests.Response) -> dict[str, Any]:
    """The JSON object of an answer, or a failure that says what came instead."""
    try:
        data = answer.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise StepFailed(
            f"{step}: HTTP {answer.status_code} with a body that is not a JSON "
            f"object ({len(answer.content)} bytes, "
            f"{answer.headers.get('Content-Type')!r}): {answer.content[:120]!r}"
        )
    return data


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _short(error: BaseException) -> str:
    """A connection error in a few words (locust groups failures by message)."""
    return re.sub(r"\s+", " ", str(error))[:120]


class Page:
    """One page load of the tab: its layout, its end id and its callbacks (the
    protocol: :class:`tools.dashclient.DashClient`, over the tab's :class:`Http`)."""

    def __init__(self, http: Http, base: str, sid: str | None) -> None:
        self.http = http
        self.dash = DashClient(base, session=http)
        http.step, http.expect = "GET /", (200,)
        try:
            self.dash.open()
        except ProtocolError as exc:
            raise StepFailed(str(exc)) from None
        http.step = "GET /_dash-layout"
        self.layout = self.dash.layout()
        http.step = "GET /_dash-dependencies"
        self.dash.deps  # noqa: B018 - fetched with the page, as the renderer does
        if sid is not None:  # the browser's local storage wins over the served value
            self.props(ids.APP_SESSION)["data"] = sid
        self.sid = self.props(ids.APP_SESSION)["data"]
        self.notices: list[str] = []  # what the page's notice said, in order
        self.last_job = ""  # the id of the last background job followed
        self.last_key = ""  # and its cache key

    # -- the page's state --------------------------------------------------------
    def props(self, component_id: Any) -> dict[str, Any]:
        try:
            return self.layout.props(component_id)
        except NoComponent as exc:
            raise StepFailed(str(exc)) from None

    def wildcard(self, kind: str) -> list[dict[str, Any]]:
        """The props of the components whose dict id has type ``kind``."""
        return self.layout.wildcard(kind)

    # -- callbacks -----------------------------------------------------------------
    def call(
        self,
        step: str,
        outputs: list[str],
        changed: list[str],
        *,
        timeout: float = JOB_TIMEOUT,
    ) -> dict[str, Any]:
        """Send a callback; apply and return its outputs ({} for a 204).

        A background callback is followed until it ends (``timeout`` seconds).
        """
        self.http.step, self.http.expect = step, (200, 204)
        try:
            body = self.dash.body(outputs, self.layout, changed=changed)
        except NoComponent as exc:
            raise StepFailed(f"{step}: {exc}") from None
        answer = self.dash.post(body)
        if answer.status_code == 204:
            return {}
        data = _json(step, answer)
        self.side_update(data)
        try:
            job = self.dash.job(body, data)
        except ProtocolError as exc:
            raise StepFailed(f"{step}: {exc}") from None
        if job is not None:
            return self.follow(step, job, timeout)
        response = data.get("response")
        if not isinstance(response, dict):
            raise StepFailed(f"{step}: no response in {str(data)[:200]}")
        self.layout.apply(response)
        return response

    def chain(self, step: str, out: dict[str, Any], **follow: Any) -> dict[str, Any]:
        """What the page calls when an answer sets ``data-job.data`` (every upload,
        big synthetic data): the background job's outputs ({} for a 204); ``out``
        itself when it did not."""
        for prop, then in follow_ups(out, CHAINS):
            out = self.call(step, then, [prop], **follow)
        return out

    def side_update(self, data: dict[str, Any]) -> None:
        """Apply what an answer sets beside its outputs (the page's notice)."""
        side = data.get("sideUpdate")
        if not isinstance(side, dict):
            return
        self.layout.apply_side(side)
        notice = side.get(ids.APP_NOTICE)
        if isinstance(notice, dict) and notice.get("is_open"):
            self.notices.append(text(notice.get("children")))

    def follow(self, step: str, job: Job, timeout: float) -> dict[str, Any]:
        """Poll a background job like the renderer, until its outputs or a 204."""
        if not all(
            _SIGNED.match(str(job.handles.get(k, ""))) for k in ("cacheKey", "job")
        ):
            raise StepFailed(f"{step}: unexpected job handles {job.handles}")
        self.http.step = step.replace("(start)", "(poll)")
        self.last_job, self.last_key = job.task_id, job.cache_key
        last: Any = None
        for answer in self.dash.polls(job, timeout=timeout):
            if answer.status_code == 204:
                return {}
            data = _json(self.http.step, answer)
            if data and data != last:  # news: the job moved in its line, or on
                self.http.user.record["news"] = time.time()
            last = data
            self.side_update(data)
            if "response" in data:
                self.layout.apply(data["response"])
                return data["response"]
        raise StepFailed(f"{step}: the job was still running after {timeout:g} s")
