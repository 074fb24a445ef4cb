"""Vector quantiser with an EMA codebook (van den Oord et al., 2017; Razavi et al., 2019) and restart of
dead codes: a code unused for a while jumps to an encoder output of the batch, drawn with probability
proportional to its squared distance from the nearest code (as k-means++ seeds), so restarts go where the
codebook serves the data worst, not to the commonest vectors (on mostly-uniform images, uniform patches
that one code already covers). In a distributed run the counts and sums are summed over the ranks and
restarts are drawn from every rank's outputs, so all ranks keep one codebook (the one a single process
training on the same global batches would have)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.utils.distributed import all_gather_rows, all_reduce_sum_, broadcast_


class EMAQuantizer(nn.Module):
    def __init__(self, codebook_size: int, dim: int, decay: float = 0.99, restart_below: float = 0.01,
                 eps: float = 1e-5):
        super().__init__()
        self.codebook_size, self.dim, self.decay, self.eps = codebook_size, dim, decay, eps
        self.restart_below = restart_below
        embed = torch.randn(codebook_size, dim) * 0.1
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", embed.clone())

    def distances(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, dim) -> squared distance to every code (N, codebook_size)."""
        return z.pow(2).sum(1, keepdim=True) - 2 * z @ self.embed.T + self.embed.pow(2).sum(1)[None]

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, dim) -> nearest code index (N,)."""
        return self.distances(z).argmin(1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.embed)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """z (N, dim) -> (straight-through quantised z, indices, stats). Updates the codebook in training.
        In the codebook's precision (fp32), also under mixed precision: bf16 distances pick wrong codes and
        bf16 sums drift."""
        with torch.autocast(z.device.type, enabled=False):
            return self._forward(z.to(self.embed.dtype))

    def _forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        idx = self.indices(z.detach())
        q = self.lookup(idx)
        onehot = F.one_hot(idx, self.codebook_size).type(z.dtype)
        if self.training:
            self._ema_update(z.detach(), onehot)
        usage = onehot.mean(0)
        stats = {"perplexity": torch.exp(-(usage * (usage + 1e-10).log()).sum()),
                 "usage": (usage > 0).float().mean(),
                 "commitment": F.mse_loss(z, q.detach())}
        return z + (q - z).detach(), idx, stats

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, onehot: torch.Tensor) -> None:
        counts, sums = all_reduce_sum_(onehot.sum(0)), all_reduce_sum_(onehot.T @ z)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        size = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
        self.embed.copy_(self.embed_sum / size[:, None])
        dead = self.cluster_size < self.restart_below
        if dead.any():
            k = int(dead.sum())
            z = all_gather_rows(z)
            gap = self.distances(z).min(1).values.clamp_min(0) + 1e-12
            pick = broadcast_(torch.multinomial(gap, k, replacement=k > z.shape[0]))
            self.embed[dead] = z[pick]
            self.embed_sum[dead] = z[pick]
            self.cluster_size[dead] = 1.0
