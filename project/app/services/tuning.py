"""What a visitor's search does to their session: run it, keep each candidate as
it ends, and make the best one an ordinary run.

A session keeps its latest search (its plan, settings and every candidate
scored) under one key, rewritten as each candidate ends, so that a search
stopped in the middle (cancelled, out of time, its job lost) keeps what it
found, and "Use best" can refit it later.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import secrets
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping

from app.ml import METRIC_LABELS, MODEL_SPECS, TrainConfig, TrainingError, split_data
from app.ml import tuning as T
from app.ml.training import cv_splits
from app.server.spread import FOLD_TASK
from app.server.store import SessionExpired, SessionStore

log = logging.getLogger(__name__)

#: Candidates of one search shown and kept in a tuned run's report.
REPORTED_CANDIDATES = 50


def _key(store: SessionStore, sid: str) -> str:
    store.session(sid)  # refuses a malformed or forged session id
    return f"search:{sid}"


def latest_search(store: SessionStore, sid: str) -> dict[str, Any] | None:
    """The session's latest search record, or None."""
    record = store.recall(_key(store, sid))
    return record if isinstance(record, dict) else None


def forget_search(store: SessionStore, sid: str) -> None:
    """Forget the session's latest search record."""
    store.drop(_key(store, sid))


def _save(store: SessionStore, sid: str, record: dict[str, Any]) -> None:
    store.remember(_key(store, sid), record)


def total_fits(
    plan: T.Plan, n_candidates: int, n_rows: int, n_folds: int, n_classes: int
) -> int:
    """How many candidate evaluations the search makes (every round's)."""
    if plan.strategy != "halving":
        return n_candidates
    rungs = T.halving_schedule(
        n_candidates, n_rows, n_folds=n_folds, n_classes=n_classes, factor=plan.factor
    )
    return sum(r.candidates for r in rungs)


def run_search(
    store: SessionStore,
    sid: str,
    config: TrainConfig,
    plan: T.Plan,
    *,
    workers: int = 1,
    guard: T.Guard | None = None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
    spread: Callable[[dict[str, Any]], T.Spread] | None = None,
) -> dict[str, Any]:
    """Run ``plan`` on the session's data; keep the record after each candidate
    and hand it to ``on_update`` (and to ``on_fold`` after each fold, with its
    ``folds_done`` and ``folds_total``). ``spread``, when given, makes from the
    search's data and settings (JSON) what runs its folds elsewhere (Celery
    workers, see :func:`app.server.spread.celery_spread`). Returns the final
    record.

    Raises
    ------
    TrainingError
        The data, settings or plan do not allow a search (message for the visitor).
    SessionExpired
        Nothing is loaded, or it expired.
    """
    if config.model not in MODEL_SPECS:
        raise TrainingError("Choose a model first.")
    if plan.metric not in T.SEARCH_METRICS.get(config.task, ()):
        raise TrainingError(
            f"{METRIC_LABELS.get(plan.metric, plan.metric)} does not score a "
            f"{config.task}."
        )
    meta, frame = store.dataset_frame(sid)
    split = split_data(frame, config)
    try:
        pool = plan.candidates()
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    folds = int(config.cv_folds)
    n_classes = split.y_train.nunique() if config.task == "classification" else 0
    fold_rows = int(len(split.y_train) * (folds - 1) / folds) if folds > 1 else 0
    try:
        total = total_fits(plan, len(pool), fold_rows, folds, n_classes)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    record: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "plan": plan.to_dict(),
        "config": dataclasses.asdict(config),
        "dataset": meta["name"],
        "frame": meta.get("frame"),
        "n_candidates": len(pool),
        "total": total,
        "workers": workers,
        "started": time.time(),
        "seconds": 0.0,
        "state": "running",
        "scored": [],
    }
    _save(store, sid, record)
    started = time.monotonic()

    def fold_done(done: int, total: int) -> None:
        record.update(
            folds_done=done, folds_total=total, seconds=time.monotonic() - started
        )
        if on_fold is not None:
            on_fold(record)

    context = {"frame": meta.get("frame"), "config": config.to_dict()}
    for item in T.search(
        split,
        config,
        plan,
        workers=workers,
        guard=guard,
        on_fold=fold_done,
        spread=None if spread is None else spread(context),
    ):
        record["scored"].append(item.to_dict())
        record["seconds"] = time.monotonic() - started
        _save(store, sid, record)
        if on_update is not None:
            on_update(record)
    record["state"] = "done"
    record["seconds"] = time.monotonic() - started
    _save(store, sid, record)
    log.info(
        "search of %s: %d candidate evaluations in %.2f s on %d worker(s)",
        config.model,
        len(record["scored"]),
        record["seconds"],
        workers,
    )
    return record


#: The data and folds of the searches a worker process scored folds of lately.
_SPLITS: OrderedDict[str, tuple[Any, list]] = OrderedDict()


def fold_task(
    store: SessionStore,
    payload: Mapping[str, Any],
    *,
    guard: T.Guard | None = None,
    worker: str = "",
) -> dict[str, Any]:
    """Score one fold of a search sent to a worker (see
    :mod:`app.server.spread`): the stored data, split and folded as the search
    did (kept for the next folds), the candidate's parameters, the fold."""
    config = TrainConfig.from_dict(payload["config"])
    key = json.dumps([payload["frame"], payload["config"]], sort_keys=True)
    if key not in _SPLITS:
        frame = store.get_frame(str(payload["frame"]))
        split = split_data(frame, config)
        _SPLITS[key] = (split, cv_splits(split.y_train, config))
        while len(_SPLITS) > 2:
            _SPLITS.popitem(last=False)
    _SPLITS.move_to_end(key)
    split, folds = _SPLITS[key]
    train, test = folds[int(payload["f"])]
    rows = payload.get("rows")
    scores, error, seconds = T.score_fold(
        split,
        config,
        payload["params"],
        train if rows is None else train[: int(rows)],
        test,
        guard,
    )
    return {"scores": scores, "error": error, "seconds": seconds, "worker": worker}


def register_fold_task(celery_app: Any, store: SessionStore, guard: T.Guard) -> None:
    """Let ``celery_app``'s workers score search folds (each under ``guard``)."""

    @celery_app.task(name=FOLD_TASK, bind=True)
    def search_fold(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return fold_task(store, payload, guard=guard, worker=task.request.hostname)


def scored(record: Mapping[str, Any]) -> list[T.Scored]:
    """The candidates a search record holds."""
    return [T.Scored.from_dict(s) for s in record.get("scored") or ()]


def best_of(record: Mapping[str, Any]) -> T.Scored | None:
    """The best candidate of a search record, or None when none has a score."""
    return T.best(scored(record), record["plan"]["metric"])


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a tuned run keeps of its search: the plan, the candidates scored (in
    candidate order), the best, and the leaderboard's top rows."""
    metric = record["plan"]["metric"]
    items = scored(record)
    top = T.ranked(items, metric)
    chosen = best_of(record)
    final = [s for s in items if s.rung == max((x.rung for x in items), default=0)]
    rounds: dict[int, tuple[int | None, list[int]]] = {}
    for item in items:
        rounds.setdefault(item.rung, (item.rows, []))[1].append(item.index)
    return {
        "rounds": [
            [rows, sorted(chosen)] for _, (rows, chosen) in sorted(rounds.items())
        ],
        "plan": record["plan"],
        "n_candidates": record["n_candidates"],
        "evaluated": len(items),
        "scored_indices": sorted({s.index for s in items if s.rung == 0}),
        "final_indices": sorted(s.index for s in final),
        "seconds": round(float(record.get("seconds", 0.0)), 3),
        "best": (
            None
            if chosen is None
            else {
                "index": chosen.index,
                "params": chosen.params,
                "cv_mean": chosen.score(metric)[0],
                "cv_std": chosen.score(metric)[1],
            }
        ),
        "leaderboard": leaderboard_rows(top[:REPORTED_CANDIDATES], metric),
    }


def leaderboard_rows(items: list[T.Scored], metric: str) -> list[dict[str, Any]]:
    """Rows of the search leaderboard (ranked first to last)."""
    rows = []
    for rank, item in enumerate(T.ranked(items, metric), start=1):
        mean, std = item.score(metric)
        rows.append(
            {
                "id": f"{item.rung}-{item.index}",
                "rank": rank if math.isfinite(mean) else None,
                "candidate": item.index + 1,
                "round": item.rung + 1,
                "rows": item.rows,
                "params": ", ".join(f"{k}={_short(v)}" for k, v in item.params.items()),
                "cv": f"{mean:.4f} ± {std:.4f}" if math.isfinite(mean) else "—",
                "cv_mean": mean if math.isfinite(mean) else None,
                "fit_seconds": round(item.fit_seconds, 2),
                "status": "failed: " + item.error if item.error else "scored",
            }
        )
    return rows


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "none" if value is None else str(value)


def progress_text(
    record: Mapping[str, Any],
    elapsed: float | None = None,
    left: float | None = None,
) -> str:
    """ "N of M candidates · best <metric> X · about T left", at ``elapsed``
    seconds into the search (by default: when the record was last updated);
    ``left`` says T when the caller knows better than :func:`time_left`."""
    metric = record["plan"]["metric"]
    done, total = len(record.get("scored") or ()), int(record.get("total") or 0)
    parts = [f"{done} of {total} candidates"]
    chosen = best_of(record)
    if chosen is not None:
        label = METRIC_LABELS[metric].split(" (")[0]
        parts.append(f"best {label} {chosen.score(metric)[0]:.4f}")
    left = time_left(record, elapsed) if left is None else left
    if left is not None and done < total and left >= 1:
        parts.append(f"about {_seconds(left)} left")
    elif elapsed is not None:  # past its estimate, it still moves each second
        parts.append(f"{_seconds(elapsed)} so far")
    return " · ".join(parts)


def time_left(record: Mapping[str, Any], elapsed: float | None = None) -> float | None:
    """Seconds the search will still take, from its pace so far (and its limit),
    at ``elapsed`` seconds into it (by default: its last update)."""
    done, total = len(record.get("scored") or ()), int(record.get("total") or 0)
    if record.get("folds_done"):  # finer: the folds
        done, total = int(record["folds_done"]), int(record["folds_total"])
    updated = float(record.get("seconds") or 0.0)
    if not done:
        return None
    now = updated if elapsed is None else max(elapsed, updated)
    left = updated / done * total - now
    limit = record["plan"].get("seconds")
    if limit:
        left = min(left, float(limit) - now)
    return max(0.0, left)


def countdown(estimate: float | None, said: float | None, tick: bool) -> float | None:
    """The time left to say, from the ``estimate`` and what was ``said`` last:
    the estimate moves back a little each time a fold ends, so within two
    seconds above what was said, the countdown holds (and on a ``tick``, once a
    second, goes down by one) instead of standing still or going back up."""
    if estimate is None or said is None:
        return estimate
    if 0 <= estimate - said < 2 or round(estimate) == round(said):
        return said - 1 if tick else said
    return estimate


def _seconds(value: float) -> str:
    """``75`` -> ``"1 min 15 s"``, ``4`` -> ``"4 s"`` (to the second: it counts
    down as the visitor watches)."""
    whole = max(1, round(value))
    minutes, seconds = divmod(whole, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def use_best(
    store: SessionStore,
    sid: str,
    train: Callable[..., tuple[str, dict]],
    **options: Any,
) -> tuple[str, dict]:
    """Refit the latest search's best candidate on the whole training part, score
    it on the hold-out and keep it as a run marked as tuned (``train`` is
    :func:`app.services.train`). Returns (run id, report).

    Raises
    ------
    TrainingError
        No search, or none of its candidates has a score.
    SessionExpired
        The session or its data expired.
    """
    record = latest_search(store, sid)
    if record is None:
        raise TrainingError("Run a search first.")
    chosen = best_of(record)
    if chosen is None:
        raise TrainingError("No candidate of the search has a score yet.")
    config = TrainConfig(**record["config"])
    tuned = dataclasses.replace(config, params={**config.params, **chosen.params})
    meta = store.dataset(sid)
    if meta.get("frame") != record.get("frame"):
        raise SessionExpired(
            "The data changed since this search: run the search again on it."
        )
    extra = {"search": summary(record), "tuned": sorted(chosen.params)}
    # Scored on every row of the same folds: its CV scores are the run's.
    known = chosen.folds if chosen.rows is None else None
    return train(store, sid, tuned, extra=extra, fold_scores=known, **options)
