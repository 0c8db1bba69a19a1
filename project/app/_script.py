"""The code that reproduces a run: a standalone script that retrains its pipeline.

Part of the pure layer: it only writes Python source text. The script needs numpy,
pandas (pyarrow for Parquet) and scikit-learn, never this app. Values that come from
a visitor (column names, the file name) are written as string literals escaped
character by character, so that they can never become code.
"""

from __future__ import annotations

import importlib
import math
import numbers
import re
import textwrap
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ._datasets import DATASETS, MAX_SYNTHETIC_FEATURES, MAX_SYNTHETIC_ROWS, TARGET
from ._models import CLASSIFICATION, MODEL_SPECS, REGRESSION, validate_params

__all__ = ["make_training_script"]

LINE_LENGTH = 88
_IN = "    "  # one level of indentation
_FLOAT32_ROWS = 100_000  # _datasets._generate stores bigger frames as float32
_SHIPPED_LOADERS = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "digits": "load_digits",
    "diabetes": "load_diabetes",
}
_NAMED_CLASSES = ("iris", "wine", "breast_cancer")
_PLAIN_NAME = re.compile(r"[\w .,:;()/%+-]{1,40}")
_STDLIB = frozenset({"argparse", "json", "re"})
# Wide characters black counts as two columns and writes as they are: CJK only.
_WIDE_RANGES = (
    (0x3040, 0x30FF),  # kana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK ideographs
    (0xAC00, 0xD7A3),  # hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF01, 0xFF60),  # fullwidth forms
)
_ZERO_WIDTH = frozenset({"Mn", "Mc", "Me", "Cf", "Zl", "Zp"})


def make_training_script(
    report: Mapping[str, Any],
    *,
    source: Mapping[str, Any],
    filename: str = "reproduce.py",
) -> str:
    """Python source of a standalone script that reproduces a run.

    Parameters
    ----------
    report : mapping
        ``TrainedRun.report`` of :func:`app._training.train_model`: its ``config``,
        ``numeric_features`` and ``categorical_features`` are used.
    source : mapping
        Where the data comes from: ``{"kind": "bundled", "key": ..., "params":
        {...}}`` (``params`` are keyword arguments of ``load_bundled``) or
        ``{"kind": "file", "filename": "<name>.parquet"}`` (the data as the app used
        it, offered as a Parquet download).
    filename : str
        The name the script is saved under, for its usage text.

    Returns
    -------
    str
        The script. It rebuilds the data, split, folds and pipeline, retrains and
        prints the app's metrics (a table, or JSON with ``--json``).

    Raises
    ------
    ValueError
        When the report or the source does not describe a run of this app.
    """
    run = _run_from(report)
    data = _data_source(source)
    spec = MODEL_SPECS[run.model_key]
    model = _estimator(run)
    title = f"Reproduce a Dashboard run: {spec.label} on {data.name}."

    imports = _Imports()
    for module in ("argparse", "json", "numpy as np", "pandas as pd"):
        imports.add(module)
    imports.add("sklearn", "metrics")
    imports.add("sklearn.compose", "ColumnTransformer")
    imports.add("sklearn.impute", "SimpleImputer")
    imports.add("sklearn.pipeline", "Pipeline")
    imports.add("sklearn.model_selection", "train_test_split")
    imports.add(model.module, model.name)
    if model.calibrated:
        imports.add("sklearn.calibration", "CalibratedClassifierCV")
    if run.numeric and spec.scale:
        imports.add("sklearn.preprocessing", "StandardScaler")
    if run.categorical:
        imports.add("sklearn.preprocessing", "OneHotEncoder")
    if run.cv_folds:
        imports.add("sklearn.base", "clone")
        splitter = "StratifiedKFold" if run.is_clf else "KFold"
        imports.add("sklearn.model_selection", splitter)
    for module, name in data.imports:
        imports.add(module, name)

    sections = [
        _section("1. Load the data", data.code),
        _section("2. Choose the rows and the features", _select_code(run)),
        _section("3. Split off the hold-out part", _split_code(run)),
        _section("4. Build the pipeline", _pipeline_code(run, spec.scale, model)),
        _section("5. Cross-validate on the training part", _cv_code(run)),
        _section("6. Score: the app's metrics", _score_code(run, model)),
        _section("7. Fit, evaluate, report", _main_code(run, data)),
    ]
    return (
        _docstring(run, title, model, data, _safe_filename(filename))
        + "\n\n"
        + imports.render()
        + "\n\n"
        + _constants(run, data)
        + "\n\n\n"
        + "\n\n\n".join(sections)
        + '\n\n\nif __name__ == "__main__":\n    main()\n'
    )


# --------------------------------------------------------------------------- #
# What the script is made of
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Run:
    """The settings of a run, as the script writes them down."""

    target: str
    task: str
    model_key: str
    params: Mapping[str, Any]
    numeric: list[str]
    categorical: list[str]
    unused: list[str]  # chosen features the app left out: date columns
    test_size: float
    stratify: bool
    cv_folds: int
    seed: int | None

    @property
    def is_clf(self) -> bool:
        """Whether the run is a classification."""
        return self.task == CLASSIFICATION


@dataclass(frozen=True)
class _Model:
    """The estimator: its class, module and keyword arguments."""

    name: str
    module: str
    kwargs: dict[str, Any]
    has_proba: bool
    calibrated: bool = False


@dataclass(frozen=True)
class _Data:
    """How the script gets its data."""

    name: str  # for the title
    description: str  # for the docstring
    code: str  # the load_data function (and helpers)
    imports: list[tuple[str, str]] = field(default_factory=list)
    filename: str | None = None  # the Parquet file, for file sources


class _Imports:
    """Import statements, rendered in isort's order (profile black)."""

    def __init__(self) -> None:
        self.plain: set[str] = set()
        self.names: dict[str, set[str]] = {}

    def add(self, module: str, name: str = "") -> None:
        """``import module`` (``module`` may be ``"x as y"``) or ``from ... import``."""
        if name:
            self.names.setdefault(module, set()).add(name)
        else:
            self.plain.add(module)

    def render(self) -> str:
        """Standard library, then third party; in each, ``import`` lines first."""
        sections: dict[bool, list[str]] = {True: [], False: []}
        for module in sorted(self.plain, key=_module_key):
            sections[_is_stdlib(module)].append(f"import {module}")
        for module in sorted(self.names, key=_module_key):
            names = ", ".join(sorted(self.names[module], key=_name_key))
            sections[_is_stdlib(module)].append(f"from {module} import {names}")
        blocks = ["\n".join(sections[key]) for key in (True, False) if sections[key]]
        return "\n\n".join(blocks)


def _is_stdlib(module: str) -> bool:
    return module.split(".")[0].split()[0] in _STDLIB


def _module_key(module: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in module.split()[0].split("."))


def _name_key(name: str) -> tuple[int, str]:
    # isort's order_by_type: CONSTANTS, then Classes, then functions.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
    return kind, name.lower()


def _run_from(report: Mapping[str, Any]) -> _Run:
    config = report["config"]
    task = config["task"]
    model_key = config["model"]
    if model_key not in MODEL_SPECS:
        raise ValueError(f"Unknown model {model_key!r}.")
    if task not in (CLASSIFICATION, REGRESSION):
        raise ValueError(f"Unknown task {task!r}.")
    if task not in MODEL_SPECS[model_key].estimators:
        raise ValueError(f"{MODEL_SPECS[model_key].label} cannot do {task}.")
    numeric = [str(name) for name in report["numeric_features"]]
    categorical = [str(name) for name in report["categorical_features"]]
    if not numeric and not categorical:
        raise ValueError("The run has no usable feature columns.")
    used = {config["target"], *numeric, *categorical}
    unused = [str(f) for f in config.get("features", ()) if f not in used]
    folds = int(config["cv_folds"])
    return _Run(
        target=str(config["target"]),
        task=task,
        model_key=model_key,
        params=dict(config.get("params") or {}),
        numeric=numeric,
        categorical=categorical,
        unused=unused,
        test_size=float(config["test_size"]),
        stratify=task == CLASSIFICATION and bool(config["stratify"]),
        cv_folds=0 if folds in (0, 1) else folds,  # 0 and 1 both mean "off"
        seed=_plain_seed(config["random_state"]),
    )


def _plain_seed(seed: Any) -> int | None:
    """The seed as a plain int (numpy integers included), or None."""
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral):
        return int(seed)
    raise ValueError(f"The random seed must be a whole number, not {seed!r}.")


def _estimator(run: _Run) -> _Model:
    """The estimator exactly as ``_models.make_estimator`` instantiates it."""
    spec = MODEL_SPECS[run.model_key]
    module_name, class_name = spec.estimators[run.task].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = dict(spec.fixed.get(run.task, {}))
    kwargs.update(validate_params(run.model_key, run.params))
    if "random_state" in cls._get_param_names():
        kwargs["random_state"] = run.seed
    calibrated = run.task in spec.calibrated
    has_proba = run.is_clf and (calibrated or hasattr(cls(**kwargs), "predict_proba"))
    return _Model(class_name, module_name, kwargs, has_proba, calibrated)


# --------------------------------------------------------------------------- #
# The data source
# --------------------------------------------------------------------------- #


def _data_source(source: Mapping[str, Any]) -> _Data:
    kind = source.get("kind")
    if kind == "file":
        filename = str(source.get("filename") or "data.parquet")
        return _Data(
            name="an uploaded file",
            description=(
                "the data the app trained on (after cleaning), downloaded from it "
                f"as a Parquet file ({_display(filename, 'DATA_FILE')})"
            ),
            code=_FILE_CODE,
            filename=filename,
        )
    if kind != "bundled":
        raise ValueError(f"Unknown data source {kind!r}.")
    key = source.get("key")
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {key!r}.")
    if not DATASETS[key].synthetic:
        return _shipped(key)
    return _synthetic(key, dict(source.get("params") or {}))


_FILE_CODE = '''
def load_data(path: str) -> pd.DataFrame:
    """The data exactly as the app used it (cleaned), from its Parquet download."""
    return pd.read_parquet(path)
'''

_SNAKE_CODE = '''
def snake_case(name: object) -> str:
    """'sepal length (cm)' -> 'sepal_length_cm', as the app names columns."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
'''


def _shipped(key: str) -> _Data:
    """``_datasets._load_shipped``: scikit-learn's copy, renamed as the app does."""
    loader = _SHIPPED_LOADERS[key]
    label = DATASETS[key].label
    name = label.split(" (")[0]
    target = _literal(TARGET)
    lines = [
        "def load_data() -> pd.DataFrame:",
        f'{_IN}"""{name}, with the column names the app gives them."""',
        f"{_IN}bunch = {loader}(as_frame=True)",
        f"{_IN}data = bunch.frame.copy()",
        f"{_IN}data.columns = [snake_case(name) for name in data.columns]",
        f"{_IN}target = data.pop({target}).to_numpy()",
    ]
    if key in _NAMED_CLASSES:
        lines.append(
            f"{_IN}target = np.asarray(bunch.target_names)[target]  # names, not codes"
        )
    lines += [f"{_IN}data[{target}] = target", f"{_IN}return data"]
    return _Data(
        name=name,
        description=f"{label}, as shipped with scikit-learn (no download needed)",
        code="\n".join(lines) + "\n\n" + _SNAKE_CODE,
        imports=[("re", ""), ("sklearn.datasets", loader)],
    )


def _synthetic(key: str, params: Mapping[str, Any]) -> _Data:
    """``_datasets._generate``, with the defaults ``load_bundled`` applies."""
    spec = DATASETS[key]
    rows = int(params.get("n_samples") or spec.default_rows)
    features = int(params.get("n_features") or spec.default_features)
    noise = params.get("noise")
    level = spec.default_noise if noise is None else float(noise)
    seed = int(params.get("random_state") or 0)
    if not 10 <= rows <= MAX_SYNTHETIC_ROWS:
        raise ValueError(f"Rows must be between 10 and {MAX_SYNTHETIC_ROWS:,}.")
    if not 2 <= features <= MAX_SYNTHETIC_FEATURES:
        raise ValueError(f"Features must be between 2 and {MAX_SYNTHETIC_FEATURES}.")
    if level < 0:
        raise ValueError("Noise must not be negative.")
    kwargs: dict[str, Any] = {"n_samples": rows}
    if key == "moons":
        kwargs.update(noise=level)
    elif key == "circles":
        kwargs.update(noise=level, factor=0.5)
    elif key == "blobs":
        kwargs.update(n_features=features, centers=3, cluster_std=max(level, 1e-3))
    elif key == "classification":
        informative = max(2, features // 2)
        kwargs.update(
            n_features=features,
            n_informative=informative,
            n_redundant=min(2, features - informative),
            flip_y=min(level, 0.5),
        )
    else:
        kwargs.update(
            n_features=features, n_informative=max(1, features // 2), noise=level
        )
    kwargs["random_state"] = seed
    func = f"make_{key}"
    name = spec.label.split(": ")[-1]
    lines = [
        "def load_data() -> pd.DataFrame:",
        f'{_IN}"""The {name} the app generated, made again with the same seed."""',
        *_call_lines("x, y", func, kwargs, _IN),
    ]
    if rows > _FLOAT32_ROWS:
        lines.append(f"{_IN}x = x.astype(np.float32)  # as the app stores >100k rows")
    lines += [
        f'{_IN}columns = [f"x{{i + 1}}" for i in range(x.shape[1])]',
        f"{_IN}data = pd.DataFrame(x, columns=columns)",
        f"{_IN}data[{_literal(TARGET)}] = "
        + ("y" if key == "regression" else "y.astype(np.int64)"),
        f"{_IN}return data",
    ]
    shape = (
        f"{rows:,} rows"
        if key in ("moons", "circles")
        else (f"{rows:,} rows, {features} features")
    )
    return _Data(
        name=f"synthetic {name}",
        description=(
            f"{spec.label}, generated by scikit-learn's {func} ({shape}, noise "
            f"{level:g}, seed {seed})"
        ),
        code="\n".join(lines) + "\n",
        imports=[("sklearn.datasets", func)],
    )


# --------------------------------------------------------------------------- #
# The sections of the script
# --------------------------------------------------------------------------- #


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]
    return cleaned if cleaned.endswith(".py") else "reproduce.py"


def _docstring(run: _Run, title: str, model: _Model, data: _Data, filename: str) -> str:
    import sklearn

    n_features = len(run.numeric) + len(run.categorical)
    split = f"a {run.test_size * 100:.4g}% hold-out"
    if run.stratify:
        split += " stratified by class"
    cv = (
        f"{run.cv_folds}-fold cross-validation of the training part"
        if run.cv_folds
        else "no cross-validation"
    )
    plural = "s" if n_features != 1 else ""
    paragraphs = [
        f"Data: {data.description}.",
        f"Target: {_display(run.target, 'TARGET')} ({run.task}), predicted from "
        f"{n_features} feature{plural} by {model.name}. Validation: {split}, {cv}, "
        f"random seed {run.seed!r}.",
        "The script loads the data, rebuilds the same preprocessing and model, "
        "retrains it and prints the metrics the app showed. It needs Python 3.10+, "
        + ("numpy, pandas, pyarrow" if data.filename else "numpy, pandas")
        + f" and scikit-learn (the app used scikit-learn {sklearn.__version__}; "
        "other versions may give slightly different numbers).",
    ]
    lines = [title, ""]
    for paragraph in paragraphs:
        lines += textwrap.wrap(paragraph, LINE_LENGTH - 8, break_on_hyphens=False)
        lines.append("")
    data_arg = " [--data FILE]" if data.filename else ""
    lines += [
        "Usage:",
        "",
        f"    python {filename}{data_arg}  # prints a table of the metrics",
        f"    python {filename}{data_arg} --json  # prints them as JSON",
    ]
    return '"""' + "\n".join(lines) + '\n"""'


def _constants(run: _Run, data: _Data) -> str:
    lines = ["# The run's settings, as chosen in the app."]
    if data.filename is not None:
        lines += _string_assignment("DATA_FILE", data.filename)
    lines += _string_assignment("TARGET", run.target)
    lines += _list_assignment("NUMERIC_FEATURES", run.numeric)
    lines += _list_assignment("CATEGORICAL_FEATURES", run.categorical)
    if run.unused:
        count = len(run.unused)
        lines.append(
            f"# {count} more chosen column{'s' if count > 1 else ''} held dates, which "
            "the app does not use as features."
        )
    lines.append(f"TEST_SIZE = {_value(run.test_size)}")
    if run.cv_folds:
        lines.append(f"CV_FOLDS = {run.cv_folds}")
    lines.append(f"SEED = {_value(run.seed)}")
    return "\n".join(lines)


def _section(title: str, code: str) -> str:
    """A numbered banner comment over the section's code."""
    return f"# {title} ".ljust(LINE_LENGTH - 8, "-") + "\n" + code.strip("\n")


def _select_code(run: _Run) -> str:
    if run.is_clf:
        doc = "The features and target of the rows whose target is known."
        keep = "y.notna()"
    else:
        doc = "The features and target of the rows whose target is a finite number."
        keep = "y.notna() & np.isfinite(y.to_numpy(dtype=float, na_value=np.nan))"
    return (
        _SELECT_CODE.replace("@DOC@", doc).replace("@KEEP@", keep)
        # date columns are not among the features: the app leaves them out
    )


_SELECT_CODE = '''
def select_rows(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """@DOC@"""
    y = data[TARGET]
    keep = @KEEP@
    return data.loc[keep, NUMERIC_FEATURES + CATEGORICAL_FEATURES], y[keep]
'''


def _split_code(run: _Run) -> str:
    if run.stratify:
        return '''
def split(x: pd.DataFrame, y: pd.Series) -> list:
    """Hold out TEST_SIZE of the rows, stratified when every class has 2+ rows."""
    stratify = y if y.value_counts().min() >= 2 else None
    return train_test_split(
        x, y, test_size=TEST_SIZE, stratify=stratify, random_state=SEED
    )
'''
    return '''
def split(x: pd.DataFrame, y: pd.Series) -> list:
    """Hold out TEST_SIZE of the rows (not stratified)."""
    return train_test_split(x, y, test_size=TEST_SIZE, random_state=SEED)
'''


def _pipeline_code(run: _Run, scale: bool, model: _Model) -> str:
    """``_models.build_pipeline``, written out."""
    steps = ["Imputation"]
    if scale and run.numeric:
        steps.append("scaling")
    if run.categorical:
        steps.append("one-hot encoding")
    done = steps[0] if len(steps) == 1 else f"{', '.join(steps[:-1])} and {steps[-1]}"
    lines = [
        "def build_pipeline() -> Pipeline:",
        f'{_IN}"""{done} as in the app, then the model."""',
    ]
    transformers = []
    if run.numeric:
        steps = ['("impute", SimpleImputer(strategy="median"))']
        if scale:
            steps.append('("scale", StandardScaler())')
        lines += _list_call("numeric", "Pipeline", steps)
        transformers.append('("numeric", numeric, NUMERIC_FEATURES)')
    if run.categorical:
        lines += [
            f"{_IN}# Unknown categories are ignored; rare ones are grouped.",
            f"{_IN}encoder = OneHotEncoder(",
            f'{_IN * 2}handle_unknown="infrequent_if_exist", max_categories=30, '
            "sparse_output=False",
            f"{_IN})",
        ]
        steps = ['("impute", SimpleImputer(strategy="most_frequent"))']
        steps.append('("onehot", encoder)')
        lines += _list_call("categorical", "Pipeline", steps)
        transformers.append('("categorical", categorical, CATEGORICAL_FEATURES)')
    lines.append(f"{_IN}preprocess = ColumnTransformer(")
    if len(transformers) == 1:
        lines.append(f'{_IN * 2}[{transformers[0]}], remainder="drop"')
    else:
        lines += [f"{_IN * 2}[", *(f"{_IN * 3}{t}," for t in transformers)]
        lines += [f"{_IN * 2}],", f'{_IN * 2}remainder="drop",']
    lines.append(f"{_IN})")
    lines += _call_lines("model", model.name, model.kwargs, _IN)
    if model.calibrated:
        lines += [
            f"{_IN}# Probabilities by Platt scaling on internal folds, as in the app.",
            f"{_IN}model = CalibratedClassifierCV(model, ensemble=False)",
        ]
    lines.append(
        f'{_IN}return Pipeline([("preprocess", preprocess), ("model", model)])'
    )
    return "\n".join(lines)


def _list_call(target: str, func: str, items: Sequence[str]) -> list[str]:
    """``target = func([items])``: on one line, or one item per line."""
    line = f"{_IN}{target} = {func}([{', '.join(items)}])"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = [f"{_IN * 3}{item}," for item in items]
    return [f"{_IN}{target} = {func}(", f"{_IN * 2}[", *inner, f"{_IN * 2}]", f"{_IN})"]


def _cv_code(run: _Run) -> str:
    if not run.cv_folds:
        return "# Cross-validation was off in the app (0 folds): no fold scores."
    code = _CV_CODE
    if run.is_clf:
        code = code.replace("@LABELS_ARG@", ", labels: np.ndarray")
        code = code.replace("@LABELS@", ", labels")
        code = code.replace("@SPLITTER@", "StratifiedKFold")
        code = code.replace("@KIND@", "stratified")
    else:
        code = code.replace("@LABELS_ARG@", "").replace("@LABELS@", "")
        code = code.replace("@SPLITTER@", "KFold").replace("@KIND@", "shuffled")
    return code


_CV_CODE = '''
def cross_validate(
    pipeline: Pipeline, x: pd.DataFrame, y: pd.Series@LABELS_ARG@
) -> list[dict[str, float]]:
    """Scores of a fresh copy of the pipeline on each of CV_FOLDS @KIND@ folds."""
    folds = @SPLITTER@(n_splits=CV_FOLDS, shuffle=True, random_state=SEED)
    scores = []
    for train, test in folds.split(np.zeros(len(y)), y):
        model = clone(pipeline).fit(x.iloc[train], y.iloc[train])
        scores.append(evaluate(model, x.iloc[test], y.iloc[test]@LABELS@))
    return scores
'''


def _score_code(run: _Run, model: _Model) -> str:
    """``_training.classification_metrics``/``regression_metrics`` and the summary."""
    if not run.is_clf:
        code = _REGRESSION_CODE
    elif model.has_proba:
        code = _CLASSIFICATION_CODE + _PROBA_CODE.lstrip("\n")
    else:
        code = _CLASSIFICATION_CODE + _NO_PROBA_CODE.lstrip("\n")
    header = "CV mean ± std ({CV_FOLDS} folds)" if run.cv_folds else "CV (off)"
    return code.strip("\n") + "\n\n" + _SUMMARY_CODE.replace("@CV_HEADER@", header)


_REGRESSION_CODE = '''
def evaluate(model: Pipeline, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """R², MAE, RMSE and MAPE (NaN when the target has zeros) of a fitted model."""
    y_true = y.to_numpy(dtype=float)
    y_pred = model.predict(x)
    if np.any(y_true == 0):
        mape = float("nan")
    else:
        mape = metrics.mean_absolute_percentage_error(y_true, y_pred)
    scores = {
        "r2": metrics.r2_score(y_true, y_pred),
        "mae": metrics.mean_absolute_error(y_true, y_pred),
        "rmse": metrics.root_mean_squared_error(y_true, y_pred),
        "mape": mape,
    }
    return {name: float(value) for name, value in scores.items()}
'''

_CLASSIFICATION_CODE = '''
def evaluate(
    model: Pipeline, x: pd.DataFrame, y: pd.Series, labels: np.ndarray
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC AUC and log loss of a fitted model.

    With two classes the second label (sorted) is the positive class; with more,
    precision, recall and F1 are macro averages and ROC AUC is one-vs-rest.
    """
    y_true = y.to_numpy()
    y_pred = model.predict(x)
    if len(labels) == 2:
        options = {"average": "binary", "pos_label": labels[1], "zero_division": 0}
    else:
        options = {"average": "macro", "labels": labels, "zero_division": 0}
'''

_PROBA_CODE = '''
    proba = model.predict_proba(x)  # one column per label, in sorted order
    scores = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
        "precision": metrics.precision_score(y_true, y_pred, **options),
        "recall": metrics.recall_score(y_true, y_pred, **options),
        "f1": metrics.f1_score(y_true, y_pred, **options),
        "roc_auc": roc_auc(y_true, proba, labels),
        "log_loss": metrics.log_loss(y_true, proba, labels=labels),
    }
    return {name: float(value) for name, value in scores.items()}


def roc_auc(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (one-vs-rest for more than two classes), NaN when undefined."""
    try:
        if len(labels) == 2:
            return metrics.roc_auc_score(y_true == labels[1], proba[:, 1])
        return metrics.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels)
    except ValueError:  # e.g. a single class in y_true
        return float("nan")
'''

_NO_PROBA_CODE = """
    scores = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
        "precision": metrics.precision_score(y_true, y_pred, **options),
        "recall": metrics.recall_score(y_true, y_pred, **options),
        "f1": metrics.f1_score(y_true, y_pred, **options),
        "roc_auc": float("nan"),  # the model gives no probabilities
        "log_loss": float("nan"),
    }
    return {name: float(value) for name, value in scores.items()}
"""

_SUMMARY_CODE = '''
def summarise(holdout: dict, folds: list[dict]) -> list[dict]:
    """Per metric: the hold-out value, mean and std over the folds (NaN skipped)."""
    rows = []
    for name, value in holdout.items():
        values = np.array([fold[name] for fold in folds], dtype=float)
        values = values[np.isfinite(values)]
        rows.append(
            {
                "name": name,
                "holdout": finite_or_none(value),
                "cv_mean": finite_or_none(values.mean()) if values.size else None,
                "cv_std": finite_or_none(values.std()) if values.size else None,
            }
        )
    return rows


def finite_or_none(value: float) -> float | None:
    """The value, or None when it is NaN or infinite (null in JSON)."""
    value = float(value)
    return value if np.isfinite(value) else None


def print_table(rows: list[dict], n_train: int, n_test: int) -> None:
    """Each metric's hold-out value and cross-validation mean ± std."""
    print(f"Trained on {n_train} rows, evaluated on {n_test} hold-out rows.\\n")
    print(f"{'metric':<20}{'hold-out':>10}   @CV_HEADER@")
    for row in rows:
        holdout = "-" if row["holdout"] is None else f"{row['holdout']:.4f}"
        cv = "-"
        if row["cv_mean"] is not None:
            cv = f"{row['cv_mean']:.4f} ± {row['cv_std']:.4f}"
        print(f"{row['name']:<20}{holdout:>10}   {cv}")
'''


_DESCRIPTION = "Retrain a model of the Dashboard app and print its metrics."


def _main_code(run: _Run, data: _Data) -> str:
    labels = ", labels" if run.is_clf else ""
    lines = [
        "def main() -> None:",
        f"{_IN}parser = argparse.ArgumentParser(",
        f"{_IN * 2}description={_literal(_DESCRIPTION)}",
        f"{_IN})",
    ]
    if data.filename is not None:
        lines += [
            f"{_IN}parser.add_argument(",
            f'{_IN * 2}"--data", default=DATA_FILE, help="the Parquet file from the '
            'app"',
            f"{_IN})",
        ]
    lines += [
        f'{_IN}parser.add_argument("--json", action="store_true", help="print JSON")',
        f"{_IN}args = parser.parse_args()",
        "",
        f"{_IN}data = load_data({'args.data' if data.filename is not None else ''})",
        f"{_IN}x, y = select_rows(data)",
        f"{_IN}x_train, x_test, y_train, y_test = split(x, y)",
    ]
    if run.is_clf:
        lines.append(f"{_IN}labels = np.unique(y_train)  # the classes, sorted")
    lines.append(f"{_IN}pipeline = build_pipeline()")
    if run.cv_folds:
        lines.append(
            f"{_IN}fold_scores = cross_validate(pipeline, x_train, y_train{labels})"
        )
    else:
        lines.append(f"{_IN}fold_scores = []  # cross-validation was off")
    lines += [
        f"{_IN}pipeline.fit(x_train, y_train)",
        f"{_IN}holdout = evaluate(pipeline, x_test, y_test{labels})",
        "",
        f"{_IN}rows = summarise(holdout, fold_scores)",
        f"{_IN}if args.json:",
        f'{_IN * 2}print(json.dumps({{"metrics": rows}}, indent=2))',
        f"{_IN}else:",
        f"{_IN * 2}print_table(rows, len(x_train), len(x_test))",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Values written as code
# --------------------------------------------------------------------------- #


def _literal(text: str) -> str:
    """``text`` as a one-line string literal, quoted the way black wants it.

    Backslashes, the quote and every non-printable character (newlines included)
    are escaped, so the literal evaluates to ``text`` and nothing else. Double
    quotes unless single ones need fewer escapes: black leaves that as it is.
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    return quote + "".join(_escape(char, quote) for char in text) + quote


def _escape(char: str, quote: str) -> str:
    if char == "\\" or char == quote:
        return "\\" + char
    if char.isprintable() and (char.isascii() or _char_width(char)):
        return char
    return _escaped(char)


def _escaped(char: str) -> str:
    """The escape of a character: ``\\n``, ``\\x00``, ``\\u2028``, ``\\U0001f600``."""
    if not char.isprintable():
        return repr(char)[1:-1]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _char_width(char: str) -> int:
    """Columns black gives a non-ASCII character written as is; 0: escape it.

    Only characters whose width is beyond doubt stay as they are (accented and
    non-Latin letters: 1, CJK: 2); emoji, combining marks and the like are escaped,
    so that black and flake8 agree on every line's length.
    """
    code = ord(char)
    if any(low <= code <= high for low, high in _WIDE_RANGES):
        return 2
    if unicodedata.category(char) in _ZERO_WIDTH:
        return 0
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 0
    return 1


def _width(text: str) -> int:
    """The width of ASCII code with literals from :func:`_literal`, as black sees it."""
    if text.isascii():
        return len(text)
    return sum(_char_width(char) or 1 for char in text)


def _value(value: Any) -> str:
    """A parameter value as a literal (str, None, bool, int or finite float)."""
    if isinstance(value, str):
        return _literal(value)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return repr(float(value))
    raise ValueError(f"Cannot write {value!r} as a literal.")


def _string_lines(text: str, indent: str, suffix: str) -> list[str]:
    """A string literal on lines no longer than LINE_LENGTH.

    A literal too long for one line is cut into parts that Python joins back
    (implicit concatenation), one per line.
    """
    literal = _literal(text)
    if len(indent) + _width(literal) + len(suffix) <= LINE_LENGTH:
        return [indent + literal + suffix]
    budget = LINE_LENGTH - len(indent) - len(suffix) - 2
    parts, part, size = [], "", 0
    for char in text:
        width = max(_width(_escape(char, '"')), _width(_escape(char, "'")))
        if part and size + width > budget:
            parts.append(part)
            part, size = "", 0
        part += char
        size += width
    parts.append(part)
    lines = [indent + _literal(p) for p in parts]
    lines[-1] += suffix
    return lines


def _string_assignment(name: str, text: str) -> list[str]:
    line = f"{name} = {_literal(text)}"
    if _width(line) <= LINE_LENGTH:
        return [line]
    return [f"{name} = ("] + _string_lines(text, _IN, "") + [")"]


def _list_assignment(name: str, items: Sequence[str]) -> list[str]:
    line = f"{name} = [{', '.join(_literal(item) for item in items)}]"
    if _width(line) <= LINE_LENGTH:
        return [line]
    lines = [f"{name} = ["]
    for item in items:
        lines += _string_lines(item, _IN, ",")
    return lines + ["]"]


def _call_lines(
    target: str, func: str, kwargs: Mapping[str, Any], indent: str
) -> list[str]:
    """``target = func(key=value, ...)`` on one line, or one argument per line."""
    args = [f"{key}={_value(value)}" for key, value in kwargs.items()]
    line = f"{indent}{target} = {func}({', '.join(args)})"
    if _width(line) <= LINE_LENGTH:
        return [line]
    return [
        f"{indent}{target} = {func}(",
        *(f"{indent}{_IN}{arg}," for arg in args),
        f"{indent})",
    ]


def _display(name: str, constant: str) -> str:
    """A visitor's name for the docstring: quoted when plain, else where to find it."""
    if _PLAIN_NAME.fullmatch(name):
        return f"'{name}'"
    return f"the name in {constant}"
