"""The MCP endpoint for AI agents (ENABLE_MCP=1), driven with the ``mcp`` client
library over streamable HTTP against a live server: only the deliberate tools,
and nothing without an API key."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest
from test_shares import _iris_run  # the run the sharing tests publish
from werkzeug.serving import make_server

from app.app import create_app
from app.ml import MODEL_SPECS
from app.server import jobs
from app.server.store import new_session_id
from app.services import sharing

TOOLS = {"list_datasets", "describe_dataset", "train_model", "explain_run", "predict"}
#: Dash's own tools for background callbacks run through MCP: none is exposed,
#: so they have no task to act on.
DASH_TASK_TOOLS = {"get_background_task_result", "cancel_background_task"}


@pytest.fixture
def served(settings, request):
    """A live server with MCP on, and its job runner (trainings run there)."""
    changes = getattr(request, "param", {})
    app = create_app(dataclasses.replace(settings, enable_mcp=True, **changes))
    jobs.start(app.server)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        jobs.stop(app.server)


async def _calls(url: str, key: str | None, calls: list[tuple[str, dict]]):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(f"{url}/_mcp", http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                listed = await session.list_tools()
                results = [await session.call_tool(n, a) for n, a in calls]
                return listed, results


def _result(call) -> dict:
    assert not call.is_error, call
    return call.structured_content["result"]


def test_the_tools_train_explain_and_predict_with_a_key(served):
    app, url = served
    store, shares = app.server.extensions["store"], app.server.extensions["shares"]
    owner = new_session_id()
    key = sharing.create_key(store, shares, owner)
    listed, (datasets, described, trained, explained, wrong, huge) = asyncio.run(
        _calls(
            url,
            key,
            [
                ("list_datasets", {}),
                ("describe_dataset", {"name": "iris"}),
                (
                    "train_model",
                    {
                        "dataset": "iris",
                        "model": "random_forest",
                        "parameters": {"n_estimators": 20},
                    },
                ),
                ("explain_run", {"run": 1, "top": 2}),
                ("train_model", {"dataset": "iris", "model": "gpt"}),
                (
                    "train_model",
                    {
                        "dataset": "iris",
                        "model": "random_forest",
                        "parameters": {"n_estimators": 10**9},
                    },
                ),
            ],
        )
    )
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOLS | DASH_TASK_TOOLS  # no callback, no layout
    for tool in (tools[name] for name in TOOLS):
        assert len(tool.description) > 60 and tool.input_schema["type"] == "object"
    assert tools["train_model"].input_schema["required"] == ["dataset", "model"]
    for name in MODEL_SPECS:
        assert name in tools["train_model"].description
    assert {
        "name": "iris",
        "label": "Iris flowers (150 × 4, 3 classes)",
        "task": "classification",
    } in _result(datasets)
    assert _result(described)["rows"] == 150
    assert _result(described)["target"] == "target"
    run = _result(trained)
    assert run["run"] == 1 and run["model"] == "Random forest"
    accuracy = next(m for m in run["metrics"] if m["name"] == "accuracy")
    assert accuracy["holdout"] > 0.85 and accuracy["cv_mean"] > 0.85
    assert 0.2 < accuracy["baseline"] < 0.5  # the majority class of three
    top = _result(explained)["features"]
    assert len(top) == 2 and top[0]["importance"] >= top[1]["importance"]
    assert "No model 'gpt'" in _result(wrong)["error"]
    assert "use fewer trees" in _result(huge)["error"]  # the app's own budget

    # The owner's private run: its key opens it, another owner's does not.
    run_id, _ = _iris_run(store, owner, folds=0)
    token, _ = sharing.publish(store, shares, owner, run_id, private=True)
    row = {
        "sepal_length_cm": 6.3,
        "sepal_width_cm": 3.3,
        "petal_length_cm": 6.0,
        "petal_width_cm": 2.5,
    }
    _, (mine,) = asyncio.run(
        _calls(url, key, [("predict", {"token": token, "rows": [row]})])
    )
    assert _result(mine).get("predictions") == ["virginica"], _result(mine)
    stranger = sharing.create_key(store, shares, new_session_id())
    _, (theirs,) = asyncio.run(
        _calls(url, stranger, [("predict", {"token": token, "rows": [row]})])
    )
    assert "private" in _result(theirs)["error"]  # another owner's key


@pytest.mark.parametrize("key", [None, "dk_" + "x" * 43, "not a key"])
def test_without_a_valid_key_the_endpoint_answers_401(served, key):
    app, url = served
    client = app.server.test_client()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = client.post(
        "/_mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers=headers,
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(Exception):
        asyncio.run(_calls(url, key, []))


def test_without_enable_mcp_there_is_no_endpoint(settings):
    client = create_app(settings).server.test_client()
    answer = client.post("/_mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status_code in (404, 405)


@pytest.mark.parametrize("served", [{"job_seconds": 2}], indirect=True)
def test_a_tools_training_runs_as_a_job_within_its_budget(served):
    app, url = served
    store, shares = app.server.extensions["store"], app.server.extensions["shares"]
    key = sharing.create_key(store, shares, new_session_id())
    heavy = {"n_estimators": 1000, "max_depth": None}
    _, (quick, slow, after) = asyncio.run(
        _calls(
            url,
            key,
            [
                ("train_model", {"dataset": "iris", "model": "logistic_regression"}),
                (
                    "train_model",
                    {
                        "dataset": "digits",
                        "model": "random_forest",
                        "parameters": heavy,
                        "cv_folds": 10,
                    },
                ),
                ("train_model", {"dataset": "wine", "model": "naive_bayes"}),
            ],
        )
    )
    assert _result(quick)["run"] == 1
    refused = slow.structured_content["result"]
    assert (
        "ran longer than the 2 seconds this server allows one job" in refused["error"]
    )
    assert _result(after)["run"] == 2  # the web process is fine, and goes on
