"""Tests of gradscope.sweep: grid, TOML, output files, resumption, execution modes, CLI.

``SMALL`` is a grid that mixes families, odd hidden sizes, several horizons and
activations and runs in about a second; ``SMALL_RADII`` scales by spectral radius.
"""

SMALL = [
    "--families",
    "gaussian,non-normal",
    "--norms",
    "0.9,1.05",
    "--hidden",
    "5,8",
    "--T",
    "20,50",
    "--activations",
    "tanh,relu",
    "--seeds",
    "3",
    "--seed",
    "11",
    "--horizon-cap",
    "80",
]
SMALL_ROWS = 2 * 2 * 2 * 2 * 2 * 3
SMALL_RADII = [
    "--families",
    "orthogonal,uniform",
    "--radii",
    "0.8,1.0",
    "--hidden",
    "7",
    "--T",
    "30",
    "--activations",
    "linear,sigmoid",
    "--seeds",
    "2",
    "--horizon-cap",
    "60",
]
