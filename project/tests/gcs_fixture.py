"""A throwaway Google Cloud Storage API (``gcp-storage-emulator``, from PyPI) on a
free loopback port, for the tests of what the app keeps in a bucket."""

from __future__ import annotations

import os
import socket
import subprocess  # nosec B404
import sys
import time
from typing import Iterator

import pytest
import requests

BUCKET = "dashboard-test"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """The emulator's URL, with the bucket :data:`BUCKET`; ``STORAGE_EMULATOR_HOST``
    points at it while the tests run (gcsfs reads it; so gcsfs must not have
    been imported before, as its choice of file system is made then)."""
    if "gcsfs" in sys.modules and not os.environ.get("STORAGE_EMULATOR_HOST"):
        pytest.fail("gcsfs was imported before the emulator started", pytrace=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # nosec B603 - our interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "--default-bucket",
            BUCKET,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/storage/v1/b", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the Cloud Storage emulator did not start", pytrace=False)
        time.sleep(0.1)
    # The emulator speaks Cloud Storage's JSON API, not the gRPC one gcsfs's
    # experimental file system also asks (a bucket's layout): that one is off.
    variables = {"STORAGE_EMULATOR_HOST": url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "0"}
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield url
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        process.terminate()
        process.wait(timeout=10)
