"""Deep embedded clustering pieces (DEC, JECL): Student-t assignments, sharpened targets, KL and JS terms."""

from __future__ import annotations

import torch

LOG_EPS = 1e-10


def student_t_assignment(z: torch.Tensor, centroids: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """q_ij proportional to (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2), rows normalised (n x K)."""
    d2 = torch.cdist(z, centroids).pow(2)
    kernel = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """f(q)_ij = (q_ij^2 / sum_i q_ij) / sum_j' (q_ij'^2 / sum_i q_ij'): sharpened, frequency-normalised."""
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)
    return weight / weight.sum(dim=1, keepdim=True)


def kl_rows(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """sum_j p_ij log(p_ij / q_ij) per row, with eps inside the logs (p_ij = 0 contributes 0)."""
    return (p * (torch.log(p + LOG_EPS) - torch.log(q + LOG_EPS))).sum(dim=1)


def jensen_shannon_rows(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """JSD(q_i, r_i) per row: (KL(q || s) + KL(r || s)) / 2 with s = (q + r) / 2; 0 for equal rows, <= log 2."""
    mid = (q + r) / 2
    return 0.5 * (kl_rows(q, mid) + kl_rows(r, mid))
