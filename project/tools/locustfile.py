"""The simulated visitors of ``make loadtest`` (run by ``tools/loadtest.py``).

Each locust user is one browser tab driving the app the way dash-renderer does
(the page and its requests: ``tools/loadpage.py``), with a pause of
``LOADTEST_WAIT`` seconds (default 1 to 3) between steps, like a person. A round:

1. (re)load the page, keeping its session id as the browser's local storage does, and
   check that the runs list holds every run this visitor trained;
2. load a bundled dataset (iris on the first round, then wine or breast_cancer);
3. train the default model (a background callback), then see its results (and,
   every other round, open the Explain tab: another background job);
4. a few what-if predictions;
5. upload a small CSV of its own (the upload's answer hands the file to a
   background job, which the page then calls and follows), and every other round
   train on it too;
6. check again its runs list and that its data is still there.

Chaining: when a callback's answer sets ``data-job.data`` (every upload, big
synthetic data), the page calls the background callback whose input that is
(``Page.chain``).
Runs are known by their id (``eval-run.data``, the runs table's ``run``), which
is random; the visitor reads their number ("Run 3") in the status and the table.

A request whose connection fails (reset, refused, closed before the answer: what a
worker killed with SIGKILL does to the requests it was serving) is sent once more
after a short pause, as a reload would; both attempts appear in locust's statistics,
and the failed first attempt is also listed, with its time, in the results, so that
the orchestrator can tell the ones caused by the kill from any other. A 5xx, a 4xx,
a timeout or an answer without the expected content is a failure and is not retried.
A visitor whose data or confirmed runs vanish is a *lost session*.

One more user class, ``Abuser`` (``tools/abuser.py``), is run only when named on
locust's command line: one client sending bombs and oversized jobs in a loop.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import time
import traceback
from typing import Any

from locust import HttpUser, between, task

from app.ui import ids
from tools.abuser import Abuser  # noqa: F401 - a user class locust may be asked for
from tools.dashclient import prop_id, text
from tools.loadpage import TALLY, VISITOR_AGENT, Http, Page, StepFailed, fire
from tools.outputs import (
    CHOOSE_TARGET,
    DESCRIBE,
    LOAD,
    LOADED,
    OPEN_PAGE,
    SHOW_RUN,
    TRAIN,
    TRAINED,
    UPLOAD,
)

BUNDLED = ("wine", "breast_cancer")
WHATIF_CHANGES = 3
EXPLAIN_EVERY = 2  # a visitor opens the Explain tab on its 2nd, 4th... round

_VISITORS = itertools.count(1)


def _wait_range() -> tuple[float, float]:
    low, _, high = os.environ.get("LOADTEST_WAIT", "1,3").partition(",")
    return float(low), float(high or low)


def loaded_status(out: dict[str, Any]) -> str:
    """The data status a load's answer shows ("" when none)."""
    return text(out.get(ids.DATA_STATUS, {}).get("children"))


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
        seed = os.environ.get("LOADTEST_SEED", "0")
        self.rng = random.Random(f"{seed}:{self.name}")  # nosec B311 - a simulation
        self.http = Http(self)
        self.http.headers["Accept-Encoding"] = "gzip"
        self.http.headers["User-Agent"] = VISITOR_AGENT
        self.sid: str | None = None
        self.page: Page | None = None
        self.runs: dict[str, int] = {}  # id -> number of the runs it saw trained
        self.rounds = 0
        self.current = "start"
        self.record: dict[str, Any] = {
            "rounds": 0,
            "runs": [],
            "failed_rounds": 0,
            "step": None,
            "step_started": None,
            "news": None,
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

    def tab(self) -> Page:
        """The page open in the tab (opened by the round's first step)."""
        if self.page is None:
            raise StepFailed("no page is open")
        return self.page

    def step(self, name: str) -> None:
        if self.page is not None:
            self.page.notices.clear()
        self.current = name
        self.record["step"] = name
        self.record["step_started"] = self.record["news"] = time.time()
        self.http.connection_errors = []

    def fail(self, reason: str) -> None:
        self.record["failed_rounds"] += 1
        TALLY.failure(
            self.name, self.current, reason, list(self.http.connection_errors)
        )
        fire(
            self.environment, "CHECK", f"failed: {self.current}", 0, StepFailed(reason)
        )

    def lose(self, reason: str) -> None:
        TALLY.lose(self.name, reason)
        fire(self.environment, "CHECK", "lost session", 0, StepFailed(reason))
        raise StepFailed(f"lost session: {reason}")

    # -- the steps ---------------------------------------------------------------------
    def open_page(self) -> None:
        """Load (or reload) the page and run the callbacks it starts with."""
        page = self.page = Page(self.http, self.host, self.sid)
        self.sid = page.sid
        page.call("cb: open page", OPEN_PAGE, [f"{ids.APP_URL}.search"])
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
        page = self.tab()
        page.props(ids.DATA_SOURCE)["value"] = name
        out = page.call("cb: load dataset", LOAD, [f"{ids.DATA_SOURCE}.value"])
        out = page.chain("cb: load data job (start)", out)  # none for these
        status = loaded_status(out)
        if not LOADED.search(status):
            raise StepFailed(f"loading {name} said {status!r}{self.notices()}")
        TALLY.check("dataset loaded")
        self.describe()

    def upload(self) -> None:
        page = self.tab()
        rows = 150 + self.rng.randrange(100)
        data = small_csv(self.rng, rows)
        filename = f"{self.name}-{self.rounds}.csv"
        page.props(ids.DATA_UPLOAD_BUFFER)["data"] = {
            "filename": filename,
            "contents": "data:text/csv;base64," + base64.b64encode(data).decode(),
        }
        started = time.monotonic()
        out = page.call("cb: upload", UPLOAD, [f"{ids.DATA_UPLOAD_BUFFER}.data"])
        if not out.get(ids.DATA_JOB, {}).get("data"):
            raise StepFailed(f"the upload said {loaded_status(out)!r}")
        out = page.chain("cb: read upload (start)", out)
        status = loaded_status(out)
        if f"{filename}: {rows} rows × 4 columns" not in status:
            if "expired" in status:
                self.lose(f"the upload found no session: {status!r}")
            raise StepFailed(f"the upload said {status!r}{self.notices()}")
        fire(
            self.environment,
            "FLOW",
            "upload: send to result",
            time.monotonic() - started,
            None,
        )
        TALLY.check("upload read")
        self.describe()

    def describe(self) -> None:
        """What the page runs after new data: describe, target, task, figures."""
        page = self.tab()
        out = page.call(
            "cb: describe data",
            DESCRIBE,
            [f"{ids.DATA_VERSION}.data"],
        )
        if not out:
            self.lose("the data just loaded could not be described (no data)")
        page.call("cb: choose target", CHOOSE_TARGET, [f"{ids.TARGET_COLUMN}.value"])
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
        page = self.tab()
        button = page.props(ids.TRAIN_BUTTON)
        button["n_clicks"] = (button.get("n_clicks") or 0) + 1
        started = time.monotonic()
        out = page.call("cb: train (start)", TRAIN, [f"{ids.TRAIN_BUTTON}.n_clicks"])
        if not out:  # 204: the job stopped without a result
            with TALLY.lock:
                TALLY.trainings["stopped"] += 1
            raise StepFailed(
                f"the training job stopped without a result (204){self.notices()}"
            )
        status = text(out.get(ids.TRAIN_STATUS, {}).get("children"))
        found = TRAINED.search(status)
        if not found:
            if "No data is loaded" in status or "expired" in status:
                self.lose(f"training found no data: {status!r}")
            raise StepFailed(f"training said {status!r}")
        fire(
            self.environment,
            "FLOW",
            "train: click to result",
            time.monotonic() - started,
            None,
        )
        number = int(found.group(1))
        run_id = out.get(ids.EVAL_RUN, {}).get("data")
        if not isinstance(run_id, str) or not run_id or run_id in self.runs:
            raise StepFailed(f"run {number} came with the id {run_id!r}")
        self.runs[run_id] = number
        self.record["runs"].append(number)
        with TALLY.lock:
            TALLY.trainings["confirmed"] += 1
        rows = out.get(ids.RUNS_TABLE, {}).get("rowData") or []
        self.check_listed(rows, f"after run {number}")
        # The training's answer brings the run's summary and metrics table.
        if "accuracy" not in text(out.get(ids.METRICS_TABLE, {})):
            self.run_gone(number, out)
        if f"Run {number} ·" not in text(out.get(ids.EVAL_SUMMARY, {})):
            raise StepFailed(f"run {number} was shown as {text(out)[:200]!r}")
        # What the new run id and tab start on the page: its figures.
        shown = page.call(
            "cb: show run",
            SHOW_RUN,
            [f"{ids.EVAL_RUN}.data"],
        )
        if not shown.get(ids.EVAL_FIGURES, {}).get("children"):
            self.run_gone(number, shown)
        inputs = page.call(
            "cb: predict inputs",
            [f"{ids.PREDICT_SUMMARY}.children", f"{ids.PREDICT_INPUTS}.children"],
            [f"{ids.EVAL_RUN}.data"],
        )
        if not page.wildcard(ids.PREDICT_INPUT):
            self.run_gone(number, inputs)
        if self.rounds % EXPLAIN_EVERY == 1:
            self.explain(run_id, number)
        TALLY.check("run trained and shown")

    def explain(self, run_id: str, number: int) -> None:
        """Open the Explain tab: the page's gate (in the browser) asks for the run."""
        page = self.tab()
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
        if f"Explaining run {number} " not in text(out.get(ids.EXPLAIN_SUMMARY, {})):
            self.run_gone(number, out)
        page.props(ids.MAIN_TABS)["active_tab"] = "tab-results"

    def run_gone(self, number: int | str, out: dict[str, Any]) -> None:
        said = text(out)
        if "no longer available" in said or "expired" in said:
            self.lose(f"run {number} is gone: {said[:200]!r}")
        raise StepFailed(
            f"run {number} could not be shown: {said[:200]!r}{self.notices()}"
        )

    def notices(self) -> str:
        """What the page's notice said during this step, and the last job, for a
        failure's reason."""
        page = self.page
        said = page.notices if page is not None else []
        job = ""
        if page is not None and page.last_job:
            job = f" (job {page.last_job}, key {page.last_key[:16]})"
        return job + (f" (notice: {said[-1]!r})" if said else "")

    def check_listed(self, rows: list[dict[str, Any]], when: str) -> None:
        """Every run this visitor trained is in ``rows``, under its number."""
        listed = {str(r.get("run")): r.get("number") for r in rows}
        gone = sorted(n for i, n in self.runs.items() if i not in listed)
        if gone:
            self.lose(f"runs {gone} vanished ({when})")
        renumbered = sorted(n for i, n in self.runs.items() if listed.get(i) != n)
        if renumbered:
            raise StepFailed(f"runs {renumbered} are listed under other numbers")

    def whatif(self) -> None:
        """Change a few what-if inputs; each change is one prediction."""
        page = self.tab()
        run_id = page.props(ids.EVAL_RUN).get("data")
        number = self.runs.get(str(run_id), run_id)
        for _ in range(WHATIF_CHANGES):
            inputs = page.wildcard(ids.PREDICT_INPUT)
            if not inputs:
                raise StepFailed("no what-if inputs on the page")
            chosen = self.rng.choice(inputs)
            if chosen.get("options"):
                chosen["value"] = self.rng.choice(chosen["options"])["value"]
            elif isinstance(chosen.get("value"), bool):  # a yes/no switch
                chosen["value"] = not chosen["value"]
            else:  # a number: around its default (the box has no range)
                start = float(chosen.get("value") or 1.0)
                chosen["value"] = round(start * self.rng.uniform(0.5, 1.5), 3)
            out = page.call(
                "cb: what-if",
                [f"{ids.WHATIF_PREDICTION}.children"],
                [prop_id(chosen["id"], "value")],
            )
            shown = out.get(ids.WHATIF_PREDICTION, {}).get("children")
            if "whatif-value" not in json.dumps(shown):
                self.run_gone(number, out)
            TALLY.check("what-if predicted")
            time.sleep(self.rng.uniform(0.3, 1.0))  # typing the next value

    def check_runs(self, step: str) -> None:
        """The runs list (as after a reload) holds every run this visitor trained."""
        page = self.tab()
        out = page.call(
            step,
            [f"{ids.RUNS_TABLE}.rowData", f"{ids.EVAL_RUN}.data"],
            [f"{ids.APP_SESSION}.data"],
        )
        rows = out.get(ids.RUNS_TABLE, {}).get("rowData")
        if not isinstance(rows, list):
            raise StepFailed(f"no runs list in {str(out)[:200]}")
        self.check_listed(rows, "missing from the list")
        TALLY.check("runs list complete")

    def check_data(self) -> None:
        """The session still holds its data: the distribution of a column draws."""
        page = self.tab()
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
