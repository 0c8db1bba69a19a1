"""The data section: its cards and tab, and their callbacks."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update, set_props
from dash.exceptions import MissingCallbackContextException, PreventUpdate

from app import services
from app.config import Settings
from app.ml import (
    DATASETS,
    MAX_SYNTHETIC_ROWS,
    MODEL_SPECS,
    DataLoadError,
    column_distribution,
    dataset_options,
)
from app.server import jobs
from app.server.store import SessionExpired, SessionStore, Superseded
from app.ui import figures, ids
from app.ui.components import (
    field,
    graph,
    grid,
    notes_list,
    progress_box,
    step,
    upload_zone,
)
from app.ui.tabs import _inputs
from app.ui.tabs._background import with_progress

log = logging.getLogger(__name__)


# Layout

# What an empty dropdown says (without it, it would have no accessible name).
NO_DATA = "Load data first"


#: The dataset a new visit shows.
DEFAULT_DATASET = "iris"


def data_card(settings: Settings) -> dbc.Card:
    """Step 1: choose a bundled dataset (with generator controls) or upload a file."""
    limit_mb = f"{settings.max_upload_mb:g}"
    return dbc.Card(
        [
            step(1, "Data"),
            dbc.CardBody(
                [
                    field(
                        "Bundled dataset",
                        dcc.Dropdown(
                            id=ids.DATA_SOURCE,
                            options=dataset_options(),
                            # What a new visit shows; open_page loads it at once.
                            value=DEFAULT_DATASET,
                            placeholder="Choose a dataset…",
                            clearable=False,
                        ),
                        ids.DATA_SOURCE,
                    ),
                    dbc.Collapse(
                        synthetic_controls(), id=ids.DATA_SYNTH, is_open=False
                    ),
                    html.Div("or", className="text-center text-muted small my-1"),
                    upload_zone(
                        ids.DATA_UPLOAD,
                        "Upload a file",
                        f"Drop or click · CSV, TSV, Excel, Parquet · "
                        f"up to {limit_mb} MB",
                    ),
                    dcc.Loading(
                        html.Div(
                            [
                                html.Div(
                                    "No data loaded yet.",
                                    id=ids.DATA_STATUS,
                                    className="data-status mt-3",
                                    role="status",
                                ),
                                html.Ul(id=ids.DATA_NOTES, className="data-notes"),
                            ]
                        ),
                        type="dot",
                        delay_show=150,
                    ),
                    progress_box(
                        ids.DATA_PROGRESS_BOX, ids.DATA_PROGRESS, ids.DATA_CANCEL
                    ),
                ]
            ),
        ]
    )


def synthetic_controls() -> html.Div:
    """Size, noise, feature count and seed of the synthetic generators."""

    def number(control_id: str, label: str, **kw: Any) -> dbc.Col:
        return dbc.Col(
            field(
                label,
                dbc.Input(id=control_id, type="number", debounce=True, **kw),
                control_id,
            ),
            width=6,
        )

    return dbc.Row(
        [
            number(
                ids.DATA_SYNTH_ROWS,
                "Rows",
                min=10,
                max=MAX_SYNTHETIC_ROWS,
                step=1,
                value=1000,
            ),
            number(ids.DATA_SYNTH_NOISE, "Noise", min=0, step=0.05, value=None),
            number(
                ids.DATA_SYNTH_FEATURES, "Features", min=2, max=50, step=1, value=None
            ),
            number(ids.DATA_SYNTH_SEED, "Seed", min=0, step=1, value=0),
        ],
        className="g-2",
    )


def target_card() -> dbc.Card:
    """Step 2: target column, task and features."""
    return dbc.Card(
        [
            step(2, "Target and features"),
            dbc.CardBody(
                [
                    field(
                        "Target column",
                        dcc.Dropdown(
                            id=ids.TARGET_COLUMN,
                            options=[],
                            placeholder="Load data first",
                            clearable=False,
                        ),
                        ids.TARGET_COLUMN,
                    ),
                    field(
                        "Task",
                        dbc.RadioItems(
                            id=ids.TRAIN_TASK,
                            options=[
                                {"label": "Classification", "value": "classification"},
                                {"label": "Regression", "value": "regression"},
                            ],
                            value="classification",
                            inline=True,
                        ),
                        ids.TRAIN_TASK,
                        "Detected from the target; change it if the guess is wrong.",
                    ),
                    field(
                        "Features",
                        dcc.Dropdown(
                            id=ids.TRAIN_FEATURES,
                            options=[],
                            value=[],
                            multi=True,
                            placeholder="All usable columns",
                        ),
                        ids.TRAIN_FEATURES,
                        "ID-like, constant and date columns are left out by default.",
                    ),
                ]
            ),
        ]
    )


def data_tab() -> html.Div:
    """Preview grid, column summary, distribution, correlations and scatter."""
    return html.Div(
        [
            html.H2("Preview (first 100 rows)", className="h6 mt-3"),
            grid(ids.DATA_PREVIEW, 300),
            html.H2("Columns", className="h6 mt-3"),
            grid(ids.DATA_SUMMARY, 300),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            field(
                                "Distribution of",
                                dcc.Dropdown(
                                    id=ids.DATA_DIST_COLUMN,
                                    clearable=False,
                                    placeholder=NO_DATA,
                                ),
                                ids.DATA_DIST_COLUMN,
                            ),
                            graph(ids.DATA_DIST_GRAPH, "Load data to see it here"),
                        ],
                        lg=6,
                    ),
                    dbc.Col(
                        graph(ids.DATA_CORR_GRAPH, "Load data to see correlations"),
                        lg=6,
                    ),
                ],
                className="mt-3 g-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        field(
                            "Scatter: x",
                            dcc.Dropdown(
                                id=ids.DATA_SCATTER_X,
                                clearable=False,
                                placeholder=NO_DATA,
                            ),
                            ids.DATA_SCATTER_X,
                        ),
                        md=6,
                    ),
                    dbc.Col(
                        field(
                            "y",
                            dcc.Dropdown(
                                id=ids.DATA_SCATTER_Y,
                                clearable=False,
                                placeholder=NO_DATA,
                            ),
                            ids.DATA_SCATTER_Y,
                        ),
                        md=6,
                    ),
                ],
                className="mt-3 g-3",
            ),
            graph(ids.DATA_SCATTER_GRAPH, "Pick two columns"),
        ],
        className="pb-4",
    )


def status_message(text: str, *, error: bool = False) -> html.Div:
    """The data-status content: what is loaded, or what went wrong."""
    return html.Div(text, className="text-danger" if error else "text-success")


def summary_columns() -> list[dict[str, Any]]:
    """Column definitions of the per-column summary grid."""
    names = [
        ("column", "Column"),
        ("type", "Type"),
        ("role", "Role"),
        ("missing", "Missing"),
        ("missing_pct", "Missing %"),
        ("unique", "Unique"),
        ("mean", "Mean"),
        ("std", "Std"),
        ("min", "Min"),
        ("max", "Max"),
        ("top", "Most frequent"),
    ]
    return [{"field": f, "headerName": h} for f, h in names]


# Callbacks


# The address bar follows the dataset, target and model, without a reload or a
# new history entry, so that a reload or a copied link opens the same choices.
ADDRESS_BAR = """
function(dataset, target, model) {
    var query = new URLSearchParams(window.location.search);
    var pairs = {"dataset": dataset, "target": target, "model": model};
    Object.keys(pairs).forEach(function(key) {
        if (pairs[key]) { query.set(key, pairs[key]); } else { query.delete(key); }
    });
    var text = query.toString();
    window.history.replaceState(
        window.history.state, "", window.location.pathname + (text ? "?" + text : "")
    );
    return text;
}
"""
MAX_QUERY_VALUE = 200

# The upload guard runs in the browser: a file over the limit is refused there,
# with a message, instead of being sent to the server.
UPLOAD_GUARD = """
function(contents, filename, limit) {
    if (!contents) { return [window.dash_clientside.no_update, null]; }
    var comma = contents.indexOf(",");
    var size = Math.floor((contents.length - comma - 1) * 3 / 4);
    if (size > limit) {
        return [{"filename": filename, "too_large": size}, null];
    }
    return [{"filename": filename, "contents": contents}, null];
}
"""


class DataCallbacks:
    """Loading data into the visitor's session and exploring it."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def register(self, app: Any) -> None:
        """Attach the data callbacks to ``app``."""
        app.callback(
            Output(ids.DATA_SOURCE, "value"),
            Output(ids.APP_URL_STATE, "data"),
            Output(ids.DATA_SYNTH_ROWS, "value"),
            Output(ids.DATA_SYNTH_NOISE, "value"),
            Output(ids.DATA_SYNTH_FEATURES, "value"),
            Output(ids.DATA_SYNTH_SEED, "value"),
            Output(ids.DATA_VERSION, "data", allow_duplicate=True),
            Output(ids.DATA_STATUS, "children", allow_duplicate=True),
            Output(ids.DATA_NOTES, "children", allow_duplicate=True),
            Input(ids.APP_URL, "search"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call="initial_duplicate",
        )(self.open_page)
        app.clientside_callback(
            ADDRESS_BAR,
            Output(ids.APP_ADDRESS, "data"),
            Input(ids.DATA_SOURCE, "value"),
            Input(ids.TARGET_COLUMN, "value"),
            Input(ids.MODEL_NAME, "value"),
            prevent_initial_call=True,
        )
        app.clientside_callback(
            UPLOAD_GUARD,
            Output(ids.DATA_UPLOAD_BUFFER, "data"),
            Output(ids.DATA_UPLOAD, "contents"),
            Input(ids.DATA_UPLOAD, "contents"),
            State(ids.DATA_UPLOAD, "filename"),
            State(ids.DATA_UPLOAD_LIMIT, "data"),
            prevent_initial_call=True,
        )
        outputs = (
            Output(ids.DATA_VERSION, "data", allow_duplicate=True),
            Output(ids.DATA_STATUS, "children", allow_duplicate=True),
            Output(ids.DATA_NOTES, "children", allow_duplicate=True),
        )
        app.callback(
            *outputs,
            Output(ids.DATA_JOB, "data", allow_duplicate=True),
            Output(ids.DATA_SYNTH, "is_open"),
            Input(ids.DATA_SOURCE, "value"),
            Input(ids.DATA_SYNTH_ROWS, "value"),
            Input(ids.DATA_SYNTH_NOISE, "value"),
            Input(ids.DATA_SYNTH_FEATURES, "value"),
            Input(ids.DATA_SYNTH_SEED, "value"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.load_bundled)
        app.callback(
            *outputs,
            Output(ids.DATA_JOB, "data", allow_duplicate=True),
            Output(ids.DATA_UPLOAD_BUFFER, "data", allow_duplicate=True),
            Input(ids.DATA_UPLOAD_BUFFER, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.load_upload)
        app.callback(
            *outputs,
            Input(ids.DATA_JOB, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            **with_progress(ids.DATA_PROGRESS, ids.DATA_PROGRESS_BOX, ids.DATA_CANCEL),
        )(self.load_in_background)
        app.callback(
            Output(ids.TARGET_COLUMN, "options"),
            Output(ids.TARGET_COLUMN, "value"),
            Output(ids.DATA_PREVIEW, "rowData"),
            Output(ids.DATA_PREVIEW, "columnDefs"),
            Output(ids.DATA_SUMMARY, "rowData"),
            Output(ids.DATA_SUMMARY, "columnDefs"),
            Output(ids.DATA_DIST_COLUMN, "options"),
            Output(ids.DATA_DIST_COLUMN, "value"),
            Output(ids.DATA_SCATTER_X, "options"),
            Output(ids.DATA_SCATTER_X, "value"),
            Output(ids.DATA_SCATTER_Y, "options"),
            Output(ids.DATA_SCATTER_Y, "value"),
            Output(ids.DATA_CORR_GRAPH, "figure"),
            Input(ids.DATA_VERSION, "data"),
            State(ids.APP_URL_STATE, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.describe)
        app.callback(
            Output(ids.DATA_DIST_GRAPH, "figure"),
            Input(ids.DATA_DIST_COLUMN, "value"),
            State(ids.DATA_VERSION, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.distribution)
        app.callback(
            Output(ids.DATA_SCATTER_GRAPH, "figure"),
            Input(ids.DATA_SCATTER_X, "value"),
            Input(ids.DATA_SCATTER_Y, "value"),
            Input(ids.TARGET_COLUMN, "value"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.scatter)

    # -- choosing data -------------------------------------------------------------
    def apply_url(self, search: str | None) -> tuple[str, dict[str, str]]:
        """The dataset a link names (or the default) and its target and model;
        a name this app does not know is replaced, and the notice says so."""
        query = parse_qs((_inputs.text(search) or "").lstrip("?"))
        picked = {
            key: values[0][:MAX_QUERY_VALUE]
            for key, values in query.items()
            if key in ("dataset", "target", "model") and values
        }
        dataset = picked.pop("dataset", DEFAULT_DATASET)
        unknown = []
        if dataset not in DATASETS:
            unknown.append(f"no dataset {dataset!s:.40}")
            dataset = DEFAULT_DATASET
        if "model" in picked and picked["model"] not in MODEL_SPECS:
            unknown.append(f"no model {picked.pop('model')!s:.40}")
        if unknown:
            _notice(
                f"This link names {' and '.join(unknown)} here; showing "
                f"{DATASETS[dataset].label.split(' (')[0]} instead."
            )
        return dataset, dict(picked, dataset=dataset)

    def open_page(self, search: str | None, sid: str) -> tuple[Any, ...]:
        """What a page shows when it opens: the data, target and model the session
        already holds (after a reload or Back), unless its link names other data;
        else what the link names, or the default dataset.

        The default dataset, which the page's dropdown already shows, is loaded
        here rather than by a change of the dropdown: one round trip fewer
        before a new visitor sees data."""
        dataset, picked = self.apply_url(search)
        named = "dataset=" in (_inputs.text(search) or "")
        current = services.current_dataset(self.store, _inputs.text(sid) or "")
        keep = (no_update,) * 4
        if current is None:
            if dataset == DEFAULT_DATASET:
                return self._open_default(sid, picked, None)
            return (dataset, picked, *keep, no_update, no_update, no_update)
        source = current.get("source") or {}
        bundled = source.get("kind") == "bundled"
        if named and not (bundled and source.get("key") == dataset):
            return (dataset, picked, *keep, no_update, no_update, no_update)
        restored = {
            **services.last_choices(self.store, sid, current),
            **{k: v for k, v in picked.items() if k != "dataset"},
            "dataset": source.get("key") if bundled else current["version"],
        }
        if bundled and source.get("key") == DEFAULT_DATASET:
            return self._open_default(sid, restored, current)
        if bundled:  # load_bundled finds it already loaded: nothing is read again
            params = source.get("params") or {}
            synth = (
                params.get("n_samples", 1000),
                params.get("noise"),
                params.get("n_features"),
                params.get("random_state", 0),
            )
            return (source["key"], restored, *synth, no_update, no_update, no_update)
        return (None, restored, *keep, *self._loaded(current))

    def _open_default(
        self, sid: str, picked: dict[str, str], current: dict[str, Any] | None
    ) -> tuple[Any, ...]:
        """The default dataset shown (loaded when the session lacks it), with the
        dropdown and generator settings left as the page has them."""
        unchanged = (no_update,) * 5  # the dropdown, the generator's settings
        if current is None:
            try:
                current = services.load_dataset(self.store, sid, DEFAULT_DATASET, {})
            except Superseded:
                return (unchanged[0], picked, *unchanged[1:], *self._superseded(sid))
            except (ValueError, SessionExpired) as exc:
                shown = self._refused(sid, exc)
                return (unchanged[0], picked, *unchanged[1:], *shown)
        return (unchanged[0], picked, *unchanged[1:], *self._loaded(current))

    def load_bundled(
        self,
        source: str | None,
        rows: Any,
        noise: Any,
        n_features: Any,
        seed: Any,
        sid: str,
    ) -> tuple[Any, ...]:
        """Load a bundled dataset (with its generator settings) into the session.

        Small or already generated ones at once; big ones in a background job.
        """
        source = _inputs.text(source)
        if source not in DATASETS:
            raise PreventUpdate
        synthetic = DATASETS[source].synthetic
        try:
            params = {
                "n_samples": _number(rows, "Rows", int),
                "noise": _number(noise, "Noise", float),
                "n_features": _number(n_features, "Features", int),
                "random_state": _number(seed, "Seed", int) or 0,
            }
            current = services.current_dataset(self.store, sid)
            if current and current.get("source") == {
                "kind": "bundled",
                "key": source,
                "params": params if synthetic else {},
            }:
                return self._loaded(current) + (no_update, synthetic)
            job = services.dataset_job(self.store, sid, source, params)
            if job is not None:
                waiting = status_message("Generating the dataset…")
                return (no_update, waiting, [], job, synthetic)
            meta = services.load_dataset(self.store, sid, source, params)
        except Superseded:
            return self._superseded(sid) + (no_update, synthetic)
        except (ValueError, SessionExpired) as exc:
            return self._refused(sid, exc) + (no_update, synthetic)
        return self._loaded(meta) + (no_update, synthetic)

    def load_upload(self, upload: dict[str, Any] | None, sid: str) -> tuple[Any, ...]:
        """Take an uploaded file in and hand it to a background job that reads it;
        on failure keep the earlier data."""
        if not upload:
            raise PreventUpdate
        try:
            job = services.stage_upload(self.store, self.settings, sid, upload)
        except (DataLoadError, SessionExpired) as exc:
            return self._refused(sid, exc) + (no_update, None)
        waiting = status_message("Reading the file…")
        return (no_update, waiting, [], job, None)

    def load_in_background(
        self, set_progress: Any, job: dict[str, Any] | None, sid: str
    ) -> tuple[Any, ...]:
        """A big dataset generated, or an uploaded file read, as a background job."""
        job = _inputs.mapping(job)
        if not job:
            raise PreventUpdate
        set_progress((10, job.get("label", "Loading")))
        try:
            meta = services.run_dataset_job(self.store, self.settings, sid, job)
        except Superseded:
            return self._superseded(sid)
        except (DataLoadError, ValueError, SessionExpired) as exc:
            return self._refused(sid, exc)
        except jobs.OVER_BUDGET as exc:
            log.warning("loading data ran out of its budget: %r", exc)
            return self._refused(sid, jobs.Budget.of(self.settings).message(exc))
        set_progress((100, "Loaded"))
        if job.get("kind") == "upload":  # the bundled choice no longer applies
            _set(ids.DATA_SOURCE, {"value": None})
        return self._loaded(meta)

    def _loaded(self, meta: dict[str, Any]) -> tuple[Any, ...]:
        status = status_message(
            f"{meta['name']}: {meta['rows']:,} rows × {len(meta['columns']):,} columns"
        )
        return meta["version"], status, notes_list(meta["notes"])

    def _superseded(self, sid: str) -> tuple[Any, ...]:
        """What a load overtaken by a later one shows: the data now current."""
        log.info("a dataset load was overtaken by a later one")
        current = services.current_dataset(self.store, sid)
        return self._loaded(current) if current else (no_update,) * 3

    def _refused(self, sid: str, why: Exception | str) -> tuple[Any, ...]:
        log.info("data refused: %s", why)
        current = services.current_dataset(self.store, sid)
        text = str(why) + (f" Still using {current['name']}." if current else "")
        return no_update, status_message(text, error=True), []

    # -- describing it -------------------------------------------------------------
    def describe(
        self, version: str | None, url_state: dict[str, str] | None, sid: str
    ) -> tuple[Any, ...]:
        """Fill the target choices, preview, summary and exploration controls."""
        if not version:
            raise PreventUpdate
        try:
            meta, profile = services.dataset_profile(self.store, sid)
        except SessionExpired:
            raise PreventUpdate from None
        columns = meta["columns"]
        url_state = _inputs.mapping(url_state)
        wanted = url_state.get("target")
        target = wanted if wanted in columns else meta["default_target"]
        source = meta.get("source") or {}
        named_here = url_state.get("dataset") in (source.get("key"), meta["version"])
        if wanted and wanted not in columns and named_here:
            _notice(
                f"This link names a target {str(wanted)[:40]} that {meta['name']} "
                f"does not have; showing {target} instead."
            )
        options = [{"label": c, "value": c} for c in columns]
        numeric = profile["numeric"] or columns
        x = numeric[0]
        y = numeric[1] if len(numeric) > 1 else numeric[0]
        corr = figures.make_correlation_figure(
            profile["correlation"], total_columns=len(profile["numeric"])
        )
        return (
            options,
            target,
            profile["preview"],
            [{"field": c, "headerName": c} for c in columns],
            profile["summary"],
            summary_columns(),
            options,
            target,
            options,
            x,
            options,
            y,
            corr,
        )

    def distribution(self, column: str | None, version: str | None, sid: str) -> Any:
        """The distribution figure of one column (computed on all rows)."""
        column = _inputs.text(column)
        if not column:
            raise PreventUpdate
        try:
            meta = self.store.dataset(sid)
            if column not in meta["columns"]:
                raise PreventUpdate
            _, frame = self.store.dataset_frame(sid, [column])
        except SessionExpired as exc:
            return figures.empty_figure(str(exc))
        try:
            data = column_distribution(frame[column])
        except (ValueError, TypeError, ArithmeticError):  # e.g. dates a µs apart
            log.warning("no distribution of a %s column", frame[column].dtype)
            return figures.empty_figure(f"The distribution of {column} cannot be drawn")
        return figures.make_distribution_figure(data, column)

    def scatter(
        self, x: str | None, y: str | None, target: str | None, sid: str
    ) -> Any:
        """A scatter of two columns coloured by the target (sampled when large)."""
        x, y, target = _inputs.text(x), _inputs.text(y), _inputs.text(target)
        if not x or not y:
            raise PreventUpdate
        try:
            meta = self.store.dataset(sid)
            wanted = [c for c in dict.fromkeys([x, y, target]) if c in meta["columns"]]
            if x not in wanted or y not in wanted:
                raise PreventUpdate
            _, frame = self.store.dataset_frame(sid, wanted)
        except SessionExpired as exc:
            return figures.empty_figure(str(exc))
        color = target if target in frame.columns and target not in (x, y) else None
        return figures.make_scatter_figure(
            frame, x=x, y=y, color=color, total_rows=meta["rows"]
        )


def _number(value: Any, label: str, kind: type) -> Any:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{label} must be a number.") from None


def _notice(text: str) -> None:
    """Show ``text`` in the page's notice (from within a callback)."""
    log.info("notice: %s", text)
    _set(ids.APP_NOTICE, jobs.notice_props(text))


def _set(component: str, props: dict[str, Any]) -> None:
    """Dash's ``set_props``, a no-op outside a callback (a direct call in tests)."""
    try:
        set_props(component, props)
    except MissingCallbackContextException:
        pass
