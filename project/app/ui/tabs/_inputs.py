"""Request values in the shape the callbacks expect; anything else counts as unset.

Dash hands a callback whatever JSON a request carries, and a script can send a
list where a column name belongs. These helpers turn values of the wrong type
into ``None`` (or an empty list or dict), so that the callbacks treat them as
"nothing chosen" instead of failing with a server error.
"""

from __future__ import annotations

from typing import Any

from dash import ctx
from dash.exceptions import MissingCallbackContextException

from app.ml import TrainConfig, TrainingError
from app.server.store import valid_run_id


def text(value: Any) -> str | None:
    """A string, or None."""
    return value if isinstance(value, str) else None


def texts(value: Any) -> list[str]:
    """The strings of a list (an empty list for anything else)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def mapping(value: Any) -> dict[str, Any]:
    """A dict, or an empty one."""
    return value if isinstance(value, dict) else {}


def records(value: Any) -> list[dict[str, Any]]:
    """The dicts of a list (an empty list for anything else)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def run_id(value: Any) -> str | None:
    """A run id (as the store makes them), or None."""
    return value if valid_run_id(value) else None


def run_ids(ticked: Any) -> list[str]:
    """The run ids of the ticked rows of the runs table."""
    found = (run_id(row.get("run")) for row in records(ticked))
    return [r for r in found if r is not None]


def named_values(input_ids: Any, values: Any) -> dict[str, Any]:
    """``{name: value}`` from pattern-matching ids and their values."""
    if not isinstance(input_ids, list) or not isinstance(values, list):
        return {}
    return {
        i["name"]: v
        for i, v in zip(input_ids, values)
        if isinstance(i, dict) and isinstance(i.get("name"), str)
    }


def triggered(component_id: str) -> bool:
    """Whether ``component_id`` is among what triggered the running callback."""
    try:
        return any(p.split(".")[0] == component_id for p in ctx.triggered_prop_ids)
    except MissingCallbackContextException:
        return False


def triggered_id() -> Any:
    """The id of the component that triggered the running callback, or None."""
    try:
        return ctx.triggered_id
    except MissingCallbackContextException:
        return None


def train_config(
    target: Any,
    task: Any,
    features: Any,
    model: Any,
    param_values: Any,
    param_ids: Any,
    test_size: Any,
    stratify: Any,
    seed: Any,
    folds: Any,
    time_column: Any,
) -> TrainConfig:
    """The training settings of the model card's controls (values from the page:
    every one checked). Raises TrainingError with a message for the visitor."""
    config = TrainConfig(
        target=text(target) or "",
        features=tuple(texts(features)),
        task=text(task) or "",
        model=text(model) or "",
        params=named_values(param_ids, param_values),
        test_size=number(test_size, "The hold-out size", 0.25),
        stratify=bool(stratify),
        cv_folds=whole(folds, "CV folds"),
        random_state=whole(seed, "Seed"),
        time_column=text(time_column) or None,
    )
    if not config.target:
        raise TrainingError("Choose a target column first.")
    return config


def whole(value: Any, label: str) -> int:
    """A whole number from a form field (empty: 0); TrainingError naming it."""
    try:
        return int(value if value not in (None, "") else 0)
    except (TypeError, ValueError, OverflowError):
        raise TrainingError(f"{label} must be a whole number.") from None


def number(value: Any, label: str, default: float) -> float:
    """A number from a form field (empty: ``default``); TrainingError naming it."""
    try:
        return float(value if value not in (None, "") else default)
    except (TypeError, ValueError, OverflowError):
        raise TrainingError(f"{label} must be a number.") from None
