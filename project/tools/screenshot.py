"""Take the README's screenshots of a running app with headless Chromium.

Usage: python project/tools/screenshot.py [BASE_URL] [OUT_DIR]
(defaults: http://127.0.0.1:8050 and docs/).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--hide-scrollbars",
)


def _driver(width: int, height: int) -> webdriver.Chrome:
    options = Options()
    for arg in ARGS:
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(options=options)


def _wait_text(driver, selector: str, text: str, timeout: float = 60) -> None:
    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text)
    )


def main(base: str, out: Path) -> None:
    """Save data.png (the Data tab), screenshot.png (results after training),
    explain.png, predict.png and tune.png (a search of the random forest)."""
    out.mkdir(parents=True, exist_ok=True)
    driver = _driver(1440, 1700)
    try:
        driver.get(f"{base}/?dataset=breast_cancer&model=random_forest&target=target")
        _wait_text(driver, "#data-status", "569 rows")
        time.sleep(3)
        driver.save_screenshot(str(out / "data.png"))
        button = driver.find_element(By.ID, "train-button")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        WebDriverWait(driver, 120).until(
            ec.presence_of_element_located(
                (By.CSS_SELECTOR, "#metrics-table tr[data-metric]")
            )
        )
        time.sleep(3)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(out / "screenshot.png"))
        waits = {
            "Explain": [
                ("#explain-permutation", "Permutation"),
                ("#explain-boundary", "Decision boundary"),
            ],
            "Predict": [("#whatif-prediction", "Class probabilities")],
        }
        for tab, name in (("Explain", "explain.png"), ("Predict", "predict.png")):
            links = driver.find_elements(By.CSS_SELECTOR, "#main-tabs .nav-link")
            next(link for link in links if link.text == tab).click()
            for selector, text in waits[tab]:
                _wait_text(driver, selector, text, timeout=120)
            if tab == "Predict":  # the what-if prediction's contributions drawn
                WebDriverWait(driver, 120).until(
                    ec.presence_of_element_located(
                        (By.CSS_SELECTOR, "#whatif-contributions .main-svg .point")
                    )
                )
            time.sleep(2)
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(out / name))
        _tune(driver, out / "tune.png")
    finally:
        driver.quit()


def _tune(driver, path: Path) -> None:
    """A 20-candidate search of the random forest, once it has ended (a taller
    window: the per-parameter plots are under the leaderboard)."""
    driver.set_window_size(1440, 2000)
    button = driver.find_element(By.ID, "tune-open")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    count = driver.find_element(By.ID, "tune-candidates")
    count.clear()
    count.send_keys("20")
    driver.find_element(By.ID, "tune-button").click()
    _wait_text(driver, "#tune-status", "Search ended", timeout=600)
    time.sleep(3)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8050",
        Path(sys.argv[2] if len(sys.argv) > 2 else "docs"),
    )
