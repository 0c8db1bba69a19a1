"""tools.dashclient against a real Dash app built here: the output-key format
(made and read as Dash makes it), requests built from ``/_dash-dependencies``
(plain, multi-output, pattern-matching) and answered by Dash itself, through
Flask's test client (no server process)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dash import ALL, Dash, Input, Output, State, html

from tools.dashclient import (
    DashClient,
    Job,
    Layout,
    follow_ups,
    is_multi,
    output_key,
    parse_output_key,
    prop_id,
)

BASE = "http://localhost"
NUM = "num"


def _app() -> Dash:
    app = Dash(__name__)
    app.layout = html.Div(
        [
            html.Button(id="go", n_clicks=0),
            html.Div(id="shout"),
            html.Div(id="count"),
            html.Div(id="plain", title="plain"),
            *(html.Div(id={"type": NUM, "index": i}, title=str(i)) for i in (1, 2)),
            html.Div(id="total"),
            html.Div(id={"kind": "a.b"}),
        ]
    )

    @app.callback(
        Output("shout", "children"),
        Input("plain", "title"),
        State("go", "n_clicks"),
    )
    def shout(title, clicks):
        return f"{title.upper()} after {clicks}"

    @app.callback(
        [Output("count", "children"), Output("plain", "title", allow_duplicate=True)],
        Input("go", "n_clicks"),
        prevent_initial_call=True,
    )
    def count(clicks):
        return f"{clicks} clicks", f"clicked {clicks}"

    @app.callback(
        Output("total", "children"),
        Input({"type": NUM, "index": ALL}, "title"),
        State({"type": NUM, "index": ALL}, "id"),
    )
    def total(titles, ids):
        return f"{sum(int(t) for t in titles)} from {[i['index'] for i in ids]}"

    @app.callback(Output({"kind": "a.b"}, "children"), Input("go", "n_clicks"))
    def dotted(clicks):
        return clicks

    return app


class _Answer:
    """A Flask test response with what the client reads of requests' one."""

    def __init__(self, response: Any) -> None:
        self.status_code = response.status_code
        self.content = response.get_data()
        self.text = response.get_data(as_text=True)

    def json(self) -> Any:
        return json.loads(self.text)

    def raise_for_status(self) -> None:
        assert self.status_code < 400, self.text


class _Flask:
    """The transport: requests' ``get``/``post`` over Flask's test client."""

    def __init__(self, app: Dash) -> None:
        self.client = app.server.test_client()
        self.headers: dict[str, str] = {}
        self.posted: list[tuple[str, Any]] = []

    def get(self, url: str, **_: Any) -> _Answer:
        return _Answer(self.client.get(url, headers=self.headers))

    def post(self, url: str, json: Any = None, **_: Any) -> _Answer:
        self.posted.append((url, json))
        return _Answer(self.client.post(url, json=json, headers=self.headers))


@pytest.fixture
def client() -> DashClient:
    return DashClient(BASE, session=_Flask(_app()))


def test_output_key_is_the_key_dash_gives(client):
    keys = {d["output"] for d in client.deps}
    num = {"type": NUM, "index": 1}
    made = {
        output_key("shout.children"),
        output_key(
            [Output("count", "children"), Output("plain", "title", True)],
            inputs=[Input("go", "n_clicks")],
        ),
        output_key(Output("total", "children")),
        output_key(Output({"kind": "a.b"}, "children")),
    }
    assert made == keys
    assert output_key(["shout.children"]) == "..shout.children.."
    assert output_key(prop_id(num, "title")) == '{"index":1,"type":"num"}.title'


def test_parse_output_key_gives_the_outputs_as_a_request_lists_them(client):
    multi = next(d["output"] for d in client.deps if is_multi(d["output"]))
    count, plain = parse_output_key(multi)
    assert count == {"id": "count", "property": "children"}
    assert plain["id"] == "plain" and plain["property"].startswith("title@")
    assert parse_output_key("shout.children") == [
        {"id": "shout", "property": "children"}
    ]
    dotted = output_key(Output({"kind": "a.b"}, "children"))
    assert "a\\.b" in dotted
    assert parse_output_key(dotted) == [{"id": {"kind": "a.b"}, "property": "children"}]
    wildcard = output_key([Output({"type": NUM, "index": ALL}, "title")])
    assert wildcard == '..{"index":["ALL"],"type":"num"}.title..'
    assert parse_output_key(wildcard) == [
        {"id": {"index": ["ALL"], "type": NUM}, "property": "title"}
    ]


def test_a_plain_callback_request_and_its_answer(client):
    values = {"plain.title": "hello", "go.n_clicks": 3}
    body = client.body(["shout.children"], values, changed=["plain.title"])
    assert body == {
        "output": "shout.children",
        "outputs": {"id": "shout", "property": "children"},
        "inputs": [{"id": "plain", "property": "title", "value": "hello"}],
        "changedPropIds": ["plain.title"],
        "parsedChangedPropsIds": ["plain.title"],
        "state": [{"id": "go", "property": "n_clicks", "value": 3}],
    }
    assert client.call("shout.children", values, changed=["plain.title"]) == {
        "shout": {"children": "HELLO after 3"}
    }


def test_a_multi_output_request_and_its_answer(client):
    body = client.body(
        ["count.children", "plain.title"], {"go.n_clicks": 2}, changed=["go.n_clicks"]
    )
    assert isinstance(body["outputs"], list) and len(body["outputs"]) == 2
    assert body["outputs"] == parse_output_key(body["output"])
    assert "state" not in body  # the renderer leaves out an empty state
    answer = client.post(body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == {
        "count": {"children": "2 clicks"},
        "plain": {"title": "clicked 2"},
    }


def test_a_pattern_matching_request_and_its_answer(client):
    first, second = ({"type": NUM, "index": i} for i in (1, 2))
    values = {prop_id(first, "title"): "4", prop_id(second, "title"): "5"}
    changed = prop_id(second, "title")
    body = client.body("total.children", values, changed=[changed])
    assert body["inputs"] == [
        [
            {"id": first, "property": "title", "value": "4"},
            {"id": second, "property": "title", "value": "5"},
        ]
    ]
    assert body["state"] == [
        [
            {"id": first, "property": "id", "value": first},
            {"id": second, "property": "id", "value": second},
        ]
    ]
    assert body["changedPropIds"] == ['{"index":2,"type":"num"}.title']
    assert body["parsedChangedPropsIds"] == [second]
    out = client.call("total.children", values, changed=[changed])
    assert out == {"total": {"children": "9 from [1, 2]"}}


def test_requests_from_the_page_layout_and_answers_written_back(client):
    config = client.open()
    assert client.end_id == config.get("end_id")  # what every POST then carries
    layout = client.layout()
    assert isinstance(layout, Layout)
    changed = prop_id({"type": NUM, "index": 1}, "title")
    from_page = client.body("total.children", layout, changed=[changed])
    values = {prop_id({"type": NUM, "index": i}, "title"): str(i) for i in (1, 2)}
    assert from_page == client.body("total.children", values, changed=[changed])

    layout.props("go")["n_clicks"] = 1
    body = client.body(
        ["count.children", "plain.title"], layout, changed=["go.n_clicks"]
    )
    layout.apply(client.post(body).json()["response"])
    assert layout.props("plain")["title"] == "clicked 1"
    out = client.call("shout.children", layout, changed=["plain.title"])
    layout.apply(out)
    assert layout.props("shout")["children"] == "CLICKED 1 after 1"
    layout.apply_side({"count.children": "side", '{"index":2,"type":"num"}.title': "7"})
    assert layout.props("count")["children"] == "side"
    assert layout.props({"type": NUM, "index": 2})["title"] == "7"


def test_find_names_a_callback_by_its_outputs_and_trigger(client):
    assert client.find("plain.title")["output"].startswith("..count.children")
    assert client.find(["shout.children"], "plain.title")["output"] == "shout.children"
    with pytest.raises(LookupError):
        client.find(["shout.children"], "go.n_clicks")  # a state, not an input
    with pytest.raises(LookupError):
        client.find(["count.children"])  # not all its outputs


def test_background_polls_as_the_renderer_sends_them(client):
    client.end_id = "e~1"
    body = client.body(
        "total.children", {prop_id({"type": NUM, "index": 1}, "title"): "4"}
    )
    job = Job(body, {"cacheKey": "k~2", "job": "j~3"}, interval=0.5)
    assert (job.task_id, job.cache_key) == ("j", "k")
    assert client.url(job.query()) == (
        f"{BASE}/_dash-update-component?endId=e~1&cacheKey=k~2&job=j~3"
    )
    poll = job.poll_body()
    assert poll["inputs"] == body["inputs"]  # wildcard lists are sent unchanged
    plain = Job({"inputs": [{"id": "a", "value": 1}], "state": []}, {}, 0.5)
    assert plain.poll_body()["inputs"] == [{"id": "a", "value": None}]


def test_follow_ups_name_what_the_page_calls_next():
    chains = {"data-job.data": ["x.children"]}
    assert follow_ups({"data-job": {"data": {"kind": "csv"}}}, chains) == [
        ("data-job.data", ["x.children"])
    ]
    assert follow_ups({"data-job": {"data": None}}, chains) == []
    assert follow_ups({}, chains) == []
