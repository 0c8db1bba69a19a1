"""What a visitor does to their session: load data, train, look runs up.

Glue between the pure functions and the server-side store, so that callbacks only
unpack inputs and format outputs. Messages in the exceptions are for the visitor.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import logging
import re
import secrets
from typing import Any, Callable, Mapping

import pandas as pd

from app.config import Settings
from app.ml import (
    DATASETS,
    MAIN_METRIC,
    DataLoadError,
    Split,
    TrainConfig,
    clean_frame,
    decision_boundary,
    default_target,
    input_row_with_notes,
    load_bundled,
    make_training_script,
    model_importances,
    model_to_skops,
    partial_dependence_2d,
    partial_dependence_curves,
    permutation_importances,
    predict_batch,
    predict_one,
    profile_frame,
    read_table,
    row_contributions,
    size,
    split_data,
    to_safe_csv,
    train_model,
)
from app.server.store import SessionExpired, SessionStore, frame_to_bytes
from app.ui.figures import make_importance_figure, make_run_figures
from app.ui.report import make_report_html

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


#: Synthetic datasets of up to this many cells are made at once; bigger ones (and
#: every uploaded file) in a background job, under its budget.
INLINE_CELLS = 200_000
#: How long an upload waits, stored, for the job that reads it.
STAGED_SECONDS = 120


def read_limits(settings: Settings) -> dict[str, Any]:
    """The limits of :func:`read_table`, from the settings."""
    return {
        "max_bytes": settings.max_upload_bytes,
        "max_rows": settings.max_rows,
        "max_columns": settings.max_columns,
        "max_table_mb": settings.max_table_mb,
        "max_cells": settings.max_cells,
        "max_excel_unpacked_mb": settings.max_excel_unpacked_mb,
        "max_excel_cells": settings.max_excel_cells,
    }


def _upload_name(upload: Any, settings: Settings) -> str:
    """The file name of an upload, once its shape and size are checked."""
    if not isinstance(upload, Mapping):
        raise DataLoadError("The upload did not arrive complete; try again.")
    filename = str(upload.get("filename") or "upload")[:200]
    if upload.get("too_large"):
        raise DataLoadError(_too_large(filename, upload["too_large"], settings))
    return filename


def load_upload(
    store: SessionStore, settings: Settings, sid: str, upload: Mapping[str, Any]
) -> dict[str, Any]:
    """Read an uploaded file into the session; returns the dataset's metadata.

    When older runs or datasets were removed to make room, the returned
    metadata's notes end with a sentence saying so.

    Raises
    ------
    DataLoadError
        The file is too large or cannot be read; the session keeps its data.
    QuotaExceeded
        The data is larger than the session's storage quota.
    """
    store.session(sid)  # a forged session id is refused before any parsing
    filename = _upload_name(upload, settings)
    content = decode_upload(upload.get("contents"))
    return load_file(store, settings, sid, content, filename)


def stage_upload(
    store: SessionStore,
    settings: Settings,
    sid: str,
    upload: Mapping[str, Any],
    slot: str = "data",
) -> dict[str, Any]:
    """Keep an uploaded file's bytes for the background job that reads it, and
    return that job (small JSON: which upload, its name, what it says). The
    session keeps one waiting upload per ``slot`` (``data`` or ``predict``).

    Raises
    ------
    DataLoadError
        The upload is malformed or over the size limit.
    """
    store.session(sid)
    filename = _upload_name(upload, settings)
    content = decode_upload(upload.get("contents"))
    if len(content) > settings.max_upload_bytes:
        raise DataLoadError(_too_large(filename, len(content), settings))
    token = store.stage(sid, slot, content, STAGED_SECONDS)
    return {
        "ticket": store.begin_load(sid) if slot == "data" else None,
        "kind": "upload",
        "staged": token,
        "filename": filename,
        "label": f"Reading {filename}",
    }


def dataset_job(
    store: SessionStore, sid: str, key: str, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The background job that makes a big synthetic dataset, or None when the
    dataset is quick to load (shipped, small, or made before).

    Raises
    ------
    ValueError
        Unknown dataset or generator parameters out of range.
    """
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {key!r}.")
    spec = DATASETS[key]
    if not spec.synthetic:
        return None
    rows, features = synthetic_shape(key, params)
    if rows * (features + 1) <= INLINE_CELLS:
        return None
    cached = store.recall(_bundled_key(key, params))
    if cached is not None and store.has_frame(cached["frame"]):
        return None
    return {
        "ticket": store.begin_load(sid),
        "kind": "bundled",
        "key": key,
        "params": dict(params),
        "label": f"Generating {rows:,} rows × {features + 1} columns",
        "nonce": secrets.token_hex(4),
    }


def run_dataset_job(
    store: SessionStore, settings: Settings, sid: str, job: Mapping[str, Any]
) -> dict[str, Any]:
    """Do a job of :func:`dataset_job` or :func:`stage_upload`; the metadata.

    The job comes back from the browser: every field is checked again.
    """
    kind = job.get("kind")
    ticket = job.get("ticket")
    if not isinstance(ticket, int) or isinstance(ticket, bool):
        ticket = None  # taken now
    if kind == "bundled":
        key, params = str(job.get("key")), job.get("params")
        params = params if isinstance(params, Mapping) else {}
        if key in DATASETS and DATASETS[key].synthetic:
            _check_generation(key, params, settings.job_memory_mb * 1024 * 1024)
        return load_dataset(store, sid, key, params, ticket)
    if kind == "upload":
        filename = str(job.get("filename") or "upload")[:200]
        content = store.unstage(sid, "data", str(job.get("staged")))
        if content is None:
            raise DataLoadError(
                f"{filename} is no longer waiting to be read; upload it again."
            )
        return load_file(store, settings, sid, content, filename, ticket)
    raise ValueError("Unknown data job.")


#: Peak memory of making (and describing) a synthetic dataset, per float64 cell.
GENERATION_BYTES_PER_CELL = 28


def _check_generation(key: str, params: Mapping[str, Any], budget: int) -> None:
    """Refuse (ValueError) a synthetic dataset that cannot be made within budget."""
    rows, features = synthetic_shape(key, params)
    need = rows * (features + 1) * GENERATION_BYTES_PER_CELL
    if need > budget:
        raise ValueError(
            f"Generating {rows:,} rows × {features} features would need about "
            f"{size(need)} of memory; this server allows {size(budget)} per job. "
            "Use fewer rows or features."
        )


def synthetic_shape(key: str, params: Mapping[str, Any]) -> tuple[int, int]:
    """Rows and feature columns a synthetic generator makes with ``params``."""
    spec = DATASETS[key]
    rows = _positive(params.get("n_samples")) or spec.default_rows
    if key in ("moons", "circles"):
        return rows, 2
    return rows, _positive(params.get("n_features")) or spec.default_features


def _positive(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def _bundled_key(key: str, params: Mapping[str, Any]) -> str:
    return f"bundled:{key}:{sorted(params.items())}"


def load_file(
    store: SessionStore,
    settings: Settings,
    sid: str,
    content: bytes,
    filename: str,
    ticket: int | None = None,
) -> dict[str, Any]:
    """Read a file's bytes into the session (see :func:`load_upload`); ``ticket``
    as for :func:`load_dataset`."""
    ticket = store.begin_load(sid) if ticket is None else ticket
    table = read_table(content, filename, **read_limits(settings))
    roles = {
        "id": list(table.id_columns),
        "constant": list(table.constant_columns),
        "date": list(table.date_columns),
    }
    source = {"kind": "file", "filename": _stem(filename) + ".parquet"}
    return _noted(
        *_save(
            store, sid, table.frame, filename, list(table.notes), roles, source, ticket
        )
    )


def _too_large(filename: str, size: Any, settings: Settings) -> str:
    """The message for a file the browser found over the limit (size in bytes)."""
    limit = f"the limit is {settings.max_upload_mb:g} MB."
    try:
        size_mb = float(size) / 1024 / 1024
    except (TypeError, ValueError, OverflowError):
        size_mb = float("nan")
    if not settings.max_upload_mb < size_mb < 1e9:  # implausible: leave it out
        return f"{filename} is too large; {limit}"
    return f"{filename} is {size_mb:.1f} MB; {limit}"


def load_dataset(
    store: SessionStore,
    sid: str,
    key: str,
    params: Mapping[str, Any],
    ticket: int | None = None,
) -> dict[str, Any]:
    """Load a bundled dataset (generated once per parameters) into the session.

    ``ticket`` is from :meth:`SessionStore.begin_load` when the visitor asked
    (taken now when None): a load asked for later stays current.

    When older runs or datasets were removed to make room, the returned
    metadata's notes end with a sentence saying so.

    Raises
    ------
    ValueError
        Unknown dataset or generator parameters out of range.
    QuotaExceeded
        The data is larger than the session's storage quota.
    Superseded
        A load asked for later is already current (the session is unchanged).
    """
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {key!r}.")
    ticket = store.begin_load(sid) if ticket is None else ticket
    spec = DATASETS[key]
    params = dict(params) if spec.synthetic else {}
    cache_key = _bundled_key(key, params)
    cached = store.recall(cache_key)
    if (
        cached is not None
        and "bytes" in cached
        and store.has_frame(cached["frame"], holder=sid)
    ):
        return _noted(cached, store.set_dataset(sid, cached, ticket))
    frame = load_bundled(key, **params)
    notes: list[str] = []
    roles: dict[str, list[str]] = {name: [] for name in ROLE_NAMES}
    if not spec.synthetic:
        frame, notes, found = clean_frame(frame)
        roles = {name: list(found.get(name, ())) for name in ROLE_NAMES}
    label = spec.label.split(" (")[0]
    source = {"kind": "bundled", "key": key, "params": params}
    meta, notice = _save(store, sid, frame, label, notes, roles, source, ticket)
    store.remember(cache_key, meta)
    return _noted(meta, notice)


def _save(
    store: SessionStore,
    sid: str,
    frame: Any,
    name: str,
    notes: list[str],
    roles: dict[str, list[str]],
    source: dict[str, Any],
    ticket: int | None = None,
) -> tuple[dict[str, Any], str]:
    """Store a frame and its profile for the session; (metadata, notice)."""
    frame_key, size = store.save_frame(frame, holder=sid)
    profile_key = "profile:" + frame_key
    profile = store.recall(profile_key)
    if profile is None:
        size += store.remember(profile_key, profile_frame(frame, roles))
    else:
        size += store.size_of(profile)
    columns = [str(c) for c in frame.columns]
    meta = {
        "frame": frame_key,
        "profile": profile_key,
        "name": name,
        "source": source,
        "rows": int(len(frame)),
        "columns": columns,
        "roles": roles,
        "notes": notes,
        "default_target": default_target(columns, roles),
        "version": frame_key[-16:],
        "bytes": size,
    }
    return meta, store.set_dataset(sid, meta, ticket)


def _noted(meta: dict[str, Any], notice: str) -> dict[str, Any]:
    """The metadata to show: its notes, then what was removed to make room."""
    return dict(meta, notes=[*meta["notes"], notice]) if notice else meta


def current_dataset(store: SessionStore, sid: str) -> dict[str, Any] | None:
    """The session's dataset metadata, or None when nothing is loaded."""
    try:
        return store.dataset(sid)
    except SessionExpired:
        return None


def last_choices(store: SessionStore, sid: str, meta: Mapping[str, Any]) -> dict:
    """The target and model of the session's newest run on the dataset ``meta``
    (what a reloaded page shows again), or nothing."""
    for run_id in reversed(store.run_ids(sid)):
        try:
            report = store.run(sid, run_id)
        except SessionExpired:
            continue
        if report.get("data", {}).get("frame") == meta.get("frame"):
            config = report["config"]
            return {"target": config["target"], "model": config["model"]}
    return {}


def dataset_profile(store: SessionStore, sid: str) -> tuple[dict, dict]:
    """The current dataset's metadata and its profile (summary, correlation...)."""
    meta = store.dataset(sid)
    profile = store.recall(meta["profile"])
    if profile is None:  # the cache lost it: made again from the kept frame
        _, frame = store.dataset_frame(sid)
        profile = profile_frame(frame, meta.get("roles") or {})
        store.remember(meta["profile"], profile)
    return meta, profile


def train(
    store: SessionStore,
    sid: str,
    config: TrainConfig,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    memory_budget: int | None = None,
    extra: Mapping[str, Any] | None = None,
    fold_scores: list[dict[str, float]] | None = None,
) -> tuple[str, dict]:
    """Train on the session's dataset and keep the run; returns (run id, report).
    ``extra`` is added to the report (a tuned run's search); ``fold_scores`` are
    its CV scores when already known (see :func:`app.ml.train_model`).

    A training whose estimated memory is over ``memory_budget`` bytes, or whose
    fitted model could not be kept within the session's quota, is refused
    before it starts.

    The returned report also holds the run's ``number`` (what the visitor sees)
    and ``storage_note``: a sentence when older runs or datasets were removed to
    make room, else "".

    Raises
    ------
    TrainingError
        The data or settings do not allow training (message for the visitor).
    SessionExpired
        Nothing is loaded, or it expired.
    """
    meta, frame = store.dataset_frame(sid)
    run = train_model(
        frame,
        config,
        progress=progress,
        memory_budget=memory_budget,
        model_budget=store.quota,
        fold_scores=fold_scores,
    )
    report = dict(
        run.report, **(extra or {}), dataset=meta["name"], rows=meta["rows"], data=meta
    )
    added = store.add_run(sid, report, run.pipeline)
    log.info(
        "trained run %s: %s on %d rows in %.3f s",
        added.number,
        config.model,
        meta["rows"],
        report["total_seconds"],
    )
    return added.run_id, dict(report, number=added.number, storage_note=added.notice)


def leaderboard(store: SessionStore, sid: str) -> list[dict[str, Any]]:
    """Rows of the runs table: one per run, newest first.

    ``run`` is the run's id (the row's id), ``number`` what the visitor sees.
    """
    rows = []
    for run_id, report in reversed(store.runs(sid)):
        main = MAIN_METRIC[report["task"]]
        metric = next(m for m in report["metrics"] if m["name"] == main)
        config = report["config"]
        rows.append(
            {
                "run": run_id,
                "number": report["number"],
                "data": report.get("dataset", ""),
                "model": report["model_label"]
                + (" · tuned" if report.get("tuned") else ""),
                "params": _short_params(config["params"], report.get("tuned") or ()),
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


def comparison_rows(
    runs: list[tuple[str, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One row per metric shared by the runs, with each run's hold-out value."""
    names = [m["name"] for m in runs[0][1]["metrics"]]
    rows = []
    for name in names:
        values = []
        for label, report in runs:
            metric = next((m for m in report["metrics"] if m["name"] == name), None)
            if metric is None:
                break
            values.append(
                {
                    "name": f"{label} · {report['model_label']}",
                    "holdout": metric["holdout"],
                }
            )
        else:
            rows.append({"metric": name, "values": values})
    return rows


def _stem(filename: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", filename.rsplit(".", 1)[0]).strip("._")
    return stem[:60] or "data"


def run_data(store: SessionStore, sid: str, run_id: str) -> tuple[dict, Split]:
    """A run's report and its data split again exactly as training split it."""
    report = store.run(sid, run_id)
    frame = store.get_frame(report["data"]["frame"], sid=sid)
    return report, split_data(frame, TrainConfig.from_dict(report["config"]))


def explanation(
    store: SessionStore, sid: str, run_id: str, kind: str, **options: Any
) -> dict[str, Any]:
    """An explanation of a run (computed once, then kept with the session).

    ``kind`` is ``permutation``, ``native``, ``pdp``, ``pdp2`` or ``boundary``;
    ``options`` are the feature(s) it is about.
    """
    name = f"{kind}:{json.dumps(options, sort_keys=True)}"
    cached = store.explanation(sid, run_id, name)
    if cached is not None:
        return cached
    with one_thread():
        result = _explain(store, sid, run_id, kind, options)
    store.keep_explanation(sid, run_id, name, result)
    return result


def _explain(
    store: SessionStore, sid: str, run_id: str, kind: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    report, data = run_data(store, sid, run_id)
    pipeline = store.model(sid, run_id)
    seed = report["config"]["random_state"]
    task = report["task"]
    if kind == "permutation":
        result = permutation_importances(
            pipeline, data.x_test, data.y_test, task=task, random_state=seed
        )
    elif kind == "native":
        result = {"native": model_importances(pipeline)}
    elif kind == "pdp":
        result = partial_dependence_curves(
            pipeline, data.x_train, options["feature"], task=task, random_state=seed
        )
    elif kind == "pdp2":
        result = partial_dependence_2d(
            pipeline,
            data.x_train,
            (options["feature"], options["feature2"]),
            task=task,
            random_state=seed,
        )
    elif kind == "boundary":
        result = decision_boundary(
            data.x_train,
            data.y_train,
            features=(options["x"], options["y"]),
            model_key=report["config"]["model"],
            params=report["config"]["params"],
            random_state=seed,
        )
    else:
        raise ValueError(f"Unknown explanation {kind!r}")
    return result


def one_thread() -> Any:
    """Native thread pools (BLAS, OpenMP) limited to one thread, as in training:
    many requests and jobs share the cores, and nested pools only fight for them
    (measured: a gradient boosting's permutation importances took 25 times as
    long with one thread per core on a busy machine)."""
    return _thread_pools().limit(limits=1)


@functools.cache
def _thread_pools() -> Any:
    """The process's native thread pools, found once (a lookup costs ~2 ms)."""
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime first
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def whatif(
    store: SessionStore, sid: str, run_id: str, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's report and its prediction for one row of what-if values; the
    prediction's ``notes`` say, per feature, what was unusual about its value."""
    report = store.run(sid, run_id)
    pipeline = store.model(sid, run_id)
    row, notes = input_row_with_notes(report["inputs"], values, pipeline=pipeline)
    with one_thread():
        result = predict_one(pipeline, row, task=report["task"])
    result["notes"] = notes
    return report, result


def whatif_notes(
    store: SessionStore, sid: str, run_id: str, values: Mapping[str, Any]
) -> dict[str, str]:
    """Per feature, what is unusual about its what-if value (no prediction)."""
    report = store.run(sid, run_id)
    pipeline = store.model(sid, run_id)
    return input_row_with_notes(report["inputs"], values, pipeline=pipeline)[1]


CONTRIBUTION_BACKGROUND = 32  # training rows the contributions are measured from


def whatif_contributions(
    store: SessionStore, sid: str, run_id: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Each feature's contribution to the what-if prediction (see
    :func:`app.ml.row_contributions`), against a sample of the training rows."""
    report = store.run(sid, run_id)
    pipeline = store.model(sid, run_id)
    row, _ = input_row_with_notes(report["inputs"], values, pipeline=pipeline)
    with one_thread():
        return row_contributions(
            pipeline,
            _background(store, sid, run_id),
            row,
            task=report["task"],
            seed=int(report["config"]["random_state"]),
        )


def _background(store: SessionStore, sid: str, run_id: str) -> pd.DataFrame:
    """A fixed sample of the run's training rows, kept with the run once drawn."""
    kept = store.explanation(sid, run_id, "background")
    if isinstance(kept, bytes):
        return pd.read_parquet(io.BytesIO(kept))
    report, data = run_data(store, sid, run_id)
    rows = min(CONTRIBUTION_BACKGROUND, len(data.x_train))
    sample = data.x_train.sample(
        n=rows, random_state=int(report["config"]["random_state"])
    )
    store.keep_explanation(sid, run_id, "background", frame_to_bytes(sample))
    return sample


def run_prediction_job(
    store: SessionStore, settings: Settings, sid: str, job: Mapping[str, Any]
) -> tuple[bytes, int, list[str]]:
    """Predict the rows of an upload staged by :func:`stage_upload` with the run
    the job names; returns safe CSV bytes, rows, notes."""
    filename = str(job.get("filename") or "rows")[:200]
    content = store.unstage(sid, "predict", str(job.get("staged")))
    if content is None:
        raise DataLoadError(
            f"{filename} is no longer waiting to be read; upload it again."
        )
    return predict_file(store, settings, sid, str(job.get("run")), content, filename)


def predict_file(
    store: SessionStore,
    settings: Settings,
    sid: str,
    run_id: str,
    content: bytes,
    filename: str,
) -> tuple[bytes, int, list[str]]:
    """Predict every row of a file's bytes (safe CSV bytes, rows, notes)."""
    report = store.run(sid, run_id)
    table = read_table(content, filename, **read_limits(settings))
    predicted, notes = predict_batch(
        store.model(sid, run_id),
        table.frame,
        numeric=report["numeric_features"],
        categorical=report["categorical_features"],
        boolean=report.get("boolean_features"),
        task=report["task"],
        target=report["config"]["target"],
    )
    return to_safe_csv(predicted), len(predicted), notes


def model_file(store: SessionStore, sid: str, run_id: str) -> bytes:
    """The run's fitted pipeline as a .skops file."""
    return model_to_skops(store.model(sid, run_id))


def code_file(store: SessionStore, sid: str, run_id: str) -> str:
    """A standalone script that reproduces the run."""
    report = store.run(sid, run_id)
    return make_training_script(
        report,
        source=report["data"]["source"],
        filename=f"reproduce-run-{report['number']}.py",
    )


def data_file(store: SessionStore, sid: str, run_id: str) -> bytes:
    """The run's data as the app used it (after cleaning), as Parquet."""
    report = store.run(sid, run_id)
    return frame_to_bytes(store.get_frame(report["data"]["frame"], sid=sid))


def report_file(
    store: SessionStore,
    sid: str,
    run_id: str,
    importance: Mapping[str, Any] | None = None,
) -> str:
    """The run as a self-contained HTML report (with its permutation
    ``importance``, from :func:`explanation`, when given)."""
    report = store.run(sid, run_id)
    figures = make_run_figures(report)
    if importance is not None:
        figures.append(make_importance_figure(dict(importance)))
    return make_report_html(
        report,
        run_id=str(report["number"]),
        dataset=report["data"],
        figures=figures,
    )


def latest_run(store: SessionStore, sid: str) -> str | None:
    """The id of the session's newest run, or None."""
    runs = store.run_ids(sid)
    return runs[-1] if runs else None


def run_number(store: SessionStore, sid: str, run_id: str) -> int:
    """The number the visitor knows a run by ("Run 3"); SessionExpired when gone."""
    return int(store.run(sid, run_id)["number"])


def remove_runs(store: SessionStore, sid: str, run_ids: list[str]) -> None:
    """Forget runs of the session."""
    store.remove_runs(sid, [str(r) for r in run_ids])


def _short_params(params: Mapping[str, Any], tuned: Any = ()) -> str:
    """``name=value, ...``; a tuned parameter marked ``(tuned)``."""
    return ", ".join(
        f"{k}={_value(v, 4 if k in tuned else 0)}" + (" (tuned)" if k in tuned else "")
        for k, v in params.items()
    )


def _value(value: Any, digits: int = 0) -> str:
    if value is None:
        return "none"
    return f"{value:.{digits}g}" if digits and isinstance(value, float) else str(value)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
