"""One module per part of the page: its layout beside its callbacks."""

from __future__ import annotations

from typing import Any

from app.config import Settings
from app.server.shares import Shares
from app.server.store import SessionStore
from app.ui.tabs.data import DataCallbacks
from app.ui.tabs.explain import ExplainCallbacks
from app.ui.tabs.export import ExportCallbacks
from app.ui.tabs.predict import PredictCallbacks
from app.ui.tabs.train import TrainCallbacks
from app.ui.tabs.tune import TuneCallbacks
from app.ui.tabs.workspace import WorkspaceCallbacks

__all__ = [
    "DataCallbacks",
    "ExplainCallbacks",
    "ExportCallbacks",
    "PredictCallbacks",
    "TrainCallbacks",
    "TuneCallbacks",
    "WorkspaceCallbacks",
    "register_callbacks",
]


def register_callbacks(
    app: Any, store: SessionStore, settings: Settings, shares: Shares | None = None
) -> None:
    """Wire every callback of the app to ``app`` (``shares``: the published runs,
    by default those of the settings)."""
    for group in (
        DataCallbacks,
        TrainCallbacks,
        TuneCallbacks,
        ExplainCallbacks,
        PredictCallbacks,
    ):
        group(store, settings).register(app)
    ExportCallbacks(store, settings, shares).register(app)
    WorkspaceCallbacks(store, settings, shares).register(app)
