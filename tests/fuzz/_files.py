"""Files for the fuzz, made by the test: valid ones, and every way a file can be bad.

Valid files are tiny (n = 3, T = 5) so a run on them takes a fraction of a second.
:func:`mutated` turns a valid file's bytes into a bad one: truncated, garbage,
a valid magic number followed by garbage, bytes flipped, junk appended, empty.
Hand-made bad files cover what mutation would rarely hit: a huge declared
shape in an ``.npy`` header, an ``.npz`` member or a safetensors header, NaN and
Inf, pickles under every suffix, wrong keys, shapes and dtypes, JSON and TOML
nested 10⁵ deep, 1e999 and 5000-digit integers. :func:`place` puts a case's
content into the sandbox: as a regular file, or as a folder, a FIFO, a link to
``/dev/zero``, a dangling link, or nothing at all (a missing file).
"""

# ruff: noqa: E501  (the tables of bad files read best one variant per line)
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

N, M, T = 3, 2, 5


def npy_bytes(arr: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray], *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, value in arrays.items():
            zf.writestr(f"{key}.npy", npy_bytes(value, allow_pickle=allow_pickle))
    return buf.getvalue()


def safetensors_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return bytes(save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))


@cache
def torch_bytes_of(key: str) -> bytes:
    """A ``torch.save`` file of :func:`torch_names` weights (torch imported once, here)."""
    import torch

    arrays = torch_names() if key == "rnn" else {"a": np.zeros(2)}
    buf = io.BytesIO()
    torch.save({k: torch.tensor(v) for k, v in arrays.items()}, buf)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str = "<f8", payload: int = 64) -> bytes:
    """An ``.npy`` whose header declares ``shape`` while only ``payload`` bytes follow."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * payload


def native_names(scale: float = 0.4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "W_hh": scale * rng.standard_normal((N, N)),
        "W_xh": rng.standard_normal((N, M)),
        "b": np.zeros(N),
    }


def torch_names(scale: float = 0.4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {
        "weight_hh_l0": scale * rng.standard_normal((N, N)),
        "weight_ih_l0": rng.standard_normal((N, M)),
        "bias_ih_l0": np.zeros(N),
        "bias_hh_l0": np.zeros(N),
    }


def inputs_array() -> np.ndarray:
    return np.random.default_rng(3).standard_normal((T, M))


COUNTEREXAMPLE: dict[str, object] = {
    "claim": "eigenvalue-criterion",
    "note": "ρ(W_hh) < 1 but the product grows",
    "seed": 0,
    "activation": "tanh",
    "start": 1,
    "end": 20,
    "W_hh": [[3.0, -2.2900312526733857], [3.9300773688103106, -3.0]],
    "W_xh": [[1.0, 0.0], [0.0, 1.0]],
    "b": [0.0, 0.0],
    "h0": [0.0, 0.0],
    "inputs": [[0.0, 9.07914685505548]] + [[2.290031193131218, 12.079146777053705]] * 19,
    "case": "radius below 1, exploding",
    "observed": {"log10_norm": 9.165001867513343, "spectral_radius": 2.220446049250313e-16},
}

CONFIG_TOML = (
    'families = ["identity"]\nnorms = [0.9]\nhidden = [3]\nT = [4]\n'
    'activations = ["linear"]\nseeds = 1\nseed = 0\n'
)

#: Two rows of a sweep table (hidden 2 and 3), as ``gradscope sweep`` writes them.
_ROW = {
    "family": "identity", "scale_kind": "norm", "scale": 0.9, "hidden": 3, "T": 4,
    "activation": "linear", "seed": 0, "seed_index": 0, "seeds": 1, "input_size": 8,
    "input_scale": 1.0, "horizon_cap": 1000, "gamma": 1.0, "spectral_norm": 0.9,
    "log10_measured": -0.1830299622427004, "log10_bound": -0.18302996224270046,
    "log10_ratio": 5.551115123125783e-17, "holds": True, "tolerance_log10": 1.9e-15,
    "horizon_measured@0.01": 44, "horizon_predicted@0.01": 43.70869065356567,
}  # fmt: skip


def sweep_rows() -> list[dict[str, object]]:
    rows = []
    for hidden in (2, 3):
        for T_ in (4, 8):
            rows.append({**_ROW, "hidden": hidden, "T": T_, "log10_measured": -0.05 * T_})
    return rows


def sweep_csv() -> bytes:
    rows = sweep_rows()
    head = ",".join(rows[0])
    lines = [
        ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in r.values())
        for r in rows
    ]
    return ("\n".join([head, *lines]) + "\n").encode()


def sweep_jsonl() -> bytes:
    return "".join(json.dumps(r) + "\n" for r in sweep_rows()).encode()


# --------------------------------------------------------------------------- kinds of file


#: name -> (suffix, valid bytes); the valid files each command reads.
def valid_files() -> dict[str, tuple[str, bytes]]:
    return {
        "npz-native": (".npz", npz_bytes(native_names())),
        "npz-torch": (".npz", npz_bytes(torch_names())),
        "safetensors-native": (".safetensors", safetensors_bytes(native_names())),
        "safetensors-torch": (".safetensors", safetensors_bytes(torch_names())),
        "pt": (".pt", torch_bytes_of("rnn")),
        "inputs-npy": (".npy", npy_bytes(inputs_array())),
        "h0-npy": (".npy", npy_bytes(np.zeros(N))),
        "counterexample": (".json", (json.dumps(COUNTEREXAMPLE, indent=1) + "\n").encode()),
        "config": (".toml", CONFIG_TOML.encode()),
        "sweep-csv": (".csv", sweep_csv()),
        "sweep-jsonl": (".jsonl", sweep_jsonl()),
    }


def _deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bad_files(kind: str) -> dict[str, tuple[str, bytes]]:
    """Hand-made bad files for ``kind`` (a key of :func:`valid_files`): name -> (suffix, bytes)."""
    suffix = valid_files()[kind][0]
    pickled = pickle.dumps({"W_hh": np.eye(3)})
    common = {
        "empty": (suffix, b""),
        "pickle": (suffix, pickled),
        "text": (suffix, b"W_hh = [[1, 0], [0, 1]]\nthis is a plain text file\n"),
        "nul": (suffix, b"\0" * 4096),
        "npy-huge-shape": (suffix, npy_header((10**6, 10**6))),
        "deep-json": (suffix, _deep_json(100_000)),
    }
    if suffix in (".npz", ".safetensors", ".pt"):
        arrays = native_names() if "native" in kind else torch_names()
        first = next(iter(arrays))
        bad = {
            "nan": {**arrays, first: np.full_like(arrays[first], np.nan)},
            "inf": {**arrays, first: np.full_like(arrays[first], np.inf)},
            "huge-weights": {**arrays, first: np.full_like(arrays[first], 1e300)},
            "complex": {**arrays, first: arrays[first].astype(np.complex128)},
            "int": {**arrays, first: np.ones(arrays[first].shape, dtype=np.int64)},
            "bool": {**arrays, first: np.ones(arrays[first].shape, dtype=bool)},
            "3d": {**arrays, first: np.zeros((N, N, N))},
            "non-square": {**arrays, first: np.zeros((N, N + 1))},
            "empty-array": {**arrays, first: np.zeros((0, 0))},
            "missing-key": {k: v for k, v in arrays.items() if k != first},
            "extra-key": {**arrays, "surprise": np.zeros(2)},
            "no-keys": {},
            "float16": {k: v.astype(np.float16) for k, v in arrays.items()},
            "longdouble": {k: v.astype(np.longdouble) for k, v in arrays.items()},
        }
        if suffix == ".npz":
            made = {k: (suffix, npz_bytes(v)) for k, v in bad.items() if k != "longdouble"}
            made["longdouble"] = (suffix, npz_bytes(bad["longdouble"]))
            made["object-member"] = (
                suffix,
                npz_bytes({**arrays, first: np.array([None, 1], dtype=object)}, allow_pickle=True),
            )
            made["member-huge-shape"] = (suffix, _npz_with_member(first, npy_header((2**40,))))
            made["member-truncated"] = (
                suffix,
                _npz_with_member(first, npy_bytes(arrays[first])[:-8]),
            )
            made["torch-file"] = (suffix, torch_bytes_of("rnn"))
        elif suffix == ".safetensors":
            made = {
                k: (suffix, safetensors_bytes(v))
                for k, v in bad.items()
                if k not in ("complex", "longdouble", "no-keys", "empty-array", "float16")
            }
            made["torch-file"] = (suffix, torch_bytes_of("rnn"))
            made["header-huge-length"] = (suffix, struct.pack("<Q", 2**60) + b"{}")
            made["header-huge-shape"] = (suffix, _safetensors_header({
                first: {"dtype": "F64", "shape": [10**6, 10**6], "data_offsets": [0, 8 * 10**12]}
            }))  # fmt: skip
            made["header-deep"] = (suffix, _safetensors_raw(_deep_json(50_000)))
            made["header-not-json"] = (suffix, _safetensors_raw(b"not json at all"))
        else:  # .pt
            made = {"safetensors-file": (suffix, safetensors_bytes(arrays))}
            made["npz-file"] = (suffix, npz_bytes(arrays))
            made["not-a-state-dict"] = (suffix, torch_bytes_of("other"))
        return {**common, **made}
    if suffix == ".npy":
        shape = (T, M) if kind == "inputs-npy" else (N,)
        return {
            **common,
            "nan": (suffix, npy_bytes(np.full(shape, np.nan))),
            "inf": (suffix, npy_bytes(np.full(shape, -np.inf))),
            "huge-values": (suffix, npy_bytes(np.full(shape, 1e308))),
            "wrong-ndim": (suffix, npy_bytes(np.zeros((2, 2, 2)))),
            "wrong-width": (suffix, npy_bytes(np.zeros((T, M + 3)) if len(shape) == 2 else np.zeros(N + 2))),
            "scalar": (suffix, npy_bytes(np.array(1.0))),
            "zero-length": (suffix, npy_bytes(np.zeros((0, M)) if len(shape) == 2 else np.zeros(0))),
            "complex": (suffix, npy_bytes(np.zeros(shape, dtype=np.complex128))),
            "strings": (suffix, npy_bytes(np.array(["a", "b"]))),
            "object": (suffix, npy_bytes(np.array([None, 1.0], dtype=object), allow_pickle=True)),
            "npz-archive": (suffix, npz_bytes({"x": np.zeros(shape)})),
            "huge-1d": (suffix, npy_header((2**62,), payload=8)),
            "header-garbage": (suffix, b"\x93NUMPY\x01\x00\x20\x00{'descr': 5, 'shape': 'x'}     \n"),
            "over-declared": (suffix, npy_bytes(np.zeros(shape)) + b"\0" * 4096),
            "longdouble": (suffix, npy_bytes(np.zeros(shape, dtype=np.longdouble))),
        }  # fmt: skip
    if kind == "counterexample":
        cex = COUNTEREXAMPLE
        variants: dict[str, object] = {
            "list": [cex],
            "string": "a counterexample",
            "null": None,
            "start-float": {**cex, "start": 1.7},
            "start-true": {**cex, "start": True},
            "start-negative": {**cex, "start": -3},
            "start-after-end": {**cex, "start": 19, "end": 2},
            "end-past-inputs": {**cex, "end": 10**6},
            "start-string": {**cex, "start": "one"},
            "claim-unknown": {**cex, "claim": "no-such-claim"},
            "claim-number": {**cex, "claim": 7},
            "activation-unknown": {**cex, "activation": "softmax"},
            "missing-W_hh": {k: v for k, v in cex.items() if k != "W_hh"},
            "missing-inputs": {k: v for k, v in cex.items() if k != "inputs"},
            "W_hh-ragged": {**cex, "W_hh": [[1.0], [1.0, 2.0]]},
            "W_hh-strings": {**cex, "W_hh": [["a", "b"], ["c", "d"]]},
            "W_hh-wrong-shape": {**cex, "W_hh": [[1.0, 0.0, 0.0]] * 3},
            "W_hh-huge": {**cex, "W_hh": [[1e300, 1e300], [1e300, 1e300]]},
            "inputs-wrong-width": {**cex, "inputs": [[0.0, 1.0, 2.0]] * 20},
            "h0-wrong-length": {**cex, "h0": [0.0]},
            "observed-list": {**cex, "observed": [1, 2]},
            "huge-field": {**cex, "note": "x" * 131_072},
            "theta-negative": {**cex, "claim": "memory-horizon", "theta": -1.0},
            "tampered": {**cex, "W_hh": [[0.1, 0.0], [0.0, 0.1]]},
        }
        made = {k: (suffix, json.dumps(v).encode()) for k, v in variants.items()}
        text = json.dumps(cex)
        made["start-1e999"] = (suffix, text.replace('"start": 1', '"start": 1e999').encode())
        made["start-5000-digits"] = (
            suffix,
            text.replace('"start": 1', '"start": 1' + "0" * 5000).encode(),
        )
        made["nan-literal"] = (suffix, text.replace("3.0", "NaN", 1).encode())
        made["infinity-literal"] = (suffix, text.replace("3.0", "Infinity", 1).encode())
        made["inputs-1e999"] = (suffix, text.replace("9.07914685505548", "1e999").encode())
        made["trailing-junk"] = (suffix, (text + "}{").encode())
        made["latin1"] = (suffix, text.replace("ρ", "").encode() + b"\xff\xfe")
        return {**common, **made}
    if kind == "config":
        return {
            **common,
            "deep-toml": (suffix, b"norms = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
            "deep-table": (suffix, b"x = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n"),
            "unknown-key": (suffix, (CONFIG_TOML + "colour = 'red'\n").encode()),
            "norms-and-radii": (suffix, (CONFIG_TOML + "radii = [1.0]\n").encode()),
            "norm-nan": (suffix, CONFIG_TOML.replace("[0.9]", "[nan]").encode()),
            "norm-inf": (suffix, CONFIG_TOML.replace("[0.9]", "[inf]").encode()),
            "norm-tiny": (suffix, CONFIG_TOML.replace("[0.9]", "[1e-320]").encode()),
            "norm-string": (suffix, CONFIG_TOML.replace("[0.9]", '["big"]').encode()),
            "hidden-zero": (suffix, CONFIG_TOML.replace("hidden = [3]", "hidden = [0]").encode()),
            "hidden-float": (suffix, CONFIG_TOML.replace("hidden = [3]", "hidden = [2.5]").encode()),
            "T-huge": (suffix, CONFIG_TOML.replace("T = [4]", "T = [1000000000]").encode()),
            "T-2**70": (suffix, CONFIG_TOML.replace("T = [4]", f"T = [{2**70}]").encode()),
            "seeds-huge": (suffix, CONFIG_TOML.replace("seeds = 1", "seeds = 10000000").encode()),
            "grid-1e9": (suffix, _grid_toml(1000)),
            "families-unknown": (suffix, CONFIG_TOML.replace('["identity"]', '["fancy"]').encode()),
            "seeds-list": (suffix, CONFIG_TOML.replace("seeds = 1", "seeds = [1]").encode()),
            "over-cap": (suffix, CONFIG_TOML.encode() + b"# " + b"x" * (2**20 + 10) + b"\n"),
            "not-utf8": (suffix, CONFIG_TOML.encode() + b"# \xff\xfe\n"),
        }  # fmt: skip
    if kind in ("sweep-csv", "sweep-jsonl"):
        rows = sweep_rows()
        made = {
            "header-only": (suffix, sweep_csv().split(b"\n")[0] + b"\n"),
            "a-list-line": (suffix, b"[1, 2, 3]\n" if kind == "sweep-jsonl" else b"1,2,3\n"),
            "deep-line": (suffix, _deep_json(100_000) + b"\n"),
            "huge-field": (suffix, b"family,hidden,T,log10_measured\n" + b"x" * 131_072 + b",3,4,0.1\n"),
            "huge-int": (
                suffix,
                json.dumps(rows[0]).replace('"hidden": 3', '"hidden": ' + "9" * 5000).encode()
                + b"\n"
                if kind == "sweep-jsonl"
                else sweep_csv().replace(b",3,4,", b"," + b"9" * 5000 + b",4,", 1),
            ),
            "nan-measured": (suffix, json.dumps({**rows[0], "log10_measured": float("nan")}).encode() + b"\n"
                             if kind == "sweep-jsonl" else sweep_csv().replace(b"-0.2,", b"nan,")),
            "over-cap": (suffix, sweep_jsonl() * 2**17 if kind == "sweep-jsonl" else sweep_csv() * 2**17),
        }  # fmt: skip
        return {**common, **made}
    raise KeyError(kind)


def _grid_toml(k: int) -> bytes:
    """A configuration of k norms × k hidden sizes × k horizons (10⁹ for k = 1000)."""
    ints = ",".join(str(i) for i in range(1, k + 1))
    norms = ",".join(repr(0.5 + i / (2 * k)) for i in range(k))
    return (
        f'families = ["identity"]\nnorms = [{norms}]\nhidden = [{ints}]\nT = [{ints}]\n'
        'activations = ["linear"]\nseeds = 1\n'
    ).encode()


def _npz_with_member(key: str, member: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{key}.npy", member)
    return buf.getvalue()


def _safetensors_raw(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


def _safetensors_header(header: dict[str, object]) -> bytes:
    return _safetensors_raw(json.dumps(header).encode()) + b"\0" * 64


# --------------------------------------------------------------------------- mutations


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> tuple[str, bytes, bool]:
    """``data`` made bad: returns (how, bytes, may_still_be_valid).

    Truncation and garbage are always bad; flipped bytes, appended junk of a
    text file, or a truncation at a line end may leave a file that is still
    valid (``may_still_be_valid``): then a success is allowed too.
    """
    how = draw(
        st.sampled_from(
            ["truncate", "garbage", "magic-garbage", "flip", "append", "empty", "repeat"]
        )
    )
    if how == "truncate":
        k = draw(st.integers(0, max(0, len(data.rstrip()) - 1)))
        return how, data[:k], data[:k].endswith(b"\n")
    if how == "garbage":
        return how, draw(st.binary(min_size=1, max_size=4096)), False
    if how == "magic-garbage":
        return how, data[:8] + draw(st.binary(min_size=0, max_size=512)), False
    if how == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(out) - 1))
            out[i] = draw(st.integers(0, 255))
        return how, bytes(out), True
    if how == "append":
        return how, data + draw(st.binary(min_size=1, max_size=256)), True
    if how == "repeat":
        return how, data * 2, True
    return how, b"", False


# --------------------------------------------------------------------------- placing

#: Ways a path given as an input file can be something else than a regular file.
SPECIAL = ("missing", "folder", "fifo", "dev-zero", "dangling-link", "link-to-folder")


def place(path: Path, content: bytes | str) -> Path:
    """Put ``content`` at ``path``: bytes as a regular file, or a :data:`SPECIAL` kind."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "missing":
        pass
    elif content == "folder":
        path.mkdir()
        (path / "inside.txt").write_text("a folder, not a file\n")
    elif content == "fifo":
        os.mkfifo(path)
    elif content == "dev-zero":
        path.symlink_to("/dev/zero")
    elif content == "dangling-link":
        path.symlink_to(path.with_name("nowhere" + path.suffix))
    elif content == "link-to-folder":
        path.parent.joinpath("a-folder").mkdir(exist_ok=True)
        path.symlink_to(path.parent / "a-folder")
    else:
        raise ValueError(content)
    return path


Maker = Callable[[Path], None]
