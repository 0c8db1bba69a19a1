"""The benchmark's baseline: a minimal one-div Dash app, served like the real one."""

from dash import Dash, html

app = Dash(__name__, compress=True)
app.layout = html.Div("Hello")
server = app.server
