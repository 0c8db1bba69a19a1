"""Publishing a run behind a lasting link, and what the link and the prediction
API give: the run's schema, and predictions from its fitted pipeline."""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from app.ml import CLASSIFICATION, PredictionError
from app.ml.predict import (
    input_row_with_notes,
    model_from_skops,
    predict_batch,
    predict_one,
    to_safe_csv,
)
from app.server.shares import ShareNotFound, Shares
from app.server.store import SessionExpired, SessionStore

log = logging.getLogger(__name__)

#: The files of a published run.
RUN_FILE = "run.json"
MODEL_FILE = "model.skops"
REPORT_FILE = "report.html"
CODE_FILE = "code.py"
EXPLAIN_FILE = "explain.json"


def _json_bytes(value: Any) -> bytes:
    def plain(item: Any) -> Any:
        if isinstance(item, np.generic):
            return item.item()
        if isinstance(item, np.ndarray):
            return item.tolist()
        return str(item)

    return json.dumps(value, default=plain, allow_nan=False).encode()


def publish(
    store: SessionStore, shares: Shares, sid: str, run_id: str, private: bool = False
) -> tuple[str, str]:
    """Publish the session's run: its report, fitted pipeline, permutation
    importances, HTML report (with them) and code, under a new link (whose API
    needs one of the session's keys when ``private``), counted in the session's
    quota until revoked. Returns the link's token, and a notice of the items
    removed to make room ("" if none).

    Raises
    ------
    SessionExpired
        The run is gone.
    QuotaExceeded
        The session's links are at their maximum, or the run does not fit in
        its quota (nothing is published).
    """
    from app import services  # the run's files, as the downloads make them

    report = store.run(sid, run_id)
    importance = services.explanation(store, sid, run_id, "permutation")
    files = {
        RUN_FILE: _json_bytes(_finite(report)),
        MODEL_FILE: services.model_file(store, sid, run_id),
        REPORT_FILE: services.report_file(store, sid, run_id, importance).encode(),
        CODE_FILE: services.code_file(store, sid, run_id).encode(),
        EXPLAIN_FILE: _json_bytes(_finite({"permutation": importance})),
    }
    about = {
        "number": report["number"],
        "model": report["model_label"],
        "task": report["task"],
        "dataset": report.get("data", {}).get("name", ""),
    }
    token = shares.publish(sid, files, about, private=private)
    try:
        notice = store.keep_share(sid, token, run_id, _size(files), private=private)
    except SessionExpired:  # over the quota, or the run went meanwhile
        shares.revoke(token, sid)
        raise
    log.info("run %s published (%d bytes)", report["number"], _size(files))
    return token, notice


def links(store: SessionStore, shares: Shares, sid: str) -> list[dict[str, Any]]:
    """The session's published runs still published: ``{token, number,
    private, bytes}``, the newest first. A link found revoked (from another
    instance, or by a cleanup) is forgotten, and no longer counted."""
    kept = []
    for entry in reversed(store.shares(sid)):
        try:
            shares.manifest(entry["token"])
        except ShareNotFound:
            store.forget_share(sid, entry["token"])
            continue
        kept.append(entry)
    return kept


def _size(files: Mapping[str, bytes]) -> int:
    return sum(len(data) for data in files.values())


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def published_run(shares: Shares, token: str) -> dict[str, Any]:
    """The report of the run published under ``token`` (read once per process
    while it stays published); raises ShareNotFound."""
    return shares.cached(token, RUN_FILE, json.loads)


def schema(shares: Shares, token: str) -> dict[str, Any]:
    """What a client of the prediction API needs: the features and their types,
    the target, the classes, the hold-out and CV metrics."""
    report = published_run(shares, token)
    kinds = {
        **{name: "number" for name in report["numeric_features"]},
        **{name: "category" for name in report["categorical_features"]},
        **{name: "boolean" for name in report.get("boolean_features") or ()},
        **{name: "date" for name in report.get("date_features") or ()},
    }
    features = []
    for item in report.get("inputs") or ():
        entry = {"name": item["name"], "type": kinds.get(item["name"], "number")}
        if item.get("options") and entry["type"] == "category":
            entry["examples"] = list(item["options"])[:20]
        features.append(entry)
    return {
        "run": report["number"],
        "model": report["model_label"],
        "task": report["task"],
        "target": report["config"]["target"],
        "features": features,
        "classes": report.get("classes") if report["task"] == CLASSIFICATION else None,
        "metrics": [
            {
                "name": m["name"],
                "holdout": m.get("holdout"),
                "cv_mean": m.get("cv_mean"),
                "cv_std": m.get("cv_std"),
            }
            for m in report["metrics"]
        ],
    }


def rows_from_json(body: Any, max_rows: int) -> pd.DataFrame:
    """The rows of a JSON request: ``{"rows": [{feature: value, ...}, ...]}``.

    Raises
    ------
    PredictionError
        Not that shape, no rows, or more than ``max_rows``.
    """
    rows = body.get("rows") if isinstance(body, Mapping) else None
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise PredictionError(
            'Send JSON of the form {"rows": [{"feature": value, ...}, ...]}.'
        )
    return _bounded(pd.DataFrame.from_records(rows), max_rows)


def rows_from_csv(content: bytes, max_rows: int) -> pd.DataFrame:
    """The rows of a CSV request body (a header line, then one row per line)."""
    from app.ml.loading import DataLoadError, read_table

    try:
        table = read_table(content, "rows.csv", max_rows=max_rows + 1)
    except DataLoadError as exc:
        raise PredictionError(str(exc)) from None
    return _bounded(table.frame, max_rows)


def _bounded(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    if frame.empty:
        raise PredictionError("There are no rows to predict.")
    if len(frame) > max_rows:
        raise PredictionError(
            f"{len(frame):,} rows is more than the {max_rows:,} a request may hold."
        )
    return frame


def _predicted(
    shares: Shares, token: str, frame: pd.DataFrame
) -> tuple[dict[str, Any], pd.DataFrame, list[str]]:
    report = published_run(shares, token)
    pipeline = shares.cached(token, MODEL_FILE, model_from_skops)
    predicted, notes = predict_batch(
        pipeline,
        frame,
        numeric=report["numeric_features"],
        categorical=report["categorical_features"],
        boolean=report.get("boolean_features"),
        dates=report.get("date_features"),
        task=report["task"],
        target=report["config"]["target"],
    )
    return report, predicted, notes


def predict(shares: Shares, token: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Predictions (and class probabilities) of the published run for ``frame``,
    validated as batch prediction validates a file.

    Raises
    ------
    ShareNotFound
        No run is published under ``token``.
    PredictionError
        Columns the model needs are missing (named), or the rows are unusable.
    """
    report, predicted, notes = _predicted(shares, token, frame)
    out: dict[str, Any] = {
        "predictions": _values(predicted["prediction"]),
        "notes": notes,
    }
    columns = [c for c in predicted.columns if str(c).startswith("probability_")]
    if report["task"] == CLASSIFICATION and columns:
        classes = [str(c)[len("probability_") :] for c in columns]
        out["classes"] = classes
        out["probabilities"] = [
            dict(zip(classes, (float(v) for v in row)))
            for row in predicted[columns].to_numpy()
        ]
    return out


def predict_upload(
    shares: Shares, token: str, content: bytes, filename: str, max_rows: int
) -> tuple[bytes, int, list[str]]:
    """Predict every row of an uploaded file with the published run, as batch
    prediction does in the app: safe CSV bytes (the rows and their
    predictions), the number of rows, notes.

    Raises
    ------
    ShareNotFound, PredictionError
        As :func:`predict`; also for a file that cannot be read or holds more
        than ``max_rows`` rows.
    """
    from app.ml.loading import DataLoadError, read_table

    try:
        table = read_table(content, filename, max_rows=max_rows + 1)
    except DataLoadError as exc:
        raise PredictionError(str(exc)) from None
    frame = _bounded(table.frame, max_rows)
    _, predicted, notes = _predicted(shares, token, frame)
    return to_safe_csv(predicted), len(predicted), notes


def whatif(
    shares: Shares, token: str, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The published run's report, and its prediction for one row of what-if
    values (``notes``: per feature, what was unusual about its value), as the
    app's what-if makes them."""
    report = published_run(shares, token)
    pipeline = shares.cached(token, MODEL_FILE, model_from_skops)
    row, notes = input_row_with_notes(report["inputs"], values, pipeline=pipeline)
    result = predict_one(pipeline, row, task=report["task"])
    result["notes"] = notes
    return report, result


def _values(column: pd.Series) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in column.tolist()]


def create_key(store: SessionStore, shares: Shares, sid: str) -> str:
    """A new API key of the session (for its private links); the key itself is
    returned once and never kept."""
    key, key_id = shares.create_key(sid)
    try:
        store.keep_key(sid, key_id, key[:7] + "…")
    except SessionExpired:  # as many keys as a session may hold
        shares.revoke_key(key_id, sid)
        raise
    log.info("an API key was created")
    return key


def revoke_key(store: SessionStore, shares: Shares, sid: str, key_id: str) -> bool:
    """Revoke one of the session's API keys; whether it did."""
    done = shares.revoke_key(key_id, sid)
    if done:
        store.forget_key(sid, key_id)
        log.info("an API key was revoked")
    return done


def revoke(store: SessionStore, shares: Shares, sid: str, token: str) -> bool:
    """Revoke the link if the session published it; whether it did."""
    done = shares.revoke(token, sid)
    if done:
        store.forget_share(sid, token)
    return done


__all__: Sequence[str] = (
    "ShareNotFound",
    "publish",
    "published_run",
    "schema",
    "rows_from_json",
    "rows_from_csv",
    "predict",
    "predict_upload",
    "whatif",
    "revoke",
    "links",
)
