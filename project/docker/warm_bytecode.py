"""Builder stage of Dockerfile.prod: bytecode for exactly the modules the app uses.

    python -X no_debug_ranges docker/warm_bytecode.py [--sourceless]

pip installs the environment without bytecode (``--no-compile``): compiling every
module would add some 100 MB, mostly for modules nothing imports (plotly alone has
1,400 generated modules, of which a figure loads a few dozen). This script builds
the app as gunicorn does, runs what its job runner, jobs and Celery worker run
(every model trained on a bundled set, explained, drawn, saved with skops; a
Parquet round trip; the gcsfs and Celery modules), and imports every module the
app names, with bytecode writing on: Python writes a ``.pyc`` for each module
imported on the way, and only for those.

``--sourceless`` then replaces each of those library modules' source by its
bytecode (``pkg/mod.pyc`` beside where ``pkg/mod.py`` was, which Python imports
as it is): the image carries one copy of each module, not two. Tracebacks through
library code then show file and line without the line's text; the app's own code
keeps its source. Modules never imported here keep their source only: one the app
imports later is compiled in memory by the process that imports it (the code is
read-only and PYTHONDONTWRITEBYTECODE=1 at run time).

Run with ``-X no_debug_ranges``, the bytecode has no column tables (5% smaller;
tracebacks would only use them to underline the source they no longer show).

Building the app must succeed (a broken app fails the build here); each exercise
after it only prints a warning when it fails, as it only costs bytecode.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import io
import os
import sys
import sysconfig
import tempfile
import traceback
import warnings
from functools import partial
from pathlib import Path
from typing import Any, Callable

PROJECT = Path(__file__).resolve().parents[1]
APP = PROJECT / "app"

# Imported by gunicorn (its HTTP/2 support too), by the Celery worker of the
# multi-instance mode, by gcsfs and by Parquet reads, not named by the app itself.
LIBRARY_MODULES = (
    "gunicorn.app.wsgiapp",
    "gunicorn.arbiter",
    "gunicorn.glogging",
    "gunicorn.http.wsgi",
    "gunicorn.http2.connection",
    "gunicorn.workers.gthread",
    "h2.config",
    "h2.connection",
    "h2.events",
    "h2.exceptions",
    "celery.apps.worker",
    "celery.backends.redis",
    "celery.bin.celery",
    "celery.concurrency.prefork",
    "celery.worker",
    "celery.worker.consumer",
    "celery.worker.strategy",
    "gcsfs",
    "google.cloud.storage",
    "kombu.transport.redis",
    "pyarrow.dataset",
)

failures: list[str] = []


def attempt(name: str, work: Callable[[], Any]) -> Any:
    """``work()``, or None with a warning when it fails."""
    try:
        return work()
    except Exception:  # noqa: BLE001 - a missed exercise only costs bytecode
        failures.append(name)
        print(f"warm_bytecode: {name} failed (skipped):", file=sys.stderr)
        traceback.print_exc(limit=3)
        return None


def app_imports(app_dir: Path = APP) -> list[str]:
    """Every absolute import in the app (nested ones too), and every
    "module:attr" string (models); deploy/container_check.py uses it too."""
    modules: set[str] = set()
    for path in sorted(app_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                head, sep, attr = node.value.partition(":")
                if (
                    sep
                    and attr.isidentifier()
                    and "." in head
                    and all(part.isidentifier() for part in head.split("."))
                ):
                    modules.add(head)
    modules.discard("__future__")
    return sorted(modules)


def train_every_model() -> None:
    """Each model of each task, trained on a bundled set, then explained."""
    import app.ml as ml

    for key, task in (("iris", ml.CLASSIFICATION), ("diabetes", ml.REGRESSION)):
        frame = ml.load_bundled(key)
        features = tuple(c for c in frame.columns if c != ml.TARGET)
        for model in ml.models_for_task(task):
            config = ml.TrainConfig(
                target=ml.TARGET,
                features=features,
                task=task,
                model=model,
                params=ml.default_params(model),
                cv_folds=2,
            )
            run = attempt(f"training {model}", partial(ml.train_model, frame, config))
            if run is not None:
                explain(run, ml.split_data(frame, config), config)


def explain(run: Any, split: Any, config: Any) -> None:
    """What a run's tabs compute and draw, and its skops download."""
    import app.ml as ml
    from app.ui import figures

    pipeline, task, model = run.pipeline, config.task, config.model
    x, y, pair = split.x_test, split.y_test, config.features[:2]
    steps: list[tuple[str, Callable[[], Any], Callable[[Any], Any] | None]] = [
        ("run figures", lambda: run.report, figures.make_run_figures),
        (
            "importances",
            partial(ml.permutation_importances, pipeline, x, y, task=task, n_repeats=2),
            figures.make_importance_figure,
        ),
        (
            "model importances",
            partial(ml.model_importances, pipeline),
            figures.make_model_importance_figure,
        ),
        (
            "partial dependence",
            partial(ml.partial_dependence_curves, pipeline, x, pair[0], task=task),
            figures.make_pdp_figure,
        ),
        (
            "partial dependence of two",
            partial(ml.partial_dependence_2d, pipeline, x, pair, task=task),
            figures.make_pdp2_figure,
        ),
        (
            "contributions",
            partial(ml.row_contributions, pipeline, x, x.iloc[:1], task=task),
            figures.make_contributions_figure,
        ),
        (
            "skops",
            partial(ml.model_to_skops, pipeline),
            ml.model_from_skops,
        ),
    ]
    if task == ml.CLASSIFICATION:
        boundary = partial(
            ml.decision_boundary,
            split.x_train,
            split.y_train,
            features=pair,
            model_key=model,
            params=config.params,
            grid=10,
        )
        steps.append(("decision boundary", boundary, figures.make_boundary_figure))
    for name, compute, show in steps:
        data = attempt(f"{name} of {model}", compute)
        if data is not None and show is not None:
            attempt(f"{name} figure of {model}", partial(to_json, show, data))


def to_json(show: Callable[[Any], Any], data: Any) -> None:
    """``show(data)``, and each figure it makes as JSON (as a callback sends it)."""
    made = show(data)
    for figure in made if isinstance(made, list) else [made]:
        if hasattr(figure, "to_json"):
            figure.to_json()


def describe_data() -> None:
    """What the data tab computes and draws (a WebGL scatter too)."""
    import app.ml as ml
    from app.ui import figures

    frame = ml.load_bundled("classification", n_samples=6_000)
    x, y = frame.columns[:2]
    attempt("data profile", partial(ml.profile_frame, frame))
    for column in (x, ml.TARGET):
        data = attempt("distribution", partial(ml.column_distribution, frame[column]))
        show = partial(figures.make_distribution_figure, column=column)
        attempt("distribution figure", partial(to_json, show, data))
    correlations = attempt("correlations", partial(ml.correlation_matrix, frame))
    attempt(
        "correlation figure",
        partial(to_json, figures.make_correlation_figure, correlations),
    )
    show = partial(figures.make_scatter_figure, x=x, y=y, color=ml.TARGET)
    attempt("scatter figure", partial(to_json, show, frame))


def parquet_round_trip() -> None:
    import pandas as pd

    from app.ml import read_table

    frame = pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    pd.read_parquet(io.BytesIO(buffer.getvalue()))
    read_table(buffer.getvalue(), "data.parquet")


def celery_app() -> None:
    """The Celery app of the multi-instance mode (made, never connected)."""
    from app.config import Settings
    from app.server import jobs

    settings = Settings.from_env()
    jobs.make_celery(dataclasses.replace(settings, redis_url="redis://127.0.0.1/0"))


def make_sourceless(site_packages: Path) -> int:
    """Move each ``__pycache__/mod.cpython-3X.pyc`` of a library to ``mod.pyc``
    in place of ``mod.py``; the number of modules moved."""
    tag = f".{sys.implementation.cache_tag}.pyc"
    moved = 0
    for cache in sorted(site_packages.rglob("__pycache__")):
        for pyc in list(cache.iterdir()):
            source = cache.parent / (pyc.name[: -len(tag)] + ".py")
            if pyc.name.endswith(tag) and source.is_file():
                pyc.replace(cache.parent / (source.stem + ".pyc"))
                source.unlink()
                moved += 1
        if not any(cache.iterdir()):
            cache.rmdir()
    return moved


def main(argv: list[str]) -> int:
    sys.dont_write_bytecode = False  # what this script is for (the ENV says otherwise)
    os.chdir(PROJECT)
    sys.path.insert(0, str(PROJECT))
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["CACHE_DIR"] = cache
        from app.app import create_server

        create_server()  # as gunicorn does; must succeed
        for name in app_imports() + list(LIBRARY_MODULES):
            attempt(f"import {name}", partial(importlib.import_module, name))
        from app.ml import warm_up

        attempt("the job runner's warm-up", warm_up)
        attempt("training", train_every_model)
        attempt("data tab", describe_data)
        attempt("Parquet", parquet_round_trip)
        attempt("Celery app", celery_app)
    note = f"; {len(failures)} exercises failed: {failures}" if failures else ""
    print(f"warm_bytecode: {len(sys.modules)} modules imported{note}")
    if "--sourceless" in argv:
        site_packages = Path(sysconfig.get_paths()["purelib"])
        moved = make_sourceless(site_packages)
        print(f"warm_bytecode: {moved} modules of {site_packages} kept as bytecode")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
