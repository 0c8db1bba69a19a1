"""The one exception every refusal raises, and the formats named in refusals."""

from __future__ import annotations

_SUPPORTED = "CSV, TSV, Excel (.xlsx) or Parquet"


class DataLoadError(ValueError):
    """A file that cannot be loaded; ``str(exc)`` is a message for the visitor."""
