"""The one client of a Dash app's callback protocol over HTTP, for the tools and
tests that drive the app the way dash-renderer does (after ``dash/_callback.py``,
``dash/_utils.py`` and ``dash-renderer/build/dash_renderer.dev.js``).

What it knows:

- **output keys**: a callback's outputs are named by one string, its ``output`` in
  ``/_dash-dependencies`` and in every request: ``"id.prop"`` for one output,
  ``"..a.p...b.q.."`` for a list of them; dots inside a dict id escaped as ``\\.``;
  an ``allow_duplicate`` output's prop followed by ``@<hash of the inputs>``
  (:func:`output_key` makes one, :func:`parse_output_key` reads one);
- **requests**: the body of a POST to ``/_dash-update-component`` built from the
  callback's dependency and the values on the page (:meth:`DashClient.body`):
  ``output``, ``outputs`` (a list for a multi-output key), ``inputs``, ``state``
  (left out when the callback has none), ``changedPropIds`` and
  ``parsedChangedPropsIds``; a pattern-matching (ALL) input or state is the list of
  the matching components' entries;
- **background callbacks**: every POST carries ``?endId=`` (the page's signed
  token, from its ``_dash-config``) when the page gave one; the first answer holds
  the job's handles (:class:`Job`); the renderer then polls every ``interval`` ms
  with ``&cacheKey=...&job=...`` (values appended unencoded, as it does) and the
  same body, every plain input and state value nulled, until an answer holds the
  outputs, or a 204 says the job ended without any (:meth:`DashClient.polls`);
- **chaining**: what a callback's answer makes the page call next
  (:func:`follow_ups`, :meth:`DashClient.call_chained`);
- **the page**: its layout as the renderer keeps it, what callbacks read their
  values from and write their answers into (:class:`Layout`).

The HTTP transport is anything with requests' ``get(url, **kw)`` and
``post(url, json=..., **kw)`` (a ``requests.Session``, locust's ``HttpSession`` or a
wrapper of it): the load test names and counts each request itself.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import re
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import requests
from dash import ALL, ALLSMALLER, MATCH, Input, Output

CALLBACK = "/_dash-update-component"
DEFAULT_INTERVAL_MS = 500  # the renderer's poll interval when the callback sets none
_CONFIG = re.compile(
    r'<script id="_dash-config" type="application/json">(.*?)</script>', re.S
)
_WILDCARDS = {w.value: w for w in (ALL, MATCH, ALLSMALLER)}


class CallbackError(RuntimeError):
    """A callback answered with an error status."""


class ProtocolError(ValueError):
    """The app answered something the protocol does not allow."""


class NoComponent(LookupError):
    """The page has no component of that id."""


# -- ids, prop ids and output keys ---------------------------------------------------


def stringify_id(component_id: Any) -> str:
    """Dash's string form of a component id: a dict id as JSON, keys sorted, the
    way the server keys its answers and the renderer its requests."""
    return Output(component_id, "_").component_id_str()


def prop_id(component_id: Any, prop: str) -> str:
    """``"id.prop"``, as Dash writes a component's property (a dict id as JSON)."""
    return str(Output(component_id, prop))


def parse_prop_id(text: str) -> tuple[Any, str]:
    """``"id.prop"`` -> ``(id, prop)``, split at the last dot as the renderer does
    (props have no dots), the id as :func:`parse_id` reads it. ``prop`` keeps an
    ``@hash`` suffix."""
    component_id, _, prop = text.rpartition(".")
    return parse_id(component_id), prop


def parse_id(text: str) -> Any:
    """A component id from its string form: a dict id parsed from its JSON (a
    wildcard stays ``["ALL"]``), escaped dots restored."""
    text = text.replace("\\.", ".")
    return json.loads(text) if text.startswith("{") else text


def output_key(
    outputs: str | Output | Sequence[str | Output], inputs: Sequence[Any] = ()
) -> str:
    """The key Dash gives a callback's ``outputs`` (as ``dash._utils`` makes it):
    one output ("id.prop" or an ``Output``) -> ``"id.prop"``; a list, even of one ->
    ``"..a.p...b.q.."``. An ``Output(..., allow_duplicate=True)`` gets
    ``@<sha256 of the inputs>``: pass the callback's ``inputs`` for those."""
    many = isinstance(outputs, (list, tuple))
    deps = [_dependency(o, Output) for o in (outputs if many else [outputs])]
    names = ".".join(str(_dependency(i, Input)) for i in inputs)
    digest = hashlib.sha256(names.encode("utf-8")).hexdigest()
    parts = [
        dep.component_id_str().replace(".", "\\.")
        + f".{dep.component_property}"
        + (f"@{digest}" if dep.allow_duplicate else "")
        for dep in deps
    ]
    return ".." + "...".join(parts) + ".." if many else parts[0]


def parse_output_key(key: str) -> list[dict[str, Any]]:
    """The outputs an output key names, as a request lists them: ``{"id",
    "property"}`` each (a dict id parsed; the property as in the key, with any
    ``@hash``). A single-output key gives a list of one."""
    parts = key[2:-2].split("...") if is_multi(key) else [key]
    return [dict(zip(("id", "property"), parse_prop_id(part))) for part in parts]


def is_multi(key: str) -> bool:
    """Whether an output key names a list of outputs (the request's ``outputs``
    is then a list)."""
    return key.startswith("..")


def _dependency(spec: str | Any, kind: type) -> Any:
    return kind(*parse_prop_id(spec)) if isinstance(spec, str) else spec


@functools.lru_cache(maxsize=256)
def _names(key: str) -> tuple[str, ...]:
    """The "id.prop" of each output an output key names (without ``@hash``)."""
    return tuple(
        prop_id(o["id"], o["property"].split("@")[0]) for o in parse_output_key(key)
    )


def pattern(spec_id: str) -> Any:
    """A dependency's id (``spec["id"]`` in ``/_dash-dependencies``) as Dash's own,
    wildcards (``["ALL"]``) as ``dash.ALL`` and the like: what :func:`matches`
    takes."""
    parsed = parse_id(spec_id)
    if not isinstance(parsed, dict):
        return parsed
    return {
        k: _WILDCARDS.get(v[0], v) if isinstance(v, list) and len(v) == 1 else v
        for k, v in parsed.items()
    }


def matches(spec: Any, component_id: Any) -> bool:
    """Whether a component is one a dependency's id (:func:`pattern`) names: dict
    ids with the same keys, a wildcard matching any value (``==`` of Dash's own
    dependencies)."""
    return Input(spec, "_") == Input(component_id, "_")


def follow_ups(
    answer: Mapping[str, Any], chains: Mapping[str, Sequence[str]]
) -> list[tuple[str, Sequence[str]]]:
    """What the page calls after ``answer`` (outputs by id): for each "id.prop" of
    ``chains`` the answer sets (to a value that is not empty), that prop and the
    outputs of the callback it is an input of (``chains[prop]``)."""
    calls = []
    for prop, then in chains.items():
        component_id, name = parse_prop_id(prop)
        if answer.get(stringify_id(component_id), {}).get(name):
            calls.append((prop, then))
    return calls


# -- the page ------------------------------------------------------------------------


def components(tree: Any) -> Iterator[dict[str, Any]]:
    """The props of every component in a layout tree, in document order."""
    if isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            yield tree["props"]
        for value in tree.values():
            yield from components(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from components(item)


def text(tree: Any) -> str:
    """Every string in a component tree, joined: what the page reads."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        return " ".join(text(v) for k, v in tree.items() if k != "id")
    if isinstance(tree, list):
        return " ".join(text(item) for item in tree)
    return ""


class Layout:
    """A page's component tree as dash-renderer keeps it: callbacks read their
    values from it, and their answers are written into it."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree

    def components(self) -> Iterator[dict[str, Any]]:
        return components(self.tree)

    def props(self, component_id: Any) -> dict[str, Any]:
        for props in self.components():
            if props.get("id") == component_id:
                return props
        raise NoComponent(f"no component {component_id!r} on the page")

    def wildcard(self, kind: str) -> list[dict[str, Any]]:
        """The props of the components whose dict id has type ``kind``."""
        return [
            p
            for p in self.components()
            if isinstance(p.get("id"), dict) and p["id"].get("type") == kind
        ]

    def values(self, dep: Mapping[str, Any]) -> dict[str, Any]:
        """The "id.prop" values a callback reads (its inputs and states); for a
        pattern-matching one, each matching component's, in document order."""
        values: dict[str, Any] = {}
        for spec in dep["inputs"] + dep["state"]:
            spec_id, prop = spec["id"], spec["property"]
            if spec_id.startswith("{"):
                wanted = pattern(spec_id)
                for props in self.components():
                    if isinstance(props.get("id"), dict) and matches(
                        wanted, props["id"]
                    ):
                        values[prop_id(props["id"], prop)] = props.get(prop)
            else:
                values[f"{spec_id}.{prop}"] = self.props(spec_id).get(prop)
        return values

    def apply(self, response: Mapping[str, Any]) -> None:
        """Write a callback's outputs (``{id: {prop: value}}``) into the layout."""
        for key, props in response.items():
            for candidate in self.components():
                if "id" in candidate and stringify_id(candidate["id"]) == key:
                    candidate.update(props)

    def apply_side(self, updates: Mapping[str, Any] | None) -> None:
        """Write a ``sideUpdate``, ``progress`` or ``running`` (``{id: {prop: value}}``
        or ``{"id.prop": value}``) into the layout, as the renderer does."""
        by_id: dict[str, dict[str, Any]] = {}
        for key, value in (updates or {}).items():
            if key.startswith("{"):  # a dict id, then maybe ".prop"
                end = key.rindex("}") + 1
                component_id, prop = json.loads(key[:end]), key[end + 1 :]
            else:
                component_id, _, prop = key.partition(".")
            props = {prop: value} if prop else value
            by_id.setdefault(stringify_id(component_id), {}).update(props)
        self.apply(by_id)


# -- background callbacks ------------------------------------------------------------


class Job:
    """A background callback in flight: the body that started it, its handles
    (the first answer: ``cacheKey`` and ``job``, signed as ``value~signature`` by
    this app, ``cancel``, ``progressDefault``), its poll interval (seconds) and the
    JSON answer of each poll."""

    def __init__(
        self, body: dict[str, Any], handles: Mapping[str, Any], interval: float
    ) -> None:
        self.body = body
        self.handles = dict(handles)
        self.interval = interval
        self.polls: list[dict[str, Any]] = []

    @property
    def task_id(self) -> str:
        """The server's job id (the value of the signed ``job`` handle)."""
        return str(self.handles["job"]).rpartition("~")[0]

    @property
    def cache_key(self) -> str:
        """The server's cache key (the value of the signed ``cacheKey`` handle)."""
        return str(self.handles["cacheKey"]).rpartition("~")[0]

    def query(self) -> dict[str, str]:
        return {"cacheKey": self.handles["cacheKey"], "job": self.handles["job"]}

    def poll_body(self) -> dict[str, Any]:
        """The body of a poll: plain values nulled, wildcard lists left as they are.

        (The renderer sets ``entry.value = null`` on every entry; on a wildcard
        entry, which is an array, that adds a property JSON.stringify drops.)
        """
        body = copy.deepcopy(self.body)
        for entry in body["inputs"] + body.get("state", []):
            if isinstance(entry, dict):
                entry["value"] = None
        return body

    def progress(self) -> list[dict[str, Any]]:
        """The ``progress`` of each poll that relayed some."""
        return [p["progress"] for p in self.polls if p.get("progress")]


# -- the client ----------------------------------------------------------------------


class DashClient:
    """Calls the callbacks of the Dash app at ``base`` (e.g. http://127.0.0.1:8050).

    ``session``: the transport (``get``/``post`` as requests'); ``timeout``: seconds
    for one POST. After :meth:`open`, every POST carries the page's ``endId``.
    """

    def __init__(self, base: str, *, session: Any = None, timeout: float = 600) -> None:
        self.base = base.rstrip("/")
        self.http = session if session is not None else requests.Session()
        self.http.headers.setdefault("Accept-Encoding", "gzip")
        self.timeout = timeout
        self.end_id: str | None = None
        self._deps: list[dict[str, Any]] | None = None

    # -- the page's resources ----------------------------------------------------------
    def open(self) -> dict[str, Any]:
        """Load the page (``/``): its ``_dash-config``, whose ``end_id`` every
        later POST carries."""
        response = self.http.get(f"{self.base}/", timeout=30)
        response.raise_for_status()
        found = _CONFIG.search(response.text)
        if not found:
            raise ProtocolError("the page has no _dash-config")
        config = json.loads(found.group(1))
        self.end_id = config.get("end_id")
        return config

    def layout(self) -> Layout:
        """The page's layout (``/_dash-layout``)."""
        response = self.http.get(f"{self.base}/_dash-layout", timeout=30)
        response.raise_for_status()
        return Layout(response.json())

    @property
    def deps(self) -> list[dict[str, Any]]:
        """The app's callback dependencies (fetched once)."""
        if self._deps is None:
            response = self.http.get(f"{self.base}/_dash-dependencies", timeout=30)
            response.raise_for_status()
            self._deps = response.json()
        return self._deps

    # -- requests ----------------------------------------------------------------------
    def find(
        self, outputs: str | Sequence[str], trigger: str | None = None
    ) -> dict[str, Any]:
        """The callback that writes ``outputs`` ("id.prop" each, in order; or one
        "id.prop" among its others) and, given a ``trigger`` (a changed "id.prop";
        a dict id matching a pattern), has it as an input."""
        found = [
            dep
            for dep in self.deps
            if (
                outputs in _names(dep["output"])
                if isinstance(outputs, str)
                else _names(dep["output"]) == tuple(outputs)
            )
            and (trigger is None or _reads(dep, trigger))
        ]
        if len(found) != 1:
            what = f"outputs {outputs}" + (f" and input {trigger}" if trigger else "")
            raise LookupError(f"{len(found)} callbacks have {what}")
        return found[0]

    def dependency(self, key: str) -> dict[str, Any]:
        """The callback whose output key is ``key``."""
        for dep in self.deps:
            if dep["output"] == key:
                return dep
        raise LookupError(f"no callback has the output key {key!r}")

    def body(
        self,
        outputs: str | Sequence[str],
        values: Mapping[str, Any] | Layout,
        *,
        changed: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The JSON body of a call of the callback :meth:`find` gives for
        ``outputs`` and the first ``changed`` prop.

        ``values``: "id.prop" -> value of its inputs and states (a pattern-matching
        dependency takes every key whose dict id it matches: ``prop_id(id, prop)``;
        an absent one is None), or the page's :class:`Layout`.
        """
        changed = list(changed)
        dep = self.find(outputs, changed[0] if changed else None)
        if isinstance(values, Layout):
            values = values.values(dep)
        return request(dep, values, changed)

    def url(
        self, query: Mapping[str, str] | None = None, base: str | None = None
    ) -> str:
        """The callback URL: ``endId`` then ``query``, unencoded as the renderer
        appends them."""
        args = ({"endId": self.end_id} if self.end_id else {}) | dict(query or {})
        return (
            (base or self.base).rstrip("/")
            + CALLBACK
            + "".join(
                f"{'&' if i else '?'}{k}={v}" for i, (k, v) in enumerate(args.items())
            )
        )

    def post(
        self,
        body: Mapping[str, Any],
        query: Mapping[str, str] | None = None,
        *,
        base: str | None = None,
    ) -> requests.Response:
        """One POST of a callback body (to ``base``: another instance of the app)."""
        return self.http.post(self.url(query, base), json=body, timeout=self.timeout)

    def job(self, body: dict[str, Any], answer: Mapping[str, Any]) -> Job | None:
        """The background job an answer to ``body`` started (None when the answer
        holds the outputs)."""
        if "cacheKey" not in answer:
            return None
        if "job" not in answer or "response" in answer:
            raise ProtocolError(f"unexpected job handles {dict(answer)}")
        background = self.dependency(body["output"]).get("background") or {}
        interval = background.get("interval", DEFAULT_INTERVAL_MS) / 1000
        return Job(body, answer, interval)

    def poll(self, job: Job, *, base: str | None = None) -> requests.Response:
        """One poll of a background job, as the renderer sends it; the JSON of a 200
        is kept in ``job.polls``."""
        answer = self.post(job.poll_body(), job.query(), base=base)
        if answer.status_code == 200:
            try:
                job.polls.append(answer.json())
            except ValueError:
                pass
        return answer

    def polls(
        self, job: Job, *, timeout: float, bases: Iterable[str | None] | None = None
    ) -> Iterator[requests.Response]:
        """The renderer's poll chain: wait the job's interval, poll (on each of
        ``bases`` in turn), again; the caller stops when it has what it needs. Ends
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        cycle = itertools.cycle(list(bases) if bases else [None])
        while time.monotonic() < deadline:
            time.sleep(job.interval)  # the renderer's setTimeout(handle, interval)
            yield self.poll(job, base=next(cycle))

    def follow(
        self,
        job: Job,
        *,
        timeout: float = 600,
        bases: Iterable[str | None] | None = None,
        until: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """Poll until an answer holds the outputs or is not a 200 (a 204: the job
        ended without any), or ``until`` holds; that answer."""
        for answer in self.polls(job, timeout=timeout, bases=bases):
            if until is not None and until(answer):
                return answer
            if answer.status_code != 200 or "response" in answer.json():
                return answer
        raise TimeoutError(
            f"job still running after {timeout} s; last polls: {job.polls[-3:]}"
        )

    # -- calls -------------------------------------------------------------------------
    def call(
        self,
        outputs: str | Sequence[str],
        values: Mapping[str, Any] | Layout,
        *,
        changed: Sequence[str] = (),
        poll: float | None = None,
        timeout: float = 600,
        progress: list | None = None,
    ) -> dict[str, Any]:
        """Call a callback and return its ``response`` (outputs by id), following a
        background callback's job until it ends (polls every ``poll`` seconds, or
        as the renderer does; ``progress`` gets each poll's). ``{}`` when nothing
        was updated."""
        body = self.body(outputs, values, changed=changed)
        data = _answer(self.post(body))
        job = self.job(body, data)
        if job is None:
            return data.get("response", {})
        if poll is not None:
            job.interval = poll
        data = _answer(self.follow(job, timeout=timeout))
        if progress is not None:
            progress.extend(job.progress())
        return data.get("response", {})

    def call_chained(
        self,
        outputs: str | Sequence[str],
        values: Mapping[str, Any],
        *,
        changed: Sequence[str] = (),
        chains: Mapping[str, Sequence[str]],
        **follow: Any,
    ) -> dict[str, Any]:
        """:meth:`call`, then what the page calls next (:func:`follow_ups`), with
        ``values`` and the chained prop's value for the later callbacks' values.

        Returns every answer's outputs merged, the later ones winning per prop.
        ``follow``: ``poll``, ``timeout``, ``progress`` (see :meth:`call`).
        """
        answer = self.call(outputs, values, changed=changed, **follow)
        merged = copy.deepcopy(answer)
        for prop, then in follow_ups(answer, chains):
            component_id, name = parse_prop_id(prop)
            value = answer[stringify_id(component_id)][name]
            later = self.call(then, {**values, prop: value}, changed=[prop], **follow)
            for component, props in later.items():
                merged.setdefault(component, {}).update(props)
        return merged


def request(
    dep: Mapping[str, Any], values: Mapping[str, Any], changed: Sequence[str]
) -> dict[str, Any]:
    """The body of a call of ``dep`` (see :meth:`DashClient.body`)."""
    outputs = parse_output_key(dep["output"])
    body: dict[str, Any] = {
        "output": dep["output"],
        "outputs": outputs if is_multi(dep["output"]) else outputs[0],
        "inputs": [_entry(spec, values) for spec in dep["inputs"]],
        "changedPropIds": list(changed),
        # the renderer's: the id object of a pattern-matching changed prop
        "parsedChangedPropsIds": [
            parse_prop_id(c)[0] if c.startswith("{") else c for c in changed
        ],
    }
    if dep["state"]:
        body["state"] = [_entry(spec, values) for spec in dep["state"]]
    return body


def _entry(spec: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
    """An input's or state's entry: a dict, or the list of a pattern's matches."""
    spec_id, prop = spec["id"], spec["property"]
    if not spec_id.startswith("{"):
        return {
            "id": spec_id,
            "property": prop,
            "value": values.get(f"{spec_id}.{prop}"),
        }
    wanted, found = pattern(spec_id), {}
    for key in values:
        component_id, _ = parse_prop_id(key)
        if isinstance(component_id, dict) and matches(wanted, component_id):
            found.setdefault(stringify_id(component_id), component_id)
    return [
        {
            "id": component_id,
            "property": prop,
            "value": (
                component_id
                if prop == "id"
                else values.get(prop_id(component_id, prop))
            ),
        }
        for component_id in found.values()
    ]


def _reads(dep: Mapping[str, Any], trigger: str) -> bool:
    """Whether ``trigger`` ("id.prop", a concrete id) is an input of ``dep``."""
    component_id, prop = parse_prop_id(trigger)
    return any(
        spec["property"] == prop and matches(pattern(spec["id"]), component_id)
        for spec in dep["inputs"]
    )


def _answer(response: requests.Response) -> dict[str, Any]:
    """The JSON of a callback's answer; ``{}`` for a 204 (nothing updated)."""
    if response.status_code == 204:
        return {}
    if response.status_code >= 400:
        raise CallbackError(f"{response.status_code}: {response.text[:300]}")
    return response.json()
