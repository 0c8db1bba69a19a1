"""The Explain tab: layout and callbacks (importances, dependence, boundaries)."""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app import services
from app.config import Settings
from app.ml import CLASSIFICATION
from app.server import jobs
from app.server.store import SessionExpired, SessionStore
from app.ui import figures, ids
from app.ui.components import alert, empty_state, field, graph, progress_box
from app.ui.tabs import _inputs
from app.ui.tabs._background import PLAIN, with_progress

log = logging.getLogger(__name__)


# Layout


def explain_tab() -> html.Div:
    """Importances, partial dependence and ICE, decision boundary and calibration."""

    def dropdown(control_id: str, **kw: Any) -> dcc.Dropdown:
        # An empty dropdown shows its placeholder (else it would have no name).
        kw.setdefault("placeholder", "Train a model first")
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
                        graph(ids.EXPLAIN_PERMUTATION, "Permutation importance"), lg=6
                    ),
                    dbc.Col(graph(ids.EXPLAIN_NATIVE, "Model's own importances"), lg=6),
                ],
                className="g-3",
            ),
            html.H2("Partial dependence and ICE", className="h6 mt-3"),
            dbc.Row(
                [
                    dbc.Col(
                        field(
                            "Feature",
                            dropdown(ids.EXPLAIN_FEATURE, clearable=False),
                            ids.EXPLAIN_FEATURE,
                        ),
                        md=4,
                    ),
                    dbc.Col(
                        field(
                            "Second feature (two-way)",
                            dropdown(ids.EXPLAIN_FEATURE_2, placeholder="none"),
                            ids.EXPLAIN_FEATURE_2,
                        ),
                        md=4,
                    ),
                    dbc.Col(
                        id=ids.EXPLAIN_OUTPUT_BOX,
                        md=4,
                        children=field(
                            "Class",
                            dropdown(
                                ids.EXPLAIN_OUTPUT,
                                clearable=False,
                                placeholder="no classes",
                            ),
                            ids.EXPLAIN_OUTPUT,
                        ),
                    ),
                ],
                className="g-2",
            ),
            dbc.Row(
                [
                    dbc.Col(graph(ids.EXPLAIN_PDP, "Choose a feature"), lg=6),
                    dbc.Col(graph(ids.EXPLAIN_PDP_2, "Choose a second feature"), lg=6),
                ],
                className="g-3",
            ),
            html.Div(
                [
                    html.H2("Decision boundary and calibration", className="h6 mt-3"),
                    dbc.Row(
                        [
                            dbc.Col(
                                field(
                                    "x",
                                    dropdown(ids.EXPLAIN_BOUNDARY_X, clearable=False),
                                    ids.EXPLAIN_BOUNDARY_X,
                                ),
                                md=6,
                            ),
                            dbc.Col(
                                field(
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
                                graph(
                                    ids.EXPLAIN_BOUNDARY, "Choose two numeric features"
                                ),
                                lg=6,
                            ),
                            dbc.Col(
                                graph(ids.EXPLAIN_CALIBRATION, "Calibration"), lg=6
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


def explain_summary(report: dict[str, Any], run_id: str) -> html.Div:
    """Which run the Explain tab is about (by its ``number``)."""
    number = report.get("number", run_id)
    return html.Div(
        f"Explaining run {number} · {report['model_label']} on "
        f"{report.get('dataset', '')} · target {report['config']['target']}",
        className="fw-semibold",
    )


# Callbacks


EXPLAIN_TAB = "tab-explain"

# Runs in the browser: ask for the shown run's explanations only while the Explain
# tab is open, and once per run (no background job for a tab change elsewhere).
#: What the Explain tab says while its first figures are computed (not "Train a
#: model": a run is there, and the progress bar is explaining it).
EXPLAINING = "Explaining the shown run: importances first, then the other figures…"
EXPLAIN_GATE = """
function(run, tab, asked) {
    var no = window.dash_clientside.no_update;
    if (tab !== "%s" || !run || run === asked) {
        return [no, no];
    }
    return [run, "%s"];
}
""" % (
    EXPLAIN_TAB,
    EXPLAINING,
)


class ExplainCallbacks:
    """Explanations of the shown run, computed when the Explain tab is open."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def register(self, app: Any) -> None:
        """Attach the explanation callbacks to ``app``."""
        app.clientside_callback(
            EXPLAIN_GATE,
            Output(ids.EXPLAIN_REQUEST, "data"),
            Output(ids.EXPLAIN_SUMMARY, "children", allow_duplicate=True),
            Input(ids.EVAL_RUN, "data"),
            Input(ids.MAIN_TABS, "active_tab"),
            State(ids.EXPLAIN_REQUEST, "data"),
            prevent_initial_call=True,
        )
        app.clientside_callback(  # a regression run has no class to choose
            "function(options) { return (options && options.length) ? {} : "
            '{"display": "none"}; }',
            Output(ids.EXPLAIN_OUTPUT_BOX, "style"),
            Input(ids.EXPLAIN_OUTPUT, "options"),
        )
        app.callback(
            Output(ids.EXPLAIN_SUMMARY, "children"),
            Output(ids.EXPLAIN_PERMUTATION, "figure"),
            Output(ids.EXPLAIN_NATIVE, "figure"),
            Output(ids.EXPLAIN_FEATURE, "options"),
            Output(ids.EXPLAIN_FEATURE, "value"),
            Output(ids.EXPLAIN_FEATURE_2, "options"),
            Output(ids.EXPLAIN_OUTPUT, "options"),
            Output(ids.EXPLAIN_OUTPUT, "value"),
            Output(ids.EXPLAIN_BOUNDARY_X, "options"),
            Output(ids.EXPLAIN_BOUNDARY_X, "value"),
            Output(ids.EXPLAIN_BOUNDARY_Y, "options"),
            Output(ids.EXPLAIN_BOUNDARY_Y, "value"),
            Output(ids.EXPLAIN_CALIBRATION, "figure"),
            Output(ids.EXPLAIN_CLASSIFICATION, "style"),
            Input(ids.EXPLAIN_REQUEST, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            **with_progress(ids.EXPLAIN_PROGRESS, ids.EXPLAIN_PROGRESS_BOX),
        )(self.overview)
        app.callback(
            Output(ids.EXPLAIN_PDP, "figure"),
            Input(ids.EXPLAIN_FEATURE, "value"),
            Input(ids.EXPLAIN_OUTPUT, "value"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            **PLAIN,
        )(self.pdp)
        app.callback(
            Output(ids.EXPLAIN_PDP_2, "figure"),
            Input(ids.EXPLAIN_FEATURE, "value"),
            Input(ids.EXPLAIN_FEATURE_2, "value"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            **PLAIN,
        )(self.pdp2)
        app.callback(
            Output(ids.EXPLAIN_BOUNDARY, "figure"),
            Input(ids.EXPLAIN_BOUNDARY_X, "value"),
            Input(ids.EXPLAIN_BOUNDARY_Y, "value"),
            State(ids.EVAL_RUN, "data"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            **PLAIN,
        )(self.boundary)

    def _message(self, exc: BaseException) -> str:
        """What an explanation that could not be made says instead."""
        if isinstance(exc, SessionExpired):
            return str(exc)
        if isinstance(exc, jobs.OVER_BUDGET):
            return jobs.Budget.of(self.settings).message(exc)
        return "This cannot be computed for this run and feature."

    def overview(self, set_progress: Any, run_id: str | None, sid: str) -> tuple:
        """Importances and the choices of features for the shown run.

        Runs as a background job, reporting each step through ``set_progress``.
        """
        run_id = _inputs.run_id(run_id)
        if not run_id:
            raise PreventUpdate
        try:
            report = self.store.run(sid, run_id)
            set_progress((5, "Permutation importance: shuffling each feature"))
            permutation = services.explanation(self.store, sid, run_id, "permutation")
            set_progress((80, "The model's own importances"))
            native = services.explanation(self.store, sid, run_id, "native")["native"]
            set_progress((95, "Drawing"))
        except (SessionExpired, *jobs.OVER_BUDGET) as exc:
            if not isinstance(exc, SessionExpired):
                log.warning("explanations ran out of their budget: %r", exc)
            text = (
                str(exc)
                if isinstance(exc, SessionExpired)
                else jobs.Budget.of(self.settings).message(exc)
            )
            blank = figures.empty_figure(text)
            return (alert(text, "warning"), blank, blank) + (
                [],
                None,
                [],
                [],
                None,
                [],
                None,
                [],
                None,
                blank,
                {"display": "none"},
            )
        numeric = report["numeric_features"]
        features = permutation["features"]
        options = [{"label": f, "value": f} for f in features]
        numeric_options = [{"label": f, "value": f} for f in features if f in numeric]
        is_clf = report["task"] == CLASSIFICATION
        classes = report.get("classes", [])
        outputs = classes[1:] if len(classes) == 2 else classes
        output_options = [{"label": c, "value": i} for i, c in enumerate(outputs)]
        ranked_numeric = [f for f in features if f in numeric]
        x = ranked_numeric[0] if ranked_numeric else None
        y = ranked_numeric[1] if len(ranked_numeric) > 1 else None
        return (
            explain_summary(report, str(run_id)),
            figures.make_importance_figure(permutation),
            figures.make_model_importance_figure(native),
            options,
            features[0] if features else None,
            numeric_options,
            output_options,
            0 if output_options else None,
            numeric_options if is_clf else [],  # the boundary is for classes
            x if is_clf else None,
            numeric_options if is_clf else [],
            y if is_clf else None,
            figures.make_calibration_figure(
                report.get("calibration", []), classes=report.get("classes")
            ),
            {} if is_clf and len(numeric) >= 2 else {"display": "none"},
        )

    def pdp(
        self, feature: str | None, output: int | None, run_id: str, sid: str
    ) -> Any:
        """Partial dependence and ICE of one feature."""
        feature, run_id = _inputs.text(feature), _inputs.run_id(run_id)
        if not feature or not run_id:
            raise PreventUpdate
        try:
            data = services.explanation(self.store, sid, run_id, "pdp", feature=feature)
        except (SessionExpired, KeyError, ValueError, *jobs.OVER_BUDGET) as exc:
            log.info("partial dependence refused: %r", exc)
            return figures.empty_figure(self._message(exc))
        index = (
            output if isinstance(output, int) and not isinstance(output, bool) else 0
        )
        if not 0 <= index < len(data["outputs"]):
            index = 0
        return figures.make_pdp_figure(data, output=index)

    def pdp2(
        self, feature: str | None, second: str | None, run_id: str, sid: str
    ) -> Any:
        """Two-way partial dependence of two numeric features."""
        feature, second = _inputs.text(feature), _inputs.text(second)
        run_id = _inputs.run_id(run_id)
        if not feature or not second or not run_id:
            return figures.empty_figure("Choose a second numeric feature")
        if feature == second:
            return figures.empty_figure("Choose two different features")
        try:
            data = services.explanation(
                self.store, sid, run_id, "pdp2", feature=feature, feature2=second
            )
        except (SessionExpired, KeyError, ValueError, *jobs.OVER_BUDGET) as exc:
            log.info("two-way partial dependence refused: %r", exc)
            return figures.empty_figure(self._message(exc))
        return figures.make_pdp2_figure(data)

    def boundary(self, x: str | None, y: str | None, run_id: str, sid: str) -> Any:
        """The decision boundary of the model refitted on two features."""
        x, y, run_id = _inputs.text(x), _inputs.text(y), _inputs.run_id(run_id)
        if not x or not y or not run_id:
            raise PreventUpdate
        if x == y:
            return figures.empty_figure("Choose two different features")
        try:
            data = services.explanation(self.store, sid, run_id, "boundary", x=x, y=y)
        except (SessionExpired, KeyError, ValueError, *jobs.OVER_BUDGET) as exc:
            log.info("decision boundary refused: %r", exc)
            return figures.empty_figure(self._message(exc))
        return figures.make_boundary_figure(data)
