"""Callback functions called directly, against a real (temporary) store."""

from __future__ import annotations

import base64
import time

import pytest
from dash._no_update import NoUpdate
from dash.exceptions import PreventUpdate

from app import services
from app.server.store import Superseded, new_session_id
from app.ui import ids
from app.ui.tabs import DataCallbacks, TrainCallbacks


def _text(component) -> str:
    """All text inside a component tree."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _quiet(progress) -> None:
    """A set_progress that ignores the progress of background callbacks."""


def _upload(name: str, content: bytes) -> dict:
    encoded = base64.b64encode(content).decode()
    return {"filename": name, "contents": f"data:text/csv;base64,{encoded}"}


MESSY_CSV = b'"",id,city,price,when,flag\n' + b"".join(
    (
        f'"{i}",C{i:04d},{"Zurich" if i % 3 else "Basel"},'
        f'"1,{i * 7 % 1000:03d}.5",2024-01-{i % 28 + 1:02d},1\n'
    ).encode()
    for i in range(1, 61)
)


@pytest.fixture
def data(store, settings):
    return DataCallbacks(store, settings)


@pytest.fixture
def train(store, settings):
    return TrainCallbacks(store, settings)


def _load(data, sid, key="iris", rows=None):
    return _bundled(data, key, rows, None, None, 0, sid)


def _bundled(data, *args):
    """``load_bundled`` as the page sees it: a background load it hands over is run
    (as the job would run it); returns (version, status, notes, synthetic)."""
    version, status, notes, job, synthetic = data.load_bundled(*args)
    if not isinstance(job, NoUpdate):
        assert "Generating the dataset" in _text(status)
        assert job["label"].startswith("Generating")
        version, status, notes = data.load_in_background(_quiet, job, args[-1])
    return version, status, notes, synthetic


def _read_upload(data, upload, sid):
    """``load_upload`` then the background job that reads the file; returns
    (version, status, notes, upload buffer)."""
    version, status, notes, job, buffer = data.load_upload(upload, sid)
    if not isinstance(job, NoUpdate):
        assert "Reading the file" in _text(status)
        version, status, notes = data.load_in_background(_quiet, job, sid)
    return version, status, notes, buffer


def _run(store, sid, number: int) -> str:
    """The id of the session's run shown as ``number``."""
    return next(r for r, report in store.runs(sid) if report["number"] == number)


def test_url_preselects_dataset_and_remembers_target_and_model(data):
    dataset, state = data.apply_url("?dataset=wine&model=random_forest&target=target")
    assert dataset == "wine"
    assert state == {"model": "random_forest", "target": "target", "dataset": "wine"}
    assert data.apply_url("?dataset=../../etc")[0] == "iris"
    assert data.apply_url(None) == ("iris", {"dataset": "iris"})


def test_unknown_names_in_a_link_are_replaced_and_said(data, monkeypatch):
    from app.ui.tabs import data as data_module

    shown = []
    monkeypatch.setattr(data_module, "set_props", lambda c, p: shown.append((c, p)))
    dataset, state = data.apply_url("?dataset=nope&model=magic&target=t")
    assert dataset == "iris" and "model" not in state
    (component, props), *_ = shown
    assert component == ids.APP_NOTICE and props["is_open"]
    assert "no dataset nope and no model magic" in props["children"]
    assert "showing Iris flowers instead" in props["children"]


def test_a_reloaded_page_shows_what_the_session_holds(data, train, store, sid):
    """After an upload and a run, opening the page again restores the upload, its
    target and the run's model; the bundled dropdown is empty."""
    _read_upload(data, _upload("shop.csv", MESSY_CSV), sid)
    _, _, features, *_ = train.choose_target("price", sid)
    _train(
        train, sid, target="price", task="regression", features=features, model="ridge"
    )
    out = data.open_page("", sid)
    source, state, *synth, version, status, notes = out
    assert source is None
    assert state["target"] == "price" and state["model"] == "ridge"
    assert version == store.dataset(sid)["version"]
    assert "shop" in _text(status) and "60 rows" in _text(status)
    # A link that names other data still loads that data.
    assert data.open_page("?dataset=wine", sid)[0] == "wine"


def test_a_new_visit_gets_the_default_dataset_from_the_opening_itself(
    data, train, store, sid
):
    """A new session's page opening loads the default dataset itself and leaves
    the dropdown (which already shows it) alone: no second callback loads it.
    Opened again, it finds it loaded; a link naming other data still hands the
    loading to the dropdown."""
    source, state, *synth, version, status, notes = data.open_page("", sid)
    assert isinstance(source, NoUpdate) and all(isinstance(v, NoUpdate) for v in synth)
    assert version == store.dataset(sid)["version"] and "150 rows" in _text(status)
    assert state["dataset"] == "iris"
    again = data.open_page("", sid)
    assert isinstance(again[0], NoUpdate) and again[6] == version
    assert data.open_page("?dataset=wine", new_session_id())[0] == "wine"
    # The target's task is set only when it changes: nothing downstream reruns.
    task, *_ = train.choose_target("target", sid, "classification")
    assert isinstance(task, NoUpdate)
    assert train.choose_target("target", sid, "regression")[0] == "classification"


def test_a_reloaded_page_does_not_load_a_bundled_dataset_again(data, sid, store):
    _bundled(data, "moons", 2_000, 0.3, None, 4, sid)
    version = store.dataset(sid)["version"]
    source, state, rows, noise, features, seed, *_ = data.open_page("", sid)
    assert (source, rows, noise, seed) == ("moons", 2_000, 0.3, 4)
    # load_bundled then finds that exact dataset loaded: nothing is generated again.
    again, status, _, job, _ = data.load_bundled(
        source, rows, noise, features, seed, sid
    )
    assert again == version and isinstance(job, NoUpdate)
    assert "2,000 rows" in _text(status)


def test_loading_a_bundled_dataset_reports_rows_and_columns(data, sid):
    version, status, notes, synthetic = _load(data, sid)
    assert version
    assert "150 rows × 5 columns" in _text(status)
    assert synthetic is False


def test_synthetic_dataset_uses_the_generator_settings(data, sid):
    version, status, _, synthetic = _bundled(data, "moons", 2_000, 0.3, None, 4, sid)
    assert "2,000 rows × 3 columns" in _text(status)
    assert synthetic is True


def test_bad_generator_settings_give_a_message_and_keep_the_data(data, sid):
    _load(data, sid)
    version, status, _, _ = _bundled(data, "moons", 5, None, None, 0, sid)
    assert isinstance(version, NoUpdate)
    assert "Rows must be between" in _text(status)
    assert "Still using Iris flowers" in _text(status)


def test_uploading_a_messy_csv_cleans_it_and_says_what_was_done(data, store, sid):
    version, status, notes, buffer = _read_upload(
        data, _upload("shop.csv", MESSY_CSV), sid
    )
    assert "shop.csv: 60 rows" in _text(status)
    text = _text(notes)
    assert "index" in text.lower()
    assert "id" in text
    meta = store.dataset(sid)
    assert "id" in meta["roles"]["id"]
    assert buffer is None


def test_a_broken_upload_is_refused_and_the_earlier_data_stays(data, store, sid):
    _load(data, sid)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    version, status, notes, _ = _read_upload(data, _upload("picture.csv", png), sid)
    assert "Still using Iris flowers" in _text(status)
    assert store.dataset(sid)["name"] == "Iris flowers"
    assert "Traceback" not in _text(status)


def test_an_oversized_upload_is_refused_with_the_limit(data, sid):
    _, status, _, _ = _read_upload(
        data, {"filename": "big.csv", "too_large": 50 * 2**20}, sid
    )
    assert "big.csv is 50.0 MB; the limit is 2 MB" in _text(status)


def test_a_damaged_upload_payload_is_refused(data, sid):
    _, status, _, _ = _read_upload(
        data, {"filename": "x.csv", "contents": "data:;base64,@@@"}, sid
    )
    assert "damaged" in _text(status)


def test_describe_fills_targets_preview_summary_and_exploration(data, sid):
    version, *_ = _load(data, sid)
    out = data.describe(version, {"target": "petal_width_cm"}, sid)
    options, target, preview, columns, summary = out[:5]
    assert target == "petal_width_cm"
    assert len(preview) == 100
    assert {c["field"] for c in columns} == {o["value"] for o in options}
    assert {row["column"] for row in summary} == {o["value"] for o in options}
    x, y = out[9], out[11]
    assert x != y
    assert out[12].data[0].type == "heatmap"


def test_describe_without_data_does_nothing(data, sid):
    with pytest.raises(PreventUpdate):
        data.describe(None, None, sid)


def test_distribution_and_scatter_figures(data, sid):
    _load(data, sid)
    dist = data.distribution("sepal_length_cm", "v", sid)
    assert dist.data[0].type == "bar"
    scatter = data.scatter("sepal_length_cm", "petal_length_cm", "target", sid)
    assert {t.type for t in scatter.data} == {"scatter"}
    assert len(scatter.data) == 3


def test_exploring_a_column_that_does_not_exist_does_nothing(data, sid):
    _load(data, sid)
    with pytest.raises(PreventUpdate):
        data.distribution("nope", "v", sid)


def test_choosing_a_target_detects_the_task_and_leaves_out_id_columns(data, train, sid):
    _read_upload(data, _upload("shop.csv", MESSY_CSV), sid)
    task, options, chosen, times, time_column = train.choose_target("city", sid)
    assert task == "classification"
    assert "id" not in chosen and "flag" not in chosen
    assert "price" in chosen
    # The one date column: the split follows it, and its parts are features.
    assert times == [{"label": "when", "value": "when"}] and time_column == "when"
    assert "when" in chosen
    labels = {o["value"]: o["label"] for o in options}
    assert "ID-like" in labels["id"]
    task, *_ = train.choose_target("price", sid)
    assert task == "regression"


def test_choosing_a_task_offers_only_its_models(train):
    options, value = train.choose_task("regression", None, "logistic_regression")
    keys = [o["value"] for o in options]
    assert "logistic_regression" not in keys and value == "ridge"
    _, value = train.choose_task("classification", {"model": "random_forest"}, None)
    assert value == "random_forest"
    _, value = train.choose_task("classification", {"model": "random_forest"}, "knn")
    assert isinstance(value, NoUpdate)  # kept as it is, its settings too


def test_model_params_are_generated_from_the_spec_table(train):
    controls = train.model_params("random_forest")
    names = {c.children[1].id["name"] for c in controls if hasattr(c, "children")}
    assert {"n_estimators", "max_depth", "min_samples_leaf", "max_features"} <= names
    assert train.model_params(None) == []


def _train(
    train,
    sid,
    *,
    target="target",
    task="classification",
    features=None,
    model="logistic_regression",
    folds=5,
    params=None,
    time_column=None,
):
    params = params or {}
    return _train_all(
        train,
        sid,
        target,
        task,
        features,
        model,
        folds,
        params,
        time_column,
    )[:4]


def _train_all(train, sid, target, task, features, model, folds, params, time_column):
    """Every output of a click on Train: status, runs, run, tab, summary, table."""
    return train.train(
        lambda value: None,
        1,
        sid,
        target,
        task,
        features,
        model,
        list(params.values()),
        [ids.param_id(k) for k in params],
        0.25,
        True,
        0,
        folds,
        time_column,
    )


def test_training_answers_with_the_runs_summary_and_metrics(data, train, sid):
    """The metrics table comes with the training's answer, not a round trip later;
    the same as the run shown again (show_run) says."""
    _load(data, sid)
    _, _, features, *_ = train.choose_target("target", sid)
    out = _train_all(
        train, sid, "target", "classification", features, "knn", 3, {}, None
    )
    assert len(out) == 7
    run_id, summary, table, marked = out[2], out[4], out[5], out[6]
    shown = train.show_run(run_id, False, sid)
    assert str(summary) == str(shown[0]) and str(table) == str(shown[1])
    assert "accuracy" in str(table).lower() and "Run 1" in str(summary)
    assert marked == run_id == shown[3]
    # Shown after the training's answer: only the figures are drawn again.
    again = train.show_run(run_id, False, sid, marked)
    assert isinstance(again[0], NoUpdate) and isinstance(again[1], NoUpdate)
    assert again[2] is not None and isinstance(again[3], NoUpdate)


def test_training_adds_a_run_and_selects_it(data, train, store, sid):
    _load(data, sid)
    _, _, features, *_ = train.choose_target("target", sid)
    status, rows, selected, tab = _train(
        train, sid, features=features, params={"C": 0.5}
    )
    assert "Run 1" in _text(status)
    assert rows[0]["number"] == 1 and rows[0]["metric"] == "accuracy"
    assert rows[0]["run"] == selected == _run(store, sid, 1)
    assert "C=0.5" in rows[0]["params"]
    assert tab == "tab-results"
    summary, table, graphs, _ = train.show_run(selected, False, sid)
    text = _text(table)
    for name in [
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    ]:
        assert name in text
    assert "Run 1" in _text(summary)


def test_regression_run_shows_regression_metrics_and_plots(data, train, sid):
    _load(data, sid, "diabetes")
    _, _, features, *_ = train.choose_target("target", sid)
    _, rows, selected, _ = _train(
        train, sid, task="regression", features=features, model="ridge"
    )
    _, table, graphs, _ = train.show_run(selected, False, sid)
    assert all(name in _text(table) for name in ["r2", "mae", "rmse", "mape"])
    assert rows[0]["metric"] == "r2"


def test_training_errors_are_shown_not_raised(data, train, sid):
    _load(data, sid)
    status, rows, _, _ = _train(train, sid, features=["sepal_length_cm"], folds=80)
    assert "folds must be" in _text(status)
    status, *_ = _train(train, sid, target=None, features=[])
    assert "Choose a target" in _text(status)
    status, *_ = _train(train, sid, features=["sepal_length_cm"], model="ridge")
    assert "cannot do classification" in _text(status)


def test_what_is_removed_for_space_is_said_and_too_much_is_refused(
    data, train, store, sid
):
    from app import services

    _load(data, sid)
    _, _, features, *_ = train.choose_target("target", sid)
    before = store.usage(sid)
    _train(train, sid, features=features, folds=0)
    run = store.usage(sid) - before
    store.quota = store.usage(sid) + run // 2  # room for half a run more
    status, rows, shown, _ = _train(train, sid, features=features, folds=0)
    assert "Run 2: Logistic regression trained in" in _text(status)
    assert "Run 1 was removed to stay within this session's" in _text(status)
    assert [r["number"] for r in rows] == [2] and rows[0]["run"] == shown

    moons = (2_000, 0.3, None, 4)
    other = new_session_id()
    store.quota = None
    _bundled(data, "moons", *moons, other)
    store.quota = store.dataset(other)["bytes"] + 100  # room for the moons only
    _, status, notes, _ = _bundled(data, "moons", *moons, sid)
    assert "2,000 rows" in _text(status)
    assert _text(notes) == (
        "Run 2 and the earlier dataset Iris flowers were removed to stay within "
        f"this session's {store.quota / 1024:.0f} KB of storage."
    )
    assert train.list_runs(sid)[0] == []

    store.quota = 1_000  # bytes: no dataset fits
    version, status, _, _ = _bundled(data, "wine", None, None, None, 0, sid)
    assert isinstance(version, NoUpdate)
    assert "This dataset needs" in _text(status)
    assert "more than this session's" in _text(status)
    assert "Still using Synthetic: two moons" in _text(status)
    assert services.current_dataset(store, sid)["rows"] == 2_000


def test_training_without_data_says_so(train):
    status, *_ = _train(train, new_session_id(), features=["a"])
    assert "No data is loaded" in _text(status)


def test_runs_of_one_session_are_invisible_to_another(data, train, sid):
    _load(data, sid)
    _, rows, selected, _ = _train(train, sid, features=["sepal_length_cm"], folds=0)
    other = new_session_id()
    assert train.list_runs(other)[0] == []
    summary, table, *_ = train.show_run(selected, False, other)
    assert "no longer available" in _text(summary)
    assert len(train.list_runs(sid)[0]) == 1


def test_slow_run_warning_appears_for_big_data(data, train, sid):
    _bundled(data, "classification", 150_000, None, 5, 0, sid)
    assert "minute" in train.warn_slow("logistic_regression", 5, "v", sid)
    _load(data, sid)
    assert train.warn_slow("logistic_regression", 5, "v", sid) == ""


def test_a_model_named_in_the_url_wins_when_the_url_triggers(train):
    from contextvars import copy_context

    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    def run():
        context_value.set(
            AttributeDict(triggered_inputs=[{"prop_id": f"{ids.APP_URL_STATE}.data"}])
        )
        return train.choose_task("classification", {"model": "random_forest"}, "knn")

    _, value = copy_context().run(run)
    assert value == "random_forest"


# -- explain, predict, compare, remove, downloads -------------------------------------

from app.ui.tabs import (  # noqa: E402
    ExplainCallbacks,
    ExportCallbacks,
    PredictCallbacks,
)


@pytest.fixture
def trained(data, train, sid):
    """A session with iris loaded and two runs trained (logistic regression, kNN)."""
    _load(data, sid)
    _, _, features, *_ = train.choose_target("target", sid)
    _train(train, sid, features=features, folds=3)
    _train(train, sid, features=features, model="knn", folds=3)
    return sid


def test_explain_overview_computes_importances_for_the_shown_run(
    store, settings, trained
):
    explain = ExplainCallbacks(store, settings)
    with pytest.raises(PreventUpdate):
        explain.overview(_quiet, None, trained)
    out = explain.overview(_quiet, _run(store, trained, 1), trained)
    summary, perm, native = out[:3]
    assert "Explaining run 1" in _text(summary)
    assert perm.data[0].orientation == "h"
    assert native.layout.title.text == "Coefficients"
    feature, outputs = out[4], out[6]
    assert feature in {
        "petal_width_cm",
        "petal_length_cm",
        "sepal_length_cm",
        "sepal_width_cm",
    }
    assert [o["label"] for o in outputs] == ["setosa", "versicolor", "virginica"]
    assert out[13] == {}  # the classification-only section is shown
    knn = explain.overview(_quiet, _run(store, trained, 2), trained)
    assert knn[2].layout.annotations  # no native importances for k-NN


def test_explain_curves_and_boundary(store, settings, trained):
    explain = ExplainCallbacks(store, settings)
    one, two = _run(store, trained, 1), _run(store, trained, 2)
    pdp = explain.pdp("petal_width_cm", 1, one, trained)
    assert "P(versicolor)" in pdp.layout.title.text
    pdp2 = explain.pdp2("petal_width_cm", "petal_length_cm", one, trained)
    assert pdp2.data[0].type == "heatmap"
    assert (
        "different" in explain.pdp2("a", "a", one, trained).layout.annotations[0].text
    )
    boundary = explain.boundary("petal_width_cm", "petal_length_cm", two, trained)
    assert boundary.data[0].type == "contour"
    nope = explain.pdp("no_such_column", 0, one, trained)
    assert nope.layout.annotations


def test_explanations_are_cached_per_run(store, settings, trained):
    explain = ExplainCallbacks(store, settings)
    one = _run(store, trained, 1)
    explain.overview(_quiet, one, trained)
    keys = [k for k in store.backend.cache.iterkeys() if str(k).startswith("explain:")]
    assert any(f"{trained}:{one}:permutation:" in k for k in keys)
    held = store.session(trained)["held"][f"run:{one}"]  # counted in the quota
    assert "permutation:{}" in held["explain"]


def test_whatif_inputs_and_live_prediction(store, settings, trained):
    predict = PredictCallbacks(store, settings)
    one = _run(store, trained, 1)
    summary, inputs = predict.inputs(one, trained)
    assert "Predicting with run 1" in _text(summary)
    controls = [col.children[0].children[1] for col in inputs.children]
    names = [c.id["name"] for c in controls]
    assert set(names) == {
        "sepal_length_cm",
        "sepal_width_cm",
        "petal_length_cm",
        "petal_width_cm",
    }
    # No browser range check: a value past it would reach the server as nothing.
    assert all(getattr(c, "max", None) is None for c in controls)
    values = [c.value for c in controls]
    ids_ = [c.id for c in controls]
    small = [1.0 if "petal" in n else v for n, v in zip(names, values)]
    result = predict.whatif(small, ids_, one, trained)
    assert "setosa" in _text(result)
    assert predict.notes(small, ids_, one, trained) == [""] * 4
    large = [
        7.0 if n == "petal_length_cm" else 2.4 if n == "petal_width_cm" else v
        for n, v in zip(names, values)
    ]
    assert "virginica" in _text(predict.whatif(large, ids_, one, trained))


def test_whatif_takes_a_value_outside_the_training_range_and_says_so(
    store, settings, trained
):
    predict = PredictCallbacks(store, settings)
    one = _run(store, trained, 1)
    _, inputs = predict.inputs(one, trained)
    controls = [col.children[0].children[1] for col in inputs.children]
    names = [c.id["name"] for c in controls]
    values = [
        30.0 if n == "petal_length_cm" else c.value for n, c in zip(names, controls)
    ]
    result = predict.whatif(values, [c.id for c in controls], one, trained)
    notes = predict.notes(values, [c.id for c in controls], one, trained)
    note = notes[names.index("petal_length_cm")]
    assert "30" in note and "outside the training range" in note
    assert sum(bool(n) for n in notes) == 1
    # The prediction used 30, not a substitute: far past virginica's lengths.
    assert "virginica" in _text(result)


def test_whatif_contributions_add_up_to_the_prediction(store, settings, trained):
    predict = PredictCallbacks(store, settings)
    one = _run(store, trained, 1)
    _, inputs = predict.inputs(one, trained)
    controls = [col.children[0].children[1] for col in inputs.children]
    figure = predict.contributions(
        [c.value for c in controls], [c.id for c in controls], one, trained
    )
    trace = figure.data[0]
    assert trace.type == "waterfall"
    assert {"petal_length_cm", "petal_width_cm"} <= set(trace.y)
    assert "What moved the probability of class" in figure.layout.title.text
    again = predict.contributions(
        [c.value for c in controls], [c.id for c in controls], one, trained
    )
    assert list(again.data[0].x) == list(trace.x)  # the same background, kept


def test_batch_prediction_returns_a_safe_csv(store, settings, trained, iris):
    predict = PredictCallbacks(store, settings)
    rows = (
        iris.drop(columns="target")
        .head(5)
        .assign(note=["=1+1", "ok", "ok", "ok", "ok"])
    )
    job, status, cleared = predict.batch(
        _upload("new.csv", rows.to_csv(index=False).encode())["contents"],
        "new.csv",
        _run(store, trained, 1),
        trained,
    )
    assert "Reading the file" in _text(status) and cleared is None
    sent, status = predict.batch_in_background(_quiet, job, trained)
    assert sent["filename"] == "predictions-run-1.csv"
    text = base64.b64decode(sent["content"]).decode("utf-8-sig")
    assert "prediction" in text.splitlines()[0] and "'=1+1" in text
    assert "Predicted 5 rows" in _text(status)
    # A job sent again (its first answer lost) predicts the same file again.
    sent_again, _ = predict.batch_in_background(_quiet, job, trained)
    assert sent_again == sent
    job, _, _ = predict.batch(
        _upload("bad.csv", b"a,b\n1,2\n")["contents"],
        "bad.csv",
        _run(store, trained, 1),
        trained,
    )
    _, status = predict.batch_in_background(_quiet, job, new_session_id())
    assert "no longer waiting" in _text(status)  # not another session's to read
    _, status = predict.batch_in_background(_quiet, job, trained)
    assert "lacks 4 column(s)" in _text(status)


def test_ticking_runs_compares_them_and_removing_forgets_them(train, store, trained):
    one, two = _run(store, trained, 1), _run(store, trained, 2)
    assert train.compare([{"run": one}], trained) is None
    compared = train.compare([{"run": one}, {"run": two}], trained)
    text = _text(compared)
    assert (
        "Run 1 · Logistic regression" in text and "Run 2 · k-nearest neighbours" in text
    )
    rows, shown, ticked = train.remove(1, [{"run": one}], one, trained)
    assert [r["run"] for r in rows] == [two] and [r["number"] for r in rows] == [2]
    assert shown == two and ticked == []
    summary, *_ = train.show_run(one, False, trained)
    assert "no longer available" in _text(summary)
    assert store.backend.get(f"model:{trained}:{one}") is None  # deleted, too


def test_clicking_a_cell_shows_its_run_but_the_tick_box_does_not(train):
    assert train.pick_run({"rowId": "3", "colId": "model"}) == "3"
    with pytest.raises(PreventUpdate):
        train.pick_run({"rowId": "3", "colId": "ag-Grid-SelectionColumn"})


@pytest.mark.parametrize(
    "kind, name, marker",
    [
        (ids.DOWNLOAD_MODEL, "model-run-2.skops", None),
        (ids.DOWNLOAD_CODE, "reproduce-run-2.py", "import"),
        (ids.DOWNLOAD_REPORT, "report-run-2.html", "<!DOCTYPE html>"),
        (ids.EVAL_DOWNLOAD_DATA, "data-run-2.parquet", None),
    ],
)
def test_downloads_of_the_shown_or_latest_run(
    store, settings, trained, kind, name, marker
):
    export = ExportCallbacks(store, settings)
    sent, message = export.file(kind, None, trained)
    assert message == ""
    assert sent["filename"] == name
    content = (
        base64.b64decode(sent["content"])
        if sent.get("base64")
        else sent["content"].encode()
    )
    assert len(content) > 100
    if marker:
        assert marker in content.decode()


def test_download_without_a_run_says_so(store, settings, sid):
    export = ExportCallbacks(store, settings)
    _, message = export.file(ids.DOWNLOAD_MODEL, None, sid)
    assert message == "Train a model first."


@pytest.mark.slow  # runs the downloaded script in a subprocess
def test_downloaded_code_and_data_reproduce_the_runs_metrics(
    data, train, store, settings, sid, tmp_path
):
    import json
    import subprocess
    import sys

    _read_upload(data, _upload("shop.csv", MESSY_CSV), sid)
    _, _, features, *_ = train.choose_target("city", sid)
    _train(
        train,
        sid,
        target="city",
        features=features,
        model="random_forest",
        params={"n_estimators": 15},
        folds=3,
    )
    export = ExportCallbacks(store, settings)
    code, _ = export.file(ids.DOWNLOAD_CODE, _run(store, sid, 1), sid)
    parquet, _ = export.file(ids.EVAL_DOWNLOAD_DATA, _run(store, sid, 1), sid)
    assert code["filename"] == "reproduce-run-1.py"
    assert "reproduce-run-1.py" in code["content"]
    script = tmp_path / code["filename"]
    script.write_text(code["content"])
    (tmp_path / parquet["filename"]).write_bytes(base64.b64decode(parquet["content"]))
    out = subprocess.run(
        [sys.executable, "-I", str(script), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    printed = {m["name"]: m for m in json.loads(out.stdout)["metrics"]}
    for metric in store.run(sid, _run(store, sid, 1))["metrics"]:
        for key in ("holdout", "cv_mean", "cv_std"):
            if metric[key] is None:
                assert printed[metric["name"]][key] is None
            else:
                assert printed[metric["name"]][key] == pytest.approx(
                    metric[key], abs=1e-9
                )


def test_a_big_synthetic_dataset_is_made_by_a_job_not_in_the_request(data, store, sid):
    _load(data, sid)
    started = time.perf_counter()
    version, status, _, job, _ = data.load_bundled(
        "classification", 1_000_000, None, 50, 7, sid
    )
    assert time.perf_counter() - started < 1.0
    assert isinstance(version, NoUpdate)
    assert "Generating the dataset" in _text(status)
    assert job["label"] == "Generating 1,000,000 rows × 51 columns"
    assert job["kind"] == "bundled" and job["params"]["n_samples"] == 1_000_000
    assert store.dataset(sid)["name"] == "Iris flowers"  # nothing made yet
    small = data.load_bundled("classification", 2_000, None, 5, 7, sid)
    assert isinstance(small[3], NoUpdate) and "2,000 rows" in _text(small[1])


def test_every_upload_is_read_by_a_job_from_bytes_kept_for_its_session(
    data, store, sid
):
    _, status, _, job, buffer = data.load_upload(_upload("shop.csv", MESSY_CSV), sid)
    assert "Reading the file" in _text(status) and buffer is None
    assert job["label"] == "Reading shop.csv"
    assert "contents" not in job and set(job) >= {"staged", "filename"}
    other = new_session_id()
    _, status, _ = data.load_in_background(_quiet, job, other)
    assert "no longer waiting" in _text(status)  # another session cannot read it
    version, status, _ = data.load_in_background(_quiet, job, sid)
    assert "shop.csv: 60 rows" in _text(status)
    again, status, _ = data.load_in_background(_quiet, job, sid)  # a retried job
    assert again == version and "shop.csv: 60 rows" in _text(status)
    # One upload waits per session: a newer one takes its place.
    *_, newer, _ = data.load_upload(_upload("other.csv", b"a,b\n1,2\n3,4\n"), sid)
    _, status, _ = data.load_in_background(_quiet, job, sid)
    assert "no longer waiting" in _text(status)
    _, status, _ = data.load_in_background(_quiet, newer, sid)
    assert "other.csv: 2 rows" in _text(status)


def test_a_load_overtaken_by_a_later_one_shows_the_later(data, store, sid):
    _load(data, sid)
    *_, job, _ = data.load_upload(_upload("shop.csv", MESSY_CSV), sid)  # asked first
    version, status, _, _ = _load(data, sid, "wine")  # asked later, ends first
    late, status, _ = data.load_in_background(_quiet, job, sid)  # the file, last
    assert late == version and "Wine cultivars: 178 rows" in _text(status)
    assert store.dataset(sid)["name"] == "Wine cultivars"
    # The page cleared the rows box (the default) then typed 10,000: the slower
    # first load ends last and must not replace the data the page shows.
    slow = store.begin_load(sid)
    _load(data, sid, "classification", 3_000)
    with pytest.raises(Superseded):
        services.load_dataset(store, sid, "classification", {}, ticket=slow)
    assert store.dataset(sid)["rows"] == 3_000


@pytest.mark.parametrize(
    "job",
    [
        {"kind": "upload", "staged": "../../etc/passwd"},
        {"kind": "upload"},
        {"kind": "bundled", "key": "moons", "params": {"n_samples": 10**9}},
        {"kind": "bundled", "key": "nope"},
        {"kind": "rm -rf"},
    ],
)
def test_a_forged_data_job_is_refused_politely(data, sid, job):
    _load(data, sid)
    version, status, _ = data.load_in_background(_quiet, job, sid)
    assert isinstance(version, NoUpdate)
    assert "Still using Iris flowers" in _text(status)


def test_a_dataset_too_big_to_make_within_the_job_budget_is_refused(
    store, settings, sid
):
    import dataclasses

    small = DataCallbacks(store, dataclasses.replace(settings, job_memory_mb=100))
    _load(small, sid)
    *_, job, _ = small.load_bundled("classification", 1_000_000, None, 50, 7, sid)
    started = time.perf_counter()
    version, status, _ = small.load_in_background(_quiet, job, sid)
    assert time.perf_counter() - started < 1.0  # refused before generating
    assert isinstance(version, NoUpdate)
    assert (
        "Generating 1,000,000 rows × 50 features would need about 1.3 GB of memory; "
        "this server allows 100 MB per job. Use fewer rows or features."
    ) in _text(status)
    assert "Still using Iris flowers" in _text(status)


def test_a_run_shows_its_baseline_and_says_when_it_does_not_beat_it(
    data, train, store, sid
):
    _bundled(data, "circles", 500, None, None, 0, sid)
    _, _, features, *_ = train.choose_target("target", sid)
    status, rows, selected, _ = _train(train, sid, features=features, folds=3)
    summary, table, *_ = train.show_run(selected, False, sid)
    text = _text(table)
    assert "Baseline: always the most frequent class" in text
    report = store.run(sid, selected)
    accuracy = next(m for m in report["metrics"] if m["name"] == "accuracy")
    assert f"{accuracy['baseline']:.4g}" in text
    assert accuracy["holdout"] <= accuracy["baseline"]
    assert "does not beat the baseline" in _text(summary)


def _monthly_csv(months: int = 120) -> bytes:
    """A monthly series as a CSV upload, its rows out of order: sales with a
    trend, a yearly season and noise."""
    import math

    import numpy as np

    rng = np.random.default_rng(4)
    lines = []
    for i in range(months):
        year, month = 2010 + i // 12, i % 12 + 1
        season = 6 * math.sin(2 * math.pi * month / 12)
        lines.append(
            f"{year}-{month:02d}-01,{100 + 0.8 * i + season + rng.normal(0, 1.5):.2f}"
        )
    order = rng.permutation(months)
    return ("month,sales\n" + "".join(lines[i] + "\n" for i in order)).encode()


def test_a_monthly_series_is_split_by_time_and_scored_honestly(
    data, train, store, settings, sid
):
    """The date column is offered and preselected to split by time; the hold-out
    is then the latest months, and the R² is the honest one: lower than a random
    split's, which lets the model interpolate between months it saw."""
    from app import services

    _, status, _, _ = _read_upload(data, _upload("sales.csv", _monthly_csv()), sid)
    assert "120 rows" in _text(status)
    task, _, features, times, time_column = train.choose_target("sales", sid)
    assert task == "regression"
    assert times == [{"label": "month", "value": "month"}] and time_column == "month"
    assert features == ["month"]  # as its year, month, day and day of week

    def trained(time_column):
        status, _, run_id, _ = _train(
            train,
            sid,
            target="sales",
            task="regression",
            features=features,
            model="ridge",
            time_column=time_column,
        )
        assert isinstance(run_id, str), _text(status)
        r2 = next(m for m in store.run(sid, run_id)["metrics"] if m["name"] == "r2")
        return run_id, r2

    by_time, r2_by_time = trained(time_column)
    _, split = services.run_data(store, sid, by_time)
    months = store.dataset_frame(sid)[1]["month"].sort_values()
    assert list(split.x_test["month"]) == list(months.iloc[-30:])  # the latest 30
    assert split.x_train["month"].max() < split.x_test["month"].min()
    summary, *_ = train.show_run(by_time, False, sid)
    assert "split by time on month: hold-out = the latest 30 rows" in _text(summary)
    export = ExportCallbacks(store, settings)
    page, _ = export.file(ids.DOWNLOAD_REPORT, by_time, sid)
    assert "split by time on month: hold-out = the latest 30 rows" in page["content"]

    at_random, r2_at_random = trained(None)
    assert "random split" in _text(train.show_run(at_random, False, sid)[0])
    assert r2_at_random["holdout"] > 0.9  # flattering
    assert r2_by_time["holdout"] < r2_at_random["holdout"] - 0.1  # honest
    assert r2_by_time["cv_mean"] < r2_at_random["cv_mean"]

    # What-if: the month is ISO text, by default the median training month.
    predict = PredictCallbacks(store, settings)
    _, inputs = predict.inputs(by_time, sid)
    (control,) = [col.children[0].children[1] for col in inputs.children]
    assert control.id["name"] == "month" and control.value == "2013-09-01"
    later = predict.whatif(["2019-06-01"], [control.id], by_time, sid)
    assert float(_text(later)) > float(
        _text(predict.whatif([""], [control.id], by_time, sid))
    )
    (note,) = predict.notes(["2019-06-01"], [control.id], by_time, sid)
    assert "after every training date" in note


def test_a_regression_run_turns_off_what_only_classes_need(
    data, train, store, settings, sid
):
    _load(data, sid, "diabetes")
    _, _, features, *_ = train.choose_target("target", sid)
    _, _, run_id, _ = _train(
        train, sid, task="regression", features=features, model="ridge", folds=3
    )
    explain = ExplainCallbacks(store, settings)
    out = explain.overview(_quiet, run_id, sid)
    assert out[6] == [] and out[7] is None  # no class to choose
    assert out[8:12] == ([], None, [], None)  # no decision boundary to draw
    assert out[13] == {"display": "none"}
    export = ExportCallbacks(store, settings)
    page, _ = export.file(ids.DOWNLOAD_REPORT, run_id, sid)
    assert "stratified: no" in page["content"]
