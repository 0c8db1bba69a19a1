"""The Predict tab: layout and callbacks (live what-if, batch predictions)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import services
from app.config import Settings
from app.ml import DataLoadError, PredictionError
from app.server import jobs
from app.server.store import SessionExpired, SessionStore
from app.ui import figures, ids
from app.ui.components import (
    GRAPH_CONFIG,
    alert,
    empty_state,
    field,
    graph,
    message_with_notes,
    progress_box,
    running_message,
    upload_zone,
)
from app.ui.tabs import _inputs
from app.ui.tabs._background import with_progress

log = logging.getLogger(__name__)


# Layout


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
                            html.H2("Prediction", className="h6"),
                            html.Div(id=ids.WHATIF_PREDICTION, role="status"),
                            html.H2(
                                "Why: each feature's contribution",
                                className="h6 mt-3",
                            ),
                            graph(
                                ids.WHATIF_CONTRIBUTIONS,
                                "Change an input to see what moves the prediction",
                            ),
                        ],
                        lg=5,
                    ),
                ],
                className="g-3",
            ),
            html.H2("Predict a file of new rows", className="h6 mt-4"),
            upload_zone(
                ids.PREDICT_UPLOAD,
                "Upload rows to predict",
                "Same columns as the training data · you get a CSV back",
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
    """One input per feature: numbers (any value; the training range as help),
    categories as dropdowns, yes/no as a switch, dates as ISO text; each starts
    at the median or the most frequent value, with a note under it when its
    value is unusual."""
    cols = []
    for item in spec:
        control_id = ids.input_id(item["name"])
        if item["kind"] == "number":
            # No min/max/step: the browser would send nothing for a value past
            # them, and the prediction would silently use another one.
            control: Any = dbc.Input(
                id=control_id, type="number", value=item["default"], debounce=False
            )
            help_text = f"{item['min']:.4g} to {item['max']:.4g} in training"
        elif item["kind"] == "date":
            control = dbc.Input(
                id=control_id, type="text", value=item["default"], debounce=True
            )
            help_text = f"a date, {item['min']} to {item['max']} in training"
        elif item["kind"] == "bool":
            control = dbc.Switch(
                id=control_id, value=bool(item["default"]), label="yes / no"
            )
            help_text = ""
        else:
            control = dcc.Dropdown(
                id=control_id,
                options=[{"label": o, "value": o} for o in item["options"]],
                value=item["default"],
                clearable=False,
            )
            help_text = f"{len(item['options'])} most frequent values"
        note = html.Div(
            id=ids.note_id(item["name"]), className="small text-warning whatif-note"
        )
        cols.append(
            dbc.Col(
                [field(item["name"], control, control_id, help_text), note],
                sm=6,
                xl=4,
            )
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


def predict_summary(report: dict[str, Any], run_id: str) -> html.Div:
    """Which run the Predict tab predicts with (by its ``number``)."""
    number = report.get("number", run_id)
    return html.Div(
        f"Predicting with run {number} · {report['model_label']} · target "
        f"{report['config']['target']} · change any input and the prediction follows",
        className="fw-semibold",
    )


# Callbacks


class PredictCallbacks:
    """What-if inputs of the shown run, and predictions for uploaded rows."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def register(self, app: Any) -> None:
        """Attach the prediction callbacks to ``app``."""
        # The what-if prediction, the notes beside the inputs and the
        # contributions all follow the inputs' values, for the shown run.
        values_of_inputs = (
            Input({"type": ids.PREDICT_INPUT, "name": ALL}, "value"),
            State({"type": ids.PREDICT_INPUT, "name": ALL}, "id"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
        )
        app.callback(
            Output(ids.PREDICT_SUMMARY, "children"),
            Output(ids.PREDICT_INPUTS, "children"),
            Input(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.inputs)
        app.callback(
            Output(ids.WHATIF_PREDICTION, "children"),
            *values_of_inputs,
            prevent_initial_call=True,
        )(self.whatif)
        app.callback(
            Output({"type": ids.PREDICT_NOTE, "name": ALL}, "children"),
            *values_of_inputs,
            prevent_initial_call=True,
        )(self.notes)
        app.callback(
            Output(ids.WHATIF_CONTRIBUTIONS, "figure"),
            *values_of_inputs,
            prevent_initial_call=True,
        )(self.contributions)
        app.callback(
            Output(ids.PREDICT_JOB, "data"),
            Output(ids.PREDICT_STATUS, "children"),
            Output(ids.PREDICT_UPLOAD, "contents"),
            Input(ids.PREDICT_UPLOAD, "contents"),
            State(ids.PREDICT_UPLOAD, "filename"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.batch)
        app.callback(
            Output(ids.PREDICT_DOWNLOAD, "data"),
            Output(ids.PREDICT_STATUS, "children", allow_duplicate=True),
            Input(ids.PREDICT_JOB, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            **with_progress(ids.PREDICT_PROGRESS, ids.PREDICT_PROGRESS_BOX),
        )(self.batch_in_background)

    def inputs(self, run_id: str | None, sid: str) -> tuple[Any, Any]:
        """One input per feature of the shown run, at its default value."""
        run_id = _inputs.run_id(run_id)
        if not run_id:
            raise PreventUpdate
        try:
            report = self.store.run(sid, run_id)
        except SessionExpired as exc:
            return alert(str(exc), "warning"), None
        return predict_summary(report, str(run_id)), whatif_inputs(report["inputs"])

    def whatif(
        self, values: list[Any], input_ids: list[dict], run_id: str | None, sid: str
    ) -> Any:
        """The shown run's prediction for the current inputs."""
        run_id = _inputs.run_id(run_id)
        chosen = _inputs.named_values(input_ids, values)
        if not run_id or not chosen:
            raise PreventUpdate
        try:
            report, result = services.whatif(self.store, sid, run_id, chosen)
        except SessionExpired as exc:
            return alert(str(exc), "warning")
        except (ValueError, TypeError) as exc:
            log.info("what-if refused: %s", exc)
            return alert("These values cannot be predicted.", "warning")
        proba = result.get("probabilities")
        figure = figures.make_probability_figure(proba) if proba else None
        return whatif_result(report["task"], result, figure)

    def notes(
        self, values: list[Any], input_ids: list[dict], run_id: str | None, sid: str
    ) -> list[str]:
        """Beside each what-if input, what is unusual about its value (outside
        the training range, not a number...), or nothing."""
        run_id = _inputs.run_id(run_id)
        chosen = _inputs.named_values(input_ids, values)
        if not run_id or not chosen:
            raise PreventUpdate
        names = [i.get("name") if isinstance(i, dict) else None for i in input_ids]
        try:
            notes = services.whatif_notes(self.store, sid, run_id, chosen)
        except (SessionExpired, ValueError, TypeError):
            return [""] * len(names)
        return [notes.get(name, "") for name in names]

    def contributions(
        self, values: list[Any], input_ids: list[dict], run_id: str | None, sid: str
    ) -> Any:
        """How much each feature moves the what-if prediction, and in which way."""
        run_id = _inputs.run_id(run_id)
        chosen = _inputs.named_values(input_ids, values)
        if not run_id or not chosen:
            raise PreventUpdate
        try:
            result = services.whatif_contributions(self.store, sid, run_id, chosen)
        except SessionExpired as exc:
            return figures.empty_figure(str(exc))
        except (ValueError, TypeError) as exc:
            log.info("what-if contributions refused: %s", exc)
            return figures.empty_figure("These values cannot be explained.")
        return figures.make_contributions_figure(result)

    def batch(
        self, contents: str | None, filename: str | None, run_id: str | None, sid: str
    ) -> tuple[Any, Any, Any]:
        """Take an uploaded file of rows in and hand it to a background job that
        predicts them with the shown run."""
        if not contents:
            raise PreventUpdate
        run_id = _inputs.run_id(run_id)
        if not run_id:
            return no_update, alert("Train a model first.", "warning"), None
        upload = {"filename": filename, "contents": contents}
        try:
            self.store.run(sid, run_id)
            job = services.stage_upload(
                self.store, self.settings, sid, upload, slot="predict"
            )
        except (DataLoadError, SessionExpired) as exc:
            log.info("batch prediction refused: %s", exc)
            return no_update, alert(str(exc), "danger"), None
        return dict(job, run=run_id), running_message("Reading the file…"), None

    def batch_in_background(
        self, set_progress: Any, job: dict[str, Any] | None, sid: str
    ) -> tuple[Any, Any]:
        """Predictions for every row of the staged file, as a CSV download."""
        job = _inputs.mapping(job)
        run_id = _inputs.run_id(job.get("run"))
        if not job or not run_id:
            raise PreventUpdate
        set_progress((10, job.get("label", "Reading")))
        try:
            data, rows, notes = services.run_prediction_job(
                self.store, self.settings, sid, job
            )
            number = services.run_number(self.store, sid, run_id)
        except (DataLoadError, PredictionError, SessionExpired) as exc:
            log.info("batch prediction refused: %s", exc)
            return no_update, alert(str(exc), "danger")
        except jobs.OVER_BUDGET as exc:
            log.warning("batch prediction ran out of its budget: %r", exc)
            message = jobs.Budget.of(self.settings).message(exc)
            return no_update, alert(message, "danger")
        name = f"predictions-run-{number}.csv"
        text = f"Predicted {rows:,} rows with run {number}; downloaded {name}."
        status = html_list(text, notes)
        return dcc.send_bytes(data, name), status


def html_list(text: str, notes: list[str]) -> Any:
    """A success message followed by notes."""
    return message_with_notes(text, notes)
