"""What a visitor does to their session: load data, train, look runs up.

Glue between the pure functions and the server-side store, so that callbacks only
unpack inputs and format outputs. Messages in the exceptions are for the visitor.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any, Mapping

from .config import Settings
from .functions import (
    DATASETS,
    MAIN_METRIC,
    DataLoadError,
    TrainConfig,
    clean_frame,
    default_target,
    load_bundled,
    profile_frame,
    read_table,
    train_model,
)
from .store import SessionExpired, SessionStore

log = logging.getLogger(__name__)

ROLE_NAMES = ("id", "constant", "date")


def decode_upload(contents: Any) -> bytes:
    """The bytes of a ``data:...;base64,...`` URL as dcc.Upload sends it."""
    if not isinstance(contents, str) or "," not in contents:
        raise DataLoadError("The upload did not arrive complete; try again.")
    header, _, payload = contents.partition(",")
    if ";base64" not in header:
        raise DataLoadError("The upload did not arrive in the expected form.")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise DataLoadError("The upload was damaged on the way; try again.") from None


def load_upload(
    store: SessionStore, settings: Settings, sid: str, upload: Mapping[str, Any]
) -> dict[str, Any]:
    """Read an uploaded file into the session; returns the dataset's metadata.

    Raises
    ------
    DataLoadError
        The file is too large or cannot be read; the session keeps its data.
    """
    filename = str(upload.get("filename") or "upload")[:200]
    if upload.get("too_large"):
        size_mb = float(upload["too_large"]) / 1024 / 1024
        raise DataLoadError(
            f"{filename} is {size_mb:.1f} MB; the limit is "
            f"{settings.max_upload_mb:g} MB."
        )
    table = read_table(
        decode_upload(upload.get("contents")),
        filename,
        max_bytes=settings.max_upload_bytes,
        max_rows=settings.max_rows,
        max_columns=settings.max_columns,
    )
    roles = {
        "id": list(table.id_columns),
        "constant": list(table.constant_columns),
        "date": list(table.date_columns),
    }
    return _save(store, sid, table.frame, filename, list(table.notes), roles, None)


def load_dataset(
    store: SessionStore, sid: str, key: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Load a bundled dataset (generated once per parameters) into the session.

    Raises
    ------
    ValueError
        Unknown dataset or generator parameters out of range.
    """
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {key!r}.")
    spec = DATASETS[key]
    params = dict(params) if spec.synthetic else {}
    cache_key = f"bundled:{key}:{sorted(params.items())}"
    cached = store.recall(cache_key)
    if cached is not None and store.has_frame(cached["frame"]):
        store.set_dataset(sid, cached)
        return cached
    frame = load_bundled(key, **params)
    notes: list[str] = []
    roles: dict[str, list[str]] = {name: [] for name in ROLE_NAMES}
    if not spec.synthetic:
        frame, notes, found = clean_frame(frame)
        roles = {name: list(found.get(name, ())) for name in ROLE_NAMES}
    label = spec.label.split(" (")[0]
    meta = _save(store, sid, frame, label, notes, roles, key)
    store.remember(cache_key, meta)
    return meta


def _save(
    store: SessionStore,
    sid: str,
    frame: Any,
    name: str,
    notes: list[str],
    roles: dict[str, list[str]],
    dataset: str | None,
) -> dict[str, Any]:
    frame_key = store.put_frame(frame)
    profile_key = "profile:" + frame_key
    if store.recall(profile_key) is None:
        store.remember(profile_key, profile_frame(frame, roles))
    columns = [str(c) for c in frame.columns]
    meta = {
        "frame": frame_key,
        "profile": profile_key,
        "name": name,
        "dataset": dataset,
        "rows": int(len(frame)),
        "columns": columns,
        "roles": roles,
        "notes": notes,
        "default_target": default_target(columns, roles),
        "version": frame_key[-16:],
    }
    store.set_dataset(sid, meta)
    return meta


def current_dataset(store: SessionStore, sid: str) -> dict[str, Any] | None:
    """The session's dataset metadata, or None when nothing is loaded."""
    try:
        return store.dataset(sid)
    except SessionExpired:
        return None


def dataset_profile(store: SessionStore, sid: str) -> tuple[dict, dict]:
    """The current dataset's metadata and its profile (summary, correlation...)."""
    meta = store.dataset(sid)
    profile = store.recall(meta["profile"])
    if profile is None:
        raise SessionExpired("The data of this session has expired; load it again.")
    return meta, profile


def train(store: SessionStore, sid: str, config: TrainConfig) -> tuple[str, dict]:
    """Train on the session's dataset and keep the run; returns (run id, report).

    Raises
    ------
    TrainingError
        The data or settings do not allow training (message for the visitor).
    SessionExpired
        Nothing is loaded, or it expired.
    """
    meta, frame = store.dataset_frame(sid)
    run = train_model(frame, config)
    report = dict(run.report, dataset=meta["name"], rows=meta["rows"])
    run_id = store.add_run(sid, report, run.pipeline)
    log.info(
        "trained run %s: %s on %d rows in %.3f s",
        run_id,
        config.model,
        meta["rows"],
        report["total_seconds"],
    )
    return run_id, report


def leaderboard(store: SessionStore, sid: str) -> list[dict[str, Any]]:
    """Rows of the runs table: one per run, newest first."""
    rows = []
    for run_id, report in reversed(store.runs(sid)):
        main = MAIN_METRIC[report["task"]]
        metric = next(m for m in report["metrics"] if m["name"] == main)
        config = report["config"]
        rows.append(
            {
                "run": run_id,
                "data": report.get("dataset", ""),
                "model": report["model_label"],
                "params": _short_params(config["params"]),
                "metric": main,
                "holdout": _fmt(metric["holdout"]),
                "cv": (
                    f"{_fmt(metric['cv_mean'])} ± {_fmt(metric['cv_std'])}"
                    if metric["cv_mean"] is not None
                    else "—"
                ),
                "fit_seconds": round(float(report["fit_seconds"]), 3),
            }
        )
    return rows


def _short_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={'none' if v is None else v}" for k, v in params.items())


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
