"""Plotly figures: pure ``make_<thing>_figure(...) -> go.Figure`` functions.

They draw what the pure layer computed; they never fit a model and they keep what
goes to the browser small (pre-aggregated data, sampled WebGL scatters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

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
SEQUENTIAL = "Blues"
DIVERGING = "RdBu"
MAX_SCATTER_POINTS = 10_000
MAX_CATEGORY_TRACES = 12

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
        "legend": {"orientation": "h", "y": -0.2},
        "hoverlabel": {"namelength": -1},
    }
}


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

    def _add(self, kind: str, **trace: Any) -> None:
        self.data.append({"type": kind, **{k: v for k, v in trace.items()}})

    def add_bar(self, **trace: Any) -> None:
        self._add("bar", **_flat(trace))

    def add_scatter(self, **trace: Any) -> None:
        self._add("scatter", **_flat(trace))

    def add_scattergl(self, **trace: Any) -> None:
        self._add("scattergl", **_flat(trace))

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

    def build(self) -> go.Figure:
        """The figure, wrapped without validation."""
        import plotly.graph_objects as go

        return go.Figure(data=self.data, layout=self.layout, _validate=False)

    def as_dict(self) -> dict[str, Any]:
        """The figure as the plain dict ``dcc.Graph`` also takes."""
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
    heading: dict[str, Any] = {"text": title, "x": 0.01}
    if subtitle:
        heading["subtitle"] = {
            "text": subtitle,
            "font": {"size": 12, "color": "#64748b"},
        }
        layout.setdefault("margin", {"t": 70})
    builder = _Builder({"template": TEMPLATE_JSON, "title": heading})
    builder.update_layout(**layout)
    return builder


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


def make_distribution_figure(distribution: dict[str, Any], column: str) -> go.Figure:
    """Bars of a histogram or of value counts, from ``column_distribution`` output."""
    missing = distribution.get("missing", 0)
    subtitle = f"{missing:,} missing values not shown" if missing else ""
    fig = _base(f"Distribution of {column}", subtitle, height=360, bargap=0.05)
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
        if distribution.get("other"):
            labels.append("(other values)")
            counts.append(distribution["other"])
        fig.add_bar(
            x=labels,
            y=counts,
            marker_color=PALETTE[0],
            name=column,
            hovertemplate="%{x}<br>%{y:,} rows<extra></extra>",
        )
        fig.update_xaxes(type="category")
    fig.update_layout(xaxis_title=column, yaxis_title="rows", showlegend=False)
    return fig.build()


def make_correlation_figure(matrix: pd.DataFrame) -> go.Figure:
    """A heatmap of a correlation matrix (from ``correlation_matrix``)."""
    if matrix.empty:
        return empty_figure("Correlations need at least two numeric columns")
    names = [str(c) for c in matrix.columns]
    values = np.round(matrix.to_numpy(dtype=float), 3)
    size = max(360, min(900, 28 * len(names) + 160))
    fig = _base("Correlation (Pearson) between numeric columns", height=size)
    fig.add_heatmap(
        z=values,
        x=names,
        y=names,
        zmin=-1,
        zmax=1,
        colorscale=DIVERGING,
        reversescale=True,
        hovertemplate="%{y} × %{x}<br>r = %{z:.3f}<extra></extra>",
        text=values if len(names) <= 12 else None,
        texttemplate="%{text:.2f}" if len(names) <= 12 else None,
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
) -> go.Figure:
    """A WebGL scatter of two columns coloured by a third, sampled when large."""
    total = len(frame) if total_rows is None else total_rows
    if len(frame) > MAX_SCATTER_POINTS:
        frame = frame.sample(n=MAX_SCATTER_POINTS, random_state=random_state)
    shown = len(frame)
    note = f"a random sample of {shown:,} of {total:,} rows" if shown < total else ""
    fig = _base(f"{y} against {x}", note, height=420)
    marker = {"size": 6 if shown < 2_000 else 4, "opacity": 0.75}
    hover = f"{x}=%{{x}}<br>{y}=%{{y}}<extra>%{{fullData.name}}</extra>"
    if color is None or color not in frame.columns:
        fig.add_scattergl(
            x=frame[x], y=frame[y], mode="markers", marker=marker, name="rows"
        )
    elif _is_categorical(frame[color]):
        values = frame[color].astype(str).where(frame[color].notna(), "(missing)")
        top = values.value_counts().index[:MAX_CATEGORY_TRACES]
        values = values.where(values.isin(top), "(other)")
        for i, level in enumerate(sorted(values.unique(), key=_natural)):
            part = frame[values == level]
            fig.add_scattergl(
                x=part[x],
                y=part[y],
                mode="markers",
                marker={**marker, "color": PALETTE[i % len(PALETTE)]},
                name=f"{color}={level}",
                hovertemplate=hover,
            )
    else:
        fig.add_scattergl(
            x=frame[x],
            y=frame[y],
            mode="markers",
            marker={
                **marker,
                "color": frame[color],
                "colorscale": "Viridis",
                "colorbar": {"title": {"text": color}},
            },
            name=color,
            hovertemplate=hover,
        )
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


def make_confusion_figure(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], *, normalize: bool = False
) -> go.Figure:
    """Confusion matrix heatmap: counts, or each true class's row as proportions."""
    counts = np.asarray(matrix, dtype=float)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        text, fmt = np.round(values, 3), "%{text:.2f}"
    else:
        values, text, fmt = counts, counts.astype(int), "%{text:,}"
    labels = [str(c) for c in classes]
    title = "Confusion matrix (hold-out" + (
        ", normalised by true class)" if normalize else ")"
    )
    fig = _base(title, height=max(360, 40 * len(labels) + 200))
    fig.add_heatmap(
        z=values,
        x=labels,
        y=labels,
        colorscale=SEQUENTIAL,
        text=text,
        texttemplate=fmt if len(labels) <= 20 else None,
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        showscale=False,
    )
    fig.update_layout(xaxis_title="predicted", yaxis_title="true")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig.build()


def make_roc_figure(curves: Sequence[dict[str, Any]]) -> go.Figure:
    """ROC curves (one per class, one-vs-rest) with their AUC in the legend."""
    if not curves:
        return empty_figure("No ROC curve: the model gives no probabilities")
    fig = _base("ROC curve (hold-out)", height=400)
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"dash": "dash", "color": "#94a3b8"},
        name="chance",
        hoverinfo="skip",
    )
    for curve in curves:
        fig.add_scatter(
            x=curve["fpr"],
            y=curve["tpr"],
            mode="lines",
            name=f"{curve['label']} (AUC {curve['auc']:.3f})",
        )
    fig.update_layout(
        xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def make_pr_figure(curves: Sequence[dict[str, Any]]) -> go.Figure:
    """Precision-recall curves (one per class) with average precision in the legend."""
    if not curves:
        return empty_figure(
            "No precision-recall curve: the model gives no probabilities"
        )
    fig = _base("Precision-recall curve (hold-out)", height=400)
    for curve in curves:
        fig.add_scatter(
            x=curve["recall"],
            y=curve["precision"],
            mode="lines",
            name=f"{curve['label']} (AP {curve['ap']:.3f})",
        )
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def make_prediction_figure(predictions: dict[str, Any]) -> go.Figure:
    """Predicted against actual values on the hold-out, with the ideal diagonal."""
    actual = np.asarray(predictions["actual"], dtype=float)
    predicted = np.asarray(predictions["predicted"], dtype=float)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    note = _prediction_note(predictions)
    fig = _base("Predicted vs actual (hold-out)", note, height=420)
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    fig.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        line={"dash": "dash", "color": "#94a3b8"},
        name="perfect",
        hoverinfo="skip",
    )
    fig.add_scattergl(
        x=actual,
        y=predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[0]},
        name="rows",
        hovertemplate="actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
    )
    fig.update_layout(xaxis_title="actual", yaxis_title="predicted")
    return fig.build()


def make_residuals_figure(predictions: dict[str, Any]) -> go.Figure:
    """Residuals (actual − predicted) against predicted values."""
    actual = np.asarray(predictions["actual"], dtype=float)
    predicted = np.asarray(predictions["predicted"], dtype=float)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    note = _prediction_note(predictions)
    fig = _base("Residuals (hold-out)", note, height=420)
    fig.add_scattergl(
        x=predicted,
        y=actual - predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[1]},
        name="residual",
        hovertemplate="predicted %{x:.4g}<br>residual %{y:.4g}<extra></extra>",
    )
    fig.add_hline(y=0, line_dash="dash", line_color="#94a3b8")
    fig.update_layout(xaxis_title="predicted", yaxis_title="actual − predicted")
    return fig.build()


def _prediction_note(predictions: dict[str, Any]) -> str:
    shown, total = predictions.get("shown"), predictions.get("total")
    if shown and total and shown < total:
        return f"a random sample of {shown:,} of {total:,} rows"
    return ""


# -- explanation -----------------------------------------------------------------


def _sample_note(data: dict[str, Any]) -> str:
    if data.get("sampled"):
        return f"computed on a random sample of {data['rows']:,} rows"
    return ""


def make_importance_figure(data: dict[str, Any], *, top: int = 25) -> go.Figure:
    """Permutation importances as horizontal bars with ± one std error bars."""
    if not data.get("features"):
        return empty_figure("No importances to show")
    names = data["features"][:top][::-1]
    means = data["mean"][:top][::-1]
    stds = data["std"][:top][::-1]
    metric = "accuracy" if data["scoring"] == "accuracy" else "R²"
    fig = _base(
        "Permutation importance",
        f"drop in {metric} when a feature is shuffled (hold-out). "
        + _sample_note(data),
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
    note = "on standardised and one-hot encoded features" if coef else "impurity based"
    fig = _base(title, note, height=max(300, 24 * len(order) + 140), barmode="group")
    for i, series in enumerate(data["series"]):
        fig.add_bar(
            x=values[i, order],
            y=[names[j] for j in order],
            orientation="h",
            name=series,
            marker_color=PALETTE[i % len(PALETTE)],
            hovertemplate="%{y}: %{x:.4g}<extra>" + series + "</extra>",
        )
    fig.update_layout(showlegend=len(data["series"]) > 1)
    fig.update_yaxes(type="category")
    return fig.build()


def make_pdp_figure(data: dict[str, Any], *, output: int = 0) -> go.Figure:
    """Partial dependence (bold) over ICE lines (thin) for one feature and output."""
    feature = data["feature"]
    label = data["outputs"][output]
    what = "prediction" if label == "prediction" else f"P({label})"
    fig = _base(
        f"Partial dependence of {what}",
        f"on {feature}; thin lines follow single rows (ICE). {_sample_note(data)}",
        height=420,
    )
    grid = data["grid"]
    ice = np.asarray(data["ice"], dtype=float)[output]
    for i, line in enumerate(ice):
        fig.add_scattergl(
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
    """Two-way partial dependence as a heatmap."""
    f1, f2 = data["features"]
    fig = _base(
        f"Partial dependence of {data['label']}",
        f"on {f1} and {f2}. {_sample_note(data)}",
        height=420,
    )
    fig.add_heatmap(
        x=data["x"],
        y=data["y"],
        z=data["z"],
        colorscale="Viridis",
        colorbar={"title": {"text": data["label"]}},
        hovertemplate=f"{f1}=%{{x:.4g}}<br>{f2}=%{{y:.4g}}<br>"
        "%{z:.4g}<extra></extra>",
    )
    fig.update_layout(xaxis_title=f1, yaxis_title=f2)
    return fig.build()


def make_boundary_figure(data: dict[str, Any]) -> go.Figure:
    """The decision regions of a model refitted on two features, with the rows."""
    f1, f2 = data["features"]
    note = (
        f"the same model refitted on {f1} and {f2} only; "
        f"training accuracy {data['accuracy']:.3f}. {_sample_note(data)}"
    )
    fig = _base("Decision boundary", note, height=470)
    classes = data["classes"]
    binary = len(classes) == 2
    if binary:
        colorscale: Any = [[0, "#dbeafe"], [0.5, "#f8fafc"], [1, "#ffedd5"]]
        zmin, zmax = 0.0, 1.0
    else:
        n = len(classes)
        colorscale = []
        for i in range(n):
            colorscale += [
                [i / n, _tint(PALETTE[i % len(PALETTE)])],
                [(i + 1) / n, _tint(PALETTE[i % len(PALETTE)])],
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
    points = data["points"]
    labels = np.asarray(points["class"])
    for i, cls in enumerate(classes):
        mask = labels == cls
        fig.add_scattergl(
            x=np.asarray(points["x"])[mask],
            y=np.asarray(points["y"])[mask],
            mode="markers",
            name=str(cls),
            marker={
                "size": 5,
                "color": PALETTE[(i if not binary else i) % len(PALETTE)],
                "line": {"width": 0.5, "color": "white"},
            },
        )
    fig.update_layout(xaxis_title=f1, yaxis_title=f2)
    return fig.build()


def _tint(color: str, amount: float = 0.75) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(c + (255 - c) * amount) for c in (r, g, b)]
    return f"rgb({mix[0]},{mix[1]},{mix[2]})"


def make_calibration_figure(curves: Sequence[dict[str, Any]]) -> go.Figure:
    """Reliability diagram: observed frequency against predicted probability."""
    if not curves:
        return empty_figure("No calibration curve: the model gives no probabilities")
    fig = _base("Calibration (hold-out)", height=400)
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"dash": "dash", "color": "#94a3b8"},
        name="perfectly calibrated",
        hoverinfo="skip",
    )
    for curve in curves:
        fig.add_scatter(
            x=curve["predicted"],
            y=curve["observed"],
            mode="lines+markers",
            name=curve["label"],
        )
    fig.update_layout(
        xaxis_title="mean predicted probability", yaxis_title="observed frequency"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def make_probability_figure(probabilities: dict[str, float]) -> go.Figure:
    """Class probabilities of one prediction as bars."""
    labels = list(probabilities)
    values = [probabilities[k] for k in labels]
    fig = _base("Class probabilities", height=max(220, 30 * len(labels) + 100))
    fig.add_bar(
        x=values,
        y=labels,
        orientation="h",
        marker_color=PALETTE[0],
        text=[f"{v:.1%}" for v in values],
        textposition="auto",
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig.build()


# -- comparison --------------------------------------------------------------------


def make_roc_comparison_figure(runs: Sequence[tuple[str, dict[str, Any]]]) -> go.Figure:
    """ROC curves of several runs (the first class curve of each) on one plot."""
    fig = _base("ROC curves of the selected runs (hold-out)", height=420)
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"dash": "dash", "color": "#94a3b8"},
        name="chance",
        hoverinfo="skip",
    )
    for i, (name, report) in enumerate(runs):
        for j, curve in enumerate(report.get("roc") or []):
            fig.add_scatter(
                x=curve["fpr"],
                y=curve["tpr"],
                mode="lines",
                line={
                    "color": PALETTE[i % len(PALETTE)],
                    "dash": ("solid", "dot", "dash", "dashdot")[j % 4],
                },
                name=f"{name} · {curve['label']} (AUC {curve['auc']:.3f})",
            )
    fig.update_layout(
        xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    return fig.build()


def make_pr_comparison_figure(runs: Sequence[tuple[str, dict[str, Any]]]) -> go.Figure:
    """Precision-recall curves of several runs on one plot."""
    fig = _base("Precision-recall curves of the selected runs (hold-out)", height=420)
    for i, (name, report) in enumerate(runs):
        for j, curve in enumerate(report.get("pr") or []):
            fig.add_scatter(
                x=curve["recall"],
                y=curve["precision"],
                mode="lines",
                line={
                    "color": PALETTE[i % len(PALETTE)],
                    "dash": ("solid", "dot", "dash", "dashdot")[j % 4],
                },
                name=f"{name} · {curve['label']} (AP {curve['ap']:.3f})",
            )
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    return fig.build()


def make_residuals_comparison_figure(
    runs: Sequence[tuple[str, dict[str, Any]]],
) -> go.Figure:
    """Distributions of the hold-out residuals of several runs, overlaid."""
    fig = _base(
        "Residuals of the selected runs (hold-out)", height=420, barmode="overlay"
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
    report: dict[str, Any], *, normalize: bool = False
) -> list[go.Figure]:
    """The evaluation figures of a run's report, by task."""
    if report["task"] == "classification":
        return [
            make_confusion_figure(
                report["confusion"], report["classes"], normalize=normalize
            ),
            make_roc_figure(report["roc"]),
            make_pr_figure(report["pr"]),
            make_calibration_figure(report.get("calibration", [])),
        ]
    return [
        make_prediction_figure(report["predictions"]),
        make_residuals_figure(report["predictions"]),
    ]


def make_comparison_figures(
    runs: Sequence[tuple[str, dict[str, Any]]],
) -> list[go.Figure]:
    """Overlaid curves of several runs: ROC and PR, or residuals."""
    if all(report["task"] == "classification" for _, report in runs):
        return [make_roc_comparison_figure(runs), make_pr_comparison_figure(runs)]
    regression = [(n, r) for n, r in runs if r["task"] != "classification"]
    return [make_residuals_comparison_figure(regression)]
