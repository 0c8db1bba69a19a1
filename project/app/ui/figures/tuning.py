"""The figure of a hyper-parameter search: each candidate's score in the order
they ended with the best so far, and one small plot per searched parameter."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from app.ui.figures._style import MUTED, PALETTE, _base, _empty

_GAP = 0.06


def _mean(item: Mapping[str, Any], metric: str) -> float:
    if item.get("error"):
        return math.nan
    values = [f.get(metric) for f in item.get("folds") or ()]
    values = [float(v) for v in values if v is not None]
    return float(np.mean(values)) if values else math.nan


def _shown(value: Any) -> Any:
    return "none" if value is None else value


def make_search_figure(
    items: Sequence[Mapping[str, Any]],
    plan: Mapping[str, Any],
    metric_label: str,
    lower_is_better: bool = False,
) -> dict[str, Any]:
    """The search so far: ``items`` are the scored candidates (as stored, in the
    order they ended), ``plan`` the search's plan; a plain figure dict."""
    metric = plan["metric"]
    label = metric_label.split(" (")[0]
    scores = [_mean(item, metric) for item in items]
    shown = [(i, s) for i, s in enumerate(scores) if math.isfinite(s)]
    if not shown:
        message = "Each candidate's score appears here as it ends"
        if items:
            message = "No candidate has a score yet"
        return _empty(message).as_dict()
    lower = lower_is_better
    space = list(plan.get("space") or ())
    rounds = sorted({int(item.get("rung", 0)) for item in items})
    fig = _base(
        f"Search: {label} of each candidate",
        f"{len(items)} ended; the line is the best so far"
        + ("; smaller is better" if lower else ""),
        height=480 if space else 380,
        showlegend=len(rounds) > 1,
    )
    top = 0.52 if space else 0.0
    fig.layout["xaxis"] = {
        "domain": [0, 1],
        "anchor": "y",
        "title": {"text": "Order ended"},
    }
    fig.layout["yaxis"] = {
        "domain": [top + (0.1 if space else 0), 1],
        "anchor": "x",
        "title": {"text": label},
    }
    for number in rounds:
        keep = [(i, s) for i, s in shown if int(items[i].get("rung", 0)) == number]
        if not keep:
            continue
        fig.add_scatter(
            x=[i + 1 for i, _ in keep],
            y=[s for _, s in keep],
            mode="markers",
            name=f"Round {number + 1}" if len(rounds) > 1 else "Candidate",
            marker_color=PALETTE[number % len(PALETTE)],
            customdata=[items[i].get("index", 0) + 1 for i, _ in keep],
            hovertemplate="candidate %{customdata}: %{y:.4f}<extra></extra>",
        )
    running = []
    best = math.nan
    for s in scores:
        if math.isfinite(s) and not (
            math.isfinite(best) and (s >= best if lower else s <= best)
        ):
            best = s
        running.append(best)
    fig.add_scatter(
        x=list(range(1, len(scores) + 1)),
        y=running,
        mode="lines",
        line_shape="hv",
        name="Best so far",
        line_color=MUTED,
        showlegend=False,
        hoverinfo="skip",
    )
    width = (1 - _GAP * (len(space) - 1)) / max(len(space), 1)
    for n, dim in enumerate(space, start=2):
        left = (n - 2) * (width + _GAP)
        name = dim["name"]
        x_values, y_values = [], []
        for item, s in zip(items, scores):
            if math.isfinite(s) and name in (item.get("params") or {}):
                x_values.append(_shown(item["params"][name]))
                y_values.append(s)
        axis: dict[str, Any] = {
            "domain": [left, left + width],
            "anchor": f"y{n}",
            "title": {"text": name},
        }
        if dim["kind"] == "choice":
            axis.update(
                type="category",
                categoryorder="array",
                categoryarray=[str(_shown(o)) for o in dim.get("options") or ()],
            )
            x_values = [str(v) for v in x_values]
        elif dim["kind"].startswith("log"):
            axis["type"] = "log"
        fig.layout[f"xaxis{n}"] = axis
        fig.layout[f"yaxis{n}"] = {
            "domain": [0, top - 0.12],
            "anchor": f"x{n}",
            "showticklabels": n == 2,
            **({"matches": "y2"} if n > 2 else {}),
        }
        fig.add_scatter(
            x=x_values,
            y=y_values,
            xaxis=f"x{n}",
            yaxis=f"y{n}",
            mode="markers",
            marker_color=PALETTE[0],
            marker_size=6,
            showlegend=False,
            hovertemplate=f"{name}=%{{x}}: %{{y:.4f}}<extra></extra>",
        )
    return fig.as_dict()
