"""The populations engine: many independent small networks trained in lockstep as one batched
computation. Knows nothing about atoms.

Two populations behind one interface (`.m`, `.params` — stacked leaf tensors (M, ...) —, and
`pop(x)` → (M, B, ...)): `MLPPop`, the fast path for MLP sweeps, and `ModulePop`, M copies of
any `nn.Module` through `torch.func`. `Sampler` draws the minibatches, `train` runs the loop,
`derivatives` has HVPs and input gradients.
"""
from .init import init_tensor
from .modules import ModulePop
from .optim import Adam, SGD
from .population import ACTIVATIONS, MLPPop
from .sampler import Sampler, gather
from .train import Trained, train, unrolled

__all__ = ["ACTIVATIONS", "Adam", "MLPPop", "ModulePop", "SGD", "Sampler",
           "Trained", "gather", "init_tensor", "train", "unrolled"]
