"""Browser tests of explaining, predicting, comparing and downloading runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from _ui import TIMEOUT
from _ui import click as _click
from _ui import run_row
from _ui import tab as _tab
from _ui import train as _train
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app.ml import load_bundled, model_from_skops
from app.ui import ids


def _start_with_iris(dash_duo, dash_app) -> None:
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)


def _wait_for_file(folder: str, name: str, timeout: float = TIMEOUT) -> Path:
    path = Path(folder) / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            path.exists()
            and path.stat().st_size > 0
            and not Path(f"{path}.crdownload").exists()
        ):
            return path
        time.sleep(0.2)
    raise AssertionError(
        f"{name} was not downloaded; folder has {list(Path(folder).iterdir())}"
    )


def _input(browser, feature: str):
    element_id = json.dumps(
        {"name": feature, "type": ids.PREDICT_INPUT}, separators=(",", ":")
    )
    return browser.driver.find_element(By.XPATH, f"//*[@id='{element_id}']")


def test_whatif_prediction_follows_the_inputs(dash_duo, dash_app):
    _start_with_iris(dash_duo, dash_app)
    _train(dash_duo, 1)
    _tab(dash_duo, "Predict")
    dash_duo.wait_for_contains_text(
        f"#{ids.PREDICT_SUMMARY}", "Predicting with run 1", TIMEOUT
    )
    dash_duo.wait_for_contains_text(f"#{ids.WHATIF_PREDICTION}", "versicolor", TIMEOUT)
    for feature, value in (("petal_length_cm", "6.5"), ("petal_width_cm", "2.4")):
        box = _input(dash_duo, feature)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(value)
    dash_duo.wait_for_contains_text(f"#{ids.WHATIF_PREDICTION}", "virginica", TIMEOUT)
    for feature, value in (("petal_length_cm", "1.2"), ("petal_width_cm", "0.2")):
        box = _input(dash_duo, feature)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(value)
    dash_duo.wait_for_contains_text(f"#{ids.WHATIF_PREDICTION}", "setosa", TIMEOUT)


def test_batch_prediction_downloads_a_csv(dash_duo, dash_app, tmp_path):
    rows = load_bundled("iris").drop(columns="target").head(12)
    path = tmp_path / "new-flowers.csv"
    rows.to_csv(path, index=False)
    _start_with_iris(dash_duo, dash_app)
    _train(dash_duo, 1)
    _tab(dash_duo, "Predict")
    dash_duo.wait_for_contains_text(f"#{ids.PREDICT_SUMMARY}", "run 1", TIMEOUT)
    dash_duo.find_element(f"#{ids.PREDICT_UPLOAD} input[type=file]").send_keys(
        str(path)
    )
    dash_duo.wait_for_contains_text(
        f"#{ids.PREDICT_STATUS}", "Predicted 12 rows", TIMEOUT
    )
    result = pd.read_csv(
        _wait_for_file(dash_duo.download_path, "predictions-run-1.csv"),
        encoding="utf-8-sig",
    )
    assert len(result) == 12
    assert {"prediction", "probability_setosa"} <= set(result.columns)
    assert set(result["prediction"]) <= {"setosa", "versicolor", "virginica"}


def test_ticked_runs_are_compared_and_can_be_removed(dash_duo, dash_app):
    _start_with_iris(dash_duo, dash_app)
    _train(dash_duo, 1)
    dash_duo.select_dcc_dropdown(f"#{ids.MODEL_NAME}", "k-nearest neighbours")
    dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "k-nearest", TIMEOUT)
    _train(dash_duo, 2)
    rows = [run_row(dash_duo, number) for number in (1, 2)]
    for row in rows:
        _click(dash_duo, f"{row} input[type=checkbox]")
    dash_duo.wait_for_contains_text(
        f"#{ids.EVAL_COMPARE}", "Run 2 · k-nearest neighbours", TIMEOUT
    )
    assert (
        "Run 1 · Logistic regression"
        in dash_duo.find_element(f"#{ids.EVAL_COMPARE}").text
    )
    dash_duo.wait_for_element(f"#{ids.EVAL_COMPARE} .js-plotly-plot", TIMEOUT)
    _click(dash_duo, f"#{ids.EVAL_REMOVE}")
    deadline = time.monotonic() + TIMEOUT
    while dash_duo.driver.find_elements(By.CSS_SELECTOR, rows[0]):
        assert time.monotonic() < deadline, "runs were not removed"
        time.sleep(0.2)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, rows[1])


def test_every_download_of_the_shown_run(dash_duo, dash_app):
    _start_with_iris(dash_duo, dash_app)
    _train(dash_duo, 1)
    expected = {
        ids.DOWNLOAD_MODEL: "model-run-1.skops",
        ids.DOWNLOAD_CODE: "reproduce-run-1.py",
        ids.DOWNLOAD_REPORT: "report-run-1.html",
        ids.EVAL_DOWNLOAD_DATA: "data-run-1.parquet",
    }
    for button, name in expected.items():
        _click(dash_duo, f"#{button}")
        _wait_for_file(dash_duo.download_path, name)
    folder = Path(dash_duo.download_path)
    model = model_from_skops((folder / "model-run-1.skops").read_bytes())
    iris = load_bundled("iris")
    assert (model.predict(iris.drop(columns="target")) == iris["target"]).mean() > 0.9
    assert "train_test_split" in (folder / "reproduce-run-1.py").read_text()
    page = (folder / "report-run-1.html").read_text()
    assert page.count("Plotly.newPlot(") >= 4
    data = pd.read_parquet(folder / "data-run-1.parquet")
    assert data.shape == (150, 5)


def test_explain_tab_shows_importances_and_partial_dependence(dash_duo, dash_app):
    _start_with_iris(dash_duo, dash_app)
    _train(dash_duo, 1)
    _tab(dash_duo, "Explain")
    # While the progress bar explains the run, the summary never says there is
    # no model to explain.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        summary = dash_duo.find_element(f"#{ids.EXPLAIN_SUMMARY}").text
        assert "Train a model" not in summary, summary
        if "Explaining run 1" in summary:
            break
        time.sleep(0.05)
    dash_duo.wait_for_contains_text(
        f"#{ids.EXPLAIN_SUMMARY}", "Explaining run 1", TIMEOUT
    )
    for graph in (
        ids.EXPLAIN_PERMUTATION,
        ids.EXPLAIN_NATIVE,
        ids.EXPLAIN_PDP,
        ids.EXPLAIN_BOUNDARY,
    ):
        dash_duo.wait_for_element(f"#{graph} .main-svg", TIMEOUT)
    dash_duo.wait_for_contains_text(
        f"#{ids.EXPLAIN_PERMUTATION}", "Permutation importance", TIMEOUT
    )
    dash_duo.wait_for_contains_text(
        f"#{ids.EXPLAIN_PDP}", "Partial dependence", TIMEOUT
    )
    dash_duo.wait_for_contains_text(
        f"#{ids.EXPLAIN_BOUNDARY}", "Decision boundary", TIMEOUT
    )
