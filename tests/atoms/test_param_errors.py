"""Impossible parameters refused with one clear error, for several atoms at once (each test covers
several atoms, so it lives here rather than in one atom's file)."""
from __future__ import annotations

import pytest

from deepatoms.errors import ParamError
import deepatoms
from deepatoms.atoms.failures import end_to_end_portfolio as portfolio_atom
from deepatoms.atoms.failures import flat_activations as flat_atom
from deepatoms.atoms.failures import parity as parity_atom
from deepatoms import registry
from .classifier_helpers import ATOMS


@pytest.mark.parametrize("name, overrides, match", [
    ("loss-functions", dict(batch_size=401), "batch_size"),
    ("loss-functions", dict(losses=("square", "hinge")), "cross_entropy"),
    ("loss-functions", dict(losses=("cross_entropy", "cross_entropy")), "twice"),
    ("loss-functions", dict(losses=()), "empty"),
    ("loss-functions", dict(hidden=(100, -1)), "hidden"),
    ("initialization", dict(initializers=("xavier_uniform", "normal:-1")), "initialiser"),
    ("initialization", dict(initializers=("xavier_uniform", "gauss")), "initialiser"),
    ("initialization", dict(initializers=("zeros",)), "xavier_uniform"),
    ("activation-functions", dict(activations=("sign", "identity")), "non-linearity"),
    ("activation-functions", dict(activations=("relu", "swish")), "activations"),
    ("activation-functions", dict(noise=-0.1), "noise"),
    ("batch-size", dict(batch_sizes=(1, 401)), "batch_sizes"),
    ("batch-size", dict(batch_sizes=(0, 4)), "batch_sizes"),
    ("batch-size", dict(target_accuracy=1.5), "target_accuracy"),
    ("pca-preprocessing", dict(pca_dims=(0, 12), dummy_dims=(1, 5)), "pca_dims"),
    ("pca-preprocessing", dict(pca_dims=(0, 90), dummy_dims=(200,)), "pca_dims"),
    ("pca-preprocessing", dict(dummy_dims=(-1, 5)), "dummy_dims"),
    ("pca-preprocessing", dict(n=5), "'n'"),
    ("pca-preprocessing", dict(pca_dims=(10, 5)), "must include 0"),
    ("pca-preprocessing", dict(dummy_dims=(1, 20, 100)), "2n"),
    ("pca-preprocessing", dict(pca_dims=(0, 1)), "fewer than 5"),
    ("pca-preprocessing", dict(mixings=("rotation",)), "standardised_control"),
    ("pca-preprocessing", dict(mixings=("uniform", "uniform")), "twice"),
    ("batch-size", dict(batch_sizes=(64,)), "at least two"),
    ("batch-size", dict(epoch_basis="test"), "epoch_basis"),
])
def test_impossible_parameters_rejected(name, overrides, match):
    with pytest.raises(ParamError, match=match):
        ATOMS[name].params(**overrides)


def test_bad_parameters_are_one_line_errors():
    with pytest.raises(ParamError, match="switches"):
        deepatoms.run("optimizer-minima", preset="quick", seeds=1, switches=("sgd>lbfgs",))
    with pytest.raises(ParamError, match="depths"):
        deepatoms.run("pretraining", preset="quick", seeds=1, depths=(0, 2))
    with pytest.raises(ParamError, match="hard_weight"):
        deepatoms.run("distillation", preset="quick", seeds=1, hard_weight=1.0)


def test_flat_param_errors():
    with pytest.raises(ParamError, match="methods"):
        flat_atom.ATOM.params(methods=("backprop-magic", "forward-only"))
    with pytest.raises(ParamError, match="methods.*two distinct"):
        flat_atom.ATOM.params(methods=("forward-only",))
    with pytest.raises(ParamError, match="dims.*repeat"):
        parity_atom.ATOM.params(dims=(5, 5))
    with pytest.raises(ParamError, match="ks"):
        portfolio_atom.ATOM.params(ks=(1,))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("name, overrides, match", [
    ("pwl-conditioning", dict(cond_ns=(100,)), "cond_ns"),
    ("pwl-conditioning", dict(n=5), "'n'"),
    ("pwl-conditioning", dict(cond_ns=(100, 5000)), "cond_ns"),
    ("pwl-conditioning", dict(n_train=50, batch_size=100), "batch_size"),
    ("pwl-autoencoder", dict(n_train=50), "batch_size"),
    ("pwl-autoencoder", dict(code=0), "code"),
    ("end-to-end-images", dict(ks=(1, 1)), "ks"),
    ("end-to-end-images", dict(ks=(0, 2)), "ks"),
    ("end-to-end-images", dict(methods=("oracle",)), "methods"),
    ("end-to-end-images", dict(ks=(2, 3)), "ks.*must include 1"),
    ("end-to-end-images", dict(methods=("end-to-end",)), "both end-to-end and decomposition"),
])
def test_bad_parameters_raise_one_clear_error(name, overrides, match):
    with pytest.raises(ParamError, match=match):
        registry.get(name).params(**overrides)
