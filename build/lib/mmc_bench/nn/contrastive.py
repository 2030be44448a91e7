"""Contrastive and cluster-balance terms (CMMC/MFLVC; reusable by any contrastive multi-view method)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float, cosine: bool = False) -> torch.Tensor:
    """NT-Xent between paired rows of ``a`` and ``b`` (n x d each), summed over the 2n anchors and divided by 2n.

    Row i of ``a`` and row i of ``b`` are the positive pair; every other row of [a; b] except the anchor
    itself is a negative. Similarities are dot products / tau, or cosine similarities / tau when ``cosine``.
    """
    rows = torch.cat([a, b])
    if cosine:
        rows = F.normalize(rows, dim=1, eps=1e-8)
    n = a.shape[0]
    sim = (rows @ rows.T) / tau
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(self_pairs, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(sim.device)
    return F.cross_entropy(sim, positives, reduction="sum") / (2 * n)


def negative_entropy(probs: torch.Tensor) -> torch.Tensor:
    """log K + sum_j s_j log s_j with s the normalised column sums of ``probs`` (0 for uniform cluster usage)."""
    usage = probs.sum(dim=0)
    usage = usage / usage.sum()
    return math.log(probs.shape[1]) + torch.xlogy(usage, usage).sum()
