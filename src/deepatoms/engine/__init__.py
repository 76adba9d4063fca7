"""The populations engine: many independent small networks trained in lockstep as one batched
computation. Knows nothing about atoms."""
from .batches import BatchStream, gather
from .init import init_tensor
from .optim import Adam, SGD
from .population import ACTIVATIONS, MLPPop

__all__ = ["ACTIVATIONS", "Adam", "BatchStream", "MLPPop", "SGD", "gather", "init_tensor"]
