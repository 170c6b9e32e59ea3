r"""Output folders that gradscope owns: a manifest of what it wrote, and safe replacement.

A folder that gradscope writes (``gradscope report -o DIR``) holds
``gradscope-manifest.json``: the name and SHA-256 of every file gradscope put
there. ``--force`` may replace such a folder only while it still holds nothing
else — every entry a plain file listed in the manifest whose bytes still match
its hash — so a user's own file in the folder, a file they edited, a
sub-folder or a link is never deleted: the run is refused before any work,
naming the entry. A folder without a manifest (a user's folder, or a report
of a gradscope older than the manifest) is refused with what to do. The
current folder, a folder that contains it, and a folder that contains one of
the command's input files are refused outright.

The new folder is built beside the target and moved into place with renames,
so a reader sees the old report or the new one, never half of either; the old
report's files are then removed one by one, each checked against its hash
again (never ``rmtree``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from gradscope.errors import ConfigError

__all__ = [
    "MANIFEST_NAME",
    "TERMINATED_STATUS",
    "check_can_write",
    "check_output_folder",
    "install_folder",
    "make_staging_folder",
    "new_file_mode",
    "read_manifest",
    "remove_stale_staging",
    "replace_file",
    "terminate_cleanly",
    "umask",
    "write_atomic",
    "write_manifest",
]

MANIFEST_NAME = "gradscope-manifest.json"
_FORMAT = "gradscope-manifest/1"
_MAX_MANIFEST_BYTES = 1 << 20  # a manifest lists a few dozen files


#: Room for the temporary names gradscope writes beside an output (".NAME.tmp…").
_TEMP_NAME_EXTRA = 24


def check_can_write(
    path: str | os.PathLike[str], *, what: str, folder: bool = False, beside: bool = False
) -> None:
    """Refuse, before any work, an output location that cannot be written.

    The name must leave room for gradscope's temporary name beside it within the
    file system's limit, the place must be (or be inside) an existing folder,
    and that folder must accept a new file: a probe file is created there and
    removed at once, since neither permissions nor ``os.access`` tell whether
    ``/proc``, a read-only mount or a full quota will take one.

    Parameters
    ----------
    path : path-like
        The file (or, with ``folder``, the folder) to be written.
    what : str
        The option, for messages (e.g. ``"--plot"``).
    folder : bool
        ``path`` is a folder that may exist already (files are written in it).
    beside : bool
        The writing happens in ``path``'s parent (a report's staging folder,
        swapped in): probe there, whatever ``path`` is now.

    Raises
    ------
    ConfigError
    """
    p = Path(path)
    at = f"{what} {p}" if what else str(p)  # how messages name the location
    parent = p.parent if str(p.parent) else Path(".")
    try:  # first: a name past the limit makes every stat of it fail
        name_max = int(os.pathconf(parent if parent.is_dir() else ".", "PC_NAME_MAX"))
    except (OSError, ValueError):
        name_max = 255
    for part in p.parent.parts:  # a folder's name past the limit: no stat of it can work
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(
                f"{what} {part[:40]}…".lstrip()
                + f": a folder name of {len(os.fsencode(part))} bytes, and this file system "
                f"allows {name_max}; choose a shorter path"
            )
    size = len(os.fsencode(p.name))
    if size + _TEMP_NAME_EXTRA > name_max:
        raise ConfigError(
            f"{what} {p.name[:40]}…".lstrip()
            + f": the name is {size} bytes and this file system allows "
            f"{name_max} (with gradscope's temporary name beside it, "
            f"{name_max - _TEMP_NAME_EXTRA}); choose a shorter name"
        )
    if p.is_dir() and not folder:
        raise ConfigError(f"{at}: is a folder; give a file name")
    if folder and p.exists() and not p.is_dir():
        raise ConfigError(f"{at}: exists and is not a folder")
    target = p if folder and not beside and p.is_dir() else parent
    if not target.is_dir():
        kind = "is not a folder" if target.exists() else "does not exist"
        raise ConfigError(f"{at}: {target} {kind}; create the folder first")
    try:
        fd, probe = tempfile.mkstemp(dir=target, prefix=".gradscope-probe-")
    except OSError as exc:
        raise ConfigError(f"{at}: cannot write in {target} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Hash every plain file in ``folder`` into its manifest; return name → SHA-256.

    Called on the finished staging folder, so the manifest lists exactly what
    gradscope wrote.
    """
    root = Path(folder)
    files = {
        p.name: _sha256(p)
        for p in sorted(root.iterdir())
        if p.name != MANIFEST_NAME and stat.S_ISREG(p.lstat().st_mode)
    }
    text = json.dumps({"format": _FORMAT, "files": files}, indent=1, sort_keys=True)
    (root / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
    return files


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, str] | None:
    """The manifest of ``folder`` (name → SHA-256), or None where it has none.

    Raises
    ------
    ConfigError
        If the manifest is not a plain file, is over 1 MiB, or is not one that
        gradscope wrote.
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_MANIFEST_BYTES:
        raise ConfigError(f"{path}: is not a manifest gradscope wrote; --force refuses the folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"] if data.get("format") == _FORMAT else None
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, RecursionError):
        files = None
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ConfigError(f"{path}: is not a manifest gradscope wrote; --force refuses the folder")
    return dict(files)


def _inside(path: str, folder: str) -> bool:
    """Whether the resolved ``path`` is ``folder`` or lies below it."""
    return os.path.commonpath([path, folder]) == folder


def _foreign_entry(folder: Path, manifest: Mapping[str, str]) -> str | None:
    """The first entry of ``folder`` that gradscope did not write unchanged, with why."""
    for entry in sorted(os.listdir(folder)):
        if entry == MANIFEST_NAME:
            continue
        p = folder / entry
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            return f"{entry} (a link)"
        if stat.S_ISDIR(st.st_mode):
            return f"{entry}/ (a folder)"
        if not stat.S_ISREG(st.st_mode):
            return f"{entry} (not a plain file)"
        if entry not in manifest:
            return f"{entry} (not written by gradscope)"
        if _sha256(p) != manifest[entry]:
            return f"{entry} (changed since gradscope wrote it)"
    return None


def check_output_folder(
    folder: str | os.PathLike[str],
    *,
    force: bool,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    option: str = "-o",
) -> None:
    """Refuse, before any work, an output folder that writing there could harm.

    Parameters
    ----------
    folder : path
        The folder the command will create or replace.
    force : bool
        Replace an earlier gradscope folder (one whose manifest lists every
        entry unchanged).
    inputs : iterable of paths
        The command's input files (None entries are skipped): none may lie in
        ``folder``.
    option : str
        The option that named the folder, for messages.

    Raises
    ------
    ConfigError
        The folder is the current one or contains it, contains an input file,
        is a link or not a folder, has no parent, or is not empty — without
        ``force``, or with ``force`` where anything in it is not a file that
        gradscope wrote and nobody changed since.
    """
    path = Path(folder)
    here = os.path.realpath(os.getcwd())
    real = os.path.realpath(path)
    if _inside(here, real):
        raise ConfigError(
            f"{option} {folder}: is the current folder or contains it; give the report a "
            "folder of its own (e.g. -o gradscope-report)"
        )
    for name in inputs:
        if name is not None and _inside(os.path.realpath(name), real):
            raise ConfigError(
                f"{option} {folder}: contains the input file {name}, which the new folder "
                "would replace; write the report somewhere else"
            )
    check_can_write(path, what=option, folder=True, beside=True)  # staging goes beside it
    if path.is_symlink():
        raise ConfigError(f"{option} {folder}: is a link; give the folder it points to instead")
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(f"{option} {folder}: exists and is not a folder")
    if not os.listdir(path):
        return
    if not force:
        raise ConfigError(
            f"{option} {folder}: folder is not empty; choose another, or add --force to "
            "replace an earlier gradscope report there"
        )
    manifest = read_manifest(path)
    if manifest is None:
        raise ConfigError(
            f"{option} {folder}: holds no {MANIFEST_NAME}, so --force cannot tell gradscope's "
            "files from yours (an older gradscope's report, or not a report); empty or remove "
            "it yourself, or choose another folder"
        )
    foreign = _foreign_entry(path, manifest)
    if foreign is not None:
        raise ConfigError(
            f"{option} {folder}: --force replaces only files gradscope wrote there, and "
            f"{foreign} is not one; move it away or choose another folder"
        )


#: The temporary folders gradscope builds reports in: ``.gradscope-staging-<pid>-<random>``.
_STAGING_PREFIX = ".gradscope-staging-"
_STAGING_NAME = re.compile(r"\.gradscope-staging-([0-9]+)-[a-z0-9_]{8}")


def umask() -> int:
    """The process's umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(path: str | os.PathLike[str]) -> int:
    """The permissions a file written at ``path`` gets, as if written in place.

    An existing file keeps its own (``chmod`` bits); a new one gets
    ``0o666 & ~umask``, what ``open(path, "w")`` would give it. Temporary files
    (``tempfile``) are made 0600, so an atomic write sets this mode before its
    rename.
    """
    try:
        st = os.stat(path)
    except OSError:
        return 0o666 & ~umask()
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o666 & ~umask()


def replace_file(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Rename a finished temporary file onto ``path`` with :func:`new_file_mode`'s permissions."""
    os.chmod(tmp, new_file_mode(path))
    os.replace(tmp, path)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write a file all at once: a temporary file beside it, then a rename.

    A reader never sees a half-written file, a failure leaves any old file
    untouched, and the file gets the permissions of :func:`new_file_mode` (an
    existing file's own, else ``0o666 & ~umask``), not the temporary file's 0600.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        replace_file(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a process of another user counts as alive)."""
    if pid <= 0:
        return True  # not a name gradscope writes: never treat it as stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_staging(parent: str | os.PathLike[str]) -> list[str]:
    """Remove the staging folders in ``parent`` left by gradscope processes that died.

    Only gradscope's own staging names (``.gradscope-staging-<pid>-<8 characters>``)
    are touched, and only real folders (not links) of this user whose process
    no longer exists — what a ``report`` killed by SIGKILL or a power cut left.
    A live process's folder (e.g. a report running beside this one) is kept.

    Returns
    -------
    list of str
        The names removed.
    """
    removed: list[str] = []
    try:
        entries = os.listdir(parent)
    except OSError:
        return removed
    for name in entries:
        match = _STAGING_NAME.fullmatch(name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = os.path.join(parent, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    return removed


def make_staging_folder(folder: str | os.PathLike[str]) -> str:
    """A new hidden folder beside ``folder`` to build into, with the umask's permissions.

    Its name carries this process's id, so that the next report into the same
    parent can tell it from a live one and remove it (:func:`remove_stale_staging`)
    should this process be killed before it cleans up.
    """
    parent = os.path.dirname(os.path.abspath(folder))
    remove_stale_staging(parent)
    tmp = tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-", dir=parent)
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes it 0700; a folder made by mkdir would not be
    return tmp


#: Exit status of a run ended by SIGTERM (128 + the signal's number, as a shell reports it).
TERMINATED_STATUS = 128 + int(signal.SIGTERM)


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM inside the block into ``SystemExit(143)``, so ``finally`` clauses run.

    Python's default for SIGTERM is to die at once, leaving a staging folder
    behind; with this, the cleanup of the code inside runs and the process then
    exits with status 143. Only the main thread can install the handler, and a
    handler the program set itself is left alone.
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def _terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one cleanup; a second TERM waits
        raise SystemExit(TERMINATED_STATUS)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def install_folder(staging: str | os.PathLike[str], folder: str | os.PathLike[str]) -> None:
    """Move a finished staging folder to ``folder``, replacing an earlier gradscope folder.

    The caller checked ``folder`` with :func:`check_output_folder`; its
    manifest is read again here and every old file is removed only if it
    still matches its hash, so nothing a user put there since is lost: such
    files are left in the old folder, whose name the error gives.

    Raises
    ------
    ConfigError
        If files that gradscope did not write appeared in the old folder
        while the new one was built (they are kept, and the message says where).
    """
    target = Path(folder)
    if not target.exists():
        os.replace(staging, target)
        return
    manifest = read_manifest(target) or {}
    old = Path(tempfile.mkdtemp(prefix=f".gradscope-old-{os.getpid()}-", dir=target.parent))
    os.rmdir(old)
    os.replace(target, old)  # from here, old holds the earlier folder, whole
    os.replace(staging, target)
    for entry in os.listdir(old):
        p = old / entry
        if entry == MANIFEST_NAME or (
            stat.S_ISREG(p.lstat().st_mode) and manifest.get(entry) == _sha256(p)
        ):
            p.unlink()
    try:
        os.rmdir(old)
    except OSError:
        raise ConfigError(
            f"{folder}: the new report is in place, but files that gradscope did not write "
            f"appeared in the old one while it ran; they are kept in {old}"
        ) from None
