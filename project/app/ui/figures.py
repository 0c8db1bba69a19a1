"""Plotly figures: pure ``make_<thing>_figure(...) -> go.Figure`` functions.

They draw what the pure layer computed; they never fit a model and they keep what
goes to the browser small (pre-aggregated data, sampled scatters).

One style for every figure: SVG scatters for small data and WebGL only from
:data:`WEBGL_MIN_POINTS` points (:func:`scatter_type`), sequential colour scales
where more is darker, one colour per class in every panel (:func:`class_colors`),
titles below the mode bar and legends below the axis titles (``_Builder._finish``),
and every figure that shows part of its data says so.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # imported where a figure is built: not at start-up
    import plotly.graph_objects as go

PALETTE = (
    "#2563eb",
    "#f97316",
    "#10b981",
    "#e11d48",
    "#8b5cf6",
    "#0ea5e9",
    "#eab308",
    "#64748b",
    "#db2777",
    "#14b8a6",
)
# The colours of classes: the app's palette, then plotly's Dark24, ordered so that
# each next colour is the most distinct (CIELAB) from those before it; cycled past 34.
CLASS_PALETTE = PALETTE + (
    "#6C4516",
    "#FB00D1",
    "#620042",
    "#0D2A63",
    "#1CA71C",
    "#511CFB",
    "#222A2A",
    "#6C7C32",
    "#750D86",
    "#FB0D0D",
    "#DA60CA",
    "#DA16FF",
    "#1616A7",
    "#B2828D",
    "#862A16",
    "#B68100",
    "#A777F1",
    "#EB663B",
    "#E15F99",
    "#AF0038",
    "#2E91E5",
    "#FC0080",
    "#778AAE",
    "#00A08B",
)
# Colour scales as explicit lists: a name ("Blues") means another scale in plotly.js
# (dark to pale) than in plotly.py (pale to dark), and figures here are not validated.
_BLUES = (
    "rgb(247,251,255)",
    "rgb(222,235,247)",
    "rgb(198,219,239)",
    "rgb(158,202,225)",
    "rgb(107,174,214)",
    "rgb(66,146,198)",
    "rgb(33,113,181)",
    "rgb(8,81,156)",
    "rgb(8,48,107)",
)
_BLUE_WHITE_RED = (  # ColorBrewer RdBu, reversed: -1 blue, 0 white, +1 red
    "rgb(5,48,97)",
    "rgb(33,102,172)",
    "rgb(67,147,195)",
    "rgb(146,197,222)",
    "rgb(209,229,240)",
    "rgb(247,247,247)",
    "rgb(253,219,199)",
    "rgb(244,165,130)",
    "rgb(214,96,77)",
    "rgb(178,24,43)",
    "rgb(103,0,31)",
)
SEQUENTIAL: list[list[Any]] = [
    [i / (len(_BLUES) - 1), c] for i, c in enumerate(_BLUES)
]  # low = pale, high = dark
DIVERGING: list[list[Any]] = [
    [i / (len(_BLUE_WHITE_RED) - 1), c] for i, c in enumerate(_BLUE_WHITE_RED)
]  # centred on its middle (white)
DARK_TEXT = "#000000"  # with white: at least 4.5:1 on any fill
MUTED = "#94a3b8"
OTHER_COLOR = "#cbd5e1"  # "(other)" and "(missing)" levels
DASHES = ("solid", "dot", "dash", "longdash", "dashdot", "longdashdot")
MAX_SCATTER_POINTS = 10_000
MAX_CATEGORY_TRACES = 12
MAX_CELL_TEXT = 20  # heatmaps print their values up to this many rows and columns
WEBGL_MIN_POINTS = 5_000  # SVG below, WebGL from here; the most an SVG figure draws

# The shared layout: the mode bar's row stays clear above the title, and a legend
# sits below the band of the x-axis tick labels and title, in columns.
MODEBAR_PX = 32
TITLE_PX = 30
SUBTITLE_PX = 20
AXIS_BAND_PX = 64
LEGEND_ROW_PX = 22
LEGEND_PLOT_PX = 400  # the narrowest plot area a figure gets (half a page)
MAX_LEGEND_COLUMNS = 4

# The app's plotly template, as the JSON plotly.js reads (the tests validate it).
TEMPLATE_JSON: dict[str, Any] = {
    "layout": {
        "colorway": list(PALETTE),
        "font": {
            "family": "system-ui, -apple-system, Segoe UI, sans-serif",
            "size": 13,
        },
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "xaxis": {
            "gridcolor": "#e5e7eb",
            "zerolinecolor": "#cbd5e1",
            "automargin": True,
        },
        "yaxis": {
            "gridcolor": "#e5e7eb",
            "zerolinecolor": "#cbd5e1",
            "automargin": True,
        },
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": -0.25,
            "yanchor": "top",
        },
        "hoverlabel": {"namelength": -1},
        "modebar": {
            "orientation": "h",
            "bgcolor": "rgba(255,255,255,0.85)",
            "color": "#64748b",
            "activecolor": "#1e293b",
        },
    }
}

_LEGEND_TYPES = ("scatter", "scattergl", "bar", "histogram")


def scatter_type(points: int, *, webgl: bool = True) -> str:
    """The plotly type of a scatter-like trace of ``points`` points.

    ``"scatter"`` (``go.Scatter``, SVG) below :data:`WEBGL_MIN_POINTS`,
    ``"scattergl"`` (``go.Scattergl``, WebGL) at or above it, and never WebGL
    when ``webgl`` is False. Count the points of the whole figure.
    """
    return "scattergl" if webgl and points >= WEBGL_MIN_POINTS else "scatter"


def class_colors(classes: Iterable[Any]) -> dict[str, str]:
    """The colour of each class (by name), the same in every figure.

    Pass the model's whole class list, in its order: the colour is the class's
    position in it (repeated names count once); past 34 classes colours repeat.
    """
    names = dict.fromkeys(str(c) for c in classes)
    return {name: CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, name in enumerate(names)}


def _even_sample(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` of ``range(n)``, evenly spread, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.linspace(0, n - 1, limit).round().astype(int)


def _svg_keep(n: int, webgl: bool) -> np.ndarray:
    """The points to draw: all of them, or an even sample when SVG must draw them."""
    return np.arange(n) if webgl else _even_sample(n, WEBGL_MIN_POINTS)


def _points_shown(shown: int, total: int) -> str:
    return f" ({shown:,} of {total:,} points shown)" if shown < total else ""


def _dedupe(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


class _Builder:
    """Collects traces and layout as plain dicts; ``build()`` makes the figure.

    Plotly's ``add_*``/``update_*`` methods validate every property on every
    call (milliseconds per trace); figures here are built on hot paths (every
    what-if keystroke), so they are assembled as dicts and wrapped once,
    unvalidated. The test suite validates every kind of figure instead.
    """

    _AXES = ("xaxis", "yaxis")

    def __init__(self, layout: dict[str, Any]) -> None:
        self.data: list[dict[str, Any]] = []
        self.layout = layout
        self._finished = False

    def _add(self, kind: str, **trace: Any) -> None:
        self.data.append({"type": kind, **{k: v for k, v in trace.items()}})

    def add_bar(self, **trace: Any) -> None:
        self._add("bar", **_flat(trace))

    def add_scatter(self, **trace: Any) -> None:
        self._add("scatter", **_flat(trace))

    def add_points(self, kind: str, **trace: Any) -> None:
        """A scatter-like trace of the type :func:`scatter_type` chose."""
        self._add(kind, **_flat(trace))

    def add_heatmap(self, **trace: Any) -> None:
        self._add("heatmap", **_flat(trace))

    def add_contour(self, **trace: Any) -> None:
        self._add("contour", **_flat(trace))

    def add_histogram(self, **trace: Any) -> None:
        self._add("histogram", **_flat(trace))

    def add_hline(self, y: float, line_dash: str, line_color: str) -> None:
        self.layout.setdefault("shapes", []).append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": y,
                "y1": y,
                "line": {"dash": line_dash, "color": line_color},
            }
        )

    def add_annotations(self, annotations: list[dict[str, Any]]) -> None:
        self.layout.setdefault("annotations", []).extend(annotations)

    def update_layout(self, **changes: Any) -> None:
        for key, value in changes.items():
            axis, _, prop = key.partition("_")
            if axis in self._AXES and prop == "title":
                self.layout.setdefault(axis, {})["title"] = {"text": value}
            else:
                self.layout[key] = value

    def update_xaxes(self, **changes: Any) -> None:
        self.layout.setdefault("xaxis", {}).update(changes)

    def update_yaxes(self, **changes: Any) -> None:
        self.layout.setdefault("yaxis", {}).update(changes)

    def legend_entries(self) -> list[str]:
        """The names the legend lists (traces not hidden from it)."""
        return [
            str(trace.get("name", ""))
            for trace in self.data
            if trace["type"] in _LEGEND_TYPES and trace.get("showlegend") is not False
        ]

    def _finish(self) -> None:
        """The shared layout: margins, the title below the mode bar, the legend.

        The mode bar (shown on hover, top right) keeps the top ``MODEBAR_PX``;
        the title and its subtitle come below it. A legend with two or more
        entries goes below the plot, past the x-axis tick labels and title, in
        as many columns as its longest entry allows; the figure grows by its
        height so that the plot keeps its size.
        """
        if self._finished:
            return
        self._finished = True
        layout = self.layout
        heading = layout.get("title", {})
        top = MODEBAR_PX
        if heading.get("text"):
            top += TITLE_PX + (SUBTITLE_PX if heading.get("subtitle") else 0)
        margin = {"l": 60, "r": 20, "t": top, "b": 50}
        entries = self.legend_entries()
        show = layout.get("showlegend")
        show = bool(entries) and (len(entries) >= 2 if show is None else show)
        layout["showlegend"] = show
        if show:
            legend = dict(layout.get("legend") or {})
            longest = max(len(name) for name in entries)
            fits = int(LEGEND_PLOT_PX // (40 + 6.5 * longest))
            columns = max(1, min(len(entries), MAX_LEGEND_COLUMNS, fits))
            rows = math.ceil(len(entries) / columns) + (1 if legend.get("title") else 0)
            legend_px = rows * LEGEND_ROW_PX + 12
            margin["b"] = AXIS_BAND_PX + legend_px
            height = int(layout.get("height") or 450) + legend_px
            plot_px = max(height - margin["t"] - margin["b"], 100)
            legend.update(
                orientation="h",
                x=0,
                xanchor="left",
                y=round(-AXIS_BAND_PX / plot_px, 4),
                yanchor="top",
                entrywidth=round(1 / columns - 0.02, 4),
                entrywidthmode="fraction",
            )
            layout["legend"] = legend
            layout["height"] = height
        layout["margin"] = {**margin, **(layout.get("margin") or {})}

    def build(self) -> go.Figure:
        """The figure, wrapped without validation."""
        import plotly.graph_objects as go

        self._finish()
        return go.Figure(data=self.data, layout=self.layout, _validate=False)

    def as_dict(self) -> dict[str, Any]:
        """The figure as the plain dict ``dcc.Graph`` also takes."""
        self._finish()
        return {"data": self.data, "layout": self.layout}


def _flat(trace: dict[str, Any]) -> dict[str, Any]:
    """``marker_color=...`` style keywords as nested dicts; None values dropped."""
    out: dict[str, Any] = {}
    for key, value in trace.items():
        if value is None:
            continue
        if isinstance(value, (pd.Series, pd.Index)):
            value = value.to_numpy()
        head, _, tail = key.partition("_")
        if tail and head in ("marker", "line"):
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def _base(title: str, subtitle: str = "", **layout: Any) -> _Builder:
    """A figure with the app's template and its title (placed below the mode bar)."""
    heading: dict[str, Any] = {
        "text": title,
        "x": 0.01,
        "xanchor": "left",
        "yref": "container",
        "y": 1,
        "yanchor": "top",
        "pad": {"t": MODEBAR_PX},
    }
    if subtitle:
        heading["subtitle"] = {
            "text": subtitle,
            "font": {"size": 12, "color": "#64748b"},
        }
    builder = _Builder({"template": TEMPLATE_JSON, "title": heading})
    builder.update_layout(**layout)
    return builder


def _join(*notes: str) -> str:
    return "; ".join(n.strip().rstrip(".") for n in notes if n and n.strip())


# -- colours of cells ----------------------------------------------------------------


def _rgb(color: str) -> tuple[float, float, float]:
    if color.startswith("#"):
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
        return float(r), float(g), float(b)
    parts = color[color.index("(") + 1 : color.index(")")].split(",")
    r, g, b = (float(p) for p in parts[:3])
    return r, g, b


def _scale_color(scale: Sequence[Sequence[Any]], t: float) -> tuple[float, ...]:
    """The colour of ``scale`` at ``t`` (0 to 1), interpolated as plotly.js does."""
    t = min(max(float(t), 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(scale, scale[1:]):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            return tuple(a + (b - a) * f for a, b in zip(_rgb(c0), _rgb(c1)))
    return _rgb(scale[-1][1])


def _luminance(rgb: Sequence[float]) -> float:
    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _text_color(fill: Sequence[float]) -> str:
    """White or dark text, whichever contrasts more with ``fill`` (WCAG ratio)."""
    lum = _luminance(fill)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (_luminance(_rgb(DARK_TEXT)) + 0.05)
    return "white" if on_white >= on_dark else DARK_TEXT


def _cell_labels(
    values: np.ndarray,
    text: Sequence[Sequence[str]],
    x: Sequence[str],
    y: Sequence[str],
    *,
    scale: Sequence[Sequence[Any]],
    zmin: float,
    zmax: float,
) -> list[dict[str, Any]]:
    """One annotation per heatmap cell, its text white on dark cells, dark on pale."""
    span = (zmax - zmin) or 1.0
    out = []
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if not np.isfinite(value):
                continue
            fill = _scale_color(scale, (value - zmin) / span)
            out.append(
                {
                    "x": x[j],
                    "y": y[i],
                    "xref": "x",
                    "yref": "y",
                    "text": text[i][j],
                    "showarrow": False,
                    "font": {"color": _text_color(fill)},
                }
            )
    return out


def _tint(color: str, amount: float = 0.75) -> str:
    r, g, b = _rgb(color)
    mix = [round(c + (255 - c) * amount) for c in (r, g, b)]
    return f"rgb({mix[0]},{mix[1]},{mix[2]})"


def empty_figure(message: str = "Nothing to show yet") -> go.Figure:
    """A blank figure with a centred message (an empty state)."""
    return _empty(message).build()


def empty_figure_dict(message: str = "Nothing to show yet") -> dict[str, Any]:
    """:func:`empty_figure` as a plain dict (for the layout, built at start-up)."""
    return _empty(message).as_dict()


def _empty(message: str) -> _Builder:
    fig = _base("")
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "font": {"size": 14, "color": "#64748b"},
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
            }
        ],
        height=300,
    )
    return fig


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


def make_confusion_figure(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], *, normalize: bool = False
) -> go.Figure:
    """Confusion matrix heatmap: counts, or each true class's row as proportions.

    Sequential: zero is pale, the largest count dark; the numbers in the cells
    are white on dark cells and dark on pale ones.
    """
    counts = np.asarray(matrix, dtype=float)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        text = [[f"{v:.2f}" for v in row] for row in values]
        zmax = 1.0
    else:
        values = counts
        text = [[f"{int(v):,}" for v in row] for row in values]
        zmax = float(values.max()) if values.size and values.max() > 0 else 1.0
    labels = [str(c) for c in classes]
    title = "Confusion matrix (hold-out" + (
        ", normalised by true class)" if normalize else ")"
    )
    many = len(labels) > MAX_CELL_TEXT
    fig = _base(
        title,
        f"{len(labels)} classes: values on hover" if many else "",
        height=max(360, 40 * len(labels) + 200),
    )
    fig.add_heatmap(
        z=values,
        x=labels,
        y=labels,
        zmin=0,
        zmax=zmax,
        colorscale=SEQUENTIAL,
        text=text,
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        showscale=False,
    )
    if not many:
        fig.add_annotations(
            _cell_labels(
                values, text, labels, labels, scale=SEQUENTIAL, zmin=0, zmax=zmax
            )
        )
    fig.update_layout(xaxis_title="predicted", yaxis_title="true")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig.build()


def _thin_curves(
    curves: Sequence[dict[str, Any]], keys: tuple[str, str], webgl: bool
) -> tuple[list[dict[str, Any]], int, int]:
    """The curves, each evenly thinned when SVG must draw more points than it can;
    with the points shown and the points there are."""
    total = sum(len(curve[keys[0]]) for curve in curves)
    if webgl or total <= WEBGL_MIN_POINTS:
        return list(curves), total, total
    each = max(2, WEBGL_MIN_POINTS // len(curves))
    out = []
    for curve in curves:
        keep = _even_sample(len(curve[keys[0]]), each)
        out.append({**curve, **{k: np.asarray(curve[k])[keep].tolist() for k in keys}})
    return out, sum(len(curve[keys[0]]) for curve in out), total


def _chance(fig: _Builder, name: str) -> None:
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"dash": "dash", "color": MUTED},
        name=name,
        hoverinfo="skip",
    )


def _class_curves(
    fig: _Builder,
    curves: Sequence[dict[str, Any]],
    *,
    keys: tuple[str, str],
    classes: Sequence[str] | None,
    webgl: bool,
    mode: str = "lines",
    metric: tuple[str, str] | None = None,
) -> str:
    """One curve per class, in its class colour; returns the title's points note."""
    curves, shown, total = _thin_curves(curves, keys, webgl)
    colors = class_colors([*(classes or []), *(c["label"] for c in curves)])
    kind = scatter_type(shown, webgl=webgl)
    for curve in curves:
        label = str(curve["label"])
        name = (
            label if metric is None else f"{label} ({metric[0]} {curve[metric[1]]:.3f})"
        )
        fig.add_points(
            kind,
            x=curve[keys[0]],
            y=curve[keys[1]],
            mode=mode,
            line={"color": colors[label]},
            marker={"color": colors[label]},
            name=name,
        )
    return _points_shown(shown, total)


def make_roc_figure(
    curves: Sequence[dict[str, Any]],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """ROC curves (one per class, one-vs-rest) with their AUC in the legend.

    ``classes``: the model's classes, so that each curve has its class colour.
    """
    if not curves:
        return empty_figure("No ROC curve: the model gives no probabilities")
    fig = _base("ROC curve (hold-out)", height=400)
    _chance(fig, "chance")
    note = _class_curves(
        fig,
        curves,
        keys=("fpr", "tpr"),
        classes=classes,
        webgl=webgl,
        metric=("AUC", "auc"),
    )
    fig.layout["title"]["text"] += note
    fig.update_layout(
        xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def make_pr_figure(
    curves: Sequence[dict[str, Any]],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """Precision-recall curves (one per class) with average precision in the legend.

    ``classes``: the model's classes, so that each curve has its class colour.
    """
    if not curves:
        return empty_figure(
            "No precision-recall curve: the model gives no probabilities"
        )
    fig = _base("Precision-recall curve (hold-out)", height=400)
    note = _class_curves(
        fig,
        curves,
        keys=("recall", "precision"),
        classes=classes,
        webgl=webgl,
        metric=("AP", "ap"),
    )
    fig.layout["title"]["text"] += note
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def _prediction_points(
    predictions: dict[str, Any], webgl: bool
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Actual and predicted values to draw, the title's note and the subtitle."""
    actual = np.asarray(predictions["actual"], dtype=float)
    predicted = np.asarray(predictions["predicted"], dtype=float)
    given = actual.size
    keep = _svg_keep(given, webgl)
    actual, predicted = actual[keep], predicted[keep]
    total = max(int(predictions.get("total") or given), given)
    shown = actual.size
    subtitle = (
        f"a random sample of {shown:,} of {total:,} rows" if shown < total else ""
    )
    title_note = _points_shown(shown, total) if shown < given else ""
    return actual, predicted, title_note, subtitle


def make_prediction_figure(
    predictions: dict[str, Any], *, webgl: bool = True
) -> go.Figure:
    """Predicted against actual values on the hold-out, with the ideal diagonal."""
    actual, predicted, title_note, note = _prediction_points(predictions, webgl)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    fig = _base("Predicted vs actual (hold-out)" + title_note, note, height=420)
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    fig.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        line={"dash": "dash", "color": MUTED},
        name="perfect",
        hoverinfo="skip",
    )
    fig.add_points(
        scatter_type(actual.size, webgl=webgl),
        x=actual,
        y=predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[0]},
        name="rows",
        hovertemplate="actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
    )
    fig.update_layout(xaxis_title="actual", yaxis_title="predicted")
    return fig.build()


def make_residuals_figure(
    predictions: dict[str, Any], *, webgl: bool = True
) -> go.Figure:
    """Residuals (actual − predicted) against predicted values."""
    actual, predicted, title_note, note = _prediction_points(predictions, webgl)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    fig = _base("Residuals (hold-out)" + title_note, note, height=420)
    fig.add_points(
        scatter_type(actual.size, webgl=webgl),
        x=predicted,
        y=actual - predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[1]},
        name="residual",
        hovertemplate="predicted %{x:.4g}<br>residual %{y:.4g}<extra></extra>",
    )
    fig.add_hline(y=0, line_dash="dash", line_color=MUTED)
    fig.update_layout(xaxis_title="predicted", yaxis_title="actual − predicted")
    return fig.build()


# -- explanation -----------------------------------------------------------------


def _sample_note(data: dict[str, Any]) -> str:
    if data.get("sampled"):
        total = data.get("total_rows")
        of = f" of {total:,}" if total and total > data["rows"] else ""
        return f"computed on a random sample of {data['rows']:,}{of} rows"
    return ""


def _top_note(shown: int, total: int, what: str) -> str:
    return f" (top {shown:,} of {total:,} {what})" if shown < total else ""


def make_importance_figure(data: dict[str, Any], *, top: int = 25) -> go.Figure:
    """Permutation importances as horizontal bars with ± one std error bars."""
    if not data.get("features"):
        return empty_figure("No importances to show")
    names = data["features"][:top][::-1]
    means = data["mean"][:top][::-1]
    stds = data["std"][:top][::-1]
    metric = "accuracy" if data["scoring"] == "accuracy" else "R²"
    fig = _base(
        "Permutation importance"
        + _top_note(len(names), len(data["features"]), "features"),
        _join(
            f"drop in {metric} when a feature is shuffled (hold-out)",
            _sample_note(data),
        ),
        height=max(300, 24 * len(names) + 140),
    )
    fig.add_bar(
        x=means,
        y=names,
        orientation="h",
        error_x={"type": "data", "array": stds, "visible": True},
        marker_color=PALETTE[0],
        hovertemplate="%{y}: %{x:.4f}<extra></extra>",
    )
    fig.update_layout(xaxis_title=f"mean drop in {metric} ({data['repeats']} shuffles)")
    fig.update_yaxes(type="category")
    return fig.build()


def make_model_importance_figure(
    data: dict[str, Any] | None, *, top: int = 25
) -> go.Figure:
    """The model's own importances, or its coefficients (one series per class)."""
    if not data:
        return empty_figure("This model has no importances or coefficients of its own")
    values = np.asarray(data["values"], dtype=float)
    names = list(data["names"])
    order = np.argsort(np.abs(values).max(axis=0))[::-1][:top][::-1]
    coef = data["kind"] == "coefficient"
    title = "Coefficients" if coef else "The model's own importances"
    title += _top_note(len(order), len(names), "features")
    note = "on standardised and one-hot encoded features" if coef else "impurity based"
    fig = _base(title, note, height=max(300, 24 * len(order) + 140), barmode="group")
    series = [str(s) for s in data["series"]]
    colors = class_colors(series) if len(series) > 1 else {series[0]: PALETTE[0]}
    for i, name in enumerate(series):
        fig.add_bar(
            x=values[i, order],
            y=[names[j] for j in order],
            orientation="h",
            name=name,
            marker_color=colors[name],
            hovertemplate="%{y}: %{x:.4g}<extra>" + name + "</extra>",
        )
    fig.update_layout(showlegend=len(series) > 1)
    fig.update_yaxes(type="category")
    return fig.build()


def make_pdp_figure(
    data: dict[str, Any], *, output: int = 0, webgl: bool = True
) -> go.Figure:
    """Partial dependence (bold) over ICE lines (thin) for one feature and output."""
    feature = data["feature"]
    label = data["outputs"][output]
    what = "prediction" if label == "prediction" else f"P({label})"
    grid = data["grid"]
    ice = np.asarray(data["ice"], dtype=float)[output]
    per_line = max(len(grid), 1)
    total_points = len(ice) * per_line
    if not webgl and total_points + per_line > WEBGL_MIN_POINTS:  # with the average
        budget = max(1, (WEBGL_MIN_POINTS - per_line) // per_line)
        ice = ice[_even_sample(len(ice), budget)]
    shown_points = len(ice) * per_line
    rows = int(data.get("rows") or len(ice))
    lines = (
        f"thin lines follow {len(ice):,} of {rows:,} rows (ICE)"
        if len(ice) < rows
        else "thin lines follow single rows (ICE)"
    )
    fig = _base(
        f"Partial dependence of {what}" + _points_shown(shown_points, total_points),
        _join(f"on {feature}; {lines}", _sample_note(data)),
        height=420,
    )
    kind = scatter_type(shown_points, webgl=webgl)
    for i, line in enumerate(ice):
        fig.add_points(
            kind,
            x=grid,
            y=line,
            mode="lines",
            line={"color": "rgba(100,116,139,0.25)", "width": 1},
            name="individual rows (ICE)",
            legendgroup="ice",
            showlegend=i == 0,
            hoverinfo="skip",
        )
    fig.add_scatter(
        x=grid,
        y=data["average"][output],
        mode="lines+markers" if data["categorical"] else "lines",
        line={"color": PALETTE[1], "width": 3},
        name="average (partial dependence)",
    )
    fig.update_layout(xaxis_title=feature, yaxis_title=what)
    if data["categorical"]:
        fig.update_xaxes(type="category")
    return fig.build()


def make_pdp2_figure(data: dict[str, Any]) -> go.Figure:
    """Two-way partial dependence as a heatmap (sequential: higher is darker)."""
    f1, f2 = data["features"]
    fig = _base(
        f"Partial dependence of {data['label']}",
        _join(f"on {f1} and {f2}", _sample_note(data)),
        height=420,
    )
    fig.add_heatmap(
        x=data["x"],
        y=data["y"],
        z=data["z"],
        colorscale=SEQUENTIAL,
        colorbar={"title": {"text": data["label"]}},
        hovertemplate=f"{f1}=%{{x:.4g}}<br>{f2}=%{{y:.4g}}<br>"
        "%{z:.4g}<extra></extra>",
    )
    fig.update_layout(xaxis_title=f1, yaxis_title=f2)
    return fig.build()


def make_boundary_figure(
    data: dict[str, Any],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """The decision regions of a model refitted on two features, with the rows.

    Regions and points take their class colours; ``classes``: the run's classes
    (when the refitted model may not have seen them all).
    """
    f1, f2 = data["features"]
    points = data["points"]
    given = len(points["class"])
    keep = _svg_keep(given, webgl)
    labels = np.asarray(points["class"])[keep]
    px = np.asarray(points["x"], dtype=float)[keep]
    py = np.asarray(points["y"], dtype=float)[keep]
    rows = int(data.get("rows") or given)
    drawn = f"{len(keep):,} of {rows:,} rows drawn" if len(keep) < rows else ""
    note = _join(
        f"the same model refitted on {f1} and {f2} only; "
        f"training accuracy {data['accuracy']:.3f}",
        _sample_note(data),
        drawn,
    )
    fig = _base("Decision boundary" + _points_shown(len(keep), given), note, height=470)
    model_classes = [str(c) for c in data["classes"]]
    colors = class_colors([*(classes or []), *model_classes])
    binary = len(model_classes) == 2
    if binary:
        colorscale: Any = [
            [0, _tint(colors[model_classes[0]])],
            [0.5, "#f8fafc"],
            [1, _tint(colors[model_classes[1]])],
        ]
        zmin, zmax = 0.0, 1.0
    else:
        n = len(model_classes)
        colorscale = []
        for i, cls in enumerate(model_classes):
            colorscale += [
                [i / n, _tint(colors[cls])],
                [(i + 1) / n, _tint(colors[cls])],
            ]
        zmin, zmax = -0.5, n - 0.5
    fig.add_contour(
        x=data["x"],
        y=data["y"],
        z=data["z"],
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        showscale=binary,
        contours={"coloring": "fill" if binary else "heatmap", "showlines": binary},
        line={"width": 1},
        hoverinfo="skip",
        name=data["label"],
    )
    kind = scatter_type(len(keep), webgl=webgl)
    for cls in model_classes:
        mask = labels == cls
        fig.add_points(
            kind,
            x=px[mask],
            y=py[mask],
            mode="markers",
            name=cls,
            marker={
                "size": 5,
                "color": colors[cls],
                "line": {"width": 0.5, "color": "white"},
            },
        )
    fig.update_layout(xaxis_title=f1, yaxis_title=f2)
    return fig.build()


def make_calibration_figure(
    curves: Sequence[dict[str, Any]],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """Reliability diagram: observed frequency against predicted probability.

    ``classes``: the model's classes, so that each curve has its class colour.
    """
    if not curves:
        return empty_figure("No calibration curve: the model gives no probabilities")
    fig = _base("Calibration (hold-out)", height=400)
    _chance(fig, "perfectly calibrated")
    note = _class_curves(
        fig,
        curves,
        keys=("predicted", "observed"),
        classes=classes,
        webgl=webgl,
        mode="lines+markers",
    )
    fig.layout["title"]["text"] += note
    fig.update_layout(
        xaxis_title="mean predicted probability", yaxis_title="observed frequency"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def make_probability_figure(probabilities: dict[str, float]) -> go.Figure:
    """Class probabilities of one prediction as bars, each in its class colour.

    Pass every class of the model, in its order (as ``predict_proba`` gives).
    """
    labels = [str(k) for k in probabilities]
    values = list(probabilities.values())
    colors = class_colors(labels)
    fig = _base("Class probabilities", height=max(220, 30 * len(labels) + 100))
    fig.add_bar(
        x=values,
        y=labels,
        orientation="h",
        marker_color=[colors[label] for label in labels],
        text=[f"{v:.1%}" for v in values],
        textposition="auto",
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig.build()


def make_contributions_figure(data: dict[str, Any], *, top: int = 15) -> go.Figure:
    """Each feature's contribution to one prediction, as a waterfall from the
    average prediction (``base``) to this one (see ``row_contributions``)."""
    features, values = list(data.get("features") or []), list(data.get("values") or [])
    if not features:
        return empty_figure("No contributions to show")
    shown = min(top, len(features))
    names, amounts = features[:shown], values[:shown]
    rest = float(sum(values[shown:]))
    if len(features) > shown:
        names.append(f"{len(features) - shown} other features")
        amounts.append(rest)
    output = str(data.get("output", "prediction"))
    fig = _base(
        f"What moved the {output}" + _top_note(shown, len(features), "features"),
        _join(
            f"from {float(data['base']):.4g} on average "
            f"to {float(data['prediction']):.4g} here",
            str(data.get("note") or ""),
        ),
        height=max(300, 26 * (len(names) + 2) + 140),
    )
    fig._add(
        "waterfall",
        orientation="h",
        y=["average"] + names[::-1] + ["this row"],
        x=[float(data["base"])] + [float(v) for v in amounts[::-1]] + [0.0],
        measure=["absolute"] + ["relative"] * len(names) + ["total"],
        increasing={"marker": {"color": PALETTE[3]}},
        decreasing={"marker": {"color": PALETTE[0]}},
        totals={"marker": {"color": MUTED}},
        connector={"line": {"color": OTHER_COLOR}},
        hovertemplate="%{y}: %{x:+.4g}<extra></extra>",
    )
    fig.update_layout(showlegend=False, xaxis_title=output)
    fig.update_yaxes(type="category")
    return fig.build()


# -- comparison --------------------------------------------------------------------


def _compare_curves(
    fig: _Builder,
    runs: Sequence[tuple[str, dict[str, Any]]],
    *,
    key: str,
    keys: tuple[str, str],
    metric: tuple[str, str],
    webgl: bool,
) -> str:
    """The curves of several runs on one plot; returns the notes for the subtitle.

    With more than one class, colour is the class (one legend entry per class,
    toggling it in every run) and the line style is the run (a legend key per
    run). With one curve per run (binary), colour is the run.
    """
    sets = [(str(name), list(report.get(key) or [])) for name, report in runs]
    missing = [name for name, curves in sets if not curves]
    every = [curve for _, curves in sets for curve in curves]
    labels = _dedupe(curve["label"] for curve in every)
    classes = [c for _, report in runs for c in report.get("classes") or []]
    colors = class_colors([*classes, *labels])
    per_class = len(labels) > 1
    total = sum(len(curve[keys[0]]) for curve in every)
    limit = WEBGL_MIN_POINTS // max(len(every), 1)
    thin = not webgl and total > WEBGL_MIN_POINTS
    shown = 0
    traces = []
    in_legend: set[str] = set()
    for i, (name, curves) in enumerate(sets):
        dash = DASHES[i % len(DASHES)] if per_class else "solid"
        for curve in curves:
            n = len(curve[keys[0]])
            keep = _even_sample(n, max(2, limit)) if thin else np.arange(n)
            shown += len(keep)
            label = str(curve["label"])
            text = f"{name} · {label} ({metric[0]} {curve[metric[1]]:.3f})"
            trace = {
                "x": np.asarray(curve[keys[0]])[keep],
                "y": np.asarray(curve[keys[1]])[keep],
                "mode": "lines",
                "hovertemplate": text + "<br>%{x:.3f}, %{y:.3f}<extra></extra>",
            }
            if per_class:
                trace.update(
                    name=label,
                    legendgroup=label,
                    showlegend=label not in in_legend,
                    line={"color": colors[label], "dash": dash},
                )
                in_legend.add(label)
            else:
                trace.update(name=text, line={"color": PALETTE[i % len(PALETTE)]})
            traces.append(trace)
    kind = scatter_type(shown, webgl=webgl)
    for trace in traces:
        fig.add_points(kind, **trace)
    if per_class:
        for i, (name, curves) in enumerate(sets):
            if curves:
                fig.add_scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    line={"color": "#475569", "dash": DASHES[i % len(DASHES)]},
                    name=name,
                    hoverinfo="skip",
                )
        fig.update_layout(
            legend={"title": {"text": "colour: class · line: run", "side": "top"}}
        )
    fig.layout["title"]["text"] += _points_shown(shown, total)
    return f"not shown (no probabilities): {', '.join(missing)}" if missing else ""


def make_roc_comparison_figure(
    runs: Sequence[tuple[str, dict[str, Any]]], *, webgl: bool = True
) -> go.Figure:
    """ROC curves of several runs on one plot: a colour per class, a line per run."""
    fig = _base("ROC curves of the selected runs (hold-out)", height=420)
    _chance(fig, "chance")
    note = _compare_curves(
        fig, runs, key="roc", keys=("fpr", "tpr"), metric=("AUC", "auc"), webgl=webgl
    )
    if note:
        fig.layout["title"]["subtitle"] = {
            "text": note,
            "font": {"size": 12, "color": "#64748b"},
        }
    fig.update_layout(
        xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    return fig.build()


def make_pr_comparison_figure(
    runs: Sequence[tuple[str, dict[str, Any]]], *, webgl: bool = True
) -> go.Figure:
    """Precision-recall curves of several runs: a colour per class, a line per run."""
    fig = _base("Precision-recall curves of the selected runs (hold-out)", height=420)
    note = _compare_curves(
        fig,
        runs,
        key="pr",
        keys=("recall", "precision"),
        metric=("AP", "ap"),
        webgl=webgl,
    )
    if note:
        fig.layout["title"]["subtitle"] = {
            "text": note,
            "font": {"size": 12, "color": "#64748b"},
        }
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    return fig.build()


def make_residuals_comparison_figure(
    runs: Sequence[tuple[str, dict[str, Any]]],
) -> go.Figure:
    """Distributions of the hold-out residuals of several runs, overlaid.

    Runs without predictions (classification runs) are named as not shown.
    """
    left_out = [str(n) for n, r in runs if not r.get("predictions")]
    fig = _base(
        "Residuals of the selected runs (hold-out)",
        f"not shown (no residuals): {', '.join(left_out)}" if left_out else "",
        height=420,
        barmode="overlay",
    )
    for i, (name, report) in enumerate(runs):
        predictions = report.get("predictions")
        if not predictions:
            continue
        residuals = np.asarray(predictions["actual"], dtype=float) - np.asarray(
            predictions["predicted"], dtype=float
        )
        fig.add_histogram(
            x=residuals,
            name=name,
            opacity=0.55,
            nbinsx=40,
            marker_color=PALETTE[i % len(PALETTE)],
        )
    fig.update_layout(xaxis_title="actual − predicted", yaxis_title="rows")
    return fig.build()


# -- figure sets -------------------------------------------------------------------


def make_run_figures(
    report: dict[str, Any], *, normalize: bool = False, webgl: bool = True
) -> list[go.Figure]:
    """The evaluation figures of a run's report, by task."""
    if report["task"] == "classification":
        classes = report["classes"]
        return [
            make_confusion_figure(report["confusion"], classes, normalize=normalize),
            make_roc_figure(report["roc"], classes=classes, webgl=webgl),
            make_pr_figure(report["pr"], classes=classes, webgl=webgl),
            make_calibration_figure(
                report.get("calibration", []), classes=classes, webgl=webgl
            ),
        ]
    return [
        make_prediction_figure(report["predictions"], webgl=webgl),
        make_residuals_figure(report["predictions"], webgl=webgl),
    ]


def make_comparison_figures(
    runs: Sequence[tuple[str, dict[str, Any]]], *, webgl: bool = True
) -> list[go.Figure]:
    """Overlaid curves of several runs: ROC and PR, or residuals.

    When the runs mix tasks, the residuals of the regression runs, naming the
    classification runs left out.
    """
    if all(report["task"] == "classification" for _, report in runs):
        return [
            make_roc_comparison_figure(runs, webgl=webgl),
            make_pr_comparison_figure(runs, webgl=webgl),
        ]
    return [make_residuals_comparison_figure(runs)]
