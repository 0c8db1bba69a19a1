"""Browser test of the workspace: every tab of one browser opens the same runs, a
fresh browser sees none, and "Forget my data" deletes them all at once."""

from __future__ import annotations

from _ui import TIMEOUT
from _ui import click as _click
from _ui import run_numbers, run_row
from _ui import train as _train
from conftest import CHROME_ARGS
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app.ui import ids


def _opened(driver, url: str) -> None:
    """Open the app and wait for its default data (the opening's callbacks done)."""
    driver.get(url)
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: "150 rows" in d.find_element(By.ID, ids.DATA_STATUS).text
    )


def test_a_browser_keeps_its_workspace_until_it_forgets_it(dash_duo, dash_app):
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _train(dash_duo, 1)
    _train(dash_duo, 2)
    driver = dash_duo.driver

    # A new tab of the same browser (a later visit): the same workspace.
    driver.switch_to.new_window("tab")
    _opened(driver, dash_duo.server_url)
    run_row(dash_duo, 2)
    assert run_numbers(driver) == ["1", "2"]

    # Another browser (a profile of its own): nothing of it.
    options = webdriver.ChromeOptions()
    for arg in (*CHROME_ARGS, "--headless=new"):
        options.add_argument(arg)
    stranger = webdriver.Chrome(options=options)
    try:
        _opened(stranger, dash_duo.server_url)
        assert stranger.find_elements(By.ID, ids.RUNS_TABLE)
        assert run_numbers(stranger) == []
    finally:
        stranger.quit()

    # Forget my data: asked first, then done, said, and the page starts empty.
    _click(dash_duo, f"#{ids.FORGET_OPEN}")
    dash_duo.wait_for_contains_text(f"#{ids.FORGET_BODY}", "for good", TIMEOUT)
    _click(dash_duo, f"#{ids.FORGET_CONFIRM}")
    dash_duo.wait_for_contains_text(
        f"#{ids.FORGET_BODY}",
        "Your data was deleted from this server: 1 dataset and 2 runs.",
        TIMEOUT,
    )
    status = driver.find_element(By.ID, ids.DATA_STATUS)
    driver.find_element(By.LINK_TEXT, "Start again").click()
    WebDriverWait(driver, TIMEOUT).until(ec.staleness_of(status))  # a new page
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: "150 rows" in d.find_element(By.ID, ids.DATA_STATUS).text
    )
    assert run_numbers(driver) == []
    _train(dash_duo, 1)  # numbering starts again: a workspace of its own
