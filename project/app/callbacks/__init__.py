"""Callback modules: unpack inputs, call functions, then figures, return."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..store import SessionStore
from .data import DataCallbacks
from .explain import ExplainCallbacks
from .export import ExportCallbacks
from .predict import PredictCallbacks
from .train import TrainCallbacks

__all__ = [
    "DataCallbacks",
    "ExplainCallbacks",
    "ExportCallbacks",
    "PredictCallbacks",
    "TrainCallbacks",
    "register_callbacks",
]


def register_callbacks(app: Any, store: SessionStore, settings: Settings) -> None:
    """Wire every callback of the app to ``app``."""
    for group in (
        DataCallbacks,
        TrainCallbacks,
        ExplainCallbacks,
        PredictCallbacks,
        ExportCallbacks,
    ):
        group(store, settings).register(app)
