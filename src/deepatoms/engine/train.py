"""The engine's training loop for populations, with hooks, and an unrolled loop whose optimiser
steps autograd can differentiate through.

`train` runs, for each step: draw a minibatch from the sampler (if any) → `loss(batch, step)`,
per model (M,) or per example (M, B) → zero the gradients → backward of the sum (models are
independent, so each gets exactly its own gradient) → drop the gradients of frozen tensors →
apply the gradient masks → optimiser step → undo the step of models that already met `until` →
record. Records are taken after the steps in `record_at` (1-based step counts) and always after
the last step. A listener of the lab (`lab.set_record_listener`, `deepatoms serve`'s live
curves) sees each step's loss and record; it only reads them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Sequence

import torch

from ..lab import listening, record_seen

LossFn = Callable[[Any, int], torch.Tensor]


@dataclasses.dataclass
class Trained:
    """What `train` did: the steps it ran, the step count at which each model met `until`
    (None if never), and what `record` returned at each record point, in order."""
    steps: int
    stopped_at: list[int | None]
    records: list[tuple[int, Any]]


def _apply_until(params: Sequence[torch.Tensor], before: list[torch.Tensor],
                 done: torch.Tensor) -> None:
    """Restore the parameters of finished models (their step is undone)."""
    with torch.no_grad():
        for p, old in zip(params, before):
            keep = done.view(-1, *([1] * (p.dim() - 1)))
            p.copy_(torch.where(keep, old, p))


def _mark(stopped: list[int | None], done: torch.Tensor, step: int) -> None:
    for i, d in enumerate(done.tolist()):
        if d and stopped[i] is None:
            stopped[i] = step


def _backward(value: torch.Tensor, step: int, optimizer: Any,
              per_example: Callable[[int, torch.Tensor], None] | None) -> None:
    if value.dim() == 2:
        if per_example is not None:
            per_example(step, value.detach())
        value = value.mean(dim=1)
    optimizer.zero_grad()
    value.sum().backward()


def train(params: Sequence[torch.Tensor], loss: LossFn, optimizer: Any, steps: int, *,
          sampler: Any = None, record: Callable[[int], Any] | None = None,
          record_at: Iterable[int] = (), until: Callable[[int], torch.Tensor] | None = None,
          frozen: Sequence[torch.Tensor] = (), per_example: Callable[[int, torch.Tensor], None]
          | None = None, iterate: Callable[[int], Iterable[int]] = range,
          grad_mask: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
          sets_grads: bool = False) -> Trained:
    """Train stacked `params` (leading model dimension M) for `steps` optimiser updates.

    - `loss(batch, step)`: per-model losses (M,), or per-example (M, B) — then `per_example`
      (if given) sees them detached and the model loss is their mean.
    - `record(step)` is called after the steps in `record_at` and after the last one.
    - `until(step) -> (M,) bool`, checked after each record point: a model that meets it stops
      learning (later steps leave its parameters unchanged); when all have, training ends.
    - `frozen`: tensors whose gradients are dropped before each step (a frozen layer; with the
      population optimisers a tensor that never had a gradient never moves).
    - `iterate(steps)`: the step iterator (e.g. `lab.steps`, which reports progress).
    - `grad_mask`: (tensor, mask) pairs; the tensor's gradient is multiplied in place by `mask`
      (broadcast, e.g. (M, 1, 1)) before each step; 0 freezes that model's part of the tensor
      (per-model frozen layers: a linear probe beside fully trained models).
    - `sets_grads`: `loss(batch, step)` sets every parameter's `.grad` itself (a hand-written
      backward, e.g. `engine.mlp_grads`) and its return value is not used: no autograd.
    """
    params, frozen_ids = list(params), {id(t) for t in frozen}
    marks = {int(s) for s in record_at if 1 <= int(s) <= steps} | {steps}
    stopped: list[int | None] = [None] * params[0].shape[0]
    done: torch.Tensor | None = None
    records, ran = [], 0
    for step in iterate(steps):
        batch = sampler.next() if sampler is not None else None
        value = None
        if sets_grads:
            loss(batch, step)
        else:
            value = loss(batch, step)
            _backward(value, step, optimizer, per_example)
        for p in params:
            if id(p) in frozen_ids:
                p.grad = None
        for p, mask in grad_mask:
            if p.grad is not None:
                p.grad.mul_(mask)
        before = [p.detach().clone() for p in params] if done is not None and done.any() else None
        optimizer.step()
        if before is not None:
            _apply_until(params, before, done)
        ran = step + 1
        if ran in marks and record is not None:
            records.append((ran, record(ran)))
        if listening():  # a live view (deepatoms serve) reads the step; nothing changes
            record_seen(ran, steps, value, records[-1][1] if ran in marks and record is not None
                        else None)
        if ran in marks:
            if until is not None:
                met = until(ran).to(torch.bool).cpu()
                done = met if done is None else done | met
                _mark(stopped, done, ran)
                if bool(done.all()):
                    break
    return Trained(ran, stopped, records)


def unrolled(params: Sequence[torch.Tensor], loss: Callable[[list[torch.Tensor], int], torch.Tensor],
             update: Callable[[list[torch.Tensor], list[torch.Tensor], int], list[torch.Tensor]],
             steps: int, *, start: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """`steps` optimiser updates that autograd can differentiate through (a learned optimiser's
    unroll): at each step t the gradient g of `loss(params, t)` is taken with `create_graph`, and
    `params = update(params, g, t)`. Returns the final parameters and the sum of the losses seen
    (the meta-objective); backpropagating it reaches whatever `update` depends on."""
    current = list(params)
    total = torch.zeros((), dtype=current[0].dtype, device=current[0].device)
    for t in range(start, start + steps):
        value = loss(current, t)
        grads = torch.autograd.grad(value, current, create_graph=True)
        total = total + value
        current = list(update(current, list(grads), t))
    return current, total
