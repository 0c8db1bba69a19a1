"""Parquet files, measured from the footer and in batches before they are loaded.

pyarrow is imported only when a Parquet file is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pandas as pd

from app.ml.loading.errors import DataLoadError
from app.ml.loading.limits import (
    _MB,
    _count,
    _Limits,
    _sizes,
    _too_large_table,
    _too_many_cells,
    _too_many_columns,
    _too_many_rows,
)
from app.ml.loading.names import _quote

# Parquet: a table's size is its decoded Arrow size (dictionaries expanded), plus
# one Python object per cell of the columns pandas holds as objects.
_OFFSET = 4  # bytes of one offset of an Arrow string array
_OBJECT_CELL = 100  # bytes, decimals, dates, lists, records: one Python object each
_BATCH_BYTES = 16 * _MB  # Parquet is measured in batches of about this size
_MIN_BATCH_ROWS = 16
_MAX_BATCH_ROWS = 65_536
_LONG_VALUE = _MB  # a repeated Parquet value longer than this is refused early
_ESTIMATE_MARGIN = 2  # refuse on the first batch's estimate beyond this × the limit
_PARQUET_MAX_GROUPS = 10_000  # each row group costs a little time to read


def _read_parquet(
    content: bytes, limits: _Limits
) -> tuple[pd.DataFrame, list[str], bool | None]:
    """Read a Parquet file once its decoded size is known to be within the limits."""
    damaged = DataLoadError(
        "The Parquet file is damaged or incomplete, so it cannot be read."
    )
    if len(content) < 12 or not content.endswith(b"PAR1"):
        raise damaged
    try:
        import pyarrow.parquet as pq

        parquet_file = pq.ParquetFile(_arrow_source(content), pre_buffer=False)
        metadata, schema = parquet_file.metadata, parquet_file.schema_arrow
        groups = metadata.num_row_groups
    except Exception:
        raise damaged from None
    if groups > _PARQUET_MAX_GROUPS:
        raise DataLoadError(
            f"The Parquet file is split into {groups:,} row groups, more than the "
            f"{_PARQUET_MAX_GROUPS:,} this app reads, for speed. Please save it "
            "again with larger row groups, or as CSV."
        )
    try:
        layout = _ParquetLayout.of(metadata, schema)
    except Exception:
        raise damaged from None
    _check_parquet_layout(layout, limits)
    try:
        batch_rows = _parquet_batch_rows(content, layout, limits.table_bytes)
        table = _read_parquet_batches(content, layout, limits.table_bytes, batch_rows)
        # As pandas.read_parquet does, without holding both copies at once.
        frame = table.to_pandas(self_destruct=True, split_blocks=True)
        del table
    except (DataLoadError, MemoryError):
        raise
    except Exception:
        raise damaged from None
    notes: list[str] = []
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        if any(n is not None for n in index.names):
            frame = frame.reset_index()
            notes.append("Turned the file's saved row index into ordinary columns.")
    frame = frame.reset_index(drop=True)
    frame, plain_notes = _plain_columns(frame, _binary_columns(schema))
    notes += plain_notes
    if frame.shape[1] == 0:
        raise DataLoadError("The Parquet file has no columns.")
    return frame, notes, None


@dataclass(frozen=True)
class _ParquetLayout:
    """What a Parquet file's footer says about its size, per column.

    ``fields`` are the top-level columns: name, how pandas holds a cell
    (``"number"``, ``"text"`` or ``"object"``) and the indices of their leaf
    columns. ``values[g][i]`` is how many values leaf ``i`` holds in row group
    ``g`` (the reader never decodes more than that); ``group_rows[g]`` the
    group's rows; ``widths[i]`` the bytes of one value of leaf ``i``, or 0 for
    variable-length bytes; ``paths[i]`` its dotted path; ``row_bytes`` the
    bytes one row of the number columns takes.
    """

    rows: int
    leaves: int
    declared: int
    row_bytes: int
    fields: tuple[tuple[str, str, tuple[int, ...]], ...]
    values: tuple[tuple[int, ...], ...]
    group_rows: tuple[int, ...]
    widths: tuple[int, ...]
    paths: tuple[str, ...]

    @classmethod
    def of(cls, metadata: Any, schema: Any) -> "_ParquetLayout":
        """Read the layout from a file's metadata and Arrow schema."""
        groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
        leaves = metadata.num_columns
        fields, first, row_bytes = [], 0, 0
        for field in schema:
            count = _leaf_count(field.type)
            indices = tuple(range(first, first + count))
            kind = _cell_kind(field.type)
            fields.append((field.name, kind, indices))
            first += count
            if kind == "number":
                row_bytes += _number_width(field.type)
        if first != leaves:
            raise ValueError("the Arrow schema does not match the Parquet columns")
        parquet_schema = metadata.schema
        return cls(
            rows=metadata.num_rows,
            leaves=leaves,
            declared=sum(group.total_byte_size for group in groups),
            row_bytes=row_bytes,
            fields=tuple(fields),
            values=tuple(
                tuple(group.column(i).num_values for i in range(leaves))
                for group in groups
            ),
            group_rows=tuple(group.num_rows for group in groups),
            widths=tuple(_leaf_width(parquet_schema.column(i)) for i in range(leaves)),
            paths=tuple(parquet_schema.column(i).path for i in range(leaves)),
        )

    @property
    def unique_names(self) -> bool:
        """Whether the top-level columns can be selected by name."""
        return len({name for name, _, _ in self.fields}) == len(self.fields)

    @property
    def cells(self) -> int:
        """Values held, counting each row of each leaf at least once."""
        held = sum(sum(group) for group in self.values)
        return max(self.rows * self.leaves, held)


def _check_parquet_layout(layout: _ParquetLayout, limits: _Limits) -> None:
    """Refuse from the footer alone: columns, rows, cells, declared size."""
    if layout.leaves > limits.max_columns:
        raise _too_many_columns(layout.leaves, limits.max_columns)
    if layout.rows > limits.max_rows:
        raise _too_many_rows(limits.max_rows)
    if layout.rows * layout.leaves > limits.max_cells:
        raise _too_many_cells(layout.rows, layout.leaves, limits.max_cells)
    if layout.cells > limits.max_cells:
        raise DataLoadError(
            f"The Parquet file holds {layout.cells:,} values in "
            f"{_count(layout.rows, 'row')} and {_count(layout.leaves, 'column')} "
            f"(some cells hold lists), more than the {limits.max_cells:,} cells "
            "this app accepts per table. "
            "Please upload fewer rows or columns."
        )
    if layout.declared > limits.table_bytes:
        raise _too_large_table("Parquet file", layout.declared, limits.table_bytes)


def _parquet_batch_rows(content: bytes, layout: _ParquetLayout, limit: int) -> int:
    """How many rows to decode at a time so that one batch stays near 16 MB.

    Numbers take their Arrow width, known from the footer. For text, the longest
    value of each column chunk's dictionary is read (a small file can repeat one
    long value a million times): a file that repeats a value over 1 MB and could
    exceed the limit by doing so is refused here.
    """
    fixed = layout.row_bytes * layout.rows
    if fixed > limit:
        raise _too_large_table("Parquet file", fixed, limit)
    measured = [f for f in layout.fields if f[1] != "number"]
    if not measured or layout.rows == 0:
        return _MAX_BATCH_ROWS
    longest = _longest_dictionary_values(content, layout, measured)
    worst, per_row = fixed, 1
    for group, rows in enumerate(layout.group_rows):
        group_per_row = layout.row_bytes
        for name, kind, indices in measured:
            worst += rows * (_OFFSET if kind == "text" else _OBJECT_CELL)
            for i in indices:
                held = layout.values[group][i]
                width = layout.widths[i] or (
                    _LONG_VALUE if longest is None else longest[group].get(name, 0)
                )
                worst += held * width
                group_per_row += width * -(-held // max(rows, 1))
        per_row = max(per_row, group_per_row)
    value = max((max(g.values(), default=0) for g in longest or []), default=0)
    if value > _LONG_VALUE and worst > limit:
        shown, _ = _sizes(value, limit)
        total, bound = _sizes(worst, limit)
        raise DataLoadError(
            f"The Parquet file repeats a value of {shown}, which could unpack to "
            f"{total}, more than the {bound} this app can process per table. "
            "Please upload a smaller file or fewer rows."
        )
    return min(max(_BATCH_BYTES // per_row, _MIN_BATCH_ROWS), _MAX_BATCH_ROWS)


def _longest_dictionary_values(
    content: bytes, layout: _ParquetLayout, measured: list[Any]
) -> list[dict[str, int]] | None:
    """Per row group, the longest dictionary value of each measured column.

    Reading the first row of a group with ``read_dictionary`` returns the column
    chunk's whole dictionary without expanding it. None when the file cannot be
    read that way (then nothing is known about long values).
    """
    import pyarrow.parquet as pq

    byte_leaves = [i for _, _, ix in measured for i in ix if not layout.widths[i]]
    found: list[dict[str, int]] = [{} for _ in layout.group_rows]
    if not byte_leaves:
        return found
    names = [name for name, _, _ in measured] if layout.unique_names else None
    try:
        probe = pq.ParquetFile(
            _arrow_source(content),
            read_dictionary=[layout.paths[i] for i in byte_leaves],
            pre_buffer=False,
        )
        for group, rows in enumerate(layout.group_rows):
            if rows == 0:
                continue
            batches = probe.iter_batches(
                batch_size=1, row_groups=[group], columns=names, use_threads=False
            )
            try:
                batch = next(batches, None)
            finally:
                batches.close()
            if batch is None:
                continue
            for name, column in zip(batch.schema.names, batch.columns):
                found[group][name] = max(
                    (_longest_value(d) for d in _dictionaries(column)), default=0
                )
    except MemoryError:
        raise
    except Exception:
        return None
    return found


def _read_parquet_batches(
    content: bytes, layout: _ParquetLayout, limit: int, batch_rows: int
) -> Any:
    """The file's table, decoded in batches; refused once it is over the limit.

    The size of each batch is added up as it comes (dictionaries counted
    expanded, as pandas will hold them); the first batch also gives an estimate
    for the whole file, which refuses a file far over the limit at once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = [kind for _, kind, _ in layout.fields]
    fixed = layout.row_bytes * layout.rows
    parquet_file = pq.ParquetFile(_arrow_source(content), pre_buffer=False)
    batches = parquet_file.iter_batches(batch_size=batch_rows, use_pandas_metadata=True)
    kept, size, seen = [], fixed, 0
    try:
        for batch in batches:
            for kind, column in zip(kinds, batch.columns):
                if kind != "number":
                    size += _decoded_bytes(column)
                if kind == "object":
                    size += _OBJECT_CELL * len(column)
            first = seen == 0
            seen += batch.num_rows
            estimate = fixed + (size - fixed) * layout.rows // max(seen, 1)
            if size > limit or (first and estimate > _ESTIMATE_MARGIN * limit):
                raise _too_large_table("Parquet file", max(estimate, size), limit)
            kept.append(batch)
    finally:
        batches.close()
    return pa.Table.from_batches(kept, schema=parquet_file.schema_arrow)


def _arrow_source(content: bytes) -> Any:
    """The bytes as a file pyarrow reads without copying them."""
    import pyarrow as pa

    return pa.BufferReader(content)


def _leaf_width(column: Any) -> int:
    """Bytes of one value of a Parquet leaf column; 0 for variable-length bytes."""
    kind = column.physical_type
    if kind == "FIXED_LEN_BYTE_ARRAY":
        return max(int(column.length), 1)
    return {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8}.get(
        kind, 12 if kind == "INT96" else 0
    )


def _leaf_count(kind: Any) -> int:
    """How many Parquet leaf columns an Arrow type is stored as."""
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):
        return _leaf_count(kind.storage_type)
    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _leaf_count(kind.key_type) + _leaf_count(kind.item_type)
    if _is_list(kind):
        return _leaf_count(kind.value_type)
    return 1


def _is_list(kind: Any) -> bool:
    """Whether an Arrow type is a list of some sort."""
    import pyarrow as pa

    return bool(
        pa.types.is_list(kind)
        or pa.types.is_large_list(kind)
        or pa.types.is_fixed_size_list(kind)
        or pa.types.is_list_view(kind)
        or pa.types.is_large_list_view(kind)
    )


def _is_bytes(kind: Any) -> bool:
    """Whether an Arrow type holds variable-length text or bytes."""
    import pyarrow as pa

    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def _cell_kind(kind: Any) -> str:
    """How pandas holds a cell of this Arrow type: number, text or object."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
    ):
        return "text"
    if (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_duration(kind)
    ):
        return "number"
    return "object"


def _number_width(kind: Any) -> int:
    """Bytes of one cell of a fixed-width Arrow type (a dictionary: 8)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return 8
    try:
        return max(kind.bit_width // 8, 1)
    except ValueError:  # not a fixed-width type
        return 8


def _dictionaries(array: Any) -> Iterator[Any]:
    """The dictionaries inside an Arrow array, nested ones included."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        yield array.dictionary
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            yield from _dictionaries(array.field(i))
    elif pa.types.is_map(kind):
        yield from _dictionaries(array.keys)
        yield from _dictionaries(array.items)
    elif _is_list(kind):
        yield from _dictionaries(array.values)


def _longest_value(values: Any) -> int:
    """The length in bytes of the longest value of a text or bytes array."""
    import pyarrow.compute as pc

    if len(values) == 0 or not _is_bytes(values.type):
        return 0
    return int(pc.max(pc.binary_length(values)).as_py() or 0)


def _decoded_bytes(array: Any) -> int:
    """The bytes an Arrow array takes once its dictionaries are expanded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        values = array.dictionary
        if not _is_bytes(values.type):
            return _number_width(values.type) * len(array)
        lengths = pc.take(pc.binary_length(values), array.indices)
        return int(pc.sum(lengths).as_py() or 0) + _OFFSET * (len(array) + 1)
    if pa.types.is_struct(kind):
        return sum(_decoded_bytes(f) for f in array.flatten()) + len(array) // 8 + 1
    if pa.types.is_map(kind):  # its entries: a struct of keys and items
        first, last = array.offsets[0].as_py(), array.offsets[-1].as_py()
        entries = array.values.slice(first, last - first)
        return _decoded_bytes(entries) + _OFFSET * (len(array) + 1)
    if _is_list(kind):
        return _decoded_bytes(array.flatten()) + _OFFSET * (len(array) + 1)
    return int(array.nbytes)


def _binary_columns(schema: Any) -> set[str]:
    """Names of the columns a Parquet schema declares as raw bytes."""
    import pyarrow as pa

    kinds = (
        pa.types.is_binary,
        pa.types.is_large_binary,
        pa.types.is_fixed_size_binary,
    )
    return {f.name for f in schema if any(kind(f.type) for kind in kinds)}


def _plain_columns(
    frame: pd.DataFrame, binary: set[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Bytes become text (or the column is dropped), durations become seconds."""
    notes: list[str] = []
    dropped, seconds = [], []
    for name in list(frame.columns):
        values = frame[name]
        if name in binary and values.dtype == object:
            try:
                frame[name] = values.map(_utf8, na_action="ignore")
            except UnicodeDecodeError:
                dropped.append(name)
        elif pd.api.types.is_timedelta64_dtype(values.dtype):
            frame[name] = values.dt.total_seconds()
            seconds.append(str(name))
    if dropped:
        frame = frame.drop(columns=dropped)
        noun = "column holds" if len(dropped) == 1 else "columns hold"
        notes.append(
            f"Dropped {_quote(str(n) for n in dropped)}: the {noun} binary data "
            "rather than text or numbers."
        )
    if seconds:
        notes.append(f"Read the durations in {_quote(seconds)} as seconds.")
    return frame, notes


def _utf8(value: Any) -> Any:
    """Bytes decoded as UTF-8 (raising when they are not text)."""
    return (
        bytes(value).decode("utf-8") if isinstance(value, (bytes, bytearray)) else value
    )
