"""The downloadable training script: standalone, valid Python that black accepts,
visitor text only as literals, and it prints the app's metrics exactly.

Every script is written to a temporary directory and run in its own subprocess
(``python -I``: the app's package is not importable there), several at once.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.ml import (
    MODEL_SPECS,
    TrainConfig,
    build_pipeline,
    clean_frame,
    load_bundled,
    train_model,
)
from app.ml.script import _template, make_training_script
from app.ml.training import split_data

SHIPPED = ("iris", "wine", "breast_cancer", "digits", "diabetes")
ALLOWED_IMPORTS = {"argparse", "json", "re", "numpy", "pandas", "sklearn"}
DANGEROUS_NAMES = {"eval", "exec", "compile", "__import__", "open", "getattr"}
DANGEROUS_ATTRS = {"system", "popen", "remove", "unlink", "rmtree", "run", "call"}

HOSTILE_TARGET = 'label"); import os; os.system("touch PWNED_TARGET") #\n\\'
HOSTILE_FEATURES = (
    'x"); import os; os.system("rm -rf /',
    "__import__('os').system('touch PWNED')",
    "back\\slash\nnew\"line's \"\"\" and ''' quotes",
    "tab\there\u2028é\x00end",
    " ".join(["a very long column name"] * 6),
)


# --------------------------------------------------------------------------- #
# The runs: trained in-process, then reproduced by their scripts
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Case:
    """One run to reproduce."""

    id: str
    data: str  # a bundled key, or "file:<name>" for a frame built here
    model: str
    task: str
    cv_folds: int
    params: dict[str, Any] = field(default_factory=dict)
    data_params: dict[str, Any] = field(default_factory=dict)
    stratify: bool = True
    test_size: float = 0.25
    time_column: str | None = None  # split by time on it; None: at random


MOONS = {"n_samples": 300, "noise": 0.25, "random_state": 3}
CASES = [
    Case("iris-logistic", "iris", "logistic_regression", "classification", 5),
    Case(
        "iris-forest",
        "iris",
        "random_forest",
        "classification",
        3,
        {"n_estimators": 15, "max_depth": 4},
    ),
    Case(
        "breast_cancer-hgb",
        "breast_cancer",
        "hist_gradient_boosting",
        "classification",
        3,
        {"max_iter": 15, "learning_rate": 0.2},
    ),
    Case(
        "breast_cancer-knn",
        "breast_cancer",
        "knn",
        "classification",
        0,
        {"n_neighbors": 7, "weights": "distance"},
    ),
    Case("wine-svm", "wine", "svm", "classification", 3, {"C": 2.0}),
    Case("digits-naive_bayes", "digits", "naive_bayes", "classification", 3),
    Case("diabetes-ridge", "diabetes", "ridge", "regression", 5, {"alpha": 0.5}),
    Case("moons-svm", "moons", "svm", "classification", 5, data_params=MOONS),
    Case(
        "classification-logistic-unstratified",
        "classification",
        "logistic_regression",
        "classification",
        3,
        {"C": 0.5, "class_weight": "balanced"},
        {"n_samples": 400, "n_features": 6, "noise": 0.05, "random_state": 2},
        stratify=False,
        test_size=0.3,
    ),
    Case(
        "regression-float32-linear",
        "regression",
        "linear_regression",
        "regression",
        0,
        data_params={"n_samples": 100_001, "n_features": 3, "random_state": 4},
    ),
    Case(
        "file-classification", "file:shop", "logistic_regression", "classification", 3
    ),
    Case("file-regression", "file:prices", "ridge", "regression", 5),
    Case(
        "file-class-only-in-hold-out",
        "file:rare",
        "logistic_regression",
        "classification",
        0,
        stratify=False,
    ),
    Case(
        "file-hostile-names",
        "file:hostile",
        "random_forest",
        "classification",
        3,
        {"n_estimators": 10},
    ),
    Case(
        "file-monthly-split-by-time",
        "file:monthly",
        "ridge",
        "regression",
        4,
        {"alpha": 0.5},
        time_column="month",
    ),
    Case(
        "file-monthly-split-by-time-classes",
        "file:monthly_up",
        "logistic_regression",
        "classification",
        3,
        time_column="month",  # stratify=True is ignored: the split follows time
    ),
    Case(
        "file-monthly-dates-at-random",
        "file:monthly",
        "random_forest",
        "regression",
        3,
        {"n_estimators": 10},
        test_size=0.2,
    ),
]


def messy_frame(name: str) -> pd.DataFrame:
    """An uploaded-looking table, cleaned as the app cleans uploads."""
    rng = np.random.default_rng(11)
    n = 240
    age = rng.normal(40, 12, n).round(1)
    visits = rng.integers(0, 9, n)
    city = rng.choice(["Paris", "Lyon", "Nice", "Lille"], n)
    member = rng.random(n) > 0.6
    score = age / 10 + visits + (city == "Paris") * 2 + rng.normal(0, 1.5, n)
    raw = pd.DataFrame(
        {
            "city": pd.Series(city, dtype=object).where(rng.random(n) > 0.1),
            "age": pd.Series(age).where(rng.random(n) > 0.12),
            "when": pd.date_range("2021-03-01", periods=n, freq="D").strftime(
                "%Y-%m-%d"
            ),
            "visits": visits,
            "member": member,
        }
    )
    if name == "shop":
        churn = np.where(score > np.median(score), "yes", "no").astype(object)
        churn[rng.random(n) < 0.1] = None
        raw["churn"] = churn
    elif name == "prices":
        price = (score * 10).round(2)
        price[:15] = 0.0  # MAPE is undefined with zeros: null in the app and script
        price[rng.random(n) < 0.08] = np.nan
        price[[20, 21]] = np.inf
        raw["price"] = price
    else:
        plain = ["city", "age", "visits", "member"]
        raw = raw.rename(columns=dict(zip(plain, HOSTILE_FEATURES)))
        raw[HOSTILE_FEATURES[4]] = rng.normal(0, 1, n)
        raw[HOSTILE_TARGET] = np.where(score > np.median(score), "up", "down")
    frame = clean_frame(raw)[0]
    assert list(frame.columns) == list(raw.columns)  # names kept as they were
    return frame


def monthly_frame(name: str) -> pd.DataFrame:
    """An uploaded-looking monthly series, its rows out of order: a month, an
    opening time (dates with hours), a region, a promotion flag and sales with a
    trend and a season; some months and sales missing. ``monthly_up``: whether
    sales were above their trend, as yes/no."""
    rng = np.random.default_rng(5)
    n = 150
    month = pd.date_range("2012-01-01", periods=n, freq="MS")
    opened = month + pd.to_timedelta(rng.integers(0, 24 * 20, n), "h")
    promo = rng.random(n) > 0.7
    season = 12 * np.sin(2 * np.pi * month.month.to_numpy() / 12)
    noise = rng.normal(0, 4, n)
    sales = 200 + 1.5 * np.arange(n) + season + 8 * promo + noise
    raw = pd.DataFrame(
        {
            "month": pd.Series(month.strftime("%Y-%m-%d")).where(rng.random(n) > 0.03),
            "opened": opened.strftime("%Y-%m-%d %H:%M"),
            "region": rng.choice(["north", "south", "east"], n),
            "promo": promo,
        }
    )
    if name == "monthly":
        raw["sales"] = pd.Series(sales.round(2)).where(rng.random(n) > 0.05)
    else:
        raw["up"] = np.where(season + 8 * promo + noise > 0, "yes", "no")
    raw = raw.sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame, _, roles = clean_frame(raw)
    assert set(roles["date"]) == {"month", "opened"}
    return frame


FILE_TARGETS = {
    "monthly": "sales",
    "monthly_up": "up",
    "shop": "churn",
    "rare": "churn",
    "prices": "price",
    "hostile": HOSTILE_TARGET,
}


def case_frame(case: Case) -> pd.DataFrame:
    """The frame the app trains on for a case."""
    if case.data == "file:rare":  # a class that only one hold-out row has
        frame = messy_frame("shop")
        held_out = split_data(frame, case_config(case, frame)).x_test.index[0]
        # churn was read as true/false: a third class needs it as text again
        frame["churn"] = frame["churn"].map({True: "yes", False: "no"}).astype(object)
        frame.loc[held_out, "churn"] = "maybe"  # unstratified: the split stays
        return frame
    if case.data.startswith("file:monthly"):
        return monthly_frame(case.data.split(":", 1)[1])
    if case.data.startswith("file:"):
        return messy_frame(case.data.split(":", 1)[1])
    if case.data in SHIPPED:
        return clean_frame(load_bundled(case.data))[0]
    return load_bundled(case.data, **case.data_params)


def case_config(case: Case, frame: pd.DataFrame) -> TrainConfig:
    target = FILE_TARGETS.get(case.data.split(":")[-1], "target")
    return TrainConfig(
        target=target,
        features=tuple(c for c in frame.columns if c != target),
        task=case.task,
        model=case.model,
        params=case.params,
        test_size=case.test_size,
        stratify=case.stratify,
        cv_folds=case.cv_folds,
        random_state=7,
        time_column=case.time_column,
    )


@dataclass
class Outcome:
    """A case trained in the app and the output of its script."""

    report: dict[str, Any]
    script: Path
    output: Future[subprocess.CompletedProcess[str]]
    table: Future[subprocess.CompletedProcess[str]] | None = None


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def pool():
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as executor:
        yield executor


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, pool) -> dict[str, Outcome]:
    """Train every case, write its script (and data), start the scripts."""
    root = tmp_path_factory.mktemp("scripts")
    found = {}
    for case in CASES:
        folder = root / case.id
        folder.mkdir()
        frame = case_frame(case)
        report = train_model(frame, case_config(case, frame)).report
        if case.data.startswith("file:"):
            filename = case.data.split(":", 1)[1] + ".parquet"
            frame.to_parquet(folder / filename, index=False)
            source = {"kind": "file", "filename": filename}
        else:
            source = {"kind": "bundled", "key": case.data, "params": case.data_params}
        script = folder / "reproduce.py"
        script.write_text(make_training_script(report, source=source), "utf-8")
        command = [sys.executable, "-I", str(script)]
        found[case.id] = Outcome(
            report, script, pool.submit(run, command + ["--json"], folder)
        )
    table = found["iris-forest"]
    command = [sys.executable, "-I", str(table.script)]
    table.table = pool.submit(run, command, table.script.parent)
    return found


def assert_same_metrics(app: list[dict], script: list[dict]) -> None:
    assert [m["name"] for m in script] == [m["name"] for m in app]
    for expected, got in zip(app, script):
        for key in ("holdout", "cv_mean", "cv_std"):
            want, have = expected[key], got[key]
            where = f"{expected['name']} {key}"
            if want is None:
                assert have is None, where
            else:
                assert have is not None, where
                assert math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-9), where


@pytest.mark.slow  # each case trains and runs its script in a subprocess
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_script_prints_the_metrics_of_the_app(case, outcomes):
    outcome = outcomes[case.id]
    result = outcome.output.result()
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert_same_metrics(outcome.report["metrics"], printed["metrics"])
    assert set(printed) == {"metrics"}
    for row in printed["metrics"]:
        assert set(row) == {"name", "holdout", "cv_mean", "cv_std"}
    if case.cv_folds == 0:
        assert all(row["cv_mean"] is None for row in printed["metrics"])


@pytest.mark.slow
def test_cases_cover_what_they_claim(outcomes):
    reports = {k: o.report for k, o in outcomes.items()}
    mape = next(m for m in reports["file-regression"]["metrics"] if m["name"] == "mape")
    assert mape["holdout"] is None  # the target has zeros
    assert reports["file-classification"]["categorical_features"] == ["city"]
    assert reports["file-classification"]["boolean_features"] == ["member"]
    assert reports["file-classification"]["classes"] == ["False", "True"]  # yes/no
    assert "when" not in reports["file-classification"]["numeric_features"]
    assert any("Dropped" in note for note in reports["file-regression"]["notes"])
    assert len(reports["breast_cancer-knn"]["classes"]) == 2
    assert len(reports["digits-naive_bayes"]["classes"]) == 10
    script = outcomes["regression-float32-linear"].script.read_text("utf-8")
    assert "x = x.astype(np.float32)" in script
    by_time = reports["file-monthly-split-by-time"]
    assert by_time["config"]["time_column"] == "month"
    assert by_time["date_features"] == ["month", "opened"]
    assert by_time["dates_with_hours"] == ["opened"]
    assert by_time["boolean_features"] == ["promo"]
    assert any("whose month is missing" in note for note in by_time["notes"])
    script = outcomes["file-monthly-split-by-time"].script.read_text("utf-8")
    assert "TimeSeriesSplit(n_splits=CV_FOLDS)" in script
    assert "train_test_split" not in script and "KFold" not in script
    assert "TIME_COLUMN = 'month'" in script
    classes = reports["file-monthly-split-by-time-classes"]
    assert classes["classes"] == ["False", "True"]  # yes/no, read as answers
    assert any("not stratified" in note for note in classes["notes"])
    script = outcomes["file-monthly-split-by-time-classes"].script.read_text("utf-8")
    assert "StratifiedKFold" not in script and "stratify" not in script
    at_random = reports["file-monthly-dates-at-random"]
    assert at_random["config"]["time_column"] is None
    assert at_random["date_features"] == ["month", "opened"]
    script = outcomes["file-monthly-dates-at-random"].script.read_text("utf-8")
    assert "TIME_COLUMN" not in script and "DATE_FEATURES" in script


@pytest.mark.slow
def test_without_json_the_script_prints_a_table(outcomes):
    outcome = outcomes["iris-forest"]
    result = outcome.table.result()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "CV mean ± std (3 folds)" in result.stdout
    accuracy = next(m for m in outcome.report["metrics"] if m["name"] == "accuracy")
    row = next(line for line in lines if line.startswith("accuracy "))
    assert f"{accuracy['holdout']:.4f}" in row
    assert f"{accuracy['cv_mean']:.4f} ± {accuracy['cv_std']:.4f}" in row


# --------------------------------------------------------------------------- #
# The code itself
# --------------------------------------------------------------------------- #


AWKWARD_NAMES = [
    "",
    "plain",
    "it's",
    'say "hi"',
    'both \' and ""',
    "back\\slash\\",
    "new\nline\r\n",
    "\x00\x1b\x7f\u200b\u2028\ufeff\x85\x1c\ud800",
    "café Größe Год",
    "中文の列ｱ",
    "e\u0301 😀 \U0001f9ea",
    "{braces} and %s and #hash {{ jinja }} {% if %}",
    'ends with a quote"',
    "x" * 83,
    "y" * 200,
    "混" * 50 + '"' * 3 + "é" * 40,
]


def settings_of(source: str) -> dict[str, Any]:
    """The values of the script's top-level constants (TARGET, DATA_FILE, ...)."""
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.isupper()
    }


@pytest.mark.parametrize("text", AWKWARD_NAMES)
def test_names_are_written_as_literals_of_the_text(text):
    report = bare_report("ridge", "regression", target=text)
    report["numeric_features"] = [text, "plain"]
    report["categorical_features"] = [text + "!"]
    source = {"kind": "file", "filename": text + ".parquet"}
    script = make_training_script(report, source=source)
    settings = settings_of(script)
    assert settings["TARGET"] == text
    assert settings["NUMERIC_FEATURES"] == [text, "plain"]
    assert settings["CATEGORICAL_FEATURES"] == [text + "!"]
    assert settings["DATA_FILE"] == text + ".parquet"
    assert len(script.splitlines()) == len(script.split("\n")) - 1  # no raw breaks
    assert "\r" not in script


def test_the_template_writes_nothing_unescaped():
    """A value reaches the script as Code from the module, or as a literal."""
    render = _template().environment.from_string
    with pytest.raises(TypeError, match="py filter"):
        render("TARGET = {{ x }}").render(x="y'); import os; os.system('true')")
    with pytest.raises(TypeError, match="py filter"):
        render("N = {{ x }}").render(x=3)
    text = "a'b\"c\n{{ x }}"
    written = render("TARGET = {{ x | py }}").render(x=text)
    assert ast.literal_eval(written.split(" = ", 1)[1]) == text
    with pytest.raises(ValueError):
        render("X = {{ x | py }}").render(x=float("nan"))


@pytest.mark.slow
def test_scripts_compile_and_black_accepts_them(outcomes):
    black = pytest.importorskip("black")
    folder = next(iter(outcomes.values())).script.parent.parent
    # Plus a script full of awkward names (long, wide, quoted): written, not run.
    names = AWKWARD_NAMES[1:]
    report = bare_report("svm", "classification", target=names[-1], features=names)
    report["numeric_features"] = names[:-1:2]
    report["categorical_features"] = names[1:-1:2]
    source = {"kind": "file", "filename": names[-2] + ".parquet"}
    awkward = make_training_script(report, source=source)
    (folder / "awkward_names.py").write_text(awkward, "utf-8")
    constants = {
        node.value
        for node in ast.walk(ast.parse(awkward))
        if isinstance(node, ast.Constant)
    }
    assert set(names) <= constants
    scripts = sorted(folder.rglob("*.py"))
    assert len(scripts) == len(outcomes) + 1
    for path in scripts:
        text = path.read_text("utf-8")
        compile(text, str(path), "exec")
        black.format_str(text, mode=black.Mode())  # raises on what it cannot parse
        settings = text.index("# The run's settings")
        end = text.index("\n\n\n", settings)
        for line in (text[:settings] + text[end:]).splitlines():
            # scikit-learn lays an estimator's repr out in 80 columns, after
            # the indent and the name it is assigned to
            assert len(line) <= 110, (path.name, line)
        # A name may overflow only where it has no space to cut it at.
        for line in text[settings:end].splitlines():
            if len(line) > 88:
                piece = line.split(" = ", 1)[-1].strip().lstrip("[(").rstrip(",])")
                assert not any(c.isspace() for c in ast.literal_eval(piece)), line
    # Undefined names and unused imports (pyflakes), in every script at once.
    if importlib.util.find_spec("flake8") is not None:
        command = [sys.executable, "-m", "flake8", "--isolated", "--select", "F,E9"]
        result = run(command + [str(folder)], folder)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_scripts_are_standalone(outcomes):
    for case_id, outcome in outcomes.items():
        tree = ast.parse(outcome.script.read_text("utf-8"))
        assert ast.get_docstring(tree), case_id
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in ALLOWED_IMPORTS, (case_id, module)


def calls(tree: ast.AST) -> list[str]:
    """The names of everything called in a tree (``os.system`` -> ``system``)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.append(func.attr if isinstance(func, ast.Attribute) else "")
            names.append(func.id if isinstance(func, ast.Name) else "")
    return names


@pytest.mark.slow
def test_hostile_names_stay_string_literals(outcomes):
    outcome = outcomes["file-hostile-names"]
    source = outcome.script.read_text("utf-8")
    tree = ast.parse(source)
    compile(source, "reproduce.py", "exec")
    called = set(calls(tree))
    assert not called & DANGEROUS_NAMES
    assert not called & DANGEROUS_ATTRS
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "os"]
    constants = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert HOSTILE_TARGET in constants
    for name in HOSTILE_FEATURES:
        assert name in constants
    # The run above succeeded on the file with these names and touched nothing.
    assert outcome.output.result().returncode == 0
    assert not list(outcome.script.parent.glob("PWNED*"))
    assert len(source.splitlines()) == len(source.split("\n")) - 1  # no raw \u2028


# --------------------------------------------------------------------------- #
# Cheaper checks: no training
# --------------------------------------------------------------------------- #


def bare_report(model: str, task: str, **config: Any) -> dict[str, Any]:
    values = dict(
        target="y",
        features=("a", "b", "when"),
        task=task,
        model=model,
        params={},
        random_state=3,
    )
    values.update(config)
    return {
        "config": TrainConfig(**values).to_dict(),
        "numeric_features": ["a"],
        "categorical_features": ["b"],
    }


FILE = {"kind": "file", "filename": "data.parquet"}


def load_script(text: str, folder: Path) -> Any:
    """The script as a module: its functions defined, main() not called."""
    path = folder / "reproduce.py"
    path.write_text(text, "utf-8")
    spec = importlib.util.spec_from_file_location("reproduce", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def describe(value: Any) -> Any:
    """An estimator as its class and every parameter, nested ones included."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        return type(value), {key: describe(v) for key, v in params.items()}
    if isinstance(value, (list, tuple)):
        return type(value), [describe(v) for v in value]
    return value


def app_pipeline(report: dict[str, Any]) -> Any:
    config = report["config"]
    return build_pipeline(
        numeric=report["numeric_features"],
        categorical=report["categorical_features"],
        model_key=config["model"],
        task=config["task"],
        params=config["params"],
        random_state=config["random_state"],
    )


@pytest.mark.parametrize(
    "model,task",
    [(key, task) for key, spec in MODEL_SPECS.items() for task in spec.tasks],
)
def test_pipeline_is_the_one_the_app_builds(model, task, tmp_path):
    params = {"max_depth": 6, "C": 3.0} if model != "knn" else {"n_neighbors": 4}
    report = bare_report(model, task, params=params)
    script = make_training_script(report, source=FILE)
    built = load_script(script, tmp_path).build_pipeline()
    made = app_pipeline(report)
    assert describe(built) == describe(made)
    estimator = made[-1]
    if task in MODEL_SPECS[model].calibrated:
        estimator = estimator.estimator
    docstring = " ".join(ast.get_docstring(ast.parse(script)).split())
    assert f"by {type(estimator).__name__}." in docstring


@pytest.mark.parametrize(
    "model,task,numeric,categorical",
    [
        ("knn", "classification", ["a", "b"], ["c"]),
        ("decision_tree", "regression", ["a"], ["b"]),
        ("ridge", "regression", ["a"], []),
        ("logistic_regression", "classification", [], ["b", "c"]),
    ],
)
def test_pipeline_steps_follow_the_model_spec(
    model, task, numeric, categorical, tmp_path
):
    report = bare_report(model, task, features=(*numeric, *categorical))
    report["numeric_features"] = numeric
    report["categorical_features"] = categorical
    script = make_training_script(report, source=FILE)
    built = load_script(script, tmp_path).build_pipeline()
    assert describe(built) == describe(app_pipeline(report))
    assert ("StandardScaler" in script) == (MODEL_SPECS[model].scale and bool(numeric))
    assert ("OneHotEncoder" in script) == bool(categorical)
    if categorical:
        assert "max_categories=30" in script and "infrequent_if_exist" in script


@pytest.mark.parametrize("folds", [0, 1])
def test_zero_or_one_fold_means_no_cross_validation(folds):
    script = make_training_script(
        bare_report("ridge", "regression", cv_folds=folds), source=FILE
    )
    assert "KFold" not in script and "cross_validate" not in script
    assert "fold_scores = []" in script


def test_date_columns_are_left_out_and_mentioned():
    script = make_training_script(bare_report("ridge", "regression"), source=FILE)
    assert "1 more chosen column held dates" in script
    constants = {
        n.value for n in ast.walk(ast.parse(script)) if isinstance(n, ast.Constant)
    }
    assert "when" not in constants


def test_unknown_sources_and_models_are_refused():
    report = bare_report("ridge", "regression")
    with pytest.raises(ValueError, match="data source"):
        make_training_script(report, source={"kind": "url"})
    with pytest.raises(ValueError, match="dataset"):
        make_training_script(report, source={"kind": "bundled", "key": "nope"})
    with pytest.raises(ValueError, match="cannot do"):
        make_training_script(bare_report("ridge", "classification"), source=FILE)


BUNDLED = [(key, {}) for key in SHIPPED] + [
    ("moons", MOONS),
    ("circles", {"n_samples": 120, "noise": 0.3, "random_state": 5}),
    ("blobs", {"n_samples": 90, "n_features": 4, "noise": 0.0, "random_state": 6}),
    ("classification", {"n_samples": 200, "n_features": 7, "noise": 0.9}),
    ("regression", {"n_samples": 100_001, "n_features": 3, "random_state": 8}),
]


@pytest.mark.parametrize("key,params", BUNDLED)
def test_load_data_rebuilds_the_bundled_frame(key, params, tmp_path):
    report = bare_report("ridge", "regression")
    source = {"kind": "bundled", "key": key, "params": params}
    module = load_script(make_training_script(report, source=source), tmp_path)
    expected = load_bundled(key, **params)
    if key in SHIPPED:
        expected = clean_frame(expected)[0]
    pd.testing.assert_frame_equal(module.load_data(), expected, check_exact=True)


@pytest.mark.parametrize(
    "key,params",
    [(key, {}) for key in SHIPPED]
    + [
        ("moons", MOONS),
        ("circles", {}),
        ("blobs", {}),
        ("classification", {}),
        ("regression", {"n_samples": 100_001, "n_features": 3}),
    ],
)
def test_app_trains_on_what_the_script_rebuilds(key, params):
    """The app trains on its store's Parquet copy: the round trip changes nothing."""
    frame = load_bundled(key, **params)
    if key in SHIPPED:
        cleaned = clean_frame(frame)[0]
        pd.testing.assert_frame_equal(cleaned, frame)  # cleaning changes nothing
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", compression="zstd", index=False)
    buffer.seek(0)
    pd.testing.assert_frame_equal(pd.read_parquet(buffer), frame, check_exact=True)
