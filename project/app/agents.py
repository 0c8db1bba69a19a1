"""Tools for AI agents, served by Dash's MCP endpoint (``/_mcp``) when
``ENABLE_MCP=1``: a few deliberate tools, not the app's callbacks, each behind
an API key (Dash does no authentication for MCP; :func:`install` does)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from typing import Any, Optional

import flask

from app import api, services
from app.config import Settings
from app.ml import DATASETS, MODEL_SPECS, PredictionError, TrainConfig
from app.server.security import INTERNAL_HEADER
from app.server.shares import ShareNotFound, Shares
from app.server.store import SessionExpired, SessionStore
from app.server.tasks import TaskFailed, register_task, run_task
from app.services import sharing

log = logging.getLogger(__name__)

MCP_PATH = "/_mcp"
EXTENSION = "dashboard.agents"
TRAIN_TASK = "agents.train"
EXPLAIN_TASK = "agents.explain"
MB = 1024 * 1024
#: Most rows the predict tool takes in one call.
MAX_TOOL_ROWS = 1_000


class ToolError(ValueError):
    """A tool's refusal, said to the agent."""


def _context() -> tuple[SessionStore, Shares, str]:
    """The app's store and share store, and the session of the calling key."""
    extensions = flask.current_app.extensions
    store, shares = extensions["store"], extensions["shares"]
    key = api.api_key(flask.request) or ""
    digest = hmac.new(
        store.shared_secret().encode(), key.encode(), hashlib.sha256
    ).digest()
    return store, shares, base64.urlsafe_b64encode(digest[:18]).decode()


def list_datasets() -> list[dict[str, str]]:
    """The datasets this app can train on: each one's name (pass it to
    describe_dataset or train_model), a label, and its task (classification or
    regression)."""
    return [
        {"name": key, "label": spec.label, "task": spec.task}
        for key, spec in DATASETS.items()
    ]


def describe_dataset(name: str) -> dict[str, Any]:
    """Rows, columns (with their kinds) and the default target of a dataset from
    list_datasets; the first five rows as examples."""
    store, _, sid = _context()
    if name not in DATASETS:
        raise ToolError(f"No dataset {name!r}; call list_datasets for the names.")
    meta = services.load_dataset(store, sid, name, {})
    frame = store.get_frame(meta["frame"], sid=sid)
    return {
        "name": name,
        "rows": meta["rows"],
        "columns": [{"name": c, "dtype": str(frame[c].dtype)} for c in frame.columns],
        "target": meta["default_target"],
        "examples": frame.head(5).to_dict(orient="records"),
    }


def train_model(
    dataset: str,
    model: str,
    parameters: Optional[dict[str, Any]] = None,
    cv_folds: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a model on a dataset (its default target, every other column a
    feature, a quarter held out) and return the run's number and metrics: hold-out
    and cross-validated, beside the baseline's. ``model`` is one of
    decision_tree, hist_gradient_boosting, knn, lasso, linear_regression,
    logistic_regression, naive_bayes, random_forest, ridge, svm (regression
    datasets take the regressors, classification ones the classifiers);
    ``parameters`` are the model's main hyper-parameters as the app offers them
    (for example {"n_estimators": 200}; values outside the app's ranges are
    refused with a sentence, other names ignored); ``cv_folds`` 0 skips
    cross-validation. It runs as the app's trainings do, within a job's memory
    and time budget."""
    _, _, sid = _context()
    if dataset not in DATASETS:
        raise ToolError(f"No dataset {dataset!r}; call list_datasets for the names.")
    if model not in MODEL_SPECS:
        raise ToolError(f"No model {model!r}; use one of {sorted(MODEL_SPECS)}.")
    payload = {
        "sid": sid,
        "dataset": dataset,
        "model": model,
        "parameters": dict(parameters or {}),
        "cv_folds": int(cv_folds),
        "seed": int(seed),
    }
    return _in_a_job(TRAIN_TASK, payload, sid)


def _train(store: SessionStore, settings: Settings, payload: dict) -> dict[str, Any]:
    """The training task (in a job's process)."""
    sid, dataset = payload["sid"], payload["dataset"]
    meta = services.load_dataset(store, sid, dataset, {})
    config = TrainConfig(
        target=meta["default_target"],
        features=tuple(c for c in meta["columns"] if c != meta["default_target"]),
        task=DATASETS[dataset].task,
        model=payload["model"],
        params=dict(payload["parameters"]),
        cv_folds=int(payload["cv_folds"]),
        random_state=int(payload["seed"]),
    )
    _, report = services.train(
        store, sid, config, memory_budget=settings.job_memory_mb * MB
    )
    return {
        "run": report["number"],
        "model": report["model_label"],
        "task": report["task"],
        "metrics": [
            {k: m.get(k) for k in ("name", "holdout", "cv_mean", "baseline")}
            for m in report["metrics"]
        ],
        "notes": report["notes"],
    }


def explain_run(run: int, top: int = 10) -> dict[str, Any]:
    """The features that matter most to one of your runs (from train_model): the
    drop in hold-out score when each is shuffled (permutation importance), the
    largest first."""
    store, _, sid = _context()
    if not any(report["number"] == int(run) for _, report in store.runs(sid)):
        raise ToolError(f"You have no run {run}; train_model returns run numbers.")
    return _in_a_job(EXPLAIN_TASK, {"sid": sid, "run": int(run), "top": int(top)}, sid)


def _explain(store: SessionStore, payload: dict) -> dict[str, Any]:
    """The explanation task (in a job's process)."""
    sid, run = payload["sid"], payload["run"]
    run_id = next(r for r, report in store.runs(sid) if report["number"] == run)
    result = services.explanation(store, sid, run_id, "permutation")
    pairs = list(zip(result["features"], result["mean"]))[: max(1, payload["top"])]
    return {
        "run": run,
        "scoring": result["scoring"],
        "features": [{"name": n, "importance": v} for n, v in pairs],
    }


def _in_a_job(task: str, payload: dict[str, Any], sid: str) -> Any:
    """The task's result, run where the app's jobs run, as this key's visitor."""
    server = flask.current_app
    try:
        return run_task(
            server,
            task,
            payload,
            visitor="agent:" + sid,
            timeout=server.extensions[EXTENSION]["task_timeout"],
        )
    except TaskFailed as exc:
        raise ToolError(str(exc)) from None


def predict(token: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Predictions (and class probabilities) of a published run for ``rows``
    (one object per row, feature name to value). ``token`` is the run's link
    token (from /r/<token>)."""
    _, shares, _ = _context()
    try:
        if not shares.allows(token, api.api_key(flask.request)):
            raise ToolError("This run is private and your key does not open it.")
        frame = sharing.rows_from_json({"rows": rows}, MAX_TOOL_ROWS)
        return sharing.predict(shares, token, frame)
    except ShareNotFound as exc:
        raise ToolError(str(exc)) from None
    except PredictionError as exc:
        raise ToolError(str(exc)) from None


TOOLS = (list_datasets, describe_dataset, train_model, explain_run, predict)


def install(
    app: Any, shares: Shares, settings: Settings, internal_token: str | None = None
) -> None:
    """Expose :data:`TOOLS` (and nothing else) on the app's MCP endpoint, and
    refuse every MCP request without a valid API key (or, from this process
    itself, ``internal_token``: see :func:`after_fork`)."""
    from dash.mcp import configure_mcp_server, mcp_enabled

    configure_mcp_server(
        include_layout=False,
        include_callbacks=False,
        include_clientside_callbacks=False,
        include_pages=False,
    )
    for tool in TOOLS:
        mcp_enabled(name=tool.__name__, expose_docstring=True)(_said(tool))
    store = app.server.extensions["store"]
    register_task(
        app.server, settings, TRAIN_TASK, functools.partial(_train, store, settings)
    )
    register_task(
        app.server, settings, EXPLAIN_TASK, functools.partial(_explain, store)
    )
    # Queued behind others' jobs, then a job's time: then the request gives up.
    app.server.extensions[EXTENSION] = {
        "task_timeout": 2 * settings.job_seconds + 30,
        "internal_token": internal_token,
    }

    @app.server.before_request
    def _key_required() -> Any:
        if flask.request.path != MCP_PATH:
            return None
        sent = flask.request.headers.get(INTERNAL_HEADER, "")
        if internal_token and hmac.compare_digest(sent, internal_token):
            return None
        if shares.key_owner(api.api_key(flask.request)) is None:
            response = flask.jsonify(error="The MCP endpoint needs an API key.")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="dashboard"'
            return response
        return None

    log.info("MCP tools served at %s: %s", MCP_PATH, [t.__name__ for t in TOOLS])


def after_fork(server: flask.Flask) -> None:
    """In a web worker just forked from the process that built the app: start
    the MCP session as every worker will know it.

    Dash names its MCP session after the parent process id, once when the app
    is built and again on each ``initialize``. Built in gunicorn's master, the
    app's first name is the master's parent's; a worker that never served an
    ``initialize`` then finds every client's session stale, and answers with a
    JSON-RPC batch that current MCP clients refuse. An ``initialize`` served
    here, in each worker, gives all of them the name clients get.
    """
    extension = server.extensions.get(EXTENSION)
    if extension is None or not extension["internal_token"]:
        return
    answer = server.test_client().post(
        MCP_PATH,
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "dashboard-worker", "version": "1"},
            },
        },
        headers={INTERNAL_HEADER: extension["internal_token"]},
    )
    if answer.status_code != 200:
        log.warning("MCP: a worker's own initialize answered %s", answer.status)


def _said(tool: Any) -> Any:
    """``tool``, whose refusals reach the agent as a sentence."""

    @functools.wraps(tool)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return tool(*args, **kwargs)
        except (ValueError, SessionExpired) as exc:  # ToolError, a bad parameter
            return {"error": str(exc)}

    return run
