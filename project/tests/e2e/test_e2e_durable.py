"""Browser tests of the durable workspace: a visitor's work outlives the server
that made it (a new process, with an empty cache, on the same ``STORE_URL``),
and a job cut by a restart is reported as interrupted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _ui import TIMEOUT
from _ui import click as _click
from _ui import run_numbers, run_row
from _ui import tab as _tab
from _ui import train as _train
from conftest import CHROME_ARGS
from gcs_fixture import BUCKET, gcs_emulator  # noqa: F401 - a fixture
from gunicorn_fixture import free_port, gunicorn
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from app.ui import ids


def _open(dash_duo, url: str, rows: str) -> None:
    dash_duo.driver.get(url)
    dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", rows, TIMEOUT)


def _objects(store: str) -> list[Path]:
    return sorted(p for p in Path(store).rglob("*") if p.is_file())


@pytest.fixture(params=["local", "gcs"])
def store_url(request, tmp_path) -> str:
    """Where the workspaces are kept: a local directory, or a bucket of a local
    Cloud Storage emulator."""
    if request.param == "gcs":
        request.getfixturevalue("gcs_emulator")
        return f"gs://{BUCKET}/workspaces-{tmp_path.name}"
    return str(tmp_path / "workspaces")


def test_a_visitors_work_outlives_the_server(dash_duo, tmp_path, store_url):
    port = free_port()
    env = {"STORE_URL": store_url}
    base = f"http://127.0.0.1:{port}"
    with gunicorn(tmp_path / "first", env, port=port):
        _open(dash_duo, f"{base}/?dataset=wine&model=random_forest", "178 rows")
        dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "Random forest", TIMEOUT)
        _train(dash_duo, 1)
        _train(dash_duo, 2)

    # A new server process with an empty cache of its own: only the store is
    # shared, as with a new Cloud Run instance.
    with gunicorn(tmp_path / "second", env, port=port) as served:
        _open(dash_duo, base, "178 rows")  # no choice in the address this time
        run_row(dash_duo, 2)
        assert run_numbers(dash_duo.driver) == ["1", "2"]
        dash_duo.wait_for_contains_text(f"#{ids.MODEL_NAME}", "Random forest", TIMEOUT)
        _tab(dash_duo, "Predict")
        dash_duo.wait_for_contains_text(
            f"#{ids.PREDICT_SUMMARY}", "Predicting with run 2", TIMEOUT
        )
        dash_duo.wait_for_contains_text(f"#{ids.WHATIF_PREDICTION}", "class_", TIMEOUT)

        # Another browser profile: a workspace of its own, empty.
        options = webdriver.ChromeOptions()
        for arg in (*CHROME_ARGS, "--headless=new"):
            options.add_argument(arg)
        stranger = webdriver.Chrome(options=options)
        try:
            stranger.get(base)
            WebDriverWait(stranger, TIMEOUT).until(
                lambda d: "150 rows" in d.find_element(By.ID, ids.DATA_STATUS).text
            )
            assert run_numbers(stranger) == []
        finally:
            stranger.quit()
        assert "Traceback" not in served.log.read_text()

        # Forget my data: nothing of the workspace is left in the store.
        _click(dash_duo, f"#{ids.FORGET_OPEN}")
        _click(dash_duo, f"#{ids.FORGET_CONFIRM}")
        dash_duo.wait_for_contains_text(
            f"#{ids.FORGET_BODY}", "1 dataset and 2 runs", TIMEOUT
        )
    if store_url.startswith("gs://"):
        import gcsfs

        fs = gcsfs.GCSFileSystem(token="anon")  # nosec B106 - the emulator
        fs.invalidate_cache()
        left = [p for p in fs.find(store_url) if "/ws/" in p]
    else:
        left = [str(p) for p in _objects(store_url) if "/ws/" in str(p)]
    # The stranger's visit made a workspace of its own (the iris it opened).
    assert len({p.split("/ws/")[1].split("/")[0] for p in left}) <= 1, left
    assert not any("runs" in p for p in left), left


def test_a_job_cut_by_a_restart_is_reported_as_interrupted(dash_duo, tmp_path):
    port = free_port()
    env = {"STORE_URL": str(tmp_path / "workspaces")}
    base = f"http://127.0.0.1:{port}"
    with gunicorn(tmp_path / "first", env, port=port):
        _open(dash_duo, f"{base}/?dataset=classification&model=random_forest", "rows")
        rows = dash_duo.find_element(f"#{ids.DATA_SYNTH_ROWS}")
        rows.clear()
        rows.send_keys("80000\n")
        dash_duo.wait_for_contains_text(f"#{ids.DATA_STATUS}", "80,000 rows", TIMEOUT)
        _click(dash_duo, f"#{ids.TRAIN_BUTTON}")
        dash_duo.wait_for_contains_text(
            f"#{ids.TRAIN_PROGRESS}", "Cross-validation fold", TIMEOUT
        )
    started = time.monotonic()
    with gunicorn(tmp_path / "second", env, port=port):
        dash_duo.wait_for_contains_text(
            f"#{ids.APP_NOTICE}", "was interrupted", TIMEOUT
        )
        assert dash_duo.find_element(f"#{ids.APP_RETRY}").is_displayed()
        assert time.monotonic() - started < TIMEOUT
        # The data it was training on is still there, from the store.
        assert "80,000 rows" in dash_duo.find_element(f"#{ids.DATA_STATUS}").text
