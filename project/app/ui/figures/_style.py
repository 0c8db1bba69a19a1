"""The one style of every figure: palette, template, scales, the figure builder."""

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
