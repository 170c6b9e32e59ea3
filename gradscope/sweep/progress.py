"""A plain-text progress bar for long sweeps (no dependencies).

On a terminal it redraws one line with a carriage return; on anything else
(a log file, a pipe) it writes a full line at most every few seconds.
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["TextProgress"]


class TextProgress:
    """Report ``done / total`` rows, the rate and the time left on a text stream.

    Parameters
    ----------
    stream : text stream
        Usually standard error.
    label : str
        Shown before the bar.
    width : int
        Characters of the bar itself.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> p = TextProgress(buf, label="sweep")
    >>> p(0, 4); p(4, 4); p.close()
    >>> buf.getvalue().strip().splitlines()[-1].startswith("sweep [##########")
    True
    """

    def __init__(self, stream: TextIO, *, label: str = "sweep", width: int = 30) -> None:
        self._stream = stream
        self._label = label
        self._width = width
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._start = time.perf_counter()
        self._last = -float("inf")
        self._line = ""
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        """Record progress; redraws are rate-limited except for the last one."""
        now = time.perf_counter()
        interval = 0.1 if self._tty else 5.0
        if done < total and now - self._last < interval:
            return
        self._last = now
        previous, self._line = self._line, self._render(done, total, now - self._start)
        if self._tty:  # pad over the end of a longer previous line
            self._stream.write("\r" + self._line.ljust(len(previous)))
        else:
            self._stream.write(self._line + "\n")
        self._stream.flush()
        self._shown = True

    def _render(self, done: int, total: int, elapsed: float) -> str:
        frac = done / total if total else 1.0
        filled = round(frac * self._width)
        bar = "#" * filled + "." * (self._width - filled)
        eta = ""
        if 0 < done < total:
            eta = f", ~{_seconds(elapsed / done * (total - done))} left"
        return (
            f"{self._label} [{bar}] {done}/{total} rows {100 * frac:5.1f}% "
            f"({_seconds(elapsed)}{eta})"
        )

    def close(self) -> None:
        """End the bar's line (on a terminal)."""
        if self._tty and self._shown:
            self._stream.write("\n")
            self._stream.flush()


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(s), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
