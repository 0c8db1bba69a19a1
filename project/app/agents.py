"""Tools for AI agents, served by Dash's MCP endpoint (``/_mcp``) when
``ENABLE_MCP=1``: a few deliberate tools, not the app's callbacks, each behind
an API key (Dash does no authentication for MCP; :func:`install` does)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any, Optional

import flask

from app import api, services
from app.config import Settings
from app.ml import DATASETS, MODEL_SPECS, PredictionError, TrainConfig, TrainingError
from app.server.shares import ShareNotFound, Shares
from app.server.store import SessionExpired, SessionStore
from app.services import sharing

log = logging.getLogger(__name__)

MCP_PATH = "/_mcp"
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
    frame = store.get_frame(meta["frame"])
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
    cross-validation."""
    store, _, sid = _context()
    if dataset not in DATASETS:
        raise ToolError(f"No dataset {dataset!r}; call list_datasets for the names.")
    if model not in MODEL_SPECS:
        raise ToolError(f"No model {model!r}; use one of {sorted(MODEL_SPECS)}.")
    meta = services.load_dataset(store, sid, dataset, {})
    config = TrainConfig(
        target=meta["default_target"],
        features=tuple(c for c in meta["columns"] if c != meta["default_target"]),
        task=DATASETS[dataset].task,
        model=model,
        params=dict(parameters or {}),
        cv_folds=int(cv_folds),
        random_state=int(seed),
    )
    try:
        _, report = services.train(store, sid, config)
    except TrainingError as exc:
        raise ToolError(str(exc)) from None
    return {
        "run": report["number"],
        "model": report["model_label"],
        "task": report["task"],
        "metrics": [
            {k: m.get(k) for k in ("name", "holdout", "cv_mean", "baseline_holdout")}
            for m in report["metrics"]
        ],
        "notes": report["notes"],
    }


def explain_run(run: int, top: int = 10) -> dict[str, Any]:
    """The features that matter most to one of your runs (from train_model): the
    drop in hold-out score when each is shuffled (permutation importance), the
    largest first."""
    store, _, sid = _context()
    run_id = next(
        (r for r, report in store.runs(sid) if report["number"] == int(run)), None
    )
    if run_id is None:
        raise ToolError(f"You have no run {run}; train_model returns run numbers.")
    result = services.explanation(store, sid, run_id, "permutation")
    pairs = list(zip(result["features"], result["mean"]))[: max(1, int(top))]
    return {
        "run": int(run),
        "scoring": result["scoring"],
        "features": [{"name": n, "importance": v} for n, v in pairs],
    }


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


def install(app: Any, shares: Shares, settings: Settings) -> None:
    """Expose :data:`TOOLS` (and nothing else) on the app's MCP endpoint, and
    refuse every MCP request without a valid API key."""
    from dash.mcp import configure_mcp_server, mcp_enabled

    configure_mcp_server(
        include_layout=False,
        include_callbacks=False,
        include_clientside_callbacks=False,
        include_pages=False,
    )
    for tool in TOOLS:
        mcp_enabled(name=tool.__name__, expose_docstring=True)(_said(tool))

    @app.server.before_request
    def _key_required() -> Any:
        if flask.request.path != MCP_PATH:
            return None
        if shares.key_owner(api.api_key(flask.request)) is None:
            response = flask.jsonify(error="The MCP endpoint needs an API key.")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="dashboard"'
            return response
        return None

    log.info("MCP tools served at %s: %s", MCP_PATH, [t.__name__ for t in TOOLS])


def _said(tool: Any) -> Any:
    """``tool``, whose refusals reach the agent as a sentence."""
    import functools

    @functools.wraps(tool)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return tool(*args, **kwargs)
        except (ValueError, SessionExpired) as exc:  # ToolError, a bad parameter
            return {"error": str(exc)}

    return run
