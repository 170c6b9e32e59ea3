"""Progress of long work on a text stream: one line, redrawn in place, then cleared.

The library marks its long loops with :func:`task`; nothing is drawn unless the
caller (the command line) turned reporting on with :func:`enabled`. Then a task
draws nothing during its first :data:`DELAY` seconds (short work stays silent),
after that one carriage-return-updated line at most every :data:`INTERVAL`
seconds, and when it ends the line is blanked and the cursor returned to its
start, so what follows (a result, or a refusal's one line) is printed as if no
progress had been shown. Tasks nest: only the outermost draws, and its line
names the inner tasks running inside it (``report 2/6 · spectrum 40/300``).

This module sits at the bottom of the layers and imports the standard library
only. When reporting is off, :func:`task` costs one global check and yields an
object whose :meth:`Task.advance` does nothing.

Examples
--------
>>> import io
>>> with task("scan", total=3) as t:  # reporting is off: nothing happens
...     t.advance()
>>> buf = io.StringIO()
>>> with enabled(buf), task("scan", total=3) as t:  # on, but done within 2 s
...     t.advance(3)
>>> buf.getvalue()
''
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["DELAY", "INTERVAL", "Task", "enabled", "task"]

#: Seconds a task runs before its line first appears.
DELAY = 2.0
#: Least seconds between two redraws.
INTERVAL = 0.2

#: The clock (seconds); tests replace it.
clock: Callable[[], float] = time.monotonic

_stream: TextIO | None = None  # where to draw; None: reporting is off
_stack: list[Task] = []  # the tasks running, outermost first


class Task:
    """A running piece of work: ``done`` of ``total`` units, under a label.

    Obtained from :func:`task`; call :meth:`advance` as units are finished.
    """

    __slots__ = ("_drawn", "_last", "_root", "_start", "_width", "done", "label", "total")

    def __init__(self, label: str, total: int, root: Task | None) -> None:
        self.label = label
        self.total = max(int(total), 0)
        self.done = 0
        self._root = root  # the outermost task, which draws; None: this one is
        self._start = clock()
        self._last = -float("inf")
        self._drawn = 0  # characters of the line on screen
        self._width = 0

    def advance(self, k: int = 1) -> None:
        """Count ``k`` more units done; redraw the line if it is due."""
        self.done += k
        (self._root or self)._tick()

    def _tick(self) -> None:
        now = clock()
        if now - self._start < DELAY or now - self._last < INTERVAL:
            return
        self._last = now
        self._draw(now)

    def _text(self, now: float) -> str:
        parts = []
        for t in _stack:
            if t.total:
                parts.append(f"{t.label} {min(t.done, t.total)}/{t.total}")
            else:
                parts.append(t.label)
        text = " · ".join(parts) + f" ({_duration(now - self._start)}"
        if self.total and 0 < self.done < self.total:
            left = (now - self._start) / self.done * (self.total - self.done)
            text += f", ~{_duration(left)} left"
        return text + ")"

    def _draw(self, now: float) -> None:
        stream = _stream
        if stream is None:
            return
        if not self._width:
            self._width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        line = self._text(now)[: self._width]
        pad = " " * max(0, self._drawn - len(line))
        try:
            stream.write("\r" + line + pad)
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: stop drawing
            return
        self._drawn = len(line)

    def _clear(self) -> None:
        stream = _stream
        if not self._drawn or stream is None:
            return
        try:
            stream.write("\r" + " " * self._drawn + "\r")
            stream.flush()
        except (OSError, ValueError):
            pass
        self._drawn = 0


class _NoTask(Task):
    """What :func:`task` yields while reporting is off: :meth:`advance` does nothing."""

    __slots__ = ()

    def advance(self, k: int = 1) -> None:
        """Do nothing."""


_NO_TASK = _NoTask("", 0, None)


@contextmanager
def task(label: str, total: int) -> Iterator[Task]:
    """Mark a long loop of ``total`` units; yields a :class:`Task` to :meth:`~Task.advance`.

    Parameters
    ----------
    label : str
        A few words naming the work (``"decay curves"``).
    total : int
        Units the loop will do (0 if unknown: only the label and the time are shown).

    Yields
    ------
    Task
        A no-op unless reporting was turned on with :func:`enabled`, and in any
        thread but the main one (work split over threads draws no line of its own).
    """
    if _stream is None or threading.current_thread() is not threading.main_thread():
        yield _NO_TASK
        return
    t = Task(label, total, _stack[0] if _stack else None)
    _stack.append(t)
    try:
        yield t
    finally:
        if t._root is None:
            t._clear()
            _stack.clear()
        elif t in _stack:
            _stack.remove(t)


@contextmanager
def enabled(stream: TextIO) -> Iterator[None]:
    """Draw the progress of the tasks run inside this block on ``stream``.

    Parameters
    ----------
    stream : text stream
        Usually ``sys.stderr`` (never standard output: ``--json`` keeps it clean).
    """
    global _stream
    previous = _stream
    _stream = stream
    try:
        yield
    finally:
        if _stack and _stack[0]._root is None:
            _stack[0]._clear()
        _stream = previous


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
