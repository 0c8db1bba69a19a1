"""Shared fixtures: settings with a temporary cache, a store, small datasets; and
the test tiers (``make unit`` runs neither ``integration``, ``e2e`` nor ``slow``)."""

from __future__ import annotations

import pandas as pd
import pytest

from app.config import Settings
from app.ml import TrainConfig, load_bundled, train_model
from app.server.store import SessionStore, new_session_id

#: Modules whose tests start a server: gunicorn, several app instances, Redis.
SERVER_MODULES = {
    "test_gunicorn",
    "test_bigdata",
    "test_fair_jobs",
    "test_distributed",
    "test_distributed_share",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test that starts a server or needs Redis."""
    for item in items:
        module = getattr(item, "module", None)
        name = module.__name__.rsplit(".", 1)[-1] if module else ""
        fixtures = getattr(item, "fixturenames", ())
        params = getattr(getattr(item, "callspec", None), "id", "").split("-")
        if name in SERVER_MODULES or "redis_server" in fixtures or "redis" in params:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings whose cache lives in the test's temporary directory, sized as
    for a 16 GiB machine whatever this one has."""
    return Settings(
        cache_dir=str(tmp_path / "cache"), max_upload_mb=2.0, memory_mb=16_384
    )


@pytest.fixture
def store(settings) -> SessionStore:
    """A fresh session store on disk."""
    return SessionStore.from_settings(settings)


@pytest.fixture
def sid() -> str:
    """A fresh session id."""
    return new_session_id()


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    return load_bundled("iris")


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    return load_bundled("breast_cancer")


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    return load_bundled("diabetes")


@pytest.fixture(scope="session")
def iris_run(iris):
    """Logistic regression fitted on iris with the default validation."""
    config = TrainConfig(
        target="target",
        features=tuple(c for c in iris.columns if c != "target"),
        task="classification",
        model="logistic_regression",
    )
    return config, train_model(iris, config)
