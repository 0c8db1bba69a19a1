"""The search part of `make bench`: a 50-candidate random search of a random
forest on 10,000 rows, clicked in the Tune tab of headless Chromium (from the
click to the final leaderboard and its run), against scikit-learn's
``RandomizedSearchCV`` with the same candidates, folds and number of processes,
in a fresh interpreter, in the same run. Also how often the progress changed
while the search ran (the longest gap between two updates).

Run alone: ``python -m tools.bench_tune`` (starts its own server).
"""

from __future__ import annotations

import json
import re
import subprocess  # nosec B404 - the reference runs in a fresh interpreter
import sys
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from app.ui import ids  # noqa: E402

CASE = {
    "dataset": "classification",
    "rows": 10_000,
    "features": 10,  # the generator's default, as the page leaves it
    "model": "random_forest",
    "folds": 3,
    "seed": 0,
    "candidates": 50,
    "trees": (10, 100),  # n_estimators searched over (the default space's others)
    "metric": "accuracy",
}

#: Each side runs this many times, one after the other in turn; the best of each
#: is compared (the machine is shared: single runs vary by a quarter).
REPEATS = 2
#: Records when the progress moves: its bar or its label.
WATCH = f"""
window.__tuneMarks = [];
const bar = document.getElementById('{ids.TUNE_PROGRESS}');
new MutationObserver(() => window.__tuneMarks.push(
    [performance.now(), bar.textContent])).observe(bar, {{
      childList: true, subtree: true, characterData: true,
      attributes: true, attributeFilter: ['aria-valuenow']}});
"""
#: Clicks "Start search"; answers when the status says the search ended (watched,
#: not polled: the page is left alone while the search runs).
CLICK = f"""
const done = arguments[arguments.length - 1];
const status = document.getElementById('{ids.TUNE_STATUS}');
const ended = new MutationObserver(() => {{
  if (status.textContent.indexOf('Search ended') >= 0) {{
    ended.disconnect();
    done([clicked, performance.now(), window.__tuneMarks, status.textContent]);
  }}
}});
ended.observe(status, {{childList: true, subtree: true, characterData: true}});
const clicked = performance.now();
document.getElementById('{ids.TUNE_BUTTON}').click();
"""


def _set(driver: Any, element_id: Any, value: Any) -> None:
    from selenium.webdriver.common.by import By

    if isinstance(element_id, dict):
        element_id = json.dumps(element_id, separators=(",", ":"), sort_keys=True)
    box = driver.find_element(By.XPATH, f"//*[@id='{element_id}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.clear()
    box.send_keys(str(value))


def app_search(base: str, chrome: Any, wait: Any, ready: str) -> dict:
    """Seconds from the click on "Start search" to "Search ended" (the final
    leaderboard, and its best as a run), and the progress updates meanwhile."""
    driver = chrome()
    try:
        driver.get(f"{base}/?dataset={CASE['dataset']}&model={CASE['model']}")
        wait(driver, ready)
        _set(driver, ids.DATA_SYNTH_ROWS, f"{CASE['rows']}\n")
        wait(
            driver,
            f"(document.getElementById('{ids.DATA_STATUS}') || {{}}).textContent"
            f".indexOf('{CASE['rows']:,} rows') >= 0 && {ready}",
        )
        time.sleep(1)
        _set(driver, ids.TRAIN_CV_FOLDS, CASE["folds"])
        driver.find_element("id", ids.TUNE_OPEN).click()
        _set(driver, ids.TUNE_CANDIDATES, CASE["candidates"])
        low, high = CASE["trees"]
        _set(driver, {"name": "n_estimators", "type": ids.TUNE_LOW}, low)
        _set(driver, {"name": "n_estimators", "type": ids.TUNE_HIGH}, high)
        time.sleep(0.5)
        driver.execute_script(WATCH)
        clicked, ended, marks, status = driver.execute_async_script(CLICK)
    finally:
        driver.quit()
    times = [clicked] + [t for t, _ in marks if clicked <= t <= ended] + [ended]
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {
        "seconds": round((ended - clicked) / 1000, 2),
        "progress_updates": len(times) - 2,
        "longest_gap_s": round(max(gaps) / 1000, 2),
        "status": status.strip(),
    }


REFERENCE = """
import json, sys, time
sys.path.insert(0, {project!r})
from app.ml import TARGET, TrainConfig, load_bundled, clean_frame, split_data
from app.ml import tuning as T
from app.ml.training import cv_splits, split_pipeline
from sklearn.model_selection import RandomizedSearchCV
case = json.loads({case!r})
frame = clean_frame(load_bundled(case["dataset"], n_samples=case["rows"],
                                 noise=0.01, n_features=case["features"]))[0]
config = TrainConfig(target=TARGET, features=tuple(c for c in frame.columns
                     if c != TARGET), task="classification", model=case["model"],
                     cv_folds=case["folds"], random_state=case["seed"])
split = split_data(frame, config)
space = [T.Dimension("n_estimators", "int", *case["trees"])] + [
    d for d in T.default_space(case["model"]) if d.name != "n_estimators"]
pipeline = split_pipeline(split, config)
defaults = type(pipeline.steps[-1][1])().get_params()

def drawn(d):  # the app's "default" is the estimator's own default
    got = d.distribution()
    if not isinstance(got, list):
        return got
    return [defaults[d.name] if v == "default" else v for v in got]

search = RandomizedSearchCV(
    pipeline,
    {{f"model__{{d.name}}": drawn(d) for d in space}},
    n_iter=case["candidates"], cv=cv_splits(split.y_train, config),
    scoring=case["metric"], n_jobs={workers}, random_state=case["seed"], refit=True)
if {machinery}:  # the app's own search machinery, without the app around it
    plan = T.Plan(space=tuple(space), metric=case["metric"],
                  n_candidates=case["candidates"], random_state=case["seed"])
    started = time.perf_counter()
    found = list(T.search(split, config, plan, workers={workers}))
    seconds = time.perf_counter() - started
    best = T.best(found, case["metric"]).score(case["metric"])[0]
else:
    started = time.perf_counter()
    search.fit(split.x_train, split.y_train)
    seconds = time.perf_counter() - started
    best = search.best_score_
print(json.dumps({{"seconds": round(seconds, 2), "best": best}}))
"""


def reference(workers: int, machinery: bool = False) -> dict:
    """RandomizedSearchCV of the same candidates, folds and processes, timed
    around ``fit`` (its refit included) in a fresh interpreter; or, with
    ``machinery``, the app's ``tuning.search`` there, without the app."""
    code = REFERENCE.format(
        project=str(PROJECT),
        case=json.dumps(CASE),
        workers=int(workers),
        machinery=bool(machinery),
    )
    done = subprocess.run(  # nosec B603 - our interpreter, our code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]), n_jobs=workers)


def search_vs_sklearn(
    base: str, chrome: Any, wait: Any, ready: str, workers: int
) -> dict:
    """The app's search and scikit-learn's, in turn, :data:`REPEATS` times each;
    the fastest of each compared."""
    apps, refs, machinery = [], [], []
    for _ in range(REPEATS):  # interleaved: each sees the machine as it is
        apps.append(app_search(base, chrome, wait, ready))
        refs.append(reference(workers))
        machinery.append(reference(workers, machinery=True))
    app = min(apps, key=lambda a: a["seconds"])
    ref = min(refs, key=lambda r: r["seconds"])
    app["all_seconds"] = [a["seconds"] for a in apps]
    app["longest_gap_s"] = max(a["longest_gap_s"] for a in apps)
    ref["all_seconds"] = [r["seconds"] for r in refs]
    found = re.search(r"best \S+ ([0-9.]+)", app["status"])
    alone = min(m["seconds"] for m in machinery)
    return {
        "case": {**CASE, "trees": list(CASE["trees"])},
        "app": app,
        "reference": ref,
        "machinery": {
            "seconds": alone,
            "all_seconds": [m["seconds"] for m in machinery],
        },
        "machinery_ratio": round(alone / ref["seconds"], 3),
        "ratio": round(app["seconds"] / ref["seconds"], 3),
        # The same candidates on the same folds: the same best score.
        "same_best": bool(found) and float(found.group(1)) == round(ref["best"], 4),
    }


def rows(search: dict) -> list[tuple[str, str, str, str]]:
    """The bench table's rows of the search part."""
    case, app, ref = search["case"], search["app"], search["reference"]
    label = (
        f"Tune: {case['candidates']}-candidate random search, forest, "
        f"{case['rows']:,} rows, {case['folds']} folds, {ref['n_jobs']} processes"
    )
    return [
        (
            f"{label}: click to final leaderboard (RandomizedSearchCV)",
            f"{ref['seconds']:.1f} s",
            f"{app['seconds']:.1f} s",
            f"{search['ratio']:.2f}×",
        ),
        (
            "Tune: the same search by tuning.search alone (no app, no browser)",
            f"{ref['seconds']:.1f} s",
            f"{search['machinery']['seconds']:.1f} s",
            f"{search['machinery_ratio']:.2f}×",
        ),
        (
            "Tune: the app's best CV score is RandomizedSearchCV's",
            "",
            "yes" if search["same_best"] else "**no**",
            "",
        ),
        (
            "Tune: progress updates / longest gap between two",
            "",
            f"{app['progress_updates']} / {app['longest_gap_s']:.2f} s",
            "",
        ),
    ]


def main() -> int:
    import tempfile

    from tools import bench

    with tempfile.TemporaryDirectory() as cache:
        server = bench.Server("app.app:create_server()", cache)
        server.start()
        try:
            time.sleep(5)
            out = search_vs_sklearn(
                server.base,
                bench._chrome,
                bench._wait_in_page,
                bench.READY["app"],
                bench.job_slots(),
            )
        finally:
            server.stop()
    print(json.dumps(out, indent=2))
    for row in rows(out):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
