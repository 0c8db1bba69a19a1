"""The durable store's part of `make bench`: what a visitor waits for with the
store on (``STORE_URL``, a local directory) against off (``STORE_URL=off``, the
cache alone), in the same run: page ready, and click to result (the run's
metrics shown) on the small and the large case. Both servers run at once, each
with a cache of its own, and are measured in turn (off, on, off, on...), so that
both see the machine alike; each side's median is compared.

Run alone: ``python -m tools.bench_durable`` (starts its own servers).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

#: Page loads: rounds per side, loads per round (after one to warm up).
PAGE_ROUNDS, PAGE_LOADS = 3, 5
#: Click to result: rounds per side, trainings per round, per case.
CLICK_ROUNDS = {"small": 2, "large": 1}
CLICKS = {"small": 5, "large": 3}


@contextlib.contextmanager
def _servers() -> Iterator[dict[str, str]]:
    """Two app servers, each with a cache of its own: the durable store off
    ("off") and on, in a directory ("on"); their addresses."""
    from tools.bench import Server

    with tempfile.TemporaryDirectory() as folder:
        servers = {}
        try:
            for side in ("off", "on"):
                cache = str(Path(folder) / side)
                url = "off" if side == "off" else str(Path(cache) / "workspaces")
                servers[side] = Server(
                    "app.app:create_server()", cache, env={"STORE_URL": url}
                )
                servers[side].start()
            time.sleep(5)  # the app warms its workers up in the first ~3 s
            yield {side: server.base for side, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()


def on_vs_off() -> dict:
    """Page ready and click to result on both servers, in turn (off, on, off,
    on...), so that both see the machine alike; each side's median of its
    rounds' p50s, and on / off."""
    from tools.bench import CLICK_CASES, READY, click_to_result, page_ready

    found: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    with _servers() as bases:
        for _ in range(PAGE_ROUNDS):
            for side, base in bases.items():
                ready = page_ready(base + "/", READY["app"], PAGE_LOADS)
                found[side].setdefault("page_ready_ms", []).append(ready["p50_ms"])
        for name, case in CLICK_CASES.items():
            for _ in range(CLICK_ROUNDS[name]):
                for side, base in bases.items():
                    print(f"durable store {side}: click, {name} ...", flush=True)
                    clicked = click_to_result(base, case, CLICKS[name], _nothing)
                    found[side].setdefault(f"{name}_ms", []).append(
                        clicked["metrics"]["p50_ms"]
                    )
    median = {
        side: {key: statistics.median(values) for key, values in measures.items()}
        for side, measures in found.items()
    }
    ratio = {
        key: round(median["on"][key] / median["off"][key], 3) for key in median["off"]
    }
    return {"runs": found, "median": median, "ratio": ratio}


def _nothing(timed: bool) -> None:
    """No reference work beside the clicks (both sides are the app)."""


def rows(durable: dict) -> list[tuple[str, str, str, str]]:
    """Rows of the bench's table: measure, off, on, ratio."""
    labels = {
        "page_ready_ms": "durable store: page ready (median of 3 rounds' p50)",
        "small_ms": "durable store: click to metrics, small (median of 2 p50s)",
        "large_ms": "durable store: click to metrics, large (p50)",
    }
    off, on = durable["median"]["off"], durable["median"]["on"]
    return [
        (
            label,
            f"{off[key]:.0f} ms off",
            f"{on[key]:.0f} ms on",
            f"{durable['ratio'][key]:.2f}×",
        )
        for key, label in labels.items()
    ]


def main() -> int:
    result = on_vs_off()
    print(json.dumps(result["runs"], indent=2))
    print(json.dumps(result["median"], indent=2))
    print(json.dumps(result["ratio"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
