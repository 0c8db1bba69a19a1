"""Small building blocks shared by the tabs: fields, graphs, grids, messages."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.ui.figures import empty_figure_dict

GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}


def step(number: int, title: str) -> dbc.CardHeader:
    """A card's header: its step number and title, as a level-2 heading (styled as
    the header text, so that headings go h1, h2, ... without a jump)."""
    return dbc.CardHeader(
        html.H2(
            [html.Span(str(number), className="step-number"), title],
            className="h6 mb-0 fw-semibold lh-base",
        )
    )


def field(label: str, control: Any, control_id: Any, help_text: str = "") -> html.Div:
    children = [dbc.Label(label, html_for=_for(control_id)), control]
    if help_text:
        children.append(html.Div(help_text, className="control-help"))
    return html.Div(children, className="mb-2")


def hidden_label(text: str, control_id: Any) -> dbc.Label:
    """A label read by screen readers only, for a control whose purpose shows
    from its place (the second end of a range)."""
    return dbc.Label(text, html_for=_for(control_id), className="visually-hidden")


def _for(control_id: Any) -> str:
    """The ``for`` of a control's label: its id as the page writes it. A
    pattern-matching (dict) id is written as dash-renderer's stringifyId does:
    keys sorted, keys and values as compact JSON, non-ASCII kept as is."""
    if isinstance(control_id, dict):
        parts = (f"{_json(k)}:{_json(v)}" for k, v in sorted(control_id.items()))
        return "{" + ",".join(parts) + "}"
    return control_id if isinstance(control_id, str) else ""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def upload_zone(upload_id: str, title: str, detail: str) -> html.Label:
    """A zone to drop a file on, or click to choose one.

    dcc.Upload's file input takes no label or aria attribute, so a label around the
    zone names it (by the zone's text) and opens the file dialog on a click; the
    zone's own click handling is off, else a click would open the dialog twice.
    """
    return html.Label(
        dcc.Upload(
            id=upload_id,
            children=html.Span(
                [html.Strong(title), " ", html.Span(detail, className="d-block small")]
            ),
            className="upload-zone",
            multiple=False,
            disable_click=True,
        ),
        className="d-block",
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
            # Not animated: the label moves, and moving stripes repaint the
            # page 60 times a second (measured: a third of a core, headless).
            animated=False,
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


def graph(graph_id: str, message: str) -> dcc.Loading:
    return dcc.Loading(
        dcc.Graph(id=graph_id, figure=empty_figure_dict(message), config=GRAPH_CONFIG),
        type="default",
        delay_show=200,
    )


def grid(grid_id: str, height: int) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id,
        rowData=[],
        columnDefs=[],
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
        dashGridOptions={"suppressFieldDotNotation": True},
        style={"height": f"{height}px"},
    )


def empty_state(message: str) -> html.Div:
    """A muted placeholder shown where content will appear."""
    return html.Div(message, className="empty-state")


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
