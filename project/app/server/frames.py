"""A data frame as the store keeps it: compressed Parquet bytes."""

from __future__ import annotations

import io

import pandas as pd


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise a frame to compressed parquet bytes.

    Dictionary encoding is kept for the columns it helps (text, integers) and
    skipped for floats, where trying it costs seconds on a million rows and
    saves nothing.
    """
    buffer = io.BytesIO()
    dictionary = [
        str(c) for c in frame.columns if not pd.api.types.is_float_dtype(frame[c])
    ]
    frame.to_parquet(
        buffer,
        engine="pyarrow",
        compression="zstd",
        compression_level=1,
        use_dictionary=dictionary,
        index=False,
        row_group_size=262_144,
    )
    release_arrow_memory()
    return buffer.getvalue()


def release_arrow_memory() -> None:
    """Give back to the system what Arrow's allocator kept from encoding or
    decoding Parquet: two or three times the frame, which would otherwise stay in
    a web worker for good, or count against a job's memory budget."""
    import pyarrow

    pyarrow.default_memory_pool().release_unused()
