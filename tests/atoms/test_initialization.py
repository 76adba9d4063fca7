"""The atom initialization: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import pytest
import torch

from deepatoms.atoms.atoms import initialization
from deepatoms.engine import MLPPop
from .classifier_helpers import _gens, _near, _run


def test_unit_symmetry_sees_constant_layers():
    pop = MLPPop([(3, 6, 4, 2)] * 3, _gens(0, 1, 2), activation="sigmoid",
                 init=["zeros", "ones", "xavier_uniform"],
                 bias_init=["zeros", "ones", "xavier_uniform"])
    distinct, spread = initialization.unit_symmetry(pop)
    assert distinct.tolist() == [[1, 1], [1, 1], [6, 4]]
    assert spread[:2].tolist() == [[0.0, 0.0], [0.0, 0.0]] and (spread[2] > 0.1).all()
    with torch.no_grad():
        pop.weights[0][1, 0, 2] += 0.5  # model "ones", layer 1, unit 2: spread 0.5 / 1.5
    distinct, spread = initialization.unit_symmetry(pop)
    assert distinct[1].tolist() == [2, 1] and spread[1, 0] == pytest.approx(0.5 / 1.5)


def test_initialization_expectation_by_kind():
    want = {"xavier_uniform": "well", "he_normal": "well", "torch_default": "well",
            "normal:0.01": "well", "normal:0.1": "well", "uniform:0.1": "well",
            "normal:1": "slower", "normal:0.2": "slower", "uniform:0.2": "slower",
            "ones": "fails", "zeros": "eventually"}
    assert {spec: initialization.expectation(spec) for spec in want} == want


@pytest.mark.claim
def test_claim_initialization():
    out = _run("initialization")
    # ordering as in the source, but relative to each draw's Bayes ceiling Xavier / N(0, .01)
    # end .07 below it on average (some draws' ceilings ≈ 1.0 are not reached in 500 steps)
    assert out.verdict.status == "inconclusive"
    _near(out, "xavier_uniform: test accuracy − seed's ceiling", -0.074, (-0.146, -0.002))
    _near(out, "xavier_uniform − normal:1", 0.241, (0.210, 0.272))
    _near(out, "ones", 0.475, (0.455, 0.495))
    _near(out, "zeros", 0.793, (0.698, 0.888))
    spread = out.table[(out.table.initializer == "zeros") & (out.table.metric == "unit_spread")]
    assert spread.value.max() < initialization.SYMMETRIC_SPREAD  # zeros stay (almost) symmetric
