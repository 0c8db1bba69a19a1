"""Logs for Cloud Logging: JSON lines with severity, trace, request id, httpRequest."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.app import create_app
from app.config import Settings
from app.server import logs


@pytest.fixture
def captured(tmp_path):
    """An app whose log lines are collected as parsed JSON objects."""
    app = create_app(
        Settings(cache_dir=str(tmp_path / "cache"), google_cloud_project="demo-project")
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield app.server.test_client(), lambda: [
            json.loads(line) for line in stream.getvalue().splitlines() if line
        ]
    finally:
        root.removeHandler(handler)


def test_access_lines_have_http_request_trace_and_request_id(captured):
    client, lines = captured
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = client.get(
        "/healthz",
        headers={
            "X-Cloud-Trace-Context": f"{trace}/123;o=1",
            "X-Request-Id": "req-1",
            # One entry written by the client, then the one the proxy added.
            "X-Forwarded-For": "6.6.6.6, 203.0.113.7",
        },
    )
    access = [e for e in lines() if e["logger"] == "access"][-1]
    assert access["severity"] == "INFO"
    assert access["message"] == "GET /healthz 200"
    assert (
        access["logging.googleapis.com/trace"]
        == f"projects/demo-project/traces/{trace}"
    )
    assert access["logging.googleapis.com/spanId"] == "123"
    assert access["requestId"] == "req-1" == response.headers["X-Request-Id"]
    http = access["httpRequest"]
    assert http["requestMethod"] == "GET" and http["status"] == 200
    assert http["requestUrl"].endswith("/healthz")
    assert http["latency"].endswith("s") and float(http["latency"][:-1]) >= 0
    assert int(http["responseSize"]) == len(response.data)
    assert http["remoteIp"] == "203.0.113.7"


def test_traceparent_is_understood_and_bad_request_ids_are_replaced(captured):
    client, lines = captured
    client.get(
        "/healthz",
        headers={
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "X-Request-Id": "<script>",
        },
    )
    access = [e for e in lines() if e["logger"] == "access"][-1]
    assert access["logging.googleapis.com/trace"].endswith(
        "0af7651916cd43dd8448eb211c80319c"
    )
    assert access["logging.googleapis.com/spanId"] == "b7ad6b7169203331"
    assert len(access["requestId"]) == 32 and "<" not in access["requestId"]


def test_app_log_lines_inside_a_request_share_its_trace(captured):
    client, lines = captured
    client.post(
        "/_dash-update-component",
        data=b"not json",
        headers={"X-Cloud-Trace-Context": "0af7651916cd43dd8448eb211c80319c/1"},
    )
    refused = [e for e in lines() if "malformed callback" in e["message"]][-1]
    assert refused["logger"] == "app.server.security"
    assert refused["logging.googleapis.com/trace"].endswith(
        "0af7651916cd43dd8448eb211c80319c"
    )


def _load_iris_body(client):
    deps = client.get("/_dash-dependencies").get_json()
    output = next(
        d["output"]
        for d in deps
        if d["output"].startswith("..data-version.data")
        and "data-synth.is_open" in d["output"]
    )
    values = [
        ("data-source", "iris"),
        ("data-synth-rows", 1000),
        ("data-synth-noise", None),
        ("data-synth-features", None),
        ("data-synth-seed", 0),
    ]
    return {
        "output": output,
        "outputs": [
            {"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
            for o in output.strip(".").split("...")
        ],
        "inputs": [{"id": i, "property": "value", "value": v} for i, v in values],
        "state": [{"id": "app-session", "property": "data", "value": "B" * 22}],
        "changedPropIds": ["data-source.value"],
    }


def test_server_errors_are_logged_as_errors_with_the_stack_but_hidden_from_visitors(
    captured, monkeypatch
):
    from app import services

    client, lines = captured

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(services, "load_dataset", broken)
    response = client.post("/_dash-update-component", json=_load_iris_body(client))
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "Something went wrong on our side; please try again."
    }
    assert b"secret detail" not in response.data and b"Traceback" not in response.data
    error = [e for e in lines() if e["severity"] == "ERROR"][-1]
    assert "secret detail" in error["message"] and "Traceback" in error["message"]
    access = [e for e in lines() if e["logger"] == "access"][-1]
    assert access["severity"] == "WARNING" and access["httpRequest"]["status"] == 500


def test_uploaded_data_never_reaches_the_logs(captured, iris):
    import base64

    client, lines = captured
    secret = "zq-very-private-cell"
    csv = iris.assign(note=secret).to_csv(index=False).encode()
    deps = client.get("/_dash-dependencies").get_json()
    upload = next(
        d["output"]
        for d in deps
        if d["output"].startswith("..data-version.data")
        and "data-upload-buffer.data@" in d["output"]
    )
    body = {
        "output": upload,
        "outputs": [
            {"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
            for o in upload.strip(".").split("...")
        ],
        "inputs": [
            {
                "id": "data-upload-buffer",
                "property": "data",
                "value": {
                    "filename": "private.csv",
                    "contents": "data:text/csv;base64,"
                    + base64.b64encode(csv).decode(),
                },
            }
        ],
        "state": [{"id": "app-session", "property": "data", "value": "A" * 22}],
        "changedPropIds": ["data-upload-buffer.data"],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 200
    text = json.dumps(lines())
    assert secret not in text
    assert "A" * 22 not in text
