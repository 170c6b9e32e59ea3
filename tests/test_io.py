"""Loading users' weights: both key conventions, and every bad file refused cleanly."""

import os
import pickle
import zipfile

import numpy as np
import pytest

from gradscope.errors import ConfigError
from gradscope.io import load_array, load_rnn, read_arrays, write_atomic

rng = np.random.default_rng(0)
W_HH, W_XH, B_IH, B_HH = (
    rng.standard_normal((4, 4)),
    rng.standard_normal((4, 3)),
    rng.standard_normal(4),
    rng.standard_normal(4),
)


def save_safetensors(path, **arrays):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_both_key_conventions_in_both_formats(tmp_path, fmt):
    native = tmp_path / f"native.{fmt}"
    torch_names = tmp_path / f"torch.{fmt}"
    save = np.savez if fmt == "npz" else save_safetensors
    save(native, W_hh=W_HH, W_xh=W_XH, b=B_IH + B_HH)
    save(torch_names, weight_hh_l0=W_HH, weight_ih_l0=W_XH, bias_ih_l0=B_IH, bias_hh_l0=B_HH)
    a, b = load_rnn(native), load_rnn(torch_names, activation="relu")
    assert (a.convention, b.convention) == ("gradscope", "pytorch")
    np.testing.assert_array_equal(a.rnn.W_hh, b.rnn.W_hh)
    np.testing.assert_array_equal(a.rnn.W_xh, b.rnn.W_xh)
    np.testing.assert_array_equal(a.rnn.b, b.rnn.b)  # the two PyTorch biases are summed
    assert b.rnn.activation.name == "relu"


def test_bias_is_optional(tmp_path):
    np.savez(tmp_path / "w.npz", weight_hh_l0=W_HH, weight_ih_l0=W_XH)
    assert load_rnn(tmp_path / "w.npz").rnn.b.tolist() == [0.0] * 4


class Evil:
    """A pickle that creates a marker file when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_files(tmp_path):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps({"weight_hh_l0": Evil(marker)}, protocol=2)
    raw = tmp_path / "model.pt"
    raw.write_bytes(payload)
    renamed = tmp_path / "model.npz"  # a raw pickle disguised as .npz
    renamed.write_bytes(payload)
    torch_zip = tmp_path / "checkpoint.npz"  # torch.save's zip layout, renamed
    with zipfile.ZipFile(torch_zip, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    object_npz = tmp_path / "object.npz"  # numpy pickles object arrays inside .npz
    np.savez(object_npz, W_hh=np.array([Evil(marker)], dtype=object), W_xh=W_XH)
    return marker, [raw, renamed, torch_zip, object_npz]


def test_a_malicious_pickle_is_never_executed(tmp_path):
    marker, files = _evil_files(tmp_path)
    # sanity: the payload really would run if unpickled
    pickle.loads(files[0].read_bytes())
    assert marker.exists()
    marker.unlink()
    for path in files:
        with pytest.raises(ConfigError) as info:
            load_rnn(path)
        assert not marker.exists(), f"{path.name} executed code"
        message = str(info.value)
        assert "\n" not in message
        assert "pickle" in message.lower()
    # an .npy input with a pickle inside is refused too
    evil_npy = tmp_path / "inputs.npy"
    np.save(evil_npy, np.array([Evil(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError, match="pickled object array"):
        load_array(evil_npy, name="inputs", ndim=2)
    assert not marker.exists()


def test_pytorch_checkpoint_gets_an_export_hint(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ConfigError, match=r"safetensors\.torch\.save_file"):
        load_rnn(path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"W_hh": W_HH}, "missing key.*W_xh"),
        ({"weight_hh_l0": W_HH}, "missing key.*weight_ih_l0"),
        ({"W_hh": W_HH, "W_xh": W_XH, "extra": W_HH}, "unknown key.*extra"),
        (
            {"weight_hh_l0": W_HH, "weight_ih_l0": W_XH, "weight_hh_l1": W_HH},
            "single-layer",
        ),
        ({"foo": W_HH}, "no recurrent weights found"),
        ({"W_hh": np.ones((4, 3)), "W_xh": W_XH}, "must be square"),
        ({"W_hh": W_HH, "W_xh": np.ones((3, 3))}, "needs 4 rows"),
        ({"W_hh": W_HH, "W_xh": W_XH, "b": np.ones(5)}, r"b has shape \(5,\)"),
        ({"W_hh": np.full((4, 4), np.nan), "W_xh": W_XH}, "NaN or Inf"),
        ({"W_hh": W_HH, "W_xh": np.full((4, 3), np.inf)}, "NaN or Inf"),
        ({"W_hh": np.ones(4), "W_xh": W_XH}, r"expected \(n, n\)"),
    ],
)
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_bad_contents(tmp_path, arrays, message, fmt):
    path = tmp_path / f"w.{fmt}"
    (np.savez if fmt == "npz" else save_safetensors)(path, **arrays)
    with pytest.raises(ConfigError, match=message) as info:
        load_rnn(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_non_numeric_arrays_are_refused(tmp_path):
    # (safetensors cannot even store strings, so only .npz can carry them)
    np.savez(tmp_path / "w.npz", W_hh=np.array([["a"] * 4] * 4), W_xh=W_XH)
    with pytest.raises(ConfigError, match="real numbers"):
        load_rnn(tmp_path / "w.npz")


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_missing_and_truncated_files(tmp_path, fmt):
    with pytest.raises(ConfigError, match="no such file"):
        load_rnn(tmp_path / f"absent.{fmt}")
    good = tmp_path / f"good.{fmt}"
    (np.savez if fmt == "npz" else save_safetensors)(good, W_hh=W_HH, W_xh=W_XH)
    data = good.read_bytes()
    for cut in (len(data) // 2, 20, 3):
        bad = tmp_path / f"cut{cut}.{fmt}"
        bad.write_bytes(data[:cut])
        with pytest.raises(ConfigError, match=r"truncated or corrupt|cannot be read"):
            load_rnn(bad)
    with pytest.raises(ConfigError, match="is a folder"):
        load_rnn(tmp_path)


def test_unknown_format(tmp_path):
    path = tmp_path / "w.txt"
    path.write_text("1 2 3")
    with pytest.raises(ConfigError, match="unknown weights format"):
        read_arrays(path)


def test_load_array_checks(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((5, 3)))
    assert load_array(tmp_path / "x.npy", name="inputs", ndim=2).shape == (5, 3)
    with pytest.raises(ConfigError, match="must be 1-D"):
        load_array(tmp_path / "x.npy", name="h0", ndim=1)
    np.save(tmp_path / "nan.npy", np.array([[np.nan]]))
    with pytest.raises(ConfigError, match="NaN or Inf"):
        load_array(tmp_path / "nan.npy", name="inputs", ndim=2)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "x.npy").read_bytes()[:40])
    with pytest.raises(ConfigError, match="cannot be read"):
        load_array(tmp_path / "cut.npy", name="inputs", ndim=2)


def test_write_atomic_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "old")

    class Boom(str):
        def __len__(self):
            raise RuntimeError("disk full")

    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
