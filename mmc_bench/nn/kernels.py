"""Gaussian kernels, the Cauchy-Schwarz divergence and the DDC clustering terms (EAMC, SiMVC, CoMVC)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

EPS_NUMERATOR = 1e-9
EPS_DENOMINATOR = 1e-18


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances, clamped at 0 against round-off."""
    sq = (x * x).sum(dim=1)
    return (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0.0)


def gaussian_kernel(x: torch.Tensor, rel_sigma: float = 0.15) -> torch.Tensor:
    """exp(-D^2 / (2 sigma^2)) with sigma^2 = rel_sigma * median(D^2) over the batch (detached, floored)."""
    d2 = squared_distances(x)
    sigma2 = (rel_sigma * d2.detach().median()).clamp_min(1e-9)
    return torch.exp(-d2 / (2.0 * sigma2))


def _upper_mean(matrix: torch.Tensor) -> torch.Tensor:
    """2/(K(K-1)) * sum over i<j of matrix[i, j]."""
    k = matrix.shape[0]
    rows, cols = torch.triu_indices(k, k, offset=1, device=matrix.device)
    return matrix[rows, cols].sum() * (2.0 / (k * (k - 1)))


def cs_divergence(a: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Cauchy-Schwarz divergence between the columns of ``a`` (n x K) under ``kernel`` (n x n).

    d = 2/(K(K-1)) * sum_{i<j} a_i^T K a_j / sqrt(a_i^T K a_i * a_j^T K a_j)
    """
    inner = (a.T @ kernel @ a).clamp_min(EPS_NUMERATOR)
    diag = torch.diagonal(inner)
    norms = (diag[:, None] * diag[None, :]).clamp_min(EPS_DENOMINATOR).sqrt()
    return _upper_mean(inner / norms)


def ddc_cs_separation(assignments: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """DDC term 1: CS divergence of the soft cluster assignments."""
    return cs_divergence(assignments, kernel)


def ddc_orthogonality(assignments: torch.Tensor) -> torch.Tensor:
    """DDC term 2: mean off-diagonal entry of A^T A (cluster columns should be orthogonal)."""
    return _upper_mean(assignments.T @ assignments)


def ddc_simplex(assignments: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """DDC term 3: CS divergence of M_qi = exp(-||a_q - e_i||^2), pushing assignments towards simplex corners."""
    k = assignments.shape[1]
    corners = torch.eye(k, device=assignments.device, dtype=assignments.dtype)
    closeness = torch.exp(-torch.cdist(assignments, corners).pow(2))
    return cs_divergence(closeness, kernel)


def ddc_sample_orthogonality(assignments: torch.Tensor) -> torch.Tensor:
    """DDC term 2 as DDC (and SiMVC/CoMVC) define it: mean off-diagonal entry of A A^T over the n samples
    (EAMC uses the flipped form over clusters, :func:`ddc_orthogonality`)."""
    return _upper_mean(assignments @ assignments.T)


# DDC's terms as named loss terms of a step's tensors: "assignments" (n x K) and "kernel" (the Gaussian
# kernel of the clustering module's hidden layer). Module-level functions, so that a method holding them pickles.
def _separation_term(t: dict[str, Any]) -> torch.Tensor:
    return ddc_cs_separation(t["assignments"], t["kernel"])


def _cluster_orthogonality_term(t: dict[str, Any]) -> torch.Tensor:
    return ddc_orthogonality(t["assignments"])


def _sample_orthogonality_term(t: dict[str, Any]) -> torch.Tensor:
    return ddc_sample_orthogonality(t["assignments"])


def _simplex_term(t: dict[str, Any]) -> torch.Tensor:
    return ddc_simplex(t["assignments"], t["kernel"])


def ddc_terms(sample_level: bool) -> dict[str, Callable[[dict[str, Any]], torch.Tensor]]:
    """{"ddc1", "ddc2", "ddc3"}: term 2 over samples (DDC, SiMVC/CoMVC) or over clusters (EAMC)."""
    orthogonality = _sample_orthogonality_term if sample_level else _cluster_orthogonality_term
    return {"ddc1": _separation_term, "ddc2": orthogonality, "ddc3": _simplex_term}
