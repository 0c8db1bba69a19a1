"""Callback modules: unpack inputs, call functions, then figures, return."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..store import SessionStore
from .data import DataCallbacks
from .train import TrainCallbacks

__all__ = ["DataCallbacks", "TrainCallbacks", "register_callbacks"]


def register_callbacks(app: Any, store: SessionStore, settings: Settings) -> None:
    """Wire every callback of the app to ``app``."""
    DataCallbacks(store, settings).register(app)
    TrainCallbacks(store, settings).register(app)
