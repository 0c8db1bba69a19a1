"""Bundled datasets: scikit-learn's shipped ones and synthetic generators."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

TARGET = "target"
MAX_SYNTHETIC_ROWS = 1_000_000
MAX_SYNTHETIC_FEATURES = 50


@dataclass(frozen=True)
class DatasetSpec:
    """One bundled dataset as offered in the data-source dropdown."""

    key: str
    label: str
    task: str
    synthetic: bool = False
    default_rows: int = 0
    default_noise: float = 0.0
    default_features: int = 2


DATASETS: dict[str, DatasetSpec] = {
    spec.key: spec
    for spec in (
        DatasetSpec("iris", "Iris flowers (150 × 4, 3 classes)", "classification"),
        DatasetSpec("wine", "Wine cultivars (178 × 13, 3 classes)", "classification"),
        DatasetSpec(
            "breast_cancer",
            "Breast cancer (569 × 30, 2 classes)",
            "classification",
        ),
        DatasetSpec(
            "digits", "Handwritten digits (1,797 × 64, 10 classes)", "classification"
        ),
        DatasetSpec("diabetes", "Diabetes progression (442 × 10)", "regression"),
        DatasetSpec(
            "moons", "Synthetic: two moons", "classification", True, 500, 0.2, 2
        ),
        DatasetSpec(
            "circles", "Synthetic: circles", "classification", True, 500, 0.1, 2
        ),
        DatasetSpec("blobs", "Synthetic: blobs", "classification", True, 500, 1.0, 2),
        DatasetSpec(
            "classification",
            "Synthetic: classification",
            "classification",
            True,
            1_000,
            0.01,
            10,
        ),
        DatasetSpec(
            "regression", "Synthetic: regression", "regression", True, 1_000, 10.0, 10
        ),
    )
}


def dataset_options() -> list[dict[str, str]]:
    """Options for the data-source dropdown, in display order."""
    return [{"label": spec.label, "value": key} for key, spec in DATASETS.items()]


def load_bundled(
    key: str,
    *,
    n_samples: int | None = None,
    noise: float | None = None,
    n_features: int | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Return a bundled dataset as a frame whose last column is ``target``.

    Parameters
    ----------
    key : str
        A key of :data:`DATASETS`.
    n_samples, noise, n_features : optional
        Generator controls, used by synthetic datasets only (defaults from the spec).
    random_state : int
        Seed of synthetic generators.
    """
    if key not in DATASETS:
        raise KeyError(f"Unknown dataset {key!r}")
    spec = DATASETS[key]
    if not spec.synthetic:
        return _load_shipped(key)
    rows = int(n_samples or spec.default_rows)
    if not 10 <= rows <= MAX_SYNTHETIC_ROWS:
        raise ValueError(f"Rows must be between 10 and {MAX_SYNTHETIC_ROWS:,}.")
    features = int(n_features or spec.default_features)
    if not 2 <= features <= MAX_SYNTHETIC_FEATURES:
        raise ValueError(f"Features must be between 2 and {MAX_SYNTHETIC_FEATURES}.")
    level = spec.default_noise if noise is None else float(noise)
    if level < 0:
        raise ValueError("Noise must not be negative.")
    return _generate(key, rows, level, features, int(random_state))


def _load_shipped(key: str) -> pd.DataFrame:
    from sklearn import datasets

    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }[key]
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [_snake(c) for c in frame.columns]
    target = frame.pop(TARGET).to_numpy()
    names = getattr(bunch, "target_names", None)
    if key in ("iris", "wine", "breast_cancer") and names is not None:
        target = np.asarray(names)[target]
    frame[TARGET] = target
    return frame


def _snake(name: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def _generate(
    key: str, rows: int, noise: float, features: int, seed: int
) -> pd.DataFrame:
    from sklearn import datasets

    if key == "moons":
        x, y = datasets.make_moons(n_samples=rows, noise=noise, random_state=seed)
    elif key == "circles":
        x, y = datasets.make_circles(
            n_samples=rows, noise=noise, factor=0.5, random_state=seed
        )
    elif key == "blobs":
        x, y = datasets.make_blobs(
            n_samples=rows,
            n_features=features,
            centers=3,
            cluster_std=max(noise, 1e-3),
            random_state=seed,
        )
    elif key == "classification":
        informative = max(2, features // 2)
        x, y = datasets.make_classification(
            n_samples=rows,
            n_features=features,
            n_informative=informative,
            n_redundant=min(2, features - informative),
            flip_y=min(noise, 0.5),
            random_state=seed,
        )
    else:
        x, y = datasets.make_regression(
            n_samples=rows,
            n_features=features,
            n_informative=max(1, features // 2),
            noise=noise,
            random_state=seed,
        )
    columns = [f"x{i + 1}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x.astype(np.float32 if rows > 100_000 else np.float64))
    frame.columns = columns
    frame[TARGET] = y if key == "regression" else y.astype(np.int64)
    return frame
