"""Browser test of a hyper-parameter search: start it, watch the leaderboard
grow, cancel it, keep the best as a run, download its code and run it."""

from __future__ import annotations

import json
import re
import subprocess  # nosec B404 - runs the downloaded script, as a visitor would
import sys
import time
from pathlib import Path

from _ui import TIMEOUT, click, run_row, tab
from selenium.webdriver.common.by import By

from app.ui import ids


def _rows(browser) -> list[dict]:
    """The leaderboard's rows, as the grid holds them."""
    rows = browser.driver.execute_script(
        "const rows = [];"
        "dash_ag_grid.getApi(arguments[0]).forEachNode(n => rows.push(n.data));"
        "return rows;",
        ids.TUNE_LEADERBOARD,
    )
    return rows or []


def _wait(condition, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not seen after {timeout} s: {what}")


def _set(browser, selector: str, value: str) -> None:
    box = browser.find_element(selector)
    box.clear()
    box.send_keys(value)


def _wait_for_file(folder: str, name: str) -> Path:
    path = Path(folder) / name
    _wait(
        lambda: path.exists()
        and path.stat().st_size > 0
        and not Path(f"{path}.crdownload").exists(),
        f"{name} downloaded",
    )
    return path


def test_search_grows_cancels_keeps_the_best_and_exports(dash_duo, dash_app):
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_page(
        f"{dash_duo.server_url}/?dataset=classification&model=random_forest"
    )
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "1,000 rows", TIMEOUT)
    dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "Random forest", TIMEOUT)
    click(dash_duo, f"#{ids.TUNE_OPEN}")
    dash_duo.wait_for_element(f"#{ids.TUNE_BUTTON}", TIMEOUT)
    assert "active" in dash_duo.find_element(
        f"#{ids.MAIN_TABS} .nav-link.active"
    ).get_attribute("class")
    assert dash_duo.find_element(f"#{ids.MAIN_TABS} .nav-link.active").text == "Tune"
    _set(dash_duo, f"#{ids.TUNE_CANDIDATES}", "40")
    click(dash_duo, f"#{ids.TUNE_BUTTON}")

    # Live: the progress says how far it is, and the leaderboard grows.
    label = _wait(
        lambda: re.search(
            r"(\d+) of 40 candidates · best Accuracy [0-9.]+",
            dash_duo.find_element(f"#{ids.TUNE_PROGRESS}").get_attribute("textContent")
            or "",
        ),
        "progress with a best score",
    )
    first = _wait(lambda: len(_rows(dash_duo)), f"rows after {label.group(0)}", 5)
    _wait(lambda: len(_rows(dash_duo)) > first, "the leaderboard growing")
    dash_duo.wait_for_element(f"#{ids.TUNE_FIGURE} .main-svg", TIMEOUT)
    assert "Search: Accuracy" in dash_duo.find_element(f"#{ids.TUNE_FIGURE}").text

    # Cancel: the search stops within a few seconds; what it found stays.
    click(dash_duo, f"#{ids.TUNE_CANCEL}")
    cancelled = time.monotonic()
    _wait(
        lambda: not dash_duo.find_element(f"#{ids.TUNE_BUTTON}").get_attribute(
            "disabled"
        ),
        "the search stopping",
        timeout=10,
    )
    stopped_in = time.monotonic() - cancelled
    assert stopped_in < 5, stopped_in
    kept = _rows(dash_duo)
    assert len(kept) >= 2 and len(kept) < 40
    time.sleep(1.5)  # nothing more arrives once cancelled
    assert len(_rows(dash_duo)) == len(kept)

    # Use best: an ordinary run, its tuned parameters marked.
    click(dash_duo, f"#{ids.TUNE_USE_BEST}")
    dash_duo.wait_for_contains_text(f"#{ids.TUNE_STATUS}", "Run 1 is", TIMEOUT)
    # The leaderboard now shows every candidate kept (one that ended between
    # the last poll and the cancel too); its first is the run's.
    final = _rows(dash_duo)
    assert len(final) >= len(kept)
    ranked = sorted((r for r in final if r["rank"]), key=lambda r: r["rank"])
    best = ranked[0]
    assert all(best["cv_mean"] >= r["cv_mean"] for r in ranked)
    tab(dash_duo, "Results")
    row = run_row(dash_duo, 1)
    text = dash_duo.find_element(row).text
    assert "tuned" in text, text

    # The downloaded code repeats the search and prints the same best.
    click(dash_duo, row + " [col-id='model']")
    dash_duo.wait_for_contains_text(f"#{ids.EVAL_SUMMARY}", "Run 1 ", TIMEOUT)
    click(dash_duo, f"#{ids.DOWNLOAD_CODE}")
    script = _wait_for_file(dash_duo.download_path, "reproduce-run-1.py")
    done = subprocess.run(  # nosec B603 - our own interpreter, our own file
        [sys.executable, "-I", str(script), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert printed["search"]["best_index"] + 1 == best["candidate"]
    assert abs(printed["search"]["best_cv_mean"] - best["cv_mean"]) < 1e-9
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, row)
