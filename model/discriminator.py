"""Multi-scale PatchGAN discriminator over (one-hot label map, image) pairs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        kw, padw = 4, math.ceil((4 - 1) / 2)
        nf = ndf
        layers: list[list[nn.Module]] = [[nn.Conv2d(input_nc, nf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2)]]
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            # "spectralinstance": spectral norm on the conv, then instance norm
            layers.append([spectral_norm(nn.Conv2d(nf_prev, nf, kw, stride=stride, padding=padw)),
                           nn.InstanceNorm2d(nf, affine=False), nn.LeakyReLU(0.2)])
        layers.append([nn.Conv2d(nf, 1, kw, stride=1, padding=padw)])
        self.n_stages = len(layers)
        for i, seq in enumerate(layers):
            self.add_module(f"model{i}", nn.Sequential(*seq))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Returns every stage's output; the last is the patch prediction (B, 1, h, w)."""
        feats = []
        for i in range(self.n_stages):
            x = getattr(self, f"model{i}")(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_D: int = 2):
        super().__init__()
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(input_nc, ndf, n_layers))
        self.num_D = num_D

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """x: (B, semantic_nc + 3, H, W) -> one feature list per scale, finest first."""
        out = []
        for i in range(self.num_D):
            out.append(getattr(self, f"discriminator_{i}")(x))
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        return out
