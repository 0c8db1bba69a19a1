"""Many instances: two gunicorn servers, one Redis and one Celery worker.

A visitor's requests land on either instance, as behind a load balancer without
session affinity. Each instance has its own ``CACHE_DIR``, so only Redis can carry a
session (data, runs, background jobs) from one to the other.

The callbacks are driven over HTTP the way dash-renderer drives them (``Page``, on
``tools.dashclient``, after ``dash/_callback.py`` and
``dash-renderer/build/dash_renderer.dev.js``):

- every POST to ``/_dash-update-component`` carries ``?endId=<end_id>``, the
  signed per-page-load token from the page's ``_dash-config`` script;
- the first POST of a background callback answers ``{"cacheKey", "job", "cancel",
  "progressDefault"}`` (``cacheKey`` and ``job`` signed, bound to the endId) and no
  ``response``;
- the renderer then polls every ``interval`` ms with
  ``?endId=...&cacheKey=...&job=...`` (values appended as they are, unencoded) and
  the same body, except that every plain input and state ``value`` is set to null
  (wildcard entries, which are lists, are sent unchanged). Each answer is
  ``{"multi": true}`` plus ``"progress"`` (``{"id.prop": value}``) and
  ``"sideUpdate"`` while the job runs, and holds ``"response"`` (the outputs) once it
  is done;
- a job that is no longer running and left no result answers **204 with an empty
  body**; the renderer then applies the callback's ``runningOff`` values (here the
  "stopped before it finished" message) and ends the poll;
- Cancel posts Dash's own cancel callback (output ``train-cancel.id``, input
  ``train-cancel.n_clicks``) with ``&cancelJob=<job handle>``; it answers
  ``{"multi": true, "response": {}}`` and the job's next poll answers 204.

The Celery worker runs with concurrency 1, the instances with 2 gunicorn workers
each (as in production).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess  # nosec B404
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import psutil
import pytest
import requests
from redis_fixture import RedisServer

from app.ml import input_row, predict_one
from app.server.jobs import HEARTBEAT_TTL_SECONDS, heartbeat_key
from app.server.store import RedisBackend, SessionStore, valid_run_id
from app.ui import ids
from tools.dashclient import DashClient, Job, components, follow_ups, prop_id, text
from tools.outputs import CHAINS

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START_TIMEOUT = 180  # seconds for every service to be ready, on a loaded machine
JOB_TIMEOUT = 120  # seconds for a small training job to finish
#: A job whose worker died must be reported within this (heartbeat TTL + margin).
STOPPED_WITHIN = HEARTBEAT_TTL_SECONDS + 10
WEB_CONCURRENCY = 2  # gunicorn workers per instance, as in production
SIGNING_SECRET_KEY = "dashboard:secret-key"  # the app's, see SessionStore.shared_secret

# -- processes -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _group(pgid: int) -> list[psutil.Process]:
    """The live (not zombie) processes of process group ``pgid``."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if (
                os.getpgid(proc.pid) == pgid
                and proc.info["status"] != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


def _describe(name: str, proc: psutil.Process) -> str:
    try:
        return f"{name}: {proc.pid} {' '.join(proc.cmdline())}"
    except psutil.Error:
        return f"{name}: {proc.pid}"


class Service:
    """A server process started in its own session, logging to a file.

    Its process group holds it and every process it starts, so that the whole
    tree can be killed, and checked to be gone.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def start(self) -> "Service":
        self.stopping = False
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # nosec B603
                self.argv,
                cwd=PROJECT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(
                f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}",
                pytrace=False,
            )

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def terminate(self) -> None:
        """Send SIGTERM to the leader (once), as a supervisor would."""
        if self.proc is not None and self.proc.poll() is None and not self.stopping:
            self.proc.send_signal(signal.SIGTERM)
            self.stopping = True

    def stop(self, timeout: float = 30) -> list[str]:
        """SIGTERM the leader and wait; SIGKILL what is left of its group.

        Returns a description of every process that had to be killed (none when
        the service shut down cleanly).
        """
        if self.proc is None:
            return []
        self.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        survivors = [_describe(self.name, p) for p in _group(self.pgid)]
        self.kill_tree()
        return survivors

    def kill_tree(self) -> None:
        """SIGKILL every process of the group, at once, and reap the leader."""
        assert self.proc is not None
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while _group(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _environment(redis_url: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "CACHE_DIR", "PORT", "WEB_CONCURRENCY"}
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    env.update(
        REDIS_URL=redis_url,
        CACHE_DIR=str(cache_dir),
        SHARE_URL=str(cache_dir.parent / "shares"),  # one for every instance
        ENABLE_MCP="1",  # the agents' trainings run on the workers
        LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class Instance(Service):
    """One instance of the web app: gunicorn with the project's config."""

    def __init__(self, name: str, redis_url: str, root: Path) -> None:
        self.port = 0
        self.env_base = _environment(
            redis_url, root / f"cache-{name}", WEB_CONCURRENCY=str(WEB_CONCURRENCY)
        )
        argv = [
            str(BIN / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "app.app:create_server()",
        ]
        super().__init__(
            f"instance {name}", argv, self.env_base, root / f"gunicorn-{name}.log"
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Instance":
        self.port = _free_port()
        self.env = dict(self.env_base, PORT=str(self.port))
        super().start()
        return self

    def listening(self) -> bool:
        """Whether this instance itself holds the listening socket of its port.

        (Other test runs on the machine start servers on free ports too: a
        /healthz answer alone could come from one of theirs.)
        """
        try:
            sockets = psutil.Process(self.pgid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(
            s.status == psutil.CONN_LISTEN and s.laddr.port == self.port
            for s in sockets
        )

    def wait_ready(self, deadline: float) -> None:
        """Wait for /healthz; start again on another port if this one was taken."""
        tries = 1
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                if tries < 3 and "Connection in use" in self.tail():
                    tries += 1
                    self.start()
                    continue
                self.check_alive()
            try:
                answer = requests.get(f"{self.base}/healthz", timeout=5)
                if answer.json() == {"status": "ok"} and self.listening():
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        pytest.fail(f"{self.name} not ready:\n{self.tail()}", pytrace=False)

    def restart(self) -> None:
        """Stop it, and start it again (a new process on a new port)."""
        assert self.stop() == []
        self.start()
        self.wait_ready(time.monotonic() + START_TIMEOUT)


class Worker(Service):
    """A Celery worker, started the way the README says, concurrency 1."""

    def __init__(self, number: int, redis_url: str, root: Path) -> None:
        self.redis_url = redis_url
        self.node = f"dashboard-test-{number}@localhost"
        argv = [
            str(BIN / "celery"),
            *("--app", "app.worker", "worker", "--loglevel", "INFO"),
            *("--concurrency", "1", "--hostname", self.node),
        ]
        env = _environment(redis_url, root / f"cache-worker-{number}")
        super().__init__(
            f"celery worker {number}", argv, env, root / f"celery-{number}.log"
        )

    def wait_ready(self, deadline: float) -> None:
        """Wait until the worker answers a broadcast ping (it consumes the queue)."""
        from celery import Celery

        probe = Celery("probe", broker=self.redis_url)
        try:
            while time.monotonic() < deadline:
                self.check_alive()
                replies = probe.control.ping(destination=[self.node], timeout=1.0)
                if any(self.node in reply for reply in replies):
                    return
            pytest.fail(f"{self.name} not ready:\n{self.tail()}", pytrace=False)
        finally:
            probe.close()


class Cluster:
    """Redis, instances A and B, and a Celery worker; more workers on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.redis = RedisServer(root, maxmemory="256mb", policy="volatile-lru")
        self.services: list[Service] = []
        self.workers = 0

    def start(self) -> None:
        self.redis.start()
        self.a = Instance("a", self.redis.url, self.root)
        self.b = Instance("b", self.redis.url, self.root)
        self.worker = self._new_worker()
        for service in (self.a, self.b, self.worker):
            self.services.append(service.start())
        deadline = time.monotonic() + START_TIMEOUT
        for service in (self.a, self.b, self.worker):
            service.wait_ready(deadline)

    def _new_worker(self) -> Worker:
        self.workers += 1
        return Worker(self.workers, self.redis.url, self.root)

    def restart_worker(self) -> None:
        """A new worker in place of the current one (which must be gone)."""
        assert self.worker.proc is not None and self.worker.proc.poll() is not None
        self.worker = self._new_worker()
        self.services.append(self.worker.start())
        self.worker.wait_ready(time.monotonic() + START_TIMEOUT)

    def stop(self) -> tuple[list[str], list[str]]:
        """Stop everything; returns what ignored SIGTERM, and what is still left."""
        survivors: list[str] = []
        for service in self.services:  # all at once: they stop in parallel
            service.terminate()
        for service in reversed(self.services):
            survivors += service.stop()
        self.redis.stop()
        left = [
            _describe(s.name, p)
            for s in self.services
            if s.proc is not None
            for p in _group(s.pgid)
        ]
        return survivors, left

    def store(self) -> SessionStore:
        """The session store on the cluster's Redis, as the app configures it."""
        return SessionStore(RedisBackend(self.redis.url), ttl_seconds=3600, max_runs=50)


@contextmanager
def running_cluster(root: Path) -> Iterator[Cluster]:
    """A started cluster; stopped on exit, and checked to leave no process."""
    started = time.monotonic()
    cluster = Cluster(root)
    try:
        cluster.start()
        print(f"cluster ready in {time.monotonic() - started:.1f} s")
        yield cluster
    finally:
        survivors, left = cluster.stop()
    assert left == [], f"processes left after SIGKILL: {left}"
    assert survivors == [], f"processes that outlived SIGTERM: {survivors}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """Redis, two instances (own CACHE_DIR each) and a Celery worker, all real."""
    with running_cluster(tmp_path_factory.mktemp("distributed")) as started:
        yield started


@pytest.fixture(autouse=True)
def _services_stay_up(cluster) -> Iterator[None]:
    """After each test, every service is still running (else: its log)."""
    yield
    for service in (cluster.a, cluster.b, cluster.worker):
        assert service.proc is not None
        assert service.proc.poll() is None, f"{service.name} died:\n{service.tail()}"


# -- the renderer's side of the callback protocol ----------------------------------


class Page:
    """One browser tab, as dash-renderer drives it (the protocol:
    ``tools.dashclient``), against any instance.

    It holds the page's layout (updated by each callback response, like the
    renderer's store), its ``end_id`` and the callback dependencies, read from the
    instance that served the page. Requests may then go to any instance.
    """

    def __init__(self, base: str) -> None:
        self.dash = DashClient(base, timeout=60)
        self.config = self.dash.open()
        assert self.dash.end_id, "no end_id in the page's _dash-config"
        self.layout = self.dash.layout()
        self.sid = self.props(ids.APP_SESSION)["data"]

    # -- the page's state ----------------------------------------------------------
    def props(self, component_id: Any) -> dict[str, Any]:
        return self.layout.props(component_id)

    def wildcard(self, kind: str, prop: str) -> dict[str, Any]:
        """``prop`` of every component whose dict id has type ``kind``, by name."""
        return {p["id"]["name"]: p.get(prop) for p in self.layout.wildcard(kind)}

    def set(self, component_id: Any, **props: Any) -> None:
        """What the visitor does: type a value, pick an option."""
        self.props(component_id).update(props)

    # -- requests --------------------------------------------------------------------
    def body(self, output: str, changed: Iterable[str]) -> dict[str, Any]:
        """The request body of the callback that writes ``output`` when ``changed``
        (the first changed prop names the callback); values come from the page."""
        return self.dash.body(output, self.layout, changed=list(changed))

    def post(self, base: str, body: dict[str, Any], **args: str) -> requests.Response:
        return self.dash.post(body, args, base=base)

    def call(self, base: str, output: str, *changed: str) -> dict[str, Any]:
        """Run a plain callback on ``base``; apply and return its outputs."""
        return self.finish(self.post(base, self.body(output, changed)))

    def start(self, base: str, output: str | list[str], *changed: str) -> Job:
        """The first POST of a background callback: returns its job handles."""
        body = self.body(output, changed)
        answer = self.post(base, body)
        assert answer.status_code == 200, answer.text[:2000]
        job = self.dash.job(body, answer.json())
        assert job is not None, answer.text[:2000]
        return job

    def follow(
        self,
        bases: Iterable[str],
        job: Job,
        *,
        timeout: float = JOB_TIMEOUT,
        until: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """Poll (on each base in turn) every ``interval`` ms, like the renderer,
        until an answer holds the outputs or is not a 200 (or ``until`` holds)."""
        return self.dash.follow(job, timeout=timeout, bases=bases, until=until)

    def dependency_of(self, job: Job) -> dict[str, Any]:
        return self.dash.dependency(job.body["output"])

    def finish(self, answer: requests.Response) -> dict[str, Any]:
        """The outputs of an answer (a plain callback's, a job's last), applied to
        the page."""
        assert answer.status_code == 200, (answer.status_code, answer.text[:2000])
        data = answer.json()
        assert "response" in data, data
        self.layout.apply(data["response"])
        return data["response"]


# -- what a visitor does -------------------------------------------------------------

TRAIN = f"{ids.TRAIN_STATUS}.children"
CLICK_TRAIN = f"{ids.TRAIN_BUTTON}.n_clicks"


def _csv() -> bytes:
    """A small classification file: two numbers, a category, a text target."""
    lines = ["size,weight,colour,label"]
    for i in range(240):
        size = round(1 + (i * 37 % 101) / 10, 1)
        weight = round(2 + (i * 53 % 89) / 7, 2)
        colour = ("red", "green", "blue")[i % 3]
        big = size + weight / 3 + (0.8 if colour == "red" else 0) > 8
        lines.append(f"{size},{weight},{colour},{'large' if big else 'small'}")
    return ("\n".join(lines) + "\n").encode()


def _upload(page: Page, base: str) -> dict[str, Any]:
    contents = "data:text/csv;base64," + base64.b64encode(_csv()).decode()
    page.set(
        ids.DATA_UPLOAD_BUFFER,
        data={"filename": "zq-distributed.csv", "contents": contents},
    )
    out = page.call(base, f"{ids.DATA_VERSION}.data", f"{ids.DATA_UPLOAD_BUFFER}.data")
    assert "Reading the file" in text(out[ids.DATA_STATUS])
    return _load_in_background(page, base, out)


def _load_in_background(page: Page, base: str, out: dict[str, Any]) -> dict[str, Any]:
    """What the page does when a load's answer hands the work to a background job
    (``data-job.data`` set: every upload, big synthetic data): the job's outputs;
    ``out`` itself when the data was loaded at once."""
    for prop, then in follow_ups(out, CHAINS):
        out = page.finish(page.follow([base], page.start(base, then, prop)))
    return out


def _load_bundled(page: Page, base: str, name: str, rows: int | None = None) -> str:
    page.set(ids.DATA_SOURCE, value=name)
    changed = [f"{ids.DATA_SOURCE}.value"]
    if rows is not None:
        page.set(ids.DATA_SYNTH_ROWS, value=rows)
        changed.append(f"{ids.DATA_SYNTH_ROWS}.value")
    out = page.call(base, f"{ids.DATA_VERSION}.data", *changed)
    out = _load_in_background(page, base, out)
    return text(out[ids.DATA_STATUS]["children"])


def _prepare_training(page: Page, base: str, model: str | None = None) -> None:
    """What the page does after data loads: target, task, model, its parameters."""
    page.call(base, f"{ids.TARGET_COLUMN}.value", f"{ids.DATA_VERSION}.data")
    page.call(base, f"{ids.TRAIN_TASK}.value", f"{ids.TARGET_COLUMN}.value")
    page.call(base, f"{ids.MODEL_NAME}.value", f"{ids.TRAIN_TASK}.value")
    if model is not None:
        page.set(ids.MODEL_NAME, value=model)
    page.call(base, f"{ids.TRAIN_PARAMS}.children", f"{ids.MODEL_NAME}.value")


def _click_train(page: Page, base: str) -> Job:
    clicks = (page.props(ids.TRAIN_BUTTON).get("n_clicks") or 0) + 1
    page.set(ids.TRAIN_BUTTON, n_clicks=clicks)
    return page.start(base, TRAIN, CLICK_TRAIN)


def _working(answer: requests.Response) -> bool:
    """The answer relays the worker's progress: the job is running there."""
    return answer.status_code == 200 and "progress" in answer.json()


def _status(cluster: Cluster, job: Job) -> str:
    """The Celery state of a job, as stored in Redis."""
    meta = cluster.redis.client().get(f"celery-task-meta-{job.task_id}")
    return "PENDING" if meta is None else json.loads(meta)["status"]


def _holdout(report: dict[str, Any], name: str) -> float:
    return next(m["holdout"] for m in report["metrics"] if m["name"] == name)


def _metrics_shown(out: dict[str, Any]) -> dict[str, str]:
    """Metric name -> hold-out cell text, from the metrics table's children."""
    shown = {}
    for props in components(out[ids.METRICS_TABLE]["children"]):
        if "data-metric" in props:
            cells = [c["props"] for c in props["children"]]
            shown[props["data-metric"]] = text(cells[1]["children"])
    return shown


# -- the tests -----------------------------------------------------------------------


def test_a_visitor_uploads_and_trains_on_one_instance_and_goes_on_on_the_other(
    cluster,
):
    a, b = cluster.a.base, cluster.b.base
    page = Page(a)
    out = _upload(page, a)
    assert "zq-distributed" in text(out[ids.DATA_STATUS])
    assert "240 rows × 4 columns" in text(out[ids.DATA_STATUS])

    _prepare_training(page, a)
    assert page.props(ids.TARGET_COLUMN)["value"] == "label"
    assert page.props(ids.TRAIN_TASK)["value"] == "classification"
    job = _click_train(page, a)
    done = page.finish(page.follow([a], job))
    run_id = done[ids.EVAL_RUN]["data"]
    assert valid_run_id(run_id)
    assert "Run 1: Logistic regression trained" in text(done[ids.TRAIN_STATUS])

    # The same page goes on on instance B, which never saw this visitor.
    report = cluster.store().run(page.sid, run_id)
    listed = page.call(b, f"{ids.RUNS_TABLE}.rowData", f"{ids.APP_SESSION}.data")
    rows = listed[ids.RUNS_TABLE]["rowData"]
    assert [(r["run"], r["number"]) for r in rows] == [(run_id, 1)]
    assert rows[0]["data"] == "zq-distributed.csv"
    assert rows[0]["holdout"] == f"{_holdout(report, 'accuracy'):.4g}"
    assert listed[ids.EVAL_RUN]["data"] == run_id

    # The training's answer (from A) brought the run's metrics; B shows them
    # again to a page that has none shown (a reload).
    assert _metrics_shown(done) == {
        m["name"]: f"{m['holdout']:.4g}" for m in report["metrics"]
    }
    page.set(ids.EVAL_SHOWN, data=None)
    shown = page.call(b, f"{ids.METRICS_TABLE}.children", f"{ids.EVAL_RUN}.data")
    assert _metrics_shown(shown) == {
        m["name"]: f"{m['holdout']:.4g}" for m in report["metrics"]
    }

    page.call(b, f"{ids.PREDICT_INPUTS}.children", f"{ids.EVAL_RUN}.data")
    size = {"type": ids.PREDICT_INPUT, "name": "size"}
    colour = {"type": ids.PREDICT_INPUT, "name": "colour"}
    assert page.props(colour)["options"], "no dropdown for the category"
    page.set(size, value=9.5)
    page.set(colour, value="red")
    out = page.call(b, f"{ids.WHATIF_PREDICTION}.children", prop_id(size, "value"))
    values = page.wildcard(ids.PREDICT_INPUT, "value")
    assert values["size"] == 9.5 and values["colour"] == "red"
    model = cluster.store().model(page.sid, run_id)
    expected = predict_one(
        model, input_row(report["inputs"], values), task="classification"
    )
    prediction = out[ids.WHATIF_PREDICTION]["children"]
    shown_value = next(
        p for p in components(prediction) if "whatif-value" in p.get("className", "")
    )
    assert shown_value["children"] == expected["prediction"]
    graph = next(p for p in components(prediction) if "figure" in p)
    bars = graph["figure"]["data"][0]
    assert dict(zip(bars["y"], bars["x"])) == pytest.approx(expected["probabilities"])


def test_a_job_started_on_one_instance_is_followed_to_its_end_on_the_other(cluster):
    a, b = cluster.a.base, cluster.b.base
    page = Page(a)
    assert "569 rows" in _load_bundled(page, a, "breast_cancer")
    _prepare_training(page, a, model="random_forest")
    page.set({"type": ids.PARAM_INPUT, "name": "n_estimators"}, value=200)

    job = _click_train(page, a)
    answer = page.follow([b], job)
    done = page.finish(answer)

    assert job.polls[0].keys() >= {"multi"} and "response" not in job.polls[0]
    progress = [p["progress"] for p in job.polls if "progress" in p]
    assert progress, f"B never relayed the worker's progress: {job.polls}"
    labels = {p[f"{ids.TRAIN_PROGRESS}.label"] for p in progress}
    expected = {"Preparing the data", "Final model fitted"} | {
        f"Cross-validation fold {i} of 5" for i in range(1, 6)
    }
    assert labels <= expected, labels

    run_id = done[ids.EVAL_RUN]["data"]
    report = cluster.store().run(page.sid, run_id)
    assert report["config"]["params"]["n_estimators"] == 200
    assert report["number"] == 1
    assert "Run 1: Random forest trained" in text(done[ids.TRAIN_STATUS])
    row = done[ids.RUNS_TABLE]["rowData"][0]
    assert row["run"] == run_id and row["number"] == 1
    assert row["metric"] == "accuracy"
    assert row["holdout"] == f"{_holdout(report, 'accuracy'):.4g}"
    assert done[ids.MAIN_TABS]["active_tab"] == "tab-results"
    assert _metrics_shown(done)["roc_auc"] == f"{_holdout(report, 'roc_auc'):.4g}"
    shown = page.call(b, f"{ids.METRICS_TABLE}.children", f"{ids.EVAL_RUN}.data")
    assert ids.METRICS_TABLE not in shown and shown[ids.EVAL_FIGURES]["children"]


def test_a_job_started_on_one_instance_is_cancelled_through_the_other(cluster):
    a, b = cluster.a.base, cluster.b.base
    page = Page(a)
    assert "569 rows" in _load_bundled(page, a, "breast_cancer")
    _prepare_training(page, a, model="random_forest")
    page.set({"type": ids.PARAM_INPUT, "name": "n_estimators"}, value=1000)
    job = _click_train(page, a)
    assert _working(page.follow([b], job, until=_working))
    assert _status(cluster, job) == "STARTED"

    # Cancel: the renderer sends the cancel callback with ?cancelJob=<job handle>.
    clicks = f"{ids.TRAIN_CANCEL}.n_clicks"
    assert job.handles["cancel"] == [{"id": ids.TRAIN_CANCEL, "property": "n_clicks"}]
    page.set(ids.TRAIN_CANCEL, n_clicks=1)
    body = page.body(f"{ids.TRAIN_CANCEL}.id", [clicks])
    answer = page.post(b, body, cancelJob=job.handles["job"])
    assert answer.status_code == 200, answer.text[:2000]
    assert answer.json() == {"multi": True, "response": {}}

    answer = page.follow([a], job, timeout=30)
    assert answer.status_code == 204 and answer.content == b"", answer.text[:2000]
    assert _status(cluster, job) == "REVOKED"
    listed = page.call(b, f"{ids.RUNS_TABLE}.rowData", f"{ids.APP_SESSION}.data")
    assert listed[ids.RUNS_TABLE]["rowData"] == []


def test_a_job_whose_worker_is_killed_is_reported_stopped(cluster):
    a, b = cluster.a.base, cluster.b.base
    page = Page(b)
    assert "80,000 rows" in _load_bundled(page, b, "classification", rows=80_000)
    _prepare_training(page, b, model="random_forest")
    job = _click_train(page, a)
    answer = page.follow([a, b], job, until=_working)
    assert _working(answer), answer.text[:2000]
    redis = cluster.redis.client()
    assert _status(cluster, job) == "STARTED"
    assert redis.exists(heartbeat_key(job.task_id))

    cluster.worker.kill_tree()
    assert _group(cluster.worker.pgid) == []
    killed = time.monotonic()
    answer = page.follow([b, a], job, timeout=STOPPED_WITHIN + 30)
    elapsed = time.monotonic() - killed

    # What Dash answers for a job that stopped with no result: 204, empty body.
    assert answer.status_code == 204, answer.text[:2000]
    assert answer.content == b""
    assert elapsed < STOPPED_WITHIN, f"reported stopped only after {elapsed:.1f} s"
    assert all("response" not in p for p in job.polls)
    # The renderer then shows the callback's runningOff values.
    off = page.dependency_of(job)["running"]["runningOff"]
    assert "stopped before it finished" in text(off[TRAIN])
    # The task is still STARTED for Celery: only the heartbeat tells it died.
    assert _status(cluster, job) == "STARTED"
    assert not redis.exists(heartbeat_key(job.task_id))
    listed = page.call(b, f"{ids.RUNS_TABLE}.rowData", f"{ids.APP_SESSION}.data")
    assert listed[ids.RUNS_TABLE]["rowData"] == []

    # A new worker takes the next job; the page polls both instances in turn.
    cluster.restart_worker()
    assert "150 rows" in _load_bundled(page, a, "iris")
    _prepare_training(page, b, model="logistic_regression")
    job = _click_train(page, b)
    done = page.finish(page.follow([a, b], job))
    assert "Run 1: Logistic regression trained" in text(done[ids.TRAIN_STATUS])


def test_an_instance_started_later_follows_the_jobs_of_the_others(cluster):
    """Job handles are signed with one secret shared through Redis, kept without a
    TTL; an instance started later (a scale-out, a replacement) uses it too."""
    redis = cluster.redis.client()
    ttl = redis.ttl(SIGNING_SECRET_KEY)
    assert ttl == -1, "the shared signing secret must not expire"
    # Dash's own fallback key is not what signs the handles, so losing it is harmless.
    redis.delete("__dash_background_signing_secret__")
    # ... and a new instance starts (Cloud Run scales out, or replaces one).
    cluster.b.restart()
    a, b = cluster.a.base, cluster.b.base
    page = Page(a)
    assert "150 rows" in _load_bundled(page, a, "iris")
    _prepare_training(page, a)
    job = _click_train(page, a)
    answer = page.follow([b], job)
    assert answer.status_code == 200, (
        f"B answered {answer.status_code} to a job of A (the signing secret in "
        f"Redis had a TTL of {ttl} s)"
    )
    assert "Run 1: Logistic regression trained" in text(
        page.finish(answer)[ids.TRAIN_STATUS]
    )


# -- a hyper-parameter search over the workers ----------------------------------------


def test_a_search_is_split_over_two_workers_and_survives_losing_one(cluster):
    """The search's job (here, this process) sends its folds to the Celery
    workers and scores some itself; a second worker takes its share; killed
    midway, its folds are scored again and the search completes, with the same
    scores as a search in one process."""
    from app import services
    from app.config import Settings
    from app.ml import TARGET, TrainConfig
    from app.ml import tuning as T
    from app.server import jobs, spread
    from app.services import tuning as search

    second = cluster._new_worker()
    cluster.services.append(second.start())
    second.wait_ready(time.monotonic() + START_TIMEOUT)
    store = cluster.store()
    sid = "s" * 32
    services.load_dataset(
        store, sid, "classification", {"n_samples": 2000, "random_state": 0}
    )
    meta = store.dataset(sid)
    config = TrainConfig(
        target=TARGET,
        features=tuple(c for c in meta["columns"] if c != TARGET),
        task="classification",
        model="random_forest",
        cv_folds=3,
        random_state=0,
    )
    plan = T.Plan(
        space=(T.Dimension("n_estimators", "int", 60, 120),),
        metric="accuracy",
        n_candidates=12,
        random_state=1,
    )
    celery_app = jobs.make_celery(Settings(redis_url=cluster.redis.url))
    seen: list[str] = []
    killed: list[float] = []

    def recording(context):
        inner = spread.celery_spread(celery_app, context)

        def run(tasks, here):
            for result in inner(tasks, here):
                seen.append(str(result.get("worker")))
                yield result

        return run

    def kill_the_second(record):
        if not killed and second.node in seen and len(record["scored"]) >= 3:
            second.kill_tree()
            killed.append(time.monotonic())

    try:
        record = search.run_search(
            store, sid, config, plan, on_update=kill_the_second, spread=recording
        )
    finally:
        celery_app.close()  # its connections, before Redis stops
    assert killed, f"the second worker never scored a fold: {seen}"
    assert cluster.worker.node in seen and second.node in seen, seen
    assert any(w.startswith("here") for w in seen), seen  # the job helps
    assert len(seen) == 12 * 3
    assert len(record["scored"]) == 12
    assert not [s for s in record["scored"] if s["error"]]
    assert time.monotonic() - killed[0] < STOPPED_WITHIN + 30
    # The same scores as the search in one process.
    split = services.split_data(store.dataset_frame(sid)[1], config)
    alone = {s.index: s.score("accuracy") for s in T.search(split, config, plan)}
    for item in search.scored(record):
        assert item.score("accuracy") == pytest.approx(alone[item.index], abs=1e-12)
