"""Headless Chromium behind a round-robin proxy over two instances of the app.

Redis, instances A and B (each with its own CACHE_DIR) and a Celery worker, as in
``test_distributed.py``; a small reverse proxy sends each request to the next
instance in turn, with no session affinity, so that the page, its callbacks and
the polls of its training job alternate between A and B.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import urlsplit

import pytest
from dash.testing.browser import Browser
from test_distributed import running_cluster

from app.ui import ids

TIMEOUT = 60
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class RoundRobinProxy:
    """A reverse proxy that sends each request to the next backend in turn.

    ``served`` records ``(backend, method, path)`` of every request.
    """

    def __init__(self, backends: list[str]) -> None:
        self._next = itertools.cycle(backends)
        self._lock = threading.Lock()
        self.served: list[tuple[str, str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                proxy.forward(self)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            backend = next(self._next)
            self.served.append((backend, handler.command, handler.path))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP
        }
        target = urlsplit(backend)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        handler.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                handler.send_header(name, value)
        if answer.status not in (204, 304):
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[tuple[RoundRobinProxy, object]]:
    with running_cluster(tmp_path_factory.mktemp("distributed-e2e")) as cluster:
        proxy = RoundRobinProxy([cluster.a.base, cluster.b.base])
        try:
            yield proxy, cluster
        finally:
            proxy.close()


@pytest.fixture
def browser(request, tmp_path) -> Iterator[Browser]:
    with Browser(
        browser="chrome",
        headless=request.config.getoption("headless"),
        options=request.config.hook.pytest_setup_options(),
        download_path=str(tmp_path),
        percy_run=False,
    ) as browser:
        yield browser


def test_a_page_served_by_two_instances_in_turn_trains_and_shows_metrics(
    proxy, browser
):
    proxy, cluster = proxy
    browser.server_url = proxy.url
    browser.wait_for_page(
        # digits: a forest long enough (seconds) to be polled several times
        f"{proxy.url}/?dataset=digits&model=random_forest",
        timeout=TIMEOUT,
    )
    browser.wait_for_contains_text(f"#{ids.DATA_STATUS}", "1,797 rows", TIMEOUT)
    browser.wait_for_contains_text(f"#{ids.MODEL_NAME}", "Random forest", TIMEOUT)
    browser.wait_for_contains_text(f"#{ids.TARGET_COLUMN}", "target", TIMEOUT)
    started = len(proxy.served)
    button = browser.wait_for_element(f"#{ids.TRAIN_BUTTON}")
    browser.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})", button
    )
    button.click()
    cell = f"#{ids.METRICS_TABLE} tr[data-metric='accuracy'] td:nth-child(2)"
    browser.wait_for_element(cell, timeout=TIMEOUT)
    assert 0.85 < float(browser.find_element(cell).text) <= 1.0
    browser.wait_for_contains_text(f"#{ids.RUNS_TABLE}", "Random forest", TIMEOUT)
    assert "stopped before it finished" not in browser.find_element(
        f"#{ids.TRAIN_STATUS}"
    ).get_attribute("textContent")

    polls = [s for s in proxy.served[started:] if "cacheKey=" in s[2]]
    assert {backend for backend, _, _ in polls} == {
        cluster.a.base,
        cluster.b.base,
    }, f"the job's polls did not alternate: {polls}"
    callbacks = {b for b, _, path in proxy.served if "_dash-update-component" in path}
    assert callbacks == {cluster.a.base, cluster.b.base}
    severe = [
        entry
        for entry in browser.get_logs() or []
        if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
    ]
    assert severe == []
