"""Browser tests of background jobs: progress, cancel, and a job that dies."""

from __future__ import annotations

import time

import psutil
from selenium.webdriver.common.by import By

from app.server import jobs
from app.ui import ids

TIMEOUT = 60


def _click(browser, selector: str) -> None:
    element = browser.wait_for_element(selector)
    browser.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})", element
    )
    element.click()


def _wait_for_content(
    browser, selector: str, text: str, timeout: float = TIMEOUT
) -> None:
    """Wait until an element's text content (visible or not) holds ``text``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = browser.find_element(selector).get_attribute("textContent") or ""
        if text in found:
            return
        time.sleep(0.25)
    raise AssertionError(f"{text!r} not in {selector} after {timeout} s: {found!r}")


def _slow_training(dash_duo, dash_app) -> None:
    """Start training a big forest on a big synthetic dataset and wait for progress."""
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_page(
        f"{dash_duo.server_url}/?dataset=classification&model=random_forest"
    )
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "1,000 rows", TIMEOUT)
    rows = dash_duo.find_element(f"#{ids.DATA_SYNTH_ROWS}")
    rows.clear()
    rows.send_keys("80000\n")
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "80,000 rows", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "Random forest", TIMEOUT)
    _click(dash_duo, f"#{ids.TRAIN_BUTTON}")
    _wait_for_content(dash_duo, f"#{ids.TRAIN_PROGRESS}", "Preparing the data")
    _wait_for_content(
        dash_duo, f"#{ids.TRAIN_PROGRESS}", "Cross-validation fold 1 of 5"
    )
    assert dash_duo.find_element(f"#{ids.TRAIN_BUTTON}").get_attribute("disabled")


def test_training_shows_progress_and_can_be_cancelled(dash_duo, dash_app):
    _slow_training(dash_duo, dash_app)
    # The page stays responsive while the job runs: exploring still works.
    _click(dash_duo, f"#{ids.DATA_DIST_COLUMN}")
    option = next(
        o
        for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
        if o.text == "x3"
    )
    dash_duo.driver.execute_script("arguments[0].click()", option)
    dash_duo.wait_for_contains_text(
        f"#{ids.DATA_DIST_GRAPH}", "Distribution of x3", TIMEOUT
    )
    _click(dash_duo, f"#{ids.TRAIN_CANCEL}")
    dash_duo.wait_for_contains_text(
        f"#{ids.TRAIN_STATUS}", "stopped before it finished", TIMEOUT
    )
    assert not dash_duo.find_element(f"#{ids.TRAIN_BUTTON}").get_attribute("disabled")


def test_a_job_whose_process_dies_says_so(dash_duo, dash_app):
    _slow_training(dash_duo, dash_app)
    runner = dash_app.server.extensions[jobs.EXTENSION].runner
    processes = psutil.Process(runner.ping()["pid"]).children()
    assert processes, "no job process found"
    for proc in processes:  # as the kernel's out-of-memory killer would
        proc.kill()
    dash_duo.wait_for_contains_text(
        f"#{ids.TRAIN_STATUS}", "stopped before it finished", TIMEOUT
    )
    dash_duo.wait_for_contains_text(
        f"#{ids.APP_NOTICE}", "stopped unexpectedly", TIMEOUT
    )
    assert not dash_duo.find_element(f"#{ids.TRAIN_BUTTON}").get_attribute("disabled")
    time.sleep(1)
    assert "Run 1" not in dash_duo.find_element(f"#{ids.TRAIN_STATUS}").text


def test_a_job_lost_with_its_runner_is_reported_as_interrupted(dash_duo, dash_app):
    """As when the server restarts: the runner that held the job goes, a new one
    answers the next poll, knowing nothing of it."""
    _slow_training(dash_duo, dash_app)
    runner = dash_app.server.extensions[jobs.EXTENSION].runner
    first = runner.ping()["pid"]
    psutil.Process(first).kill()
    dash_duo.wait_for_contains_text(f"#{ids.APP_NOTICE}", "was interrupted", TIMEOUT)
    assert "Start it again" in dash_duo.find_element(f"#{ids.APP_NOTICE}").text
    retry = dash_duo.find_element(f"#{ids.APP_RETRY}")
    assert retry.is_displayed()
    assert not dash_duo.find_element(f"#{ids.TRAIN_BUTTON}").get_attribute("disabled")
    deadline = time.monotonic() + TIMEOUT  # a new runner, which never had the job
    while time.monotonic() < deadline:
        try:
            if runner.ping()["pid"] != first:
                break
        except OSError:
            pass
        time.sleep(0.25)
    else:
        raise AssertionError("no new job runner")
    # One click starts the same training again, on the new runner.
    retry.click()
    _wait_for_content(dash_duo, f"#{ids.TRAIN_PROGRESS}", "Preparing the data")
    assert dash_duo.find_element(f"#{ids.TRAIN_BUTTON}").get_attribute("disabled")
    assert not dash_duo.find_element(f"#{ids.APP_RETRY}").is_displayed()
