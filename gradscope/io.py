r"""Loading the weights and inputs users already have, safely; writing results atomically.

User files are data, never code (DESIGN.md §5): nothing here unpickles. ``.npz``
files are read with ``allow_pickle=False``, ``.safetensors`` with safetensors'
numpy API, and a PyTorch checkpoint (``torch.save``'s zip or a raw pickle) is
recognised by its bytes and refused with a hint on how to export it.

Two key conventions are accepted for a vanilla RNN:

* gradscope's own: ``W_hh`` (n, n), ``W_xh`` (n, m), optional ``b`` (n,);
* PyTorch ``nn.RNN``'s: ``weight_hh_l0``, ``weight_ih_l0`` and optional
  ``bias_ih_l0``, ``bias_hh_l0``, whose two biases are summed, since
  ``h_t = φ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)``.

Every problem is a :class:`~gradscope.errors.ConfigError` whose message names
the file, says what is wrong and what to do.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.io_folder import write_atomic  # re-exported: the one atomic write
from gradscope.model import RNN, Activation, get_activation

__all__ = [
    "MAX_TEXT_BYTES",
    "LoadedWeights",
    "load_array",
    "load_rnn",
    "open_regular",
    "parse_json",
    "read_arrays",
    "read_regular",
    "write_atomic",
]

#: The most bytes gradscope reads from a file it parses whole (JSON, TOML, tables).
MAX_TEXT_BYTES = 256 * 2**20

FloatArray = NDArray[np.float64]

NATIVE_KEYS = ("W_hh", "W_xh", "b")
TORCH_KEYS = ("weight_hh_l0", "weight_ih_l0", "bias_ih_l0", "bias_hh_l0")

_EXPORT_HINT = (
    "export the state dict as data instead, e.g. "
    "safetensors.torch.save_file(model.state_dict(), 'weights.safetensors') or "
    "numpy.savez('weights.npz', **{k: v.detach().numpy() for k, v in "
    "model.state_dict().items()})"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedWeights:
    """An RNN read from a file, with where it came from.

    Attributes
    ----------
    rnn : RNN
    path : str
    convention : {"gradscope", "pytorch"}
        Which key names the file used.
    """

    rnn: RNN
    path: str
    convention: str


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a user's file for reading, refusing anything but a regular file.

    A FIFO would block the open (or the first read) forever and ``/dev/zero``
    never ends, so the file is opened without blocking and checked with
    ``fstat`` before a byte is read.

    Raises
    ------
    ConfigError
        For a missing or unreadable path, a folder, a pipe, a device or a socket.
    """
    p = os.fspath(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{p}: is a folder, not a file")
        raise ConfigError(f"{p}: is not a regular file (a pipe, device or socket); give a file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular(
    path: str | os.PathLike[str], *, what: str, max_bytes: int = MAX_TEXT_BYTES
) -> bytes:
    """All bytes of a regular file that is read whole, refused past ``max_bytes``.

    Raises
    ------
    ConfigError
        As :func:`open_regular`, or for a file larger than ``max_bytes``.
    """
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(max_bytes + 1) if size <= max_bytes else b""
    if size > max_bytes or len(data) > max_bytes:
        raise ConfigError(
            f"{os.fspath(path)}: is {max(size, len(data)):,} bytes; a {what} is read whole "
            f"and may have at most {max_bytes:,}"
        )
    return data


def parse_json(data: bytes, path: str | os.PathLike[str], *, what: str) -> Any:
    """``json.loads`` with one-line errors, nesting too deep for a parser included."""
    p = os.fspath(path)
    try:
        return json.loads(data)
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to be a {what}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a {what} (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not a readable {what} ({exc})") from None
    except ValueError as exc:  # an integer of more digits than Python converts (4300)
        first = str(exc).split(";")[0]
        raise ConfigError(f"{p}: not a readable {what} ({first})") from None


def _sniff(path: Path) -> bytes:
    with open_regular(path) as fh:
        return fh.read(9)


def _check_npy_size(fh: IO[bytes], available: int, where: str) -> None:
    """Refuse an ``.npy`` stream whose header declares more data than ``available`` bytes.

    Reading stops at the header: a crafted shape of 10¹² elements costs nothing.
    """
    try:
        version = np.lib.format.read_magic(fh)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read(fh)
    except (ValueError, OSError, EOFError):
        return  # not a readable header: numpy's own reading reports it
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    left = available - fh.tell()
    if declared > left:
        raise ConfigError(
            f"{where}: its header declares shape {tuple(shape)} ({declared:,} bytes) but "
            f"the file holds {max(left, 0):,}: truncated or corrupt; write it again"
        )


def _is_pickle(head: bytes) -> bool:
    # Pickle protocol 2+ starts with PROTO (0x80) and the protocol number, then an
    # opcode (never 0x00); torch's legacy format is such a pickle. A safetensors
    # header length of 0x0280 bytes also starts 80 02, but continues with zeros.
    return (
        head[:1] == b"\x80"
        and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
        and (head[2:3] != b"\x00")
    )


def _read_npz(path: Path) -> dict[str, NDArray[np.generic]]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile:
        raise ConfigError(
            f"{path}: not a readable .npz archive (truncated or corrupt?); "
            "write it again with numpy.savez"
        ) from None
    if any(n.endswith("data.pkl") for n in names):
        raise ConfigError(
            f"{path}: this is a PyTorch checkpoint (torch.save), which is a pickle; "
            f"gradscope never unpickles user files — {_EXPORT_HINT}"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.endswith(".npy"):
                    with zf.open(info) as member:
                        _check_npy_size(member, info.file_size, f"{path}[{info.filename}]")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ConfigError(f"{path}: not a readable .npz archive ({exc})") from None
    arrays: dict[str, NDArray[np.generic]] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                value = npz[key]
                if not isinstance(value, np.ndarray):  # a member that is not .npy
                    raise ConfigError(f"{path}: member {key!r} is not a numpy array")
                arrays[key] = value
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise ConfigError(
                f"{path}: holds a pickled object array, which gradscope refuses to load "
                "(it could run code); save plain numeric arrays with numpy.savez"
            ) from None
        raise ConfigError(f"{path}: cannot be read as .npz ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(
            f"{path}: cannot be read as .npz (truncated or corrupt? {exc})"
        ) from None
    return arrays


def is_torch_zip(path: str | os.PathLike[str], head: bytes) -> bool:
    """Whether a file is ``torch.save``'s zip format: a zip archive holding ``data.pkl``."""
    if not head.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.endswith("data.pkl") for name in zf.namelist())
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def misnamed_torch_file(path: str | os.PathLike[str], head: bytes) -> ConfigError | None:
    """The error for a ``torch.save`` file named ``.safetensors``, or None.

    safetensors would report "header too large" for it, which says nothing useful.
    """
    if Path(path).suffix.lower() != ".safetensors" or head[8:9] == b"{":
        return None
    if not (_is_pickle(head) or is_torch_zip(path, head)):
        return None
    return ConfigError(
        f"{os.fspath(path)}: looks like a torch.save file, not .safetensors: rename it .pt "
        "(gradscope analyze reads it with torch.load(weights_only=True)), or save it with "
        "safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')"
    )


def _read_safetensors(path: Path) -> dict[str, NDArray[np.generic]]:
    try:
        from safetensors.numpy import load_file
    except ImportError:  # pragma: no cover - safetensors is a dependency
        raise ConfigError(
            f"{path}: reading .safetensors needs the safetensors package: pip install safetensors"
        ) from None
    try:
        return dict(load_file(str(path)))
    except Exception as exc:  # safetensors raises its own SafetensorError and others
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "bfloat16" in message.lower() or "bf16" in message.lower():
            message += "; convert the tensors to float32 before saving"
        raise ConfigError(
            f"{path}: cannot be read as .safetensors (truncated or corrupt? {message})"
        ) from None


def read_arrays(path: str | os.PathLike[str]) -> dict[str, NDArray[np.generic]]:
    """Read every array of an ``.npz`` or ``.safetensors`` file, without unpickling.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    ConfigError
        For a missing, unreadable, truncated or pickled file, or another format.
    """
    p = Path(path)
    head = _sniff(p)
    suffix = p.suffix.lower()
    # A safetensors file starts with an 8-byte header length, then its JSON header.
    if suffix == ".safetensors" and head[8:9] == b"{":
        return _read_safetensors(p)
    misnamed = misnamed_torch_file(p, head)
    if misnamed is not None:
        raise misnamed
    if _is_pickle(head) or suffix in (".pt", ".pth", ".pkl", ".pickle", ".ckpt"):
        raise ConfigError(
            f"{p}: looks like a PyTorch checkpoint or a pickle; gradscope never unpickles "
            f"user files — {_EXPORT_HINT}"
        )
    if suffix == ".safetensors":
        return _read_safetensors(p)
    if suffix == ".npz" or head.startswith(b"PK"):
        return _read_npz(p)
    raise ConfigError(f"{p}: unknown weights format; give an .npz or a .safetensors file")


def _float_matrix(path: Path, key: str, value: NDArray[np.generic], ndim: int) -> FloatArray:
    if value.dtype.kind not in "fiu":
        raise ConfigError(f"{path}: {key} has dtype {value.dtype}; give real numbers")
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        want = "(n, n)" if key in ("W_hh", "weight_hh_l0") else "a vector" if ndim == 1 else "2-D"
        raise ConfigError(f"{path}: {key} has shape {arr.shape}; expected {want}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ConfigError(
            f"{path}: {key} contains {bad} NaN or Inf values; weights must be finite"
        )
    return arr


def _assemble(
    path: Path, arrays: Mapping[str, NDArray[np.generic]], activation: Activation
) -> LoadedWeights:
    keys = set(arrays)
    required: tuple[str, ...]
    optional: tuple[str, ...]
    if "W_hh" in keys or "W_xh" in keys:
        convention, required, optional = "gradscope", ("W_hh", "W_xh"), ("b",)
    elif any(k.startswith(("weight_", "bias_")) for k in keys):
        convention, required = "pytorch", ("weight_hh_l0", "weight_ih_l0")
        optional = ("bias_ih_l0", "bias_hh_l0")
    else:
        raise ConfigError(
            f"{path}: no recurrent weights found (keys: {', '.join(sorted(keys)) or 'none'}); "
            f"expected {', '.join(NATIVE_KEYS)} or PyTorch nn.RNN's {', '.join(TORCH_KEYS)}"
        )
    missing = [k for k in required if k not in keys]
    if missing:
        raise ConfigError(f"{path}: missing key(s) {', '.join(missing)} ({convention} names)")
    unknown = sorted(keys - set(required) - set(optional))
    if unknown:
        hint = ""
        if any(k.endswith(("_l1", "_reverse")) or "_l1_" in k for k in unknown):
            hint = "; only single-layer, unidirectional nn.RNN weights are supported here"
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}{hint}")
    hh, xh = required
    W_hh = _float_matrix(path, hh, arrays[hh], 2)
    if W_hh.shape[0] != W_hh.shape[1]:
        raise ConfigError(f"{path}: {hh} has shape {W_hh.shape}; it must be square (n, n)")
    n = W_hh.shape[0]
    W_xh = _float_matrix(path, xh, arrays[xh], 2)
    if W_xh.shape[0] != n:
        raise ConfigError(
            f"{path}: {xh} has shape {W_xh.shape} but {hh} is {n} × {n}; "
            f"{xh} needs {n} rows (n, m)"
        )
    b = np.zeros(n)
    for key in optional:
        if key in arrays:
            bias = _float_matrix(path, key, arrays[key], 1)
            if bias.shape != (n,):
                raise ConfigError(f"{path}: {key} has shape {bias.shape}; expected ({n},)")
            b = b + bias
    rnn = RNN(W_hh=W_hh, W_xh=W_xh, b=b, activation=activation)
    return LoadedWeights(rnn=rnn, path=str(path), convention=convention)


def load_rnn(
    path: str | os.PathLike[str], *, activation: str | Activation = "tanh"
) -> LoadedWeights:
    """Load a vanilla RNN's weights from ``.npz`` or ``.safetensors``.

    Parameters
    ----------
    path : path-like
        The weights file; see the module docstring for the accepted keys.
    activation : str or Activation
        The activation φ (PyTorch state dicts do not record it); tanh by default.

    Returns
    -------
    LoadedWeights

    Raises
    ------
    ConfigError
        Missing file, unreadable/truncated file, a pickle or PyTorch checkpoint,
        missing or unknown keys, non-square ``W_hh``, shapes that disagree,
        NaN or Inf.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> np.savez(path, weight_hh_l0=np.eye(2), weight_ih_l0=np.ones((2, 1)),
    ...          bias_ih_l0=np.ones(2), bias_hh_l0=np.ones(2))
    >>> w = load_rnn(path)
    >>> w.convention, w.rnn.b.tolist()
    ('pytorch', [2.0, 2.0])
    """
    act = get_activation(activation)
    p = Path(path)
    return _assemble(p, read_arrays(p), act)


def load_array(
    path: str | os.PathLike[str],
    *,
    name: str,
    ndim: int,
) -> FloatArray:
    """Load one ``.npy`` array (no pickles), as float64, checked for shape and finiteness.

    Parameters
    ----------
    path : path-like
    name : str
        What the array is, for messages (e.g. ``"inputs"``).
    ndim : int
        The required number of dimensions.

    Raises
    ------
    ConfigError
    """
    p = Path(path)
    head = _sniff(p)
    if _is_pickle(head):
        raise ConfigError(f"{p}: is a pickle, not an .npy array; save it with numpy.save")
    if head.startswith(b"PK"):
        raise ConfigError(f"{p}: holds an archive of arrays; give a single .npy array")
    if not head.startswith(b"\x93NUMPY"):
        # numpy would call any such file "pickled data", which a text file is not
        raise ConfigError(
            f"{p}: is not a .npy file (it lacks numpy's header); save the {name} array "
            "with numpy.save"
        )
    with open_regular(p) as fh:
        _check_npy_size(fh, os.fstat(fh.fileno()).st_size, str(p))
    try:
        value = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise ConfigError(
                f"{p}: holds a pickled object array, which gradscope refuses to load; "
                "save a numeric array with numpy.save"
            ) from None
        raise ConfigError(f"{p}: cannot be read as .npy ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ConfigError(f"{p}: cannot be read as .npy (truncated or corrupt? {exc})") from None
    if not isinstance(value, np.ndarray):
        raise ConfigError(f"{p}: holds an archive of arrays; give a single .npy array")
    if value.dtype.kind not in "fiu":
        raise ConfigError(f"{p}: {name} has dtype {value.dtype}; give real numbers")
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ConfigError(f"{p}: {name} must be {ndim}-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{p}: {name} contains NaN or Inf; give finite values")
    return arr
