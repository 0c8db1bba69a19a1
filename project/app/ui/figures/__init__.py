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

from app.ui.figures._style import (
    AXIS_BAND_PX,
    CLASS_PALETTE,
    DARK_TEXT,
    DASHES,
    DIVERGING,
    LEGEND_PLOT_PX,
    LEGEND_ROW_PX,
    MAX_CATEGORY_TRACES,
    MAX_CELL_TEXT,
    MAX_LEGEND_COLUMNS,
    MAX_SCATTER_POINTS,
    MODEBAR_PX,
    MUTED,
    OTHER_COLOR,
    PALETTE,
    SEQUENTIAL,
    SUBTITLE_PX,
    TEMPLATE_JSON,
    TITLE_PX,
    WEBGL_MIN_POINTS,
    _scale_color,
    class_colors,
    empty_figure,
    empty_figure_dict,
    scatter_type,
)
from app.ui.figures.compare import (
    make_comparison_figures,
    make_pr_comparison_figure,
    make_residuals_comparison_figure,
    make_roc_comparison_figure,
)
from app.ui.figures.data import (
    make_correlation_figure,
    make_distribution_figure,
    make_scatter_figure,
)
from app.ui.figures.explain import (
    make_boundary_figure,
    make_contributions_figure,
    make_importance_figure,
    make_model_importance_figure,
    make_pdp2_figure,
    make_pdp_figure,
    make_probability_figure,
)
from app.ui.figures.runs import (
    make_calibration_figure,
    make_confusion_figure,
    make_pr_figure,
    make_prediction_figure,
    make_residuals_figure,
    make_roc_figure,
    make_run_figures,
)
from app.ui.figures.tuning import make_search_figure

__all__ = [
    "PALETTE",
    "CLASS_PALETTE",
    "SEQUENTIAL",
    "DIVERGING",
    "DARK_TEXT",
    "MUTED",
    "OTHER_COLOR",
    "DASHES",
    "MAX_SCATTER_POINTS",
    "MAX_CATEGORY_TRACES",
    "MAX_CELL_TEXT",
    "WEBGL_MIN_POINTS",
    "MODEBAR_PX",
    "TITLE_PX",
    "SUBTITLE_PX",
    "AXIS_BAND_PX",
    "LEGEND_ROW_PX",
    "LEGEND_PLOT_PX",
    "MAX_LEGEND_COLUMNS",
    "TEMPLATE_JSON",
    "scatter_type",
    "class_colors",
    "_scale_color",
    "empty_figure",
    "empty_figure_dict",
    "make_distribution_figure",
    "make_correlation_figure",
    "make_scatter_figure",
    "make_confusion_figure",
    "make_roc_figure",
    "make_pr_figure",
    "make_prediction_figure",
    "make_residuals_figure",
    "make_importance_figure",
    "make_model_importance_figure",
    "make_pdp_figure",
    "make_pdp2_figure",
    "make_boundary_figure",
    "make_calibration_figure",
    "make_probability_figure",
    "make_contributions_figure",
    "make_roc_comparison_figure",
    "make_pr_comparison_figure",
    "make_residuals_comparison_figure",
    "make_run_figures",
    "make_comparison_figures",
    "make_search_figure",
]
