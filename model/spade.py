"""The SPADE layer: parameter-free normalisation modulated by the label map.

out = norm(x) * (1 + gamma) + beta, where gamma and beta are predicted per pixel
from the label map (resized by nearest neighbour to x's size). This is the only
place where the label map enters the network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def param_free_norm(kind: str, channels: int) -> nn.Module:
    """Normalisation without learned affine parameters (SPADE provides the affine)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind in ("batch", "syncbatch"):
        # syncbatch becomes nn.SyncBatchNorm under DDP (see model.train); in one process,
        # and in eval mode, it is exactly BatchNorm2d with running statistics.
        return nn.BatchNorm2d(channels, affine=False)
    raise ValueError(f"unknown param-free norm {kind!r}")


class SPADE(nn.Module):
    def __init__(self, norm_nc: int, label_nc: int, norm: str = "syncbatch",
                 hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.param_free_norm = param_free_norm(norm, norm_nc)
        # Names match the NVlabs release so its checkpoints load unchanged.
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        # x: (B, C, h, w); segmap: (B, label_nc, H, W) one-hot (+ instance edges)
        normalized = self.param_free_norm(x)
        if segmap.shape[2:] != x.shape[2:]:  # the generator passes it pre-resized; resizing is a copy then
            segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")  # (B, label_nc, h, w)
        actv = self.mlp_shared(segmap)                                      # (B, hidden, h, w)
        gamma = self.mlp_gamma(actv)                                        # (B, C, h, w)
        beta = self.mlp_beta(actv)
        return normalized * (1 + gamma) + beta
