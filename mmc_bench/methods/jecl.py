"""JECL (Yang, Huang, Howe; earlier MultiDEC): one deep-embedded-clustering stack per view (methods/dec.py).

Each view's stack is k-means-initialised and Hungarian-aligned across views (on features, never labels);
a joint target p = sum_v lambda_v f(q_v), KL(p || q_v) per view, the Jensen-Shannon alignment of each
sample's assignments across views and a cluster-balance regulariser (with the
paper's eq. 1 corrected).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import torch

from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.dec import DEC, DeepEmbeddedClustering, cluster_term
from mmc_bench.methods.schemas.jecl import JECLConfig
from mmc_bench.nn.contrastive import negative_entropy
from mmc_bench.nn.dec import jensen_shannon_rows
from mmc_bench.nn.losses import WeightedLoss
from mmc_bench.nn.matching import align_to


def _alignment_term(t: dict[str, Any]) -> torch.Tensor:
    """Mean over view pairs of the mean JSD(q_v,i, q_w,i) over the samples that have both views."""
    mask, pairs = t["mask"], list(combinations(range(len(t["q"])), 2))
    total = torch.zeros((), device=mask.device)
    for v, w in pairs:
        both = mask[:, v] & mask[:, w]
        total = total + jensen_shannon_rows(t["q"][v], t["q"][w])[both].sum() / both.sum().clamp_min(1)
    return total / len(pairs)


def _balance_term(t: dict[str, Any]) -> torch.Tensor:
    """sum_v KL(mean of q_v over the batch's samples with view v || uniform)."""
    mask = t["mask"]
    return sum(negative_entropy(q[mask[:, v]]) for v, q in enumerate(t["q"]) if mask[:, v].any())


class JECL(DeepEmbeddedClustering):
    """JECL (Yang, Huang, Howe): per-view DEC stacks, a joint target, Jensen-Shannon view alignment."""

    config_class = JECLConfig
    config: JECLConfig
    schedules = {**DEC.schedules}

    def _inputs(self, data: MultiViewDataset) -> tuple[list[torch.Tensor], torch.Tensor]:
        if data.n_views < 2:
            raise UserError(
                f"JECL needs at least 2 views; dataset {data.name} has {data.n_views}: choose a multi-view "
                "dataset (single-view baselines: method=kmeans_view, method=dec)"
            )
        return data.view_tensors(self.device_), torch.from_numpy(data.mask).to(self.device_)

    def _loss(self, n_stacks: int) -> WeightedLoss:
        cfg = self.config
        return WeightedLoss(
            {
                "cluster": (cluster_term, 1.0),
                "align": (_alignment_term, cfg.gamma if cfg.alignment else 0.0),
                "balance": (_balance_term, cfg.beta if cfg.regularizer else 0.0),
            }
        )

    def _stack_weights(self, n_stacks: int) -> torch.Tensor:
        weights = self.config.view_weights
        if weights is None:
            return super()._stack_weights(n_stacks)
        if len(weights) != n_stacks or min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-6:
            raise UserError(
                f"method.view_weights={list(weights)} must hold {n_stacks} non-negative numbers summing to 1 "
                "(one per view), or be null for equal weights"
            )
        return torch.tensor(list(weights), dtype=torch.float32)

    def _align_initial(self, labels: list[np.ndarray], mask: torch.Tensor) -> None:
        """Rename every view's k-means clusters to view 0's by Hungarian matching of cluster overlaps."""
        mask_np = mask.cpu().numpy()
        full = []
        for s, lab in enumerate(labels):
            filled = np.full(len(mask_np), -1)
            filled[mask_np[:, s]] = lab
            full.append(filled)
        for s in range(1, len(labels)):
            both = (full[0] >= 0) & (full[s] >= 0)
            perm = align_to(full[0][both], full[s][both], self.n_clusters)
            self._permute_centroids(s, perm, None)

    def _realign(self, qs: list[torch.Tensor], mask: torch.Tensor, optimizer) -> int:
        """Re-check the alignment against view 0 on current assignments; count the views that moved."""
        if not self.config.realign:
            return 0
        moved = 0
        reference = qs[0].argmax(dim=1)
        for s in range(1, len(qs)):
            both = mask[:, 0] & mask[:, s]
            perm = align_to(
                reference[both].cpu().numpy(), qs[s][both].argmax(dim=1).cpu().numpy(), self.n_clusters
            )
            if not np.array_equal(perm, np.arange(self.n_clusters)):
                self._permute_centroids(s, perm, optimizer)
                moved += 1
        return moved

    @torch.no_grad()
    def _permute_centroids(self, s: int, perm: np.ndarray, optimizer) -> None:
        """Centroid c of stack s becomes centroid perm[c] (its SGD momentum moves with it)."""
        index = torch.from_numpy(perm).to(self.device_)
        self.centroids[s, index] = self.centroids[s].clone()
        buffer = None if optimizer is None else optimizer.state.get(self.centroids, {}).get("momentum_buffer")
        if buffer is not None:
            buffer[s, index] = buffer[s].clone()
