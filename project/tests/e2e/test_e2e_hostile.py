"""Hostile data and the real CSP in headless Chromium.

Markup in a file's column names and cells is shown as text everywhere and never
runs; under the app's Content-Security-Policy the whole flow (explore, train,
every tab, comparing runs) works without a single CSP violation, and the graphs,
the WebGL scatter included, are drawn.
"""

from __future__ import annotations

import time

import pandas as pd
from _ui import TIMEOUT
from _ui import click as _click
from _ui import run_row
from _ui import tab as _tab
from _ui import train as _train
from selenium.webdriver.common.by import By

from app.ui import ids

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'


def _choose(browser, dropdown: str, label: str) -> None:
    """Pick an option of a dcc.Dropdown by its visible text."""
    _click(browser, f"#{dropdown}")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for option in browser.driver.find_elements(
            By.CSS_SELECTOR, ".dash-dropdown-option"
        ):
            if option.text == label:
                browser.driver.execute_script("arguments[0].click()", option)
                return
        time.sleep(0.2)
    raise AssertionError(f"no option {label!r} in {dropdown}")


def _graph_drawn(browser, graph_id: str) -> None:
    """Wait until a dcc.Graph has drawn: its SVG, then its traces (SVG or WebGL)."""
    browser.wait_for_element(f"#{graph_id} .js-plotly-plot .main-svg", TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:  # traces drawn, not only the empty axes
        marks = browser.driver.find_elements(
            By.CSS_SELECTOR,
            f"#{graph_id} .js-plotly-plot .trace, "
            f"#{graph_id} .js-plotly-plot canvas, "
            f"#{graph_id} .js-plotly-plot .hm image",
        )
        if marks:
            return
        time.sleep(0.2)
    raise AssertionError(f"{graph_id} drew no trace")


def _severe_logs(browser) -> list[dict]:
    return [
        entry
        for entry in browser.get_logs() or []
        if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
    ]


def _not_pwned(browser) -> None:
    assert browser.driver.execute_script("return typeof window.__pwned") == "undefined"


def _hostile_csv(path) -> None:
    rows = 60
    frame = pd.DataFrame(
        {
            SCRIPT: [round(1.5 * (i % 13) + 0.1 * i, 2) for i in range(rows)],
            IMG: [IMG if i % 3 else SCRIPT for i in range(rows)],
            "size": [round((i * 7) % 11 + 0.5 * (i % 4), 2) for i in range(rows)],
            "label": [SCRIPT if (i % 13) > 6 else IMG for i in range(rows)],
        }
    )
    frame.to_csv(path, index=False)


def test_markup_in_names_and_cells_is_shown_as_text_and_never_runs(
    dash_duo, dash_app, tmp_path
):
    path = tmp_path / "hostile.csv"
    _hostile_csv(path)
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    dash_duo.find_element(f"#{ids.DATA_UPLOAD} input[type=file]").send_keys(str(path))
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_STATUS}", "hostile.csv: 60 rows × 4 columns", TIMEOUT
    )
    # The names are visible, as text, in the preview grid's header and cells.
    dash_duo.wait_for_contains_text(f"#{ids.DATA_PREVIEW}", SCRIPT, TIMEOUT)
    headers = [
        h.text
        for h in dash_duo.driver.find_elements(
            By.CSS_SELECTOR, f"#{ids.DATA_PREVIEW} .ag-header-cell-text"
        )
    ]
    assert SCRIPT in headers and IMG in headers, headers
    assert IMG in dash_duo.find_element(f"#{ids.DATA_PREVIEW}").text
    dash_duo.wait_for_contains_text(f"#{ids.DATA_SUMMARY}", SCRIPT, TIMEOUT)
    assert not dash_duo.driver.find_elements(
        By.CSS_SELECTOR, f"#{ids.DATA_PREVIEW} script, #{ids.DATA_PREVIEW} img"
    )
    # Explore: the distribution of each hostile column, the scatter, correlations.
    for column in (IMG, SCRIPT):
        _choose(dash_duo, ids.DATA_DIST_COLUMN, column)
        _graph_drawn(dash_duo, ids.DATA_DIST_GRAPH)
    _graph_drawn(dash_duo, ids.DATA_SCATTER_GRAPH)
    _graph_drawn(dash_duo, ids.DATA_CORR_GRAPH)
    # Train on the markup-named features, with markup as the class labels.
    dash_duo.wait_for_contains_text(f"#{ids.TARGET_COLUMN}", "label", TIMEOUT)
    _train(dash_duo, 1)
    dash_duo.wait_for_element(f"#{ids.EVAL_FIGURES} .js-plotly-plot", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.RUNS_TABLE}", "hostile.csv", TIMEOUT)
    _tab(dash_duo, "Explain")
    dash_duo.wait_for_contains_text(
        f"#{ids.EXPLAIN_SUMMARY}", "Explaining run 1", TIMEOUT
    )
    _graph_drawn(dash_duo, ids.EXPLAIN_PERMUTATION)
    _graph_drawn(dash_duo, ids.EXPLAIN_PDP)
    _tab(dash_duo, "Predict")
    dash_duo.wait_for_contains_text(f"#{ids.PREDICT_SUMMARY}", "run 1", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.PREDICT_INPUTS}", SCRIPT, TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        shown = dash_duo.find_element(f"#{ids.WHATIF_PREDICTION}").text
        if SCRIPT in shown or IMG in shown:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the predicted class is not shown as text: {shown!r}")
    _tab(dash_duo, "Data")
    time.sleep(0.5)  # let any injected handler (there must be none) run
    _not_pwned(dash_duo)
    assert "Traceback" not in dash_duo.driver.page_source
    assert _severe_logs(dash_duo) == []


def test_the_whole_flow_runs_under_the_content_security_policy(dash_duo, dash_app):
    dash_duo.start_server(dash_app)
    policy = dash_duo.driver.execute_script(
        "return fetch('/').then(r => r.headers.get('Content-Security-Policy'))"
    )
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_PREVIEW}", "setosa", TIMEOUT)
    _graph_drawn(dash_duo, ids.DATA_CORR_GRAPH)
    _graph_drawn(dash_duo, ids.DATA_SCATTER_GRAPH)
    _choose(dash_duo, ids.DATA_DIST_COLUMN, "petal_length_cm")
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_DIST_GRAPH}", "Distribution of petal_length_cm", TIMEOUT
    )
    _graph_drawn(dash_duo, ids.DATA_DIST_GRAPH)
    _train(dash_duo, 1)
    dash_duo.wait_for_element(f"#{ids.EVAL_FIGURES} .js-plotly-plot .main-svg")
    dash_duo.select_dcc_dropdown(f"#{ids.MODEL_NAME}", "k-nearest neighbours")
    dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "k-nearest", TIMEOUT)
    _train(dash_duo, 2)
    _tab(dash_duo, "Explain")
    dash_duo.wait_for_contains_text(
        f"#{ids.EXPLAIN_SUMMARY}", "Explaining run 2", TIMEOUT
    )
    for graph in (
        ids.EXPLAIN_PERMUTATION,
        ids.EXPLAIN_PDP,
        ids.EXPLAIN_BOUNDARY,
        ids.EXPLAIN_CALIBRATION,
    ):
        _graph_drawn(dash_duo, graph)
    first = dash_duo.find_element(f"#{ids.EXPLAIN_FEATURE}").text
    second = "sepal_width_cm" if "sepal_width_cm" not in first else "sepal_length_cm"
    _choose(dash_duo, ids.EXPLAIN_FEATURE_2, second)
    _graph_drawn(dash_duo, ids.EXPLAIN_PDP_2)
    _tab(dash_duo, "Predict")
    dash_duo.wait_for_contains_text(f"#{ids.PREDICT_SUMMARY}", "run 2", TIMEOUT)
    dash_duo.wait_for_element(f"#{ids.WHATIF_PREDICTION} .js-plotly-plot", TIMEOUT)
    _tab(dash_duo, "Results")
    for number in (1, 2):
        _click(dash_duo, f"{run_row(dash_duo, number)} input[type=checkbox]")
    dash_duo.wait_for_contains_text(
        f"#{ids.EVAL_COMPARE}", "Run 1 · Logistic regression", TIMEOUT
    )
    dash_duo.wait_for_element(f"#{ids.EVAL_COMPARE} .js-plotly-plot .main-svg")
    _tab(dash_duo, "Data")
    _graph_drawn(dash_duo, ids.DATA_SCATTER_GRAPH)
    logs = dash_duo.get_logs() or []
    csp = [
        e
        for e in logs
        if "Content Security Policy" in e["message"] or "Refused to" in e["message"]
    ]
    assert csp == [], csp
    assert _severe_logs(dash_duo) == []
