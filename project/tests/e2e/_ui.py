"""Small browser steps shared by the browser tests."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from app.ui import ids

TIMEOUT = 40


def click(browser, selector: str, timeout: float = TIMEOUT) -> None:
    """Scroll an element into view and click it."""
    element = browser.wait_for_element(selector, timeout)
    browser.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})", element
    )
    element.click()


def tab(browser, label: str) -> None:
    """Open the main tab with this label."""
    for link in browser.driver.find_elements(
        By.CSS_SELECTOR, f"#{ids.MAIN_TABS} .nav-link"
    ):
        if link.text == label:
            browser.driver.execute_script(
                "arguments[0].scrollIntoView({block: 'center'})", link
            )
            link.click()
            return
    raise AssertionError(f"no tab {label}")


def run_row(browser, number: int, timeout: float = TIMEOUT) -> str:
    """A CSS selector of the runs table's row shown as run ``number``.

    Rows are keyed by run ids, which are random; the visitor sees the numbers.
    """
    xpath = (
        f"//*[@id='{ids.RUNS_TABLE}']//div[@row-id and contains(@class, 'ag-row')]"
        f"[.//div[@col-id='number' and normalize-space()='{number}']]"
    )
    row = WebDriverWait(browser.driver, timeout).until(
        lambda driver: driver.find_element(By.XPATH, xpath)
    )
    return f"#{ids.RUNS_TABLE} .ag-row[row-id='{row.get_attribute('row-id')}']"


def run_numbers(driver) -> list[str]:
    """The run numbers the runs table shows (of a Selenium driver)."""
    cells = driver.find_elements(
        By.XPATH,
        f"//*[@id='{ids.RUNS_TABLE}']//div[@row-id and contains(@class, 'ag-row')]"
        "//div[@col-id='number']",
    )
    return sorted({c.get_attribute("textContent").strip() for c in cells} - {""})


def train(browser, run: int) -> None:
    """Click Train and wait until run ``run`` is shown."""
    click(browser, f"#{ids.TRAIN_BUTTON}")
    browser.wait_for_contains_text(f"#{ids.EVAL_SUMMARY}", f"Run {run} ", TIMEOUT)
