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


def test_a_published_run_opens_in_a_fresh_browser_until_revoked(
    dash_duo, dash_app, tmp_path
):
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
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads)}
    )
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

        # What if: the page's own form, no session behind it.
        for name, value in (("petal_length_cm", "6.0"), ("petal_width_cm", "2.5")):
            field = stranger.find_element(By.NAME, f"x.{name}")
            field.clear()
            field.send_keys(value)
        stranger.find_element(By.ID, "whatif-predict").click()
        wait.until(
            lambda d: "Prediction: virginica"
            in d.find_element(By.ID, "whatif-result").text
        )
        shown = stranger.find_element(By.NAME, "x.petal_length_cm")
        assert shown.get_attribute("value") == "6.0"  # the form kept the values

        # Batch prediction: a file in, a CSV of predictions out.
        rows = tmp_path / "rows.csv"
        rows.write_text(
            "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n"
            "6.3,3.3,6.0,2.5\n5.1,3.5,1.4,0.2\n"
        )
        stranger.find_element(By.ID, "batch-file").send_keys(str(rows))
        stranger.find_element(By.ID, "batch-predict").click()
        saved = downloads / "predictions-run-1.csv"
        WebDriverWait(stranger, TIMEOUT).until(lambda _: saved.exists())
        lines = saved.read_text(encoding="utf-8-sig").splitlines()  # with a BOM
        assert lines[0].startswith("sepal_length_cm,") and "prediction" in lines[0]
        assert "virginica" in lines[1] and "setosa" in lines[2]

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
        assert "No run is published" in stranger.find_element(By.TAG_NAME, "h1").text
        assert requests.get(api, timeout=30).status_code == 404
    finally:
        stranger.quit()
