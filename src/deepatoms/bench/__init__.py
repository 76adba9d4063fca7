"""`deepatoms bench`: how fast is the populations engine, and how long does each family take?

Measured in one run on one machine (library code: returns data, never prints):
(a) population vs one-by-one training of the same MLPs on the same minibatches, final weights
    checked equal (population.py), at two scales;
(b) each family's atoms at default: wall and CPU seconds, load average, FLOPs and the FLOP
    bound on the atoms' own matmul shapes (families.py, flops.py);
(c) achieved FLOP/s of the population step against a large matmul's peak;
(d) the same work idle and beside busy processes, at 1 and 2 torch threads (load.py);
(e) a family with 1 and with 2 worker processes, when the runner has workers;
and (a), (c) again on the GPU when CUDA is available.
"""
from .core import run_bench
from .format import format_rows
from .population import ATOM_SCALE, QUICK, QUICK_ATOM_SCALE, PopConfig, step_flops

__all__ = ["ATOM_SCALE", "PopConfig", "QUICK", "QUICK_ATOM_SCALE", "format_rows", "run_bench",
           "step_flops"]
