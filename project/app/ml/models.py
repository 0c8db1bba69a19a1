"""The table of model specs and the preprocessing + model pipeline built from it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter control: what the UI shows and how values are checked.

    ``kind`` is ``"int"``, ``"float"``, ``"choice"`` or ``"bool"``. For numbers,
    ``none_label`` (when set) means an empty input stands for ``None``.
    """

    name: str
    label: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    options: tuple[Any, ...] = ()
    none_label: str | None = None
    help: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """A model offered in the UI: its estimator per task and its main parameters."""

    key: str
    label: str
    estimators: Mapping[str, str]
    params: tuple[ParamSpec, ...] = ()
    fixed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    scale: bool = True
    row_limit: int | None = None
    calibrated: frozenset[str] = frozenset()

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this model can do."""
        return tuple(task for task in TASKS if task in self.estimators)


#: A choice that leaves the parameter to scikit-learn, whose default can differ
#: by task (the random forest's ``max_features``).
SKLEARN_DEFAULT = "default"
_C = ParamSpec("C", "Regularisation C (higher = less)", "float", 1.0, 1e-4, 1e4, None)
_MAX_DEPTH = ParamSpec(
    "max_depth", "Max depth", "int", None, 1, 100, 1, none_label="no limit"
)

MODEL_SPECS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            "logistic_regression",
            "Logistic regression",
            {CLASSIFICATION: "sklearn.linear_model:LogisticRegression"},
            (
                _C,
                ParamSpec(
                    "class_weight",
                    "Class weights",
                    "choice",
                    None,
                    options=(None, "balanced"),
                ),
            ),
            fixed={CLASSIFICATION: {"max_iter": 2000}},
        ),
        ModelSpec(
            "linear_regression",
            "Linear regression",
            {REGRESSION: "sklearn.linear_model:LinearRegression"},
            (ParamSpec("fit_intercept", "Fit intercept", "bool", True),),
        ),
        ModelSpec(
            "ridge",
            "Ridge regression",
            {REGRESSION: "sklearn.linear_model:Ridge"},
            (ParamSpec("alpha", "Alpha (penalty)", "float", 1.0, 0.0, 1e6),),
        ),
        ModelSpec(
            "lasso",
            "Lasso regression",
            {REGRESSION: "sklearn.linear_model:Lasso"},
            (ParamSpec("alpha", "Alpha (penalty)", "float", 1.0, 1e-6, 1e6),),
            fixed={REGRESSION: {"max_iter": 10_000}},
        ),
        ModelSpec(
            "knn",
            "k-nearest neighbours",
            {
                CLASSIFICATION: "sklearn.neighbors:KNeighborsClassifier",
                REGRESSION: "sklearn.neighbors:KNeighborsRegressor",
            },
            (
                ParamSpec("n_neighbors", "Neighbours (k)", "int", 5, 1, 200, 1),
                ParamSpec(
                    "weights",
                    "Weights",
                    "choice",
                    "uniform",
                    options=("uniform", "distance"),
                ),
            ),
            row_limit=200_000,
        ),
        ModelSpec(
            "svm",
            "Support vector machine",
            {CLASSIFICATION: "sklearn.svm:SVC", REGRESSION: "sklearn.svm:SVR"},
            (
                _C,
                ParamSpec(
                    "kernel",
                    "Kernel",
                    "choice",
                    "rbf",
                    options=("rbf", "linear", "poly", "sigmoid"),
                ),
                ParamSpec(
                    "gamma", "Gamma", "choice", "scale", options=("scale", "auto")
                ),
            ),
            row_limit=20_000,
            # Probabilities by Platt scaling on internal folds, the way
            # SVC(probability=True) did before scikit-learn deprecated it.
            calibrated=frozenset({CLASSIFICATION}),
        ),
        ModelSpec(
            "decision_tree",
            "Decision tree",
            {
                CLASSIFICATION: "sklearn.tree:DecisionTreeClassifier",
                REGRESSION: "sklearn.tree:DecisionTreeRegressor",
            },
            (
                _MAX_DEPTH,
                ParamSpec("min_samples_leaf", "Min samples per leaf", "int", 1, 1, 500),
            ),
            scale=False,
        ),
        ModelSpec(
            "random_forest",
            "Random forest",
            {
                CLASSIFICATION: "sklearn.ensemble:RandomForestClassifier",
                REGRESSION: "sklearn.ensemble:RandomForestRegressor",
            },
            (
                ParamSpec("n_estimators", "Trees", "int", 100, 1, 1000, 10),
                _MAX_DEPTH,
                ParamSpec("min_samples_leaf", "Min samples per leaf", "int", 1, 1, 500),
                ParamSpec(
                    "max_features",
                    "Features per split",
                    "choice",
                    SKLEARN_DEFAULT,
                    options=(SKLEARN_DEFAULT, "sqrt", "log2", 1.0),
                    help="default: scikit-learn's own, the square root of the "
                    "features for classes, all of them (1.0) for quantities",
                ),
            ),
            scale=False,
        ),
        ModelSpec(
            "hist_gradient_boosting",
            "Histogram gradient boosting",
            {
                CLASSIFICATION: "sklearn.ensemble:HistGradientBoostingClassifier",
                REGRESSION: "sklearn.ensemble:HistGradientBoostingRegressor",
            },
            (
                ParamSpec("learning_rate", "Learning rate", "float", 0.1, 1e-4, 1.0),
                ParamSpec("max_iter", "Boosting iterations", "int", 100, 1, 2000, 10),
                ParamSpec("max_leaf_nodes", "Max leaves per tree", "int", 31, 2, 512),
                _MAX_DEPTH,
            ),
            scale=False,
        ),
        ModelSpec(
            "naive_bayes",
            "Gaussian naive Bayes",
            {CLASSIFICATION: "sklearn.naive_bayes:GaussianNB"},
            (
                ParamSpec(
                    "var_smoothing", "Variance smoothing", "float", 1e-9, 0.0, 1.0
                ),
            ),
        ),
    )
}

DEFAULT_MODEL = {CLASSIFICATION: "logistic_regression", REGRESSION: "ridge"}
#: Columns one-hot encoding makes of one text feature, at most (rare values grouped).
MAX_CATEGORIES = 30
#: The numbers a date feature becomes, in this order: the year, the month (1-12),
#: the day of the month (1-31) and the day of the week (Monday 0 to Sunday 6);
#: then the hour (0-23) for a date column whose training values have times of day.
DATE_PARTS = ("year", "month", "day", "day_of_week")
HOUR = "hour"


def date_parts(x: Any, timed: Sequence[str] = ()) -> np.ndarray:
    """The date columns of ``x`` as numbers: :data:`DATE_PARTS` of each, and its
    hour too when it is named in ``timed``. A missing date (or a value that is
    not one) gives missing parts, which the pipeline imputes.

    Module-level, so that a pipeline holding it (in a ``FunctionTransformer``)
    can be written to a skops file and loaded again by name.
    """
    frame = x if isinstance(x, pd.DataFrame) else pd.DataFrame(x)
    columns = []
    for name in frame.columns:
        when = _as_dates(frame[name]).dt
        parts = DATE_PARTS + ((HOUR,) if name in timed else ())
        for part in parts:
            values = getattr(when, part)
            columns.append(values.to_numpy(dtype="float64", na_value=np.nan))
    if not columns:
        return np.empty((len(frame), 0))
    return np.column_stack(columns)


def date_part_names(transformer: Any, input_features: Any) -> list[str]:
    """The names of the columns :func:`date_parts` makes (``when_year``, ...),
    for ``FunctionTransformer(feature_names_out=...)``."""
    timed = (getattr(transformer, "kw_args", None) or {}).get("timed", ())
    return [
        f"{name}_{part}"
        for name in input_features
        for part in DATE_PARTS + ((HOUR,) if name in timed else ())
    ]


def _as_dates(values: pd.Series) -> pd.Series:
    """A column as datetimes: as it is when it holds them, else parsed (what is
    not a date becomes missing; mixed time zones are compared in UTC)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    try:
        return pd.to_datetime(values, errors="coerce")
    except (TypeError, ValueError):
        return pd.to_datetime(values, errors="coerce", utc=True)


def models_for_task(task: str) -> list[str]:
    """Keys of the models that can do ``task``, in display order."""
    return [key for key, spec in MODEL_SPECS.items() if task in spec.estimators]


def default_params(model_key: str) -> dict[str, Any]:
    """The default value of every UI parameter of a model."""
    return {p.name: p.default for p in MODEL_SPECS[model_key].params}


def validate_params(model_key: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check and convert UI values to estimator parameters.

    Unknown names are ignored; missing ones take their default. Raises
    ``ValueError`` with a message naming the control when a value is not allowed.
    """
    spec = MODEL_SPECS[model_key]
    clean: dict[str, Any] = {}
    for param in spec.params:
        raw = values.get(param.name, param.default)
        clean[param.name] = _coerce(param, raw)
    return clean


def _coerce(param: ParamSpec, raw: Any) -> Any:
    if param.kind == "bool":
        return bool(raw)
    if param.kind == "choice":
        for option in param.options:
            if raw == option or str(raw) == str(option):
                return option
        raise ValueError(f"{param.label}: choose one of {_names(param.options)}.")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if param.none_label is not None:
            return None
        raise ValueError(f"{param.label}: a value is needed.")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{param.label}: {raw!r} is not a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{param.label}: {raw!r} is not a finite number.")
    if param.kind == "int":
        if number != int(number):
            raise ValueError(f"{param.label}: must be a whole number.")
        number = int(number)
    if param.low is not None and number < param.low:
        raise ValueError(f"{param.label}: must be at least {param.low:g}.")
    if param.high is not None and number > param.high:
        raise ValueError(f"{param.label}: must be at most {param.high:g}.")
    return number


def _names(options: Sequence[Any]) -> str:
    return ", ".join("none" if o is None else str(o) for o in options)


def make_estimator(
    model_key: str,
    task: str,
    params: Mapping[str, Any] | None = None,
    *,
    random_state: int = 0,
) -> Any:
    """Instantiate the (unfitted) estimator of a model for a task."""
    spec = MODEL_SPECS[model_key]
    if task not in spec.estimators:
        raise ValueError(f"{spec.label} cannot do {task}.")
    module_name, class_name = spec.estimators[task].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = dict(spec.fixed.get(task, {}))
    chosen = validate_params(model_key, params or {})
    kwargs.update({k: v for k, v in chosen.items() if v != SKLEARN_DEFAULT})
    if "random_state" in cls._get_param_names():
        kwargs["random_state"] = random_state
    estimator = cls(**kwargs)
    if task in spec.calibrated:
        from sklearn.calibration import CalibratedClassifierCV

        return CalibratedClassifierCV(estimator, ensemble=False)
    return estimator


def build_pipeline(
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    model_key: str,
    task: str,
    params: Mapping[str, Any] | None = None,
    random_state: int = 0,
    boolean: Sequence[str] = (),
    dates: Sequence[str] = (),
    timed: Sequence[str] = (),
) -> Any:
    """Preprocessing (impute, scale, one-hot, 0/1, date parts) followed by the
    model, as a Pipeline.

    Numeric columns are median-imputed (and standardised for models that need it);
    categorical columns are imputed with their most frequent value and one-hot
    encoded, unknown categories ignored and rare ones grouped. Boolean columns
    become one 0/1 column each (False 0, True 1, whatever the training data
    holds), a missing or unknown value imputed with the most frequent one.
    Date columns become their :data:`DATE_PARTS` (and the hour, for those named
    in ``timed``) by :func:`date_parts`, then are treated as numbers.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    spec = MODEL_SPECS[model_key]
    numeric_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median"))
    ]
    if spec.scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="most_frequent")),
        (
            "onehot",
            OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                max_categories=MAX_CATEGORIES,
                sparse_output=False,
            ),
        ),
    ]
    # The encoder comes first: the imputer refuses numpy bools. A gap (and any
    # value that is not a boolean) is coded -1, then imputed.
    boolean_steps = [
        (
            "encode",
            OrdinalEncoder(
                categories=[[False, True] for _ in boolean],
                handle_unknown="use_encoded_value",
                unknown_value=-1,
                encoded_missing_value=-1,
            ),
        ),
        ("impute", SimpleImputer(missing_values=-1, strategy="most_frequent")),
    ]
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), list(numeric)))
    if categorical:
        transformers.append(
            ("categorical", Pipeline(categorical_steps), list(categorical))
        )
    if boolean:
        transformers.append(("boolean", Pipeline(boolean_steps), list(boolean)))
    if dates:
        with_hours = [c for c in dates if c in timed]
        date_steps: list[tuple[str, Any]] = [
            (
                "parts",
                FunctionTransformer(
                    date_parts,
                    kw_args={"timed": with_hours} if with_hours else None,
                    feature_names_out=date_part_names,
                ),
            ),
            ("impute", SimpleImputer(strategy="median")),
        ]
        if spec.scale:
            date_steps.append(("scale", StandardScaler()))
        transformers.append(("dates", Pipeline(date_steps), list(dates)))
    if not transformers:
        raise ValueError("Choose at least one feature.")
    preprocess = ColumnTransformer(transformers, remainder="drop")
    model = make_estimator(model_key, task, params, random_state=random_state)
    return Pipeline([("preprocess", preprocess), ("model", model)])
