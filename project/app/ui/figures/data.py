"""Figures of the Data tab: distributions, correlations, scatters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from app.ui.figures._style import (
    DIVERGING,
    MAX_CATEGORY_TRACES,
    MAX_SCATTER_POINTS,
    OTHER_COLOR,
    PALETTE,
    _base,
    _cell_labels,
    _join,
    _points_shown,
    _svg_keep,
    class_colors,
    empty_figure,
    scatter_type,
)

if TYPE_CHECKING:  # imported where a figure is built: not at start-up
    import plotly.graph_objects as go


def make_distribution_figure(
    distribution: dict[str, Any], column: str, *, total_values: int | None = None
) -> go.Figure:
    """Bars of a histogram or of value counts, from ``column_distribution`` output.

    ``total_values``: how many distinct values the column has, said when only
    the most common ones have bars of their own.
    """
    missing = distribution.get("missing", 0)
    notes = [f"{missing:,} missing values not shown" if missing else ""]
    if distribution["kind"] != "histogram" and distribution.get("other"):
        shown = len(distribution["labels"])
        of = f" of {total_values:,}" if total_values and total_values > shown else ""
        notes.insert(
            0,
            f"the {shown:,} most common values{of}; the other "
            f"{distribution['other']:,} rows as (other values)",
        )
    fig = _base(f"Distribution of {column}", _join(*notes), height=360, bargap=0.05)
    if distribution["kind"] == "histogram":
        edges = distribution["edges"]
        if not edges:
            return empty_figure(f"{column} has no finite values")
        if isinstance(edges[0], str):
            centers: Sequence[Any] = edges[:-1]
            widths = None
        else:
            e = np.asarray(edges, dtype=float)
            centers = ((e[:-1] + e[1:]) / 2).tolist()
            widths = np.diff(e).tolist()
        fig.add_bar(
            x=centers,
            y=distribution["counts"],
            width=widths,
            marker_color=PALETTE[0],
            name=column,
            hovertemplate="%{x}<br>%{y:,} rows<extra></extra>",
        )
    else:
        labels = list(distribution["labels"])
        counts = list(distribution["counts"])
        colors = [PALETTE[0]] * len(labels)
        if distribution.get("other"):
            labels.append("(other values)")
            counts.append(distribution["other"])
            colors.append(OTHER_COLOR)
        fig.add_bar(
            x=labels,
            y=counts,
            marker_color=colors,
            name=column,
            hovertemplate="%{x}<br>%{y:,} rows<extra></extra>",
        )
        fig.update_xaxes(type="category")
    fig.update_layout(xaxis_title=column, yaxis_title="rows", showlegend=False)
    return fig.build()


def make_correlation_figure(
    matrix: pd.DataFrame,
    *,
    total_columns: int | None = None,
    rows: int | None = None,
    total_rows: int | None = None,
) -> go.Figure:
    """A heatmap of a correlation matrix (from ``correlation_matrix``).

    Diverging, centred on 0: -1 blue, 0 white, +1 red. ``total_columns``: how
    many numeric columns the data has; ``rows`` and ``total_rows``: how many rows
    the correlations were computed on, of how many; each said when given and
    larger than what is shown.
    """
    if matrix.empty:
        return empty_figure("Correlations need at least two numeric columns")
    names = [str(c) for c in matrix.columns]
    values = np.round(matrix.to_numpy(dtype=float), 3)
    size = max(360, min(900, 28 * len(names) + 160))
    title = "Correlation (Pearson) between numeric columns"
    if total_columns and total_columns > len(names):
        title += f" ({len(names):,} of {total_columns:,} shown)"
    note = ""
    if rows and total_rows and rows < total_rows:
        note = f"computed on a random sample of {rows:,} of {total_rows:,} rows"
    fig = _base(title, note, height=size)
    fig.add_heatmap(
        z=values,
        x=names,
        y=names,
        zmin=-1,
        zmax=1,
        colorscale=DIVERGING,
        hovertemplate="%{y} × %{x}<br>r = %{z:.3f}<extra></extra>",
    )
    if len(names) <= 12:
        text = [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values]
        fig.add_annotations(
            _cell_labels(values, text, names, names, scale=DIVERGING, zmin=-1, zmax=1)
        )
    fig.update_yaxes(autorange="reversed")
    return fig.build()


def make_scatter_figure(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    color: str | None = None,
    total_rows: int | None = None,
    random_state: int = 0,
    webgl: bool = True,
) -> go.Figure:
    """A scatter of two columns coloured by a third, sampled when large.

    SVG below :data:`WEBGL_MIN_POINTS` points, WebGL from there; with
    ``webgl=False`` never WebGL (at most that many points, an even sample).
    """
    total = len(frame) if total_rows is None else max(total_rows, len(frame))
    if len(frame) > MAX_SCATTER_POINTS:
        frame = frame.sample(n=MAX_SCATTER_POINTS, random_state=random_state)
    sampled = len(frame)
    frame = frame.iloc[_svg_keep(sampled, webgl)]
    shown = len(frame)
    kind = scatter_type(shown, webgl=webgl)
    notes = [f"a random sample of {shown:,} of {total:,} rows" if shown < total else ""]
    unplotted = int(frame[[x, y]].isna().any(axis=1).sum())
    if unplotted:
        notes.append(f"{unplotted:,} rows without {x} or {y} not drawn")
    title = f"{y} against {x}" + (
        _points_shown(shown, total) if shown < sampled else ""
    )
    marker = {"size": 6 if shown < 2_000 else 4, "opacity": 0.75}
    hover = f"{x}=%{{x}}<br>{y}=%{{y}}<extra>%{{fullData.name}}</extra>"
    traces: list[dict[str, Any]] = []
    if color is None or color not in frame.columns:
        traces.append({"x": frame[x], "y": frame[y], "marker": marker, "name": "rows"})
    elif _is_categorical(frame[color]):
        values = frame[color].astype(str).where(frame[color].notna(), "(missing)")
        counts = values.value_counts()
        top = counts.index[:MAX_CATEGORY_TRACES]
        if len(counts) > MAX_CATEGORY_TRACES:
            notes.append(
                f"colour: the {MAX_CATEGORY_TRACES} most common of {len(counts):,} "
                f"{color} values, the others as (other)"
            )
        levels = [v for v in counts.index if not _special(v)]
        colors = class_colors(sorted(levels, key=_natural))
        values = values.where(values.isin(top), "(other)")
        for level in sorted(values.unique(), key=_level_order):
            part = frame[values == level]
            traces.append(
                {
                    "x": part[x],
                    "y": part[y],
                    "marker": {
                        **marker,
                        "color": OTHER_COLOR if _special(level) else colors[level],
                    },
                    "name": f"{color}={level}",
                    "hovertemplate": hover,
                }
            )
    else:
        traces.append(
            {
                "x": frame[x],
                "y": frame[y],
                "marker": {
                    **marker,
                    "color": frame[color],
                    "colorscale": "Viridis",
                    "colorbar": {"title": {"text": color}},
                },
                "name": color,
                "hovertemplate": hover,
            }
        )
    fig = _base(title, _join(*notes), height=420)
    for trace in traces:
        fig.add_points(kind, mode="markers", **trace)
    fig.update_layout(xaxis_title=x, yaxis_title=y)
    return fig.build()


def _is_categorical(series: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return True
    return series.nunique() <= MAX_CATEGORY_TRACES and bool(
        np.all(np.mod(series.dropna().to_numpy(dtype=float), 1) == 0)
    )


def _natural(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _special(level: str) -> bool:
    return level in ("(other)", "(missing)")


def _level_order(level: str) -> tuple[bool, tuple[int, float, str]]:
    return (_special(level), _natural(level))
