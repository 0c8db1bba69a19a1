"""Callback requests over HTTP, malformed in every way: never a 5xx.

Posts go to ``/_dash-update-component`` through the Flask test client, with the
output keys of the app's real callbacks (read from ``/_dash-dependencies``), and
with wrong types, missing and extra fields, huge values, wrong property names,
pattern-matching ids of the wrong shape, and bodies drawn by hypothesis. Each
answer must be 2xx or 4xx; bodies over the limit are 413.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.app import create_app
from app.config import Settings
from app.server import jobs
from app.server.store import new_session_id
from app.ui import ids

CALLBACK = "/_dash-update-component"

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "iris", "target", "1", "<script>alert(1)</script>"]),
)
JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)


class Client:
    """The app's test client, its callbacks and a session with data."""

    def __init__(self, tmp) -> None:
        self.settings = Settings(cache_dir=str(tmp / "cache"), max_upload_mb=1.0)
        self.server = create_app(self.settings).server
        # Started here, as gunicorn does before serving: left to start on the
        # first job, it would not while another test's thread (fsspec's) lives.
        jobs.start(self.server)
        self.http = self.server.test_client()
        self.deps = self.http.get("/_dash-dependencies").get_json()
        self.sid = new_session_id()
        # Plain callbacks only: each accepted post to a background one starts a job.
        self.bodies = [self.body(dep) for dep in self.deps if not dep.get("background")]
        response = self.post(self.body(self.find(ids.DATA_SOURCE, "iris")))
        assert response.status_code == 200, response.data[:300]

    def find(self, input_id: str, value: Any = None) -> dict:
        """The callback whose first input is ``input_id`` (values filled in)."""
        for dep in self.deps:
            if dep.get("clientside_function"):  # runs in the browser only
                continue
            if dep["inputs"] and dep["inputs"][0]["id"] == input_id:
                return dict(dep, first_value=value)
        raise AssertionError(f"no callback with input {input_id}")

    def body(self, dep: dict) -> dict:
        """A well-formed request for a callback, with plausible values."""

        def item(dep_item: dict, value: Any) -> Any:
            if dep_item["id"].startswith("{"):  # pattern-matching: a list of matches
                pattern = json.loads(dep_item["id"])
                match = {k: ("C" if v == ["ALL"] else v) for k, v in pattern.items()}
                return [{"id": match, "property": dep_item["property"], "value": 1}]
            return {
                "id": dep_item["id"],
                "property": dep_item["property"],
                "value": value,
            }

        def value_of(dep_item: dict) -> Any:
            if dep_item["id"] == ids.APP_SESSION:
                return self.sid
            return dep.get("first_value") if dep_item is dep["inputs"][0] else None

        outputs = []
        for part in dep["output"].strip(".").split("..."):
            name, prop = part.split("@")[0].rsplit(".", 1)
            outputs.append({"id": name, "property": prop})
        return {
            "output": dep["output"],
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [item(i, value_of(i)) for i in dep["inputs"]],
            "state": [item(s, value_of(s)) for s in dep.get("state", [])],
            "changedPropIds": [
                f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"
            ],
        }

    def post(self, body: Any, **kwargs: Any) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(
            CALLBACK, data=data, content_type="application/json", **kwargs
        )


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[Client]:
    made = Client(tmp_path_factory.mktemp("http"))
    yield made
    jobs.stop(made.server)


def _ok(response: Any) -> None:
    assert response.status_code < 500, response.data[:500]
    assert b"Traceback" not in response.data


def test_every_plain_callback_answers_its_well_formed_request(client) -> None:
    for body in client.bodies:
        _ok(client.post(body))


# --------------------------------------------------------------------------- #
# hand-made mutations of every real callback's request
# --------------------------------------------------------------------------- #


def _mutations(body: dict) -> list[Any]:
    """Ways to spoil a well-formed body."""
    out: list[Any] = []
    for key in body:
        spoiled = copy.deepcopy(body)
        del spoiled[key]
        out.append(spoiled)  # a field missing
        for wrong in (None, 0, "x", [], {}, [[]], [None], True):
            spoiled = copy.deepcopy(body)
            spoiled[key] = wrong
            out.append(spoiled)  # a field of the wrong type
    for name in ("inputs", "state"):
        for i, item in enumerate(body.get(name, [])):
            for change in (
                lambda d: d.pop("value", None),  # no value
                lambda d: d.pop("id", None),
                lambda d: d.pop("property", None),
                lambda d: d.update(property="no-such-prop"),
                lambda d: d.update(id="no-such-id"),
                lambda d: d.update(id={"type": "x", "name": ["ALL"]}),
                lambda d: d.update(value="x" * 500_000),  # huge value
                lambda d: d.update(value=[[[[[[[[[[1]]]]]]]]]]),
                lambda d: d.update(value={"a": {"b": [None, 1e308, -1e308]}}),
                lambda d: d.update(value=2**200),
                lambda d: d.update(extra=1),
            ):
                spoiled = copy.deepcopy(body)
                target = spoiled[name][i]
                for entry in target if isinstance(target, list) else [target]:
                    change(entry)
                out.append(spoiled)
            for wrong in ([], [1], {"id": "x"}, "x", [[]], [{"id": []}]):
                spoiled = copy.deepcopy(body)
                spoiled[name][i] = wrong  # a pattern list where a dict is due, etc.
                out.append(spoiled)
            spoiled = copy.deepcopy(body)
            spoiled[name].append(copy.deepcopy(spoiled[name][i]))  # one too many
            out.append(spoiled)
    extra = copy.deepcopy(body)
    extra.update(more={"x": 1}, changedPropIds=["nowhere.value", "x"])
    out.append(extra)
    swapped = copy.deepcopy(body)
    swapped["inputs"], swapped["state"] = body.get("state", []), body["inputs"]
    out.append(swapped)
    return out


def test_spoiled_requests_for_every_callback_are_never_5xx(client) -> None:
    count = 0
    for body in client.bodies:
        for spoiled in _mutations(body):
            _ok(client.post(spoiled))
            count += 1
    assert count > 500


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"output": "x.y", "outputs": {}, "inputs": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        b'{"output": "x.y", "outputs": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001,
        b'{"output": "a.b"' + b', "output": "c.d"' * 1000 + b"}",
        b"\xef\xbb\xbf{}",
        b'{"output": "\\ud800", "outputs": {}}',
        b'{"output": NaN, "outputs": Infinity}',
        b"null",
        b"1e999999",
        b"\x00" * 1000,
    ],
    ids=[
        "deep-array",
        "deep-inputs",
        "deep-outputs",
        "repeated-keys",
        "bom",
        "lone-surrogate",
        "nan",
        "null",
        "huge-number",
        "nul-bytes",
    ],
)
def test_pathological_json_is_refused_not_500(client, raw) -> None:
    response = client.post(raw)
    _ok(response)
    assert response.status_code == 400


def test_pattern_matching_ids_of_the_wrong_shape(client) -> None:
    dep = next(
        d for d in client.deps if d["output"] == f"{ids.WHATIF_PREDICTION}.children"
    )
    body = client.body(dep)
    for wrong in (
        [{"id": "predict-input", "property": "value", "value": 1}],
        [{"id": {"type": "predict-input"}, "property": "value", "value": 1}],
        [{"id": {"type": "predict-input", "name": ["x"]}, "property": "value"}],
        [{"id": {"type": "other", "name": "x"}, "property": "value", "value": 1}],
        [{"id": {"name": {"deep": [1]}}, "property": "value", "value": 1}],
        {"id": {"type": "predict-input", "name": "x"}, "property": "value", "value": 1},
        [[{"id": {"type": "predict-input", "name": "x"}, "property": "value"}]],
        [{"id": {}, "property": "value", "value": 1}] * 500,
    ):
        for name in ("inputs", "state"):
            spoiled = copy.deepcopy(body)
            spoiled[name][0] = wrong
            _ok(client.post(spoiled))


def test_background_callbacks_take_spoiled_requests_and_junk_job_keys(client) -> None:
    train = client.find(ids.TRAIN_BUTTON)
    body = client.body(train)
    spoiled = copy.deepcopy(body)
    spoiled["inputs"][0]["value"] = None  # not clicked: no job is started
    _ok(client.post(spoiled))
    for query in ("?cacheKey=junk&job=1", "?cacheKey=&job=", "?cacheKey=%00&job=-1"):
        _ok(client.http.post(CALLBACK + query, json=spoiled))
    for mutation in _mutations(body)[:40]:
        if mutation.get("inputs") and isinstance(mutation["inputs"], list):
            continue  # a body Dash would accept starts a job; keep those out
        _ok(client.post(mutation))


def test_oversized_bodies_are_413(client) -> None:
    too_big = client.settings.max_request_bytes + 1
    body = client.bodies[0]
    padded = dict(body, padding="x" * too_big)
    response = client.post(padded)
    assert response.status_code == 413
    assert response.get_json() == {
        "error": "That is more data than this server accepts."
    }
    raw = client.http.post(
        CALLBACK, data=b"{" + b" " * too_big, content_type="text/plain"
    )
    assert raw.status_code == 413


def test_an_upload_just_under_the_limit_is_answered(client) -> None:
    dep = client.find(ids.DATA_UPLOAD_BUFFER)
    size = client.settings.max_upload_bytes
    contents = "data:text/csv;base64," + "QUFB" * (size // 3)
    body = client.body(
        dict(dep, first_value={"filename": "a.csv", "contents": contents})
    )
    response = client.post(body)
    assert response.status_code == 200, response.data[:300]
    # The file waits, stored, for the background job that the page calls next.
    job = response.get_json()["response"][ids.DATA_JOB]["data"]
    assert job["filename"] == "a.csv" and "contents" not in job
    answer = _background(client, client.find(ids.DATA_JOB, job))
    assert "rows" in answer


def _background(client: Client, dep: dict, timeout: float = 60) -> str:
    """The answer of a background callback, polled as the renderer polls it."""
    body = client.body(dep)
    started = client.post(body)
    assert started.status_code == 200, started.data[:300]
    handles = started.get_json()
    poll = copy.deepcopy(body)
    for entry in poll["inputs"] + poll["state"]:
        if isinstance(entry, dict):
            entry["value"] = None
    query = urlencode({"cacheKey": handles["cacheKey"], "job": handles["job"]})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        answer = client.http.post(f"{CALLBACK}?{query}", json=poll)
        _ok(answer)
        if answer.status_code == 204:
            return ""
        if "response" in answer.get_json():
            return answer.get_data(as_text=True)
    raise AssertionError(f"the job did not end within {timeout} s")


# --------------------------------------------------------------------------- #
# hypothesis over the whole body
# --------------------------------------------------------------------------- #


@st.composite
def _bodies(draw, client: Client) -> Any:
    """A body: a real one with parts replaced by anything, or anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    body = copy.deepcopy(draw(st.sampled_from(client.bodies)))
    for key in draw(st.sets(st.sampled_from(sorted(body) + ["extra"]), max_size=3)):
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(JSON)
    for name in ("inputs", "state"):
        items = body.get(name)
        if isinstance(items, list) and items and draw(st.booleans()):
            index = draw(st.integers(0, len(items) - 1))
            if isinstance(items[index], dict) and draw(st.booleans()):
                items[index]["value"] = draw(JSON)
            else:
                items[index] = draw(JSON)
    return body


@FUZZ
@given(data=st.data())
def test_any_body_is_answered_without_5xx(client, data) -> None:
    _ok(client.post(data.draw(_bodies(client))))


@FUZZ
@given(values=st.lists(JSON, min_size=1, max_size=6), data=st.data())
def test_any_input_values_for_a_real_callback_are_answered(
    client, values, data
) -> None:
    body = copy.deepcopy(data.draw(st.sampled_from(client.bodies)))
    slots = [i for i in body["inputs"] + body["state"] if isinstance(i, dict)]
    for slot, value in zip(slots, values):
        if slot["id"] != ids.APP_SESSION or data.draw(st.booleans()):
            slot["value"] = value
    _ok(client.post(body))
