"""Browser test of publishing a run: its link opens, in a second, fresh browser
(no session, no cookie), the run read-only; revoked, the link is gone."""

from __future__ import annotations

import requests
from _ui import TIMEOUT
from _ui import click as _click
from _ui import train as _train
from conftest import CHROME_ARGS
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app.ui import ids


def test_a_published_run_opens_in_a_fresh_browser_until_revoked(dash_duo, dash_app):
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "150 rows", TIMEOUT)
    _train(dash_duo, 1)
    _click(dash_duo, f"#{ids.SHARE_BUTTON}")
    dash_duo.wait_for_contains_text(f"#{ids.SHARE_LIST}", "Run 1: /r/", TIMEOUT)
    link = dash_duo.find_element(f"#{ids.SHARE_LIST} a").get_attribute("href")
    assert link.startswith(dash_duo.server_url + "/r/")

    options = webdriver.ChromeOptions()
    for arg in (*CHROME_ARGS, "--headless=new"):
        options.add_argument(arg)
    stranger = webdriver.Chrome(options=options)  # another profile: no session
    try:
        stranger.get(link)
        wait = WebDriverWait(stranger, TIMEOUT)
        heading = stranger.find_element(By.TAG_NAME, "h1").text
        assert heading == "Run 1: Logistic regression on Iris flowers"
        frame = stranger.find_element(By.TAG_NAME, "iframe")
        wait.until(ec.frame_to_be_available_and_switch_to_it(frame))
        wait.until(lambda d: "accuracy" in d.find_element(By.TAG_NAME, "body").text)
        wait.until(  # the report's figures drew, scripts running in the sandbox
            lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")
        )
        stranger.switch_to.default_content()
        api = link.replace("/r/", "/api/v1/runs/")
        answer = requests.post(
            f"{api}/predict",
            json={
                "rows": [
                    {
                        "sepal_length_cm": 6.3,
                        "sepal_width_cm": 3.3,
                        "petal_length_cm": 6.0,
                        "petal_width_cm": 2.5,
                    }
                ]
            },
            timeout=30,
        )
        assert answer.status_code == 200
        assert answer.json()["predictions"] == ["virginica"]

        _click(dash_duo, f"#{ids.SHARE_LIST} button")  # Revoke
        dash_duo.wait_for_contains_text(
            f"#{ids.SHARE_LIST}", "Run 1's link is revoked.", TIMEOUT
        )
        stranger.get(link)
        assert "No run is published" in stranger.find_element(By.TAG_NAME, "body").text
        assert requests.get(api, timeout=30).status_code == 404
    finally:
        stranger.quit()
