"""One sweep at a time per output file: an exclusive lock on a file beside it.

:func:`lock_output` takes an exclusive, non-blocking :func:`fcntl.flock` on
``OUT.lock`` (``results.csv`` → ``results.csv.lock``) and writes
``pid@host`` into it, so that a second sweep on the same output is refused
with a message naming the first. The kernel drops the lock when its holder
exits, however it exits (``kill -9`` included), so a lock file left behind by
a killed sweep never blocks anyone: the next holder overwrites it.

The lock file is removed when the lock is released. To make that race-free, a
sweep that obtains the lock checks that the file it locked is still the one at
the path (same device and inode); if the path was unlinked or replaced in
between (its previous holder removing it), it starts again with the new file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from gradscope.errors import ConfigError

__all__ = ["OutputLockedError", "lock_output", "lock_path"]

_ATTEMPTS = 100  # each retry means another sweep removed or replaced the file meanwhile


class OutputLockedError(ConfigError):
    """Another sweep holds the output's lock."""


def lock_path(out: str | os.PathLike[str]) -> Path:
    """The lock file of an output: the output's name with ``.lock`` appended.

    Examples
    --------
    >>> lock_path("runs/results.csv").as_posix()
    'runs/results.csv.lock'
    """
    p = Path(out)
    return p.with_name(p.name + ".lock")


def _holder(fd: int) -> str:
    """What the lock file says about its holder (``pid@host``), or ``""``."""
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", "replace")
    except OSError:
        return ""
    return text.strip().splitlines()[0] if text.strip() else ""


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _acquire(out: Path, path: Path) -> int:
    """Open, lock and verify the lock file; return its descriptor, holding the lock."""
    import fcntl

    for _ in range(_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot open or create the lock file of {out} ({exc.strerror}); "
                "choose an --out in a folder you can write to"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise ConfigError(
                    f"{path}: cannot lock {out} ({exc.strerror}); the file system may not "
                    "support locks: choose an --out on a local disk"
                ) from None
            who = f"pid {holder}, " if holder else ""
            raise OutputLockedError(
                f"{out} is being written by another sweep ({who}lock {path}); "
                "wait for it or choose another --out"
            ) from None
        if _same_file(fd, path):
            return fd
        os.close(fd)  # we locked a file its holder had just removed: try the new one
    raise ConfigError(  # pragma: no cover - only under a storm of competing sweeps
        f"{path}: the lock file of {out} kept being replaced; another program is "
        "removing it: choose another --out"
    )


@contextlib.contextmanager
def lock_output(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive lock of an output file for the duration of the block.

    Parameters
    ----------
    out : path
        The output file (it need not exist). Its folder must exist and be writable.

    Yields
    ------
    Path
        The lock file, which holds ``pid@host`` of this process until the block
        ends; it is then removed.

    Raises
    ------
    OutputLockedError
        If another process holds the lock; the message names its pid and host.
    ConfigError
        If the lock file cannot be created or locked.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = os.path.join(folder, "r.csv")
    ...     with lock_output(out) as held:
    ...         try:
    ...             with lock_output(out):
    ...                 pass
    ...         except OutputLockedError as exc:
    ...             print("is being written by another sweep" in str(exc))
    ...     print(held.exists())
    True
    False
    """
    out_path = Path(out)
    path = lock_path(out_path)
    fd = _acquire(out_path, path)
    try:
        with contextlib.suppress(OSError):  # the lock holds even if the note cannot be written
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        # Unlink while still holding the lock: anyone who opened this file meanwhile
        # finds it gone (or replaced) after locking it, and starts again.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
