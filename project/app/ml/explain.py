"""Why a model predicts what it predicts: importances, partial dependence, ICE,
decision boundaries and calibration. Big data is explained on a bounded sample."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from app.ml.models import CLASSIFICATION, build_pipeline
from app.ml.profiling import DATETIME, NUMERIC, column_kind

EXPLAIN_ROWS = 2_000
MIN_EXPLAIN_ROWS = 200
EXPLAIN_SECONDS = 3.0  # what permutation importances may take (about)
PDP_ROWS = 1_000
ICE_LINES = 50
BOUNDARY_ROWS = 5_000
BOUNDARY_GRID = 80


def sample_xy(
    x: pd.DataFrame, y: pd.Series | None, *, max_rows: int, random_state: int = 0
) -> tuple[pd.DataFrame, pd.Series | None, bool]:
    """At most ``max_rows`` rows of (x, y), sampled with a seed; True if sampled."""
    if len(x) <= max_rows:
        return x, y, False
    rng = np.random.default_rng(random_state)
    keep = np.sort(rng.choice(len(x), size=max_rows, replace=False))
    return x.iloc[keep], (None if y is None else y.iloc[keep]), True


def permutation_importances(
    pipeline: Any,
    x: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    n_repeats: int = 5,
    max_rows: int = EXPLAIN_ROWS,
    random_state: int = 0,
    seconds: float | None = EXPLAIN_SECONDS,
) -> dict[str, Any]:
    """Drop in score when each feature is shuffled, on (a sample of) the hold-out.

    Scored with accuracy (classification) or R² (regression); features are the
    columns as the visitor chose them, before any one-hot encoding. The sample
    is at most ``max_rows`` rows, and fewer (not under ``MIN_EXPLAIN_ROWS``) for a
    model whose predictions are slow, so that the whole takes about ``seconds``.
    """
    from sklearn.inspection import permutation_importance

    if seconds is not None:
        max_rows = _rows_within(pipeline, x, max_rows, x.shape[1] * n_repeats, seconds)
    x_s, y_s, sampled = sample_xy(x, y, max_rows=max_rows, random_state=random_state)
    scoring = "accuracy" if task == CLASSIFICATION else "r2"
    result = permutation_importance(
        pipeline,
        x_s,
        y_s,
        scoring=scoring,
        n_repeats=n_repeats,
        random_state=random_state,
    )
    order = np.argsort(result.importances_mean)[::-1]
    return {
        "features": [str(x.columns[i]) for i in order],
        "mean": [float(result.importances_mean[i]) for i in order],
        "std": [float(result.importances_std[i]) for i in order],
        "scoring": scoring,
        "rows": int(len(x_s)),
        "total_rows": int(len(x)),
        "sampled": sampled,
        "repeats": n_repeats,
    }


def _rows_within(
    pipeline: Any, x: pd.DataFrame, max_rows: int, calls: int, seconds: float
) -> int:
    """How many rows ``calls`` predictions can each take within ``seconds``,
    timed on two small samples (``MIN_EXPLAIN_ROWS`` rows and four times that,
    the faster of two calls each), so that a call's fixed cost (a pipeline's
    steps, a forest's trees) is not counted per row."""
    small = x.iloc[: min(len(x), MIN_EXPLAIN_ROWS)]
    if small.empty:
        return max_rows
    big = x.iloc[: min(len(x), 4 * MIN_EXPLAIN_ROWS)]
    t_small, t_big = (_timed_predict(pipeline, part) for part in (small, big))
    if len(big) > len(small):
        per_row = max(t_big - t_small, 0.0) / (len(big) - len(small))
        fixed = max(t_small - per_row * len(small), 0.0)
    else:  # too few rows to tell: all of it per row
        per_row, fixed = t_small / len(small), 0.0
    per_call = seconds / (calls + 1) - fixed
    if per_row <= 0:
        return max_rows
    affordable = int(max(per_call, 0.0) / per_row)
    return max(min(MIN_EXPLAIN_ROWS, max_rows), min(max_rows, affordable))


def _timed_predict(pipeline: Any, x: pd.DataFrame) -> float:
    took = []
    for _ in range(2):
        started = time.perf_counter()
        pipeline.predict(x)
        took.append(time.perf_counter() - started)
    return min(took)


def model_importances(pipeline: Any) -> dict[str, Any] | None:
    """The model's own importances or coefficients, per encoded feature.

    Returns None for models that have neither (k-NN, RBF SVM, naive Bayes).
    Coefficients are per class for multiclass linear models; they apply to
    standardised numbers and one-hot columns.
    """
    model = pipeline[-1]
    try:
        names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    except (AttributeError, ValueError):
        return None
    names = [_readable(n.split("__", 1)[-1]) for n in names]
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
        return {
            "kind": "importance",
            "names": names,
            "values": [values.tolist()],
            "series": ["importance"],
        }
    coef = getattr(model, "coef_", None)
    if coef is None:
        return None
    if hasattr(coef, "toarray"):
        coef = coef.toarray()
    coef = np.atleast_2d(np.asarray(coef, dtype=float))
    classes = getattr(model, "classes_", None)
    if coef.shape[0] == 1:
        label = (
            f"towards {classes[1]}"
            if classes is not None and len(classes) == 2
            else "coefficient"
        )
        series = [str(label)]
    else:
        series = [str(c) for c in classes]
    return {
        "kind": "coefficient",
        "names": names,
        "values": coef.tolist(),
        "series": series,
    }


#: The one-hot encoder names its column of rare categories so (after the feature).
_INFREQUENT = "_infrequent_sklearn"


def _readable(name: str) -> str:
    """An encoded column's name as the page shows it (no encoder internals)."""
    if name.endswith(_INFREQUENT):
        return name[: -len(_INFREQUENT)] + " (other values)"
    return name


def partial_dependence_curves(
    pipeline: Any,
    x: pd.DataFrame,
    feature: str,
    *,
    task: str,
    grid_resolution: int = 30,
    ice_lines: int = ICE_LINES,
    max_rows: int = PDP_ROWS,
    random_state: int = 0,
) -> dict[str, Any]:
    """Partial dependence (average) and ICE lines (individual rows) for one feature.

    For classification, one curve set per class (the positive class only when
    binary), on the predicted probability. A number varies over its distinct
    values when it has fewer than ``grid_resolution`` of them, else over evenly
    spaced points between its 5th and 95th percentiles (whole numbers for a
    whole-number column); missing values are left out of the grid. Integer
    columns are handed to scikit-learn as floats, which it requires and the
    fitted pipeline accepts.
    """
    from sklearn.inspection import partial_dependence

    x_s, _, sampled = sample_xy(x, None, max_rows=max_rows, random_state=random_state)
    categorical = column_kind(x[feature]) != NUMERIC
    result = partial_dependence(
        pipeline,
        _float_numbers(x_s),
        [feature],
        kind="both",
        categorical_features=[feature] if categorical else None,
        custom_values={feature: _grid(x_s[feature], categorical, grid_resolution)},
        response_method="predict_proba" if task == CLASSIFICATION else "auto",
    )
    grid = result["grid_values"][0]
    average = np.asarray(result["average"])
    individual = np.asarray(result["individual"])
    rng = np.random.default_rng(random_state)
    lines = min(ice_lines, individual.shape[1])
    pick = np.sort(rng.choice(individual.shape[1], size=lines, replace=False))
    classes = list(getattr(pipeline, "classes_", [])) if task == CLASSIFICATION else []
    if task == CLASSIFICATION and len(classes) == 2:
        outputs = [str(classes[1])]
    elif task == CLASSIFICATION:
        outputs = [str(c) for c in classes]
    else:
        outputs = ["prediction"]
    return {
        "feature": feature,
        # dates vary in order, as numbers do: drawn as a line over time
        "categorical": categorical and column_kind(x[feature]) != DATETIME,
        "grid": _axis(grid),
        "outputs": outputs,
        "average": average.tolist(),
        "ice": individual[:, pick, :].tolist(),
        "rows": int(len(x_s)),
        "total_rows": int(len(x)),
        "sampled": sampled,
    }


def partial_dependence_2d(
    pipeline: Any,
    x: pd.DataFrame,
    features: tuple[str, str],
    *,
    task: str,
    grid_resolution: int = 20,
    max_rows: int = PDP_ROWS,
    random_state: int = 0,
) -> dict[str, Any]:
    """Two-way partial dependence of two features (first output only).

    Numbers (integers too) vary over a grid of their own values or of evenly
    spaced points (whole numbers for whole-number columns); categories over
    their values.
    """
    from sklearn.inspection import partial_dependence

    x_s, _, sampled = sample_xy(x, None, max_rows=max_rows, random_state=random_state)
    categorical = [f for f in features if column_kind(x[f]) != NUMERIC]
    result = partial_dependence(
        pipeline,
        _float_numbers(x_s),
        list(features),
        kind="average",
        categorical_features=categorical or None,
        custom_values={
            f: _grid(x_s[f], f in categorical, grid_resolution) for f in features
        },
        response_method="predict_proba" if task == CLASSIFICATION else "auto",
    )
    average = np.asarray(result["average"])
    classes = list(getattr(pipeline, "classes_", [])) if task == CLASSIFICATION else []
    index = 0
    label = "prediction"
    if task == CLASSIFICATION:
        label = f"P({classes[1] if len(classes) == 2 else classes[0]})"
    return {
        "features": list(features),
        "x": _axis(result["grid_values"][0]),
        "y": _axis(result["grid_values"][1]),
        "z": average[index].T.tolist(),
        "label": label,
        "rows": int(len(x_s)),
        "sampled": sampled,
    }


PDP_PERCENTILES = (0.05, 0.95)


def _float_numbers(x: pd.DataFrame) -> pd.DataFrame:
    """``x`` with its integer (and nullable) number columns as float64.

    scikit-learn's partial dependence refuses integer columns, and a nullable
    column's ``pd.NA`` would not survive its grid; the pipeline imputes and
    scales floats just the same.
    """
    cast = [
        c
        for c in x.columns
        if column_kind(x[c]) == NUMERIC and x[c].dtype != np.float64
    ]
    if not cast:
        return x
    out = x.copy()
    for c in cast:
        out[c] = x[c].to_numpy(dtype="float64", na_value=np.nan)
    return out


def _grid(series: pd.Series, categorical: bool, grid_resolution: int) -> np.ndarray:
    """The values one feature takes in a partial dependence, missing ones left out.

    Categories: their distinct values. Numbers: their distinct values when there
    are fewer than ``grid_resolution``, else evenly spaced points between the
    5th and 95th percentiles (as scikit-learn does), rounded to whole numbers
    and deduplicated when every value is whole.
    """
    from scipy.stats.mstats import mquantiles

    if column_kind(series) == DATETIME:
        return _date_grid(series, grid_resolution)
    if categorical:
        values = list(pd.unique(series.dropna()))
        try:
            values = sorted(values)
        except TypeError:
            values = sorted(values, key=str)
        if not values:
            raise ValueError(f"{series.name!r} has no values to vary.")
        return np.asarray(values, dtype=object)
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError(f"{series.name!r} has no values to vary.")
    uniques = np.unique(values)
    if uniques.size < grid_resolution:
        return uniques
    low, high = mquantiles(values, prob=PDP_PERCENTILES)
    if np.allclose(low, high):
        low, high = uniques[0], uniques[-1]
    grid = np.linspace(low, high, num=grid_resolution, endpoint=True)
    if np.all(values == np.round(values)):
        grid = np.unique(np.round(grid))
    return grid


def _date_grid(series: pd.Series, grid_resolution: int) -> np.ndarray:
    """The dates a partial dependence varies a date column over: its own when
    there are fewer than ``grid_resolution``, else evenly spaced ones between its
    5th and 95th percentiles. Timestamps (objects): scikit-learn takes them as
    the values of a categorical feature, which the pipeline turns into parts."""
    present = series.dropna()
    if present.empty:
        raise ValueError(f"{series.name!r} has no values to vary.")
    uniques = present.drop_duplicates().sort_values()
    if len(uniques) < grid_resolution:
        return np.asarray(list(uniques), dtype=object)
    low, high = (present.quantile(p) for p in PDP_PERCENTILES)
    if low == high:
        low, high = uniques.iloc[0], uniques.iloc[-1]
    grid = pd.date_range(low, high, periods=grid_resolution)
    if (present == present.dt.normalize()).all():  # days only: whole days
        grid = grid.normalize().drop_duplicates()
    return np.asarray(list(grid), dtype=object)


SHAPLEY_PERMUTATIONS = 64
#: Features explained one by one, at most; the others share one contribution.
SHAPLEY_MAX_FEATURES = 30
#: Background rows per feature in the screening that picks those features.
SHAPLEY_SCREEN_ROWS = 4
#: Cells (rows x columns) handed to the model in one call, at most: wide tables
#: are predicted in chunks, so that memory stays bounded.
SHAPLEY_CELLS = 2_000_000


def row_contributions(
    pipeline: Any,
    background: pd.DataFrame,
    row: pd.DataFrame,
    *,
    task: str,
    class_index: int | None = None,
    permutations: int = SHAPLEY_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """How much each feature moved one row's prediction away from the typical one.

    Sampling Shapley values (Strumbelj and Kononenko, 2014) on the pipeline's
    original columns. For each of ``permutations`` random orders of the
    features, one background row is drawn; starting from that row, the features
    take this row's values one at a time in that order, and the change of the
    output at each step is credited to the feature that changed. A feature's
    contribution is its average credit. The orders come in antithetic pairs (an
    order and its reverse share a background row), which cancels the noise of
    pairwise interactions. Within one order the steps telescope, so the
    contributions add up exactly to ``prediction - base``: the output for this
    row minus its mean over the background rows used.

    Why this method: it needs nothing from the model but its predictions (every
    model here, linear or not), its numbers add up to the prediction, and it
    works on the columns the visitor chose, categories and missing values
    included, before imputation and one-hot encoding; and it needs no library
    beyond scikit-learn and pandas.

    The output explained is the predicted value (regression) or the probability
    of one class: the predicted one, or ``classes_[class_index]``. All the rows
    go through the model in one call (two with more than
    ``SHAPLEY_MAX_FEATURES`` features; more, in chunks of ``SHAPLEY_CELLS``
    cells, for a very wide table), at most about ``(features + 1) *
    permutations`` rows. With more than ``SHAPLEY_MAX_FEATURES``, a screening (each
    feature swapped alone against a few background rows) keeps the ones with
    the largest effect and the others share one contribution, as a group.

    Returns
    -------
    dict
        ``features`` and ``values`` (same order, largest ``|value|`` first),
        ``base``, ``prediction``, ``output`` ("probability of class X" or
        "predicted value"), ``method`` (one sentence), ``permutations`` and
        ``background_rows`` used, ``grouped`` (the features in the shared
        contribution, usually none) and ``note`` (a sentence when grouped, else
        None).
    """
    columns = [str(c) for c in getattr(pipeline, "feature_names_in_", row.columns)]
    missing = [c for c in columns if c not in row.columns or c not in background]
    if missing:
        raise ValueError(f"Columns the model needs are missing: {missing[:10]}.")
    if len(row) != 1:
        raise ValueError("Explain one row at a time.")
    if background.empty:
        raise ValueError("No background rows to compare the row with.")
    if task == CLASSIFICATION and not hasattr(pipeline, "predict_proba"):
        raise ValueError("This model gives no class probabilities to explain.")
    if task == CLASSIFICATION and class_index is not None:
        if not 0 <= int(class_index) < len(pipeline.classes_):
            raise ValueError(f"class_index must be below {len(pipeline.classes_)}.")
    rng = np.random.default_rng(seed)
    pairs = max(1, (int(permutations) + 1) // 2)
    draw = rng.choice(len(background), size=pairs, replace=pairs > len(background))
    x_row = {c: _cells(row[c])[0] for c in columns}
    bg = {c: _cells(background[c].iloc[draw]) for c in columns}

    def output(masks: np.ndarray, rows: np.ndarray, groups: list[list[int]]) -> Any:
        """The model's output for rows that take the features of group ``p``
        from this row where ``masks[:, p]``, else from background row ``rows``;
        in one call, or in chunks of at most ``SHAPLEY_CELLS`` cells."""
        chunk = max(1, SHAPLEY_CELLS // len(columns))
        parts = []
        for first in range(0, len(masks), chunk):
            part = slice(first, first + chunk)
            frame = {}
            for p, group in enumerate(groups):
                for j in group:
                    cells = bg[columns[j]][rows[part]]
                    cells[masks[part, p]] = x_row[columns[j]]
                    frame[columns[j]] = cells
            mixed = pd.DataFrame({c: frame[c] for c in columns})
            if task == CLASSIFICATION:
                parts.append(np.asarray(pipeline.predict_proba(mixed), dtype=float))
            else:
                parts.append(
                    np.asarray(pipeline.predict(mixed), dtype=float).reshape(-1)
                )
        return np.concatenate(parts)

    groups = [[j] for j in range(len(columns))]
    grouped: list[str] = []
    note = None
    if len(columns) > SHAPLEY_MAX_FEATURES:
        groups = _screen(output, len(columns), pairs, task, class_index)
        grouped = [columns[j] for j in groups[-1]]
        note = (
            f"The model has {len(columns)} features: the "
            f"{SHAPLEY_MAX_FEATURES - 1} with the largest effect on this row are "
            f"shown one by one, the other {len(grouped)} together."
        )
    n = len(groups)
    # Row 0 is this row; then per pair its background row, then the n - 1
    # mixed rows of the order and the n - 1 of its reverse.
    per_pair = 2 * n - 1
    masks = np.zeros((1 + pairs * per_pair, n), dtype=bool)
    rows = np.zeros(len(masks), dtype=int)
    masks[0] = True
    steps = np.arange(1, n)[:, None]
    orders = []
    for k in range(pairs):
        order = rng.permutation(n)
        rank = np.empty(n, dtype=int)
        rank[order] = np.arange(n)
        start = 1 + k * per_pair
        rows[start : start + per_pair] = k
        masks[start + 1 : start + n] = rank[None, :] < steps
        masks[start + n : start + per_pair] = (n - 1 - rank)[None, :] < steps
        orders.append(order)
    raw = output(masks, rows, groups)
    if task == CLASSIFICATION:
        classes = list(pipeline.classes_)
        index = int(np.argmax(raw[0])) if class_index is None else int(class_index)
        f = raw[:, index]
        label = f"probability of class {classes[index]}"
    else:
        f = raw
        label = "predicted value"
    totals = np.zeros(n)
    for k, order in enumerate(orders):
        start = 1 + k * per_pair
        for path, seq in (
            (f[start : start + n], order),
            (f[np.r_[start, start + n : start + per_pair]], order[::-1]),
        ):
            chain = np.append(path, f[0])
            np.add.at(totals, seq, np.diff(chain))
    values = totals / (2 * pairs)
    base = float(np.mean(f[1 + np.arange(pairs) * per_pair]))
    names = [
        columns[g[0]] if len(g) == 1 else f"other {len(g)} features" for g in groups
    ]
    order = np.argsort(-np.abs(values), kind="stable")
    return {
        "features": [names[i] for i in order],
        "values": [float(values[i]) for i in order],
        "base": base,
        "prediction": float(f[0]),
        "output": label,
        "method": (
            f"Sampling Shapley values: over {2 * pairs} random orders of the "
            f"features, each feature in turn took this row's value instead of a "
            f"training row's, and its average effect on the {label} is its "
            f"contribution; they add up to the prediction minus the average over "
            f"the {pairs} training rows used."
        ),
        "permutations": 2 * pairs,
        "background_rows": pairs,
        "grouped": grouped,
        "note": note,
    }


def _cells(series: pd.Series) -> np.ndarray:
    """A column's values as an array rows can be mixed from: floats for numbers
    (NaN when missing), objects for anything else."""
    if column_kind(series) == NUMERIC:
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return series.to_numpy(dtype=object)


def _screen(
    output: Any, n: int, pairs: int, task: str, class_index: int | None
) -> list[list[int]]:
    """Groups of feature indices: one for each of the ``SHAPLEY_MAX_FEATURES -
    1`` features with the largest effect when swapped alone (into a background
    row, and out of this row), then one, the last, for all the others."""
    screen = min(SHAPLEY_SCREEN_ROWS, pairs)
    eye = np.eye(n, dtype=bool)
    masks = np.vstack(
        [np.ones((1, n), bool), np.zeros((screen, n), bool)]
        + [eye] * screen
        + [~eye] * screen
    )
    per_feature = np.repeat(np.arange(screen), n)
    rows = np.concatenate([[0], np.arange(screen), per_feature, per_feature])
    raw = output(masks, rows, [[j] for j in range(n)])
    if task == CLASSIFICATION:
        raw = raw[:, int(np.argmax(raw[0])) if class_index is None else class_index]
    full, empty = raw[0], raw[1 : 1 + screen]
    alone = raw[1 + screen : 1 + screen + n * screen].reshape(screen, n)
    without = raw[1 + screen + n * screen :].reshape(screen, n)
    effect = np.mean(np.abs(alone - empty[:, None]) + np.abs(full - without), axis=0)
    ranked = np.argsort(-effect, kind="stable")
    keep = sorted(ranked[: SHAPLEY_MAX_FEATURES - 1].tolist())
    rest = sorted(ranked[SHAPLEY_MAX_FEATURES - 1 :].tolist())
    return [[j] for j in keep] + [rest]


def decision_boundary(
    x_train: pd.DataFrame,
    y_train: pd.Series,
    *,
    features: tuple[str, str],
    model_key: str,
    params: dict[str, Any],
    random_state: int = 0,
    grid: int = BOUNDARY_GRID,
    max_rows: int = BOUNDARY_ROWS,
) -> dict[str, Any]:
    """Refit the model on two numeric features only and map its predictions.

    This is a different model from the run's (two features instead of all): it
    shows how this kind of model splits the plane, on a bounded sample.
    """
    x_s, y_s, sampled = sample_xy(
        x_train[list(features)], y_train, max_rows=max_rows, random_state=random_state
    )
    pipeline = build_pipeline(
        numeric=list(features),
        categorical=[],
        model_key=model_key,
        task=CLASSIFICATION,
        params=params,
        random_state=random_state,
    )
    pipeline.fit(x_s, y_s)
    a = x_s[features[0]].to_numpy(dtype=float)
    b = x_s[features[1]].to_numpy(dtype=float)
    pad_a = (np.nanmax(a) - np.nanmin(a)) * 0.05 or 1.0
    pad_b = (np.nanmax(b) - np.nanmin(b)) * 0.05 or 1.0
    ga = np.linspace(np.nanmin(a) - pad_a, np.nanmax(a) + pad_a, grid)
    gb = np.linspace(np.nanmin(b) - pad_b, np.nanmax(b) + pad_b, grid)
    mesh_a, mesh_b = np.meshgrid(ga, gb)
    points = pd.DataFrame({features[0]: mesh_a.ravel(), features[1]: mesh_b.ravel()})
    classes = list(pipeline.classes_)
    proba = pipeline.predict_proba(points)
    if len(classes) == 2:
        z = proba[:, 1].reshape(mesh_a.shape)
        label = f"P({classes[1]})"
    else:
        z = proba.argmax(axis=1).reshape(mesh_a.shape).astype(float)
        label = "predicted class"
    keep = np.arange(len(x_s))
    if len(keep) > 1_500:
        keep = np.sort(
            np.random.default_rng(random_state).choice(len(x_s), 1_500, replace=False)
        )
    return {
        "features": list(features),
        "x": ga.tolist(),
        "y": gb.tolist(),
        "z": np.round(z, 4).tolist(),
        "label": label,
        "classes": [str(c) for c in classes],
        "points": {
            "x": a[keep].tolist(),
            "y": b[keep].tolist(),
            "class": [str(v) for v in y_s.to_numpy()[keep]],
        },
        "accuracy": float(pipeline.score(x_s, y_s)),
        "rows": int(len(x_s)),
        "sampled": sampled,
    }


def calibration(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any], *, n_bins: int = 10
) -> list[dict[str, Any]]:
    """Reliability curves: observed frequency against mean predicted probability.

    One curve for the positive class of a binary task, one per class (one
    against the rest) otherwise.
    """
    from sklearn.calibration import calibration_curve

    targets = [1] if len(classes) == 2 else range(len(classes))
    curves = []
    for i in targets:
        truth = np.asarray(y_true) == classes[i]
        if truth.all() or not truth.any():
            continue
        observed, predicted = calibration_curve(truth, proba[:, i], n_bins=n_bins)
        counts, _ = np.histogram(proba[:, i], bins=n_bins, range=(0, 1))
        curves.append(
            {
                "label": str(classes[i]),
                "predicted": predicted.tolist(),
                "observed": observed.tolist(),
                "counts": counts.tolist(),
            }
        )
    return curves


def _axis(values: Any) -> list[Any]:
    """Grid values as plain scalars; whole numbers as ints when all of them are."""
    out = [_scalar(v) for v in values]
    if out and all(isinstance(v, float) and v.is_integer() for v in out):
        return [int(v) for v in out]
    return out


def _scalar(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    return str(value)
