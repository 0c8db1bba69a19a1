"""Why a model predicts what it predicts: importances, partial dependence, ICE,
decision boundaries and calibration. Big data is explained on a bounded sample."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from app.ml.models import CLASSIFICATION, build_pipeline
from app.ml.profiling import NUMERIC, column_kind

EXPLAIN_ROWS = 2_000
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
) -> dict[str, Any]:
    """Drop in score when each feature is shuffled, on (a sample of) the hold-out.

    Scored with accuracy (classification) or R² (regression); features are the
    columns as the visitor chose them, before any one-hot encoding.
    """
    from sklearn.inspection import permutation_importance

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
    names = [n.split("__", 1)[-1] for n in names]
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
    binary), on the predicted probability.
    """
    from sklearn.inspection import partial_dependence

    x_s, _, sampled = sample_xy(x, None, max_rows=max_rows, random_state=random_state)
    categorical = column_kind(x[feature]) != NUMERIC
    result = partial_dependence(
        pipeline,
        x_s,
        [feature],
        kind="both",
        grid_resolution=grid_resolution,
        categorical_features=[feature] if categorical else None,
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
        "categorical": categorical,
        "grid": [_scalar(v) for v in grid],
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
    """Two-way partial dependence of two numeric features (first output only)."""
    from sklearn.inspection import partial_dependence

    x_s, _, sampled = sample_xy(x, None, max_rows=max_rows, random_state=random_state)
    result = partial_dependence(
        pipeline,
        x_s,
        list(features),
        kind="average",
        grid_resolution=grid_resolution,
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
        "x": [_scalar(v) for v in result["grid_values"][0]],
        "y": [_scalar(v) for v in result["grid_values"][1]],
        "z": average[index].T.tolist(),
        "label": label,
        "rows": int(len(x_s)),
        "sampled": sampled,
    }


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


def _scalar(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    return str(value)
