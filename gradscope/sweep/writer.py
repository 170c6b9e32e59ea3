"""Writing a sweep's table: appending batches, the final sort, ordered output.

Rows are appended and flushed as each configuration finishes, so an
interrupted sweep keeps every row it finished; a last line cut short by a
crash is removed when the file is opened again. At the end the file is
rewritten atomically in grid order (:func:`sort_table`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gradscope.errors import ConfigError
from gradscope.sweep.output import (
    ExistingTable,
    OutputPathError,
    RowKey,
    encode_row,
    header,
    read_table,
)

__all__ = ["OrderedEmitter", "TableWriter", "sort_table"]


class TableWriter:
    """Append rows to an output file, flushing after each batch.

    Opening cuts off an interrupted last line and writes the CSV header to a
    new (or empty) file. Use as a context manager.
    """

    def __init__(
        self, path: str | os.PathLike[str], fmt: str, cols: Sequence[str], existing: ExistingTable
    ) -> None:
        self.path, self.fmt, self.cols = Path(path), fmt, tuple(cols)
        try:
            if existing.dropped_partial:
                os.truncate(self.path, existing.complete_bytes)
            self._fh = self.path.open("a", encoding="utf-8", newline="")
            if fmt == "csv" and not existing.has_header:
                self._fh.write(header(self.cols))
                self._fh.flush()
        except OSError as exc:
            raise OutputPathError(f"{self.path}: cannot be written ({exc.strerror})") from None

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows in one call and flush them to the operating system.

        Raises
        ------
        ConfigError
            If writing fails (a full disk, say); the rows written before are kept.
        """
        try:
            self._fh.write("".join(encode_row(r, self.cols, self.fmt) for r in rows))
            self._fh.flush()
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: writing failed ({exc.strerror}); the rows written before are "
                "kept: free the space and rerun the same command to resume"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):  # everything written was flushed by append
            self._fh.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sort_table(
    path: str | os.PathLike[str], fmt: str, cols: Sequence[str], order: Mapping[RowKey, int]
) -> None:
    """Rewrite the file atomically in order: rows not in ``order`` first (as they were),
    then the others by ``order[key]``. Does nothing when already in order."""
    from gradscope.io import write_atomic

    p = Path(path)
    table = read_table(p, fmt, cols)
    foreign = [i for i, k in enumerate(table.keys) if k not in order]
    ours = sorted(
        (i for i, k in enumerate(table.keys) if k in order), key=lambda i: order[table.keys[i]]
    )
    permutation = foreign + ours
    if permutation == list(range(len(table.lines))) and not table.dropped_partial:
        return
    text = (header(cols) if fmt == "csv" else "") + "".join(table.lines[i] for i in permutation)
    mode = p.stat().st_mode & 0o777
    try:
        write_atomic(p, text)
        os.chmod(p, mode)
    except OSError as exc:
        raise ConfigError(
            f"{p}: every row is there but it could not be rewritten in grid order "
            f"({exc.strerror}); rerun the same command to sort it"
        ) from None


class OrderedEmitter:
    """Emit batches of lines in grid order, whatever order they arrive in.

    Parameters
    ----------
    indices : iterable of int
        Every batch index that will arrive.
    write : callable
        Receives text to output.
    """

    def __init__(self, indices: Iterable[int], write: Callable[[str], None]) -> None:
        self._order = sorted(indices)
        self._next = 0
        self._pending: dict[int, str] = {}
        self._write = write

    def add(self, index: int, text: str) -> None:
        """Hold ``text`` of batch ``index`` until every earlier batch has been written."""
        self._pending[index] = text
        while self._next < len(self._order) and self._order[self._next] in self._pending:
            self._write(self._pending.pop(self._order[self._next]))
            self._next += 1
