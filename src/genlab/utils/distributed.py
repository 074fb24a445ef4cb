"""What a distributed run needs beyond Lightning, so that N processes train as one process does on the same
global batches (docs/scaling.md).

Every rank seeds its global random generators alike at each step (genlab.callbacks.ResumeState), and a
random draw for training examples (GAN noise, DiffAugment, caption dropout, a VAE's sample) is made for the
whole global batch and sliced: rank r keeps rows [r*n, (r+1)*n) of it, the rows of the examples it holds
(genlab's sampler gives rank r the r-th contiguous share of each global batch). In one process every helper
here is the plain operation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist


def rank_world() -> tuple[int, int]:
    """(this process's rank, number of processes); (0, 1) outside a distributed run."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """`draw(total)` made for the global batch (n rows on each rank); this rank's n rows of it."""
    rank, world = rank_world()
    if world == 1:
        return draw(n)
    return draw(n * world)[rank * n:(rank + 1) * n]


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over the ranks, in place."""
    if rank_world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's rows (equal shapes), concatenated in rank order: the global batch's rows in order."""
    world = rank_world()[1]
    if world == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Rank `src`'s values on every rank, in place."""
    if rank_world()[1] > 1:
        dist.broadcast(tensor, src)
    return tensor
