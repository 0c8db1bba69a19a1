"""The Tune tab: search the chosen model's hyper-parameters with a live
leaderboard, cancel keeping what was found, and make the best a run."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import threading
import time
from typing import Any, Iterator, Sequence

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html, no_update, set_props
from dash.exceptions import PreventUpdate

from app import services
from app.config import Settings
from app.ml import (
    CLASSIFICATION,
    DEFAULT_MODEL,
    METRIC_LABELS,
    MODEL_SPECS,
    TrainingError,
)
from app.ml import tuning as T
from app.server import jobs, spread
from app.server.store import SessionExpired, SessionStore
from app.services import tuning as search_service
from app.ui import figures, ids
from app.ui.components import (
    alert,
    empty_state,
    field,
    hidden_label,
    progress_box,
    running_message,
)
from app.ui.tabs import _inputs
from app.ui.tabs._background import JOB_POLL_MS, with_progress
from app.ui.tabs.train import MODEL_CARD_STATES

log = logging.getLogger(__name__)

STRATEGY_OPTIONS = [
    {"label": "Random search", "value": "random"},
    {
        "label": "Successive halving (random candidates, rounds on more rows)",
        "value": "halving",
    },
    {"label": "Grid (every combination; small spaces)", "value": "grid"},
]
KIND_NOTES = {
    "log": "log scale",
    "log-int": "whole numbers, log scale",
    "int": "whole numbers",
    "uniform": "",
}


# Layout


def tune_tab() -> html.Div:
    """The Tune tab: the search's settings, space, progress, leaderboard, figure."""
    return html.Div(
        [
            html.P(
                "Search the hyper-parameters of the model chosen in step 3, with "
                "its features, hold-out, CV folds and seed. Each candidate is "
                "cross-validated on the training part; the best is then refitted "
                "and added to the runs.",
                className="small text-muted mt-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        field(
                            "Strategy",
                            dcc.Dropdown(
                                id=ids.TUNE_STRATEGY,
                                options=STRATEGY_OPTIONS,
                                value="random",
                                clearable=False,
                            ),
                            ids.TUNE_STRATEGY,
                        ),
                        md=6,
                    ),
                    dbc.Col(
                        field(
                            "Metric to optimise",
                            dcc.Dropdown(
                                id=ids.TUNE_METRIC,
                                options=metric_options(CLASSIFICATION),
                                value="accuracy",
                                clearable=False,
                            ),
                            ids.TUNE_METRIC,
                        ),
                        md=6,
                    ),
                    dbc.Col(
                        field(
                            "Candidates",
                            dbc.Input(
                                id=ids.TUNE_CANDIDATES,
                                type="number",
                                min=1,
                                max=T.MAX_CANDIDATES,
                                step=1,
                                value=20,
                            ),
                            ids.TUNE_CANDIDATES,
                        ),
                        md=3,
                    ),
                    dbc.Col(
                        field(
                            "Time limit (seconds)",
                            dbc.Input(
                                id=ids.TUNE_SECONDS,
                                type="number",
                                min=1,
                                step=1,
                                placeholder="none",
                            ),
                            ids.TUNE_SECONDS,
                            "No candidate starts after it.",
                        ),
                        md=3,
                    ),
                ],
                className="g-2",
            ),
            html.H3("Search space", className="h6 mt-2"),
            html.Div(space_controls(DEFAULT_MODEL[CLASSIFICATION]), id=ids.TUNE_SPACE),
            html.Div(
                [
                    dbc.Button(
                        "Start search", id=ids.TUNE_BUTTON, color="primary", n_clicks=0
                    ),
                    dbc.Button(
                        "Use best",
                        id=ids.TUNE_USE_BEST,
                        color="success",
                        outline=True,
                        n_clicks=0,
                        disabled=True,
                        title="Refit the best candidate and add it to the runs",
                    ),
                ],
                className="d-flex gap-2 mt-2",
            ),
            progress_box(ids.TUNE_PROGRESS_BOX, ids.TUNE_PROGRESS, ids.TUNE_CANCEL),
            html.Div(id=ids.TUNE_STATUS, className="mt-2", role="status"),
            dag.AgGrid(
                id=ids.TUNE_LEADERBOARD,
                columnDefs=leaderboard_columns(),
                rowData=[],
                getRowId="params.data.id",
                defaultColDef={"sortable": True, "resizable": True},
                dashGridOptions={
                    "animateRows": False,
                    "domLayout": "autoHeight",
                    "pagination": True,
                    "paginationPageSize": 10,
                    "paginationPageSizeSelector": False,
                },
                className="ag-theme-alpine mt-3",
                style={"width": "100%"},
            ),
            dcc.Graph(
                id=ids.TUNE_FIGURE,
                figure=_empty_figure(),
                config={"displaylogo": False},
                className="mt-3",
            ),
        ]
    )


def _empty_figure() -> dict[str, Any]:
    return figures.empty_figure_dict("Each candidate's score appears here as it ends")


def metric_options(task: str) -> list[dict[str, str]]:
    """The metrics a search of ``task`` can optimise."""
    return [
        {"label": METRIC_LABELS[m], "value": m}
        for m in T.SEARCH_METRICS.get(task, T.SEARCH_METRICS[CLASSIFICATION])
    ]


def leaderboard_columns() -> list[dict[str, Any]]:
    """The leaderboard's columns: rank, parameters, CV mean ± std, fit time, status."""
    return [
        {"field": "rank", "headerName": "Rank", "width": 100, "sort": "asc"},
        {"field": "candidate", "headerName": "#", "width": 70},
        {"field": "round", "headerName": "Round", "width": 85},
        {"field": "params", "headerName": "Parameters", "flex": 3, "minWidth": 220},
        {"field": "cv", "headerName": "CV mean ± std", "flex": 1, "minWidth": 140},
        {"field": "fit_seconds", "headerName": "Fit time (s)", "width": 110},
        {"field": "status", "headerName": "Status", "flex": 1, "minWidth": 120},
    ]


def _option_value(value: Any) -> str:
    return json.dumps(value)


def _option_label(value: Any) -> str:
    return "none" if value is None else str(value)


def space_controls(model_key: str | None) -> list[Any]:
    """One row per searchable parameter of a model: a switch to search it, and
    its range (low, high) or the values to try, prefilled with the defaults."""
    if model_key not in MODEL_SPECS:
        return [empty_state("Choose a model first.")]
    space = T.default_space(model_key)
    if not space:
        return [empty_state("This model has no hyper-parameter to search.")]
    specs = {p.name: p for p in MODEL_SPECS[model_key].params}
    return [_dimension_row(d, specs[d.name]) for d in space]


def _dimension_row(dim: T.Dimension, spec: Any) -> dbc.Row:
    key = {"name": dim.name}
    switch = dbc.Switch(
        id={"type": ids.TUNE_ON, **key},
        label=spec.label,
        value=True,
        className="mb-0",
    )
    if dim.kind == "choice":
        offered = list(spec.options) or list(dim.options)
        for option in dim.options:
            if option not in offered:
                offered.append(option)
        control: Any = dbc.Checklist(
            id={"type": ids.TUNE_OPTIONS, **key},
            options=[
                {"label": _option_label(o), "value": _option_value(o)} for o in offered
            ],
            value=[_option_value(o) for o in dim.options],
            inline=True,
        )
        note = ""
    else:
        bounds = {"min": spec.low, "max": spec.high, "step": "any"}
        low_id, high_id = {"type": ids.TUNE_LOW, **key}, {"type": ids.TUNE_HIGH, **key}
        control = html.Div(
            [
                hidden_label(f"{spec.label}: lowest value", low_id),
                dbc.Input(id=low_id, type="number", value=dim.low, size="sm", **bounds),
                html.Span("to", className="mx-1"),
                hidden_label(f"{spec.label}: highest value", high_id),
                dbc.Input(
                    id=high_id, type="number", value=dim.high, size="sm", **bounds
                ),
            ],
            className="d-flex align-items-center",
        )
        note = KIND_NOTES.get(dim.kind, "")
    return dbc.Row(
        [
            dbc.Col(switch, md=4),
            dbc.Col(control, md=6),
            dbc.Col(html.Span(note, className="small text-muted"), md=2),
        ],
        className="g-2 align-items-center mb-1 tune-dimension",
    )


def plan_from_controls(
    model: Any,
    strategy: Any,
    metric: Any,
    n_candidates: Any,
    seconds: Any,
    seed: int,
    on: Sequence[Any],
    on_ids: Sequence[Any],
    lows: Sequence[Any],
    low_ids: Sequence[Any],
    highs: Sequence[Any],
    high_ids: Sequence[Any],
    options: Sequence[Any],
    option_ids: Sequence[Any],
    *,
    max_seconds: float,
) -> T.Plan:
    """The search the Tune tab's controls describe (each value checked against
    the model's default space: only its parameters, their kinds and allowed
    values). Raises TrainingError with a message for the visitor."""
    model = _inputs.text(model)
    if model not in MODEL_SPECS:
        raise TrainingError("Choose a model first.")
    searched = _inputs.named_values(on_ids, on)
    low = _inputs.named_values(low_ids, lows)
    high = _inputs.named_values(high_ids, highs)
    chosen = _inputs.named_values(option_ids, options)
    specs = {p.name: p for p in MODEL_SPECS[model].params}
    space = []
    for dim in T.default_space(model):
        if not searched.get(dim.name):
            continue
        label = specs[dim.name].label
        try:
            if dim.kind == "choice":
                allowed = {
                    _option_value(o): o
                    for o in (*specs[dim.name].options, *dim.options)
                }
                values = [
                    allowed[v] for v in chosen.get(dim.name) or () if v in allowed
                ]
                space.append(T.Dimension(dim.name, "choice", options=tuple(values)))
            else:
                lo, hi = _number(low.get(dim.name), label), _number(
                    high.get(dim.name), label
                )
                spec = specs[dim.name]
                if (spec.low is not None and lo < spec.low) or (
                    spec.high is not None and hi > spec.high
                ):
                    raise ValueError(
                        f"{dim.name}: the range must be within "
                        f"{spec.low:g} to {spec.high:g}."
                    )
                space.append(T.Dimension(dim.name, dim.kind, lo, hi))
        except ValueError as exc:
            raise TrainingError(f"{label}: {str(exc).split(': ', 1)[-1]}") from None
    if not space:
        raise TrainingError("Switch on at least one hyper-parameter to search.")
    try:
        count = int(n_candidates if n_candidates not in (None, "") else 20)
        limit = float(seconds) if seconds not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        raise TrainingError("Candidates and the time limit must be numbers.") from None
    if limit is not None and not math.isfinite(limit):
        raise TrainingError("The time limit must be a number of seconds.")
    if limit is None or limit > max_seconds:
        limit = max_seconds
    try:
        return T.Plan(
            space=tuple(space),
            metric=_inputs.text(metric) or "",
            strategy=_inputs.text(strategy) or "random",
            n_candidates=count,
            seconds=limit,
            random_state=seed,
        )
    except ValueError as exc:
        raise TrainingError(str(exc)) from None


def _number(value: Any, label: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise TrainingError(
            f"{label}: the range needs a low and a high number."
        ) from None
    if not math.isfinite(number):
        raise TrainingError(f"{label}: the range needs finite numbers.")
    return number


def live_payload(record: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a search: leaderboard rows, figure, progress text."""
    plan = record["plan"]
    items = search_service.scored(record)
    return {
        "id": record["id"],
        "count": len(items),
        "rows": search_service.leaderboard_rows(items, plan["metric"]),
        "figure": figures.make_search_figure(
            record["scored"],
            plan,
            METRIC_LABELS[plan["metric"]],
            plan["metric"] in T.LOWER_IS_BETTER,
        ),
        "text": search_service.progress_text(record),
    }


#: Draws the search so far, which its job sends once per candidate ended.
DRAW_LIVE = """
function(live) {
    const no = window.dash_clientside.no_update;
    return live && live.rows ? [live.rows, live.figure] : [no, no];
}
"""


#: How often the page asks a running search how it is doing.
SEARCH_POLL_MS = 500


class _Live:
    """What a search's job shows while it runs: the bar and its label after each
    fold, and every second (the time left counts down); the search so far
    (leaderboard and figure) once after each candidate, apart from the progress:
    sent with every change of the label, it cost the page half its work."""

    TICK_SECONDS = 1.0

    def __init__(self, set_progress: Any) -> None:
        self.set_progress = set_progress
        self.record: dict[str, Any] | None = None
        self.percent = 0
        self.left: float | None = None  # the time left said at the last tick
        self.suffix = ""
        self.starting = "Starting the search"
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def say(self, percent: int, text: str) -> None:
        with self.lock:
            self.percent = percent
            self.set_progress((percent, text))

    def text(self, tick: bool = False) -> str:
        """The label now; on a ``tick`` (each second) it always moves."""
        elapsed = time.monotonic() - self.started
        if self.record is None:
            return f"{self.starting} · {round(elapsed)} s so far"
        estimate = search_service.time_left(self.record, elapsed)
        left = search_service.countdown(estimate, self.left, tick)
        if tick:
            self.left = left
        return search_service.progress_text(self.record, elapsed, left) + self.suffix

    def candidate(self, record: dict[str, Any]) -> None:
        """Called in the job's own thread (where Dash's ``set_props`` works)."""
        set_props(ids.TUNE_LIVE, {"data": live_payload(record)})
        self.fold(record)

    def fold(self, record: dict[str, Any]) -> None:
        self.record = record
        done = record.get("folds_done") or len(record["scored"])
        total = max(1, int(record.get("folds_total") or record["total"]))
        self.say(round(100 * done / total), self.text())

    @contextlib.contextmanager
    def ticking(self) -> Iterator[None]:
        """Say where the search is every second while the block runs."""
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(self.TICK_SECONDS):
                self.say(self.percent, self.text(tick=True))

        thread = threading.Thread(target=tick, name="search-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=2)


def _ended_outputs() -> list[Output]:
    """What a search's end and "Use best" update: the status, the leaderboard
    and figure as kept, the runs table and the run shown."""
    return [
        Output(ids.TUNE_STATUS, "children", allow_duplicate=True),
        Output(ids.TUNE_LEADERBOARD, "rowData", allow_duplicate=True),
        Output(ids.TUNE_FIGURE, "figure", allow_duplicate=True),
        Output(ids.RUNS_TABLE, "rowData", allow_duplicate=True),
        Output(ids.EVAL_RUN, "data", allow_duplicate=True),
    ]


class TuneCallbacks:
    """Searching hyper-parameters and making the best candidate a run."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def register(self, app: Any) -> None:
        """Attach the Tune tab's callbacks to ``app``."""
        app.clientside_callback(
            "function(n) { return n ? 'tab-tune' : window.dash_clientside.no_update; }",
            Output(ids.MAIN_TABS, "active_tab", allow_duplicate=True),
            Input(ids.TUNE_OPEN, "n_clicks"),
            prevent_initial_call=True,
        )
        app.callback(
            Output(ids.TUNE_SPACE, "children"),
            Input(ids.MODEL_NAME, "value"),
            prevent_initial_call=True,  # the layout has the default model's
        )(self.space)
        app.callback(
            Output(ids.TUNE_METRIC, "options"),
            Output(ids.TUNE_METRIC, "value"),
            Input(ids.TRAIN_TASK, "value"),
            State(ids.TUNE_METRIC, "value"),
            prevent_initial_call=True,
        )(self.metrics)
        # A search reports once a second: the page asks half as often as for a
        # training, leaving the CPUs to the search (measured with make bench).
        options = with_progress(
            ids.TUNE_PROGRESS,
            ids.TUNE_PROGRESS_BOX,
            ids.TUNE_CANCEL,
            running=[
                (Output(ids.TUNE_BUTTON, "disabled"), True, False),
                (Output(ids.TUNE_USE_BEST, "disabled"), True, False),
                (
                    Output(ids.TUNE_STATUS, "children"),
                    running_message("Searching…"),
                    None,
                ),
            ],
        )
        options["interval"] = SEARCH_POLL_MS
        app.clientside_callback(
            DRAW_LIVE,
            Output(ids.TUNE_LEADERBOARD, "rowData"),
            Output(ids.TUNE_FIGURE, "figure"),
            Input(ids.TUNE_LIVE, "data"),
            prevent_initial_call=True,
        )
        app.callback(
            *_ended_outputs(),
            Input(ids.TUNE_BUTTON, "n_clicks"),
            State(ids.APP_SESSION, "data"),
            *(State(i, p) for i, p in MODEL_CARD_STATES),
            State(ids.TUNE_STRATEGY, "value"),
            State(ids.TUNE_METRIC, "value"),
            State(ids.TUNE_CANDIDATES, "value"),
            State(ids.TUNE_SECONDS, "value"),
            State({"type": ids.TUNE_ON, "name": ALL}, "value"),
            State({"type": ids.TUNE_ON, "name": ALL}, "id"),
            State({"type": ids.TUNE_LOW, "name": ALL}, "value"),
            State({"type": ids.TUNE_LOW, "name": ALL}, "id"),
            State({"type": ids.TUNE_HIGH, "name": ALL}, "value"),
            State({"type": ids.TUNE_HIGH, "name": ALL}, "id"),
            State({"type": ids.TUNE_OPTIONS, "name": ALL}, "value"),
            State({"type": ids.TUNE_OPTIONS, "name": ALL}, "id"),
            prevent_initial_call=True,
            **options,
        )(self.search)
        app.callback(
            *_ended_outputs(),
            Input(ids.TUNE_USE_BEST, "n_clicks"),
            State(ids.APP_SESSION, "data"),
            prevent_initial_call=True,
            background=True,
            interval=JOB_POLL_MS,
            running=[
                (Output(ids.TUNE_USE_BEST, "disabled"), True, False),
                (Output(ids.TUNE_BUTTON, "disabled"), True, False),
                (
                    Output(ids.TUNE_STATUS, "children"),
                    running_message("Refitting the best candidate…"),
                    None,
                ),
            ],
        )(self.use_best)

    def space(self, model: str | None) -> list[Any]:
        """The search space controls of the chosen model."""
        return space_controls(_inputs.text(model))

    def metrics(self, task: str | None, current: str | None) -> tuple[Any, Any]:
        """The metrics the task's search can optimise; the current one if it can."""
        task = _inputs.text(task) or CLASSIFICATION
        options = metric_options(task)
        values = [o["value"] for o in options]
        if current in values:
            return options, no_update
        return options, values[0]

    @jobs.wide
    def search(
        self, set_progress: Any, n_clicks: Any, sid: str, *values: Any
    ) -> tuple[Any, ...]:
        """Run the search as a background job; each candidate that ends updates
        the progress, the leaderboard and the figure; at the end the best is
        refitted and added to the runs."""
        if not n_clicks:
            raise PreventUpdate
        card, rest = values[: len(MODEL_CARD_STATES)], values[len(MODEL_CARD_STATES) :]
        try:
            config = _inputs.train_config(*card)
            plan = plan_from_controls(
                config.model,
                *rest[:4],
                config.random_state,
                *rest[4:],
                max_seconds=max(1.0, self.settings.job_seconds * 0.8),
            )
        except TrainingError as exc:
            return alert(str(exc), "danger"), *(no_update,) * 4
        workers = jobs.granted_workers()
        guard = functools.partial(
            jobs.candidate_budget,
            self.settings.job_memory_mb,
            self.settings.job_seconds,
        )

        live = _Live(set_progress)
        live.starting = f"Starting the search on {workers} process(es)"
        live.say(0, live.starting)
        with live.ticking():
            try:
                record = search_service.run_search(
                    self.store,
                    sid,
                    config,
                    plan,
                    workers=workers,
                    guard=guard,
                    on_update=live.candidate,
                    on_fold=live.fold,
                    spread=self._spread(),
                )
            except (TrainingError, SessionExpired) as exc:
                log.info("search refused: %s", exc)
                return alert(str(exc), "danger"), *(no_update,) * 4
            payload = live_payload(record)
            live.suffix = " · refitting the best on the whole training part"
            live.say(100, live.text())
            try:
                run_id, report = self._refit_best(sid)
            except (TrainingError, SessionExpired) as exc:
                text = f"Search ended: {payload['text']}. {exc}"
                final = payload["rows"], payload["figure"]
                return alert(text, "warning"), *final, no_update, no_update
        rows = services.leaderboard(self.store, sid)
        text = (
            f"Search ended: {payload['text']} in {record['seconds']:.1f} s. "
            f"Run {report['number']} is its best candidate, refitted: "
            f"hold-out {_main_metric(report)}."
        )
        return alert(text, "success"), payload["rows"], payload["figure"], rows, run_id

    def _refit_best(self, sid: str) -> tuple[str, dict]:
        """The latest search's best, refitted and kept as a run (budgeted)."""
        return search_service.use_best(
            self.store,
            sid,
            services.train,
            memory_budget=self.settings.job_memory_mb * 1024 * 1024,
        )

    def _spread(self) -> Any:
        """Under Celery, what spreads a search's folds over every worker."""
        celery_app = jobs.celery_app(self.settings)
        if celery_app is None:
            return None
        return functools.partial(spread.celery_spread, celery_app)

    def use_best(self, n_clicks: Any, sid: str) -> tuple[Any, ...]:
        """Refit the latest search's best candidate and add it to the runs; show
        the search as kept (with any candidate that ended after the last poll of
        a cancelled search)."""
        if not n_clicks:
            raise PreventUpdate
        try:
            record = search_service.latest_search(self.store, sid)
            run_id, report = self._refit_best(sid)
        except (TrainingError, SessionExpired) as exc:
            return alert(str(exc), "danger"), *(no_update,) * 4
        payload = live_payload(record) if record else {"rows": [], "figure": no_update}
        rows = services.leaderboard(self.store, sid)
        text = (
            f"Run {report['number']} is the search's best candidate, refitted: "
            f"hold-out {_main_metric(report)}."
        )
        return alert(text, "success"), payload["rows"], payload["figure"], rows, run_id


def _main_metric(report: dict[str, Any]) -> str:
    from app.ml import MAIN_METRIC

    name = MAIN_METRIC[report["task"]]
    row = next(m for m in report["metrics"] if m["name"] == name)
    value = row["holdout"]
    return f"{METRIC_LABELS[name]} {value:.4f}" if value is not None else "—"
