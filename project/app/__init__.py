"""Dashboard: an interactive scikit-learn dashboard built with Plotly Dash."""

__version__ = "0.1.0"
