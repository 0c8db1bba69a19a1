"""Page layout: functions returning components (no callbacks, no computation)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from . import ids
from .config import Settings
from .figures import empty_figure_dict
from .functions import (
    DATASETS,
    MAX_SYNTHETIC_ROWS,
    METRIC_LABELS,
    ParamSpec,
    dataset_options,
)
from .store import new_session_id

GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}


def serve_layout(settings: Settings, session_id: str | None = None) -> html.Div:
    """The whole page; called per visit so that each visit gets a fresh session id."""
    return html.Div(
        [
            dcc.Location(id=ids.APP_URL, refresh=False),
            dcc.Store(
                id=ids.APP_SESSION,
                data=session_id or new_session_id(),
                storage_type="session",
            ),
            dcc.Store(id=ids.APP_URL_STATE, data=None),
            dcc.Store(id=ids.DATA_VERSION, data=None),
            dcc.Store(id=ids.DATA_UPLOAD_BUFFER, data=None),
            dcc.Store(id=ids.DATA_UPLOAD_LIMIT, data=settings.max_upload_bytes),
            dcc.Store(id=ids.DATA_JOB, data=None),
            dcc.Store(id=ids.PREDICT_JOB, data=None),
            dcc.Store(id=ids.EVAL_RUN, data=None),
            dcc.Store(id=ids.EXPLAIN_REQUEST, data=None),
            dcc.Download(id=ids.EVAL_DOWNLOAD),
            dcc.Download(id=ids.PREDICT_DOWNLOAD),
            navbar(),
            notice(),
            dbc.Container(
                dbc.Row(
                    [
                        dbc.Col(
                            [data_card(settings), target_card(), model_card()],
                            md=5,
                            lg=4,
                            xl=3,
                            className="d-flex flex-column gap-3",
                        ),
                        dbc.Col(main_tabs(), md=7, lg=8, xl=9),
                    ],
                    className="g-3",
                ),
                fluid=True,
                className="py-3",
            ),
        ]
    )


def navbar() -> html.Nav:
    """The top bar with the product name."""
    return html.Nav(
        dbc.Container(
            [
                html.Span("Dashboard", className="navbar-brand mb-0 h1 text-white"),
                html.Span(
                    "Explore data, train and compare scikit-learn models",
                    className="tagline d-none d-md-inline",
                ),
            ],
            fluid=True,
            className="d-flex align-items-baseline gap-3",
        ),
        className="navbar app-navbar",
    )


def notice() -> dbc.Container:
    """Where a background job that was stopped or refused says why (hidden)."""
    return dbc.Container(
        dbc.Alert(
            id=ids.APP_NOTICE,
            is_open=False,
            dismissable=True,
            color="warning",
            className="mt-3 mb-0",
        ),
        fluid=True,
    )


def _step(number: int, title: str) -> dbc.CardHeader:
    return dbc.CardHeader([html.Span(str(number), className="step-number"), title])


def _field(label: str, control: Any, control_id: Any, help_text: str = "") -> html.Div:
    children = [dbc.Label(label, html_for=_for(control_id)), control]
    if help_text:
        children.append(html.Div(help_text, className="control-help"))
    return html.Div(children, className="mb-2")


def _for(control_id: Any) -> str:
    return control_id if isinstance(control_id, str) else ""


def data_card(settings: Settings) -> dbc.Card:
    """Step 1: choose a bundled dataset (with generator controls) or upload a file."""
    limit_mb = f"{settings.max_upload_mb:g}"
    return dbc.Card(
        [
            _step(1, "Data"),
            dbc.CardBody(
                [
                    _field(
                        "Bundled dataset",
                        dcc.Dropdown(
                            id=ids.DATA_SOURCE,
                            options=dataset_options(),
                            value=None,
                            placeholder="Choose a dataset…",
                            clearable=False,
                        ),
                        ids.DATA_SOURCE,
                    ),
                    dbc.Collapse(
                        synthetic_controls(), id=ids.DATA_SYNTH, is_open=False
                    ),
                    html.Div("or", className="text-center text-muted small my-1"),
                    dcc.Upload(
                        id=ids.DATA_UPLOAD,
                        children=html.Div(
                            [
                                html.Strong("Upload a file"),
                                html.Div(
                                    f"Drop or click · CSV, TSV, Excel, Parquet · "
                                    f"up to {limit_mb} MB",
                                    className="small",
                                ),
                            ]
                        ),
                        className="upload-zone",
                        multiple=False,
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
            _field(
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
            _step(2, "Target and features"),
            dbc.CardBody(
                [
                    _field(
                        "Target column",
                        dcc.Dropdown(
                            id=ids.TARGET_COLUMN,
                            options=[],
                            placeholder="Load data first",
                            clearable=False,
                        ),
                        ids.TARGET_COLUMN,
                    ),
                    _field(
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
                    _field(
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


def model_card() -> dbc.Card:
    """Step 3: model, its hyperparameters, validation and the train button."""
    return dbc.Card(
        [
            _step(3, "Model and validation"),
            dbc.CardBody(
                [
                    _field(
                        "Model",
                        dcc.Dropdown(id=ids.MODEL_NAME, options=[], clearable=False),
                        ids.MODEL_NAME,
                    ),
                    html.Div(id=ids.TRAIN_PARAMS),
                    html.Hr(className="my-2"),
                    _field(
                        "Hold-out size",
                        dcc.Slider(
                            id=ids.TRAIN_TEST_SIZE,
                            min=0.1,
                            max=0.5,
                            step=0.05,
                            value=0.25,
                            marks={v / 10: f"{v * 10}%" for v in range(1, 6)},
                        ),
                        ids.TRAIN_TEST_SIZE,
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                _field(
                                    "CV folds",
                                    dbc.Input(
                                        id=ids.TRAIN_CV_FOLDS,
                                        type="number",
                                        min=0,
                                        max=20,
                                        step=1,
                                        value=5,
                                    ),
                                    ids.TRAIN_CV_FOLDS,
                                    "0 skips cross-validation",
                                ),
                                width=6,
                            ),
                            dbc.Col(
                                _field(
                                    "Seed",
                                    dbc.Input(
                                        id=ids.TRAIN_SEED,
                                        type="number",
                                        min=0,
                                        step=1,
                                        value=0,
                                    ),
                                    ids.TRAIN_SEED,
                                ),
                                width=6,
                            ),
                        ],
                        className="g-2",
                    ),
                    dbc.Switch(
                        id=ids.TRAIN_STRATIFY,
                        label="Stratify by class",
                        value=True,
                        className="mb-2",
                    ),
                    html.Div(id=ids.TRAIN_WARNING, className="small text-warning mb-2"),
                    dbc.Button(
                        "Train model",
                        id=ids.TRAIN_BUTTON,
                        color="primary",
                        className="w-100",
                        n_clicks=0,
                    ),
                    progress_box(
                        ids.TRAIN_PROGRESS_BOX, ids.TRAIN_PROGRESS, ids.TRAIN_CANCEL
                    ),
                    html.Div(id=ids.TRAIN_STATUS, className="mt-2", role="status"),
                ]
            ),
        ]
    )


HIDDEN = {"display": "none"}
SHOWN = {"display": "block"}


def progress_box(box_id: str, bar_id: str, cancel_id: str | None = None) -> html.Div:
    """A progress bar (and a cancel button) shown while a background job runs."""
    children: list[Any] = [
        dbc.Progress(
            id=bar_id,
            value=0,
            label="",
            striped=True,
            animated=True,
            style={"height": "1.25rem"},
            className="flex-grow-1",
        )
    ]
    if cancel_id:
        children.append(
            dbc.Button(
                "Cancel",
                id=cancel_id,
                color="outline-secondary",
                size="sm",
                n_clicks=0,
                disabled=True,
            )
        )
    return html.Div(
        html.Div(children, className="d-flex gap-2 align-items-center"),
        id=box_id,
        style=HIDDEN,
        className="mt-2",
    )


def param_controls(params: Sequence[ParamSpec]) -> list[Any]:
    """One labelled control per hyperparameter, generated from the model spec table."""
    if not params:
        return [html.Div("This model has no settings.", className="control-help")]
    return [_param_control(p) for p in params]


def _param_control(param: ParamSpec) -> html.Div:
    control_id = ids.param_id(param.name)
    if param.kind == "bool":
        control: Any = dbc.Switch(id=control_id, label=param.label, value=param.default)
        return html.Div(control, className="mb-2")
    if param.kind == "choice":
        control = dcc.Dropdown(
            id=control_id,
            options=[
                {"label": "none" if o is None else str(o), "value": str(o)}
                for o in param.options
            ],
            value=str(param.default),
            clearable=False,
        )
    else:
        control = dbc.Input(
            id=control_id,
            type="number",
            value=param.default,
            min=param.low,
            max=param.high,
            step=param.step or "any",
            placeholder=param.none_label or "",
        )
    help_text = param.help or (
        f"Empty = {param.none_label}" if param.none_label else ""
    )
    return _field(param.label, control, control_id, help_text)


def main_tabs() -> dbc.Tabs:
    """The right-hand side: data exploration and results."""
    return dbc.Tabs(
        [
            dbc.Tab(data_tab(), label="Data", tab_id="tab-data"),
            dbc.Tab(results_tab(), label="Results", tab_id="tab-results"),
            dbc.Tab(explain_tab(), label="Explain", tab_id="tab-explain"),
            dbc.Tab(predict_tab(), label="Predict", tab_id="tab-predict"),
        ],
        id=ids.MAIN_TABS,
        active_tab="tab-data",
    )


def _graph(graph_id: str, message: str) -> dcc.Loading:
    return dcc.Loading(
        dcc.Graph(id=graph_id, figure=empty_figure_dict(message), config=GRAPH_CONFIG),
        type="default",
        delay_show=200,
    )


def _grid(grid_id: str, height: int) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id,
        rowData=[],
        columnDefs=[],
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
        dashGridOptions={"suppressFieldDotNotation": True},
        style={"height": f"{height}px"},
    )


def data_tab() -> html.Div:
    """Preview grid, column summary, distribution, correlations and scatter."""
    return html.Div(
        [
            html.H6("Preview (first 100 rows)", className="mt-3"),
            _grid(ids.DATA_PREVIEW, 300),
            html.H6("Columns", className="mt-3"),
            _grid(ids.DATA_SUMMARY, 300),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            _field(
                                "Distribution of",
                                dcc.Dropdown(id=ids.DATA_DIST_COLUMN, clearable=False),
                                ids.DATA_DIST_COLUMN,
                            ),
                            _graph(ids.DATA_DIST_GRAPH, "Load data to see it here"),
                        ],
                        lg=6,
                    ),
                    dbc.Col(
                        _graph(ids.DATA_CORR_GRAPH, "Load data to see correlations"),
                        lg=6,
                    ),
                ],
                className="mt-3 g-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _field(
                            "Scatter: x",
                            dcc.Dropdown(id=ids.DATA_SCATTER_X, clearable=False),
                            ids.DATA_SCATTER_X,
                        ),
                        md=6,
                    ),
                    dbc.Col(
                        _field(
                            "y",
                            dcc.Dropdown(id=ids.DATA_SCATTER_Y, clearable=False),
                            ids.DATA_SCATTER_Y,
                        ),
                        md=6,
                    ),
                ],
                className="mt-3 g-3",
            ),
            _graph(ids.DATA_SCATTER_GRAPH, "Pick two columns"),
        ],
        className="pb-4",
    )


def results_tab() -> html.Div:
    """The session's leaderboard, then the shown run's metrics, plots and downloads."""
    return html.Div(
        [
            html.Div(
                [
                    html.H6(
                        "Runs in this session · click a row to show it, tick rows to "
                        "compare them",
                        className="mb-0",
                    ),
                    dbc.Button(
                        "Remove ticked",
                        id=ids.EVAL_REMOVE,
                        color="outline-danger",
                        size="sm",
                        n_clicks=0,
                    ),
                ],
                className="d-flex justify-content-between align-items-center mt-3 mb-2",
            ),
            dag.AgGrid(
                id=ids.RUNS_TABLE,
                rowData=[],
                columnDefs=runs_columns(),
                defaultColDef={"sortable": True, "resizable": True},
                dashGridOptions={
                    "rowSelection": {
                        "mode": "multiRow",
                        "checkboxes": True,
                        "headerCheckbox": False,
                        "enableClickSelection": False,
                    },
                    "suppressFieldDotNotation": True,
                },
                getRowId="params.data.run",
                columnSize="responsiveSizeToFit",
                style={"height": "240px"},
            ),
            html.Div(id=ids.EVAL_COMPARE, className="mt-3"),
            html.Div(id=ids.EVAL_SUMMARY, className="mt-3"),
            download_bar(),
            html.Div(
                empty_state("Train a model to see its metrics."),
                id=ids.METRICS_TABLE,
                className="mt-2",
            ),
            dbc.Switch(
                id=ids.EVAL_NORMALIZE,
                label="Normalise the confusion matrix by true class",
                value=False,
                className="mt-2",
            ),
            dcc.Loading(html.Div(id=ids.EVAL_FIGURES), type="default", delay_show=200),
        ],
        className="pb-4",
    )


def download_bar() -> html.Div:
    """Buttons that download the shown run: model, code, report and its data."""

    def button(control_id: str, label: str, title: str) -> dbc.Button:
        return dbc.Button(
            label,
            id=control_id,
            color="outline-primary",
            size="sm",
            n_clicks=0,
            title=title,
        )

    return html.Div(
        [
            html.Span("Take it away:", className="small text-muted me-1"),
            button(
                ids.DOWNLOAD_MODEL,
                "Model (.skops)",
                "The fitted pipeline, safe to load",
            ),
            button(
                ids.DOWNLOAD_CODE,
                "Code (.py)",
                "A script that retrains it and prints the same metrics",
            ),
            button(
                ids.DOWNLOAD_REPORT,
                "Report (.html)",
                "Summary, metrics and figures; opens offline",
            ),
            button(
                ids.EVAL_DOWNLOAD_DATA,
                "Data (.parquet)",
                "The data as the model saw it, for the script",
            ),
            html.Span(id=ids.EVAL_DOWNLOAD_STATUS, className="small text-danger ms-2"),
        ],
        className="d-flex flex-wrap gap-2 align-items-center mt-2",
    )


def explain_tab() -> html.Div:
    """Importances, partial dependence and ICE, decision boundary and calibration."""

    def dropdown(control_id: str, **kw: Any) -> dcc.Dropdown:
        return dcc.Dropdown(id=control_id, options=[], **kw)

    return html.Div(
        [
            html.Div(
                empty_state("Train a model, then explain it here."),
                id=ids.EXPLAIN_SUMMARY,
                className="mt-3",
            ),
            progress_box(ids.EXPLAIN_PROGRESS_BOX, ids.EXPLAIN_PROGRESS),
            dbc.Row(
                [
                    dbc.Col(
                        _graph(ids.EXPLAIN_PERMUTATION, "Permutation importance"), lg=6
                    ),
                    dbc.Col(
                        _graph(ids.EXPLAIN_NATIVE, "Model's own importances"), lg=6
                    ),
                ],
                className="g-3",
            ),
            html.H6("Partial dependence and ICE", className="mt-3"),
            dbc.Row(
                [
                    dbc.Col(
                        _field(
                            "Feature",
                            dropdown(ids.EXPLAIN_FEATURE, clearable=False),
                            ids.EXPLAIN_FEATURE,
                        ),
                        md=4,
                    ),
                    dbc.Col(
                        _field(
                            "Second feature (two-way)",
                            dropdown(ids.EXPLAIN_FEATURE_2, placeholder="none"),
                            ids.EXPLAIN_FEATURE_2,
                        ),
                        md=4,
                    ),
                    dbc.Col(
                        _field(
                            "Class",
                            dropdown(ids.EXPLAIN_OUTPUT, clearable=False),
                            ids.EXPLAIN_OUTPUT,
                        ),
                        md=4,
                    ),
                ],
                className="g-2",
            ),
            dbc.Row(
                [
                    dbc.Col(_graph(ids.EXPLAIN_PDP, "Choose a feature"), lg=6),
                    dbc.Col(_graph(ids.EXPLAIN_PDP_2, "Choose a second feature"), lg=6),
                ],
                className="g-3",
            ),
            html.Div(
                [
                    html.H6("Decision boundary and calibration", className="mt-3"),
                    dbc.Row(
                        [
                            dbc.Col(
                                _field(
                                    "x",
                                    dropdown(ids.EXPLAIN_BOUNDARY_X, clearable=False),
                                    ids.EXPLAIN_BOUNDARY_X,
                                ),
                                md=6,
                            ),
                            dbc.Col(
                                _field(
                                    "y",
                                    dropdown(ids.EXPLAIN_BOUNDARY_Y, clearable=False),
                                    ids.EXPLAIN_BOUNDARY_Y,
                                ),
                                md=6,
                            ),
                        ],
                        className="g-2",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                _graph(
                                    ids.EXPLAIN_BOUNDARY, "Choose two numeric features"
                                ),
                                lg=6,
                            ),
                            dbc.Col(
                                _graph(ids.EXPLAIN_CALIBRATION, "Calibration"), lg=6
                            ),
                        ],
                        className="g-3",
                    ),
                ],
                id=ids.EXPLAIN_CLASSIFICATION,
            ),
        ],
        className="pb-4",
    )


def predict_tab() -> html.Div:
    """What-if inputs with a live prediction, and batch prediction of a file."""
    return html.Div(
        [
            html.Div(
                empty_state("Train a model, then try it here."),
                id=ids.PREDICT_SUMMARY,
                className="mt-3",
            ),
            dbc.Row(
                [
                    dbc.Col(html.Div(id=ids.PREDICT_INPUTS), lg=7),
                    dbc.Col(
                        [
                            html.H6("Prediction"),
                            html.Div(id=ids.WHATIF_PREDICTION, role="status"),
                        ],
                        lg=5,
                    ),
                ],
                className="g-3",
            ),
            html.H6("Predict a file of new rows", className="mt-4"),
            dcc.Upload(
                id=ids.PREDICT_UPLOAD,
                children=html.Div(
                    [
                        html.Strong("Upload rows to predict"),
                        html.Div(
                            "Same columns as the training data · you get a CSV back",
                            className="small",
                        ),
                    ]
                ),
                className="upload-zone",
                multiple=False,
            ),
            dcc.Loading(
                html.Div(id=ids.PREDICT_STATUS, className="mt-2", role="status"),
                type="dot",
            ),
            progress_box(ids.PREDICT_PROGRESS_BOX, ids.PREDICT_PROGRESS),
        ],
        className="pb-4",
    )


def whatif_inputs(spec: Sequence[dict[str, Any]]) -> dbc.Row:
    """One input per feature: numbers with their range and step, categories as
    dropdowns; each starts at the median or the most frequent value."""
    cols = []
    for item in spec:
        control_id = ids.input_id(item["name"])
        if item["kind"] == "number":
            control: Any = dbc.Input(
                id=control_id,
                type="number",
                value=item["default"],
                min=item["min"],
                max=item["max"],
                step=item["step"],
                debounce=False,
            )
            help_text = f"{item['min']:.4g} to {item['max']:.4g} in training"
        else:
            control = dcc.Dropdown(
                id=control_id,
                options=[{"label": o, "value": o} for o in item["options"]],
                value=item["default"],
                clearable=False,
            )
            help_text = f"{len(item['options'])} most frequent values"
        cols.append(
            dbc.Col(_field(item["name"], control, control_id, help_text), sm=6, xl=4)
        )
    return dbc.Row(cols, className="g-2")


def whatif_result(task: str, result: dict[str, Any], figure: Any) -> html.Div:
    """The live prediction: the value or class, and the class probabilities."""
    value = result["prediction"]
    text = f"{value:.5g}" if isinstance(value, float) else str(value)
    children: list[Any] = [
        html.Div(text, className="display-6 fw-semibold whatif-value")
    ]
    if figure is not None:
        children.append(dcc.Graph(figure=figure, config=GRAPH_CONFIG))
    return html.Div(children)


def comparison(rows: Sequence[dict[str, Any]], figures: Sequence[Any]) -> html.Div:
    """Metrics of the ticked runs side by side, and their curves overlaid."""
    names = [r["name"] for r in rows[0]["values"]] if rows else []
    header = html.Thead(
        html.Tr([html.Th("Metric")] + [html.Th(n, className="num") for n in names])
    )
    body = html.Tbody(
        [
            html.Tr(
                [html.Td(html.Code(row["metric"]))]
                + [html.Td(_fmt(v["holdout"]), className="num") for v in row["values"]],
                **{"data-metric": row["metric"]},
            )
            for row in rows
        ]
    )
    return html.Div(
        [
            html.H6("Comparison of the ticked runs (hold-out)"),
            html.Table(
                [header, body], className="table table-sm metrics-table bg-white"
            ),
            figure_grid(figures),
        ],
        className="border rounded p-2 bg-white",
    )


def runs_columns() -> list[dict[str, Any]]:
    """Column definitions of the runs leaderboard."""
    return [
        {"field": "number", "headerName": "#", "maxWidth": 70},
        {"field": "data", "headerName": "Data"},
        {"field": "model", "headerName": "Model"},
        {"field": "params", "headerName": "Key parameters", "tooltipField": "params"},
        {"field": "metric", "headerName": "Metric", "maxWidth": 110},
        {"field": "holdout", "headerName": "Hold-out", "maxWidth": 110},
        {"field": "cv", "headerName": "CV mean ± std", "maxWidth": 150},
        {"field": "fit_seconds", "headerName": "Fit (s)", "maxWidth": 100},
    ]


def empty_state(message: str) -> html.Div:
    """A muted placeholder shown where content will appear."""
    return html.Div(message, className="empty-state")


def status_message(text: str, *, error: bool = False) -> html.Div:
    """The data-status content: what is loaded, or what went wrong."""
    return html.Div(text, className="text-danger" if error else "text-success")


def notes_list(notes: Iterable[str]) -> list[html.Li]:
    """The short list of what was done to the data."""
    return [html.Li(note) for note in notes]


STOPPED = (
    "The last job stopped before it finished (it was cancelled, or the server "
    "running it went away). Nothing was lost; start it again."
)


def stopped_message() -> dbc.Alert:
    """What the status shows when a background job ends without a result."""
    return alert(STOPPED, "warning")


def running_message(text: str) -> html.Div:
    """What the status shows while a background job runs."""
    return html.Div(text, className="small text-muted")


def alert(text: str, color: str) -> dbc.Alert:
    """A dismissable message under the train button."""
    return dbc.Alert(text, color=color, dismissable=True, className="py-2 mb-0")


def metrics_table(rows: Sequence[dict[str, Any]]) -> html.Table:
    """The metrics table: name, hold-out value and CV mean ± std, one row each."""
    header = html.Thead(
        html.Tr(
            [
                html.Th("Metric"),
                html.Th("Hold-out", className="num"),
                html.Th("CV mean ± std", className="num"),
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(
                        [
                            html.Code(row["name"]),
                            html.Span(
                                f" {METRIC_LABELS.get(row['name'], '')}",
                                className="text-muted small",
                            ),
                        ]
                    ),
                    html.Td(_fmt(row["holdout"]), className="num"),
                    html.Td(_fmt_cv(row["cv_mean"], row["cv_std"]), className="num"),
                ],
                **{"data-metric": row["name"]},
            )
            for row in rows
        ]
    )
    return html.Table(
        [header, body], className="table table-sm table-hover metrics-table bg-white"
    )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _fmt_cv(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4g} ± {std:.2g}" if std is not None else f"{mean:.4g}"


def run_summary(report: dict[str, Any], run_id: str, dataset: str) -> html.Div:
    """One line about the shown run (by its ``number``), and its notes."""
    config, number = report["config"], report.get("number", run_id)
    text = (
        f"Run {number} · {report['model_label']} on {dataset} · target "
        f"{config['target']} ({report['task']}) · {report['n_train']:,} training rows, "
        f"{report['n_test']:,} hold-out rows, {report['cv_folds']} CV folds · "
        f"fit in {report['fit_seconds']:.3g} s"
    )
    notes = report.get("notes") or []
    return html.Div(
        [html.Div(text, className="fw-semibold")]
        + ([html.Ul(notes_list(notes), className="data-notes")] if notes else [])
    )


def explain_summary(report: dict[str, Any], run_id: str) -> html.Div:
    """Which run the Explain tab is about (by its ``number``)."""
    number = report.get("number", run_id)
    return html.Div(
        f"Explaining run {number} · {report['model_label']} on "
        f"{report.get('dataset', '')} · target {report['config']['target']}",
        className="fw-semibold",
    )


def predict_summary(report: dict[str, Any], run_id: str) -> html.Div:
    """Which run the Predict tab predicts with (by its ``number``)."""
    number = report.get("number", run_id)
    return html.Div(
        f"Predicting with run {number} · {report['model_label']} · target "
        f"{report['config']['target']} · change any input and the prediction follows",
        className="fw-semibold",
    )


def message_with_notes(text: str, notes: Sequence[str]) -> dbc.Alert:
    """A success message with a short list of notes under it."""
    children: list[Any] = [html.Div(text)]
    if notes:
        children.append(html.Ul(notes_list(notes), className="data-notes mt-1"))
    return dbc.Alert(children, color="success", className="py-2 mb-0")


def figure_grid(figures: Sequence[Any]) -> dbc.Row:
    """Evaluation figures two per row."""
    return dbc.Row(
        [dbc.Col(dcc.Graph(figure=fig, config=GRAPH_CONFIG), lg=6) for fig in figures],
        className="g-3 mt-1",
    )


def dataset_label(key: str) -> str:
    """The display name of a bundled dataset."""
    return DATASETS[key].label.split(" (")[0] if key in DATASETS else key


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
