"""The downloadable training script: standalone, lint-clean, and it prints the
app's metrics exactly.

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

from app._script import _literal, make_training_script
from app.functions import (
    MODEL_SPECS,
    TrainConfig,
    clean_frame,
    load_bundled,
    make_estimator,
    train_model,
)

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
        "file-hostile-names",
        "file:hostile",
        "random_forest",
        "classification",
        3,
        {"n_estimators": 10},
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


FILE_TARGETS = {"shop": "churn", "prices": "price", "hostile": HOSTILE_TARGET}


def case_frame(case: Case) -> pd.DataFrame:
    """The frame the app trains on for a case."""
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


def test_cases_cover_what_they_claim(outcomes):
    reports = {k: o.report for k, o in outcomes.items()}
    mape = next(m for m in reports["file-regression"]["metrics"] if m["name"] == "mape")
    assert mape["holdout"] is None  # the target has zeros
    assert reports["file-classification"]["categorical_features"] == [
        "city",
        "member",
    ]
    assert "when" not in reports["file-classification"]["numeric_features"]
    assert any("Dropped" in note for note in reports["file-regression"]["notes"])
    assert len(reports["breast_cancer-knn"]["classes"]) == 2
    assert len(reports["digits-naive_bayes"]["classes"]) == 10
    script = outcomes["regression-float32-linear"].script.read_text("utf-8")
    assert "x = x.astype(np.float32)" in script


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


def lint_commands(folder: Path) -> dict[str, list[str]]:
    python = [sys.executable, "-m"]
    return {
        "black": python + ["black", "--check", "--diff", "-q", str(folder)],
        "isort": python
        + ["isort", "--profile", "black", "--check-only", "--diff", str(folder)],
        "flake8": python
        + [
            "flake8",
            "--isolated",
            "--max-line-length",
            "88",
            "--extend-ignore",
            "E203,W503,E704",
            str(folder),
        ],
    }


AWKWARD_NAMES = [
    "",
    "plain",
    "it's",
    'say "hi"',
    'both \' and ""',
    "back\\slash\\",
    "new\nline\r\n",
    "\x00\x1b\x7f\u200b\u2028\ufeff",
    "café Größe Год",
    "中文の列ｱ",
    "e\u0301 😀 \U0001f9ea",
    "{braces} and %s and #hash",
    'ends with a quote"',
    "x" * 83,
    "y" * 200,
    "混" * 50 + '"' * 3 + "é" * 40,
]


@pytest.mark.parametrize("text", AWKWARD_NAMES)
def test_literals_evaluate_to_the_text(text):
    literal = _literal(text)
    assert ast.literal_eval(literal) == text
    assert "\n" not in literal and "\r" not in literal
    assert len(literal.splitlines()) == 1


def test_scripts_pass_black_isort_and_flake8(outcomes, pool):
    for tool in ("black", "isort", "flake8"):
        if importlib.util.find_spec(tool) is None:
            pytest.skip(f"{tool} is not installed")
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
    jobs = {
        tool: pool.submit(run, command, folder)
        for tool, command in lint_commands(folder).items()
    }
    for tool, job in jobs.items():
        result = job.result()
        assert result.returncode == 0, f"{tool}:\n{result.stdout}\n{result.stderr}"


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


@pytest.mark.parametrize(
    "model,task",
    [(key, task) for key, spec in MODEL_SPECS.items() for task in spec.tasks],
)
def test_estimator_is_written_as_the_app_makes_it(model, task):
    params = {"max_depth": 6, "C": 3.0} if model != "knn" else {"n_neighbors": 4}
    report = bare_report(model, task, params=params)
    tree = ast.parse(make_training_script(report, source=FILE))
    made = make_estimator(model, task, params, random_state=3)
    if task in MODEL_SPECS[model].calibrated:
        assert "model = CalibratedClassifierCV(model, ensemble=False)" in ast.unparse(
            tree
        )
        made = made.estimator
    call = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "model"
        and isinstance(node.value, ast.Call)
    )
    assert call.func.id == type(made).__name__
    kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    assert type(made)(**kwargs).get_params() == made.get_params()


def test_pipeline_steps_follow_the_model_spec():
    scaled = make_training_script(bare_report("knn", "classification"), source=FILE)
    assert '("scale", StandardScaler())' in scaled
    assert "max_categories=30" in scaled and "infrequent_if_exist" in scaled
    assert "sparse_output=False" in scaled
    tree_model = make_training_script(
        bare_report("decision_tree", "regression"), source=FILE
    )
    assert "StandardScaler" not in tree_model
    only_numbers = bare_report("ridge", "regression")
    only_numbers["categorical_features"] = []
    assert "OneHotEncoder" not in make_training_script(only_numbers, source=FILE)


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
    assert '"when"' not in script


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
    path = tmp_path / "reproduce.py"
    source = {"kind": "bundled", "key": key, "params": params}
    path.write_text(make_training_script(report, source=source), "utf-8")
    spec = importlib.util.spec_from_file_location("reproduce", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions; main() is not called
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
