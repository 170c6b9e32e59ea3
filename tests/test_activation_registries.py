"""The activation registries (numeric model.py, symbolic, ball arithmetic) cover the same names."""

import sympy

from gradscope.claims import _balls
from gradscope.model import ACTIVATIONS
from gradscope.symbolic.functions import GAMMA


def test_registries_cover_the_same_names():
    assert set(ACTIVATIONS) == set(GAMMA) == set(_balls.ACTIVATIONS)


def test_numeric_and_symbolic_gamma_agree():
    for name, act in ACTIVATIONS.items():
        assert act.gamma == float(GAMMA[name]), name
        assert sympy.nsimplify(act.gamma) == GAMMA[name], name
