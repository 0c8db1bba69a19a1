"""The code that reproduces a run: a standalone script that retrains its pipeline.

The script is rendered from a Jinja2 template (``templates/script.py.j2``) and the
real objects: the pipeline is the one ``_models.build_pipeline`` makes for the run,
written as scikit-learn's own ``repr`` of its parts. The script needs numpy, pandas
(pyarrow for Parquet) and scikit-learn, never this app.

Values reach the template either as :class:`Code`, source text this module wrote,
or through the ``py`` filter, which writes them as Python literals (``repr``, laid
out by ``pprint``): a value that is neither stops the rendering. Visitor text
(column names, the file name) only ever goes through ``py``, so it cannot become
code.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import math
import numbers
import pprint
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jinja2

from app.ml.baseline import LOWER_IS_BETTER
from app.ml.datasets import DATASETS, MAX_SYNTHETIC_FEATURES, MAX_SYNTHETIC_ROWS, TARGET
from app.ml.models import (
    CLASSIFICATION,
    DATE_PARTS,
    MODEL_SPECS,
    REGRESSION,
    build_pipeline,
    date_parts,
)

__all__ = ["make_training_script"]

LINE_LENGTH = 88
_TEMPLATES = Path(__file__).with_name("templates")
_FLOAT32_ROWS = 100_000  # _datasets._generate stores bigger frames as float32
_NAMED_CLASSES = ("iris", "wine", "breast_cancer")
# Comments over the parts of build_pipeline that hold these estimators.
_NOTES = {
    "OneHotEncoder": "Unknown categories are ignored; rare ones are grouped.",
    "OrdinalEncoder": "False/True become 0/1; a gap takes the more frequent value.",
    "FunctionTransformer": "Dates become numbers: date_parts (above).",
    "CalibratedClassifierCV": "Probabilities by Platt scaling on internal folds, "
    "as in the app.",
}


class Code(str):
    """Python source written by this module (never a visitor's text)."""


class _Name:
    """A name in the script, standing in for an object inside an estimator's repr."""

    def __init__(self, name: str) -> None:
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not a Python name.")
        self.name = name

    def __repr__(self) -> str:
        return self.name


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
        ``TrainedRun.report`` of :func:`app.ml.training.train_model`: its ``config``,
        ``numeric_features``, ``categorical_features``, ``boolean_features``,
        ``date_features`` and ``dates_with_hours`` (none when absent) are used.
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
        The script. It rebuilds the data, split (at random, or by time when the
        config has a ``time_column``), folds and pipeline, retrains and prints
        the app's metrics (a table, or JSON with ``--json``).

    Raises
    ------
    ValueError
        When the report or the source does not describe a run of this app.
    """
    import sklearn
    from sklearn.calibration import CalibratedClassifierCV

    run = _run_from(report)
    data = _data_source(source)
    pipeline = build_pipeline(
        numeric=run.numeric,
        categorical=run.categorical,
        boolean=run.boolean,
        dates=run.dates,
        timed=run.timed,
        model_key=run.model_key,
        task=run.task,
        params=run.params,
        random_state=run.seed,
    )
    model = pipeline.steps[-1][1]
    if isinstance(model, CalibratedClassifierCV):
        model = model.estimator
    parts, final = _pipeline_parts(pipeline, run)
    search = _search(report.get("search"), pipeline, run)
    return _template().render(
        search=search,
        title=Code(f"{MODEL_SPECS[run.model_key].label} on {data.name}"),
        data=data,
        task=Code(run.task),
        is_clf=run.task == CLASSIFICATION,
        has_proba=run.task == CLASSIFICATION and hasattr(pipeline, "predict_proba"),
        estimator_name=Code(type(model).__name__),
        n_features=len(run.numeric)
        + len(run.categorical)
        + len(run.boolean)
        + len(run.dates),
        test_percent=Code(f"{run.test_size * 100:.4g}"),
        stratify=run.stratify,
        cv_folds=run.cv_folds,
        seed=run.seed,
        test_size=run.test_size,
        sklearn_version=Code(sklearn.__version__),
        filename=Code(_safe_filename(filename)),
        imports=_imports(pipeline, run, data, search),
        target=run.target,
        numeric=run.numeric,
        categorical=run.categorical,
        boolean=run.boolean,
        dates=run.dates,
        timed=run.timed,
        date_parts=list(DATE_PARTS),
        time_column=run.time_column,
        unused=len(run.unused),
        parts=parts,
        pipeline=final,
    )


# --------------------------------------------------------------------------- #
# The template
# --------------------------------------------------------------------------- #


@functools.cache
def _template() -> jinja2.Template:
    # The output is Python, not HTML: HTML escaping would corrupt it. Values are
    # written as Python literals by the py filter, and _only_code refuses the rest.
    env = jinja2.Environment(  # nosec B701
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=_only_code,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["py"] = _py
    env.filters["paragraphs"] = _paragraphs
    return env.get_template("script.py.j2")


def _only_code(value: Any) -> str:
    """What a ``{{ value }}`` writes: Code as it is; anything else is refused."""
    if isinstance(value, Code):
        return value
    raise TypeError(
        f"The script template writes a {type(value).__name__} without the py filter."
    )


def _py(value: Any, hang: int = 0) -> Code:
    """A value as Python source: an estimator as its repr, data as a literal.

    Lines after the first are indented by ``hang`` columns, the width of what the
    template writes before the value on its line (``NAME = ``).
    """
    from sklearn.base import BaseEstimator

    width = max(LINE_LENGTH - hang, 40)
    if isinstance(value, BaseEstimator):
        text = _estimator_repr(value)  # scikit-learn lays it out in 80 columns
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"Cannot write {value!r} as a literal.")
    elif isinstance(value, (str, int, float, list, type(None))):
        # pprint writes strings with repr, cut into implicitly joined parts when
        # they are long: every part a literal, and no raw line break among them.
        text = pprint.pformat(value, width=width, compact=True)
    else:
        raise TypeError(f"Cannot write a {type(value).__name__} as a literal.")
    return Code(text.replace("\n", "\n" + " " * hang))


def _estimator_repr(estimator: Any) -> str:
    """scikit-learn's repr of an estimator (changed parameters only), in full:
    nothing shortened to ``...`` (checked below)."""
    from sklearn import config_context

    with config_context(print_changed_only=True):
        text = estimator.__repr__(N_CHAR_MAX=10**9)
    tree = ast.parse(text, mode="eval")  # valid Python, and nothing left out
    if any(
        isinstance(node, ast.Constant) and node.value is Ellipsis
        for node in ast.walk(tree)
    ):
        raise ValueError(f"The repr of {type(estimator).__name__} is shortened.")
    return text


def _paragraphs(text: str) -> Code:
    """Paragraphs separated by blank lines, each wrapped to 80 columns."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    wrapped = (textwrap.fill(p, LINE_LENGTH - 8) for p in paragraphs)
    return Code("\n\n".join(wrapped) + "\n")


# --------------------------------------------------------------------------- #
# The run, its data and its pipeline
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
    boolean: list[str]
    dates: list[str]
    timed: list[str]  # the dates whose parts include the hour
    unused: list[str]  # chosen features a run left out: dates, before they counted
    test_size: float
    stratify: bool
    cv_folds: int
    seed: int | None
    time_column: str | None = None  # the split follows it; None: at random


@dataclass(frozen=True)
class _Data:
    """How the script gets its data: ``kind`` is file, shipped or synthetic."""

    kind: str
    name: Code  # for the title
    description: Code  # for the docstring
    filename: str = ""  # file: the visitor's Parquet file
    function: Code = Code("")  # shipped or synthetic: the scikit-learn function
    kwargs: tuple[tuple[Code, Any], ...] = ()  # synthetic: its arguments
    target: str = TARGET
    named_classes: bool = False  # shipped: class names rather than codes
    float32: bool = False  # synthetic: stored as float32
    integer_target: bool = True  # synthetic: classes as int64


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
    boolean = [str(name) for name in report.get("boolean_features") or ()]
    dates = [str(name) for name in report.get("date_features") or ()]
    timed = [str(name) for name in report.get("dates_with_hours") or ()]
    if not numeric and not categorical and not boolean and not dates:
        raise ValueError("The run has no usable feature columns.")
    used = {config["target"], *numeric, *categorical, *boolean, *dates}
    folds = int(config["cv_folds"])
    time_column = config.get("time_column")
    if time_column is not None and not isinstance(time_column, str):
        raise ValueError(f"The time column must be a name, not {time_column!r}.")
    return _Run(
        target=str(config["target"]),
        task=task,
        model_key=model_key,
        params=dict(config.get("params") or {}),
        numeric=numeric,
        categorical=categorical,
        boolean=boolean,
        dates=dates,
        timed=[name for name in timed if name in dates],
        unused=[str(f) for f in config.get("features", ()) if f not in used],
        test_size=float(config["test_size"]),
        stratify=task == CLASSIFICATION
        and bool(config["stratify"])
        and not time_column,
        cv_folds=0 if folds in (0, 1) else folds,  # 0 and 1 both mean "off"
        seed=_plain_seed(config["random_state"]),
        time_column=time_column or None,
    )


def _plain_seed(seed: Any) -> int | None:
    """The seed as a plain int (numpy integers included), or None."""
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral):
        return int(seed)
    raise ValueError(f"The random seed must be a whole number, not {seed!r}.")


def _data_source(source: Mapping[str, Any]) -> _Data:
    kind = source.get("kind")
    if kind == "file":
        return _Data(
            kind="file",
            name=Code("an uploaded file"),
            description=Code(
                "the data the app trained on (after cleaning), downloaded from it as "
                "a Parquet file (its name is in DATA_FILE)"
            ),
            filename=str(source.get("filename") or "data.parquet"),
        )
    if kind != "bundled":
        raise ValueError(f"Unknown data source {kind!r}.")
    key = source.get("key")
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {key!r}.")
    if not DATASETS[key].synthetic:
        label = DATASETS[key].label
        return _Data(
            kind="shipped",
            name=Code(label.split(" (")[0]),
            description=Code(f"{label}, as shipped with scikit-learn (no download)"),
            function=Code(f"load_{key}"),  # as _datasets._load_shipped
            named_classes=key in _NAMED_CLASSES,
        )
    return _synthetic(key, dict(source.get("params") or {}))


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
    function = f"make_{key}"
    name = spec.label.split(": ")[-1]
    shape = f"{rows:,} rows"
    if key not in ("moons", "circles"):
        shape += f", {features} features"
    return _Data(
        kind="synthetic",
        name=Code(f"synthetic {name}"),
        description=Code(
            f"{spec.label}, generated by scikit-learn's {function} ({shape}, noise "
            f"{level:g}, seed {seed})"
        ),
        function=Code(function),
        kwargs=tuple((Code(k), v) for k, v in kwargs.items()),
        float32=rows > _FLOAT32_ROWS,
        integer_target=key != "regression",
    )


def _pipeline_parts(
    pipeline: Any, run: _Run
) -> tuple[list[tuple[Code, Any, list[Code]]], Any]:
    """The pipeline as assignments in build_pipeline, and what it returns.

    Each column transformer, the preprocessing and the model get a variable named
    after their step; the objects that refer to them are copies whose parts are
    those names (and the column lists, the names of the script's constants), so
    that their repr is the code that assembles the pipeline.
    """
    columns = {
        tuple(run.numeric): _Name("NUMERIC_FEATURES"),
        tuple(run.categorical): _Name("CATEGORICAL_FEATURES"),
        tuple(run.boolean): _Name("BOOLEAN_FEATURES"),
        tuple(run.dates): _Name("DATE_FEATURES"),
    }
    (preprocess_name, preprocess), (model_name, model) = pipeline.steps
    parts: list[tuple[Code, Any, list[Code]]] = []
    references = []
    for name, transformer, used in preprocess.transformers:
        transformer = _script_functions(transformer)
        parts.append((Code(name), transformer, _notes(transformer)))
        references.append((name, _Name(name), columns[tuple(used)]))
    parts.append(
        (Code(preprocess_name), _with(preprocess, transformers=references), [])
    )
    parts.append((Code(model_name), model, _notes(model)))
    steps = [(name, _Name(name)) for name, _ in pipeline.steps]
    return parts, _with(pipeline, steps=steps)


def _script_functions(transformer: Any) -> Any:
    """A column transformer's pipeline with the app's date function (and its
    column names) replaced by the script's own, written out by name; the list of
    dates with hours is the script's DATES_WITH_HOURS."""
    from sklearn.preprocessing import FunctionTransformer

    steps = getattr(transformer, "steps", None)
    if not steps:
        return transformer
    changed = []
    for name, step in steps:
        if isinstance(step, FunctionTransformer) and step.func is date_parts:
            step = _with(
                step,
                func=_Name("date_parts"),
                feature_names_out=_Name("date_part_names"),
                kw_args={"timed": _Name("DATES_WITH_HOURS")} if step.kw_args else None,
            )
        changed.append((name, step))
    return _with(transformer, steps=changed)


def _with(estimator: Any, **params: Any) -> Any:
    """A shallow copy of an estimator with other parameters (the original stays)."""
    changed = copy.copy(estimator)
    changed.set_params(**params)
    return changed


def _estimators(estimator: Any) -> list[Any]:
    """An estimator and every estimator inside it."""
    from sklearn.base import BaseEstimator

    inner = estimator.get_params(deep=True).values()
    return [estimator, *(v for v in inner if isinstance(v, BaseEstimator))]


def _notes(estimator: Any) -> list[Code]:
    names = {type(part).__name__ for part in _estimators(estimator)}
    return [Code(note) for name, note in _NOTES.items() if name in names]


def _imports(
    pipeline: Any, run: _Run, data: _Data, search: "_Search | None" = None
) -> list[tuple[Code, Code]]:
    """``from module import names`` of scikit-learn (and scipy), in isort's order."""
    names: dict[str, set[str]] = {"sklearn": {"metrics"}}
    if search is not None:
        sampler = "ParameterGrid" if search.grid else "ParameterSampler"
        names.setdefault("sklearn.model_selection", set()).add(sampler)
        if search.uses_stats:
            names["scipy"] = {"stats"}
    for part in _estimators(pipeline):
        names.setdefault(_public_module(type(part)), set()).add(type(part).__name__)
    if not run.time_column:
        names.setdefault("sklearn.model_selection", set()).add("train_test_split")
    if run.cv_folds:
        names.setdefault("sklearn.base", set()).add("clone")
        splitter = "StratifiedKFold" if run.task == CLASSIFICATION else "KFold"
        if run.time_column:
            splitter = "TimeSeriesSplit"
        names.setdefault("sklearn.model_selection", set()).add(splitter)
    if data.function:
        names.setdefault("sklearn.datasets", set()).add(data.function)
    return [
        (Code(module), Code(", ".join(sorted(names[module]))))
        for module in sorted(names)
    ]


@dataclass(frozen=True)
class _Search:
    """A tuned run's search, as the script repeats it."""

    space: list[tuple[str, Code]]  # each parameter and what it is drawn from
    grid: bool
    halving: bool
    n_candidates: int
    seed: int
    metric: str
    lower: bool
    rounds: list[list[Any]]  # [rows or None, [candidate indices]] per round
    log_int: bool  # the space needs the script's LogUniformInt
    uses_stats: bool
    calibrated: bool  # the model sits inside CalibratedClassifierCV


def _search(
    summary: Mapping[str, Any] | None, pipeline: Any, run: _Run
) -> _Search | None:
    """What the script needs to repeat a tuned run's search (None: not tuned)."""
    from sklearn.calibration import CalibratedClassifierCV

    from app.ml.tuning import Dimension

    if not summary:
        return None
    plan = summary["plan"]
    if not run.cv_folds:
        raise ValueError("A search needs cross-validation folds.")
    grid = plan["strategy"] == "grid"
    space = []
    for data in plan["space"]:
        dim = Dimension.from_dict(data)
        space.append((dim.name, _drawn_from(dim, grid)))
    rounds = [
        [None if rows is None else int(rows), [int(i) for i in chosen]]
        for rows, chosen in summary["rounds"]
    ]
    return _Search(
        space=space,
        grid=grid,
        halving=plan["strategy"] == "halving",
        n_candidates=int(summary["n_candidates"]),
        seed=int(plan["random_state"]),
        metric=str(plan["metric"]),
        lower=plan["metric"] in LOWER_IS_BETTER,
        rounds=rounds,
        log_int=any("LogUniformInt" in code for _, code in space),
        uses_stats=any(
            "stats." in code or "LogUniformInt" in code for _, code in space
        ),
        calibrated=isinstance(pipeline.steps[-1][1], CalibratedClassifierCV),
    )


def _drawn_from(dim: Any, grid: bool) -> Code:
    """What a parameter is drawn from, as source: the values of a grid or a list
    of choices, else the scipy distribution the app's search used."""
    if grid or dim.kind == "choice":
        return _py(list(dim.grid() if grid else dim.options))
    low, high = dim.low, dim.high
    if low == high:
        return _py([int(low) if dim.kind.endswith("int") else float(low)])
    if dim.kind == "uniform":
        return Code(f"stats.uniform({_py(float(low))}, {_py(float(high - low))})")
    if dim.kind == "log":
        return Code(f"stats.loguniform({_py(float(low))}, {_py(float(high))})")
    if dim.kind == "int":
        return Code(f"stats.randint({_py(int(low))}, {_py(int(high) + 1)})")
    return Code(f"LogUniformInt({_py(int(low))}, {_py(int(high))})")


def _public_module(cls: type) -> str:
    """The public module a class is imported from (``sklearn.svm`` for SVC)."""
    parts = []
    for part in cls.__module__.split("."):
        if part.startswith("_"):
            break
        parts.append(part)
    public = ".".join(parts)
    if getattr(importlib.import_module(public), cls.__name__, None) is not cls:
        raise ValueError(f"{cls.__name__} is not in {public}.")
    return public


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]
    return cleaned if cleaned.endswith(".py") else "reproduce.py"
