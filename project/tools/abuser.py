"""The abuser of ``make loadtest``: one client sending bombs and oversized jobs.

One person with a script: one session, one page, sending in a loop, with a short
pause between sends, what the app's own form and upload button allow (the rows of
issue 10's table):

(a) a 114 KB Parquet file of 1,000,000 rows of one 1,000-character value
    (dictionary-encoded, zstd), through the data upload chain;
(b) a ~4 MB ``.xlsx`` whose shared strings unpack to ~380 MB, the same way;
(c) a synthetic regression of 1,000,000 rows × 2 features (a new seed each loop),
    then a random forest of 1,000 trees, no depth limit, min leaf 1, all features,
    no folds: refused by the estimate before it starts;
(d) a synthetic classification of 1,000,000 rows × 50 features (a new seed each
    time): a background job under the job budget, which it cannot fit in;
(e) a forest that passes the estimate but takes a while (``LONG_TREES`` trees of
    depth ``LONG_DEPTH`` on (c)'s data, about 13 s alone), to hold a job slot.

(in that order: (d) before (e), so that a short run sees every kind.) And, only
when ``LOADTEST_ABUSE_UNREAD`` is a number N > 0 (``loadtest.py
--abuse-unread-uploads N``), first in each loop:

(f) N uploads of that workbook, one after the other, whose reading job it never
    calls: each upload's bytes wait in the shared cache for a reader.

Every job is followed to its end as the browser would, so the abuser always has a
job running or queued: it competes for the job slots all the time. Its requests
are named ``abuse: ...`` (apart in locust's statistics and out of the visitors'
figures). Refusals and notices are what it expects; what each send got is tallied
(``TALLY.abuse``). A 5xx (counted for every client) or a lost session (its runs or
its data gone without a word) is a failure, as for anyone.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from locust import HttpUser, constant, task

from app.ui import ids
from tools import bombs
from tools.loadpage import ABUSE, ABUSER_AGENT, TALLY, Http, Page, StepFailed, fire
from tools.outputs import (
    CHOOSE_TARGET,
    DESCRIBE,
    LOAD,
    LOADED,
    TRAIN,
    TRAINED,
    UPLOAD,
)

PAUSE = 1.0  # seconds between two sends
#: How long the abuser follows one job (it then sends the next; the job goes on).
FOLLOW_SECONDS = 300
LONG_TREES = 10  # (e): about 1.3 s a tree alone on 750,000 rows on this machine
LONG_DEPTH = 10
BIG_ROWS = 1_000_000
PARQUET_BOMB = bombs.PARQUET_BOMB
XLSX_BOMB = bombs.XLSX_BOMB
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_GONE = ("expired", "No data is loaded", "no longer available")

#: What each kind of send may get without the app failing a guard.
EXPECTED = {
    "parquet bomb": {"refused", "stopped", "queue full"},
    "xlsx bomb": {"refused", "stopped", "queue full"},
    "1M x 2 data": {"loaded", "refused", "stopped", "queue full"},
    "forest of 1,000 unlimited trees": {"refused", "stopped", "queue full", "skipped"},
    "1M x 50 data": {"refused", "stopped", "queue full"},
    "long forest": {"trained", "refused", "stopped", "queue full", "skipped"},
    "uploads left unread": {"staged", "refused"},
}


class Abuser(HttpUser):
    """One client, one session, one page: bombs and oversized jobs in a loop."""

    fixed_count = 1  # one, whatever --users says
    wait_time = constant(0)

    def on_start(self) -> None:
        self.record: dict[str, Any] = {"loops": 0, "http_step": None, "runs": []}
        self.http = Http(self)
        self.http.prefix = ABUSE
        self.http.headers["Accept-Encoding"] = "gzip"
        self.http.headers["User-Agent"] = ABUSER_AGENT
        files = bomb_files()
        self.parquet = _data_url(files[PARQUET_BOMB], "application/octet-stream")
        self.xlsx = _data_url(files[XLSX_BOMB], XLSX)
        self.page = Page(self.http, self.host, None)
        self.said = ""  # the last sentence the page showed, for the tally
        self.seed = 0
        self.runs: dict[str, int] = {}  # id -> number of its runs that trained
        self.storage_notes = 0  # sentences saying its own old data made room
        TALLY.abuser = self.record

    @task
    def loop(self) -> None:
        """One round of every send, then a look at its own runs."""
        sends: list[tuple[str, Callable[[], str]]] = [
            ("parquet bomb", lambda: self.upload(PARQUET_BOMB, self.parquet)),
            ("xlsx bomb", lambda: self.upload(XLSX_BOMB, self.xlsx)),
            ("1M x 2 data", lambda: self.generate("regression", 2)),
            ("forest of 1,000 unlimited trees", lambda: self.train(1000, None)),
            ("1M x 50 data", lambda: self.generate("classification", 50)),
            ("long forest", lambda: self.train(LONG_TREES, LONG_DEPTH)),
        ]
        unread = int(os.environ.get("LOADTEST_ABUSE_UNREAD", "0") or 0)
        if unread > 0:  # (f), off unless asked for; first, for short runs
            sends.insert(0, ("uploads left unread", lambda: self.unread(unread)))
        for kind, send in sends:
            self.record.update(step=kind, step_started=time.time())
            self.page.notices.clear()
            self.said = ""
            started = time.monotonic()
            try:
                outcome = send()
            except StepFailed as exc:
                outcome = "failed"
                self.said = str(exc)
            expected = outcome in EXPECTED.get(kind, set())
            TALLY.abused(kind, outcome, self.said, expected)
            fire(
                self.environment,
                "FLOW",
                f"{ABUSE}{kind}: {outcome}",
                time.monotonic() - started,
                None,
            )
            self.record.update(step="pause", step_started=time.time())
            time.sleep(PAUSE)
        self.record.update(step="check its runs", step_started=time.time())
        try:
            self.check_runs()
        except StepFailed as exc:
            TALLY.abused("look at its runs", "failed", str(exc), False)
        self.record["loops"] += 1

    # -- the sends --------------------------------------------------------------------
    def upload(self, filename: str, contents: str) -> str:
        """Upload a file through the page's upload chain; what it got."""
        page = self.page
        page.props(ids.DATA_UPLOAD_BUFFER)["data"] = {
            "filename": filename,
            "contents": contents,
        }
        out = page.call("upload", UPLOAD, [f"{ids.DATA_UPLOAD_BUFFER}.data"])
        out = page.chain("read upload (start)", out, timeout=FOLLOW_SECONDS)
        return self.loaded(out)

    def unread(self, count: int) -> str:
        """(f) ``count`` uploads of the workbook whose reading job it never asks
        for: each is kept, waiting, in the shared cache."""
        page = self.page
        staged = 0
        for number in range(count):
            page.props(ids.DATA_UPLOAD_BUFFER)["data"] = {
                "filename": f"unread-{number}.xlsx",
                "contents": self.xlsx,
            }
            out = page.call(
                "upload (unread)", UPLOAD, [f"{ids.DATA_UPLOAD_BUFFER}.data"]
            )
            staged += bool(out.get(ids.DATA_JOB, {}).get("data"))
        self.said = f"{staged} of {count} uploads kept waiting for a reader"
        return "staged" if staged else "refused"

    def generate(self, source: str, features: int) -> str:
        """Ask for a big synthetic dataset with a new seed; what it got."""
        page = self.page
        self.seed += 1
        page.props(ids.DATA_SOURCE)["value"] = source
        page.props(ids.DATA_SYNTH_ROWS)["value"] = BIG_ROWS
        page.props(ids.DATA_SYNTH_FEATURES)["value"] = features
        page.props(ids.DATA_SYNTH_SEED)["value"] = self.seed
        out = page.call("generate", LOAD, [f"{ids.DATA_SYNTH_SEED}.value"])
        out = page.chain("generate (start)", out, timeout=FOLLOW_SECONDS)
        outcome = self.loaded(out)
        if outcome == "loaded":
            self.describe()
        return outcome

    def describe(self) -> None:
        """What the page does after new data: its target, task and model."""
        page = self.page
        page.call(
            "describe data",
            DESCRIBE,
            [f"{ids.DATA_VERSION}.data"],
        )
        page.call("choose target", CHOOSE_TARGET, [f"{ids.TARGET_COLUMN}.value"])
        page.call(
            "choose task",
            [f"{ids.MODEL_NAME}.options", f"{ids.MODEL_NAME}.value"],
            [f"{ids.TRAIN_TASK}.value"],
        )
        page.props(ids.MODEL_NAME)["value"] = "random_forest"
        page.call(
            "model params",
            [f"{ids.TRAIN_PARAMS}.children"],
            [f"{ids.MODEL_NAME}.value"],
        )

    def train(self, trees: int, depth: int | None) -> str:
        """A random forest on the current data, min leaf 1, all features, no
        folds; what it got."""
        page = self.page
        if page.props(ids.MODEL_NAME).get("value") != "random_forest":
            self.said = "no data of its own to train on yet"
            return "skipped"
        params = {
            "n_estimators": trees,
            "max_depth": depth,
            "min_samples_leaf": 1,
            "max_features": 1.0,
        }
        for widget in page.wildcard(ids.PARAM_INPUT):
            if widget["id"].get("name") in params:
                widget["value"] = params[widget["id"]["name"]]
        page.props(ids.TRAIN_CV_FOLDS)["value"] = 0
        button = page.props(ids.TRAIN_BUTTON)
        button["n_clicks"] = (button.get("n_clicks") or 0) + 1
        out = page.call(
            "train (start)",
            TRAIN,
            [f"{ids.TRAIN_BUTTON}.n_clicks"],
            timeout=FOLLOW_SECONDS,
        )
        if not out:
            return self.stopped()
        status = _said(out.get(ids.TRAIN_STATUS, {}).get("children"))
        self.said = status
        found = TRAINED.search(status)
        if found:
            run_id = out.get(ids.EVAL_RUN, {}).get("data")
            self.runs[str(run_id)] = int(found.group(1))
            self.record["runs"].append(int(found.group(1)))
            if "removed" in status or "make room" in status:
                self.storage_notes += 1
            return "trained"
        if any(gone in status for gone in _GONE):
            self.lose(f"its training found no data: {status!r}")
        return "refused"

    # -- what came back ---------------------------------------------------------------
    def loaded(self, out: dict[str, Any]) -> str:
        """The outcome of a load: loaded, refused (a sentence), stopped."""
        if not out:
            return self.stopped()
        status = out.get(ids.DATA_STATUS, {}).get("children")
        self.said = _said(status)
        if any(gone in self.said for gone in _GONE):
            self.lose(f"a load found no session: {self.said!r}")
        if "text-danger" in json.dumps(status):
            return "refused"
        if LOADED.search(self.said):
            return "loaded"
        return "unclear"

    def stopped(self) -> str:
        """A job that ended without a result: what the page's notice said."""
        notices = self.page.notices
        self.said = notices[-1] if notices else "no notice"
        if "already have" in self.said:  # scheduler.TOO_MANY
            return "queue full"
        return "stopped"

    def check_runs(self) -> None:
        """Its own runs are all still listed, unless it was told some made room."""
        out = self.page.call(
            "list runs",
            [f"{ids.RUNS_TABLE}.rowData", f"{ids.EVAL_RUN}.data"],
            [f"{ids.APP_SESSION}.data"],
        )
        rows = out.get(ids.RUNS_TABLE, {}).get("rowData")
        if not isinstance(rows, list):
            raise StepFailed(f"no runs list in {str(out)[:200]}")
        listed = {str(r.get("run")) for r in rows}
        gone = sorted(n for i, n in self.runs.items() if i not in listed)
        if gone and not self.storage_notes:
            self.lose(f"its runs {gone} vanished without a word")

    def lose(self, reason: str) -> None:
        TALLY.lose("abuser", reason)
        fire(self.environment, "CHECK", f"{ABUSE}lost session", 0, StepFailed(reason))
        raise StepFailed(f"lost session: {reason}")


def bomb_files() -> dict[str, bytes]:
    """The bombs, read from ``LOADTEST_ABUSE_DIR`` where the orchestrator made
    them before the load started (made here when it is not set)."""
    folder = os.environ.get("LOADTEST_ABUSE_DIR")
    if not folder:
        return bombs.abuse_files()
    names = (bombs.PARQUET_BOMB, bombs.XLSX_BOMB)
    return {name: Path(folder, name).read_bytes() for name in names}


def _said(tree: Any) -> str:
    """The sentences a component tree shows (its ``children`` strings)."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, list):
        return " ".join(filter(None, (_said(item) for item in tree)))
    if isinstance(tree, dict):
        props = tree.get("props", tree)
        return _said(props.get("children")) if isinstance(props, dict) else ""
    return ""


def _data_url(content: bytes, mime: str) -> str:
    """A file as the upload component hands it over."""
    return f"data:{mime};base64," + base64.b64encode(content).decode()
