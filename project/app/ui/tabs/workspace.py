"""The visitor's workspace as a whole: "Forget my data" and its confirmation;
starting again a job that was interrupted."""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, html
from dash.exceptions import PreventUpdate

from app.config import Settings
from app.server.shares import Shares
from app.server.store import SessionExpired, SessionStore
from app.services import workspace
from app.ui import ids
from app.ui.tabs import _inputs

log = logging.getLogger(__name__)

ASK = (
    "This deletes from this server, at once and for good, everything this browser's "
    "session holds: its datasets, runs, models and explanations, and it revokes "
    "its published links and API keys. Files you downloaded are not touched."
)

FAILED = (
    "Nothing was deleted: the storage of published runs did not answer. "
    "Try again in a moment."
)

TOGGLE = """
function(opened, cancelled) {
    var id = window.dash_clientside.callback_context.triggered_id;
    return id === "%s";
}
""" % (ids.FORGET_OPEN)


#: The retry button shows while the notice is open about an interrupted job.
RETRY_SHOWN = """
function(target, open) {
    return (target && open) ? {"display": "inline-block"} : {"display": "none"};
}
"""
#: Clicking it clicks the button that started the job, and closes the notice.
RETRY = """
function(clicks, target) {
    var none = window.dash_clientside.no_update;
    if (!clicks || !target) { return [none, none]; }
    var button = document.getElementById(target);
    if (button && !button.disabled) { button.click(); }
    return [null, false];
}
"""


def retry_button() -> dbc.Button:
    """Starts an interrupted job again (hidden until one is)."""
    return dbc.Button(
        "Start it again",
        id=ids.APP_RETRY,
        color="warning",
        size="sm",
        className="mt-2",
        style={"display": "none"},
        n_clicks=0,
    )


def forget_button() -> dbc.Button:
    """The navbar's button that asks to delete the visitor's data."""
    return dbc.Button(
        "Forget my data",
        id=ids.FORGET_OPEN,
        color="light",
        outline=True,
        size="sm",
        className="ms-auto",
        n_clicks=0,
    )


def forget_dialog() -> dbc.Modal:
    """The confirmation, then what was deleted and the way back to an empty page."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Forget my data"), close_button=False),
            dbc.ModalBody(html.P(ASK), id=ids.FORGET_BODY),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel", id=ids.FORGET_CANCEL, color="secondary", n_clicks=0
                    ),
                    dbc.Button(
                        "Delete everything",
                        id=ids.FORGET_CONFIRM,
                        color="danger",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        id=ids.FORGET_DIALOG,
        is_open=False,
        backdrop="static",
        keyboard=False,
    )


def forgotten(sentence: str) -> list[Any]:
    """The dialog's body once the data is gone: the sentence, and a link that
    opens the page again (reloaded, so nothing of the old page stays on it)."""
    return [
        html.P(sentence, role="status"),
        html.A("Start again", href="/", className="btn btn-primary"),
    ]


class WorkspaceCallbacks:
    """Forgetting the visitor's data; starting an interrupted job again."""

    def __init__(
        self, store: SessionStore, settings: Settings, shares: Shares | None = None
    ) -> None:
        self.store = store
        self.shares = shares or Shares(settings.shares_location)

    def register(self, app: Any) -> None:
        """Attach the dialog's callbacks to ``app``."""
        app.clientside_callback(
            TOGGLE,
            Output(ids.FORGET_DIALOG, "is_open"),
            Input(ids.FORGET_OPEN, "n_clicks"),
            Input(ids.FORGET_CANCEL, "n_clicks"),
            prevent_initial_call=True,
        )
        app.clientside_callback(
            RETRY_SHOWN,
            Output(ids.APP_RETRY, "style"),
            Input(ids.APP_RETRY_TARGET, "data"),
            Input(ids.APP_NOTICE, "is_open"),
        )
        app.clientside_callback(
            RETRY,
            Output(ids.APP_RETRY_TARGET, "data"),
            Output(ids.APP_NOTICE, "is_open"),
            Input(ids.APP_RETRY, "n_clicks"),
            State(ids.APP_RETRY_TARGET, "data"),
            prevent_initial_call=True,
        )
        app.callback(
            Output(ids.FORGET_BODY, "children"),
            Output(ids.FORGET_CONFIRM, "disabled"),
            Output(ids.FORGET_CANCEL, "disabled"),
            Input(ids.FORGET_CONFIRM, "n_clicks"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
        )(self.forget)

    def forget(self, clicks: Any, sid: Any) -> tuple[Any, bool, bool]:
        """Delete the session's data; say what went."""
        if not clicks:
            raise PreventUpdate
        try:
            sentence = workspace.forget(
                self.store, self.shares, _inputs.text(sid) or ""
            )
        except SessionExpired as exc:
            log.warning("forget my data: %s", exc)
            return [html.P(str(exc), role="alert")], True, False
        except OSError as exc:
            log.error("forget my data: the published runs' storage failed: %r", exc)
            return [html.P(FAILED, role="alert")], False, False
        return forgotten(sentence), True, True
