"""The model card and the Results tab: layout and callbacks (train, runs)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import services
from app.config import Settings
from app.ml import (
    CLASSIFICATION,
    DEFAULT_MODEL,
    METRIC_LABELS,
    MODEL_SPECS,
    TASKS,
    ParamSpec,
    TrainingError,
    default_features,
    default_time_column,
    detect_task,
    models_for_task,
    slow_run_warning,
    split_description,
)
from app.server import jobs
from app.server.store import SessionExpired, SessionStore
from app.ui import figures, ids
from app.ui.components import (
    alert,
    empty_state,
    field,
    figure_grid,
    notes_list,
    progress_box,
    running_message,
    step,
    stopped_message,
)
from app.ui.tabs import _inputs
from app.ui.tabs._background import with_progress
from app.ui.tabs.export import download_bar

log = logging.getLogger(__name__)


# Layout


def model_card() -> dbc.Card:
    """Step 3: model, its hyperparameters, validation and the train button."""
    return dbc.Card(
        [
            step(3, "Model and validation"),
            dbc.CardBody(
                [
                    field(
                        "Model",
                        # As the default dataset's task needs them: nothing to
                        # wait for when a visit opens on it.
                        dcc.Dropdown(
                            id=ids.MODEL_NAME,
                            options=model_options(CLASSIFICATION),
                            value=DEFAULT_MODEL[CLASSIFICATION],
                            clearable=False,
                            placeholder="Load data first",
                        ),
                        ids.MODEL_NAME,
                    ),
                    html.Div(
                        param_controls(
                            MODEL_SPECS[DEFAULT_MODEL[CLASSIFICATION]].params
                        ),
                        id=ids.TRAIN_PARAMS,
                    ),
                    html.Hr(className="my-2"),
                    field(
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
                    field(
                        "Split by time",
                        dcc.Dropdown(
                            id=ids.TRAIN_TIME_COLUMN,
                            options=[],
                            value=None,
                            placeholder="None: a random split",
                        ),
                        ids.TRAIN_TIME_COLUMN,
                        "A date column: the hold-out is then the latest rows, and "
                        "each CV fold is scored on rows later than it trained on, "
                        "as a model that predicts the future will be. Empty: a "
                        "random split, which flatters a model of data over time.",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                field(
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
                                field(
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
                    html.Div(
                        [
                            dbc.Button(
                                "Train model",
                                id=ids.TRAIN_BUTTON,
                                color="primary",
                                className="flex-grow-1",
                                n_clicks=0,
                            ),
                            dbc.Button(
                                "Tune…",
                                id=ids.TUNE_OPEN,
                                color="primary",
                                outline=True,
                                n_clicks=0,
                                title="Search this model's hyper-parameters",
                            ),
                        ],
                        className="d-flex gap-2",
                    ),
                    progress_box(
                        ids.TRAIN_PROGRESS_BOX, ids.TRAIN_PROGRESS, ids.TRAIN_CANCEL
                    ),
                    html.Div(id=ids.TRAIN_STATUS, className="mt-2", role="status"),
                ]
            ),
        ]
    )


def model_options(task: str) -> list[dict[str, str]]:
    """The model dropdown's choices for ``task``."""
    return [{"label": MODEL_SPECS[k].label, "value": k} for k in models_for_task(task)]


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
    return field(param.label, control, control_id, help_text)


def results_tab() -> html.Div:
    """The session's leaderboard, then the shown run's metrics, plots and downloads."""
    return html.Div(
        [
            html.Div(
                [
                    html.H2(
                        "Runs in this session · click a row to show it, tick rows to "
                        "compare them",
                        className="h6 mb-0",
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
            html.H2("Comparison of the ticked runs (hold-out)", className="h6"),
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
        {
            "field": "fit_seconds",
            "headerName": "Final fit (s)",
            "headerTooltip": "Seconds to fit the model on the whole training part",
            "maxWidth": 120,
        },
    ]


def metrics_table(
    rows: Sequence[dict[str, Any]], baseline: str | None = None
) -> html.Table:
    """The metrics table: name, hold-out value, CV mean ± std and the baseline's
    hold-out value (described by ``baseline``), one row each."""
    header = html.Thead(
        html.Tr(
            [
                html.Th("Metric"),
                html.Th("Hold-out", className="num"),
                html.Th("CV mean ± std", className="num"),
                html.Th(
                    "Baseline",
                    className="num",
                    title=f"Baseline: {baseline}" if baseline else None,
                ),
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
                    html.Td(_fmt(row.get("baseline")), className="num baseline"),
                ],
                **{"data-metric": row["name"]},
            )
            for row in rows
        ]
    )
    caption = html.Caption(
        f"Baseline: {baseline}, under the same split and folds." if baseline else ""
    )
    return html.Table(
        [caption, header, body],
        className="table table-sm table-hover metrics-table bg-white caption-top",
    )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _fmt_cv(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4g} ± {std:.2g}" if std is not None else f"{mean:.4g}"


def _timing(report: dict[str, Any]) -> str:
    """Training time, and the final fit's share of it when CV ran."""
    total, fit = (
        report.get("total_seconds", report["fit_seconds"]),
        report["fit_seconds"],
    )
    if not report["cv_folds"]:
        return f"trained in {total:.3g} s"
    return f"trained in {total:.3g} s, of which the final fit {fit:.3g} s"


def run_header(report: dict[str, Any], run_id: str) -> tuple[html.Div, Any]:
    """A run's summary line and metrics table (above its figures)."""
    summary = run_summary(report, run_id, report.get("dataset", ""))
    return summary, metrics_table(report["metrics"], report.get("baseline"))


def run_summary(report: dict[str, Any], run_id: str, dataset: str) -> html.Div:
    """One line about the shown run (by its ``number``), and its notes."""
    config, number = report["config"], report.get("number", run_id)
    text = (
        f"Run {number} · {report['model_label']} on {dataset} · target "
        f"{config['target']} ({report['task']}) · {report['n_train']:,} training rows, "
        f"{report['n_test']:,} hold-out rows, {report['cv_folds']} CV folds · "
        f"{split_description(report)} · {_timing(report)}"
    )
    notes = report.get("notes") or []
    return html.Div(
        [html.Div(text, className="fw-semibold")]
        + ([html.Ul(notes_list(notes), className="data-notes")] if notes else [])
    )


# Callbacks


ROLE_TAGS = {"id": "ID-like", "constant": "constant", "date": "date"}
UNTRAINABLE = (
    "The model could not be trained on this data with these settings. Check the "
    "target and the features for unusual values (such as infinite numbers, or "
    "classes with very few rows), or try more rows."
)


class TrainCallbacks:
    """Choosing what to train, training, and showing runs."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def register(self, app: Any) -> None:
        """Attach the modelling callbacks to ``app``."""
        app.callback(
            Output(ids.TRAIN_TASK, "value"),
            Output(ids.TRAIN_FEATURES, "options"),
            Output(ids.TRAIN_FEATURES, "value"),
            Output(ids.TRAIN_TIME_COLUMN, "options"),
            Output(ids.TRAIN_TIME_COLUMN, "value"),
            Input(ids.TARGET_COLUMN, "value"),
            State(ids.APP_SESSION, "data"),
            State(ids.TRAIN_TASK, "value"),
            prevent_initial_call=True,
        )(self.choose_target)
        app.clientside_callback(  # stratifying by class needs classes
            "function(task) { return task !== 'classification'; }",
            Output(ids.TRAIN_STRATIFY, "disabled"),
            Input(ids.TRAIN_TASK, "value"),
        )
        app.callback(
            Output(ids.MODEL_NAME, "options"),
            Output(ids.MODEL_NAME, "value"),
            Input(ids.TRAIN_TASK, "value"),
            Input(ids.APP_URL_STATE, "data"),
            State(ids.MODEL_NAME, "value"),
            prevent_initial_call=True,  # the layout has the default task's
        )(self.choose_task)
        app.callback(
            Output(ids.TRAIN_PARAMS, "children"),
            Input(ids.MODEL_NAME, "value"),
            prevent_initial_call=True,  # the layout has the default model's
        )(self.model_params)
        app.callback(
            Output(ids.TRAIN_WARNING, "children"),
            Input(ids.MODEL_NAME, "value"),
            Input(ids.TRAIN_CV_FOLDS, "value"),
            Input(ids.DATA_VERSION, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.warn_slow)
        app.callback(
            Output(ids.TRAIN_STATUS, "children"),
            Output(ids.RUNS_TABLE, "rowData"),
            Output(ids.EVAL_RUN, "data"),
            Output(ids.MAIN_TABS, "active_tab"),
            # The new run's summary and metrics come with it, a round trip
            # before show_run draws its figures.
            Output(ids.EVAL_SUMMARY, "children", allow_duplicate=True),
            Output(ids.METRICS_TABLE, "children", allow_duplicate=True),
            Output(ids.EVAL_SHOWN, "data", allow_duplicate=True),
            Input(ids.TRAIN_BUTTON, "n_clicks"),
            State(ids.APP_SESSION, "data"),
            *(State(i, p) for i, p in MODEL_CARD_STATES),
            prevent_initial_call=True,
            **with_progress(
                ids.TRAIN_PROGRESS,
                ids.TRAIN_PROGRESS_BOX,
                ids.TRAIN_CANCEL,
                running=[
                    (Output(ids.TRAIN_BUTTON, "disabled"), True, False),
                    (
                        Output(ids.TRAIN_STATUS, "children"),
                        running_message("Training…"),
                        stopped_message(),
                    ),
                ],
            ),
        )(self.train)
        app.callback(
            Output(ids.RUNS_TABLE, "rowData", allow_duplicate=True),
            Output(ids.EVAL_RUN, "data", allow_duplicate=True),
            Input(ids.APP_SESSION, "data"),
            prevent_initial_call="initial_duplicate",
        )(self.list_runs)
        app.callback(
            Output(ids.EVAL_RUN, "data", allow_duplicate=True),
            Input(ids.RUNS_TABLE, "cellClicked"),
            prevent_initial_call=True,
        )(self.pick_run)
        app.callback(
            Output(ids.EVAL_SUMMARY, "children"),
            Output(ids.METRICS_TABLE, "children"),
            Output(ids.EVAL_FIGURES, "children"),
            Output(ids.EVAL_SHOWN, "data"),
            Input(ids.EVAL_RUN, "data"),
            Input(ids.EVAL_NORMALIZE, "value"),
            State(ids.APP_SESSION, "data"),
            State(ids.EVAL_SHOWN, "data"),
            prevent_initial_call=True,
        )(self.show_run)
        app.callback(
            Output(ids.EVAL_COMPARE, "children"),
            Input(ids.RUNS_TABLE, "selectedRows"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.compare)
        app.callback(
            Output(ids.RUNS_TABLE, "rowData", allow_duplicate=True),
            Output(ids.EVAL_RUN, "data", allow_duplicate=True),
            Output(ids.RUNS_TABLE, "selectedRows", allow_duplicate=True),
            Input(ids.EVAL_REMOVE, "n_clicks"),
            State(ids.RUNS_TABLE, "selectedRows"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.remove)

    def choose_target(
        self, target: str | None, sid: str, task: str | None = None
    ) -> tuple[Any, ...]:
        """Detect the task of a target and offer the other columns as features;
        offer the date columns to split by time, the only one chosen. The task
        is set only when it changes (what follows it is then left alone)."""
        target = _inputs.text(target)
        if not target:
            raise PreventUpdate
        try:
            if target not in self.store.dataset(sid)["columns"]:
                raise PreventUpdate  # a name from another dataset, or made up
            meta, frame = self.store.dataset_frame(sid, [target])
        except SessionExpired:
            raise PreventUpdate from None
        roles = meta["roles"]
        tag = {c: ROLE_TAGS[r] for r, cols in roles.items() for c in cols}
        options = [
            {"label": f"{c} ({tag[c]})" if c in tag else c, "value": c}
            for c in meta["columns"]
            if c != target
        ]
        chosen = default_features(meta["columns"], target, roles)
        dates = [c for c in roles.get("date", ()) if c != target]
        time_options = [{"label": c, "value": c} for c in dates]
        time_column = default_time_column(meta["columns"], target, roles)
        detected = detect_task(frame[target])
        return (
            no_update if detected == task else detected,
            options,
            chosen,
            time_options,
            time_column,
        )

    def choose_task(
        self, task: str | None, url_state: dict | None, current: str | None
    ) -> tuple[Any, Any]:
        """Offer the models that can do the task; keep the current one if it can.

        A model named in the page's URL wins when the URL is what changed.
        """
        task = task if task in TASKS else CLASSIFICATION
        keys = models_for_task(task)
        options = model_options(task)
        wanted = _inputs.mapping(url_state).get("model")
        from_url = _inputs.triggered(ids.APP_URL_STATE)
        order = (wanted, current) if from_url else (current, wanted)
        choice = next((c for c in order if c in keys), DEFAULT_MODEL[task])
        # Unchanged: setting it again would re-render (and reset) its settings.
        return options, no_update if choice == current else choice

    def model_params(self, model: str | None) -> Any:
        """The hyperparameter controls of a model, from the spec table."""
        model = _inputs.text(model)
        if model not in MODEL_SPECS:
            return []
        return param_controls(MODEL_SPECS[model].params)

    def warn_slow(self, model: str | None, folds: Any, version: Any, sid: str) -> str:
        """Say when a run will take a while (big data, slow model)."""
        meta = services.current_dataset(self.store, sid)
        if meta is None or _inputs.text(model) not in MODEL_SPECS:
            return ""
        try:
            k = int(folds or 0)
        except (TypeError, ValueError, OverflowError):
            k = 0
        return slow_run_warning(meta["rows"], model, k) or ""

    def train(
        self,
        set_progress: Any,
        n_clicks: int | None,
        sid: str,
        target: str | None,
        task: str | None,
        features: list[str] | None,
        model: str | None,
        param_values: list[Any],
        param_ids: list[dict[str, str]],
        test_size: Any,
        stratify: bool | None,
        seed: Any,
        folds: Any,
        time_column: Any = None,
    ) -> tuple[Any, ...]:
        """Train the chosen model on the session's data and add it to the runs;
        split by time on ``time_column`` when it names one, else at random.

        Runs as a background job; ``set_progress((percent, label))`` after each fit.
        """
        if not n_clicks:
            raise PreventUpdate

        def progress(done: int, total: int, message: str) -> None:
            set_progress((round(100 * done / total), message))

        try:
            config = _inputs.train_config(
                target,
                task,
                features,
                model,
                param_values,
                param_ids,
                test_size,
                stratify,
                seed,
                folds,
                time_column,
            )
            set_progress((0, "Preparing the data"))
            run_id, report = services.train(
                self.store,
                sid,
                config,
                progress=progress,
                memory_budget=self.settings.job_memory_mb * 1024 * 1024,
            )
        except (TrainingError, SessionExpired) as exc:
            log.info("training refused: %s", exc)
            return alert(str(exc), "danger"), *(no_update,) * 6
        except jobs.OVER_BUDGET as exc:
            log.warning("training ran out of its budget: %r", exc)
            message = jobs.Budget.of(self.settings).message(exc)
            return alert(message, "danger"), *(no_update,) * 6
        except (ValueError, TypeError, ArithmeticError) as exc:
            # Data the checks before training did not foresee (infinite classes, a
            # class only in the hold-out...): say so rather than fail the request.
            log.warning("training failed: %s", exc, exc_info=True)
            return alert(UNTRAINABLE, "danger"), *(no_update,) * 6
        rows = services.leaderboard(self.store, sid)
        done = alert(
            f"Run {report['number']}: {report['model_label']} trained in "
            f"{report['total_seconds']:.2f} s. {report['storage_note']}".strip(),
            "success",
        )
        return done, rows, run_id, "tab-results", *run_header(report, run_id), run_id

    def list_runs(self, sid: str) -> tuple[list[dict[str, Any]], Any]:
        """The runs already in this session (after a page reload); shows the newest."""
        try:
            rows = services.leaderboard(self.store, sid)
        except SessionExpired:
            return [], no_update
        return rows, (rows[0]["run"] if rows else no_update)

    def pick_run(self, clicked: dict[str, Any] | None) -> str:
        """Show the run whose row was clicked (not its tick box)."""
        clicked = _inputs.mapping(clicked)
        if clicked.get("colId") in (None, "ag-Grid-SelectionColumn"):
            raise PreventUpdate
        run_id = clicked.get("rowId")
        if not isinstance(run_id, str):
            raise PreventUpdate
        return run_id

    def compare(self, ticked: list[dict[str, Any]] | None, sid: str) -> Any:
        """Metrics side by side and overlaid curves of two or more ticked runs."""
        run_ids = _inputs.run_ids(ticked)
        if len(run_ids) < 2:
            return None
        try:
            reports = [self.store.run(sid, r) for r in run_ids]
            runs = [(f"Run {report['number']}", report) for report in reports]
        except SessionExpired as exc:
            return alert(str(exc), "warning")
        return comparison(
            services.comparison_rows(runs), figures.make_comparison_figures(runs)
        )

    def remove(
        self,
        n_clicks: int | None,
        ticked: list[dict[str, Any]] | None,
        shown: str | None,
        sid: str,
    ) -> tuple[Any, ...]:
        """Forget the ticked runs."""
        run_ids, shown = _inputs.run_ids(ticked), _inputs.run_id(shown)
        if not n_clicks or not run_ids:
            raise PreventUpdate
        try:
            services.remove_runs(self.store, sid, run_ids)
            rows = services.leaderboard(self.store, sid)
        except SessionExpired:
            raise PreventUpdate from None
        still = shown if shown not in run_ids else (rows[0]["run"] if rows else None)
        return rows, still, []

    def show_run(
        self, run_id: str | None, normalize: bool, sid: str, shown: Any = None
    ) -> tuple[Any, ...]:
        """Metrics and plots of the shown run; its summary and metrics table only
        when another run's are shown (a training's answer brings its own)."""
        run_id = _inputs.run_id(run_id)
        if not run_id:
            return None, empty_state("Train a model to see its metrics."), None, None
        try:
            report = self.store.run(sid, run_id)
        except SessionExpired as exc:
            return alert(str(exc), "warning"), no_update, no_update, no_update
        figs = figure_grid(figures.make_run_figures(report, normalize=bool(normalize)))
        if run_id == _inputs.run_id(shown):
            return no_update, no_update, figs, no_update
        return (*run_header(report, run_id), figs, run_id)


#: The model card's controls a training (and a search) reads, in order.
MODEL_CARD_STATES = (
    (ids.TARGET_COLUMN, "value"),
    (ids.TRAIN_TASK, "value"),
    (ids.TRAIN_FEATURES, "value"),
    (ids.MODEL_NAME, "value"),
    ({"type": ids.PARAM_INPUT, "name": ALL}, "value"),
    ({"type": ids.PARAM_INPUT, "name": ALL}, "id"),
    (ids.TRAIN_TEST_SIZE, "value"),
    (ids.TRAIN_STRATIFY, "value"),
    (ids.TRAIN_SEED, "value"),
    (ids.TRAIN_CV_FOLDS, "value"),
    (ids.TRAIN_TIME_COLUMN, "value"),
)
