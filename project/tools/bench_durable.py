"""The durable store's part of `make bench`: what a visitor waits for with the
store on (``STORE_URL``, a local directory) against off (``STORE_URL=off``, the
cache alone), in the same run: page ready, and click to result (the run's
metrics shown) on the small and the large case. Each side runs twice, in turn
(off, on, off, on), each on a server of its own; the best median of each side
is compared.

Run alone: ``python -m tools.bench_durable`` (starts its own servers).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

#: Each side runs this many times, in turn with the other.
REPEATS = 2
#: Trainings timed per case on each server (after one to warm up).
CLICKS = {"small": 5, "large": 2}
PAGE_LOADS = 5


def _side(store: str, measure: Callable[[str], dict]) -> dict:
    """``measure(base)`` on a new app server whose durable store is ``store``
    ("off", or a fresh directory)."""
    from tools.bench import Server

    with tempfile.TemporaryDirectory() as cache:
        url = "off" if store == "off" else str(Path(cache) / "workspaces")
        server = Server("app.app:create_server()", cache, env={"STORE_URL": url})
        server.start()
        try:
            time.sleep(5)  # the app warms its workers up in the first ~3 s
            return measure(server.base)
        finally:
            server.stop()


def _measure(base: str) -> dict:
    from tools.bench import CLICK_CASES, READY, click_to_result, page_ready

    out: dict[str, Any] = {
        "page_ready": page_ready(base + "/", READY["app"], PAGE_LOADS)
    }
    for name, case in CLICK_CASES.items():
        clicked = click_to_result(base, case, CLICKS[name], lambda timed: None)
        out[name] = clicked["metrics"]
    return out


def on_vs_off(measure: Callable[[str], dict] = _measure) -> dict:
    """Both sides' medians, the best of each, and on / off per measure."""
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for _ in range(REPEATS):
        for side in ("off", "on"):
            print(f"durable store {side} ...", flush=True)
            runs[side].append(_side(side, measure))
    best = {
        side: {
            "page_ready_ms": min(r["page_ready"]["p50_ms"] for r in found),
            **{f"{name}_ms": min(r[name]["p50_ms"] for r in found) for name in CLICKS},
        }
        for side, found in runs.items()
    }
    ratio = {key: round(best["on"][key] / best["off"][key], 3) for key in best["off"]}
    return {"runs": runs, "best": best, "ratio": ratio}


def rows(durable: dict) -> list[tuple[str, str, str, str]]:
    """Rows of the bench's table: measure, off, on, ratio."""
    labels = {
        "page_ready_ms": "durable store: page ready (p50, best of 2)",
        "small_ms": "durable store: click to metrics, small (p50, best of 2)",
        "large_ms": "durable store: click to metrics, large (p50, best of 2)",
    }
    off, on = durable["best"]["off"], durable["best"]["on"]
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
    print(json.dumps(result["best"], indent=2))
    print(json.dumps(result["ratio"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
