"""Turning class-id maps into the generator's input: one-hot channels + instance edges."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from model.config import ModelConfig
from model.labels import DONTCARE


def instance_edges(inst: torch.Tensor) -> torch.Tensor:
    """(B, H, W) instance ids -> (B, 1, H, W) float edges: 1 where a 4-neighbour has another id."""
    t = inst.unsqueeze(1)
    e = torch.zeros_like(t, dtype=torch.bool)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    e[..., :, 1:] |= dx
    e[..., :, :-1] |= dx
    e[..., 1:, :] |= dy
    e[..., :-1, :] |= dy
    return e.float()


def check_label_ids(labels: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Validate class ids and map 255 to the don't-care channel. Raises ValueError naming bad ids."""
    labels = labels.long()
    valid = (labels >= 0) & (labels < cfg.label_nc)
    if cfg.contain_dontcare_label:
        valid |= labels == DONTCARE
    if not bool(valid.all()):
        bad = torch.unique(labels[~valid])[:8].tolist()
        allowed = f"0..{cfg.label_nc - 1}" + (" or 255 (don't care)" if cfg.contain_dontcare_label else "")
        raise ValueError(f"label ids {bad} are not classes of this model (allowed: {allowed})")
    if cfg.contain_dontcare_label:
        labels = torch.where(labels == DONTCARE, torch.full_like(labels, cfg.label_nc), labels)
    return labels


def semantic_input(labels: torch.Tensor, cfg: ModelConfig, instances: torch.Tensor | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, H, W) class ids (+ optional (B, H, W) instance ids) -> (B, semantic_nc, H, W).

    Channel order as in the release: one-hot classes (+ don't care), then the edge map.
    Without instances the edge channel is all zeros.
    """
    labels = check_label_ids(labels, cfg)
    n = cfg.label_nc + int(cfg.contain_dontcare_label)
    onehot = F.one_hot(labels, n).permute(0, 3, 1, 2).to(dtype)  # (B, n, H, W)
    if not cfg.use_instance:
        return onehot
    if instances is None:
        edges = torch.zeros_like(onehot[:, :1])
    else:
        edges = instance_edges(instances).to(dtype)
    return torch.cat([onehot, edges], dim=1)
