"""Figures in a browser without WebGL: drawn as SVG, never as grey boxes."""

from __future__ import annotations

import time

import pytest
from _ui import TIMEOUT
from dash.testing.browser import Browser

from app.ui import ids


@pytest.fixture
def no_webgl(request, tmp_path):
    """A headless Chromium with WebGL (and every 3-D API) turned off."""
    (options,) = request.config.hook.pytest_setup_options()
    options.add_argument("--disable-webgl")
    options.add_argument("--disable-3d-apis")
    with Browser(
        browser="chrome",
        headless=request.config.getoption("headless"),
        options=[options],
        download_path=str(tmp_path),
        percy_run=False,
    ) as browser:
        yield browser


def test_a_big_scatter_is_drawn_as_svg_without_webgl(dash_duo, dash_app, no_webgl):
    dash_duo.start_server(dash_app)
    no_webgl.server_url = dash_duo.server_url
    no_webgl.wait_for_page(f"{dash_duo.server_url}/?dataset=classification")
    no_webgl.wait_for_contains_text(f"#{ids.DATA_STATUS}", "rows", TIMEOUT)
    assert no_webgl.driver.execute_script(
        "var c = document.createElement('canvas');"
        "return !(c.getContext('webgl') || c.getContext('experimental-webgl'));"
    ), "this browser still has WebGL: the test proves nothing"
    # 6,000 rows: past the point where the app sends WebGL traces.
    no_webgl.find_element(f"#{ids.DATA_SYNTH_ROWS}").clear()
    no_webgl.find_element(f"#{ids.DATA_SYNTH_ROWS}").send_keys("6000\t")
    no_webgl.wait_for_contains_text(f"#{ids.DATA_STATUS}", "6,000 rows", TIMEOUT)
    scatter = f"#{ids.DATA_SCATTER_GRAPH}"
    no_webgl.wait_for_element(f"{scatter} .scatterlayer .trace", TIMEOUT)
    # The 1,000-row scatter stays drawn until the new data's scatter replaces it.
    count = "return document.querySelectorAll(arguments[0]).length;"
    deadline, points = time.monotonic() + TIMEOUT, 0
    while time.monotonic() < deadline and points < 5_000:
        time.sleep(0.2)
        points = no_webgl.driver.execute_script(
            count, f"{scatter} .scatterlayer .point"
        )
    assert points >= 5_000
    assert not no_webgl.driver.find_elements(
        "css selector", f"{scatter} canvas.gl-canvas"
    )
    assert (
        no_webgl.driver.execute_script(
            "return document.documentElement.getAttribute('data-webgl');"
        )
        == "none"
    )
