"""Training and evaluating a pipeline: split, cross-validate, fit, score, curves."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from app.ml.baseline import (
    BASELINE_LABEL,
    baseline_scores,
    leak_note,
    possible_leaks,
    verdict,
)
from app.ml.budget import data_shape, estimate_training, memory_refusal
from app.ml.explain import calibration
from app.ml.metrics import evaluate, label_codes, metric_rows
from app.ml.models import (
    CLASSIFICATION,
    DEFAULT_MODEL,
    MODEL_SPECS,
    REGRESSION,
    build_pipeline,
)
from app.ml.predict import input_spec
from app.ml.profiling import BOOLEAN, DATETIME, MAX_CLASSES, NUMERIC, column_kind

MAX_CURVE_POINTS = 300
MAX_PREDICTION_POINTS = 5_000
SLOW_ROWS = 100_000

Progress = Callable[[int, int, str], None]


class TrainingError(ValueError):
    """Training cannot go ahead; ``str(exc)`` is a message for the visitor."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run, apart from the data.

    ``time_column``, when set, names a date column the split follows: the
    hold-out is the latest ``test_size`` of the rows by it, and cross-validation
    uses time-ordered folds (``stratify`` does not apply then). None, the
    default (and what runs stored before it existed read as), splits at random.
    """

    target: str
    features: tuple[str, ...]
    task: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    test_size: float = 0.25
    stratify: bool = True
    cv_folds: int = 5
    random_state: int = 0
    time_column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for storing and for exports."""
        out = asdict(self)
        out["features"] = list(self.features)
        out["params"] = dict(self.params)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """The configuration :meth:`to_dict` wrote."""
        return cls(**{**data, "features": tuple(data["features"])})


@dataclass
class TrainedRun:
    """A fitted pipeline and its JSON-safe report (metrics, curves, notes)."""

    pipeline: Any
    report: dict[str, Any]


def split_features(
    frame: pd.DataFrame, features: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    """Sort features into numeric, categorical and date columns.

    Boolean columns are listed with the categorical ones here; :func:`split_data`
    sets them apart, as the pipeline gives each one 0/1 column.
    """
    numeric, categorical, dates = [], [], []
    for name in features:
        kind = column_kind(frame[name])
        if kind == NUMERIC:
            numeric.append(name)
        elif kind == DATETIME:
            dates.append(name)
        else:
            categorical.append(name)
    return numeric, categorical, dates


def slow_run_warning(n_rows: int, model_key: str, cv_folds: int) -> str | None:
    """A sentence warning that a run will take a while, or None when it is quick."""
    spec = MODEL_SPECS[model_key]
    fits = max(cv_folds, 0) + 1
    if spec.row_limit and n_rows > spec.row_limit / 4:
        return (
            f"{spec.label} scales badly with rows: {n_rows:,} rows × {fits} fits "
            "may take minutes."
        )
    if n_rows >= SLOW_ROWS:
        return (
            f"{n_rows:,} rows × {fits} fits: training may take a minute or more. "
            "Fewer folds (or 0 to skip cross-validation) make it faster."
        )
    return None


def prepare_target(
    frame: pd.DataFrame, config: TrainConfig
) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Check the configuration against the data; return X, y and notes.

    Raises
    ------
    TrainingError
        When the target, features or task cannot be used as asked.
    """
    notes: list[str] = []
    if config.target not in frame.columns:
        raise TrainingError(f"The target column {config.target!r} is not in the data.")
    features = [f for f in config.features if f != config.target]
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise TrainingError(f"Unknown feature columns: {', '.join(missing)}.")
    if not features:
        raise TrainingError("Choose at least one feature column besides the target.")
    if config.model not in MODEL_SPECS:
        raise TrainingError(f"Unknown model {config.model!r}.")
    spec = MODEL_SPECS[config.model]
    if config.task not in spec.estimators:
        raise TrainingError(
            f"{spec.label} cannot do {config.task}; pick another model."
        )
    y = frame[config.target]
    usable = y.notna()
    if config.task == REGRESSION:
        if column_kind(y) != NUMERIC:
            raise TrainingError(
                f"Regression needs a numeric target; {config.target!r} holds text. "
                "Choose classification instead."
            )
        usable &= np.isfinite(y.to_numpy(dtype=float, na_value=np.nan))
    dropped = int((~usable).sum())
    if dropped == len(frame):
        raise TrainingError(f"The target {config.target!r} has no usable values.")
    if dropped:
        notes.append(f"Dropped {dropped:,} rows whose target is missing.")
    y = y[usable]
    if column_kind(y) == BOOLEAN:
        y = y.astype(bool)  # nullable, its gaps dropped: classes False and True
    x = frame.loc[usable, features]
    if config.task == CLASSIFICATION:
        counts = y.value_counts()
        if len(counts) < 2:
            raise TrainingError(
                f"The target {config.target!r} has a single class "
                f"({_label(counts.index[0])}); classification needs at least two."
            )
        if len(counts) > MAX_CLASSES:
            raise TrainingError(
                f"The target {config.target!r} has {len(counts):,} distinct values; "
                f"classification allows at most {MAX_CLASSES}. Is it a regression?"
            )
    if spec.row_limit and len(x) > spec.row_limit:
        raise TrainingError(
            f"{spec.label} is limited to {spec.row_limit:,} rows here (this data has "
            f"{len(x):,}); it would take too long. Choose another model."
        )
    return x, y, notes


def train_model(
    frame: pd.DataFrame,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    n_threads: int = 1,
    memory_budget: int | None = None,
    model_budget: int | None = None,
    fold_scores: Sequence[Mapping[str, float]] | None = None,
) -> TrainedRun:
    """Split, cross-validate on the training part, fit, and score on the hold-out.

    Parameters
    ----------
    frame : DataFrame
        The data, target included.
    config : TrainConfig
        Target, features, task, model, parameters and validation settings.
    progress : callable, optional
        Called as ``progress(done, total, message)`` after each fit.
    n_threads : int
        BLAS/OpenMP threads per fit. One by default: a web server runs many
        requests at once, and nested thread pools only fight for the cores.
    memory_budget, model_budget : int, optional
        Bytes the training may use, and the fitted model may take; a training
        whose estimates are over them is refused before it starts.
    fold_scores : sequence of dicts, optional
        The scores of each CV fold when already known (a search's best
        candidate, scored on the same folds): the folds are then not fitted again.

    Raises
    ------
    TrainingError
        With a message for the visitor when the data or settings do not allow it.
    """
    from threadpoolctl import threadpool_limits

    if memory_budget is not None or model_budget is not None:
        check_memory(frame, config, memory_budget, model_budget)
    with threadpool_limits(limits=n_threads):
        return _train(frame, config, progress, fold_scores)


def check_memory(
    frame: pd.DataFrame,
    config: TrainConfig,
    budget: int | None,
    model_budget: int | None = None,
) -> None:
    """Refuse (TrainingError) a training whose estimated peak memory is over
    ``budget`` bytes, or whose model would be over ``model_budget``, with a
    sentence saying what drives it and what to change."""
    if config.model not in MODEL_SPECS:
        return  # refused with its own message by the checks that follow
    shape = data_shape(frame, config.target, config.features)
    estimate = estimate_training(
        shape,
        model=config.model,
        task=config.task,
        params=config.params,
        test_size=config.test_size,
    )
    refusal = memory_refusal(estimate, budget, model_budget)
    if refusal:
        raise TrainingError(refusal)


def warm_up() -> float:
    """Import what a default training needs and run one on a tiny frame; seconds.

    A web worker that has done this forks background jobs that start warm:
    without it, every job process imports scikit-learn again (~0.5 s). Only the
    default models: the others' modules would cost memory in every worker.
    """
    import importlib

    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    importlib.import_module("sklearn.calibration")  # a step of every training
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame["y"] = np.where(frame["a"] > 0, "yes", "no")
    frame["z"] = frame["a"] * 2 + frame["b"]
    features = ("a", "b", "c")
    with threadpool_limits(limits=1):
        for task, target in ((CLASSIFICATION, "y"), (REGRESSION, "z")):
            config = TrainConfig(
                target, features, task, DEFAULT_MODEL[task], cv_folds=2
            )
            _train(frame, config, None)
    return time.perf_counter() - started


@dataclass
class Split:
    """The data of a run, prepared and split as training does it."""

    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    numeric: list[str]
    categorical: list[str]
    notes: list[str]
    boolean: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    timed: list[str] = field(default_factory=list)  # dates whose parts have hours


def split_data(frame: pd.DataFrame, config: TrainConfig) -> Split:
    """Check the configuration, sort the features and split off the hold-out.

    At random (stratified by class when asked), or, with ``config.time_column``,
    by time: see :func:`split_by_time`. Deterministic for a given frame and
    configuration, so that explanations can re-create a run's hold-out set
    without storing it.
    """
    from sklearn.model_selection import train_test_split

    if config.time_column and not frame.index.is_unique:
        frame = frame.reset_index(drop=True)  # the time of each row, by label
    x, y, notes = prepare_target(frame, config)
    numeric, categorical, dates = split_features(x, list(x.columns))
    boolean = [c for c in categorical if column_kind(x[c]) == BOOLEAN]
    categorical = [c for c in categorical if c not in boolean]
    if not numeric and not categorical and not boolean and not dates:
        raise TrainingError("None of the chosen features can be used by a model.")
    if not 0.05 <= config.test_size <= 0.5:
        raise TrainingError("The hold-out size must be between 5% and 50%.")
    columns = numeric + categorical + boolean + dates
    is_clf = config.task == CLASSIFICATION
    if config.time_column:
        x_train, x_test, y_train, y_test = split_by_time(
            frame, x[columns], y, config, notes
        )
    else:
        stratify = y if (is_clf and config.stratify) else None
        if stratify is not None and int(y.value_counts().min()) < 2:
            stratify = None
            notes.append("Some class has a single row, so the split is not stratified.")
        try:
            x_train, x_test, y_train, y_test = train_test_split(
                x[columns],
                y,
                test_size=config.test_size,
                stratify=stratify,
                random_state=config.random_state,
            )
        except ValueError as exc:
            raise TrainingError(f"Cannot split the data: {_plain(exc)}") from None
        if dates:
            verb = "is a feature" if len(dates) == 1 else "are features"
            notes.append(
                f"{_names(dates)} {verb} but the split is random: the hold-out "
                "rows lie between times the model trained on, which flatters it "
                "if it is to predict later ones. A split by time scores it on the "
                "latest rows instead."
            )
    timed = [c for c in dates if _has_times(x_train[c])]
    return Split(
        x_train,
        x_test,
        y_train,
        y_test,
        numeric,
        categorical,
        notes,
        boolean,
        dates,
        timed,
    )


def split_by_time(
    frame: pd.DataFrame,
    x: pd.DataFrame,
    y: pd.Series,
    config: TrainConfig,
    notes: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """The hold-out is the latest ``config.test_size`` of the rows by
    ``config.time_column``: ``ceil(test_size × rows)`` of them, as a random split
    holds out, taken from the end once the rows are sorted by time (a stable
    sort: rows at the same time keep their order). Rows without a time are left
    out, with a note. Both parts come back in time order, which the
    time-ordered cross-validation folds of the training part rely on.
    """
    column = str(config.time_column)
    if column not in frame.columns:
        raise TrainingError(f"The time column {column!r} is not in the data.")
    times = frame.loc[x.index, column]
    if column_kind(times) != DATETIME:
        raise TrainingError(
            f"{column!r} does not hold dates, so the split cannot follow it. "
            "Choose a date column, or none for a random split."
        )
    known = times.notna().to_numpy()
    if not known.all():
        missing = int((~known).sum())
        notes.append(
            f"Dropped {missing:,} rows whose {column} is missing: a split by time "
            "cannot place them."
        )
        x, y, times = x[known], y[known], times[known]
    order = times.reset_index(drop=True).sort_values(kind="stable").index.to_numpy()
    n_test = int(np.ceil(config.test_size * len(order)))
    if len(order) < 2 or n_test >= len(order):
        raise TrainingError(
            f"Too few rows with a {column} to split by time ({len(order)})."
        )
    train, test = order[:-n_test], order[-n_test:]
    if config.stratify and config.task == CLASSIFICATION:
        notes.append("The split follows time, so it is not stratified by class.")
    return x.iloc[train], x.iloc[test], y.iloc[train], y.iloc[test]


def split_description(report: Mapping[str, Any]) -> str:
    """How a run's hold-out was chosen, in words: "split by time on when:
    hold-out = the latest 30 rows", or "random split"."""
    column = report["config"].get("time_column")
    if column:
        rows = int(report["n_test"])
        return f"split by time on {column}: hold-out = the latest {rows:,} rows"
    return "random split"


def _names(columns: Sequence[str]) -> str:
    return ", ".join(repr(str(c)) for c in columns)


def _has_times(values: pd.Series) -> bool:
    """Whether some value of a date column has a time of day (not midnight)."""
    present = values.dropna()
    return bool((present != present.dt.normalize()).any())


def _train(
    frame: pd.DataFrame,
    config: TrainConfig,
    progress: Progress | None,
    known: Sequence[Mapping[str, float]] | None = None,
) -> TrainedRun:
    from sklearn.base import clone

    data = split_data(frame, config)
    numeric, categorical, notes = data.numeric, data.categorical, data.notes
    boolean, dates = data.boolean, data.dates
    x_train, x_test, y_train, y_test = (
        data.x_train,
        data.x_test,
        data.y_train,
        data.y_test,
    )
    try:
        pipeline = split_pipeline(data, config)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    is_clf = config.task == CLASSIFICATION
    folds = _cv_splits(y_train, config, is_clf)
    total = len(folds) + 1
    scores: list[dict[str, float]] = []
    labels = np.unique(y_train) if is_clf else None
    started = time.perf_counter()
    if known is not None and len(known) == len(folds):
        scores, folds_to_fit = [dict(s) for s in known], []
    else:
        folds_to_fit = folds
    for i, (train_idx, test_idx) in enumerate(folds_to_fit):
        model = clone(pipeline)
        _fit(model, x_train.iloc[train_idx], y_train.iloc[train_idx])
        scores.append(
            evaluate(
                model, x_train.iloc[test_idx], y_train.iloc[test_idx], labels=labels
            )
        )
        if progress:
            progress(i + 1, total, f"Cross-validation fold {i + 1} of {len(folds)}")
    fit_started = time.perf_counter()
    _fit(pipeline, x_train, y_train)
    fit_seconds = time.perf_counter() - fit_started
    holdout = evaluate(pipeline, x_test, y_test, labels=labels)
    base_holdout, base_scores = baseline_scores(
        x_train, y_train, x_test, y_test, folds, task=config.task, labels=labels
    )
    if progress:
        progress(total, total, "Final model fitted")
    if is_clf:
        held_out, trained = set(np.unique(y_test)), set(labels)
        if trained - held_out:
            notes.append("Some classes are missing from the hold-out set.")
        if held_out - trained:
            notes.append(
                "Some hold-out classes are not in the training part: the model "
                "cannot predict them, and they count as misclassified."
            )
    for note in (
        verdict(config.task, holdout, base_holdout),
        leak_note(
            config.task,
            possible_leaks(
                x_train, y_train, task=config.task, random_state=config.random_state
            ),
        ),
    ):
        if note:
            notes.append(note)
    if config.task == REGRESSION and np.any(y_test.to_numpy(dtype=float) == 0):
        notes.append("MAPE is not meaningful here: the target has zeros.")
    report = {
        "config": config.to_dict(),
        "model_label": MODEL_SPECS[config.model].label,
        "task": config.task,
        "numeric_features": numeric,
        "categorical_features": categorical,
        "boolean_features": boolean,
        "date_features": dates,
        "dates_with_hours": data.timed,
        "n_train": int(len(x_train)),
        "n_test": int(len(x_test)),
        "cv_folds": len(folds),
        "fit_seconds": round(fit_seconds, 4),
        "total_seconds": round(time.perf_counter() - started, 4),
        "metrics": metric_rows(holdout, scores, base_holdout, base_scores),
        "baseline": BASELINE_LABEL[config.task],
        "notes": notes,
        "inputs": input_spec(x_train, numeric, categorical, boolean, dates),
    }
    report.update(_curves(pipeline, x_test, y_test, config, labels))
    return TrainedRun(pipeline=pipeline, report=report)


def _fit(model: Any, x: pd.DataFrame, y: pd.Series) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        try:
            model.fit(x, y)
        except (ValueError, TypeError) as exc:
            raise TrainingError(
                f"The model could not be fitted: {_plain(exc)}"
            ) from None


def _plain(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def split_pipeline(
    split: Split, config: TrainConfig, params: Mapping[str, Any] | None = None
) -> Any:
    """The unfitted pipeline of ``config``'s model for ``split``'s columns, with
    ``params`` (by default the configuration's own).

    Raises
    ------
    ValueError
        A parameter the model does not accept.
    """
    return build_pipeline(
        numeric=split.numeric,
        categorical=split.categorical,
        boolean=split.boolean,
        dates=split.dates,
        timed=split.timed,
        model_key=config.model,
        task=config.task,
        params=config.params if params is None else params,
        random_state=config.random_state,
    )


def cv_splits(
    y_train: pd.Series, config: TrainConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The cross-validation folds of a run's training part (positions), as its
    training makes them: stratified for classes, in time order with a time
    column; none with 0 or 1 folds."""
    return _cv_splits(y_train, config, config.task == CLASSIFICATION)


def _cv_splits(
    y_train: pd.Series, config: TrainConfig, is_clf: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    k = int(config.cv_folds)
    if k in (0, 1):
        return []
    if not 2 <= k <= 20:
        raise TrainingError("Cross-validation folds must be 0 (off) or 2 to 20.")
    if config.time_column:
        return _time_folds(y_train, k, is_clf)
    if len(y_train) < k:
        raise TrainingError(
            f"Too few rows for {k}-fold cross-validation: the training part has "
            f"{len(y_train)}. Use fewer folds, or 0 to skip cross-validation."
        )
    if is_clf:
        counts = y_train.value_counts()
        if int(counts.min()) < k:
            raise TrainingError(
                f"{k}-fold cross-validation needs at least {k} rows of every class "
                f"in the training part; class {_label(counts.idxmin())} has "
                f"{int(counts.min())}. Use fewer folds, or 0 to skip it."
            )
        splitter: Any = StratifiedKFold(
            n_splits=k, shuffle=True, random_state=config.random_state
        )
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=config.random_state)
    return list(splitter.split(np.zeros(len(y_train)), y_train))


def _time_folds(
    y_train: pd.Series, k: int, is_clf: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's ``TimeSeriesSplit`` of the training part (in time order):
    ``k`` folds, each validating on the rows just after the ones it trains on."""
    from sklearn.model_selection import TimeSeriesSplit

    if len(y_train) <= k:
        raise TrainingError(
            f"Too few rows for {k} time-ordered folds: the training part has "
            f"{len(y_train)}. Use fewer folds, or 0 to skip cross-validation."
        )
    folds = list(TimeSeriesSplit(n_splits=k).split(np.zeros(len(y_train))))
    if is_clf and y_train.iloc[folds[0][0]].nunique() < 2:
        raise TrainingError(
            f"The first of {k} time-ordered folds trains on a single class: the "
            "earliest rows all have the same target. Use fewer folds, 0 to skip "
            "cross-validation, or a random split."
        )
    return folds


def _curves(
    model: Any,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    config: TrainConfig,
    labels: np.ndarray | None,
) -> dict[str, Any]:
    from sklearn import metrics

    if labels is None:
        actual = y_test.to_numpy(dtype=float)
        predicted = np.asarray(model.predict(x_test), dtype=float)
        keep = _sample_index(len(actual), MAX_PREDICTION_POINTS, config.random_state)
        return {
            "predictions": {
                "actual": actual[keep].tolist(),
                "predicted": predicted[keep].tolist(),
                "shown": int(len(keep)),
                "total": int(len(actual)),
            }
        }
    y_true = y_test.to_numpy()
    proba = model.predict_proba(x_test) if hasattr(model, "predict_proba") else None
    if proba is None:
        y_pred = model.predict(x_test)
    else:
        y_pred = model.classes_[np.argmax(proba, axis=1)]
    codes = np.arange(len(labels))  # a class unseen in training is left out
    matrix = metrics.confusion_matrix(
        label_codes(labels, y_true), label_codes(labels, y_pred), labels=codes
    )
    out: dict[str, Any] = {
        "classes": [_label(c) for c in labels],
        "confusion": matrix.tolist(),
        "roc": [],
        "pr": [],
        "calibration": [],
    }
    if proba is None:
        return out
    out["calibration"] = calibration(y_true, proba, labels)
    targets = [1] if len(labels) == 2 else range(len(labels))
    for i in targets:
        truth = y_true == labels[i]
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = metrics.roc_curve(truth, proba[:, i])
        precision, recall, _ = metrics.precision_recall_curve(truth, proba[:, i])
        # The area under this ROC curve and the step-wise average precision of this
        # PR curve, computed as roc_auc_score and average_precision_score do.
        auc = float(metrics.auc(fpr, tpr))
        ap = float(-np.sum(np.diff(recall) * precision[:-1]))
        keep = _curve_index(len(fpr))
        out["roc"].append(
            {
                "label": _label(labels[i]),
                "fpr": fpr[keep].tolist(),
                "tpr": tpr[keep].tolist(),
                "auc": auc,
            }
        )
        keep = _curve_index(len(recall))
        out["pr"].append(
            {
                "label": _label(labels[i]),
                "recall": recall[keep].tolist(),
                "precision": precision[keep].tolist(),
                "ap": ap,
                "prevalence": float(truth.mean()),
            }
        )
    return out


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _curve_index(n: int) -> np.ndarray:
    if n <= MAX_CURVE_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))


def _sample_index(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False))
