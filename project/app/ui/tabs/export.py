"""The download bar: the shown run's model, code, report and data; and its
publishing behind a lasting link (with the session's links, each revocable)."""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import services
from app.config import Settings
from app.server.shares import Shares
from app.server.store import QuotaExceeded, SessionExpired, SessionStore
from app.services import sharing
from app.ui import ids
from app.ui.tabs import _inputs
from app.ui.tabs._background import PLAIN
from app.ui.tabs._inputs import triggered_id

log = logging.getLogger(__name__)


# Layout


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
            button(
                ids.SHARE_BUTTON,
                "Share…",
                "Publish the run behind a link anyone holding it can open "
                "(read-only), with a prediction API",
            ),
            dbc.Checkbox(
                id=ids.SHARE_PRIVATE,
                label="private API (needs a key)",
                value=False,
                className="small",
            ),
            button(
                ids.SHARE_NEW_KEY,
                "New API key",
                "A key for the API of your private links (shown once)",
            ),
            html.Span(id=ids.EVAL_DOWNLOAD_STATUS, className="small text-danger ms-2"),
            html.Div(id=ids.SHARE_LIST, className="w-100 small"),
        ],
        className="d-flex flex-wrap gap-2 align-items-center mt-2",
    )


def _revoke(kind: str, key: str) -> dbc.Button:
    return dbc.Button(
        "Revoke",
        id={"type": kind, "key": key},
        color="link",
        size="sm",
        className="p-0 align-baseline",
        n_clicks=0,
    )


def share_list(
    links: list[dict[str, Any]],
    note: str = "",
    keys: list[dict[str, Any]] | None = None,
    new_key: str | None = None,
) -> list[Any]:
    """The session's published runs (each link, its API, a revoke button) and
    API keys (each revocable); a ``new_key`` is shown this once."""
    items: list[Any] = []
    for link in links:
        page, api = f"/r/{link['token']}", f"/api/v1/runs/{link['token']}"
        items.append(
            html.Li(
                [
                    f"Run {link['number']}: ",
                    html.A(page, href=page, target="_blank", rel="noreferrer"),
                    " · API ",
                    html.Code(api),
                    " (needs a key) " if link.get("private") else " ",
                    _revoke(ids.SHARE_REVOKE, link["token"][:8]),
                ]
            )
        )
    shown: list[Any] = [html.Div(note)] if note else []
    if items:
        shown.append(
            html.Div(
                "Published (anyone holding a link sees the run, read-only, and "
                "can predict with it):"
            )
        )
        shown.append(html.Ul(items, className="mb-0"))
    if new_key:
        shown.append(
            html.Div(
                [
                    "Your new API key, shown this once (send it as ",
                    html.Code("Authorization: Bearer <key>"),
                    "): ",
                    html.Code(new_key, id=ids.SHARE_KEY_SHOWN),
                ]
            )
        )
    if keys:
        shown.append(html.Div("API keys:"))
        shown.append(
            html.Ul(
                [
                    html.Li(
                        [
                            html.Code(k["hint"]),
                            " ",
                            _revoke(ids.SHARE_KEY_REVOKE, k["id"][:12]),
                        ]
                    )
                    for k in keys
                ],
                className="mb-0",
            )
        )
    return shown


# Callbacks


class ExportCallbacks:
    """Take-away files of the shown run (or, when none is shown, the latest)."""

    def __init__(
        self, store: SessionStore, settings: Settings, shares: Shares | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.shares = shares or Shares(settings.shares_location)

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
        app.callback(  # a job: it explains the run and writes its files
            Output(ids.SHARE_LIST, "children"),
            Input(ids.SHARE_BUTTON, "n_clicks"),
            State(ids.SHARE_PRIVATE, "value"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            running=[(Output(ids.SHARE_BUTTON, "disabled"), True, False)],
            **PLAIN,
        )(self.publish)
        app.callback(
            Output(ids.SHARE_LIST, "children", allow_duplicate=True),
            Input(ids.SHARE_NEW_KEY, "n_clicks"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.new_key)
        app.callback(
            Output(ids.SHARE_LIST, "children", allow_duplicate=True),
            Input({"type": ids.SHARE_KEY_REVOKE, "key": ALL}, "n_clicks"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.revoke_key)
        app.callback(
            Output(ids.SHARE_LIST, "children", allow_duplicate=True),
            Input({"type": ids.SHARE_REVOKE, "key": ALL}, "n_clicks"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.revoke)

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
            run_id = _inputs.run_id(run_id) or services.latest_run(self.store, sid)
            if run_id is None:
                return no_update, "Train a model first."
            run = f"run-{services.run_number(self.store, sid, run_id)}"
            if kind == ids.DOWNLOAD_MODEL:
                data = services.model_file(self.store, sid, run_id)
                return dcc.send_bytes(data, f"model-{run}.skops"), ""
            if kind == ids.DOWNLOAD_CODE:
                code = services.code_file(self.store, sid, run_id)
                return dcc.send_string(code, f"reproduce-{run}.py"), ""
            if kind == ids.DOWNLOAD_REPORT:
                page = services.report_file(self.store, sid, run_id)
                return dcc.send_string(page, f"report-{run}.html"), ""
            if kind == ids.EVAL_DOWNLOAD_DATA:
                data = services.data_file(self.store, sid, run_id)
                report = self.store.run(sid, run_id)
                source = report["data"]["source"]
                name = source.get("filename") or f"data-{run}.parquet"
                return dcc.send_bytes(data, name), ""
        except SessionExpired as exc:
            return no_update, str(exc)
        raise PreventUpdate

    def _panel(self, sid: str, note: str = "", new_key: str | None = None) -> list:
        links = sharing.links(self.store, self.shares, sid)
        return share_list(links, note, self.store.keys(sid), new_key)

    def publish(self, n_clicks: Any, private: Any, run_id: Any, sid: str) -> list[Any]:
        """Publish the shown run (or the latest) and list the session's links."""
        if not n_clicks:
            raise PreventUpdate
        try:
            run_id = _inputs.run_id(run_id) or services.latest_run(self.store, sid)
            if run_id is None:
                return share_list([], "Train a model first.")
            _, notice = sharing.publish(
                self.store, self.shares, sid, run_id, private=private is True
            )
            return self._panel(sid, notice)
        except QuotaExceeded as exc:  # the links are kept; say why not one more
            return self._panel(sid, str(exc))
        except SessionExpired as exc:
            return share_list([], str(exc))

    def new_key(self, n_clicks: Any, sid: str) -> list[Any]:
        """Make an API key for the session's private links; show it once."""
        if not n_clicks:
            raise PreventUpdate
        try:
            key = sharing.create_key(self.store, self.shares, sid)
            return self._panel(sid, new_key=key)
        except QuotaExceeded as exc:
            return self._panel(sid, str(exc))
        except SessionExpired as exc:
            return share_list([], str(exc))

    def revoke_key(self, clicks: list[Any], sid: str) -> list[Any]:
        """Revoke the API key whose button was clicked."""
        key = triggered_id()
        if not isinstance(key, dict) or not any(clicks or ()):
            raise PreventUpdate
        try:
            for kept in self.store.keys(sid):
                if kept["id"][:12] == str(key.get("key")):
                    sharing.revoke_key(self.store, self.shares, sid, kept["id"])
                    return self._panel(sid, f"API key {kept['hint']} is revoked.")
            return self._panel(sid, "That key was already revoked.")
        except SessionExpired as exc:
            return share_list([], str(exc))

    def revoke(self, clicks: list[Any], sid: str) -> list[Any]:
        """Revoke the link whose button was clicked; list the links left."""
        key = triggered_id()
        if not isinstance(key, dict) or not any(clicks or ()):
            raise PreventUpdate
        try:
            for link in self.store.shares(sid):
                if link["token"][:8] == str(key.get("key")):
                    sharing.revoke(self.store, self.shares, sid, link["token"])
                    note = f"Run {link['number']}'s link is revoked."
                    break
            else:
                note = "That link was already revoked."
            return self._panel(sid, note)
        except SessionExpired as exc:
            return share_list([], str(exc))
