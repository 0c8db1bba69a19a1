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

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterator, Mapping, Sequence

import numpy as np

from app.ml.baseline import LOWER_IS_BETTER
from app.ml.metrics import METRIC_LABELS, evaluate
from app.ml.models import CLASSIFICATION, MODEL_SPECS
from app.ml.training import Split, TrainConfig, TrainingError, _fit
from app.ml.training import _plain as _said
from app.ml.training import cv_splits, split_pipeline

#: How a number is searched: uniformly, or uniformly in its logarithm (scales
#: such as C, alpha and learning rates), as a float or a whole number.
KINDS = ("uniform", "log", "int", "log-int", "choice")
STRATEGIES = ("random", "grid", "halving")
#: Values of a number in a grid search.
GRID_POINTS = 5
SEARCH_METRICS = {
    "classification": (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    ),
    "regression": ("r2", "mae", "rmse", "mape"),
}
#: Most candidates one search may try (the leaderboard and its record stay small).
MAX_CANDIDATES = 500


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

    def to_dict(self) -> dict[str, Any]:
        """The dimension as JSON data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "options": list(self.options),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Dimension":
        """A dimension from :meth:`to_dict`'s data (checked again)."""
        low, high = data.get("low"), data.get("high")
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            low=None if low is None else float(low),
            high=None if high is None else float(high),
            options=tuple(data.get("options") or ()),
        )

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
    """A candidate cross-validated: its metrics per fold, or why it failed.

    ``index`` is its place in the search's candidates, ``rung`` the round of
    successive halving it was scored in (0 otherwise) and ``rows`` the training
    rows of each fold it was given (None: all)."""

    params: dict[str, Any]
    folds: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = 0.0
    error: str | None = None
    index: int = 0
    rung: int = 0
    rows: int | None = None

    def score(self, metric: str) -> tuple[float, float]:
        """Mean and standard deviation of ``metric`` over the folds (NaN if failed)."""
        values = np.array([f[metric] for f in self.folds], dtype=float)
        if self.error or values.size == 0:
            return float("nan"), float("nan")
        return float(values.mean()), float(values.std())

    def to_dict(self) -> dict[str, Any]:
        """The candidate as JSON data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Scored":
        """A candidate from :meth:`to_dict`'s data."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _sort_key(metric: str) -> Callable[[Scored], tuple[float, float, int]]:
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(item: Scored) -> tuple[float, float, int]:
        mean = item.score(metric)[0]
        value = sign * mean if math.isfinite(mean) else math.inf
        return (-item.rung, value, item.index)

    return key


def ranked(scored: Sequence[Scored], metric: str) -> list[Scored]:
    """Candidates best first by ``metric`` (smaller first where smaller is
    better): a later round of successive halving before an earlier one, failed
    or unscored ones last, ties in candidate order (as scikit-learn ranks)."""
    return sorted(scored, key=_sort_key(metric))


def best(scored: Sequence[Scored], metric: str) -> Scored | None:
    """The best candidate with a score, or None."""
    top = ranked(scored, metric)
    return top[0] if top and math.isfinite(top[0].score(metric)[0]) else None


@dataclass(frozen=True)
class Plan:
    """A search: its space, strategy, metric and budget (candidates, and seconds
    when ``seconds`` is set: no candidate starts after that)."""

    space: tuple[Dimension, ...]
    metric: str
    strategy: str = "random"
    n_candidates: int = 20
    seconds: float | None = None
    random_state: int = 0
    factor: int = 3

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown search strategy {self.strategy!r}.")
        if self.metric not in METRIC_LABELS:
            raise ValueError(f"Unknown metric {self.metric!r}.")
        if not 1 <= self.n_candidates <= MAX_CANDIDATES:
            raise ValueError(
                f"A search tries 1 to {MAX_CANDIDATES} candidates, "
                f"not {self.n_candidates}."
            )
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError("The time limit must be above 0 seconds.")
        if self.strategy == "grid":
            self.candidates()  # a grid over n_candidates is refused here

    def candidates(self) -> list[dict[str, Any]]:
        """The parameter sets this search tries, in order."""
        return candidates(
            self.space,
            strategy=self.strategy,
            n_candidates=self.n_candidates,
            random_state=self.random_state,
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON data."""
        data = dataclasses.asdict(self)
        data["space"] = [d.to_dict() for d in self.space]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Plan":
        """A plan from :meth:`to_dict`'s data (checked again)."""
        seconds = data.get("seconds")
        return cls(
            space=tuple(Dimension.from_dict(d) for d in data.get("space") or ()),
            metric=str(data["metric"]),
            strategy=str(data.get("strategy", "random")),
            n_candidates=int(data.get("n_candidates", 20)),
            seconds=None if seconds is None else float(seconds),
            random_state=int(data.get("random_state", 0)),
            factor=int(data.get("factor", 3)),
        )


Guard = Callable[[], ContextManager[Any]]
#: Runs a search's folds elsewhere: ``spread(tasks, here)`` gets the folds to
#: score (``{"i": candidate, "f": fold, "params", "rows"}``, JSON) and yields each
#: one scored (the task with ``scores``, ``error`` and ``seconds``) as it ends, in
#: any order; ``here(task)`` scores one in this process.
Spread = Callable[
    [list[dict[str, Any]], Callable[[Mapping[str, Any]], dict[str, Any]]],
    Iterator[dict[str, Any]],
]


def score_fold(
    split: Split,
    config: TrainConfig,
    params: Mapping[str, Any],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    guard: Guard | None = None,
) -> tuple[dict[str, float] | None, str | None, float]:
    """One fold of one candidate: (its scores, None, seconds), or (None, why it
    failed, seconds). Run where the search runs it (this process or a worker),
    under ``guard`` (a job's budget) when given."""
    from sklearn.base import clone

    started = time.perf_counter()
    labels = np.unique(split.y_train) if config.task == CLASSIFICATION else None
    try:
        with guard() if guard is not None else contextlib.nullcontext():
            pipeline = clone(split_pipeline(split, config, {**config.params, **params}))
            _fit(pipeline, split.x_train.iloc[train_idx], split.y_train.iloc[train_idx])
            scores = evaluate(
                pipeline,
                split.x_train.iloc[test_idx],
                split.y_train.iloc[test_idx],
                labels=labels,
            )
    except TrainingError as exc:
        return None, str(exc), time.perf_counter() - started
    except (MemoryError, TimeoutError) as exc:  # the guard's budget, explained
        return None, str(exc) or "It ran out of memory.", time.perf_counter() - started
    except (ValueError, TypeError) as exc:  # k-NN with more neighbours than rows
        reason = f"The model could not be fitted or scored: {_said(exc)}"
        return None, reason, time.perf_counter() - started
    return scores, None, time.perf_counter() - started


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
    out = Scored(params=dict(params), rows=rows)
    for train_idx, test_idx in folds:
        fit_rows = train_idx if rows is None else train_idx[:rows]
        scores, error, seconds = score_fold(split, config, params, fit_rows, test_idx)
        out.fit_seconds += seconds
        if error is not None:
            out.error, out.folds = error, []
            break
        out.folds.append(scores)  # type: ignore[arg-type]
    return out


def _light(split: Split) -> Split:
    """The split without its hold-out (what a fold needs, sent to each worker)."""
    return dataclasses.replace(
        split, x_test=split.x_test.iloc[:0], y_test=split.y_test.iloc[:0]
    )


def search(
    split: Split,
    config: TrainConfig,
    plan: Plan,
    *,
    workers: int = 1,
    guard: Guard | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_fold: Callable[[int, int], None] | None = None,
    spread: Spread | None = None,
) -> Iterator[Scored]:
    """Run ``plan`` on the training part of ``split`` with ``config``'s model,
    folds and seed; yield each candidate as soon as all its folds are scored (or
    one failed). Folds run on ``workers`` processes (joblib's loky, as
    scikit-learn's searches do; in this process when 1), each under ``guard``.
    Successive halving yields each round's candidates, then promotes the best
    ``1/factor`` to the next round on more rows. No fold starts once
    ``plan.seconds`` have passed. ``on_fold(done, total)`` is called as each
    fold ends (``total``: every fold the search will fit, all rounds).
    ``spread``, when given, runs the folds instead of joblib (see :data:`Spread`:
    Celery workers, with this process helping).

    Raises
    ------
    TrainingError
        Cross-validation is off, or the folds cannot be made.
    """
    folds = cv_splits(split.y_train, config)
    if not folds:
        raise TrainingError(
            "A search compares candidates by cross-validation: set CV folds to 2 "
            "or more."
        )
    deadline = None if plan.seconds is None else clock() + plan.seconds
    pool = plan.candidates()
    run = _Rounds(
        split=_light(split),
        config=config,
        pool=pool,
        folds=folds,
        workers=workers,
        guard=guard,
        deadline=deadline,
        clock=clock,
        count=_FoldCount(0, len(pool) * len(folds), on_fold),
        spread=spread,
    )
    if plan.strategy != "halving":
        yield from run.round(range(len(pool)), None, 0)
        return
    n_classes = split.y_train.nunique() if config.task == CLASSIFICATION else 0
    fold_rows = min(len(train) for train, _ in folds)
    rungs = halving_schedule(
        len(pool),
        fold_rows,
        n_folds=len(folds),
        n_classes=n_classes,
        factor=plan.factor,
    )
    run.count.total = sum(r.candidates for r in rungs) * len(folds)
    alive = list(range(len(pool)))
    for number, rung in enumerate(rungs):
        done = list(run.round(alive, rung.rows, number))
        yield from done
        if number + 1 < len(rungs):
            keep = rungs[number + 1].candidates
            top = [s for s in ranked(done, plan.metric) if not s.error]
            alive = sorted(s.index for s in top[:keep])
            if not alive or (deadline is not None and clock() >= deadline):
                return


@dataclass
class _Rounds:
    """What every round of one search shares: the data (without its hold-out),
    settings, candidates, folds, where folds run, the deadline and the count."""

    split: Split
    config: TrainConfig
    pool: Sequence[Mapping[str, Any]]
    folds: Sequence[tuple[np.ndarray, np.ndarray]]
    workers: int
    guard: Guard | None
    deadline: float | None
    clock: Callable[[], float]
    count: "_FoldCount"
    spread: Spread | None = None

    def round(
        self, chosen: Sequence[int], rows: int | None, rung: int
    ) -> Iterator[Scored]:
        """Score the ``chosen`` candidates (each fold's training rows cut to
        ``rows``); yield each as it completes."""
        return _round(self, chosen, rows, rung)


def _round(
    run: _Rounds, chosen: Sequence[int], rows: int | None, rung: int
) -> Iterator[Scored]:
    """See :meth:`_Rounds.round`."""
    split, config, pool, folds = run.split, run.config, run.pool, run.folds
    guard, deadline, clock, count = run.guard, run.deadline, run.clock, run.count
    workers, spread = run.workers, run.spread
    light = split
    tasks = [(i, f) for i in chosen for f in range(len(folds))]
    pending = {i: len(folds) for i in chosen}
    found = {
        i: Scored(params=dict(pool[i]), index=i, rung=rung, rows=rows) for i in chosen
    }

    def fold_args(i: int, f: int) -> tuple[Any, ...]:
        train, test = folds[f]
        return (light, config, pool[i], train if rows is None else train[:rows], test)

    if spread is not None:

        def here(task: Mapping[str, Any]) -> dict[str, Any]:
            scores, error, seconds = score_fold(
                *fold_args(int(task["i"]), int(task["f"])), guard
            )
            return {**task, "scores": scores, "error": error, "seconds": seconds}

        sent = [
            {"i": i, "f": f, "params": dict(pool[i]), "rows": rows} for i, f in tasks
        ]
        results = (
            (r["i"], r["f"], r["scores"], r["error"], r["seconds"])
            for r in _until(spread(sent, here), deadline, clock)
        )
    elif workers <= 1:  # here, on one thread, as a training fits
        results: Iterator[Any] = _here(
            (i, f, *score_fold(*fold_args(i, f), guard))
            for i, f in tasks
            if deadline is None or clock() < deadline
        )
    else:
        from joblib import Parallel, delayed

        results = Parallel(
            n_jobs=workers, return_as="generator_unordered", pre_dispatch="2*n_jobs"
        )(
            delayed(_tagged)(i, f, fold_args(i, f), guard)
            for i, f in tasks
            if deadline is None or clock() < deadline
        )
    for i, f, scores, error, seconds in results:
        count.one_more()
        item = found[i]
        if i not in pending:  # a fold of a candidate that already failed
            continue
        item.fit_seconds += seconds
        if error is not None:
            item.error, item.folds = error, []
            del pending[i]
            yield item
            continue
        item.folds.append(dict(scores, fold=f))
        pending[i] -= 1
        if not pending[i]:
            del pending[i]
            item.folds.sort(key=lambda s: s["fold"])
            for each in item.folds:
                each.pop("fold")
            yield item


def _until(
    results: Iterator[Any], deadline: float | None, clock: Callable[[], float]
) -> Iterator[Any]:
    """``results`` until ``deadline`` (then closed: what was sent is withdrawn)."""
    try:
        for result in results:
            yield result
            if deadline is not None and clock() >= deadline:
                return
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _here(results: Iterator[Any]) -> Iterator[Any]:
    """``results``, computed with one BLAS/OpenMP thread (loky's workers already
    have one each: the machine's threads over the workers)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield from results


@dataclass
class _FoldCount:
    """Folds fitted so far, of how many, and who hears of each."""

    done: int
    total: int
    hear: Callable[[int, int], None] | None

    def one_more(self) -> None:
        self.done += 1
        if self.hear is not None:
            self.hear(self.done, self.total)


def _tagged(
    i: int, f: int, args: tuple[Any, ...], guard: Guard | None
) -> tuple[Any, ...]:
    return (i, f, *score_fold(*args, guard))
