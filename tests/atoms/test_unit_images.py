"""The robustness atoms' images: digits and MNIST scaled to the unit box."""

import numpy as np
import torch

from deepatoms.data import images as D
from .mnist_files import _idx


def test_unit_images_scale_digits_and_mnist_to_the_unit_box(tmp_path, monkeypatch):
    digits = D.unit_images("digits")
    assert digits.side == 8 and digits.x_train.max() == 1.0 and digits.x_train.min() == 0.0
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        (tmp_path / f"{split}-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (6, 28, 28))))
        (tmp_path / f"{split}-labels-idx1-ubyte").write_bytes(_idx(rng.integers(0, 10, 6)))
    monkeypatch.setenv("DEEPATOMS_DATA", str(tmp_path))
    mnist = D.unit_images("mnist", n_train=4)
    assert mnist.side == 28 and mnist.x_train.shape == (4, 784) and mnist.x_test.shape == (6, 784)
    assert 0 <= mnist.x_train.min() and mnist.x_train.max() <= 1
    up = D.upsample(torch.tensor(digits.x_test[:3]), 8, 16)
    assert up.shape == (3, 1, 16, 16) and up.min() >= 0 and up.max() <= 1
