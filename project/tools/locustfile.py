"""The simulated visitors of ``make loadtest`` (run by ``tools/loadtest.py``).

Each locust user is one browser tab driving the app the way dash-renderer does:
it loads the page (``/``, ``/_dash-layout``, ``/_dash-dependencies``), keeps the
layout and applies every callback response to it, builds each callback request from
the dependencies and the values on its page (``tools.dashclient.DashClient``), sends
the callbacks the page chains after each change, and follows background callbacks
(first POST, then a poll every ``interval`` ms with plain input values nulled, until
the outputs or a 204). A round of a visitor, with a pause of ``LOADTEST_WAIT``
seconds (default 1 to 3) between steps, like a person:

1. (re)load the page, keeping its session id as the tab's sessionStorage does, and
   check that the runs list holds every run this visitor trained;
2. load a bundled dataset (iris on the first round, then wine or breast_cancer);
3. train the default model (a background callback), then see its results (and,
   every other round, open the Explain tab: another background job);
4. a few what-if predictions;
5. upload a small CSV of its own (every other round: train on it too);
6. check again its runs list and that its data is still there.

A request whose connection fails (reset, refused, closed before the answer: what a
worker killed with SIGKILL does to the requests it was serving) is sent once more
after a short pause, as a reload would; both attempts appear in locust's statistics,
and the failed first attempt is also listed, with its time, in the results, so that
the orchestrator can tell the ones caused by the kill from any other. A 5xx, a 4xx,
a timeout or an answer without the expected content is a failure and is not retried.
A visitor whose data or confirmed runs vanish is a *lost session*.

``LOADTEST_RESULTS`` names the JSON file written when locust quits (statistics per
request type, the checks, lost sessions, connection errors).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import os
import random
import re
import threading
import time
import traceback
from typing import Any, Iterator

import requests
from locust import HttpUser, between, events, task

from app import ids
from tools.dashclient import DashClient

PAGE_TIMEOUT = 30  # seconds for a page, its layout or its dependencies
CALLBACK_TIMEOUT = 60  # seconds for one callback answer
JOB_TIMEOUT = 120  # seconds for a background job to end
RETRY_PAUSE = 0.5  # seconds before the one retry of a request whose connection failed
BUNDLED = ("wine", "breast_cancer")
WHATIF_CHANGES = 3
EXPLAIN_EVERY = 2  # a visitor opens the Explain tab on its 2nd, 4th... round

_SIGNED = re.compile(r"^[^~]+~[^~]+$")
_RUN = re.compile(r"Run (\d+): .+ trained in")
_VISITORS = itertools.count(1)


def _wait_range() -> tuple[float, float]:
    low, _, high = os.environ.get("LOADTEST_WAIT", "1,3").partition(",")
    return float(low), float(high or low)


class StepFailed(Exception):
    """A step of the visit went wrong; the visitor starts its next round."""


# -- what happened, across all visitors ------------------------------------------


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

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "status": dict(self.status),
                "connection_errors": list(self.connection_errors),
                "checks": dict(self.checks),
                "failures": list(self.failures),
                "lost_sessions": {k: list(v) for k, v in self.lost.items()},
                "visitors": copy.deepcopy(self.visitors),
                "trainings": dict(self.trainings),
            }


TALLY = Tally()


def _fire(environment: Any, kind: str, name: str, seconds: float, error: Any) -> None:
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


# -- the page ----------------------------------------------------------------------


def components(tree: Any) -> Iterator[dict[str, Any]]:
    """The props of every component in a layout tree, in document order."""
    if isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            yield tree["props"]
        for value in tree.values():
            yield from components(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from components(item)


def text(tree: Any) -> str:
    """Every string in a component tree, joined: what the page reads."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        return " ".join(text(v) for k, v in tree.items() if k != "id")
    if isinstance(tree, list):
        return " ".join(text(item) for item in tree)
    return ""


def stringify(component_id: Any) -> str:
    """Dash's string form of a component id (dict ids: sorted, compact JSON)."""
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return str(component_id)


def _matches(pattern: dict[str, Any], component_id: Any) -> bool:
    return (
        isinstance(component_id, dict)
        and set(component_id) == set(pattern)
        and all(v == ["ALL"] or component_id[k] == v for k, v in pattern.items())
    )


class Http:
    """The tab's HTTP connection: locust's session, each request named by the step,
    and sent once more when its connection failed (as a reload would)."""

    def __init__(self, user: "Visitor") -> None:
        self.user = user
        self.client = user.client
        self.headers = self.client.headers
        self.step = "?"
        self.expect = (200,)
        self.connection_errors: list[dict[str, Any]] = []  # of the current step

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = PAGE_TIMEOUT
        return self._send("GET", url, kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = CALLBACK_TIMEOUT
        return self._send("POST", url, kwargs)

    def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> Any:
        step = self.step
        self.user.record["http_step"] = step
        for attempt in (1, 2):
            sent = time.time()
            with self.client.request(
                method, url, name=step, catch_response=True, **kwargs
            ) as response:
                error = response.error if response.status_code == 0 else None
                if error is None:
                    TALLY.count_status(response.status_code)
                    if response.status_code in self.expect:
                        response.success()
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
    """One page load of the tab: its layout, its end id and its callbacks."""

    def __init__(self, http: Http, base: str, sid: str | None) -> None:
        self.http = http
        http.step, http.expect = "GET /", (200,)
        html = http.get(f"{base}/").text
        found = re.search(
            r'<script id="_dash-config" type="application/json">(.*?)</script>',
            html,
            re.S,
        )
        if not found:
            raise StepFailed("the page has no _dash-config")
        self.end_id = json.loads(found.group(1))["end_id"]
        http.step = "GET /_dash-layout"
        self.layout = http.get(f"{base}/_dash-layout").json()
        self.dash = DashClient(base, session=http)  # type: ignore[arg-type]
        http.step = "GET /_dash-dependencies"
        deps = self.dash.deps
        self.deps = {d["output"]: d for d in deps}
        if sid is not None:  # the tab's sessionStorage wins over the served value
            self.props(ids.APP_SESSION)["data"] = sid
        self.sid = self.props(ids.APP_SESSION)["data"]

    # -- the page's state --------------------------------------------------------
    def props(self, component_id: Any) -> dict[str, Any]:
        for props in components(self.layout):
            if props.get("id") == component_id:
                return props
        raise StepFailed(f"no component {component_id!r} on the page")

    def wildcard(self, kind: str) -> list[dict[str, Any]]:
        """The props of the components whose dict id has type ``kind``."""
        return [
            p
            for p in components(self.layout)
            if isinstance(p.get("id"), dict) and p["id"].get("type") == kind
        ]

    def apply(self, response: dict[str, Any]) -> None:
        """Write a callback's outputs into the layout, as the renderer does."""
        for key, props in response.items():
            for candidate in components(self.layout):
                if stringify(candidate.get("id")) == key:
                    candidate.update(props)

    # -- callbacks -----------------------------------------------------------------
    def body(self, outputs: list[str], changed: list[str]) -> dict[str, Any]:
        dep = self.dash.find(outputs)
        values: dict[str, Any] = {}
        pattern: dict[str, list[dict[str, Any]]] = {}
        for spec in dep["inputs"] + dep["state"]:
            cid, prop = spec["id"], spec["property"]
            if cid.startswith("{"):
                wanted = json.loads(cid)
                pattern[f"{wanted['type']}.{prop}"] = [
                    {
                        "id": p["id"],
                        "property": prop,
                        "value": p["id"] if prop == "id" else p.get(prop),
                    }
                    for p in components(self.layout)
                    if _matches(wanted, p.get("id"))
                ]
            else:
                values[f"{cid}.{prop}"] = self.props(cid).get(prop)
        return self.dash.body(outputs, values, changed=changed, pattern=pattern)

    def call(self, step: str, outputs: list[str], changed: list[str]) -> dict[str, Any]:
        """Send a callback; apply and return its outputs ({} for a 204)."""
        self.http.step, self.http.expect = step, (200, 204)
        body = self.body(outputs, changed)
        answer = self.dash.post(body, {"endId": self.end_id})
        if answer.status_code == 204:
            return {}
        data = _json(step, answer)
        if "cacheKey" in data:
            return self.follow(step, body, data)
        response = data.get("response")
        if not isinstance(response, dict):
            raise StepFailed(f"{step}: no response in {str(data)[:200]}")
        self.apply(response)
        return response

    def follow(
        self, step: str, body: dict[str, Any], handles: dict[str, Any]
    ) -> dict[str, Any]:
        """Poll a background job like the renderer, until its outputs or a 204."""
        if not all(_SIGNED.match(str(handles.get(k, ""))) for k in ("cacheKey", "job")):
            raise StepFailed(f"{step}: unexpected job handles {handles}")
        interval = self.deps[body["output"]]["background"].get("interval", 500) / 1000
        poll = copy.deepcopy(body)
        for entry in poll["inputs"] + poll["state"]:
            if isinstance(entry, dict):
                entry["value"] = None
        query = {
            "endId": self.end_id,
            "cacheKey": handles["cacheKey"],
            "job": handles["job"],
        }
        deadline = time.monotonic() + JOB_TIMEOUT
        self.http.step = step.replace("(start)", "(poll)")
        while time.monotonic() < deadline:
            time.sleep(interval)
            answer = self.dash.post(poll, query)
            if answer.status_code == 204:
                return {}
            data = _json(self.http.step, answer)
            if "response" in data:
                self.apply(data["response"])
                return data["response"]
        raise StepFailed(f"{step}: the job was still running after {JOB_TIMEOUT} s")


# -- the visitor ---------------------------------------------------------------------


def small_csv(rng: random.Random, rows: int = 200) -> bytes:
    """A small file of the visitor's own: two numbers, a category, a text target."""
    lines = ["size,weight,colour,label"]
    for _ in range(rows):
        size = round(rng.uniform(1, 11), 1)
        weight = round(rng.uniform(2, 15), 2)
        colour = rng.choice(("red", "green", "blue"))
        big = size + weight / 3 + (0.8 if colour == "red" else 0) + rng.gauss(0, 1) > 8
        lines.append(f"{size},{weight},{colour},{'large' if big else 'small'}")
    return ("\n".join(lines) + "\n").encode()


class Visitor(HttpUser):
    """One person with one browser tab, for the whole run."""

    wait_time = between(*_wait_range())

    def on_start(self) -> None:
        self.name = f"visitor-{next(_VISITORS)}"
        self.rng = random.Random(self.name)
        self.http = Http(self)
        self.http.headers["Accept-Encoding"] = "gzip"
        self.sid: str | None = None
        self.page: Page | None = None
        self.runs: set[str] = set()  # runs this visitor saw trained
        self.rounds = 0
        self.current = "start"
        self.record: dict[str, Any] = {
            "rounds": 0,
            "runs": [],
            "failed_rounds": 0,
            "step": None,
            "step_started": None,
            "http_step": None,
        }
        TALLY.visitors[self.name] = self.record

    # -- the round -------------------------------------------------------------------
    @task
    def visit(self) -> None:
        try:
            self.step("open the page")
            self.open_page()
            self.wait()
            if self.rounds % 2 == 1:
                self.step("load a bundled dataset")
                self.load_bundled(self.rng.choice(BUNDLED))
                self.wait()
            self.step("train")
            self.train()
            self.wait()
            self.step("what-if")
            self.whatif()
            self.wait()
            self.step("upload")
            self.upload()
            self.wait()
            if self.rounds % 2 == 1:
                self.step("train on the upload")
                self.train()
                self.wait()
            self.step("check the runs")
            self.check_session()
            self.rounds += 1
            self.record["rounds"] = self.rounds
        except StepFailed as exc:
            self.fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug of this file or the app's
            where = traceback.format_exc(limit=-3)
            self.fail(f"unexpected {type(exc).__name__}: {exc}\n{where}")
        self.record["step"] = None  # between rounds: locust's own pause follows

    def step(self, name: str) -> None:
        self.current = name
        self.record["step"] = name
        self.record["step_started"] = time.time()
        self.http.connection_errors = []

    def fail(self, reason: str) -> None:
        self.record["failed_rounds"] += 1
        TALLY.failure(
            self.name, self.current, reason, list(self.http.connection_errors)
        )
        _fire(
            self.environment, "CHECK", f"failed: {self.current}", 0, StepFailed(reason)
        )

    def lose(self, reason: str) -> None:
        TALLY.lose(self.name, reason)
        _fire(self.environment, "CHECK", "lost session", 0, StepFailed(reason))
        raise StepFailed(f"lost session: {reason}")

    # -- the steps ---------------------------------------------------------------------
    def open_page(self) -> None:
        """Load (or reload) the page and run the callbacks it starts with."""
        page = self.page = Page(self.http, self.host, self.sid)
        self.sid = page.sid
        page.call(
            "cb: apply url",
            [f"{ids.DATA_SOURCE}.value", f"{ids.APP_URL_STATE}.data"],
            [f"{ids.APP_URL}.search"],
        )
        self.check_runs("cb: list runs")
        page.call(
            "cb: choose task",
            [f"{ids.MODEL_NAME}.options", f"{ids.MODEL_NAME}.value"],
            [f"{ids.TRAIN_TASK}.value"],
        )
        page.call(
            "cb: model params",
            [f"{ids.TRAIN_PARAMS}.children"],
            [f"{ids.MODEL_NAME}.value"],
        )
        # The URL chose the dataset (iris): loading it is the next callback.
        self.load_bundled(page.props(ids.DATA_SOURCE).get("value") or "iris")

    def load_bundled(self, name: str) -> None:
        page = self.page
        assert page is not None
        page.props(ids.DATA_SOURCE)["value"] = name
        out = page.call(
            "cb: load dataset",
            [
                f"{ids.DATA_VERSION}.data",
                f"{ids.DATA_STATUS}.children",
                f"{ids.DATA_NOTES}.children",
                f"{ids.DATA_SYNTH}.is_open",
            ],
            [f"{ids.DATA_SOURCE}.value"],
        )
        status = text(out.get(ids.DATA_STATUS, {}).get("children"))
        if not re.search(r"[\d,]+ rows × \d+ columns", status):
            raise StepFailed(f"loading {name} said {status!r}")
        TALLY.check("dataset loaded")
        self.describe()

    def upload(self) -> None:
        page = self.page
        assert page is not None
        rows = 150 + self.rng.randrange(100)
        data = small_csv(self.rng, rows)
        filename = f"{self.name}-{self.rounds}.csv"
        page.props(ids.DATA_UPLOAD_BUFFER)["data"] = {
            "filename": filename,
            "contents": "data:text/csv;base64," + base64.b64encode(data).decode(),
        }
        out = page.call(
            "cb: upload",
            [
                f"{ids.DATA_VERSION}.data",
                f"{ids.DATA_STATUS}.children",
                f"{ids.DATA_NOTES}.children",
                f"{ids.DATA_UPLOAD_BUFFER}.data",
            ],
            [f"{ids.DATA_UPLOAD_BUFFER}.data"],
        )
        status = text(out.get(ids.DATA_STATUS, {}).get("children"))
        if f"{filename}: {rows} rows × 4 columns" not in status:
            raise StepFailed(f"the upload said {status!r}")
        TALLY.check("upload read")
        self.describe()

    def describe(self) -> None:
        """What the page runs after new data: describe, target, task, figures."""
        page = self.page
        assert page is not None
        out = page.call(
            "cb: describe data",
            [
                f"{ids.TARGET_COLUMN}.options",
                f"{ids.TARGET_COLUMN}.value",
                f"{ids.DATA_PREVIEW}.rowData",
                f"{ids.DATA_PREVIEW}.columnDefs",
                f"{ids.DATA_SUMMARY}.rowData",
                f"{ids.DATA_SUMMARY}.columnDefs",
                f"{ids.DATA_DIST_COLUMN}.options",
                f"{ids.DATA_DIST_COLUMN}.value",
                f"{ids.DATA_SCATTER_X}.options",
                f"{ids.DATA_SCATTER_X}.value",
                f"{ids.DATA_SCATTER_Y}.options",
                f"{ids.DATA_SCATTER_Y}.value",
                f"{ids.DATA_CORR_GRAPH}.figure",
            ],
            [f"{ids.DATA_VERSION}.data"],
        )
        if not out:
            self.lose("the data just loaded could not be described (no data)")
        page.call(
            "cb: choose target",
            [
                f"{ids.TRAIN_TASK}.value",
                f"{ids.TRAIN_FEATURES}.options",
                f"{ids.TRAIN_FEATURES}.value",
            ],
            [f"{ids.TARGET_COLUMN}.value"],
        )
        model = page.props(ids.MODEL_NAME).get("value")
        page.call(
            "cb: choose task",
            [f"{ids.MODEL_NAME}.options", f"{ids.MODEL_NAME}.value"],
            [f"{ids.TRAIN_TASK}.value"],
        )
        if page.props(ids.MODEL_NAME).get("value") != model:
            page.call(
                "cb: model params",
                [f"{ids.TRAIN_PARAMS}.children"],
                [f"{ids.MODEL_NAME}.value"],
            )
        self.check_data()
        page.call(
            "cb: scatter",
            [f"{ids.DATA_SCATTER_GRAPH}.figure"],
            [f"{ids.DATA_SCATTER_X}.value"],
        )
        page.call(
            "cb: warn slow",
            [f"{ids.TRAIN_WARNING}.children"],
            [f"{ids.DATA_VERSION}.data"],
        )

    def train(self) -> None:
        """Click Train, follow the job, then what the page shows of the run."""
        page = self.page
        assert page is not None
        button = page.props(ids.TRAIN_BUTTON)
        button["n_clicks"] = (button.get("n_clicks") or 0) + 1
        started = time.monotonic()
        out = page.call(
            "cb: train (start)",
            [
                f"{ids.TRAIN_STATUS}.children",
                f"{ids.RUNS_TABLE}.rowData",
                f"{ids.EVAL_RUN}.data",
                f"{ids.MAIN_TABS}.active_tab",
            ],
            [f"{ids.TRAIN_BUTTON}.n_clicks"],
        )
        if not out:  # 204: the job stopped without a result
            with TALLY.lock:
                TALLY.trainings["stopped"] += 1
            raise StepFailed("the training job stopped without a result (204)")
        status = text(out.get(ids.TRAIN_STATUS, {}).get("children"))
        found = _RUN.search(status)
        if not found:
            if "No data is loaded" in status or "expired" in status:
                self.lose(f"training found no data: {status!r}")
            raise StepFailed(f"training said {status!r}")
        _fire(
            self.environment,
            "FLOW",
            "train: click to result",
            time.monotonic() - started,
            None,
        )
        run_id = found.group(1)
        self.runs.add(run_id)
        self.record["runs"].append(run_id)
        with TALLY.lock:
            TALLY.trainings["confirmed"] += 1
        listed = {str(r.get("run")) for r in out.get(ids.RUNS_TABLE, {}).get("rowData")}
        if not self.runs <= listed:
            self.lose(f"runs {sorted(self.runs - listed)} vanished after run {run_id}")
        # What the new run id and tab start on the page.
        shown = page.call(
            "cb: show run",
            [
                f"{ids.EVAL_SUMMARY}.children",
                f"{ids.METRICS_TABLE}.children",
                f"{ids.EVAL_FIGURES}.children",
            ],
            [f"{ids.EVAL_RUN}.data"],
        )
        if "accuracy" not in text(shown.get(ids.METRICS_TABLE, {})):
            self.run_gone(run_id, shown)
        inputs = page.call(
            "cb: predict inputs",
            [f"{ids.PREDICT_SUMMARY}.children", f"{ids.PREDICT_INPUTS}.children"],
            [f"{ids.EVAL_RUN}.data"],
        )
        if not page.wildcard(ids.PREDICT_INPUT):
            self.run_gone(run_id, inputs)
        if self.rounds % EXPLAIN_EVERY == 1:
            self.explain(run_id)
        TALLY.check("run trained and shown")

    def explain(self, run_id: str) -> None:
        """Open the Explain tab: the page's gate (in the browser) asks for the run."""
        page = self.page
        assert page is not None
        page.props(ids.MAIN_TABS)["active_tab"] = "tab-explain"
        page.props(ids.EXPLAIN_REQUEST)["data"] = run_id
        out = page.call(
            "cb: explain (start)",
            [
                f"{ids.EXPLAIN_SUMMARY}.children",
                f"{ids.EXPLAIN_PERMUTATION}.figure",
                f"{ids.EXPLAIN_NATIVE}.figure",
                f"{ids.EXPLAIN_FEATURE}.options",
                f"{ids.EXPLAIN_FEATURE}.value",
                f"{ids.EXPLAIN_FEATURE_2}.options",
                f"{ids.EXPLAIN_OUTPUT}.options",
                f"{ids.EXPLAIN_OUTPUT}.value",
                f"{ids.EXPLAIN_BOUNDARY_X}.options",
                f"{ids.EXPLAIN_BOUNDARY_X}.value",
                f"{ids.EXPLAIN_BOUNDARY_Y}.options",
                f"{ids.EXPLAIN_BOUNDARY_Y}.value",
                f"{ids.EXPLAIN_CALIBRATION}.figure",
                f"{ids.EXPLAIN_CLASSIFICATION}.style",
            ],
            [f"{ids.EXPLAIN_REQUEST}.data"],
        )
        if f"Explaining run {run_id}" not in text(out.get(ids.EXPLAIN_SUMMARY, {})):
            self.run_gone(run_id, out)
        page.props(ids.MAIN_TABS)["active_tab"] = "tab-results"

    def run_gone(self, run_id: str, out: dict[str, Any]) -> None:
        said = text(out)
        if "no longer available" in said or "expired" in said:
            self.lose(f"run {run_id} is gone: {said[:200]!r}")
        raise StepFailed(f"run {run_id} could not be shown: {said[:200]!r}")

    def whatif(self) -> None:
        """Change a few what-if inputs; each change is one prediction."""
        page = self.page
        assert page is not None
        run_id = page.props(ids.EVAL_RUN).get("data")
        for _ in range(WHATIF_CHANGES):
            inputs = page.wildcard(ids.PREDICT_INPUT)
            if not inputs:
                raise StepFailed("no what-if inputs on the page")
            chosen = self.rng.choice(inputs)
            if chosen.get("options"):
                chosen["value"] = self.rng.choice(chosen["options"])["value"]
            else:
                low, high = float(chosen["min"]), float(chosen["max"])
                chosen["value"] = round(self.rng.uniform(low, high), 3)
            out = page.call(
                "cb: what-if",
                [f"{ids.WHATIF_PREDICTION}.children"],
                [f"{stringify(chosen['id'])}.value"],
            )
            shown = out.get(ids.WHATIF_PREDICTION, {}).get("children")
            if "whatif-value" not in json.dumps(shown):
                self.run_gone(str(run_id), out)
            TALLY.check("what-if predicted")
            time.sleep(self.rng.uniform(0.3, 1.0))  # typing the next value

    def check_runs(self, step: str) -> None:
        """The runs list (as after a reload) holds every run this visitor trained."""
        page = self.page
        assert page is not None
        out = page.call(
            step,
            [f"{ids.RUNS_TABLE}.rowData", f"{ids.EVAL_RUN}.data"],
            [f"{ids.APP_SESSION}.data"],
        )
        rows = out.get(ids.RUNS_TABLE, {}).get("rowData")
        if not isinstance(rows, list):
            raise StepFailed(f"no runs list in {str(out)[:200]}")
        listed = {str(r.get("run")) for r in rows}
        if not self.runs <= listed:
            self.lose(f"runs {sorted(self.runs - listed)} missing from the list")
        TALLY.check("runs list complete")

    def check_data(self) -> None:
        """The session still holds its data: the distribution of a column draws."""
        page = self.page
        assert page is not None
        out = page.call(
            "cb: distribution",
            [f"{ids.DATA_DIST_GRAPH}.figure"],
            [f"{ids.DATA_DIST_COLUMN}.value"],
        )
        figure = out.get(ids.DATA_DIST_GRAPH, {}).get("figure") or {}
        if not figure.get("data"):
            said = text(figure.get("layout", {}))
            if "expired" in said or "No data" in said:
                self.lose(f"the data is gone: {said[:200]!r}")
            raise StepFailed(f"no distribution drawn: {said[:200]!r}")
        TALLY.check("data still there")

    def check_session(self) -> None:
        self.check_runs("cb: list runs")
        self.check_data()
