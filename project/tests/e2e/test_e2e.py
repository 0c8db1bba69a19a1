"""The whole loop in headless Chromium: load, explore, train, upload, isolation."""

from __future__ import annotations

import pytest
from _ui import run_row, tab
from dash.testing.browser import Browser
from selenium.webdriver.common.by import By

from app.ui import ids

TIMEOUT = 30

MESSY_CSV = (
    '"","customer_id","region","income","signup","plan"\n'
    + "".join(
        f'"{i}","C{i:04d}","{"north" if i % 2 else "south"}",'
        f'"{30 + (i * 37) % 50},{i % 10}00","2024-0{1 + i % 9}-1{i % 10}",'
        f'"{"premium" if (i * 37) % 50 > 24 else "basic"}"\n'
        for i in range(1, 121)
    )
    + '"121","C0121","north","NA","2024-01-01","basic"\n'
)


def _metric(dash_duo, name: str) -> float:
    cell = dash_duo.find_element(
        f"#{ids.METRICS_TABLE} tr[data-metric='{name}'] td:nth-child(2)"
    )
    return float(cell.text)


def _status(dash_duo) -> str:
    return dash_duo.find_element(f"#{ids.DATA_STATUS}").text


def _upload(browser, path) -> None:
    browser.find_element(f"#{ids.DATA_UPLOAD} input[type=file]").send_keys(str(path))


def _click(browser, selector: str) -> None:
    element = browser.wait_for_element(selector)
    browser.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})", element
    )
    element.click()


def _train(dash_duo) -> None:
    _click(dash_duo, f"#{ids.TRAIN_BUTTON}")
    dash_duo.wait_for_element(f"#{ids.METRICS_TABLE} tr[data-metric]", timeout=TIMEOUT)


def _no_errors(browser) -> None:
    severe = [
        entry
        for entry in browser.get_logs() or []
        if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
    ]
    assert severe == []


def test_bundled_dataset_trained_to_a_metric(dash_duo, dash_app):
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_STATUS}", "150 rows × 5 columns", TIMEOUT
    )
    dash_duo.wait_for_contains_text(f"#{ids.DATA_PREVIEW}", "setosa", TIMEOUT)
    dash_duo.wait_for_element(f"#{ids.DATA_CORR_GRAPH} .main-svg", TIMEOUT)
    _train(dash_duo)
    assert 0.8 < _metric(dash_duo, "accuracy") <= 1.0
    assert _metric(dash_duo, "roc_auc") > 0.9
    dash_duo.wait_for_contains_text(
        f"#{ids.RUNS_TABLE}", "Logistic regression", TIMEOUT
    )
    dash_duo.wait_for_element(f"#{ids.EVAL_FIGURES} .js-plotly-plot", TIMEOUT)
    _no_errors(dash_duo)


def test_clicking_a_run_shows_it_again(dash_duo, dash_app):
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _train(dash_duo)
    dash_duo.wait_for_contains_text(f"#{ids.EVAL_SUMMARY}", "Run 1", TIMEOUT)
    dash_duo.select_dcc_dropdown(f"#{ids.MODEL_NAME}", "Gaussian naive Bayes")
    dash_duo.wait_for_contains_text(
        f"#{ids.MODEL_NAME}", "Gaussian naive Bayes", TIMEOUT
    )
    _train(dash_duo)
    dash_duo.wait_for_contains_text(
        f"#{ids.EVAL_SUMMARY}", "Run 2 · Gaussian naive Bayes", TIMEOUT
    )
    _click(dash_duo, f"{run_row(dash_duo, 1)} .ag-cell[col-id='model']")
    dash_duo.wait_for_contains_text(
        f"#{ids.EVAL_SUMMARY}", "Run 1 · Logistic regression", TIMEOUT
    )
    _click(dash_duo, f"#{ids.EVAL_NORMALIZE}")
    dash_duo.wait_for_contains_text(
        f"#{ids.EVAL_FIGURES}", "normalised by true class", TIMEOUT
    )


def test_url_preselects_dataset_target_and_model(dash_duo, dash_app):
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_page(
        f"{dash_duo.server_url}/?dataset=wine&model=random_forest&target=target"
    )
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "178 rows", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "Random forest", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.TARGET_COLUMN}", "target", TIMEOUT)
    _train(dash_duo)
    dash_duo.wait_for_contains_text(f"#{ids.RUNS_TABLE}", "Random forest", TIMEOUT)
    assert _metric(dash_duo, "accuracy") > 0.8


def test_messy_upload_is_cleaned_and_trained(dash_duo, dash_app, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(MESSY_CSV, encoding="utf-8")
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _upload(dash_duo, path)
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_STATUS}", "customers.csv: 121 rows", TIMEOUT
    )
    notes = dash_duo.find_element(f"#{ids.DATA_NOTES}").text
    assert "customer_id" in notes
    dash_duo.wait_for_contains_text(f"#{ids.TARGET_COLUMN}", "plan", TIMEOUT)
    features = dash_duo.find_element(f"#{ids.TRAIN_FEATURES}").text
    assert "customer_id" not in features
    _train(dash_duo)
    assert 0.0 <= _metric(dash_duo, "accuracy") <= 1.0
    dash_duo.wait_for_contains_text(f"#{ids.RUNS_TABLE}", "customers.csv", TIMEOUT)


def test_broken_file_is_rejected_and_earlier_data_stays(dash_duo, dash_app, tmp_path):
    broken = tmp_path / "photo.csv"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _upload(dash_duo, broken)
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_STATUS}", "Still using Iris flowers", TIMEOUT
    )
    assert "Traceback" not in dash_duo.driver.page_source
    _train(dash_duo)
    assert _metric(dash_duo, "accuracy") > 0.8


def test_upload_over_the_limit_is_refused_in_the_browser(dash_duo, dash_app, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" + "1,2\n" * 400_000)
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _upload(dash_duo, big)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "the limit is 1 MB", TIMEOUT)
    assert "Still using Iris flowers" in _status(dash_duo)


@pytest.fixture
def second_browser(request, tmp_path):
    with Browser(
        browser="chrome",
        headless=request.config.getoption("headless"),
        options=request.config.hook.pytest_setup_options(),
        download_path=str(tmp_path),
        percy_run=False,
    ) as browser:
        yield browser


def test_two_visitors_never_see_each_others_data(
    dash_duo, dash_app, second_browser, tmp_path
):
    path = tmp_path / "zq-private-upload.csv"
    path.write_text(MESSY_CSV, encoding="utf-8")
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _upload(dash_duo, path)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "zq-private-upload", TIMEOUT)
    _train(dash_duo)

    second_browser.server_url = dash_duo.server_url
    second_browser.wait_for_page(f"{dash_duo.server_url}/?dataset=diabetes")
    second_browser.wait_for_contains_text(f"#{ids.DATA_STATUS}", "442 rows", TIMEOUT)
    assert "zq-private-upload" not in second_browser.driver.page_source
    assert "C0001" not in second_browser.find_element(f"#{ids.DATA_PREVIEW}").text
    _click(second_browser, f"#{ids.MAIN_TABS} .nav-link:not(.active)")
    second_browser.wait_for_contains_text(
        f"#{ids.RUNS_TABLE}", "No Rows To Show", TIMEOUT
    )
    rows = second_browser.driver.find_elements(
        By.CSS_SELECTOR, f"#{ids.RUNS_TABLE} .ag-center-cols-container .ag-row"
    )
    assert rows == []
    # The first visitor, after a reload, still has their own data and run.
    dash_duo.driver.refresh()
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_STATUS}", "zq-private-upload.csv: 121 rows", TIMEOUT
    )
    _click(dash_duo, f"#{ids.MAIN_TABS} .nav-link:not(.active)")
    dash_duo.wait_for_contains_text(f"#{ids.RUNS_TABLE}", "zq-private-upload", TIMEOUT)


def test_a_reload_shows_the_uploaded_data_target_and_model(
    dash_duo, dash_app, tmp_path
):
    """After an upload and a run, a reload (the address bar's link) shows the
    upload, its target and the run's model; nothing says Iris."""
    path = tmp_path / "customers.csv"
    path.write_text(MESSY_CSV, encoding="utf-8")
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _upload(dash_duo, path)
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_STATUS}", "customers.csv: 121 rows", TIMEOUT
    )
    dash_duo.wait_for_contains_text(f"#{ids.TARGET_COLUMN}", "plan", TIMEOUT)
    dash_duo.select_dcc_dropdown(f"#{ids.MODEL_NAME}", "Random forest")
    _train(dash_duo)
    # The address bar follows the choices: no dataset (an upload), target, model.
    query = dash_duo.driver.execute_script("return window.location.search")
    assert "dataset=" not in query and "model=random_forest" in query
    assert "target=plan" in query
    dash_duo.driver.refresh()
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_STATUS}", "customers.csv: 121 rows", TIMEOUT
    )
    dash_duo.wait_for_contains_text(f"#{ids.TARGET_COLUMN}", "plan", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "Random forest", TIMEOUT)
    assert "Iris" not in dash_duo.find_element(f"#{ids.DATA_SOURCE}").text
    tab(dash_duo, "Results")
    dash_duo.wait_for_contains_text(f"#{ids.RUNS_TABLE}", "customers.csv", TIMEOUT)
    _no_errors(dash_duo)


#: Records the callback requests of a page (installed before its scripts run).
RECORD_CALLBACKS = """
window.__callbacks = [];
const send = window.fetch;
window.fetch = function(url, options) {
  if (String(url).indexOf('_dash-update-component') >= 0) {
    try { window.__callbacks.push(JSON.parse(options.body)); } catch (e) {}
  }
  return send.apply(this, arguments);
};
"""


def _opened_page_callbacks(dash_duo) -> list[dict]:
    """The callback requests of a page load, once its data and form are shown."""
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    dash_duo.wait_for_element(f"#{ids.DATA_CORR_GRAPH} .main-svg", timeout=TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.TRAIN_FEATURES}", "sepal", TIMEOUT)
    return dash_duo.driver.execute_script("return window.__callbacks")


@pytest.mark.parametrize("visit", ["new", "returning"])
def test_a_page_opens_with_few_callbacks_and_none_for_empty_stores(
    dash_duo, dash_app, visit
):
    """Opening the page asks the server only what it must: nothing for a store
    that is still empty, no second load of the default dataset (the opening
    loads it), no model form (the page has the default one)."""
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    driver = dash_duo.driver
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CALLBACKS}
    )
    if visit == "new":
        driver.execute_script("window.localStorage.clear()")
    driver.refresh()
    requests = _opened_page_callbacks(dash_duo)
    outputs = [request["output"] for request in requests]
    assert any(ids.DATA_SOURCE in output for output in outputs)  # the opening
    empty = [
        request["output"]
        for request in requests
        if request.get("inputs")
        and all("value" not in item for item in request["inputs"])
    ]
    assert empty == []
    assert not any(f"{ids.DATA_SYNTH}.is_open" in output for output in outputs)
    assert not any(f"{ids.TRAIN_PARAMS}.children" in output for output in outputs)
    assert len(requests) <= 8, outputs
    assert dash_duo.find_element(f"#{ids.TRAIN_PARAMS} input")
    assert "Logistic" in dash_duo.find_element(f"#{ids.MODEL_NAME}").text
    _no_errors(dash_duo)
