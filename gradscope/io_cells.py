r"""Loading PyTorch ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` weights, all layers, safely.

Three formats hold the same state dict:

* ``.safetensors`` (``safetensors.torch.save_file``) and ``.npz``
  (``numpy.savez``), read by :func:`gradscope.io.read_arrays` without torch and
  without unpickling;
* a ``torch.save`` file (``.pt``, ``.pth``, …), read only with the optional
  ``torch`` extra and always with ``torch.load(..., weights_only=True)``, which
  refuses every pickled object that is not a tensor or a plain container — so a
  malicious checkpoint is rejected, never executed.

The keys are PyTorch's: ``weight_ih_l{k}``, ``weight_hh_l{k}`` and optionally
``bias_ih_l{k}``, ``bias_hh_l{k}`` for layers k = 0, 1, …, possibly under one
module prefix (``rnn.weight_ih_l0``). The cell is recognised from the shape of
``weight_hh_l0``, which is (G n, n) with G = 1 (``nn.RNN``), 4 (``nn.LSTM``,
gates i, f, g, o) or 3 (``nn.GRU``, gates r, z, n). gradscope's own vanilla-RNN
names ``W_hh``, ``W_xh``, ``b`` are read as a one-layer ``nn.RNN``.

Not supported yet, each refused with one line: bidirectional layers
(``…_reverse`` keys) and projected LSTMs (``weight_hr_l{k}``, ``proj_size > 0``).
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.io import misnamed_torch_file, open_regular, read_arrays
from gradscope.model import LayerWeights

__all__ = ["CELL_GATES", "LoadedLayers", "layers_from_arrays", "load_layers"]

FloatArray = NDArray[np.float64]

#: Rows of ``weight_hh`` per hidden unit, by cell kind.
CELL_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_KIND_BY_GATES = {g: kind for kind, g in CELL_GATES.items()}
_TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar")
_KEY = re.compile(
    r"^(?P<prefix>.*?)(?P<name>(?:weight|bias)_(?:ih|hh|hr)_l(?P<layer>\d+))(?P<rev>_reverse)?$"
)
_PARTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_SAVE_HINT = (
    "save the recurrent module's own state dict, e.g. "
    "safetensors.torch.save_file(model.rnn.state_dict(), 'weights.safetensors')"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedLayers:
    """A recurrent module's layers read from a file.

    Attributes
    ----------
    path : str
    format : {"safetensors", "npz", "torch", "arrays"}
    cell : {"rnn", "lstm", "gru"}
    layers : tuple of LayerWeights
        Layer 0 first.
    prefix : str
        The module prefix the keys carried (``"rnn."``), ``""`` if none.
    """

    path: str
    format: str
    cell: str
    layers: tuple[LayerWeights, ...]
    prefix: str = ""


def _head(path: Path) -> bytes:
    with open_regular(path) as fh:  # a pipe or a device is refused before any read
        return fh.read(9)


def _is_torch_file(path: Path, head: bytes) -> bool:
    if path.suffix.lower() == ".safetensors" and head[8:9] == b"{":
        return False
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return head[2:3] != b"\x00"  # a pickle (torch's legacy format is one)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                return any(name.endswith("data.pkl") for name in zf.namelist())
        except zipfile.BadZipFile:
            pass  # truncated or corrupt: decided by the suffix
    return path.suffix.lower() in _TORCH_SUFFIXES


def _read_torch(path: Path) -> dict[str, NDArray[np.generic]]:
    """A ``torch.save`` state dict as numpy arrays, via ``torch.load(weights_only=True)``."""
    try:
        import torch
    except ImportError:
        raise ConfigError(
            f"{path}: is a PyTorch checkpoint; reading it needs torch "
            "(pip install 'gradscope[torch]'), or export the weights as data: "
            "safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')"
        ) from None
    import pickle

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # weights_only=True: only tensors and plain containers are rebuilt; any
            # other pickled object is refused before it can run (DESIGN.md §5).
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ConfigError(
            f"{path}: refused — it holds pickled Python objects, not just tensors "
            "(torch.load(weights_only=True) rejected them, nothing in the file was run); "
            f"{_SAVE_HINT}"
        ) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, zip errors, …
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path}: cannot be read as a PyTorch checkpoint (truncated or corrupt? {first[:200]})"
        ) from None
    if not isinstance(obj, Mapping):
        raise ConfigError(
            f"{path}: holds a {type(obj).__name__}, not a state dict; "
            "save torch.save(model.state_dict(), path)"
        )
    arrays: dict[str, NDArray[np.generic]] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            kind = "a nested dict" if isinstance(value, Mapping) else type(value).__name__
            raise ConfigError(
                f"{path}: entry {key!r} is {kind}, not a tensor — this looks like a training "
                "checkpoint; save the module's state dict alone: "
                "torch.save(model.rnn.state_dict(), path)"
            )
        if value.is_complex() or value.dtype == torch.bool:
            raise ConfigError(f"{path}: {key} has dtype {value.dtype}; give real numbers")
        try:
            arrays[str(key)] = value.detach().to("cpu", torch.float64).numpy()
        except Exception as exc:
            raise ConfigError(f"{path}: {key} cannot be converted to float64 ({exc})") from None
    return arrays


def _float(source: str, key: str, value: NDArray[np.generic], ndim: int) -> FloatArray:
    value = np.asarray(value)
    if value.dtype.kind not in "fiu":
        raise ConfigError(f"{source}: {key} has dtype {value.dtype}; give real numbers")
    arr = np.array(value, dtype=np.float64)
    if arr.ndim != ndim:
        want = "a vector (G·n,)" if ndim == 1 else "a matrix"
        raise ConfigError(f"{source}: {key} has shape {arr.shape}; expected {want}")
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ConfigError(
            f"{source}: {key} contains {bad} NaN or Inf values; weights must be finite"
        )
    return arr


def _split_prefix(source: str, keys: list[str]) -> tuple[str, dict[str, str]]:
    """The module prefix and a map from stripped names to the file's keys."""
    matches = {k: _KEY.match(k) for k in keys}
    prefixes = sorted({m["prefix"] for m in matches.values() if m is not None})
    if len(prefixes) > 1:
        shown = ", ".join(repr(p) for p in prefixes)
        raise ConfigError(
            f"{source}: holds the weights of several recurrent modules (prefixes {shown}); "
            f"{_SAVE_HINT}"
        )
    prefix = prefixes[0] if prefixes else ""
    rev = sorted(k for k, m in matches.items() if m is not None and m["rev"])
    if rev:
        raise ConfigError(
            f"{source}: bidirectional layers ({rev[0]}, …) are not supported yet; "
            "analyze a unidirectional module (bidirectional=False)"
        )
    proj = sorted(k for k, m in matches.items() if m is not None and "_hr_" in m["name"])
    if proj:
        raise ConfigError(
            f"{source}: projected LSTM layers ({proj[0]}: proj_size > 0) are not supported yet"
        )
    unknown = sorted(k for k, m in matches.items() if m is None)
    if unknown:
        hint = f"; the recurrent weights sit under {prefix!r}: {_SAVE_HINT}" if prefix else ""
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown[:6])}"
            f"{' …' if len(unknown) > 6 else ''}; expected PyTorch's weight_ih_l0, "
            f"weight_hh_l0, bias_ih_l0, bias_hh_l0, … of nn.RNN, nn.LSTM or nn.GRU{hint}"
        )
    return prefix, {k[len(prefix) :]: k for k in keys}


def _native(source: str, arrays: Mapping[str, NDArray[np.generic]]) -> dict[str, Any]:
    unknown = sorted(set(arrays) - {"W_hh", "W_xh", "b"})
    if unknown or "W_hh" not in arrays or "W_xh" not in arrays:
        what = f"unknown key(s) {', '.join(unknown)}" if unknown else "missing W_hh or W_xh"
        raise ConfigError(f"{source}: {what}; gradscope's own names are W_hh, W_xh and b")
    out = {"weight_hh_l0": arrays["W_hh"], "weight_ih_l0": arrays["W_xh"]}
    if "b" in arrays:
        out["bias_ih_l0"] = arrays["b"]
        out["bias_hh_l0"] = np.zeros_like(arrays["b"])
    return out


def _layer_indices(
    source: str, prefix: str, keymap: Mapping[str, str]
) -> dict[int, dict[str, str]]:
    """Group the stripped names by layer; the layers must be 0, 1, …, L − 1 exactly.

    The indices come from the keys present, never from their values: a file
    naming layer ``_l99999999999`` is refused for its gap, not looped up to.
    """
    by_layer: dict[int, dict[str, str]] = {}
    for name in keymap:
        part, _, layer = name.rpartition("_l")
        if layer != str(int(layer)):  # PyTorch writes _l7, never _l07
            raise ConfigError(
                f"{source}: {prefix}{name} is not a PyTorch layer name "
                f"(layer indices are written without leading zeros, as _l{int(layer)})"
            )
        by_layer.setdefault(int(layer), {})[part] = name
    present = sorted(by_layer)
    gap = next((k for k, have in enumerate(present) if have != k), None)
    if gap is not None:
        raise ConfigError(
            f"{source}: layer {gap} is missing (the file has layers "
            f"{', '.join(f'_l{k}' for k in present[:4])}{', …' if len(present) > 4 else ''}; "
            "PyTorch numbers them 0, 1, 2, … without gaps)"
        )
    return by_layer


def layers_from_arrays(
    arrays: Mapping[str, NDArray[np.generic]], *, source: str = "weights", fmt: str = "arrays"
) -> LoadedLayers:
    """Recognise the cell and check every layer of a state dict given as arrays.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        A state dict (PyTorch's names, an optional module prefix) or gradscope's
        ``W_hh``, ``W_xh``, ``b``.
    source : str
        Where the arrays came from, for messages.
    fmt : str
        Recorded in the result.

    Returns
    -------
    LoadedLayers

    Raises
    ------
    ConfigError
        No keys, unknown keys, bidirectional or projected layouts, missing layers or
        keys, shapes that do not fit one of the three cells, dtype, NaN or Inf.

    Examples
    --------
    >>> import numpy as np
    >>> w = layers_from_arrays({"weight_hh_l0": np.zeros((8, 2)), "weight_ih_l0": np.ones((8, 3))})
    >>> w.cell, w.layers[0].hidden_size, w.layers[0].input_size
    ('lstm', 2, 3)
    """
    if not arrays:
        raise ConfigError(f"{source}: holds no arrays")
    prefix = ""
    if {"W_hh", "W_xh"} & set(arrays):
        named = _native(source, arrays)
        keymap = {k: k for k in named}
    else:
        named = dict(arrays)
        prefix, keymap = _split_prefix(source, list(arrays))
    by_layer = _layer_indices(source, prefix, keymap)
    count = len(by_layer)
    layers: list[LayerWeights] = []
    cell = ""
    for k in range(count):
        parts = by_layer[k]
        for required in ("weight_ih", "weight_hh"):
            if required not in parts:
                raise ConfigError(f"{source}: missing {prefix}{required}_l{k}")
        if ("bias_ih" in parts) != ("bias_hh" in parts):
            have, lack = ("bias_ih", "bias_hh") if "bias_ih" in parts else ("bias_hh", "bias_ih")
            raise ConfigError(f"{source}: has {prefix}{have}_l{k} but no {prefix}{lack}_l{k}")
        get = {
            p: _float(source, keymap[parts[p]], named[keymap[parts[p]]], 2 if p[0] == "w" else 1)
            for p in parts
        }
        W_hh, W_ih = get["weight_hh"], get["weight_ih"]
        rows, n = W_hh.shape
        kind = _KIND_BY_GATES.get(rows // n) if n and rows % n == 0 else None
        if kind is None:
            raise ConfigError(
                f"{source}: {prefix}weight_hh_l{k} has shape {W_hh.shape}; expected (n, n) for "
                "nn.RNN, (4n, n) for nn.LSTM or (3n, n) for nn.GRU"
            )
        if cell and kind != cell:
            raise ConfigError(f"{source}: layer {k} looks like {kind} but layer 0 is {cell}")
        cell = kind
        m_expected = layers[-1].hidden_size if layers else None
        if W_ih.shape[0] != rows or (m_expected is not None and W_ih.shape[1] != m_expected):
            m = W_ih.shape[1] if m_expected is None else m_expected
            raise ConfigError(
                f"{source}: {prefix}weight_ih_l{k} has shape {W_ih.shape}; expected ({rows}, {m})"
                + (" (layer k > 0 reads the n outputs of layer k − 1)" if k else "")
            )
        biases = []
        for p in ("bias_ih", "bias_hh"):
            b = get.get(p, np.zeros(rows))
            if b.shape != (rows,):
                raise ConfigError(
                    f"{source}: {prefix}{p}_l{k} has shape {b.shape}; expected ({rows},)"
                )
            biases.append(b)
        layers.append(
            LayerWeights(index=k, cell=kind, W_ih=W_ih, W_hh=W_hh, b_ih=biases[0], b_hh=biases[1])
        )
    return LoadedLayers(path=source, format=fmt, cell=cell, layers=tuple(layers), prefix=prefix)


def load_layers(path: str | os.PathLike[str]) -> LoadedLayers:
    """Load every layer of an ``nn.RNN``/``nn.LSTM``/``nn.GRU`` state dict from a file.

    Parameters
    ----------
    path : path-like
        ``.safetensors``, ``.npz``, or a ``torch.save`` file (needs torch; loaded
        with ``weights_only=True`` only).

    Returns
    -------
    LoadedLayers

    Raises
    ------
    ConfigError
        A missing or unreadable file, a pickle holding anything but tensors, torch
        missing for a ``.pt`` file, and every problem :func:`layers_from_arrays`
        reports.
    """
    p = Path(path)
    head = _head(p)
    misnamed = misnamed_torch_file(p, head)  # torch.load would report a safetensors error
    if misnamed is not None:
        raise misnamed
    if _is_torch_file(p, head):
        return layers_from_arrays(_read_torch(p), source=str(p), fmt="torch")
    fmt = "safetensors" if p.suffix.lower() == ".safetensors" else "npz"
    return layers_from_arrays(read_arrays(p), source=str(p), fmt=fmt)
