"""Hyper-parameter search: the space of a model, its candidates, and one
candidate scored as training scores a run.

Machinery: scikit-learn's own ``ParameterSampler`` and ``ParameterGrid`` over
scipy distributions, and each candidate cross-validated on the run's folds, one
candidate at a time. Candidates are independent, so a job (or a Celery worker)
can score any of them and a leaderboard can grow as each one ends; a search
stopped early keeps what it scored; and the code that reproduces it is plain
scikit-learn (``ParameterSampler`` with the same seed, ``cross_validate`` on the
same folds). Successive halving follows scikit-learn's own schedule
(``HalvingRandomSearchCV``): rounds of fewer candidates on more rows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from app.ml.metrics import evaluate
from app.ml.models import CLASSIFICATION, MODEL_SPECS
from app.ml.training import Split, TrainConfig, TrainingError, _fit
from app.ml.training import _plain as _said
from app.ml.training import split_pipeline

#: How a number is searched: uniformly, or uniformly in its logarithm (scales
#: such as C, alpha and learning rates), as a float or a whole number.
KINDS = ("uniform", "log", "int", "log-int", "choice")
STRATEGIES = ("random", "grid", "halving")
#: Values of a number in a grid search.
GRID_POINTS = 5


@dataclass(frozen=True)
class Dimension:
    """One searched hyper-parameter: a range (``kind`` a number kind) or
    ``options`` (``kind == "choice"``)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    options: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown kind of search range: {self.kind!r}.")
        if self.kind == "choice":
            if not self.options:
                raise ValueError(f"{self.name}: choose at least one value.")
            return
        if self.low is None or self.high is None or not self.low <= self.high:
            raise ValueError(f"{self.name}: the range needs a low and a high end.")
        if self.kind.startswith("log") and self.low <= 0:
            raise ValueError(f"{self.name}: a log scale starts above 0.")

    def distribution(self) -> Any:
        """What ``ParameterSampler`` draws from: a list, or a scipy distribution."""
        from scipy import stats

        low, high = self.low, self.high
        if self.kind == "choice":
            return list(self.options)
        if low == high:
            return [int(low) if self.kind.endswith("int") else low]
        if self.kind == "uniform":
            return stats.uniform(low, high - low)
        if self.kind == "log":
            return stats.loguniform(low, high)
        if self.kind == "int":
            return stats.randint(int(low), int(high) + 1)
        return _LogInt(int(low), int(high))

    def grid(self, points: int = GRID_POINTS) -> list[Any]:
        """The values a grid search tries: every option, or ``points`` numbers
        spread over the range (on the log scale for the log kinds)."""
        if self.kind == "choice":
            return list(self.options)
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.kind.startswith("log"):
            values = np.geomspace(low, high, points)
        else:
            values = np.linspace(low, high, points)
        if self.kind.endswith("int"):
            return sorted({int(round(v)) for v in values})
        return sorted({float(v) for v in values})


class _LogInt:
    """Whole numbers drawn log-uniformly in [low, high] (what scipy lacks)."""

    def __init__(self, low: int, high: int) -> None:
        from scipy import stats

        self.low, self.high = low, high
        self._log = stats.loguniform(low, high + 1)

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        drawn = np.floor(self._log.rvs(size=size, random_state=random_state))
        clipped = np.clip(drawn, self.low, self.high).astype(int)
        return int(clipped) if np.ndim(clipped) == 0 else clipped

    def __repr__(self) -> str:
        return f"log-uniform whole numbers in [{self.low}, {self.high}]"


#: The default search of each model's hyper-parameters: the ranges a data
#: scientist would start from (narrower than what the form accepts).
DEFAULT_SPACES: dict[str, tuple[Dimension, ...]] = {
    "logistic_regression": (
        Dimension("C", "log", 1e-3, 1e3),
        Dimension("class_weight", "choice", options=(None, "balanced")),
    ),
    "linear_regression": (Dimension("fit_intercept", "choice", options=(True, False)),),
    "ridge": (Dimension("alpha", "log", 1e-4, 1e3),),
    "lasso": (Dimension("alpha", "log", 1e-5, 10.0),),
    "knn": (
        Dimension("n_neighbors", "log-int", 1, 50),
        Dimension("weights", "choice", options=("uniform", "distance")),
    ),
    "svm": (
        Dimension("C", "log", 1e-2, 1e3),
        Dimension("kernel", "choice", options=("rbf", "linear")),
        Dimension("gamma", "choice", options=("scale", "auto")),
    ),
    "decision_tree": (
        Dimension("max_depth", "choice", options=(None, 3, 5, 8, 12, 20)),
        Dimension("min_samples_leaf", "log-int", 1, 50),
    ),
    "random_forest": (
        Dimension("n_estimators", "int", 50, 500),
        Dimension("max_depth", "choice", options=(None, 5, 10, 20, 40)),
        Dimension("min_samples_leaf", "log-int", 1, 20),
        Dimension("max_features", "choice", options=("default", "sqrt", "log2", 1.0)),
    ),
    "hist_gradient_boosting": (
        Dimension("learning_rate", "log", 1e-3, 1.0),
        Dimension("max_iter", "int", 50, 500),
        Dimension("max_leaf_nodes", "log-int", 8, 128),
    ),
    "naive_bayes": (Dimension("var_smoothing", "log", 1e-12, 1e-3),),
}


def default_space(model_key: str) -> tuple[Dimension, ...]:
    """The default search space of a model (its main hyper-parameters)."""
    if model_key not in MODEL_SPECS:
        raise ValueError(f"Unknown model {model_key!r}.")
    return DEFAULT_SPACES.get(model_key, ())


def grid_size(space: Sequence[Dimension], points: int = GRID_POINTS) -> int:
    """How many candidates a grid over ``space`` has."""
    return math.prod(len(d.grid(points)) for d in space) if space else 0


def candidates(
    space: Sequence[Dimension],
    *,
    strategy: str = "random",
    n_candidates: int = 20,
    random_state: int = 0,
) -> list[dict[str, Any]]:
    """The parameter sets a search tries, in order.

    ``random`` and ``halving``: ``n_candidates`` draws of scikit-learn's
    ``ParameterSampler`` (a space of choices only yields each set once);
    ``grid``: every point of ``ParameterGrid`` (refused when the grid has more
    than ``n_candidates`` points).
    """
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown search strategy {strategy!r}.")
    if not space:
        raise ValueError("Choose at least one hyper-parameter to search.")
    if n_candidates < 1:
        raise ValueError("A search needs at least one candidate.")
    if strategy == "grid":
        size = grid_size(space)
        if size > n_candidates:
            raise ValueError(
                f"The grid has {size:,} candidates, more than the {n_candidates:,} "
                "allowed: narrow it, or use a random search."
            )
        grid = ParameterGrid({d.name: d.grid() for d in space})
        return [_plain(p) for p in grid]
    if all(d.kind == "choice" for d in space):  # each set once, at most all
        n_candidates = min(n_candidates, grid_size(space))
    sampler = ParameterSampler(
        {d.name: d.distribution() for d in space},
        n_iter=n_candidates,
        random_state=random_state,
    )
    return [_plain(p) for p in sampler]


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars as Python numbers (JSON, reprs in the exported code)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}


@dataclass(frozen=True)
class Rung:
    """One round of successive halving: how many candidates, on how many rows."""

    candidates: int
    rows: int


def halving_schedule(
    n_candidates: int,
    n_rows: int,
    *,
    n_folds: int,
    n_classes: int = 0,
    factor: int = 3,
) -> list[Rung]:
    """scikit-learn's successive-halving rounds (``HalvingRandomSearchCV`` with
    ``resource="n_samples"`` and ``min_resources="exhaust"``): each round keeps
    the best ``1/factor`` of the candidates (rounded up) and gives them
    ``factor`` times the rows; the first round is as large as lets the last one
    use (nearly) all ``n_rows``. ``n_classes``: 0 for a regression."""
    smallest = 2 * n_folds * max(n_classes, 1)
    if n_rows < smallest:
        raise ValueError(
            f"Too few rows for successive halving: {n_rows:,}, at least "
            f"{smallest:,} needed."
        )
    required = 1 + int(math.floor(math.log(n_candidates, factor)))
    first = max(smallest, n_rows // factor ** (required - 1))
    possible = 1 + int(math.floor(math.log(n_rows // first, factor)))
    out, left = [], n_candidates
    for i in range(min(possible, required)):
        out.append(Rung(candidates=left, rows=min(int(factor**i * first), n_rows)))
        left = int(math.ceil(left / factor))
    return out


@dataclass
class Scored:
    """A candidate cross-validated: its metrics per fold, or why it failed."""

    params: dict[str, Any]
    folds: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = 0.0
    error: str | None = None

    def score(self, metric: str) -> tuple[float, float]:
        """Mean and standard deviation of ``metric`` over the folds (NaN if failed)."""
        values = np.array([f[metric] for f in self.folds], dtype=float)
        if self.error or values.size == 0:
            return float("nan"), float("nan")
        return float(values.mean()), float(values.std())


def score_candidate(
    split: Split,
    config: TrainConfig,
    params: Mapping[str, Any],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    rows: int | None = None,
) -> Scored:
    """Cross-validate ``config``'s model with ``params`` on ``folds`` of the
    training part (each fold's training rows cut to their first ``rows``, for
    successive halving), scored with every metric a run shows. A combination the
    model rejects is returned as failed, with the reason, not raised."""
    from sklearn.base import clone

    out = Scored(params=dict(params))
    try:
        pipeline = split_pipeline(split, config, {**config.params, **params})
    except ValueError as exc:
        out.error = str(exc)
        return out
    labels = np.unique(split.y_train) if config.task == CLASSIFICATION else None
    started = time.perf_counter()
    for train_idx, test_idx in folds:
        fit_rows = train_idx if rows is None else train_idx[:rows]
        model = clone(pipeline)
        try:
            _fit(model, split.x_train.iloc[fit_rows], split.y_train.iloc[fit_rows])
        except TrainingError as exc:
            out.error, out.folds = str(exc), []
            break
        try:
            scores = evaluate(
                model,
                split.x_train.iloc[test_idx],
                split.y_train.iloc[test_idx],
                labels=labels,
            )
        except (ValueError, TypeError) as exc:  # k-NN with more neighbours than rows
            out.error, out.folds = f"The model could not predict: {_said(exc)}", []
            break
        out.folds.append(scores)
    out.fit_seconds = time.perf_counter() - started
    return out
