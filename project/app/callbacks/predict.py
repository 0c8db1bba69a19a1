"""Callbacks of the Predict tab: live what-if and batch predictions."""

from __future__ import annotations

import logging
from typing import Any

from dash import ALL, Input, Output, State, dcc, no_update
from dash.exceptions import PreventUpdate

from .. import figures, ids, jobs, layout, session
from ..config import Settings
from ..functions import DataLoadError, PredictionError
from ..store import SessionExpired, SessionStore
from . import _inputs
from ._background import with_progress

log = logging.getLogger(__name__)


class PredictCallbacks:
    """What-if inputs of the shown run, and predictions for uploaded rows."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def register(self, app: Any) -> None:
        """Attach the prediction callbacks to ``app``."""
        app.callback(
            Output(ids.PREDICT_SUMMARY, "children"),
            Output(ids.PREDICT_INPUTS, "children"),
            Input(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.inputs)
        app.callback(
            Output(ids.WHATIF_PREDICTION, "children"),
            Input({"type": ids.PREDICT_INPUT, "name": ALL}, "value"),
            State({"type": ids.PREDICT_INPUT, "name": ALL}, "id"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.whatif)
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
            return layout.alert(str(exc), "warning"), None
        return layout.predict_summary(report, str(run_id)), layout.whatif_inputs(
            report["inputs"]
        )

    def whatif(
        self, values: list[Any], input_ids: list[dict], run_id: str | None, sid: str
    ) -> Any:
        """The shown run's prediction for the current inputs."""
        run_id = _inputs.run_id(run_id)
        chosen = _inputs.named_values(input_ids, values)
        if not run_id or not chosen:
            raise PreventUpdate
        try:
            report, result = session.whatif(self.store, sid, run_id, chosen)
        except SessionExpired as exc:
            return layout.alert(str(exc), "warning")
        except (ValueError, TypeError) as exc:
            log.info("what-if refused: %s", exc)
            return layout.alert("These values cannot be predicted.", "warning")
        proba = result.get("probabilities")
        figure = figures.make_probability_figure(proba) if proba else None
        return layout.whatif_result(report["task"], result, figure)

    def batch(
        self, contents: str | None, filename: str | None, run_id: str | None, sid: str
    ) -> tuple[Any, Any, Any]:
        """Take an uploaded file of rows in and hand it to a background job that
        predicts them with the shown run."""
        if not contents:
            raise PreventUpdate
        run_id = _inputs.run_id(run_id)
        if not run_id:
            return no_update, layout.alert("Train a model first.", "warning"), None
        upload = {"filename": filename, "contents": contents}
        try:
            self.store.run(sid, run_id)
            job = session.stage_upload(
                self.store, self.settings, sid, upload, slot="predict"
            )
        except (DataLoadError, SessionExpired) as exc:
            log.info("batch prediction refused: %s", exc)
            return no_update, layout.alert(str(exc), "danger"), None
        return dict(job, run=run_id), layout.running_message("Reading the file…"), None

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
            data, rows, notes = session.run_prediction_job(
                self.store, self.settings, sid, job
            )
            number = session.run_number(self.store, sid, run_id)
        except (DataLoadError, PredictionError, SessionExpired) as exc:
            log.info("batch prediction refused: %s", exc)
            return no_update, layout.alert(str(exc), "danger")
        except jobs.OVER_BUDGET as exc:
            log.warning("batch prediction ran out of its budget: %r", exc)
            message = jobs.Budget.of(self.settings).message(exc)
            return no_update, layout.alert(message, "danger")
        name = f"predictions-run-{number}.csv"
        text = f"Predicted {rows:,} rows with run {number}; downloaded {name}."
        status = html_list(text, notes)
        return dcc.send_bytes(data, name), status


def html_list(text: str, notes: list[str]) -> Any:
    """A success message followed by notes."""
    return layout.message_with_notes(text, notes)
