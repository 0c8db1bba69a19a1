"""A small HTTP client of a Dash app's callback endpoint, for benchmarks and load
tests: it builds callback requests from ``/_dash-dependencies`` the way the
browser does, follows background callbacks until they finish, and calls what a
callback's answer chains next (:meth:`DashClient.call_chained`)."""

from __future__ import annotations

import json
import time
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import requests

CALLBACK = "/_dash-update-component"


class CallbackError(RuntimeError):
    """A callback answered with an error status."""


class DashClient:
    """Calls the callbacks of the Dash app at ``base`` (e.g. http://127.0.0.1:8050)."""

    def __init__(self, base: str, *, session: requests.Session | None = None) -> None:
        self.base = base.rstrip("/")
        self.http = session or requests.Session()
        self.http.headers.setdefault("Accept-Encoding", "gzip")
        self._deps: list[dict[str, Any]] | None = None

    @property
    def deps(self) -> list[dict[str, Any]]:
        """The app's callback dependencies (fetched once)."""
        if self._deps is None:
            response = self.http.get(f"{self.base}/_dash-dependencies", timeout=30)
            response.raise_for_status()
            self._deps = response.json()
        return self._deps

    def find(self, outputs: Sequence[str]) -> dict[str, Any]:
        """The dependency whose outputs are exactly ``outputs`` ("id.prop" each)."""
        wanted = list(outputs)
        for dep in self.deps:
            names = [p.split("@")[0] for p in dep["output"].strip(".").split("...")]
            if names == wanted:
                return dep
        raise KeyError(f"no callback has outputs {wanted}")

    def body(
        self,
        outputs: Sequence[str],
        values: Mapping[str, Any],
        *,
        changed: Sequence[str] = (),
        pattern: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """The JSON body of a call. ``values`` maps "id.prop" to each input's and
        state's value; ``pattern`` maps "type.prop" of pattern-matching (ALL)
        dependencies to their list of ``{"id": ..., "property": ..., "value": ...}``.
        """
        dep = self.find(outputs)
        pattern = pattern or {}

        def item(spec: dict[str, Any]) -> Any:
            cid, prop = spec["id"], spec["property"]
            if cid.startswith("{"):
                kind = json.loads(cid)["type"]
                return pattern.get(f"{kind}.{prop}", [])
            return {"id": cid, "property": prop, "value": values.get(f"{cid}.{prop}")}

        outs = [
            {
                "id": p.split("@")[0].rsplit(".", 1)[0],
                "property": p.split("@")[0].rsplit(".", 1)[1],
            }
            for p in dep["output"].strip(".").split("...")
        ]
        return {
            "output": dep["output"],
            "outputs": outs if len(outs) > 1 else outs[0],
            "inputs": [item(s) for s in dep["inputs"]],
            "state": [item(s) for s in dep["state"]],
            "changedPropIds": list(changed),
        }

    def post(
        self, body: Mapping[str, Any], query: Mapping[str, str] | None = None
    ) -> requests.Response:
        """One POST of a callback body."""
        url = self.base + CALLBACK + (f"?{urlencode(query)}" if query else "")
        return self.http.post(url, json=body, timeout=600)

    def call(
        self,
        outputs: Sequence[str],
        values: Mapping[str, Any],
        *,
        changed: Sequence[str] = (),
        pattern: Mapping[str, list[dict[str, Any]]] | None = None,
        poll: float = 0.05,
        timeout: float = 600,
        progress: list | None = None,
    ) -> dict[str, Any]:
        """Call a callback and return its ``response`` (outputs by id), following a
        background callback's job until it ends. ``{}`` when nothing was updated."""
        body = self.body(outputs, values, changed=changed, pattern=pattern)
        response = self.post(body)
        if response.status_code == 204:
            return {}
        if response.status_code >= 400:
            raise CallbackError(f"{response.status_code}: {response.text[:300]}")
        data = response.json()
        if "cacheKey" not in data:
            return data.get("response", {})
        query = {"cacheKey": data["cacheKey"], "job": data["job"]}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(poll)
            polled = self.post(body, query)
            if polled.status_code == 204:
                return {}
            if polled.status_code >= 400:
                raise CallbackError(f"{polled.status_code}: {polled.text[:300]}")
            data = polled.json()
            if progress is not None and data.get("progress"):
                progress.append(data["progress"])
            if "response" in data:
                return data["response"]
        raise TimeoutError("the background job did not finish in time")

    def call_chained(
        self,
        outputs: Sequence[str],
        values: Mapping[str, Any],
        *,
        changed: Sequence[str] = (),
        chains: Mapping[str, Sequence[str]],
        **follow: Any,
    ) -> dict[str, Any]:
        """:meth:`call`, then what the page calls next: when the answer sets a prop
        named in ``chains`` ("id.prop"), the callback with outputs ``chains[prop]``
        whose input that prop is (with ``values`` for its other inputs and states).

        Returns every answer's outputs merged, the later ones winning per prop.
        ``follow``: ``poll``, ``timeout``, ``progress`` (see :meth:`call`).
        """
        merged: dict[str, Any] = {}
        answer = self.call(outputs, values, changed=changed, **follow)
        _merge(merged, answer)
        for prop, then in chains.items():
            component, name = prop.rsplit(".", 1)
            value = answer.get(component, {}).get(name)
            if value is None:
                continue
            later = self.call(then, {**values, prop: value}, changed=[prop], **follow)
            _merge(merged, later)
        return merged


def _merge(into: dict[str, Any], answer: Mapping[str, Any]) -> None:
    """Add a callback's outputs (``{id: {prop: value}}``) to ``into``."""
    for component, props in answer.items():
        into.setdefault(component, {}).update(props)
