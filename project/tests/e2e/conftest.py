"""Browser-test fixtures: headless Chromium options and the app under test."""

from __future__ import annotations

import pytest
from selenium.webdriver.chrome.options import Options

from app.app import create_app
from app.config import Settings
from app.server import jobs

CHROME_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def pytest_setup_options():
    """Chromium options for dash.testing (headless comes from --headless)."""
    options = Options()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    return options


def pytest_collection_modifyitems(items):
    """Every test in this folder is a browser test."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def dash_app(tmp_path):
    """A fresh app with its own cache directory and a small upload limit, and its
    job runner started before the test server's threads (as gunicorn does)."""
    app = create_app(Settings(cache_dir=str(tmp_path / "cache"), max_upload_mb=1.0))
    jobs.start(app.server)
    yield app
    jobs.stop(app.server)
