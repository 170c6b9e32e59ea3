"""gradscope spectrum: generated and users' own weights, PyTorch's, and every bad input."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.model import RNN
from gradscope.numeric.spectrum import compute_spectrum

rng = np.random.default_rng(3)
N, M, T = 5, 3, 40
W_HH = 0.8 * rng.standard_normal((N, N)) / np.sqrt(N)
W_XH = rng.standard_normal((N, M))
B_IH, B_HH = 0.1 * rng.standard_normal(N), 0.1 * rng.standard_normal(N)
X = rng.standard_normal((T, M))
H0 = 0.2 * rng.standard_normal(N)


def invoke(*args):
    return CliRunner().invoke(main, ["spectrum", *map(str, args)])


def spectrum_json(*args):
    res = invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def save_safetensors(path, **arrays):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))


def test_generated_matches_the_python_api():
    out = spectrum_json(
        "--family", "non-normal", "--radius", "0.95", "--hidden", "12", "--T", "300", "--seed", "4"
    )
    rnn = random_rnn("non-normal", 12, radius=0.95, seed=instance_seed(4, 0))
    x = random_inputs(300, 8, seed=instance_seed(4, 0))
    ref = compute_spectrum(rnn, x)
    assert out["log10_singular_values"] == ref.log10_singular_values.tolist()
    assert len(out["log10_singular_values"]) == 12
    assert out["log10_singular_values"] == sorted(out["log10_singular_values"], reverse=True)
    assert out["settings"]["start"] == 0 and out["settings"]["end"] == 300
    assert out["bound"]["holds"] is True


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
@pytest.mark.parametrize("names", ["gradscope", "pytorch"])
def test_users_file_matches_the_python_api(tmp_path, fmt, names):
    path = tmp_path / f"w.{fmt}"
    save = np.savez if fmt == "npz" else save_safetensors
    if names == "gradscope":
        save(path, W_hh=W_HH, W_xh=W_XH, b=B_IH + B_HH)
    else:
        save(path, weight_hh_l0=W_HH, weight_ih_l0=W_XH, bias_ih_l0=B_IH, bias_hh_l0=B_HH)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "h0.npy", H0)
    out = spectrum_json(
        "--weights",
        path,
        "--inputs",
        tmp_path / "x.npy",
        "--h0",
        tmp_path / "h0.npy",
        "--start",
        "3",
        "--end",
        "35",
    )
    rnn = RNN(W_hh=W_HH, W_xh=W_XH, b=B_IH + B_HH)
    ref = compute_spectrum(rnn, X, H0, start=3, end=35)
    np.testing.assert_allclose(
        out["log10_singular_values"], ref.log10_singular_values, rtol=1e-14, atol=1e-14
    )  # the file's b is summed in a different order
    assert out["settings"]["T"] == T


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_a_real_torch_rnn_against_autograd(tmp_path, fmt):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.RNN(input_size=M, hidden_size=N, nonlinearity="tanh", batch_first=True)
    net = net.double()
    state = {k: v.detach() for k, v in net.state_dict().items()}
    path = tmp_path / f"rnn.{fmt}"
    if fmt == "npz":
        np.savez(path, **{k: v.numpy() for k, v in state.items()})
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    x = rng.standard_normal((8, M))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "h0.npy", H0)
    out = spectrum_json(
        "--weights", path, "--inputs", tmp_path / "x.npy", "--h0", tmp_path / "h0.npy"
    )

    xt = torch.tensor(x)[None]

    def h_T(h0):
        return net(xt, h0.reshape(1, 1, N))[1].reshape(N)

    J = torch.autograd.functional.jacobian(h_T, torch.tensor(H0)).numpy()
    ref = np.log10(np.linalg.svd(J, compute_uv=False))
    assert ref[0] - ref[-1] < 6  # small spread: the float SVD of J is accurate for every σ_i
    np.testing.assert_allclose(out["log10_singular_values"], ref, rtol=1e-10, atol=1e-12)


def _one_line_error(res, code):
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    assert sum(ln.startswith("Error:") for ln in res.output.splitlines()) == 1
    return res.output


@pytest.fixture
def files(tmp_path):
    np.savez(tmp_path / "w.npz", W_hh=W_HH, W_xh=W_XH, b=B_IH)
    np.save(tmp_path / "x.npy", X)
    return tmp_path


@pytest.mark.parametrize(
    ("make", "args", "code", "message"),
    [
        (None, ["--weights", "{d}/absent.npz", "--inputs", "{d}/x.npy"], 1, "no such file"),
        ("truncated", ["--weights", "{d}/cut.npz", "--inputs", "{d}/x.npy"], 1, "truncated"),
        ("object", ["--weights", "{d}/obj.npz", "--inputs", "{d}/x.npy"], 1, "pickled object"),
        ("pt", ["--weights", "{d}/model.pt", "--inputs", "{d}/x.npy"], 1, "never unpickles"),
        ("missing", ["--weights", "{d}/missing.npz", "--inputs", "{d}/x.npy"], 1, "missing key"),
        ("unknown", ["--weights", "{d}/unknown.npz", "--inputs", "{d}/x.npy"], 1, "unknown key"),
        ("square", ["--weights", "{d}/square.npz", "--inputs", "{d}/x.npy"], 1, "square"),
        ("shapes", ["--weights", "{d}/shapes.npz", "--inputs", "{d}/x.npy"], 1, "rows"),
        ("nanw", ["--weights", "{d}/nanw.npz", "--inputs", "{d}/x.npy"], 1, "NaN or Inf"),
        ("nanx", ["--weights", "{d}/w.npz", "--inputs", "{d}/nanx.npy"], 1, "NaN or Inf"),
        ("wide", ["--weights", "{d}/w.npz", "--inputs", "{d}/wide.npy"], 1, "width"),
        ("empty", ["--weights", "{d}/w.npz", "--inputs", "{d}/empty.npy"], 1, "at least one row"),
        (None, ["--weights", "{d}/w.npz", "--inputs", "{d}/x.npy", "--h0", "{d}/x.npy"], 1, "h0"),
        (None, ["--norm", "1", "--T", "0"], 2, "--T"),
        (None, ["--weights", "{d}/w.npz", "--inputs", "{d}/x.npy", "--start", "40"], 2, "--start"),
        (None, ["--norm", "1", "--T", "10", "--start", "5", "--end", "5"], 2, "smaller than"),
        (None, ["--norm", "1", "--T", "10", "--end", "11"], 2, "past the last step"),
        (None, ["--weights", "{d}/w.npz", "--inputs", "{d}/x.npy", "--T", "7"], 2, "disagrees"),
        (None, ["--weights", "{d}/w.npz", "--norm", "1"], 2, "cannot be combined"),
        (None, ["--T", "10"], 2, "exactly one of --norm and --radius"),
        (None, ["--norm", "-1"], 2, "--norm"),
    ],
)
def test_bad_input_is_one_clear_line(files, make, args, code, message):
    d = files
    good = (d / "w.npz").read_bytes()
    makers = {
        "truncated": lambda: (d / "cut.npz").write_bytes(good[: len(good) // 2]),
        "object": lambda: np.savez(d / "obj.npz", W_hh=np.array([object()]), W_xh=W_XH),
        "pt": lambda: (d / "model.pt").write_bytes(pickle.dumps({"weight_hh_l0": [1.0]})),
        "missing": lambda: np.savez(d / "missing.npz", W_hh=W_HH),
        "unknown": lambda: np.savez(d / "unknown.npz", W_hh=W_HH, W_xh=W_XH, gain=W_HH),
        "square": lambda: np.savez(d / "square.npz", W_hh=np.ones((N, N + 1)), W_xh=W_XH),
        "shapes": lambda: np.savez(d / "shapes.npz", W_hh=W_HH, W_xh=np.ones((N + 1, M))),
        "nanw": lambda: np.savez(d / "nanw.npz", W_hh=np.full((N, N), np.nan), W_xh=W_XH),
        "nanx": lambda: np.save(d / "nanx.npy", np.full((T, M), np.inf)),
        "wide": lambda: np.save(d / "wide.npy", np.ones((T, M + 2))),
        "empty": lambda: np.save(d / "empty.npy", np.ones((0, M))),
    }
    if make:
        makers[make]()
    res = invoke(*[a.format(d=d) for a in args])
    assert message in _one_line_error(res, code)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_never_executed_from_the_command_line(files):
    d = files
    marker = d / "PWNED"
    payload = pickle.dumps({"weight_hh_l0": Evil(marker)}, protocol=2)
    (d / "model.pt").write_bytes(payload)
    (d / "model.safetensors").write_bytes(payload)
    with zipfile.ZipFile(d / "ckpt.npz", "w") as zf:
        zf.writestr("archive/data.pkl", payload)
    np.savez(d / "obj.npz", W_hh=np.array([Evil(marker)], dtype=object), W_xh=W_XH)
    np.save(d / "evil.npy", np.array([Evil(marker)], dtype=object), allow_pickle=True)
    for weights, inputs in [
        ("model.pt", "x.npy"),
        ("model.safetensors", "x.npy"),
        ("ckpt.npz", "x.npy"),
        ("obj.npz", "x.npy"),
        ("w.npz", "evil.npy"),
    ]:
        res = invoke("--weights", d / weights, "--inputs", d / inputs)
        _one_line_error(res, 1)
        assert not marker.exists(), weights


def test_table_output(files):
    res = invoke("--weights", files / "w.npz", "--inputs", files / "x.npy")
    assert res.exit_code == 0
    assert "log10 σ_i" in res.output and "gradscope names" in res.output
    assert "float64 SVD of the product would resolve" in res.output
