"""Property-based tests: every callback takes any JSON a browser could send.

Dash hands callbacks whatever JSON arrives in a request, and a visitor (or a
script) can send anything. Each callback, called directly with arbitrary JSON-like
values for each argument (mixed with realistic ones, so that the deep paths run
on a session with data and trained runs), must return normally, with outputs
Dash can serialise, or raise ``PreventUpdate``; never another exception.
"""

from __future__ import annotations

import base64
import math

import pytest
from dash._utils import to_json
from dash.exceptions import PreventUpdate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.server.store import SessionStore, new_session_id
from app.ui import ids
from app.ui.tabs import (
    DataCallbacks,
    ExplainCallbacks,
    ExportCallbacks,
    PredictCallbacks,
    TrainCallbacks,
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: no flaky CI
)

# --------------------------------------------------------------------------- #
# values
# --------------------------------------------------------------------------- #

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", " ", "<script>alert(1)</script>", "../../etc/passwd", "é"]),
)
JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)

IRIS_COLUMNS = [
    "sepal_length_cm",
    "sepal_width_cm",
    "petal_length_cm",
    "petal_width_cm",
    "target",
]


def _upload(name: str, content: bytes) -> dict:
    encoded = base64.b64encode(content).decode()
    return {"filename": name, "contents": f"data:text/csv;base64,{encoded}"}


# --------------------------------------------------------------------------- #
# a session with data and runs (built once for the module)
# --------------------------------------------------------------------------- #


class World:
    """A store with sessions to fuzz against."""

    def __init__(self, tmp) -> None:
        self.settings = Settings(cache_dir=str(tmp / "cache"), max_upload_mb=1.0)
        self.store = SessionStore.from_settings(self.settings)
        self.data = DataCallbacks(self.store, self.settings)
        self.train = TrainCallbacks(self.store, self.settings)
        self.explain = ExplainCallbacks(self.store, self.settings)
        self.predict = PredictCallbacks(self.store, self.settings)
        self.export = ExportCallbacks(self.store, self.settings)
        self.sid = new_session_id()  # iris, a logistic regression and a k-NN run
        self.regression = new_session_id()  # diabetes and a ridge run
        self.scratch = new_session_id()  # loads and removals land here
        self.version = self.data.load_bundled("iris", None, None, None, 0, self.sid)[0]
        self.runs = [  # run ids: the logistic regression's, then the k-NN's
            self._train(self.sid, "classification", model, IRIS_COLUMNS[:4])
            for model in ("logistic_regression", "knn")
        ]
        self.data.load_bundled("diabetes", None, None, None, 0, self.regression)
        _, _, features, *_ = self.train.choose_target("target", self.regression)
        self._train(self.regression, "regression", "ridge", features)
        self.data.load_bundled("iris", None, None, None, 0, self.scratch)
        self._train(self.scratch, "classification", "naive_bayes", IRIS_COLUMNS[:4])

    def _train(self, sid: str, task: str, model: str, features: list[str]) -> str:
        status, _, run_id, *_ = self.train.train(
            _quiet, 1, sid, "target", task, features, model, [], [], 0.25, True, 0, 2,
            None,  # split by time on: none (at random)
        )  # fmt: skip
        assert isinstance(run_id, str), status
        return run_id


def _quiet(progress: object) -> None:
    """A set_progress that ignores progress."""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("fuzz"))


def _either(*realistic: object) -> st.SearchStrategy:
    """Realistic values most of the time, anything JSON otherwise."""
    return st.one_of(st.sampled_from(list(realistic)), JSON)


def _args(data: st.DataObject, *choices: tuple) -> list:
    """One value per argument: realistic ones, except one (or, rarely, all) JSON.

    Fuzzing every argument at once would almost always stop at the first check;
    fuzzing one at a time lets the others lead the call to its deep paths.
    """
    mode = data.draw(st.integers(0, 9))
    if mode == 0:
        fuzzed = set(range(len(choices)))
    elif mode <= 5:
        fuzzed = {data.draw(st.integers(0, len(choices) - 1))}
    else:
        fuzzed = set()
    return [
        data.draw(JSON if i in fuzzed else st.sampled_from(list(options)))
        for i, options in enumerate(choices)
    ]


def _sessions(world: World) -> tuple:
    return (world.sid, world.sid, world.regression, new_session_id(), "../x")


def _runs(world: World) -> tuple:
    """Run ids: the session's two runs, and numbers, made-up ids, nothing."""
    one, two = world.runs
    return (one, two, one, two, "1", 1, "99", "AAAAAAAAAAAA", None)


COLUMNS = (*IRIS_COLUMNS, "age", "bmi", "nope")


def _calls(func, *args: object) -> object:
    """Call a callback; PreventUpdate is an answer too. Outputs must serialise."""
    try:
        result = func(*args)
    except PreventUpdate:
        return None
    to_json(result)
    return result


# --------------------------------------------------------------------------- #
# data callbacks
# --------------------------------------------------------------------------- #


@FUZZ
@given(data=st.data())
def test_apply_url_takes_anything(world, data) -> None:
    search = data.draw(_either("?dataset=wine&target=x&model=knn", "?a=%ZZ&&=", ""))
    _calls(world.data.apply_url, search)


@FUZZ
@given(data=st.data())
def test_load_bundled_takes_anything(world, data) -> None:
    args = _args(
        data,
        ("iris", "moons", "blobs", "wine", "regression"),
        (100, 60, 5, "200", -3, 1e300, None),  # rows
        (0.1, None, "lots", -1, math.inf),  # noise
        (None, 3, 0, 500),  # features
        (0, 1, -1, 2**40, "seed"),  # seed
        (world.scratch, "not-a-session"),
    )
    out = _calls(world.data.load_bundled, *args)
    if isinstance(out, tuple) and isinstance(out[3], dict):
        _calls(world.data.load_in_background, _quiet, out[3], args[-1])


@FUZZ
@given(data=st.data())
def test_load_upload_takes_anything(world, data) -> None:
    uploads = (
        _upload("a.csv", b"a,b\n1,2\n3,4\n"),
        _upload("a.xlsx", b"a,b\n1,2\n"),
        {"filename": "a.csv", "contents": "data:text/csv;base64,@@"},
        {"filename": "a.csv", "too_large": 10**12},
        {"filename": None, "contents": None},
        {"contents": 5},
    )
    upload, sid = _args(data, uploads, (world.scratch, "bad"))
    out = _calls(world.data.load_upload, upload, sid)
    job = out[3] if isinstance(out, tuple) and isinstance(out[3], dict) else None
    jobs = (job, {"kind": "upload", "staged": "0" * 32}, {"kind": "bundled"}, None)
    forged = data.draw(st.one_of(st.sampled_from(jobs), JSON))
    _calls(world.data.load_in_background, _quiet, forged, sid)


@FUZZ
@given(data=st.data())
def test_describe_takes_anything(world, data) -> None:
    args = _args(
        data,
        (world.version, "v", None),
        ({"target": "petal_width_cm"}, {"target": 3}, None),
        _sessions(world),
    )
    _calls(world.data.describe, *args)


@FUZZ
@given(data=st.data())
def test_distribution_and_scatter_take_anything(world, data) -> None:
    column, version, sid = _args(data, COLUMNS, ("v", None), _sessions(world))
    _calls(world.data.distribution, column, version, sid)
    _calls(
        world.data.scatter, *_args(data, COLUMNS, COLUMNS, COLUMNS, _sessions(world))
    )


# --------------------------------------------------------------------------- #
# modelling callbacks
# --------------------------------------------------------------------------- #

MODELS = ("logistic_regression", "knn", "decision_tree", "naive_bayes", "ridge", "svm")
TASKS = ("classification", "regression")


@FUZZ
@given(data=st.data())
def test_choosing_target_task_and_model_takes_anything(world, data) -> None:
    _calls(world.train.choose_target, *_args(data, COLUMNS, _sessions(world)))
    url_states = ({"model": "knn"}, None, {"model": ["x"]})
    _calls(world.train.choose_task, *_args(data, TASKS, url_states, MODELS))
    _calls(world.train.model_params, *_args(data, MODELS))
    folds = (5, 0, "3", -1, 10**30)
    args = _args(data, MODELS, folds, ("v",), _sessions(world))
    _calls(world.train.warn_slow, *args)


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_train_takes_anything(world, data) -> None:
    names = data.draw(st.lists(st.sampled_from(["C", "n_neighbors", "max_depth"])))
    args = _args(
        data,
        (1, 3),  # n_clicks
        _sessions(world),
        ("target", "target", "petal_width_cm", "bmi"),
        TASKS,
        (IRIS_COLUMNS[:4], IRIS_COLUMNS[:1], [], ["bmi", "age"]),
        MODELS,
        ([1] * len(names), [0.5] * len(names), ["x"] * len(names)),  # values
        ([{"type": ids.PARAM_INPUT, "name": n} for n in names],),  # their ids
        (0.25, 0.5, 0.01, "0.3", None),  # test size
        (True, False, None),  # stratify
        (0, 7, -1, 2**40, None),  # seed
        (0, 2, 3, 25, "5", None),  # folds
        (None, "", "petal_width_cm", "nope", 3, ["when"]),  # split by time on
    )
    _calls(world.train.train, _quiet, *args)


@FUZZ
@given(data=st.data())
def test_runs_table_callbacks_take_anything(world, data) -> None:
    (sid,) = _args(data, _sessions(world))
    _calls(world.train.list_runs, sid)
    one, two = world.runs
    clicks = ({"rowId": one, "colId": "model"}, {"rowId": 1}, None)
    _calls(world.train.pick_run, *_args(data, clicks))
    ticked = ([{"run": one}, {"run": two}], [{"run": one}], [{"run": "1"}], [], [1])
    _calls(world.train.compare, *_args(data, ticked, _sessions(world)))
    args = _args(data, _runs(world), (True, False, None), _sessions(world))
    _calls(world.train.show_run, *args)


@FUZZ
@given(data=st.data())
def test_removing_runs_takes_anything(world, data) -> None:
    args = _args(
        data,
        (1, None),
        ([{"run": world.runs[0]}], [{"run": "7"}], [{"x": 1}], None),
        _runs(world),
        (world.scratch, "bad"),
    )
    _calls(world.train.remove, *args)


# --------------------------------------------------------------------------- #
# explain, predict and export
# --------------------------------------------------------------------------- #


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_explain_callbacks_take_anything(world, data) -> None:
    run, sid = _args(data, _runs(world), _sessions(world))
    _calls(world.explain.overview, _quiet, run, sid)
    outputs = (0, 1, 2, 7, -1, "1", None)
    args = _args(data, COLUMNS, outputs, _runs(world), _sessions(world))
    _calls(world.explain.pdp, *args)
    args = _args(data, COLUMNS, COLUMNS, _runs(world), _sessions(world))
    _calls(world.explain.pdp2, *args)
    _calls(world.explain.boundary, *args)


@FUZZ
@given(data=st.data())
def test_predict_callbacks_take_anything(world, data) -> None:
    _calls(world.predict.inputs, *_args(data, _runs(world), _sessions(world)))
    names = data.draw(st.lists(st.sampled_from(COLUMNS), max_size=5))
    values = data.draw(st.lists(_either(1.5, "setosa", None, -1e308), max_size=5))
    args = _args(
        data,
        (values,),
        ([{"type": ids.PREDICT_INPUT, "name": n} for n in names],),
        _runs(world),
        _sessions(world),
    )
    _calls(world.predict.whatif, *args)
    rows = "\n".join([",".join(IRIS_COLUMNS)] + ["1,2,3,4,x"] * 3).encode()
    contents = (
        _upload("x.csv", b"sepal_length_cm\n1\n")["contents"],
        _upload("x.csv", rows)["contents"],
        "data:;base64,AAAA",
    )
    args = _args(
        data, contents, ("x.csv", "x.xlsx", None), _runs(world), _sessions(world)
    )
    out = _calls(world.predict.batch, *args)
    job = out[0] if isinstance(out, tuple) and isinstance(out[0], dict) else None
    forged = data.draw(st.one_of(st.sampled_from((job, {"run": 1}, None)), JSON))
    _calls(world.predict.batch_in_background, _quiet, forged, args[-1])


@FUZZ
@given(data=st.data())
def test_export_callbacks_take_anything(world, data) -> None:
    kinds = (
        ids.DOWNLOAD_MODEL,
        ids.DOWNLOAD_CODE,
        ids.DOWNLOAD_REPORT,
        ids.EVAL_DOWNLOAD_DATA,
    )
    _calls(world.export.file, *_args(data, kinds, _runs(world), _sessions(world)))
    _calls(world.export.download, *data.draw(st.lists(JSON, min_size=2, max_size=6)))


def test_the_fuzzed_session_reaches_deep_paths(world) -> None:
    """The realistic values do reach the figures, not only the early exits."""
    out = world.explain.overview(_quiet, world.runs[0], world.sid)
    assert "Explaining run 1" in repr(out[0])
    assert world.train.show_run(world.runs[1], False, world.sid)[1] is not None
    assert world.data.distribution("petal_width_cm", "v", world.sid).data


@pytest.mark.slow  # every callback for every column: a wide sweep
@pytest.mark.parametrize("column", COLUMNS)
def test_every_column_name_on_every_session(world, column) -> None:
    """Names of this dataset's columns, of another's, and made up: a grid."""
    for sid in _sessions(world):
        _calls(world.data.distribution, column, "v", sid)
        _calls(world.train.choose_target, column, sid)
        for other in COLUMNS:
            _calls(world.data.scatter, column, other, "target", sid)
        for run in (world.runs[1], "99"):  # the k-NN run (quick explanations)
            _calls(world.explain.pdp, column, 1, run, sid)
            _calls(world.explain.boundary, column, "petal_length_cm", run, sid)
    _calls(world.explain.pdp2, column, "petal_width_cm", world.runs[1], world.sid)
