"""Grid expansion, list parsing, TOML files and how options override them."""

from __future__ import annotations

import itertools

import pytest

from gradscope.errors import ConfigError
from gradscope.init import FAMILIES
from gradscope.model import ACTIVATIONS
from gradscope.sweep.config import load_config, merge_settings
from gradscope.sweep.grid import SweepGrid
from gradscope.sweep.parse import (
    ACTIVATION_NAMES,
    EPS,
    FAMILY_NAMES,
    parse_floats,
    parse_ints,
    parse_names,
)


def test_names_match_the_library():
    """The grid's name lists (kept numpy-free) are exactly the library's."""
    import numpy as np

    assert FAMILY_NAMES == tuple(FAMILIES)
    assert set(ACTIVATION_NAMES) == set(ACTIVATIONS)
    assert np.finfo(np.float64).eps == EPS


def test_expansion_order_and_count():
    """Configurations are the product family × scale × hidden × T × activation, in that order."""
    g = SweepGrid.from_mapping(
        {
            "families": ["gaussian", "orthogonal"],
            "norms": [0.9, 1.0, 1.1],
            "hidden": [32, 64],
            "T": [100, 1000],
            "activations": "tanh,linear",
            "seeds": 5,
        }
    )
    configs = g.configurations()
    expected = list(
        itertools.product(
            ["gaussian", "orthogonal"], [0.9, 1.0, 1.1], [32, 64], [100, 1000], ["tanh", "linear"]
        )
    )
    assert [(c.family, c.scale, c.hidden, c.T, c.activation) for c in configs] == expected
    assert [c.index for c in configs] == list(range(len(expected)))
    assert {c.scale_kind for c in configs} == {"norm"}
    assert g.rows == len(expected) * 5


def test_defaults_and_radii():
    g = SweepGrid.from_mapping({"radii": "1"})
    assert g.scale_kind == "radius" and g.scales == (1.0,)
    assert g.families == FAMILY_NAMES
    assert (g.hidden, g.T, g.activations, g.seeds, g.seed) == (
        (64,),
        (100,),
        ("tanh", "linear"),
        5,
        0,
    )
    assert g.thresholds == (1e-2, EPS)
    assert g.to_dict()["radii"] == [1.0] and "norms" not in g.to_dict()


def test_parsers():
    assert parse_floats("0.9, 1,0.9", "norms") == (0.9, 1.0)
    assert parse_floats([1e-2, "eps"], "thresholds") == (0.01, EPS)
    assert parse_floats(2, "x") == (2.0,)
    assert parse_ints("100,1000, 100", "T") == (100, 1000)
    assert parse_ints(64, "hidden") == (64,)
    assert parse_names("all", ACTIVATION_NAMES, "activation") == ACTIVATION_NAMES
    assert parse_names(["relu", "tanh", "relu"], ACTIVATION_NAMES, "activation") == (
        "relu",
        "tanh",
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_floats("", "norms"), "at least one"),
        (lambda: parse_floats("0", "norms"), "> 0"),
        (lambda: parse_floats("nan", "norms"), "finite"),
        (lambda: parse_floats("-1", "norms"), "> 0"),
        (lambda: parse_floats([True], "norms"), "not a number"),
        (lambda: parse_ints("1.5", "T"), "not an integer"),
        (lambda: parse_ints([0], "hidden"), ">= 1"),
        (lambda: parse_ints([], "hidden"), "at least one"),
        (lambda: parse_names("tanh,swish", ACTIVATION_NAMES, "activation"), "swish"),
        (lambda: parse_names([], FAMILY_NAMES, "family"), "at least one family"),
        (lambda: SweepGrid.from_mapping({}), "exactly one of norms"),
        (lambda: SweepGrid.from_mapping({"norms": 1, "radii": 1}), "exactly one of norms"),
        (lambda: SweepGrid.from_mapping({"norms": 1, "depth": 2}), "unknown key"),
        (lambda: SweepGrid.from_mapping({"norms": 1, "seeds": 0}), "seeds"),
        (lambda: SweepGrid.from_mapping({"norms": 1, "seed": -1}), "seed"),
        (lambda: SweepGrid.from_mapping({"norms": 1, "input_scale": -1.0}), "input_scale"),
    ],
)
def test_bad_values_raise_config_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_toml_file(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        'families = ["gaussian", "orthogonal"]\nnorms = [0.9, 1.0]\nhidden = [32, 64]\n'
        'T = [100, 1000]\nactivations = ["tanh", "linear"]\nseeds = 5\nseed = 3\n'
        'thresholds = [0.01, "eps"]\n'
    )
    values = load_config(path)
    g = SweepGrid.from_mapping(values)
    assert g.families == ("gaussian", "orthogonal") and g.scales == (0.9, 1.0)
    assert (g.hidden, g.T, g.seeds, g.seed) == ((32, 64), (100, 1000), 5, 3)
    assert g.thresholds == (0.01, EPS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("norms = [0.9\n", "not valid TOML"),
        ("norms = [1]\nlayers = 2\n", "unknown key"),
        ("norms = [1]\nradii = [1]\n", "not both"),
        ("norms = [1]\nfamilies = []\n", "at least one family"),
        ('norms = [1]\nfamilies = ["gaussian", "lstm"]\n', "lstm"),
        ("norms = [1]\nhidden = [0]\n", "hidden"),
        ("norms = [1]\nseeds = true\n", "seeds"),
        ("norms = [1]\nT = 2.5\n", "T"),
        ("norms = []\n", "norms"),
        ("radii = [-1.0]\n", "radii"),
    ],
)
def test_bad_toml_names_the_file(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_toml_without_scale_is_valid_until_merged(tmp_path):
    """A file may leave the scale to the options."""
    path = tmp_path / "grid.toml"
    path.write_text("hidden = [16]\n")
    assert load_config(path) == {"hidden": [16]}


def test_options_override_the_file():
    file_values = {"norms": [0.9], "T": [100, 1000], "hidden": [32], "seeds": 5}
    merged = merge_settings(file_values, {"T": (50,), "hidden": None, "radii": (1.0,)})
    g = SweepGrid.from_mapping(merged)
    assert g.T == (50,)  # the option wins
    assert g.hidden == (32,)  # unset options leave the file's value
    assert g.scale_kind == "radius" and g.scales == (1.0,)  # a scale option replaces the file's
    assert g.seeds == 5
