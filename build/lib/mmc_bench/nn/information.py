"""Information-theoretic clustering pieces: IIC's mutual information and Sinkhorn-Knopp balanced labels."""

from __future__ import annotations

import torch

FLOAT_EPS = 2.220446049250313e-16  # IIC clamps at the float64 machine epsilon


def iic_loss(a: torch.Tensor, b: torch.Tensor, eps: float = FLOAT_EPS) -> torch.Tensor:
    """Negative mutual information between two soft assignments (n x K each), as in IIC.

    P = sum_n a_n^T b_n, symmetrised and normalised to sum 1; marginals come from P before clamping;
    every factor is clamped at ``eps`` out of place (in-place masking breaks autograd).
    """
    joint = a.T @ b
    joint = (joint + joint.T) / 2
    joint = joint / joint.sum()
    k = joint.shape[0]
    row = joint.sum(dim=1, keepdim=True).expand(k, k).clamp_min(eps)
    col = joint.sum(dim=0, keepdim=True).expand(k, k).clamp_min(eps)
    joint = joint.clamp_min(eps)
    return -(joint * (joint.log() - row.log() - col.log())).sum()


@torch.no_grad()
def sinkhorn_labels(
    probs: torch.Tensor, power: float = 10.0, max_iter: int = 75, tol: float = 1e-2, check_every: int = 10
) -> torch.Tensor:
    """Balanced pseudo-labels (SeLa): scale P = probs^T ** power to uniform row and column sums, then argmax.

    r and c are the row (cluster) and column (sample) scalings; iteration stops when sum |c / c_new - 1|
    falls under ``tol`` (checked every ``check_every`` iterations) or after ``max_iter``.
    """
    p = probs.double().T.pow(power)  # K x N
    k, n = p.shape
    r = torch.full((k,), 1.0 / k, dtype=p.dtype, device=p.device)
    c = torch.full((n,), 1.0 / n, dtype=p.dtype, device=p.device)
    for it in range(max_iter):
        r = (1.0 / k) / (p @ c)
        c_new = (1.0 / n) / (r @ p)
        if it % check_every == 0 and torch.nansum((c / c_new - 1).abs()) < tol:
            c = c_new
            break
        c = c_new
    return (p * r[:, None] * c[None, :]).argmax(dim=0)
