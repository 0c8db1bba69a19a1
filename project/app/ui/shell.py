"""The page shell: stores, the navbar, the three step cards and the tabs."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.config import Settings
from app.server.store import new_session_id
from app.ui import ids
from app.ui.tabs.data import data_card, data_tab, target_card
from app.ui.tabs.explain import explain_tab
from app.ui.tabs.predict import predict_tab
from app.ui.tabs.train import model_card, results_tab
from app.ui.tabs.tune import tune_tab
from app.ui.tabs.workspace import forget_button, forget_dialog, retry_button


def serve_layout(settings: Settings, session_id: str | None = None) -> html.Div:
    """The whole page; called per visit so that a browser new to the app gets a
    fresh session id (one it has already is kept in its local storage)."""
    return html.Div(
        [
            dcc.Location(id=ids.APP_URL, refresh=False),
            # The browser's local storage: every tab of this browser, and a later
            # visit, opens the same workspace (until "Forget my data").
            dcc.Store(
                id=ids.APP_SESSION,
                data=session_id or new_session_id(),
                storage_type="local",
            ),
            dcc.Store(id=ids.APP_URL_STATE),
            dcc.Store(id=ids.APP_ADDRESS),
            dcc.Store(id=ids.DATA_VERSION),
            dcc.Store(id=ids.DATA_UPLOAD_BUFFER),
            dcc.Store(id=ids.DATA_UPLOAD_LIMIT, data=settings.max_upload_bytes),
            dcc.Store(id=ids.DATA_JOB),
            dcc.Store(id=ids.PREDICT_JOB),
            dcc.Store(id=ids.EVAL_RUN),
            dcc.Store(id=ids.EVAL_SHOWN),
            dcc.Store(id=ids.TUNE_LIVE),
            dcc.Store(id=ids.EXPLAIN_REQUEST),
            dcc.Download(id=ids.EVAL_DOWNLOAD),
            dcc.Download(id=ids.PREDICT_DOWNLOAD),
            navbar(),
            forget_dialog(),
            # The main landmark: everything a visitor works with, below the banner.
            html.Main(
                [
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
            ),
        ]
    )


def navbar() -> html.Header:
    """The top bar (the page's banner) with the product name as its one h1."""
    return html.Header(
        dbc.Container(
            [
                html.H1("Dashboard", className="navbar-brand mb-0 h1 text-white"),
                html.Span(
                    "Explore data, train and compare scikit-learn models",
                    className="tagline d-none d-md-inline",
                ),
                forget_button(),
            ],
            fluid=True,
            className="d-flex align-items-baseline gap-3",
        ),
        className="navbar app-navbar",
    )


def notice() -> dbc.Container:
    """Where a background job that was stopped or refused says why (hidden), with
    a button that starts an interrupted job again (shown for one)."""
    return dbc.Container(
        [
            dbc.Alert(
                id=ids.APP_NOTICE,
                is_open=False,
                dismissable=True,
                color="warning",
                className="mt-3 mb-0",
            ),
            dcc.Store(id=ids.APP_RETRY_TARGET),
            retry_button(),
        ],
        fluid=True,
    )


def main_tabs() -> dbc.Tabs:
    """The right-hand side: data exploration and results."""
    return dbc.Tabs(
        [
            dbc.Tab(data_tab(), label="Data", tab_id="tab-data"),
            dbc.Tab(results_tab(), label="Results", tab_id="tab-results"),
            dbc.Tab(tune_tab(), label="Tune", tab_id="tab-tune"),
            dbc.Tab(explain_tab(), label="Explain", tab_id="tab-explain"),
            dbc.Tab(predict_tab(), label="Predict", tab_id="tab-predict"),
        ],
        id=ids.MAIN_TABS,
        active_tab="tab-data",
    )
