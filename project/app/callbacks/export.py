"""Callbacks of the downloads: the shown run's model, code, report and data."""

from __future__ import annotations

import logging
from typing import Any

from dash import Input, Output, State, dcc, no_update
from dash.exceptions import PreventUpdate

from .. import ids, session
from ..config import Settings
from ..store import SessionExpired, SessionStore
from . import _inputs
from .train import triggered_id

log = logging.getLogger(__name__)


class ExportCallbacks:
    """Take-away files of the shown run (or, when none is shown, the latest)."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def register(self, app: Any) -> None:
        """Attach the download callback to ``app``."""
        app.callback(
            Output(ids.EVAL_DOWNLOAD, "data"),
            Output(ids.EVAL_DOWNLOAD_STATUS, "children"),
            Input(ids.DOWNLOAD_MODEL, "n_clicks"),
            Input(ids.DOWNLOAD_CODE, "n_clicks"),
            Input(ids.DOWNLOAD_REPORT, "n_clicks"),
            Input(ids.EVAL_DOWNLOAD_DATA, "n_clicks"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.download)

    def download(self, *args: Any) -> tuple[Any, str]:
        """Send the file of the button that was clicked."""
        *_, run_id, sid = args
        kind = triggered_id()
        if kind is None:
            raise PreventUpdate
        return self.file(kind, run_id, sid)

    def file(self, kind: str, run_id: str | None, sid: str) -> tuple[Any, str]:
        """The download for a button id and run."""
        try:
            run_id = _inputs.run_id(run_id) or session.latest_run(self.store, sid)
            if run_id is None:
                return no_update, "Train a model first."
            run = f"run-{session.run_number(self.store, sid, run_id)}"
            if kind == ids.DOWNLOAD_MODEL:
                data = session.model_file(self.store, sid, run_id)
                return dcc.send_bytes(data, f"model-{run}.skops"), ""
            if kind == ids.DOWNLOAD_CODE:
                code = session.code_file(self.store, sid, run_id)
                return dcc.send_string(code, f"reproduce-{run}.py"), ""
            if kind == ids.DOWNLOAD_REPORT:
                page = session.report_file(self.store, sid, run_id)
                return dcc.send_string(page, f"report-{run}.html"), ""
            if kind == ids.EVAL_DOWNLOAD_DATA:
                data = session.data_file(self.store, sid, run_id)
                report = self.store.run(sid, run_id)
                source = report["data"]["source"]
                name = source.get("filename") or f"data-{run}.parquet"
                return dcc.send_bytes(data, name), ""
        except SessionExpired as exc:
            return no_update, str(exc)
        raise PreventUpdate
