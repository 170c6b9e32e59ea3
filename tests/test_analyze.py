"""gradscope analyze: real PyTorch RNN/LSTM/GRU weights in every format, against autograd.

Every number is checked against torch.autograd on the same inputs; every bad file is one
clear line with the right exit code; a trained model's horizon grows with training.
"""

import functools
import json
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from gradscope.cli import main
from gradscope.io_cells import load_layers
from gradscope.studies.analyze import DEFAULT_T, compute_analysis

M, N, T, THETA = 3, 6, 40, 1e-2
CLASSES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
X = np.random.default_rng(11).standard_normal((T, M))


def module(cell, seed=0, shift=0.0, **kwargs):
    """A float64 torch module (2 layers unless told), biases b_ih shifted by ``shift``."""
    torch.manual_seed(seed)
    kwargs.setdefault("num_layers", 2)
    net = CLASSES[cell](M, N, batch_first=True, **kwargs).double()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("bias_ih"):
                p.add_(shift)
    return net


def save(net_or_dict, path):
    sd = net_or_dict if isinstance(net_or_dict, dict) else net_or_dict.state_dict()
    sd = {k: v.detach().contiguous() for k, v in sd.items()}
    if path.suffix == ".pt":
        torch.save(sd, path)
    elif path.suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        np.savez(path, **{k: v.numpy() for k, v in sd.items()})
    return path


def invoke(*args):
    return CliRunner().invoke(main, ["analyze", *map(str, args)])


def analyze_json(*args):
    res = invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # JSON alone on stdout


def one_line_error(res, code):
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    assert sum(ln.startswith("Error:") for ln in res.output.splitlines()) == 1, res.output
    return res.output


@functools.cache
def autograd_reference(cell, seed=0, nonlinearity="tanh", shift=0.0):
    """Per layer: log10 σ(∂s_T/∂s_0), log10 ‖∂s_T/∂s_(T−k)‖₂ for k = 1..T, the horizon."""
    extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    net = module(cell, seed, shift, **extra)
    sd = net.state_dict()
    x = torch.tensor(X)[None]
    out = []
    for k in range(2):
        single = CLASSES[cell](x.shape[-1], N, batch_first=True, **extra).double()
        single.load_state_dict({nm: sd[f"{nm[:-3]}_l{k}"] for nm in single.state_dict()})
        size = 2 * N if cell == "lstm" else N

        def run(s, xs, single=single):
            if cell == "lstm":
                _, (h, c) = single(xs, (s[:N].reshape(1, 1, N), s[N:].reshape(1, 1, N)))
                return torch.cat([h.reshape(N), c.reshape(N)])
            return single(xs, s.reshape(1, 1, N))[1].reshape(N)

        s = torch.zeros(size, dtype=torch.float64)
        J_all = torch.autograd.functional.jacobian(functools.partial(run, xs=x), s).numpy()
        steps, hs = [], []
        for t in range(T):
            steps.append(
                torch.autograd.functional.jacobian(functools.partial(run, xs=x[:, t : t + 1]), s)
            )
            s = run(s, x[:, t : t + 1]).detach()
            hs.append(s[:N])
        P, back, horizon = np.eye(size), [], None
        for j in range(1, T + 1):
            P = P @ steps[T - j].numpy()
            back.append(np.log10(np.linalg.norm(P, 2)))
            if horizon is None and back[-1] < np.log10(THETA):
                horizon = j
        out.append((np.log10(np.linalg.svd(J_all, compute_uv=False)), np.array(back), horizon))
        x = torch.stack(hs)[None]
    return out


@pytest.mark.parametrize("fmt", ["pt", "safetensors", "npz"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_cell_in_every_format_matches_autograd(tmp_path, cell, fmt):
    """Hypothesis: for a 2-layer module saved as .pt/.safetensors/.npz, every layer's
    spectrum of ∂s_T/∂s_0, its norms ‖∂s_T/∂s_(T−k)‖₂ and its memory horizon are autograd's."""
    path = save(module(cell), tmp_path / f"w.{fmt}")
    np.save(tmp_path / "x.npy", X)
    out = analyze_json(path, "--inputs", tmp_path / "x.npy")
    assert out["cell"] == cell and out["num_layers"] == 2 and out["inputs"]["T"] == T
    assert out["format"] == ("torch" if fmt == "pt" else fmt)
    assert [layer["layer"] for layer in out["layers"]] == [0, 1]
    for layer, (ref_s, ref_back, ref_h) in zip(
        out["layers"], autograd_reference(cell), strict=True
    ):
        s = np.array(layer["log10_singular_values"])
        assert layer["cell"] == cell and len(s) == (2 * N if cell == "lstm" else N)
        assert np.all(np.diff(s) <= 0)
        resolved = ref_s >= ref_s[0] - 4  # where the float64 Jacobian resolves σ_i to ~1e-12
        assert resolved.sum() >= 2
        assert np.max(np.abs(s[resolved] - ref_s[resolved])) * np.log(10) < 1e-10
        assert layer["memory_horizon"]["steps"] == ref_h
        for entry in layer["log10_norm_back"]:
            assert entry["log10_norm"] == pytest.approx(ref_back[entry["k"] - 1], abs=1e-11)
        assert len(layer["lyapunov_exponents"]) == len(s)
        # the verdict, from autograd's numbers: a horizon forgets, ‖∂s_T/∂s_0‖₂ > 1/θ explodes
        if ref_h is not None:
            expected = "forgets"
        elif ref_back[T - 1] > -np.log10(THETA):
            expected = "explodes"
        else:
            expected = "keeps"
        assert layer["verdict"] == expected and layer["message"]


def test_layer_option_picks_one_layer(tmp_path):
    """Hypothesis: --layer 1 is layer 1 of the full analysis, driven by layer 0's outputs."""
    path = save(module("lstm"), tmp_path / "w.safetensors")
    np.save(tmp_path / "x.npy", X)
    full = analyze_json(path, "--inputs", tmp_path / "x.npy")
    one = analyze_json(path, "--inputs", tmp_path / "x.npy", "--layer", "1")
    assert len(one["layers"]) == 1 and one["layers"][0] == full["layers"][1]


def test_without_inputs_zeros_of_the_default_length_and_it_says_so(tmp_path):
    """Hypothesis: no --inputs means DEFAULT_T = 100 zero steps, recorded and printed."""
    path = save(module("gru"), tmp_path / "w.npz")
    out = analyze_json(path)
    assert DEFAULT_T == 100
    assert out["inputs"]["zeros"] is True and out["inputs"]["T"] == 100
    assert "zero inputs" in out["inputs"]["note"]
    assert out["layers"][0]["T"] == 100 and out["layers"][0]["product"] == "ds_100/ds_0"
    assert analyze_json(path, "--T", "30")["inputs"]["T"] == 30
    text = invoke(path)
    assert text.exit_code == 0 and "100 steps of zeros" in text.output
    assert "verdict:" in text.output and "memory horizon" in text.output


def test_relu_rnn_and_the_bound(tmp_path):
    """Hypothesis: --activation relu reads nn.RNN(nonlinearity='relu') as autograd does; an
    nn.RNN gets ρ, ‖W_hh‖₂ and a bound that holds, a gated cell gets no invented bound."""
    path = save(module("rnn", shift=1.0, nonlinearity="relu"), tmp_path / "w.safetensors")
    np.save(tmp_path / "x.npy", X)
    out = analyze_json(path, "--inputs", tmp_path / "x.npy", "--activation", "relu")
    ref = autograd_reference("rnn", 0, "relu", 1.0)
    for layer, (ref_s, _, ref_h) in zip(out["layers"], ref, strict=True):
        s = np.array(layer["log10_singular_values"], dtype=float)
        ok = ref_s >= ref_s[0] - 4
        assert ok.sum() >= 2 and layer["activation"] == "relu"
        assert np.max(np.abs(s[ok] - ref_s[ok])) * np.log(10) < 1e-10
        assert layer["memory_horizon"]["steps"] == ref_h
        assert layer["bound"]["holds"] is True and layer["bound"]["gamma"] == 1.0
        assert layer["weights"]["spectral_radius"] <= layer["weights"]["spectral_norms"]["W_hh"]
    tanh = analyze_json(path, "--inputs", tmp_path / "x.npy")
    assert tanh["layers"][0]["activation"] == "tanh"
    assert tanh["layers"][0]["log10_singular_values"] != out["layers"][0]["log10_singular_values"]
    lstm = analyze_json(save(module("lstm"), tmp_path / "l.npz"), "--T", "20")["layers"][0]
    assert lstm["bound"] is None and "no (gamma ||W||)^T bound" in lstm["bound_note"]
    assert set(lstm["weights"]["spectral_norms"]) == {"W_hi", "W_hf", "W_hg", "W_ho"}


def test_a_relu_layer_switched_off_is_an_exact_zero(tmp_path):
    """Hypothesis: when every ReLU unit is off at some step, ∂h_T/∂h_0 is exactly 0 — autograd
    agrees — and gradscope reports log10 σ = null (−∞) and forgets within the run."""
    path = save(module("rnn", nonlinearity="relu"), tmp_path / "w.npz")
    np.save(tmp_path / "x.npy", X)
    out = analyze_json(path, "--inputs", tmp_path / "x.npy", "--activation", "relu")
    with np.errstate(divide="ignore"):
        ref = autograd_reference("rnn", 0, "relu")
    layer, (ref_s, _, ref_h) = out["layers"][0], ref[0]
    assert np.all(ref_s == -np.inf) and layer["log10_singular_values"] == [None] * N
    assert layer["memory_horizon"]["steps"] == ref_h and layer["verdict"] == "forgets"


def test_a_module_prefix_is_read_and_other_modules_are_named(tmp_path):
    """Hypothesis: 'rnn.weight_ih_l0' etc. of a wrapper are read; a head beside it is refused
    with the fix (save model.rnn.state_dict())."""
    net = module("gru")
    sd = {f"rnn.{k}": v for k, v in net.state_dict().items()}
    plain = compute_analysis(load_layers(save(net, tmp_path / "a.npz")), X)
    loaded = load_layers(save(sd, tmp_path / "b.npz"))
    assert loaded.prefix == "rnn."
    b = compute_analysis(loaded, X)
    assert (
        b.layers[1].log10_singular_values.tolist()
        == plain.layers[1].log10_singular_values.tolist()
    )
    sd["fc.weight"] = torch.zeros(1, N, dtype=torch.float64)
    msg = one_line_error(invoke(save(sd, tmp_path / "c.npz")), 1)
    assert "fc.weight" in msg and "model.rnn.state_dict()" in msg


def _bad_files(d):
    good = module("lstm").state_dict()

    def edited(**changes):
        sd = dict(good)
        for k, v in changes.items():
            if v is None:
                sd.pop(k)
            else:
                sd[k] = v
        return sd

    nan = good["weight_hh_l1"].clone()
    nan[0, 0] = float("nan")
    return {
        "unknown": (edited(gain=torch.ones(3, dtype=torch.float64)), "unknown key(s) gain"),
        "bidirectional": (module("gru", bidirectional=True).state_dict(), "bidirectional"),
        "projected": (module("lstm", proj_size=2).state_dict(), "projected LSTM"),
        "shape": (edited(weight_hh_l0=torch.ones(10, 5, dtype=torch.float64)), "(4n, n) for"),
        "width": (edited(weight_ih_l1=torch.ones(4 * N, N + 1, dtype=torch.float64)), "k − 1"),
        "gap": ({k: v for k, v in good.items() if not k.endswith("_l0")}, "layer 0 is missing"),
        "bias": (edited(bias_hh_l1=None), "no bias_hh_l1"),
        "mixed": (
            edited(weight_hh_l1=torch.ones(3 * N, N, dtype=torch.float64)),
            "looks like gru",
        ),
        "nan": (edited(weight_hh_l1=nan), "1 NaN or Inf"),
    }


@pytest.mark.parametrize("fmt", ["pt", "safetensors", "npz"])
@pytest.mark.parametrize(
    "case",
    ["unknown", "bidirectional", "projected", "shape", "width", "gap", "bias", "mixed", "nan"],
)
def test_bad_weights_are_one_clear_line(tmp_path, case, fmt):
    """Hypothesis: every malformed state dict, in every format, is exit 1 and one line."""
    sd, message = _bad_files(tmp_path)[case]
    msg = one_line_error(invoke(save(sd, tmp_path / f"w.{fmt}")), 1)
    assert message in msg


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["{d}/absent.pt"], 1, "no such file"),
        (["{d}/w.npz", "--inputs", "{d}/wide.npy"], 1, "(T, 3)"),
        (["{d}/w.npz", "--inputs", "{d}/nan.npy"], 1, "NaN or Inf"),
        (["{d}/w.npz", "--inputs", "{d}/x.npy", "--T", "7"], 2, "disagrees"),
        (["{d}/w.npz", "--layer", "2"], 2, "has 2 (0..1)"),
        (["{d}/w.npz", "--threshold", "1.5"], 2, "below 1"),
        (["{d}/w.npz", "--threshold", "0"], 2, "--threshold"),
        (["{d}/w.npz", "--activation", "relu"], 2, "nn.RNN weights only"),
        (["{d}/w.npz", "--T", "0"], 2, "--T"),
        (["{d}/model.pt"], 1, "not a state dict"),
        (["{d}/ckpt.pt"], 1, "training checkpoint"),
        (["{d}/cut.pt"], 1, "cannot be read as a PyTorch checkpoint"),
    ],
)
def test_bad_usage_and_data(tmp_path, args, code, message):
    """Hypothesis: exit 2 for bad usage, 1 for bad data, one line each."""
    d = tmp_path
    save(module("lstm"), d / "w.npz")
    np.save(d / "x.npy", X)
    np.save(d / "wide.npy", np.ones((T, M + 1)))
    np.save(d / "nan.npy", np.full((T, M), np.nan))
    torch.save([torch.zeros(2)], d / "model.pt")  # a list: allowed by weights_only, not a dict
    torch.save({"model": module("lstm").state_dict(), "epoch": 3}, d / "ckpt.pt")
    good = save(module("lstm"), d / "good.pt").read_bytes()
    (d / "cut.pt").write_bytes(good[: len(good) // 2])
    res = invoke(*[a.format(d=d) for a in args])
    assert message in one_line_error(res, code)


class Evil:
    """Unpickling this would create ``marker`` (it calls open(marker, 'w'))."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickles_are_refused_never_run(tmp_path):
    """Hypothesis: a .pt whose pickle would run code is refused by weights_only=True loading,
    as one line, and the code never runs (torch.save's zip format and a raw pickle)."""
    marker = tmp_path / "PWNED"
    torch.save({"weight_hh_l0": torch.zeros(2, 2), "x": Evil(marker)}, tmp_path / "zip.pt")
    (tmp_path / "raw.pth").write_bytes(pickle.dumps({"weight_hh_l0": Evil(marker)}, protocol=2))
    (tmp_path / "raw.safetensors").write_bytes(pickle.dumps({"a": Evil(marker)}, protocol=4))
    torch.save(Evil(marker), tmp_path / "model.bin")
    for name in ("zip.pt", "raw.pth", "raw.safetensors", "model.bin"):
        msg = one_line_error(invoke(tmp_path / name), 1)
        assert not marker.exists(), name
        if name != "raw.safetensors":  # torch reads a *.safetensors name as safetensors
            assert "refused" in msg and "nothing in the file was run" in msg, name
    pickle.loads(
        pickle.dumps(Evil(marker))
    ).close()  # the payload is real: loading it unsafely runs it
    assert marker.exists()


def test_torch_load_is_only_called_with_weights_only(tmp_path, monkeypatch):
    """Hypothesis: every torch.load that gradscope makes passes weights_only=True."""
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    out = analyze_json(save(module("rnn"), tmp_path / "w.pt"), "--T", "10")
    assert out["cell"] == "rnn" and calls == [True]


def test_without_torch_a_pt_file_names_the_extra_and_the_rest_still_works(tmp_path, monkeypatch):
    """Hypothesis: torch is optional — .pt needs the extra, .safetensors and .npz do not."""
    pt = save(module("gru"), tmp_path / "w.pt")
    st = save(module("gru"), tmp_path / "w.safetensors")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    msg = one_line_error(invoke(pt), 1)
    assert "gradscope[torch]" in msg
    assert analyze_json(st, "--T", "10")["cell"] == "gru"


# --- a model trained in the test suite remembers longer --------------------------------

LAG, HIDDEN, TRAIN_STEPS = 10, 16, 200


def _train_delay_rnn(seed, lag):
    """nn.RNN(1 → 16, tanh) + linear head trained to output x_{t−lag} (Adam, 200 steps)."""
    torch.manual_seed(seed)
    rnn = torch.nn.RNN(1, HIDDEN, batch_first=True)
    head = torch.nn.Linear(HIDDEN, 1)
    before = {k: v.detach().clone() for k, v in rnn.state_dict().items()}
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-2)
    length = LAG + 20
    for _ in range(TRAIN_STEPS):
        x = torch.randn(64, length, 1)
        target = x[:, : length - lag] if lag else x
        out, _ = rnn(x)
        loss = ((head(out)[:, lag:] - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, rnn.state_dict(), loss.item()


def _horizon(state, path):
    x = np.random.default_rng(0).standard_normal((100, 1))
    return compute_analysis(load_layers(save(state, path)), x).layers[0].horizon


@pytest.mark.slow
def test_training_on_a_delay_task_lengthens_the_memory_horizon(tmp_path):
    """Hypothesis: training on 'output the input from 10 steps ago' makes gradients reach
    further back — the measured horizon at θ = 0.01 grows past the lag, for 3 seeds — while
    the same training with lag 0 (no memory needed) leaves the horizon about where it was."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic on every machine with the same torch
    try:
        _train_three_seeds(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _train_three_seeds(tmp_path):
    for seed in range(3):
        before, after, loss = _train_delay_rnn(seed, LAG)
        _, control, _ = _train_delay_rnn(seed, 0)
        h0 = _horizon(before, tmp_path / "b.safetensors")
        h1 = _horizon(after, tmp_path / "a.safetensors")
        hc = _horizon(control, tmp_path / "c.safetensors")
        print(f"seed {seed}: horizon {h0} -> {h1} (lag 0 control: {hc}), loss {loss:.3f}")
        assert loss < 0.1  # it learned the task (the untrained loss is about 1)
        assert h0 is not None and h0 < LAG + 3
        assert h1 is None or h1 >= LAG + 10
        assert hc is not None and hc <= h0 + 3


def test_the_readme_example_runs(tmp_path):
    """Hypothesis: the help's example (an LSTM in safetensors with --inputs) works as printed."""
    np.save(tmp_path / "x.npy", X)
    res = invoke(
        save(module("lstm"), tmp_path / "lstm.safetensors"), "--inputs", tmp_path / "x.npy"
    )
    assert res.exit_code == 0, res.output
    assert "layer 1: lstm" in res.output and "no (γ‖W‖)^T bound" in res.output
    assert os.path.exists(tmp_path / "lstm.safetensors")


CRAFTED_LAYERS = r"""
import resource, sys
import numpy as np
from click.testing import CliRunner
from gradscope.cli import main

resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression fails, not the machine
w = {f"{k}_l{i}": np.ones((6, 6 if k == "weight_hh" else 3)) for k in ("weight_hh", "weight_ih")
     for i in (0, 99999999999)}
np.savez(sys.argv[1], **w)
res = CliRunner().invoke(main, ["analyze", sys.argv[1]])
print(res.exit_code, res.output.strip().splitlines()[-1])
"""


def test_a_crafted_layer_index_is_refused_without_allocating(tmp_path):
    """Hypothesis: layer indices come from the keys present, so `_l99999999999` is a gap
    (exit 1, one line), not a loop over 10¹¹ layers (which once took 23.5 GB)."""
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", CRAFTED_LAYERS, str(tmp_path / "w.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    code, line = out.stdout.strip().split(" ", 1)
    assert code == "1" and "layer 1 is missing" in line and "_l99999999999" in line, out.stdout


@pytest.mark.parametrize("name", ["weight_hh_l01", "weight_hh_l٣"])
def test_a_layer_index_not_written_as_pytorch_writes_it_is_refused(tmp_path, name):
    """Hypothesis: `_l01` and non-ASCII digits are not PyTorch's names (they would alias _l1)."""
    sd = {k: v for k, v in module("rnn", num_layers=1).state_dict().items()}
    sd[name] = sd["weight_hh_l0"]
    msg = one_line_error(invoke(save(sd, tmp_path / "w.npz")), 1)
    assert "not a PyTorch layer name" in msg


@pytest.mark.parametrize(
    ("c", "verdict", "horizon"),
    [(0.5, "forgets", 7), (0.9, "forgets", 44), (1.0, "keeps", None), (1.5, "explodes", None)],
)
def test_verdict_of_a_scaled_identity_is_the_closed_form(c, verdict, horizon):
    """Closed form: W_hh = c·I, zero inputs and biases keep h = 0, so ‖∂h_T/∂h_(T−k)‖₂ = c^k.

    c^k < θ = 0.01 first at k = ⌈log 0.01 / log c⌉ (7 for 0.5, 44 for 0.9): it forgets;
    c = 1 never falls (keeps); 1.5^60 ≈ 10^10.6 > 1/θ (explodes).
    """
    from gradscope.io_cells import layers_from_arrays

    n = 3
    loaded = layers_from_arrays({"weight_hh_l0": c * np.eye(n), "weight_ih_l0": np.ones((n, 2))})
    (layer,) = compute_analysis(loaded, T=60).layers
    assert layer.verdict == verdict
    assert layer.horizon == horizon
    if horizon is not None:
        assert horizon == int(np.ceil(np.log(0.01) / np.log(c)))
    assert dict(layer.log10_norm_back)[60] == pytest.approx(60 * np.log10(c), abs=1e-12)
